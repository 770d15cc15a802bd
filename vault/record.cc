#include "vault/record.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>

#include <fmt/core.h>

namespace evault::vault {

using nlohmann::json;

namespace {

enum class Type { kString, kDate, kEnum, kObject, kObjectArray, kStringArray };

struct Field {
  const char* name;
  Type type;
  bool required = false;
  std::vector<const char*> choices = {};  // kEnum
  std::vector<Field> children = {};       // kObject, kObjectArray
};

const std::vector<Field>& RecordSchema() {
  static const std::vector<Field> schema = {
      {"kind", Type::kString, true},
      {"title", Type::kString, true},
      {"occurred", Type::kObject, false, {},
       {{"from", Type::kDate}, {"to", Type::kDate},
        {"precision", Type::kEnum, false, {"exact", "day", "month", "year", "approximate"}}}},
      {"location", Type::kObject, false, {},
       {{"country", Type::kString}, {"region", Type::kString}, {"city", Type::kString},
        {"place", Type::kString}}},
      {"people", Type::kObjectArray, false, {},
       {{"name", Type::kString, true},
        {"role", Type::kEnum, true, {"victim", "witness", "perpetrator", "official", "lawyer", "other"}},
        {"affiliation", Type::kString},
        {"notes", Type::kString}}},
      {"legal", Type::kObject, false, {},
       {{"charges", Type::kObjectArray, false, {},
         {{"code", Type::kString}, {"article", Type::kString}, {"description", Type::kString}}},
        {"court", Type::kString},
        {"outcome", Type::kString},
        {"sentence", Type::kString}}},
      {"narrative", Type::kString},
      {"sources", Type::kObjectArray, false, {},
       {{"kind", Type::kString},
        {"reference", Type::kString, true},
        {"reliability", Type::kEnum, false, {"high", "medium", "low", "unknown"}}}},
      {"tags", Type::kStringArray},
  };
  return schema;
}

bool Digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return false;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

int Num(std::string_view s, std::size_t pos, std::size_t n) {
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

// YYYY | YYYY-MM | YYYY-MM-DD | YYYY-MM-DDThh:mm[:ss](Z|+hh:mm|-hh:mm)
bool IsIsoDate(std::string_view s) {
  if (!Digits(s, 0, 4)) return false;
  if (s.size() == 4) return true;
  if (s.size() < 7 || s[4] != '-' || !Digits(s, 5, 2)) return false;
  const int month = Num(s, 5, 2);
  if (month < 1 || month > 12) return false;
  if (s.size() == 7) return true;
  if (s.size() < 10 || s[7] != '-' || !Digits(s, 8, 2)) return false;
  const int day = Num(s, 8, 2);
  if (day < 1 || day > 31) return false;
  if (s.size() == 10) return true;
  if (s[10] != 'T' || !Digits(s, 11, 2) || s.size() < 16 || s[13] != ':' || !Digits(s, 14, 2)) return false;
  if (Num(s, 11, 2) > 23 || Num(s, 14, 2) > 59) return false;
  std::size_t pos = 16;
  if (pos < s.size() && s[pos] == ':') {
    if (!Digits(s, pos + 1, 2) || Num(s, pos + 1, 2) > 60) return false;
    pos += 3;
  }
  if (pos == s.size() - 1 && s[pos] == 'Z') return true;
  if (pos + 6 == s.size() && (s[pos] == '+' || s[pos] == '-') && Digits(s, pos + 1, 2) &&
      s[pos + 3] == ':' && Digits(s, pos + 4, 2)) {
    return true;
  }
  return false;
}

bool HasControlCharacters(std::string_view s, bool allow_newlines) {
  return std::any_of(s.begin(), s.end(), [&](char c) {
    const auto u = static_cast<unsigned char>(c);
    if (allow_newlines && (c == '\n' || c == '\t' || c == '\r')) return false;
    return u < 0x20 || u == 0x7f;
  });
}

std::string Join(const std::vector<const char*>& items) {
  std::string out;
  for (const char* item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::unexpected<Error> Invalid(const std::string& path, std::string_view what) {
  return Fail(ErrorCode::kInvalidArgument, fmt::format("record field '{}' {}", path, what));
}

Result<json> CheckObject(const json& value, const std::vector<Field>& fields, const std::string& path);

Result<json> CheckValue(const json& value, const Field& field, const std::string& path) {
  switch (field.type) {
    case Type::kString:
    case Type::kDate:
    case Type::kEnum: {
      if (!value.is_string()) return Invalid(path, "must be a string");
      const auto& s = value.get_ref<const std::string&>();
      if (HasControlCharacters(s, field.type == Type::kString)) {
        return Invalid(path, "contains control characters");
      }
      if (field.type == Type::kDate && !IsIsoDate(s)) {
        return Invalid(path, "must be an ISO 8601 date: YYYY, YYYY-MM, YYYY-MM-DD or "
                             "YYYY-MM-DDThh:mm[:ss]Z");
      }
      if (field.type == Type::kEnum &&
          std::none_of(field.choices.begin(), field.choices.end(),
                       [&](const char* c) { return s == c; })) {
        return Invalid(path, fmt::format("must be one of: {}", Join(field.choices)));
      }
      if (field.required && s.find_first_not_of(" \t\r\n") == std::string::npos) {
        return Invalid(path, "must not be empty");
      }
      return value;
    }
    case Type::kObject:
      if (!value.is_object()) return Invalid(path, "must be an object");
      return CheckObject(value, field.children, path + ".");
    case Type::kObjectArray: {
      if (!value.is_array()) return Invalid(path, "must be an array of objects");
      json out = json::array();
      for (std::size_t i = 0; i < value.size(); ++i) {
        const std::string item_path = fmt::format("{}[{}]", path, i);
        if (!value[i].is_object()) return Invalid(item_path, "must be an object");
        EVAULT_ASSIGN_OR_RETURN(json item, CheckObject(value[i], field.children, item_path + "."));
        out.push_back(std::move(item));
      }
      return out;
    }
    case Type::kStringArray: {
      if (!value.is_array()) return Invalid(path, "must be an array of strings");
      for (std::size_t i = 0; i < value.size(); ++i) {
        const std::string item_path = fmt::format("{}[{}]", path, i);
        if (!value[i].is_string()) return Invalid(item_path, "must be a string");
        if (HasControlCharacters(value[i].get_ref<const std::string&>(), false)) {
          return Invalid(item_path, "contains control characters");
        }
      }
      return value;
    }
  }
  return Fail(ErrorCode::kInternal, "unreachable");
}

Result<json> CheckObject(const json& value, const std::vector<Field>& fields, const std::string& prefix) {
  for (const auto& [key, member] : value.items()) {
    const bool known = std::any_of(fields.begin(), fields.end(),
                                   [&](const Field& f) { return key == f.name; });
    if (!known) {
      // The field name is structure, not evidence, but cap it: it is still input.
      std::string shown = key;
      if (shown.size() > 40) {
        std::size_t cut = 40;
        while (cut > 0 && (static_cast<unsigned char>(shown[cut]) & 0xC0) == 0x80) --cut;  // a whole character
        shown = shown.substr(0, cut) + "...";
      }
      if (HasControlCharacters(shown, false)) shown = "(unprintable)";
      return Fail(ErrorCode::kInvalidArgument, fmt::format("unknown record field '{}{}'", prefix, shown));
    }
  }
  json out = json::object();
  for (const Field& field : fields) {
    const std::string path = prefix + field.name;
    auto it = value.find(field.name);
    if (it == value.end() || it->is_null()) {
      if (field.required) return Invalid(path, "is required");
      continue;
    }
    EVAULT_ASSIGN_OR_RETURN(json checked, CheckValue(*it, field, path));
    out[field.name] = std::move(checked);
  }
  return out;
}

}  // namespace

Result<json> ParseRecordJson(std::string_view text) {
  if (text.size() > kMaxRecordJsonBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("record JSON is larger than {} MiB", kMaxRecordJsonBytes >> 20));
  }
  json parsed;
  // Two values for one field would silently drop one of them: refuse duplicates.
  std::vector<std::set<std::string>> keys_seen;
  bool duplicate = false;
  auto track_keys = [&](int /*depth*/, json::parse_event_t event, json& value) {
    if (event == json::parse_event_t::object_start) keys_seen.emplace_back();
    if (event == json::parse_event_t::object_end && !keys_seen.empty()) keys_seen.pop_back();
    if (event == json::parse_event_t::key && !keys_seen.empty() &&
        !keys_seen.back().insert(value.get<std::string>()).second) {
      duplicate = true;
    }
    return true;
  };
  try {
    parsed = json::parse(text, track_keys);
  } catch (const json::parse_error& e) {
    // Report the position only: nlohmann's message quotes the input around the error.
    std::size_t line = 1, column = 1;
    const std::size_t end = std::min<std::size_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
    for (std::size_t i = 0; i < end; ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("invalid JSON at line {}, column {}", line, column));
  } catch (const json::exception&) {
    // A number too large for a double is out_of_range, not parse_error; its message
    // quotes the number, so it is not shown either.
    return Fail(ErrorCode::kInvalidArgument, "invalid JSON: a number is out of range");
  }
  if (duplicate) {
    return Fail(ErrorCode::kInvalidArgument, "record JSON names a field twice");
  }
  if (!parsed.is_object()) {
    return Fail(ErrorCode::kInvalidArgument, "record JSON must be an object");
  }
  return CheckObject(parsed, RecordSchema(), "");
}

Status ValidateRecord(const json& record) {
  if (!record.is_object()) return Fail(ErrorCode::kCorrupt, "stored record is not an object");
  auto checked = CheckObject(record, RecordSchema(), "");
  if (!checked) return std::unexpected(checked.error());
  return Ok();
}

const std::vector<std::string>& FlatRecordFields() {
  static const std::vector<std::string> fields = [] {
    auto is_flat = [](Type t) { return t == Type::kString || t == Type::kDate || t == Type::kEnum; };
    std::vector<std::string> out;
    for (const Field& field : RecordSchema()) {
      if (is_flat(field.type)) out.emplace_back(field.name);
      if (field.type != Type::kObject) continue;
      for (const Field& child : field.children) {
        if (is_flat(child.type)) out.push_back(fmt::format("{}.{}", field.name, child.name));
      }
    }
    return out;
  }();
  return fields;
}

std::vector<std::string> RecordText(const json& record) {
  std::vector<std::string> out;
  auto walk = [&](auto&& self, const json& v) -> void {
    if (v.is_string()) {
      out.push_back(v.get<std::string>());
    } else if (v.is_object() || v.is_array()) {
      for (const auto& child : v) self(self, child);
    }
  };
  walk(walk, record);
  return out;
}

std::string CanonicalJson(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::strict);
}

Status ValidateLabel(std::string_view what, std::string_view text, std::size_t max_bytes) {
  if (text.find_first_not_of(" \t") == std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{} must not be empty", what));
  }
  if (text.size() > max_bytes) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{} is longer than {} bytes", what, max_bytes));
  }
  if (HasControlCharacters(text, false)) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{} contains control characters", what));
  }
  try {
    (void)json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::strict);
  } catch (const json::exception&) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{} is not valid UTF-8", what));
  }
  return Ok();
}

}  // namespace evault::vault
