// The vault's custody log: every action on evidence becomes a signed entry
// (audit/custody.h), sealed and synced like evidence, and appended to a per-case log
// whose Merkle root this device signs in checkpoints.
#include <fmt/core.h>

#include "vault/vault_impl.h"

namespace evault::vault {

namespace {

std::string StreamKey(const std::string& case_hex) { return case_hex.empty() ? "-" : case_hex; }

Result<audit::ChainHead> ParseHead(const std::string& value) {
  const std::size_t slash = value.find('/');
  if (slash == std::string::npos) return Fail(ErrorCode::kCorrupt, "a stored custody chain head is malformed");
  try {
    return audit::ChainHead{std::stoull(value.substr(0, slash), nullptr, 10), value.substr(slash + 1)};
  } catch (const std::exception&) {
    return Fail(ErrorCode::kCorrupt, "a stored custody chain head is malformed");
  }
}

std::string FormatHead(const audit::ChainHead& head) { return fmt::format("{}/{}", head.seq, head.line_sha256); }

Result<audit::Hash> ParseLeaf(std::string_view hex) {
  auto bytes = crypto::FromHex(hex);
  if (!bytes || bytes->size() != 32) return Fail(ErrorCode::kCorrupt, "a stored custody leaf hash is malformed");
  audit::Hash h;
  std::copy(bytes->begin(), bytes->end(), h.begin());
  return h;
}

}  // namespace

// Custody entries are sealed like the evidence they are about: to the readers, the
// case key (so legal devices granted the case read its custody too) and the author.
// The vault's own log goes to the readers only, not to monitors. A legal device seals
// to the case key it was given; it never announces one.
Result<SealingKeys> Vault::Impl::CustodySealing(Txn& t, const Bytes& case_id) {
  const auto role = MyRole();
  if (!case_id.empty() && !(role && *role == sync::v1::LEGAL)) return SealingFor(t, case_id);
  EVAULT_ASSIGN_OR_RETURN(SealingKeys to, SealingFor(t, {}));
  to.second = to.readers;
  // The case key of this epoch, or until a coordinator shares that, the newest held: so
  // other legal devices granted the case read the entry too, and see no gap.
  std::uint64_t newest = 0;
  for (const auto& key : keyring.case_keys()) {
    if (!case_id.empty() && key.case_id == case_id && key.epoch <= to.epoch && key.epoch >= newest) {
      newest = key.epoch;
      to.second = key.pair.public_key();
    }
  }
  return to;
}

Status Vault::Impl::Audit(Txn& t, const std::string& case_hex, std::string_view action, const json& subject) {
  const std::string stream = StreamKey(case_hex);
  const std::string me = Hex(signing->public_key());
  audit::ChainHead head;
  EVAULT_ASSIGN_OR_RETURN(auto stored_head, catalog->Get(0, fmt::format("ahead/{}/{}", stream, me)));
  if (stored_head) {
    EVAULT_ASSIGN_OR_RETURN(head, ParseHead(*stored_head));
  }
  const std::string line = audit::SignEntry(*signing, vault_id_hex, case_hex, head, NowUtc(), action, subject);

  Bytes case_id;
  if (!case_hex.empty()) {
    EVAULT_ASSIGN_OR_RETURN(case_id, ParseId("case", case_hex));
  }
  EVAULT_ASSIGN_OR_RETURN(SealingKeys to, CustodySealing(t, case_id));
  const ObjectIdentity identity{ObjectKind::kAuditEntry, case_id.empty() ? header.vault_id : case_id, head.seq + 1,
                                case_id};
  const Bytes object_id = crypto::RandomBytes(kIdBytes);
  EVAULT_ASSIGN_OR_RETURN(auto envelope, codec->Seal(object_id, identity, AsBytes(line), t.seq + 1, t.head,
                                                     SymmetricKey::Generate(), to));
  Append(t, envelope);
  return AppendAuditLine(t, case_hex, line, Hex(object_id));
}

Status Vault::Impl::AuditNow(const std::string& case_hex, std::string_view action, const json& subject) {
  Txn t = Begin();
  EVAULT_TRY(Audit(t, case_hex, action, subject));
  return Commit(t);
}

Status Vault::Impl::AppendAuditLine(Txn& t, const std::string& case_hex, const std::string& line,
                                    const std::string& object_hex) {
  (void)t;
  EVAULT_ASSIGN_OR_RETURN(json entry, audit::ParseEntry(line));
  const std::string stream = StreamKey(case_hex);
  std::uint64_t size = 0;
  EVAULT_ASSIGN_OR_RETURN(auto stored_size, catalog->Get(0, fmt::format("asize/{}", stream)));
  if (stored_size) size = std::stoull(*stored_size);
  catalog->Put(0, fmt::format("alog/{}/{:016x}", stream, size),
               object_hex + "/" + crypto::ToHex(audit::LeafHash(AsBytes(line))));
  catalog->Put(0, fmt::format("asize/{}", stream), std::to_string(size + 1));
  const std::string head_key = fmt::format("ahead/{}/{}", stream, entry["key"].get<std::string>());
  EVAULT_ASSIGN_OR_RETURN(auto stored_head, catalog->Get(0, head_key));
  const std::uint64_t seq = entry["seq"];
  if (!stored_head || ParseHead(*stored_head).value_or(audit::ChainHead{}).seq < seq) {
    catalog->Put(0, head_key, FormatHead({seq, audit::LineSha256(line)}));
  }
  return Ok();
}

Result<std::optional<std::string>> Vault::Impl::AuthorOf(const std::string& object_hex) {
  if (auto it = pulled_authors.find(object_hex); it != pulled_authors.end()) return it->second;
  if (!ParseId("object", object_hex)) return std::nullopt;
  auto envelope = LoadEnvelope(object_hex);
  if (!envelope) return std::nullopt;
  return Hex(AsBytes(envelope->author()));
}

Status Vault::Impl::ApplyPulledAudit(Txn& t, const format::v1::ObjectEnvelope& e, const OpenedObject& opened) {
  const std::string line(opened.body.view());
  EVAULT_ASSIGN_OR_RETURN(json entry, audit::ParseEntry(line));
  const std::string case_hex = Hex(opened.identity.case_id);
  const std::string author = Hex(AsBytes(e.author()));
  const Bytes& logical = opened.identity.case_id.empty() ? header.vault_id : opened.identity.case_id;
  if (entry["key"] != author || entry["vault"] != vault_id_hex || entry["stream"] != case_hex ||
      opened.identity.logical_id != logical || entry["seq"] != opened.identity.revision) {
    return Fail(ErrorCode::kTampered, "a pulled custody entry does not match the object that carries it");
  }
  // A capture must name an object its author wrote: a member cannot claim another's
  // evidence, or name evidence that does not exist (which would stall every export).
  const std::string action = entry["action"];
  const json& subject = entry["subject"];
  std::optional<std::string> named;  // the object the entry names
  if (action == audit::action::kRecordCapture || action == audit::action::kRecordEdit) {
    named = Field<std::string>(subject, "revision_id");  // a signed entry may still hold any type
  } else if (action == audit::action::kCaseCreate || action == audit::action::kAttachmentCapture) {
    const bool is_case = action == audit::action::kCaseCreate;
    const std::string id = Field<std::string>(subject, is_case ? "case_id" : "attachment_id");
    if (is_case && id != case_hex) return Fail(ErrorCode::kTampered, "a pulled case-create entry names another case");
    std::optional<std::string> found;
    for (const char* prefix : is_case ? std::vector<const char*>{"case/"} : std::vector<const char*>{"attid/", "down/"}) {
      EVAULT_ASSIGN_OR_RETURN(auto hit, catalog->Get(0, prefix + id));
      if (hit) found = hit;
    }
    named = found.value_or("");
  }
  if (named) {
    EVAULT_ASSIGN_OR_RETURN(auto named_author, AuthorOf(*named));
    if (!named_author || *named_author != author) {
      return Fail(ErrorCode::kTampered, "a pulled custody entry claims evidence its author did not write");
    }
  }
  return AppendAuditLine(t, case_hex, line, Hex(AsBytes(e.object_id())));
}

Result<Vault::Impl::AuditStream> Vault::Impl::LoadAuditStream(const std::string& case_hex) {
  const std::string prefix = fmt::format("alog/{}/", StreamKey(case_hex));
  EVAULT_ASSIGN_OR_RETURN(auto entries, catalog->Scan(0, prefix));
  AuditStream stream;
  for (const auto& [key, value] : entries) {
    const std::size_t index = stream.lines.size();
    const std::size_t slash = value.find('/');
    if (slash == std::string::npos) return Fail(ErrorCode::kCorrupt, "a stored custody log entry is malformed");
    EVAULT_ASSIGN_OR_RETURN(audit::Hash leaf, ParseLeaf(std::string_view(value).substr(slash + 1)));
    auto opened = LoadObject(value.substr(0, slash), ObjectKind::kAuditEntry);
    if (!opened) {
      return Fail(opened.error().code, fmt::format("entry {} of the custody log of {}: {}", index + 1,
                                                   case_hex.empty() ? "the vault" : "case " + case_hex,
                                                   opened.error().message));
    }
    stream.lines.emplace_back(opened->body.view());
    stream.leaves.push_back(leaf);
  }
  return stream;
}

Result<std::vector<std::string>> Vault::Impl::AuditStreams() {
  EVAULT_ASSIGN_OR_RETURN(auto sizes, catalog->Scan(0, "asize/"));
  std::vector<std::string> streams;
  for (const auto& [key, value] : sizes) {
    const std::string stream = key.substr(6);
    streams.push_back(stream == "-" ? "" : stream);
  }
  return streams;
}

Result<std::vector<std::string>> Vault::Impl::AuditCheckpoints(const std::string& case_hex) {
  EVAULT_ASSIGN_OR_RETURN(auto stored, catalog->Scan(0, fmt::format("acp/{}/", StreamKey(case_hex))));
  std::vector<std::string> lines;
  for (auto& [key, line] : stored) lines.push_back(std::move(line));
  return lines;
}

Result<std::map<std::string, audit::ChainHead>> Vault::Impl::AuditBases(const std::string& case_hex) {
  const std::string prefix = fmt::format("abase/{}/", StreamKey(case_hex));
  EVAULT_ASSIGN_OR_RETURN(auto stored, catalog->Scan(0, prefix));
  std::map<std::string, audit::ChainHead> bases;
  for (const auto& [key, value] : stored) {
    EVAULT_ASSIGN_OR_RETURN(bases[key.substr(prefix.size())], ParseHead(value));
  }
  return bases;
}

Status Vault::Impl::CheckpointAuditLogs(Txn& t) {
  (void)t;
  EVAULT_ASSIGN_OR_RETURN(auto streams, AuditStreams());
  for (const auto& case_hex : streams) {
    const std::string stream = StreamKey(case_hex);
    EVAULT_ASSIGN_OR_RETURN(auto entries, catalog->Scan(0, fmt::format("alog/{}/", stream)));
    EVAULT_ASSIGN_OR_RETURN(auto checkpoints, catalog->Scan(0, fmt::format("acp/{}/", stream)));
    const std::uint64_t last = checkpoints.empty() ? 0 : std::stoull(checkpoints.back().first.substr(5 + stream.size()), nullptr, 16);
    if (entries.size() <= last) continue;
    std::vector<audit::Hash> leaves;
    for (const auto& [key, value] : entries) {
      EVAULT_ASSIGN_OR_RETURN(audit::Hash leaf, ParseLeaf(std::string_view(value).substr(value.find('/') + 1)));
      leaves.push_back(leaf);
    }
    catalog->Put(0, fmt::format("acp/{}/{:016x}", stream, leaves.size()),
                 audit::SignCheckpoint(*signing, vault_id_hex, case_hex, leaves.size(), audit::RootOf(leaves), NowUtc()));
  }
  return Ok();
}

// --- the public side ---------------------------------------------------------------------

Result<std::vector<AuditEntry>> Vault::AuditLog(std::optional<std::string_view> case_id) {
  std::vector<std::string> streams;
  if (case_id) {
    EVAULT_TRY(ParseId("case", *case_id));
    streams.emplace_back(*case_id);
  } else {
    EVAULT_ASSIGN_OR_RETURN(streams, impl_->AuditStreams());
  }
  std::vector<AuditEntry> out;
  for (const auto& stream : streams) {
    EVAULT_ASSIGN_OR_RETURN(auto log, impl_->LoadAuditStream(stream));
    for (std::size_t i = 0; i < log.lines.size(); ++i) {
      EVAULT_ASSIGN_OR_RETURN(json fields, audit::ParseEntry(log.lines[i]));
      out.push_back({stream, i + 1, log.lines[i], std::move(fields)});
    }
  }
  return out;
}

Result<AuditCheck> Vault::VerifyAuditLog() {
  AuditCheck check;
  EVAULT_ASSIGN_OR_RETURN(auto streams, impl_->AuditStreams());
  std::set<std::string> devices;
  for (const auto& stream : streams) {
    const std::string name = stream.empty() ? "the vault's log" : "case " + stream;
    ++check.logs;
    auto log = impl_->LoadAuditStream(stream);
    if (!log && log.error().code == ErrorCode::kIo) {
      return std::unexpected(std::move(log.error()));  // a disk that cannot be read, not tampering
    }
    if (!log) {
      check.problems.push_back(log.error().message);
      continue;
    }
    EVAULT_ASSIGN_OR_RETURN(auto bases, impl_->AuditBases(stream));
    auto report = audit::VerifyCustodyLog(impl_->vault_id_hex, stream, log->lines, nullptr, bases);
    check.entries += report.entries;
    devices.merge(report.devices);
    for (auto& p : report.problems) check.problems.push_back(fmt::format("{}: {}", name, p));
    // The stored leaf hashes are what this device's checkpoints signed.
    for (std::size_t i = 0; i < log->lines.size(); ++i) {
      if (audit::LeafHash(AsBytes(log->lines[i])) != log->leaves[i]) {
        check.problems.push_back(fmt::format("{}: entry {} differs from the one this device logged", name, i + 1));
      }
    }
    EVAULT_ASSIGN_OR_RETURN(auto checkpoints, impl_->AuditCheckpoints(stream));
    for (const auto& line : checkpoints) {
      ++check.checkpoints;
      auto parsed = audit::ParseCheckpoint(line);
      if (!parsed) {
        check.problems.push_back(fmt::format("{}: a checkpoint: {}", name, parsed.error().message));
        continue;
      }
      const std::uint64_t size = (*parsed)["size"];
      if (size > log->lines.size()) {
        check.problems.push_back(fmt::format("{}: the checkpoint signed {} covers {} entries, the log has only {}: "
                                             "entries were deleted",
                                             name, (*parsed)["time"].get<std::string>(), size, log->lines.size()));
        continue;
      }
      std::vector<audit::Hash> leaves;
      for (std::size_t i = 0; i < size; ++i) leaves.push_back(audit::LeafHash(AsBytes(log->lines[i])));
      if ((*parsed)["root"] != crypto::ToHex(audit::RootOf(leaves))) {
        check.problems.push_back(fmt::format("{}: the log's first {} entries no longer give the root signed {}", name,
                                             size, (*parsed)["time"].get<std::string>()));
      }
    }
  }
  check.devices = devices.size();
  return check;
}

}  // namespace evault::vault
