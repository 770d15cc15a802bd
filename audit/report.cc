#include "audit/report.h"

#include "audit/text.h"

#include <fmt/format.h>

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace evault::audit {
namespace {

using json = nlohmann::json;

constexpr std::string_view kDash = "<span class=\"dash\">\u2014</span>";
constexpr std::string_view kReplacement = "\uFFFD";
// Deeper values are shown as escaped compact JSON rather than recursed into.
constexpr int kMaxDepth = 24;

// ---- text ---------------------------------------------------------------------------------

bool IsBidiControl(std::uint32_t cp) { return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069); }

// HTML-escapes s, passing valid UTF-8 through and replacing what a page must not carry.
void AppendEscaped(std::string& out, std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        case '\t': case '\n': case '\r': out += static_cast<char>(c); break;
        default:
          if (c < 0x20 || c == 0x7F) out += kReplacement;
          else out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    std::uint32_t cp = 0;
    const std::size_t len = Utf8Sequence(s.substr(i), cp);
    const bool ok = len != 0;
    if (!ok) {  // one replacement per bad byte; resynchronise on the next
      out += kReplacement;
      ++i;
      continue;
    }
    if (cp >= 0x80 && cp <= 0x9F) out += kReplacement;  // C1 controls
    else if (IsBidiControl(cp)) out += fmt::format("[U+{:04X}]", cp);
    else out.append(s.substr(i, len));
    i += len;
  }
}

std::string Esc(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  AppendEscaped(out, s);
  return out;
}

// The value at key, or nullptr when absent, null or an empty string.
const json* Find(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  if (it->is_string() && it->get_ref<const std::string&>().empty()) return nullptr;
  return &*it;
}

const std::string* FindString(const json& obj, std::string_view key) {
  const json* v = Find(obj, key);
  return v && v->is_string() ? &v->get_ref<const std::string&>() : nullptr;
}

bool IsScalar(const json& v) { return !v.is_object() && !v.is_array(); }

std::string Scalar(const json& v) {
  if (v.is_null()) return std::string(kDash);
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    return s.empty() ? std::string(kDash) : Esc(s);
  }
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  if (v.is_binary()) return "[binary data]";
  return Esc(v.dump());
}

std::string CompactJson(const json& v) {
  return "<code>" + Esc(v.dump(-1, ' ', false, json::error_handler_t::replace)) + "</code>";
}

// Any JSON value, readably: objects as key/value tables, arrays as lists, recursively.
std::string Generic(const json& v, int depth = 0) {
  if (IsScalar(v)) return Scalar(v);
  if (depth >= kMaxDepth) return CompactJson(v);
  if (v.empty()) return v.is_object() ? "<span class=\"dash\">(empty)</span>" : "<span class=\"dash\">(none)</span>";
  std::string out;
  if (v.is_object()) {
    out += "<table class=\"kv nested\"><tbody>";
    for (const auto& [key, value] : v.items())
      out += "<tr><th>" + Esc(key) + "</th><td>" + Generic(value, depth + 1) + "</td></tr>";
    out += "</tbody></table>";
    return out;
  }
  out += "<ul class=\"values\">";
  for (const auto& item : v) out += "<li>" + Generic(item, depth + 1) + "</li>";
  out += "</ul>";
  return out;
}

std::string Text(const json* v) { return v ? Generic(*v) : std::string(kDash); }
std::string Text(const json& obj, std::string_view key) { return Text(Find(obj, key)); }
// Ids, hashes and device names: monospace, wrapping anywhere.
std::string Mono(const json* v) {
  if (!v) return std::string(kDash);
  return "<span class=\"hash\">" + Generic(*v) + "</span>";
}
std::string Mono(const json& obj, std::string_view key) { return Mono(Find(obj, key)); }

// Timestamps stay on one line.
std::string Time(const json& obj, std::string_view key) {
  const json* v = Find(obj, key);
  if (!v || !v->is_string()) return Text(v);
  return "<span class=\"time\">" + Scalar(*v) + "</span>";
}

