// The record parser (ParseRecordJson): a strict schema whose errors name a field path
// or a line and column, and never echo a value from the input (the input is evidence).
#include "vault/record.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tests/vault/test_util.h"

namespace evault::vault {
namespace {

using nlohmann::json;

// Every field of the schema, with Kazakh and Russian text.
constexpr std::string_view kFullRecord = R"({
  "kind": "arrest",
  "title": "Задержание активиста в Нұр-Сұлтан",
  "occurred": {"from": "2019-06-09T14:30:00+06:00", "to": "2019-06-10", "precision": "exact"},
  "location": {"country": "KZ", "region": "Ақмола", "city": "Нұр-Сұлтан", "place": "площадь"},
  "people": [
    {"name": "Асқар Жұмабаев", "role": "victim", "affiliation": "Oyan, Qazaqstan", "notes": "line one\nline two"},
    {"name": "Officer K.", "role": "perpetrator"}
  ],
  "legal": {
    "charges": [{"code": "УК РК", "article": "274", "description": "Заведомо ложная информация"}],
    "court": "Есильский районный суд", "outcome": "convicted", "sentence": "2 года ограничения свободы"
  },
  "narrative": "Заведомо ложная информация — «распространение» по ст. 274.",
  "sources": [{"kind": "video", "reference": "https://example.org/v/1", "reliability": "high"}],
  "tags": ["274", "Нұр-Сұлтан"]
})";

// A valid record with `member` (a JSON fragment `"key": value`) added at the top level.
std::string RecordWith(std::string_view member) {
  return std::string(R"({"kind": "event", "title": "t", )") + std::string(member) + "}";
}

Error ParseError(std::string_view text) {
  auto parsed = ParseRecordJson(text);
  EXPECT_FALSE(parsed.has_value()) << "accepted: " << text;
  if (parsed) return Error{ErrorCode::kInternal, "(accepted)"};
  EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument) << parsed.error().message;
  return parsed.error();
}

