// `evault export`: a case as a signed BagIt bundle (audit/bundle.h) for a defence team,
// written as a directory, or as a tar stream encrypted to an age recipient so nothing
// readable touches the disk.
#include <fcntl.h>
#include <unistd.h>

#include <fmt/core.h>

#include "audit/age.h"
#include "audit/bagit.h"
#include "audit/bundle.h"
#include "audit/minisign.h"
#include "audit/report.h"
#include "audit/sshsig.h"
#include "vault/vault_impl.h"

namespace evault::vault {

namespace {

struct RevisionFile {
  std::string path;  // under data/
  std::string body;  // canonical JSON, as stored
  json parsed;
  std::string revision_id;
};

struct CaseContent {
  std::string case_body;
  json case_info;
  std::vector<std::pair<std::string, std::vector<RevisionFile>>> records;  // record id -> revisions, oldest first
  std::vector<AttachmentInfo> attachments;
};

Result<CaseContent> LoadCaseContent(Vault::Impl& impl, const std::string& case_id) {
  CaseContent content;
  EVAULT_ASSIGN_OR_RETURN(auto case_object, impl.catalog->Get(0, fmt::format("case/{}", case_id)));
  if (!case_object) return Fail(ErrorCode::kNotFound, fmt::format("no case with id {} readable on this device", case_id));
  EVAULT_ASSIGN_OR_RETURN(OpenedObject opened, impl.LoadObject(*case_object, ObjectKind::kCase));
  content.case_body = std::string(opened.body.view());
  EVAULT_ASSIGN_OR_RETURN(content.case_info, ParseBody(opened.body));

  const std::string prefix = fmt::format("crec/{}/", case_id);
  EVAULT_ASSIGN_OR_RETURN(auto records, impl.catalog->Scan(0, prefix));
  for (const auto& [key, unused] : records) {
    const std::string record_id = key.substr(prefix.size());
    std::vector<RevisionFile> revisions;
    EVAULT_ASSIGN_OR_RETURN(auto stored, impl.catalog->Scan(0, fmt::format("rev/{}/", record_id)));
    for (const auto& [rev_key, revision_id] : stored) {
      EVAULT_ASSIGN_OR_RETURN(OpenedObject rev, impl.LoadObject(revision_id, ObjectKind::kRecordRevision));
      if (Hex(rev.identity.logical_id) != record_id) {
        return Fail(ErrorCode::kTampered, "a stored revision belongs to another record");
      }
      RevisionFile file;
      file.body = std::string(rev.body.view());
      EVAULT_ASSIGN_OR_RETURN(file.parsed, ParseBody(rev.body));
      file.revision_id = revision_id;
      file.path = fmt::format("{}/{}/{:04}-{}.json", audit::kRecordsDir, record_id,
                              Field<std::uint64_t>(file.parsed, "revision"), revision_id);
      revisions.push_back(std::move(file));
    }
    std::stable_sort(revisions.begin(), revisions.end(), [](const RevisionFile& a, const RevisionFile& b) {
      return Field<std::uint64_t>(a.parsed, "revision") < Field<std::uint64_t>(b.parsed, "revision");
    });
    const std::string att_prefix = fmt::format("att/{}/", record_id);
    EVAULT_ASSIGN_OR_RETURN(auto attachments, impl.catalog->Scan(0, att_prefix));
    for (const auto& [att_key, object_hex] : attachments) {
      const std::string id = att_key.substr(att_prefix.size());
      EVAULT_ASSIGN_OR_RETURN(json body, impl.LoadBody(object_hex, ObjectKind::kAttachmentManifest, id));
      EVAULT_ASSIGN_OR_RETURN(AttachmentInfo info, impl.AttachmentFromBody(body, id));
      content.attachments.push_back(std::move(info));
    }
    content.records.emplace_back(record_id, std::move(revisions));
  }
  return content;
}

// Every revision and attachment the custody log records must be in the bundle, or the
// bundle would fail verification: an attachment still downloading, say.
Status RequireEverythingLogged(const CaseContent& content, const std::vector<std::string>& lines) {
  std::set<std::string> held;
  for (const auto& [record_id, revisions] : content.records) {
    for (const auto& r : revisions) held.insert(r.revision_id);
  }
  for (const auto& a : content.attachments) held.insert(a.id);
  for (const auto& line : lines) {
    EVAULT_ASSIGN_OR_RETURN(json entry, audit::ParseEntry(line));
    const std::string action = entry["action"];
    const json& subject = entry["subject"];
    std::string id;
    if (action == audit::action::kRecordCapture || action == audit::action::kRecordEdit) {
      id = Field<std::string>(subject, "revision_id");
    } else if (action == audit::action::kAttachmentCapture) {
      id = Field<std::string>(subject, "attachment_id");
    } else {
      continue;
    }
    if (!held.contains(id)) {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("the custody log records {} {} that this device does not hold yet; run `evault sync` "
                              "until everything has arrived, then export",
                              action == audit::action::kAttachmentCapture ? "attachment" : "revision", id));
    }
  }
  return Ok();
}

// The base64 line of exporter.pub, as minisign prints it.
std::string MinisignKeyLine(ByteView public_key) {
  const std::string file = audit::MinisignPublicKey(public_key);
  const std::size_t start = file.find('\n') + 1;
  return file.substr(start, file.find('\n', start) - start);
}

std::string AttachmentPath(const AttachmentInfo& a) {
  return fmt::format("{}/{}/{}", audit::kAttachmentsDir, a.id, audit::SafeFileName(a.file_name));
}

}  // namespace

