#include "client/render.h"

#include <fmt/core.h>

namespace evault::client {

using nlohmann::json;

json ToJson(const vault::CaseInfo& c) {
  return {{"id", c.id}, {"title", c.title}, {"status", c.status}, {"tags", c.tags},
          {"created", c.created}, {"author", c.author}};
}

json ToJson(const vault::RecordRevision& r) {
  return {{"record_id", r.record_id}, {"revision_id", r.revision_id}, {"case_id", r.case_id},
          {"revision", r.revision},   {"parents", r.parents},         {"created", r.created},
          {"author", r.author},       {"record", r.data}};
}

json ToJson(const vault::RecordView& v) {
  json heads = json::array(), history = json::array();
  for (const auto& r : v.heads) heads.push_back(ToJson(r));
  for (const auto& r : v.history) history.push_back(ToJson(r));
  json out = {{"id", v.record_id}, {"case_id", v.case_id}, {"conflict", v.conflict()},
              {"heads", heads}};
  if (!v.history.empty()) out["history"] = history;
  return out;
}

json ToJson(const vault::RecordSummary& s) {
  return {{"id", s.record_id}, {"case_id", s.case_id}, {"kind", s.kind}, {"title", s.title},
          {"revision", s.revision}, {"conflict", s.conflict}};
}

json ToJson(const vault::AttachmentInfo& a) {
  return {{"id", a.id}, {"record_id", a.record_id}, {"case_id", a.case_id},
          {"sha256", a.sha256}, {"size", a.size}, {"chunks", a.chunks},
          {"media_type", a.media_type}, {"file_name", a.file_name}, {"captured", a.captured},
          {"device", a.device}};
}

namespace {

std::string Join(const json& array, std::string_view sep) {
  std::string out;
  for (const auto& item : array) {
    if (!out.empty()) out += sep;
    out += item.is_string() ? item.get<std::string>() : item.dump();
  }
  return out;
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Joins the non-empty parts.
std::string Parts(std::initializer_list<std::string> parts, std::string_view sep) {
  std::string out;
  for (const auto& p : parts) {
    if (p.empty()) continue;
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

std::string Indent(const std::string& text, std::string_view prefix) {
  std::string out(prefix);
  for (char c : text) {
    out += c;
    if (c == '\n') out += prefix;
  }
  return out;
}

void RenderFields(std::string& out, const json& d) {
  auto line = [&](std::string_view label, const std::string& value) {
    if (!value.empty()) out += fmt::format("  {:<10}{}\n", label, value);
  };
  line("kind", Str(d, "kind"));
  line("title", Str(d, "title"));
  if (auto it = d.find("occurred"); it != d.end()) {
    std::string when = Str(*it, "from");
    if (auto to = Str(*it, "to"); !to.empty() && to != when) when += " to " + to;
    if (auto p = Str(*it, "precision"); !p.empty()) when += " (" + p + ")";
    line("occurred", when);
  }
  if (auto it = d.find("location"); it != d.end()) {
    line("location", Parts({Str(*it, "place"), Str(*it, "city"), Str(*it, "region"), Str(*it, "country")}, ", "));
  }
  if (auto it = d.find("people"); it != d.end() && !it->empty()) {
    out += "  people\n";
    for (const auto& p : *it) {
      out += fmt::format("    - {} ({})", Str(p, "name"), Str(p, "role"));
      if (auto a = Str(p, "affiliation"); !a.empty()) out += ", " + a;
      if (auto n = Str(p, "notes"); !n.empty()) out += ": " + n;
      out += "\n";
    }
  }
  if (auto it = d.find("legal"); it != d.end()) {
    out += "  legal\n";
    if (auto c = it->find("charges"); c != it->end()) {
      for (const auto& ch : *c) {
        out += fmt::format("    - charge: {}\n",
                           Parts({Str(ch, "code"), Str(ch, "article").empty() ? "" : "art. " + Str(ch, "article"),
                                  Str(ch, "description")}, " "));
      }
    }
    for (const char* key : {"court", "outcome", "sentence"}) {
      if (auto v = Str(*it, key); !v.empty()) out += fmt::format("    {}: {}\n", key, v);
    }
  }
  if (auto n = Str(d, "narrative"); !n.empty()) out += "  narrative\n" + Indent(n, "    ") + "\n";
  if (auto it = d.find("sources"); it != d.end() && !it->empty()) {
    out += "  sources\n";
    for (const auto& s : *it) {
      out += fmt::format("    - {}", Parts({Str(s, "kind"), Str(s, "reference")}, ": "));
      if (auto r = Str(s, "reliability"); !r.empty()) out += " (reliability: " + r + ")";
      out += "\n";
    }
  }
  if (auto it = d.find("tags"); it != d.end() && !it->empty()) line("tags", Join(*it, ", "));
}

void RenderRevision(std::string& out, const vault::RecordRevision& r) {
  out += fmt::format("revision {}  {}  {}  by device {}\n", r.revision, r.revision_id, r.created, r.author);
  if (!r.parents.empty()) out += fmt::format("  {:<10}{}\n", "parents", Join(json(r.parents), ", "));
  RenderFields(out, r.data);
}

}  // namespace

std::string CaseLine(const vault::CaseInfo& c) {
  std::string line = fmt::format("{}  {}  {}", c.id, c.status, c.title);
  if (!c.tags.empty()) line += "  [" + Join(json(c.tags), ", ") + "]";
  return line;
}

std::string RecordLine(const vault::RecordSummary& s) {
  return fmt::format("{}  r{}  {}  {}{}", s.record_id, s.revision, s.kind, s.title,
                     s.conflict ? "  [CONFLICT]" : "");
}

std::string AttachmentLine(const vault::AttachmentInfo& a) {
  return fmt::format("{}  {}  {}  {}  {}", a.id, a.sha256, a.size, a.media_type, a.file_name);
}

std::string RenderRecord(const vault::RecordView& v, bool with_history) {
  std::string out = fmt::format("record {}  (case {})\n", v.record_id, v.case_id);
  if (v.conflict()) {
    out += fmt::format(
        "CONFLICT: {} concurrent revisions; `evault record edit {}` with the merged record resolves it\n",
        v.heads.size(), v.record_id);
  }
  if (!with_history) {
    for (const auto& r : v.heads) RenderRevision(out, r);
    return out;
  }
  out += fmt::format("history: {} revisions, oldest first; current: ", v.history.size());
  for (std::size_t i = 0; i < v.heads.size(); ++i) out += (i ? ", " : "") + v.heads[i].revision_id;
  out += "\n";
  for (const auto& r : v.history) {
    out += "\n";
    RenderRevision(out, r);
  }
  return out;
}

}  // namespace evault::client
