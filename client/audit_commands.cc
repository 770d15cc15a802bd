// `evault audit log|verify`, `evault export` and `evault verify`: the custody commands.
#include "client/audit_commands.h"

#include <memory>

#include "audit/bundle.h"
#include "client/cli_common.h"

namespace evault::client {

namespace {

std::string Shorten(const std::string& text) { return text.size() > 16 ? text.substr(0, 16) + "…" : text; }

// "record_id=5d1e… revision=2 sha256=ab12…": a subject on one line.
std::string SubjectLine(const json& subject) {
  std::string out;
  for (const auto& [key, value] : subject.items()) {
    if (!out.empty()) out += ' ';
    if (value.is_string()) {
      out += key + "=" + Printable(Shorten(value.get<std::string>()));
    } else if (value.is_array()) {
      out += fmt::format("{}=[{}]", key, value.size());
    } else {
      out += key + "=" + Printable(value.dump());
    }
  }
  return out;
}

[[noreturn]] void FailWithProblems(const std::vector<std::string>& problems, std::string_view what) {
  for (const auto& p : problems) fmt::print(stderr, "evault: {}\n", Printable(p));
  throw CommandError{{ErrorCode::kTampered, fmt::format("{} failed verification ({} problem{})", what, problems.size(),
                                                        problems.size() == 1 ? "" : "s")}};
}

}  // namespace

void AddAuditCommands(CLI::App& app, const Globals& g) {
  struct Flags {
    std::optional<std::string> case_id;
    bool as_json = false;
    std::string export_case, out, purpose, bundle_dir;
    std::optional<std::string> recipient;
    std::optional<std::string> signer;
  };
  auto f = std::make_shared<Flags>();
  const auto lower = [](std::string id) {
    for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return id;
  };

  auto* audit_cmd = app.add_subcommand("audit", "The custody log: log, verify");
  audit_cmd->require_subcommand(1);
  auto* log = audit_cmd->add_subcommand("log", "Every custody entry this device holds, in log order");
  log->add_option("--case", f->case_id, "Only this case's log")->transform(lower);
  log->add_flag("--json", f->as_json, "The signed entries, one JSON object per line");
  log->callback([f, &g] {
    auto v = OpenVault(g);
    auto entries = Check(v->AuditLog(f->case_id ? std::optional<std::string_view>(*f->case_id) : std::nullopt));
    if (f->as_json) {
      for (const auto& e : entries) fmt::print("{}\n", e.line);
      return;
    }
    std::string stream = "\x01";
    for (const auto& e : entries) {
      if (e.case_id != stream) {
        stream = e.case_id;
        fmt::print("{}\n", stream.empty() ? "vault log" : "case " + stream);
      }
      fmt::print("{:5}  {}  device {}  {:<18}  {}\n", e.index, e.fields.value("time", ""),
                 e.fields.value("device", "").substr(0, 8), e.fields.value("action", ""),
                 SubjectLine(e.fields.value("subject", json::object())));
    }
    if (entries.empty()) fmt::print(stderr, "no custody entries yet\n");
  });
  auto* verify_log = audit_cmd->add_subcommand("verify", "Check every signature, chain and checkpoint of the custody log");
  verify_log->callback([&g] {
    auto v = OpenVault(g);
    auto check = Check(v->VerifyAuditLog());
    if (!check.ok()) FailWithProblems(check.problems, "the custody log");
    fmt::print("custody log verified: {} log{}, {} entries from {} device{}, {} checkpoints\n", check.logs,
               check.logs == 1 ? "" : "s", check.entries, check.devices, check.devices == 1 ? "" : "s",
               check.checkpoints);
  });

  auto* export_cmd = app.add_subcommand("export", "Write a case as a signed BagIt bundle for a defence team");
  export_cmd->add_option("--case", f->export_case, "Case id")->required()->transform(lower);
  export_cmd->add_option("--out", f->out, "A new directory (with --to: a new file, e.g. case.tar.age)")->required();
  export_cmd->add_option("--purpose", f->purpose, "Why and for whom (recorded in the bundle and the custody log)")
      ->required();
  export_cmd->add_option("--to", f->recipient,
                         "Encrypt the bundle to this age recipient (age1...); open with: age -d -i KEY FILE | tar -x");
  export_cmd->callback([f, &g] {
    auto v = OpenVault(g);
    ProgressBar bar("export");
    if (f->recipient && f->recipient->empty()) {
      throw CommandError{{ErrorCode::kInvalidArgument, "--to needs an age recipient (age1...)"}};
    }
    vault::ExportOptions options{f->out, f->purpose, f->recipient.value_or("")};
    auto summary = Check(v->Export(f->export_case, options, std::ref(bar)));
    fmt::print("exported case {} to {}: {} records ({} revisions), {} attachments, {} custody entries, {} bytes\n",
               summary.case_id, f->out, summary.records, summary.revisions, summary.attachments,
               summary.custody_entries, summary.payload_bytes);
    fmt::print("signed by {} ({})\n", summary.signer_fingerprint, summary.signer_identity);
    if (f->recipient) fmt::print("encrypted to {}\n", *f->recipient);
  });

  auto* verify = app.add_subcommand("verify", "Check an export bundle offline (no vault, no network)");
  verify->add_option("bundle", f->bundle_dir, "The bundle's directory")->required();
  verify->add_option("--signer", f->signer, "The exporter's key you were given (SHA256:... or hex), pinned");
  verify->callback([f] {
    auto report = Check(audit::VerifyBundle(f->bundle_dir, f->signer));
    if (!report.ok()) FailWithProblems(report.problems, "the bundle");
    fmt::print("bundle verified: case {}, {} records ({} revisions), {} attachments, {} custody entries, {} bytes\n",
               report.case_id, report.records, report.revisions, report.attachments, report.custody_entries,
               report.payload_bytes);
    fmt::print("exported by device {}, signed by {}\n", report.exporting_device, report.signer_fingerprint);
    if (!f->signer) {
      // Anyone can make a consistent bundle with a key of their own: without a pinned
      // key this proves the bundle intact, not who made it.
      fmt::print(stderr,
                 "evault: warning: signer not pinned: this shows the bundle is intact and consistent, not who made "
                 "it. Compare {} with the fingerprint the exporting organisation gave you, or pass --signer\n",
                 report.signer_fingerprint);
    }
  });
}

}  // namespace evault::client