std::string Group3(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string HumanSize(std::uint64_t n) {
  static constexpr const char* kUnits[] = {"kB", "MB", "GB", "TB", "PB", "EB"};
  double value = static_cast<double>(n);
  int unit = -1;
  while (value >= 1000 && unit < 5) value /= 1000, ++unit;
  return unit < 0 ? fmt::format("{} bytes", n) : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string Size(const json* v) {
  if (!v || !v->is_number_unsigned()) return Text(v);
  const auto n = v->get<std::uint64_t>();
  if (n < 1000) return fmt::format("{} bytes", n);
  return fmt::format("{} bytes<br><span class=\"aside\">({})</span>", Group3(n), HumanSize(n));
}

bool Known(std::string_view key, std::initializer_list<std::string_view> known) {
  for (auto k : known)
    if (k == key) return true;
  return false;
}

// Key/value rows for the keys of obj not in known.
std::string ExtraRows(const json& obj, std::initializer_list<std::string_view> known) {
  std::string out;
  if (!obj.is_object()) return out;
  for (const auto& [key, value] : obj.items())
    if (!Known(key, known)) out += "<tr><th>" + Esc(key) + "</th><td>" + Generic(value, 1) + "</td></tr>";
  return out;
}

bool HasExtras(const json& obj, std::initializer_list<std::string_view> known) {
  if (!obj.is_object()) return false;
  for (const auto& [key, value] : obj.items())
    if (!Known(key, known)) return true;
  return false;
}

std::string Row(std::string_view label, const std::string& html) {
  return "<tr><th>" + std::string(label) + "</th><td>" + html + "</td></tr>";
}

// ---- tables of like objects -----------------------------------------------------------

struct Column {
  std::string_view key;
  std::string_view label;  // literal HTML
  bool mono = false;
  bool time = false;
};

// One row per object, a column per key, and an "Other" column when any object carries keys
// beyond the columns. Items that are not objects get a row of their own.
// Keys in skip are shown elsewhere by the caller.
std::string Grid(const json& items, std::initializer_list<Column> columns, std::string_view cls = "",
                 std::initializer_list<std::string_view> skip = {}) {
  std::vector<std::string_view> keys(skip);
  for (const auto& c : columns) keys.push_back(c.key);
  auto known = [&](std::string_view key) {
    for (auto k : keys)
      if (k == key) return true;
    return false;
  };
  bool other = false;
  for (const auto& item : items) {
    if (!item.is_object()) continue;
    for (const auto& [key, value] : item.items()) other = other || !known(key);
  }
  const std::size_t width = columns.size() + (other ? 1 : 0);
  std::string out = "<table class=\"grid";
  if (!cls.empty()) out += " " + std::string(cls);
  out += "\"><thead><tr>";
  for (const auto& c : columns) out += "<th>" + std::string(c.label) + "</th>";
  if (other) out += "<th>Other</th>";
  out += "</tr></thead><tbody>";
  for (const auto& item : items) {
    out += "<tr>";
    if (!item.is_object()) {
      out += fmt::format("<td colspan=\"{}\">{}</td></tr>", width, Generic(item, 1));
      continue;
    }
    for (const auto& c : columns)
      out += "<td>" + (c.mono ? Mono(item, c.key) : c.time ? Time(item, c.key) : Text(item, c.key)) + "</td>";
    if (other) {
      std::string rows;
      for (const auto& [key, value] : item.items())
        if (!known(key)) rows += "<tr><th>" + Esc(key) + "</th><td>" + Generic(value, 1) + "</td></tr>";
      out += rows.empty() ? "<td></td>" : "<td><table class=\"kv nested\"><tbody>" + rows + "</tbody></table></td>";
    }
    out += "</tr>";
  }
  out += "</tbody></table>";
  return out;
}

// ---- record fields --------------------------------------------------------------------

std::string Occurred(const json& v) {
  if (!v.is_object()) return Generic(v);
  const json* from = Find(v, "from");
  const json* to = Find(v, "to");
  std::string out;
  if (from && to && *from == *to) out = Text(from);
  else if (from || to) out = Text(from) + " \u2013 " + Text(to);
  else out = std::string(kDash);
  if (const json* p = Find(v, "precision")) out += " <span class=\"aside\">(precision: " + Text(p) + ")</span>";
  std::string extra = ExtraRows(v, {"from", "to", "precision"});
  if (!extra.empty()) out += "<table class=\"kv nested\"><tbody>" + extra + "</tbody></table>";
  return out;
}

std::string Location(const json& v) {
  if (!v.is_object()) return Generic(v);
  std::string out;
  for (const char* key : {"place", "city", "region", "country"}) {
    const json* part = Find(v, key);
    if (!part) continue;
    if (!out.empty()) out += ", ";
    out += Text(part);
  }
  std::string extra = ExtraRows(v, {"place", "city", "region", "country"});
  if (out.empty() && extra.empty()) return std::string(kDash);
  if (!extra.empty()) out += "<table class=\"kv nested\"><tbody>" + extra + "</tbody></table>";
  return out;
}

std::string People(const json& v) {
  if (!v.is_array() || v.empty()) return Generic(v);
  return Grid(v, {{"name", "Name"}, {"role", "Role"}, {"affiliation", "Affiliation"}, {"notes", "Notes"}}, "people");
}

std::string Sources(const json& v) {
  if (!v.is_array() || v.empty()) return Generic(v);
  return Grid(v, {{"kind", "Kind"}, {"reference", "Reference"}, {"reliability", "Reliability"}}, "sources");
}

std::string Legal(const json& v) {
  if (!v.is_object()) return Generic(v);
  std::string rows;
  if (const json* charges = Find(v, "charges"))
    rows += Row("Charges", charges->is_array() && !charges->empty()
                               ? Grid(*charges, {{"code", "Code"}, {"article", "Article"}, {"description", "Description"}})
                               : Generic(*charges, 1));
  for (auto [key, label] : {std::pair{"court", "Court"}, {"outcome", "Outcome"}, {"sentence", "Sentence"}})
    if (const json* x = Find(v, key)) rows += Row(label, Text(x));
  rows += ExtraRows(v, {"charges", "court", "outcome", "sentence"});
  if (rows.empty()) return std::string(kDash);
  return "<table class=\"kv nested\"><tbody>" + rows + "</tbody></table>";
}

std::string Narrative(const json& v) {
  if (!v.is_string()) return Generic(v);
  return "<div class=\"narrative\">" + Scalar(v) + "</div>";
}

std::string Tags(const json& v) {
  if (!v.is_array() || v.empty()) return Generic(v);
  std::string out;
  for (const auto& tag : v) {
    if (!IsScalar(tag)) return Generic(v);
    out += "<span class=\"tag\">" + Scalar(tag) + "</span> ";
  }
  return out;
}

struct FieldSpec {
  std::string_view key;
  std::string_view label;
  std::string (*render)(const json&);
};

std::string Plain(const json& v) { return Generic(v); }

constexpr FieldSpec kFields[] = {
    {"kind", "Kind", Plain},           {"title", "Title", Plain},        {"occurred", "When", Occurred},
    {"location", "Where", Location},   {"people", "People", People},     {"legal", "Legal proceedings", Legal},
    {"narrative", "Narrative", Narrative}, {"sources", "Sources", Sources}, {"tags", "Tags", Tags},
};

// The record's fields as rows: the known ones in reading order, then every other one.
// With latest (for an earlier revision), a field whose value differs from latest is marked.
std::string FieldRows(const json& record, bool skip_title, const json* latest) {
  if (!record.is_object()) return Row("Content", Generic(record));
  std::string rows;
  auto mark = [&](const std::string& key, const json& value) {
    if (!latest) return std::string();
    const auto it = latest->is_object() ? latest->find(key) : latest->end();
    if (latest->is_object() && it != latest->end() && *it == value) return std::string();
    return std::string("<span class=\"changed\">changed later</span>");
  };
  for (const auto& f : kFields) {
    const auto it = record.find(f.key);
    if (it == record.end() || (skip_title && f.key == "title")) continue;
    rows += "<tr><th>" + std::string(f.label) + mark(std::string(f.key), *it) + "</th><td>" +
            (it->is_null() ? std::string(kDash) : f.render(*it)) + "</td></tr>";
  }
  for (const auto& [key, value] : record.items()) {
    bool known = false;
    for (const auto& f : kFields) known = known || f.key == key;
    if (!known) rows += "<tr><th>" + Esc(key) + mark(key, value) + "</th><td>" + Generic(value, 1) + "</td></tr>";
  }
  return rows;
}

// ---- sections -------------------------------------------------------------------------

Status CheckArrayOfObjects(const json& model, const char* key) {
  const auto it = model.find(key);
  if (it == model.end() || it->is_null()) return Ok();
  if (!it->is_array()) return Fail(ErrorCode::kInvalidArgument, fmt::format("report model: \"{}\" is not an array", key));
  for (std::size_t i = 0; i < it->size(); ++i)
    if (!(*it)[i].is_object())
      return Fail(ErrorCode::kInvalidArgument, fmt::format("report model: {}[{}] is not an object", key, i));
  return Ok();
}

Status CheckModel(const json& model) {
  if (!model.is_object()) return Fail(ErrorCode::kInvalidArgument, "report model: not a JSON object");
  for (const char* key : {"case", "export"}) {
    const auto it = model.find(key);
    if (it == model.end() || !it->is_object())
      return Fail(ErrorCode::kInvalidArgument, fmt::format("report model: \"{}\" object missing", key));
  }
  for (const char* key : {"records", "attachments", "custody", "commands"}) EVAULT_TRY(CheckArrayOfObjects(model, key));
  if (const auto it = model.find("checkpoint"); it != model.end() && !it->is_null() && !it->is_object())
    return Fail(ErrorCode::kInvalidArgument, "report model: \"checkpoint\" is not an object");
  for (const auto& record : model.value("records", json::array()))
    if (const auto it = record.find("revisions"); it != record.end() && !it->is_null()) {
      if (!it->is_array()) return Fail(ErrorCode::kInvalidArgument, "report model: record revisions are not an array");
      for (const auto& revision : *it)
        if (!revision.is_object())
          return Fail(ErrorCode::kInvalidArgument, "report model: a record revision is not an object");
    }
  return Ok();
}

const json& Section(const json& model, const char* key) {
  static const json kEmptyArray = json::array();
  const auto it = model.find(key);
  return it == model.end() || it->is_null() ? kEmptyArray : *it;
}

constexpr std::string_view kStyle = R"css(
:root { color-scheme: light; }
html { background: #fff; color: #111; }
body { font-family: "Liberation Serif", "Times New Roman", "DejaVu Serif", Georgia, serif;
  font-size: 11pt; line-height: 1.4; max-width: 58rem; margin: 2.5rem auto; padding: 0 2rem; }
h1, h2, h3, h4, h5 { line-height: 1.2; break-after: avoid; page-break-after: avoid; }
h1 { font-size: 24pt; font-weight: normal; letter-spacing: .02em; margin: 0; }
.subtitle { font-size: 15pt; margin: .3em 0 1em; }
h2 { font-size: 15pt; border-bottom: 1.5pt solid #111; padding-bottom: .2em; margin: 2.2em 0 .7em; }
h3 { font-size: 13pt; margin: 1.6em 0 .3em; }
h4 { font-size: 11.5pt; margin: 1.3em 0 .3em; }
h5 { font-size: 11pt; font-weight: normal; font-style: italic; margin: 1em 0 .2em; }
p { margin: .4em 0; }
table { border-collapse: collapse; width: 100%; margin: .4em 0 .9em; }
th, td { border: .75pt solid #888; padding: .3em .5em; vertical-align: top; text-align: left; }
thead th { background: #eee; font-weight: bold; }
table.kv > tbody > tr > th { width: 11em; font-weight: bold; background: #f6f6f6; }
table.nested { margin: .2em 0; font-size: 95%; }
table.nested > tbody > tr > th { width: auto; min-width: 6em; font-weight: normal; font-style: italic; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
code, pre, .hash { font-family: "DejaVu Sans Mono", "Liberation Mono", "Courier New", monospace; font-size: 8.5pt; }
.hash { overflow-wrap: anywhere; word-break: break-all; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: .3em 0 .8em;
  padding: .5em .7em; border: .75pt solid #888; background: #f6f6f6; font-size: 9pt; }
.narrative { white-space: pre-wrap; }
.time { white-space: nowrap; }
.dash, .aside { color: #555; }
.aside { font-size: 90%; }
.tag { display: inline-block; border: .75pt solid #888; border-radius: 2pt; padding: 0 .35em; margin: 0 .15em .15em 0; font-size: 90%; }
.changed { display: block; font-weight: normal; font-style: italic; font-size: 85%; color: #555; }
ul.values { margin: 0; padding-left: 1.2em; }
.contents { margin: 0 0 1em; padding-left: 1.4em; }
.contents a, .xref { color: inherit; }
.notice { border-left: 3pt solid #111; padding: .3em .8em; margin: .8em 0; }
.key { border: 1.5pt solid #111; padding: .6em 1em; margin: .8em 0 1.2em; break-inside: avoid; }
.key h3 { margin-top: .2em; }
.key pre { font-size: 11pt; font-weight: bold; background: #fff; border: .75pt solid #888; }
ol.commands { padding-left: 1.4em; }
ol.commands > li { margin-bottom: .6em; break-inside: avoid; }
.meta { color: #333; }
.record + .record { border-top: .75pt solid #888; margin-top: 2em; }
table.attachments tbody.attachment { break-inside: avoid; page-break-inside: avoid; }
table.attachments tbody.attachment > tr:first-child > td { border-top: 1.5pt solid #111; }
table.custody td:first-child, table.attachments td:first-child { text-align: right; width: 2em; }
table.grid td.subject div { margin: 0 0 .15em; }
table.grid td.subject .k { font-style: italic; }
footer { margin-top: 3em; padding-top: .5em; border-top: .75pt solid #888; font-size: 9.5pt; color: #333; }
@page { size: A4; margin: 18mm 15mm 20mm;
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font-size: 9pt; } }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 10pt; }
  section.major { break-before: page; page-break-before: always; }
  .record + .record { break-before: page; page-break-before: always; border-top: none; margin-top: 0; }
  h2 { margin-top: 0; }
  table.kv > tbody > tr > th { width: 9em; }
  a { text-decoration: none; }
}
)css";

std::string Header(const json& model) {
  const json& c = model["case"];
  const json& e = model["export"];
  std::string out = "<header><h1>Evidence export</h1>";
  out += "<p class=\"subtitle\">" + Text(c, "title") + "</p><table class=\"kv\"><tbody>";
  out += Row("Case id", Mono(c, "case_id"));
  out += Row("Export time (UTC)", Text(e, "time"));
  out += Row("Exporting device", Mono(e, "device"));
  out += Row("Purpose", Text(e, "purpose"));
  out += "</tbody></table>";
  out += R"(<ol class="contents"><li><a href="#verify">How to check this bundle independently</a></li>)"
         R"(<li><a href="#case">The case</a></li><li><a href="#records">Records</a></li>)"
         R"(<li><a href="#attachments">Attachments</a></li><li><a href="#custody">Custody timeline</a></li></ol>)";
  return out + "</header>\n";
}

std::string Verification(const json& model) {
  const json& e = model["export"];
  std::string out = "<section class=\"major\" id=\"verify\"><h2>1. How to check this bundle independently</h2>";
  out +=
      "<p class=\"notice\">The files in this bundle, not this page, are the evidence. The bundle&#39;s manifests "
      "list the SHA-256 and SHA-512 of every file, and the manifests are signed with the key below. The commands "
      "below check this with standard tools; none of them needs evault. If this page and the files ever "
      "disagree, the files prevail.</p>";
  out += "<div class=\"key\"><h3>The signer&#39;s public key (minisign)</h3>";
  if (const std::string* key = FindString(e, "signer_public_key")) out += "<pre>" + Esc(*key) + "</pre>";
  else out += "<p>" + Text(e, "signer_public_key") + "</p>";
  out += "<table class=\"kv\"><tbody>" + Row("Key fingerprint", Mono(e, "signer_fingerprint")) +
         Row("SSH signing identity", Mono(e, "ssh_identity")) +
         ExtraRows(e, {"time", "device", "purpose", "signer_public_key", "signer_fingerprint", "ssh_identity"}) +
         "</tbody></table>";
  out +=
      "<p>Compare this key with one obtained separately from the exporting organisation (for example on "
      "paper, or from its published key). A key that arrives only inside the bundle shows that the bundle was "
      "not altered after signing, not who signed it.</p></div>";
  const json& commands = Section(model, "commands");
  out += "<h3>Commands</h3>";
  if (commands.empty()) return out + "<p>" + std::string(kDash) + "</p></section>\n";
  out += "<ol class=\"commands\">";
  for (const auto& c : commands) {
    out += "<li><p>" + Text(c, "what") + "</p>";
    if (const std::string* command = FindString(c, "command")) out += "<pre>" + Esc(*command) + "</pre>";
    else out += "<p>" + Text(c, "command") + "</p>";
    if (HasExtras(c, {"what", "command"}))
      out += "<table class=\"kv nested\"><tbody>" + ExtraRows(c, {"what", "command"}) + "</tbody></table>";
    out += "</li>";
  }
  return out + "</ol></section>\n";
}

std::string Case(const json& model) {
  const json& c = model["case"];
  std::string out = "<section class=\"major\" id=\"case\"><h2>2. The case</h2><table class=\"kv\"><tbody>";
  out += Row("Title", Text(c, "title"));
  out += Row("Case id", Mono(c, "case_id"));
  out += Row("Status", Text(c, "status"));
  const json* tags = Find(c, "tags");
  out += Row("Tags", tags ? Tags(*tags) : std::string(kDash));
  out += Row("Created (UTC)", Text(c, "created"));
  out += Row("Author device", Mono(c, "author"));
  out += ExtraRows(c, {"case_id", "title", "status", "tags", "created", "author"});
  return out + "</tbody></table></section>\n";
}

std::string RevisionHeading(const json& revision) {
  return "Revision " + Text(revision, "revision") + " \u00b7 <span class=\"hash\">" + Text(revision, "revision_id") +
         "</span> \u00b7 created " + Text(revision, "created") + " by <span class=\"hash\">" +
         Text(revision, "author") + "</span>";
}

std::string Records(const json& model) {
  const json& records = Section(model, "records");
  const json& attachments = Section(model, "attachments");
  std::string out = "<section class=\"major\" id=\"records\"><h2>3. Records</h2>";
  if (records.empty()) return out + "<p>This export holds no records.</p></section>\n";
  out += fmt::format("<p>{} record{}. For each: its current content (the latest revision), the history of its "
                     "revisions and the full content of every earlier revision.</p>",
                     records.size(), records.size() == 1 ? "" : "s");
  for (std::size_t i = 0; i < records.size(); ++i) {
    const json& entry = records[i];
    const json& revisions = Section(entry, "revisions");
    const json* latest = revisions.empty() ? nullptr : &revisions.back();
    const json* fields = latest ? Find(*latest, "record") : nullptr;
    const json* title = fields ? Find(*fields, "title") : nullptr;
    out += fmt::format("<article class=\"record\" id=\"record-{}\"><h3>Record {}: {}</h3>", i + 1, i + 1,
                       title ? Generic(*title) : "(untitled)");
    out += "<p class=\"meta\">Record id <span class=\"hash\">" + Text(entry, "record_id") + "</span>";
    if (latest) out += "<br>Current content: " + RevisionHeading(*latest);
    out += "</p>";
    if (!latest) out += "<p>This export holds no revision of this record.</p>";
    else if (!fields) out += "<p>The latest revision has no content: " + std::string(kDash) + "</p>";
    else out += "<table class=\"kv fields\"><tbody>" + FieldRows(*fields, title && title->is_string(), nullptr) +
                "</tbody></table>";
    if (HasExtras(entry, {"record_id", "revisions"}))
      out += "<table class=\"kv\"><tbody>" + ExtraRows(entry, {"record_id", "revisions"}) + "</tbody></table>";

    // Attachments of this record, by their number in the attachments section.
    std::string own;
    const json* id = Find(entry, "record_id");
    for (std::size_t k = 0; id && k < attachments.size(); ++k) {
      const json* rid = Find(attachments[k], "record_id");
      if (!rid || *rid != *id) continue;
      own += fmt::format("<li><a class=\"xref\" href=\"#attachment-{}\">Attachment {}</a>: {}</li>", k + 1, k + 1,
                         Text(attachments[k], "file_name"));
    }
    if (!own.empty()) out += "<h4>Attachments of this record</h4><ul>" + own + "</ul>";

    if (!revisions.empty()) {
      out += "<h4>Revision history</h4>";
      // The content of each revision is shown above (the latest) and below (the earlier ones).
      out += Grid(revisions,
                  {{"revision", "Rev."}, {"revision_id", "Revision id", true}, {"created", "Created (UTC)", false, true},
                   {"author", "Author device", true}, {"parents", "Parents", true}},
                  "revisions", {"record"});
    }
    if (revisions.size() > 1) {
      out += "<h4>Earlier revisions</h4><p class=\"aside\">Newest first. Fields that differ from the current "
             "content are marked &#8220;changed later&#8221;.</p>";
      for (std::size_t r = revisions.size() - 1; r-- > 0;) {
        const json& revision = revisions[r];
        out += "<div class=\"revision\"><h5>" + RevisionHeading(revision) + "</h5>";
        const json* old = Find(revision, "record");
        out += old ? "<table class=\"kv fields\"><tbody>" + FieldRows(*old, false, fields) + "</tbody></table>"
                   : "<p>" + std::string(kDash) + "</p>";
        out += "</div>";
      }
    }
    out += "</article>";
  }
  return out + "</section>\n";
}

std::string Attachments(const json& model) {
  const json& attachments = Section(model, "attachments");
  const json& records = Section(model, "records");
  std::string out = "<section class=\"major\" id=\"attachments\"><h2>4. Attachments</h2>";
  if (attachments.empty()) return out + "<p>This export holds no attachments.</p></section>\n";
  out += "<p>Each file is in the bundle at the path shown. Its hashes can be recomputed with "
         "<code>sha256sum</code> and <code>sha512sum</code>.</p>";
  out += "<table class=\"grid attachments\"><thead><tr><th>#</th><th>File name</th><th>Media type</th><th>Size</th>"
         "<th>Captured (UTC)</th><th>Capturing device</th></tr></thead>";
  for (std::size_t k = 0; k < attachments.size(); ++k) {
    const json& a = attachments[k];
    out += fmt::format("<tbody class=\"attachment\" id=\"attachment-{}\"><tr><td>{}</td>", k + 1, k + 1);
    out += "<td>" + Text(a, "file_name") + "</td><td>" + Text(a, "media_type") + "</td><td>" +
           Size(Find(a, "size")) + "</td><td>" + Time(a, "captured") + "</td><td>" + Mono(a, "device") + "</td></tr>";
    std::string record = Mono(a, "record_id");
    if (const json* rid = Find(a, "record_id"))
      for (std::size_t i = 0; i < records.size(); ++i)
        if (const json* id = Find(records[i], "record_id"); id && *id == *rid)
          record += fmt::format(" (<a class=\"xref\" href=\"#record-{}\">Record {}</a>)", i + 1, i + 1);
    out += "<tr><td></td><td colspan=\"5\"><table class=\"kv nested\"><tbody>" +
           Row("Path in the bundle", Mono(a, "path")) + Row("SHA-256", Mono(a, "sha256")) +
           Row("SHA-512", Mono(a, "sha512")) + Row("Attachment id", Mono(a, "attachment_id")) +
           Row("Record", record);
    std::string extra;
    for (const auto& [key, value] : a.items())
      if (!Known(key, {"attachment_id", "record_id", "path", "file_name", "media_type", "size", "sha256", "sha512",
                       "captured", "device"}))
        extra += "<tr><th>" + Esc(key) + "</th><td>" + Generic(value, 1) + "</td></tr>";
    out += extra + "</tbody></table></td></tr></tbody>";
  }
  return out + "</table></section>\n";
}

// A custody subject as "key value" lines, nested keys joined with '.', values monospace.
void SubjectLines(std::string& out, const std::string& prefix, const json& v, int depth) {
  auto line = [&](const std::string& value_html) {
    out += "<div>";
    if (!prefix.empty()) out += "<span class=\"k\">" + Esc(prefix) + "</span> ";
    out += "<span class=\"hash\">" + value_html + "</span></div>";
  };
  if (IsScalar(v) || v.empty()) return line(Generic(v));
  if (depth >= kMaxDepth) return line(CompactJson(v));
  if (v.is_object()) {
    for (const auto& [key, value] : v.items())
      SubjectLines(out, prefix.empty() ? key : prefix + "." + key, value, depth + 1);
    return;
  }
  bool scalars = true;
  for (const auto& item : v) scalars = scalars && IsScalar(item);
  if (scalars) {
    std::string joined;
    for (const auto& item : v) joined += (joined.empty() ? "" : ", ") + Scalar(item);
    return line(joined);
  }
  for (std::size_t i = 0; i < v.size(); ++i) SubjectLines(out, prefix + "[" + std::to_string(i) + "]", v[i], depth + 1);
}

std::string Custody(const json& model) {
  const json& custody = Section(model, "custody");
  std::string out = "<section class=\"major\" id=\"custody\"><h2>5. Custody timeline</h2>";
  if (custody.empty()) {
    out += "<p>This export holds no custody entries.</p>";
  } else {
    out += "<p>Every entry of the custody log, in log order.</p>";
    out += "<table class=\"grid custody\"><thead><tr><th>#</th><th>Time (UTC)</th><th>Device</th><th>Action</th>"
           "<th>Stream &#183; seq.</th><th>Subject</th></tr></thead><tbody>";
    for (const auto& entry : custody) {
      out += "<tr><td>" + Text(entry, "index") + "</td><td>" + Time(entry, "time") + "</td><td>" +
             Mono(entry, "device") + "</td><td>" + Text(entry, "action") + "</td><td><span class=\"hash\">" +
             Text(entry, "stream") + "</span> &#183; " + Text(entry, "seq") + "</td><td class=\"subject\">";
      std::string lines;
      if (const json* subject = Find(entry, "subject")) SubjectLines(lines, "", *subject, 0);
      for (const auto& [key, value] : entry.items())
        if (!Known(key, {"index", "time", "device", "action", "stream", "seq", "subject"}))
          SubjectLines(lines, "(entry) " + key, value, 1);
      out += (lines.empty() ? std::string(kDash) : lines) + "</td></tr>";
    }
    out += "</tbody></table>";
  }
  out += "<h3>Merkle checkpoint</h3><p>The root hash of the custody log&#39;s Merkle tree (RFC 6962), signed by "
         "the device named below. It commits to the log&#39;s first entries, as many as its size, in order: "
         "changing, removing or reordering any of them changes the root.</p>";
  const auto it = model.find("checkpoint");
  const json cp = it == model.end() || it->is_null() ? json::object() : *it;
  out += "<table class=\"kv\"><tbody>" + Row("Size (entries)", Text(cp, "size")) + Row("Root hash", Mono(cp, "root")) +
         Row("Time (UTC)", Time(cp, "time")) + Row("Signing device", Mono(cp, "device")) +
         ExtraRows(cp, {"size", "root", "time", "device"}) + "</tbody></table>";
  return out + "</section>\n";
}

std::string Footer(const json& model) {
  const json& e = model["export"];
  return "<footer><p>Generated by evault. Exporting device <span class=\"hash\">" + Text(e, "device") +
         "</span>; signer key fingerprint <span class=\"hash\">" + Text(e, "signer_fingerprint") +
         "</span>; exported " + Text(e, "time") + " UTC.</p></footer>\n";
}

}  // namespace

Result<std::string> RenderReport(const nlohmann::json& model) {
  EVAULT_TRY(CheckModel(model));
  std::string out;
  out.reserve(64 * 1024);
  out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  out += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n";
  out += "<meta name=\"referrer\" content=\"no-referrer\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>Evidence export \u2014 " + Esc(FindString(model["case"], "title") ? *FindString(model["case"], "title")
                                                                                      : std::string("untitled case")) +
         "</title>\n<style>" + std::string(kStyle) + "</style>\n</head>\n<body>\n";
  out += Header(model);
  out += Verification(model);
  out += Case(model);
  out += Records(model);
  out += Attachments(model);
  out += Custody(model);
  out += Footer(model);
  out += "</body></html>\n";
  return out;
}

}  // namespace evault::audit