bool IsValidUtf8(std::string_view s) {
  try {
    (void)json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::strict);
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

TEST(RecordJsonTest, FullRecordRoundTrips) {
  auto parsed = ParseRecordJson(kFullRecord);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  // Every field survives unchanged (the parse of the input is the reference).
  EXPECT_EQ(*parsed, json::parse(kFullRecord));
  // The canonical form parses back to the same record.
  const std::string canonical = CanonicalJson(*parsed);
  auto again = ParseRecordJson(canonical);
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(*again, *parsed);
  EXPECT_EQ(CanonicalJson(*again), canonical);
  EXPECT_TRUE(ValidateRecord(*parsed).has_value());
}

TEST(RecordJsonTest, CyrillicTextIsByteExact) {
  auto parsed = ParseRecordJson(kFullRecord);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  // Compare raw UTF-8 bytes (not a re-encoding, no \u escapes, no normalization).
  EXPECT_EQ((*parsed)["location"]["city"].get<std::string>(),
            "\xD0\x9D\xD2\xB1\xD1\x80-\xD0\xA1\xD2\xB1\xD0\xBB\xD1\x82\xD0\xB0\xD0\xBD");  // Нұр-Сұлтан
  EXPECT_EQ((*parsed)["legal"]["charges"][0]["description"].get<std::string>(),
            "Заведомо ложная информация");
  const std::string canonical = CanonicalJson(*parsed);
  EXPECT_NE(canonical.find("Нұр-Сұлтан"), std::string::npos);
  EXPECT_NE(canonical.find("Заведомо ложная информация"), std::string::npos);
  EXPECT_EQ(canonical.find("\\u"), std::string::npos) << "canonical JSON escapes non-ASCII";
  // Escaped input normalizes to the same bytes.
  auto escaped = ParseRecordJson(R"({"kind":"k","title":"\u041d\u04b1\u0440-\u0421\u04b1\u043b\u0442\u0430\u043d"})");
  ASSERT_TRUE(escaped.has_value()) << escaped.error().message;
  EXPECT_EQ((*escaped)["title"].get<std::string>(), "Нұр-Сұлтан");
}

TEST(RecordJsonTest, MinimalRecordAndNullsDropped) {
  auto parsed = ParseRecordJson(R"({"kind":"event","title":"x","narrative":null,"location":null})");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(*parsed, json({{"kind", "event"}, {"title", "x"}}));
}

TEST(RecordJsonTest, KindAndTitleRequired) {
  EXPECT_NE(ParseError(R"({"title":"x"})").message.find("'kind'"), std::string::npos);
  EXPECT_NE(ParseError(R"({"kind":"x"})").message.find("'title'"), std::string::npos);
  EXPECT_NE(ParseError(R"({"kind":"x","title":null})").message.find("'title'"), std::string::npos);
  EXPECT_NE(ParseError(R"({"kind":"x","title":"   "})").message.find("'title'"), std::string::npos);
  EXPECT_NE(ParseError(R"({"kind":"","title":"t"})").message.find("'kind'"), std::string::npos);
  ParseError("{}");
  // Required members of nested objects too.
  EXPECT_NE(ParseError(RecordWith(R"("people":[{"role":"victim"}])")).message.find("people[0].name"),
            std::string::npos);
  EXPECT_NE(ParseError(RecordWith(R"("people":[{"name":"a"}])")).message.find("people[0].role"),
            std::string::npos);
  EXPECT_NE(ParseError(RecordWith(R"("sources":[{"kind":"video"}])")).message.find("sources[0].reference"),
            std::string::npos);
}

TEST(RecordJsonTest, NotAnObjectRejected) {
  ParseError("[]");
  ParseError(R"("a string")");
  ParseError("42");
  ParseError("null");
  ParseError("");
}

TEST(RecordJsonTest, UnknownFieldsRejectedWithTheirPath) {
  Error e = ParseError(RecordWith(R"("titel":"x")"));
  EXPECT_NE(e.message.find("'titel'"), std::string::npos) << e.message;

  e = ParseError(RecordWith(
      R"("people":[{"name":"a","role":"victim"},{"name":"b","role":"witness","nme":"c"}])"));
  EXPECT_NE(e.message.find("people[1].nme"), std::string::npos) << e.message;

  e = ParseError(RecordWith(R"("location":{"city":"x","street":"y"})"));
  EXPECT_NE(e.message.find("location.street"), std::string::npos) << e.message;

  e = ParseError(RecordWith(R"("legal":{"charges":[{"code":"a"},{"code":"b","count":"2"}]})"));
  EXPECT_NE(e.message.find("legal.charges[1].count"), std::string::npos) << e.message;

  e = ParseError(RecordWith(R"("occurred":{"from":"2019","until":"2020"})"));
  EXPECT_NE(e.message.find("occurred.until"), std::string::npos) << e.message;
}

TEST(RecordJsonTest, WrongTypesRejectedNamingTheField) {
  struct Case {
    const char* member;
    const char* path;
  } cases[] = {
      {R"("narrative": 5)", "'narrative'"},
      {R"("narrative": ["a"])", "'narrative'"},
      {R"("narrative": true)", "'narrative'"},
      {R"("occurred": "2019")", "'occurred'"},
      {R"("occurred": {"from": 2019})", "'occurred.from'"},
      {R"("location": [])", "'location'"},
      {R"("location": {"city": {"name":"x"}})", "'location.city'"},
      {R"("people": {"name":"a","role":"victim"})", "'people'"},
      {R"("people": ["a"])", "'people[0]'"},
      {R"("people": [{"name":"a","role":"victim"},{"name":7,"role":"victim"}])", "'people[1].name'"},
      {R"("legal": {"charges": {"code":"x"}})", "'legal.charges'"},
      {R"("legal": {"court": 1})", "'legal.court'"},
      {R"("sources": [{"reference": 1}])", "'sources[0].reference'"},
      {R"("tags": "a")", "'tags'"},
      {R"("tags": ["a", 3])", "'tags[1]'"},
      {R"("tags": ["a", null])", "'tags[1]'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.member);
    const Error e = ParseError(RecordWith(c.member));
    EXPECT_NE(e.message.find(c.path), std::string::npos) << e.message;
  }
  EXPECT_NE(ParseError(R"({"kind":1,"title":"t"})").message.find("'kind'"), std::string::npos);
  EXPECT_NE(ParseError(R"({"kind":"k","title":{}})").message.find("'title'"), std::string::npos);
}

TEST(RecordJsonTest, InvalidJsonReportsPositionButNoInput) {
  constexpr std::string_view kMarker = "SECRETxq7WitnessName";
  struct Case {
    std::string text;
    const char* where;
  } cases[] = {
      // '@' is on line 3, column 12.
      {"{\n\"kind\": \"SECRETxq7WitnessName\",\n  \"title\": @}", "line 3, column 12"},
      // Unterminated string: the error is at the end of the input.
      {"{\"kind\": \"SECRETxq7WitnessName", "line 1"},
      // Trailing garbage after the object.
      {"{\"kind\":\"a\",\"title\":\"b\"} SECRETxq7WitnessName", "line 1"},
      // Single quotes.
      {"{'kind': 'SECRETxq7WitnessName'}", "line 1, column 2"},
      // Missing comma: reported on line 2 (at the end of the unexpected token).
      {"{\"kind\": \"a\"\n \"title\": \"SECRETxq7WitnessName\"}", "line 2, column 8"},
      // A raw control character inside a string.
      {"{\"kind\": \"SECRETxq7\tWitnessName SECRETxq7WitnessName\"}", "line 1"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const Error e = ParseError(c.text);
    EXPECT_NE(e.message.find(c.where), std::string::npos) << e.message;
    EXPECT_EQ(e.message.find(kMarker), std::string::npos) << "error echoes the input: " << e.message;
    EXPECT_EQ(e.message.find("SECRET"), std::string::npos) << "error echoes the input: " << e.message;
    EXPECT_EQ(e.message.find("Witness"), std::string::npos) << "error echoes the input: " << e.message;
  }
}

TEST(RecordJsonTest, SchemaErrorsDoNotEchoValues) {
  constexpr std::string_view kMarker = "SECRETxq7Value";
  const std::string inputs[] = {
      RecordWith(R"("occurred":{"from":"SECRETxq7Value"})"),
      RecordWith(R"("people":[{"name":"n","role":"SECRETxq7Value"}])"),
      RecordWith(R"("sources":[{"reference":"r","reliability":"SECRETxq7Value"}])"),
      RecordWith(R"("occurred":{"precision":"SECRETxq7Value"})"),
      R"({"kind":"SECRETxq7Value\u0001","title":"t"})",
      R"({"kind":"k","title":"t","tags":["SECRETxq7Value\n"]})",
  };
  for (const auto& input : inputs) {
    SCOPED_TRACE(input);
    const Error e = ParseError(input);
    EXPECT_EQ(e.message.find(kMarker), std::string::npos) << e.message;
  }
}

TEST(RecordJsonTest, BadEnumValuesRejected) {
  const std::pair<std::string, const char*> cases[] = {
      {R"("people":[{"name":"a","role":"bystander"}])", "people[0].role"},
      {R"("people":[{"name":"a","role":"Victim"}])", "people[0].role"},
      {R"("people":[{"name":"a","role":""}])", "people[0].role"},
      {R"("occurred":{"precision":"week"})", "occurred.precision"},
      {R"("sources":[{"reference":"r","reliability":"certain"}])", "sources[0].reliability"},
      {R"("sources":[{"reference":"r","reliability":"HIGH"}])", "sources[0].reliability"},
  };
  for (const auto& [member, path] : cases) {
    SCOPED_TRACE(member);
    const Error e = ParseError(RecordWith(member));
    EXPECT_NE(e.message.find(path), std::string::npos) << e.message;
  }
  // Every documented value is accepted.
  for (const char* role : {"victim", "witness", "perpetrator", "official", "lawyer", "other"}) {
    json j = {{"kind", "k"}, {"title", "t"}, {"people", {{{"name", "n"}, {"role", role}}}}};
    EXPECT_TRUE(ParseRecordJson(j.dump()).has_value()) << role;
  }
  for (const char* p : {"exact", "day", "month", "year", "approximate"}) {
    json j = {{"kind", "k"}, {"title", "t"}, {"occurred", {{"precision", p}}}};
    EXPECT_TRUE(ParseRecordJson(j.dump()).has_value()) << p;
  }
  for (const char* r : {"high", "medium", "low", "unknown"}) {
    json j = {{"kind", "k"}, {"title", "t"}, {"sources", {{{"reference", "x"}, {"reliability", r}}}}};
    EXPECT_TRUE(ParseRecordJson(j.dump()).has_value()) << r;
  }
}

TEST(RecordJsonTest, DatesValidated) {
  for (const char* good : {"2019", "2019-06", "2019-06-09", "2019-06-09T14:30Z", "2019-06-09T14:30:59Z",
                           "2019-06-09T14:30+06:00", "2019-06-09T00:00:00-05:00", "2019-12-31T23:59:60Z"}) {
    json j = {{"kind", "k"}, {"title", "t"}, {"occurred", {{"from", good}, {"to", good}}}};
    auto parsed = ParseRecordJson(j.dump());
    EXPECT_TRUE(parsed.has_value()) << good << ": " << (parsed ? "" : parsed.error().message);
  }
  for (const char* bad : {"2019-13", "2019-00", "yesterday", "19", "2019-6", "2019-06-32", "2019-06-00",
                          "2019/06/09", "2019-06-09 14:30", "2019-06-09T25:00Z", "2019-06-09T14:60Z",
                          "2019-06-09T14:30", "2019-06-09T14:30:00", "2019-06-09T14:30+0600",
                          "2019-06-09Z", "", " 2019", "2019 ", "2019-06-09T14:30:00Zjunk"}) {
    SCOPED_TRACE(bad);
    json j = {{"kind", "k"}, {"title", "t"}, {"occurred", {{"from", bad}}}};
    const Error e = ParseError(j.dump());
    EXPECT_NE(e.message.find("occurred.from"), std::string::npos) << e.message;
    json k = {{"kind", "k"}, {"title", "t"}, {"occurred", {{"to", bad}}}};
    ParseError(k.dump());
  }
}

TEST(RecordJsonTest, InvalidUtf8Rejected) {
  const std::string inputs[] = {
      "{\"kind\":\"k\",\"title\":\"bad \xFF byte\"}",
      "{\"kind\":\"k\",\"title\":\"truncated \xD0\"}",
      "{\"kind\":\"k\",\"title\":\"overlong \xC0\xAF\"}",
      "{\"kind\":\"k\",\"title\":\"surrogate \xED\xA0\x80\"}",
      "{\"kind\":\"k\",\"title\":\"t\",\"narrative\":\"\xE2\x82\"}",
      "{\"kind\":\"k\",\"title\":\"t\",\"tags\":[\"ok\",\"\x80\"]}",
      "{\"kind\":\"k\",\"title\":\"t\",\"\xFF\":\"x\"}",  // a key
      R"({"kind":"k","title":"lone surrogate \ud800"})",
  };
  for (const auto& input : inputs) {
    SCOPED_TRACE(input);
    ParseError(input);
  }
}

TEST(RecordJsonTest, ControlCharactersRejectedButNewlinesAllowedInText) {
  EXPECT_TRUE(ParseRecordJson(R"({"kind":"k","title":"t","narrative":"a\nb\tc\r\n"})").has_value());
  ParseError(R"({"kind":"k","title":"t","narrative":"a\u0000b"})");
  ParseError(R"({"kind":"k","title":"t","narrative":"a\u001bb"})");
  ParseError(R"({"kind":"k","title":"t","narrative":"a\u007fb"})");
  ParseError(R"({"kind":"k","title":"t","tags":["a\nb"]})");
  ParseError(R"({"kind":"k","title":"t","occurred":{"from":"2019\n"}})");
}

TEST(RecordJsonTest, OversizedInputRejected) {
  std::string big = R"({"kind":"k","title":"t","narrative":")";
  big.append(kMaxRecordJsonBytes, 'a');
  big += "\"}";
  const Error e = ParseError(big);
  EXPECT_EQ(e.message.find("aaaa"), std::string::npos);
  // Just under the limit is fine.
  std::string ok = R"({"kind":"k","title":"t","narrative":")";
  ok.append(kMaxRecordJsonBytes - ok.size() - 2, 'a');
  ok += "\"}";
  ASSERT_EQ(ok.size(), kMaxRecordJsonBytes);
  EXPECT_TRUE(ParseRecordJson(ok).has_value());
}

TEST(RecordJsonTest, DeepNestingRejectedWithoutCrashing) {
  // 1.5 million levels inside a 3 MiB input: must be a clean error, not a stack overflow.
  std::string deep = R"({"kind":"k","title":"t","narrative":)";
  deep.append(1500000, '[');
  deep.append(1500000, ']');
  deep += "}";
  ASSERT_LE(deep.size(), kMaxRecordJsonBytes);
  ParseError(deep);
  std::string deep_top(1500000, '[');
  deep_top.append(1500000, ']');
  ParseError(deep_top);
}

// Regression (found by this test; fixed): (vault/record.cc, CheckObject): an unknown field name longer than 40 bytes is cut
// with key.substr(0, 40), which can split a multi-byte UTF-8 character; the error
// message is then invalid UTF-8 (here "aжжж...ж" + a lone 0xD0 byte). Anything that
// serializes the error strictly (nlohmann dump with error_handler_t::strict, protobuf
// string fields) throws or fails. Expected: cut at a character boundary.
TEST(RecordJsonTest, UnknownFieldMessageIsValidUtf8) {
  // The message quotes (and truncates) an unknown field name; a cut through a
  // multi-byte character would make the message itself invalid UTF-8, which breaks
  // anything that serializes errors to JSON.
  std::string key = "a";
  for (int i = 0; i < 30; ++i) key += "ж";
  const Error e = ParseError(RecordWith("\"" + key + "\": \"x\""));
  EXPECT_TRUE(IsValidUtf8(e.message)) << "message is not valid UTF-8";
}

// Regression (found by this test; fixed): (vault/record.cc, ParseRecordJson): nlohmann::json::parse keeps the last of two
// equal keys, so {"narrative":"A","narrative":"B"} is accepted and "A" is silently
// dropped — evidence text lost without an error, in a parser documented as strict
// ("exactly these fields"). Expected: kInvalidArgument naming the duplicated field
// (e.g. parse with a SAX handler or a parser callback that rejects a repeated key).
TEST(RecordJsonTest, DuplicateKeysRejected) {
  ParseError(R"({"kind":"k","title":"t","narrative":"first account","narrative":"second account"})");
  ParseError(R"({"kind":"k","title":"t","people":[{"name":"a","name":"b","role":"victim"}]})");
  ParseError(R"({"kind":"k","kind":"k","title":"t"})");
}

TEST(RecordJsonTest, RecordTextListsEveryString) {
  auto parsed = ParseRecordJson(kFullRecord);
  ASSERT_TRUE(parsed.has_value());
  const auto text = RecordText(*parsed);
  auto has = [&](std::string_view s) { return std::find(text.begin(), text.end(), s) != text.end(); };
  EXPECT_TRUE(has("arrest"));
  EXPECT_TRUE(has("Нұр-Сұлтан"));
  EXPECT_TRUE(has("Асқар Жұмабаев"));
  EXPECT_TRUE(has("Заведомо ложная информация"));
  EXPECT_TRUE(has("https://example.org/v/1"));
  EXPECT_TRUE(has("Есильский районный суд"));
  EXPECT_TRUE(has("274"));
}

TEST(RecordJsonTest, LabelsValidated) {
  EXPECT_TRUE(ValidateLabel("tag", "Нұр-Сұлтан", 200).has_value());
  EXPECT_FALSE(ValidateLabel("tag", "", 200).has_value());
  EXPECT_FALSE(ValidateLabel("tag", "  ", 200).has_value());
  EXPECT_FALSE(ValidateLabel("tag", "a\nb", 200).has_value());
  EXPECT_FALSE(ValidateLabel("tag", "bad \xFF", 200).has_value());
  EXPECT_FALSE(ValidateLabel("tag", std::string(201, 'a'), 200).has_value());
  EXPECT_TRUE(ValidateLabel("tag", std::string(200, 'a'), 200).has_value());
  auto e = ValidateLabel("tag", "SECRETxq7\x01", 200);
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().message.find("SECRET"), std::string::npos);
}

}  // namespace
}  // namespace evault::vault
