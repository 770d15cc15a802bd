// Reads everything a vault exposes, operation by operation, so that a tampered copy can
// be compared with the original: each read must either fail or return exactly what the
// untouched vault returned.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/digest.h"
#include "tests/vault/test_util.h"
#include "vault/vault.h"

namespace evault::vault::testing {

struct VaultIds {
  std::vector<std::string> cases;
  std::vector<std::string> records;
  std::vector<std::string> attachments;
  std::vector<std::string> words;  // search queries
};

using Reads = std::map<std::string, Result<std::string>>;

inline nlohmann::json RevisionJson(const RecordRevision& r) {
  return {{"record_id", r.record_id}, {"revision_id", r.revision_id}, {"case_id", r.case_id},
          {"revision", r.revision},   {"parents", r.parents},         {"created", r.created},
          {"author", r.author},       {"data", r.data}};
}
inline nlohmann::json AttachmentJson(const AttachmentInfo& a) {
  return {{"id", a.id},         {"record_id", a.record_id},   {"case_id", a.case_id},
          {"sha256", a.sha256}, {"size", a.size},             {"chunks", a.chunks},
          {"media_type", a.media_type}, {"file_name", a.file_name}, {"captured", a.captured},
          {"device", a.device}};
}
inline std::string SummariesJson(std::vector<RecordSummary> v) {
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.record_id < b.record_id; });
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : v) {
    out.push_back({s.record_id, s.case_id, s.kind, s.title, s.revision, s.conflict});
  }
  return out.dump();
}

template <typename T, typename F>
Result<std::string> Render(Result<T> r, F&& render) {
  if (!r) return std::unexpected(r.error());
  return render(*r);
}

// Every read the API offers, over the ids and words of the original vault.
inline Reads ReadEverything(Vault& vault, const VaultIds& ids) {
  Reads out;
  // The custody log first (the views below append to it): every entry opened and checked.
  auto audit = vault.VerifyAuditLog();
  if (audit && !audit->ok()) audit = Fail(ErrorCode::kTampered, audit->problems.front());
  out.emplace("VerifyAuditLog", Render(std::move(audit), [](const AuditCheck&) { return std::string("ok"); }));
  out.emplace("ListCases", Render(vault.ListCases(), [](std::vector<CaseInfo> v) {
                std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
                nlohmann::json j = nlohmann::json::array();
                for (const auto& c : v) j.push_back({c.id, c.title, c.status, c.tags, c.created, c.author});
                return j.dump();
              }));
  out.emplace("ListRecords", Render(vault.ListRecords(std::nullopt), SummariesJson));
  for (const auto& c : ids.cases) {
    out.emplace("GetCase:" + c, Render(vault.GetCase(c), [](const CaseInfo& x) {
                  return nlohmann::json({x.id, x.title, x.status, x.tags, x.created, x.author}).dump();
                }));
    out.emplace("ListRecords:" + c, Render(vault.ListRecords(c), SummariesJson));
  }
  for (const auto& r : ids.records) {
    out.emplace("GetRecord:" + r, Render(vault.GetRecord(r, true), [](const RecordView& v) {
                  nlohmann::json j = {{"record_id", v.record_id}, {"case_id", v.case_id}};
                  for (const auto& h : v.heads) j["heads"].push_back(RevisionJson(h));
                  for (const auto& h : v.history) j["history"].push_back(RevisionJson(h));
                  return j.dump();
                }));
    out.emplace("ListAttachments:" + r, Render(vault.ListAttachments(r), [](const std::vector<AttachmentInfo>& v) {
                  nlohmann::json j = nlohmann::json::array();
                  for (const auto& a : v) j.push_back(AttachmentJson(a));
                  return j.dump();
                }));
  }
  for (const auto& a : ids.attachments) {
    out.emplace("GetAttachment:" + a,
                Render(vault.GetAttachment(a), [](const AttachmentInfo& x) { return AttachmentJson(x).dump(); }));
    crypto::Digest sha(crypto::Digest::Algorithm::kSha256);
    std::uint64_t size = 0;
    auto status = vault.ReadAttachment(a, [&](crypto::ByteView chunk) -> Status {
      sha.Update(chunk);
      size += chunk.size();
      return Ok();
    });
    if (status) {
      out.emplace("ReadAttachment:" + a, std::to_string(size) + " bytes, sha256 " + crypto::ToHex(sha.Finish()));
    } else {
      out.emplace("ReadAttachment:" + a, std::unexpected(status.error()));
    }
  }
  for (const auto& w : ids.words) out.emplace("Search:" + w, Render(vault.Search(w), SummariesJson));
  return out;
}

struct Comparison {
  int errors = 0;  // reads that failed
  int equal = 0;   // reads that returned the original
  std::vector<std::string> differing;  // reads that returned something else: never acceptable
};

inline Comparison Compare(const Reads& original, const Reads& now) {
  Comparison c;
  for (const auto& [op, want] : original) {
    auto it = now.find(op);
    if (it == now.end()) {
      c.differing.push_back(op + " (not read)");
      continue;
    }
    if (!it->second) {
      ++c.errors;
    } else if (*it->second == *want) {
      ++c.equal;
    } else {
      const std::string& got = *it->second;
      c.differing.push_back(op + ": got " + got.substr(0, 300) + (got.size() > 300 ? "..." : "") +
                            " instead of " + want->substr(0, 300) + (want->size() > 300 ? "..." : ""));
    }
  }
  return c;
}

}  // namespace evault::vault::testing