Result<ExportSummary> Vault::Export(std::string_view case_id_view, const ExportOptions& options,
                                   const ProgressFn& progress) {
  const std::string case_id(case_id_view);
  EVAULT_TRY(ParseId("case", case_id));
  if (options.purpose.empty() || options.purpose.find_first_of("\r\n") != std::string::npos ||
      options.purpose.size() > 500) {
    return Fail(ErrorCode::kInvalidArgument, "the export purpose must be one line of at most 500 bytes");
  }
  std::optional<audit::AgeRecipient> recipient;
  if (!options.age_recipient.empty()) {
    EVAULT_ASSIGN_OR_RETURN(recipient, audit::ParseAgeRecipient(options.age_recipient));
  }
  Impl& impl = *impl_;
  EVAULT_ASSIGN_OR_RETURN(CaseContent content, LoadCaseContent(impl, case_id));
  {
    EVAULT_ASSIGN_OR_RETURN(auto logged, impl.LoadAuditStream(case_id));
    EVAULT_TRY(RequireEverythingLogged(content, logged.lines));
  }

  // The bag: a directory, or a tar stream into an age file. Either is removed if the
  // export does not complete.
  bool complete = false;
  std::unique_ptr<audit::AgeFile> sealed;
  struct RemoveUnlessComplete {
    const bool& complete;
    const fs::path& out;
    bool created = false;
    ~RemoveUnlessComplete() {
      std::error_code ignored;
      if (created && !complete) fs::remove_all(out, ignored);
    }
  } cleanup{complete, options.out};
  std::unique_ptr<audit::BagWriter> bag;
  if (recipient) {
    EVAULT_ASSIGN_OR_RETURN(sealed, audit::AgeFile::Create(options.out, *recipient));
    EVAULT_ASSIGN_OR_RETURN(bag, audit::BagWriter::CreateStream(sealed->sink(), fmt::format("evault-export-{}", case_id)));
  } else {
    EVAULT_ASSIGN_OR_RETURN(bag, audit::BagWriter::Create(options.out));
    cleanup.created = true;
  }

  // The export is logged before anything is written into the bundle, so the log it
  // carries includes it, and a checkpoint signed over that log comes with it. (The output
  // is created first: an export refused for its destination is not logged.)
  json subject = {{"case_id", case_id}, {"purpose", options.purpose}, {"bundle", recipient ? "bagit+tar+age" : "bagit"}};
  if (recipient) subject["recipient"] = recipient->ToString();
  EVAULT_TRY(impl.AuditNow(case_id, audit::action::kExport, subject));
  {
    Impl::Txn t = impl.Begin();
    EVAULT_TRY(impl.CheckpointAuditLogs(t));
    EVAULT_TRY(impl.Commit(t));
  }
  EVAULT_ASSIGN_OR_RETURN(auto log, impl.LoadAuditStream(case_id));
  EVAULT_ASSIGN_OR_RETURN(auto checkpoints, impl.AuditCheckpoints(case_id));
  if (checkpoints.empty()) return Fail(ErrorCode::kInternal, "the custody log has no checkpoint");
  const std::string checkpoint = checkpoints.back();
  checkpoints.pop_back();
  const audit::CustodyProof proof = audit::MakeCustodyProof(log.leaves, checkpoint, checkpoints);
  EVAULT_ASSIGN_OR_RETURN(json checkpoint_fields, audit::ParseCheckpoint(checkpoint));
  EVAULT_ASSIGN_OR_RETURN(json export_entry, audit::ParseEntry(log.lines.back()));

  ExportSummary summary;
  summary.case_id = case_id;
  summary.custody_entries = log.lines.size();
  std::uint64_t total_bytes = content.case_body.size();
  for (const auto& a : content.attachments) total_bytes += a.size;
  std::uint64_t done_bytes = 0;

  EVAULT_TRY(bag->AddPayload(audit::kCaseFile, AsBytes(content.case_body)));
  json report_records = json::array();
  for (const auto& [record_id, revisions] : content.records) {
    json report_revisions = json::array();
    for (const auto& r : revisions) {
      EVAULT_TRY(bag->AddPayload(r.path, AsBytes(r.body)));
      json shown = r.parsed;
      shown["revision_id"] = r.revision_id;
      report_revisions.push_back(std::move(shown));
      ++summary.revisions;
    }
    report_records.push_back({{"record_id", record_id}, {"revisions", std::move(report_revisions)}});
    ++summary.records;
  }

  json report_attachments = json::array();
  for (const auto& a : content.attachments) {
    const std::string path = AttachmentPath(a);
    crypto::Digest sha256(crypto::Digest::Algorithm::kSha256);
    crypto::Digest sha512(crypto::Digest::Algorithm::kSha512);
    EVAULT_TRY(bag->BeginPayload(path, a.size));
    EVAULT_TRY(impl.StreamAttachment(
        a.id,
        [&](ByteView chunk) -> Status {
          sha256.Update(chunk);
          sha512.Update(chunk);
          done_bytes += chunk.size();
          if (progress) progress(done_bytes, total_bytes);
          return bag->Write(chunk);
        },
        {}));
    EVAULT_TRY(bag->EndPayload());
    json metadata = {{"attachment_id", a.id},   {"record_id", a.record_id},   {"case_id", a.case_id},
                     {"file_name", a.file_name}, {"media_type", a.media_type}, {"size", a.size},
                     {"sha256", Hex(sha256.Finish())}, {"sha512", Hex(sha512.Finish())},
                     {"captured", a.captured},   {"device", a.device},         {"path", "data/" + path}};
    if (metadata["sha256"] != a.sha256) {
      return Fail(ErrorCode::kTampered, fmt::format("attachment {} does not match its recorded SHA-256", a.id));
    }
    EVAULT_TRY(bag->AddPayload(fmt::format("{}/{}/{}", audit::kAttachmentsDir, a.id, audit::kAttachmentMetadataFile),
                               AsBytes(CanonicalJson(metadata))));
    report_attachments.push_back(std::move(metadata));
    ++summary.attachments;
  }

  std::string jsonl;
  json report_custody = json::array();
  for (std::size_t i = 0; i < log.lines.size(); ++i) {
    jsonl += log.lines[i] + "\n";
    EVAULT_ASSIGN_OR_RETURN(json entry, audit::ParseEntry(log.lines[i]));
    report_custody.push_back({{"index", i + 1},
                              {"time", entry["time"]},
                              {"device", entry["device"]},
                              {"action", entry["action"]},
                              {"stream", entry["stream"]},
                              {"seq", entry["seq"]},
                              {"subject", entry["subject"]}});
  }
  EVAULT_TRY(bag->AddPayload(audit::kCustodyLogFile, AsBytes(jsonl)));
  EVAULT_TRY(bag->AddPayload(audit::kCustodyProofFile, AsBytes(audit::CustodyProofToJson(proof).dump(1))));

  const std::string identity = fmt::format("evault-device-{}", impl.device_id);
  const std::string signer_key = Hex(impl.signing->public_key());
  const std::string fingerprint = audit::SshFingerprint(impl.signing->public_key());
  const std::string export_time = export_entry["time"];
  const std::string bag_name = recipient ? fmt::format("evault-export-{}", case_id) : "BAG";
  json commands = json::array({
      {{"what", "Every payload file, byte for byte (run inside the bundle)"}, {"command", "sha256sum -c manifest-sha256.txt && sha512sum -c manifest-sha512.txt"}},
      {{"what", "The tag files: bag-info, manifests, signer key, this report"}, {"command", "sha256sum -c tagmanifest-sha256.txt"}},
      {{"what", "The exporter's signature (minisign)"}, {"command", "minisign -Vm tagmanifest-sha256.txt -p exporter.pub"}},
      {{"what", "The exporter's signature (OpenSSH)"},
       {"command", fmt::format("ssh-keygen -Y verify -f allowed_signers -I {} -n {} -s tagmanifest-sha256.txt.sshsig "
                               "< tagmanifest-sha256.txt",
                               identity, audit::kExportNamespace)}},
      {{"what", "Everything, with the custody log and its Merkle checkpoint (no vault needed)"},
       {"command", fmt::format("evault verify {} --signer {}", bag_name, fingerprint)}},
  });
  json model = {
      {"case", content.case_info},
      {"records", std::move(report_records)},
      {"attachments", std::move(report_attachments)},
      {"custody", std::move(report_custody)},
      {"checkpoint", {{"size", checkpoint_fields["size"]}, {"root", checkpoint_fields["root"]},
                      {"time", checkpoint_fields["time"]}, {"device", checkpoint_fields["device"]}}},
      {"export", {{"time", export_time}, {"device", impl.device_id}, {"purpose", options.purpose},
                  {"signer_public_key", MinisignKeyLine(impl.signing->public_key())},
                  {"signer_fingerprint", fingerprint}, {"ssh_identity", identity}}},
      {"commands", std::move(commands)},
  };
  EVAULT_ASSIGN_OR_RETURN(std::string html, audit::RenderReport(model));
  EVAULT_TRY(bag->AddTagFile(audit::kReportFile, html));

  EVAULT_TRY(bag->Finish({{"External-Identifier", case_id},
                          {"Evault-Bundle-Format", audit::kBundleFormat},
                          {"Evault-Vault-Id", impl.vault_id_hex},
                          {"Evault-Case-Id", case_id},
                          {"Evault-Exporting-Device", impl.device_id},
                          {"Evault-Signer-Key", signer_key},
                          {"Evault-Export-Time", export_time},
                          {"Evault-Export-Purpose", options.purpose},
                          {"Evault-Custody-Entries", std::to_string(log.lines.size())},
                          {"Evault-Custody-Root", checkpoint_fields["root"].get<std::string>()}},
                         *impl.signing, identity));
  if (sealed) EVAULT_TRY(sealed->Finish());
  complete = true;
  summary.payload_bytes = bag->payload_bytes();
  summary.signer_identity = identity;
  summary.signer_fingerprint = fingerprint;
  return summary;
}

}  // namespace evault::vault
