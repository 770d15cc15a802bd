// evault: the command line over the vault library. Parses arguments, reads the
// passphrase, calls one vault operation, prints the result. Every error becomes one
// line on stderr and a non-zero exit (1 error, 2 usage, 3 wrong passphrase, 4 tampered
// or damaged data).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "client/passphrase.h"
#include "client/render.h"
#include "crypto/hardening.h"
#include "crypto/passphrase_kdf.h"
#include "vault/vault.h"

namespace evault::client {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Globals {
  std::string vault_dir;
  std::optional<std::string> passphrase_file;
};

std::string DefaultVaultDir() {
  if (const char* env = std::getenv("EVAULT_VAULT"); env && *env) return env;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return fmt::format("{}/evault", xdg);
  if (const char* home = std::getenv("HOME"); home && *home) return fmt::format("{}/.local/share/evault", home);
  return ".evault";
}

int ExitCodeFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kWrongPassphrase: return 3;
    case ErrorCode::kTampered:
    case ErrorCode::kCorrupt: return 4;
    default: return 1;
  }
}

// Thrown only inside this file, to leave a command with its error; caught in main.
struct CommandError {
  Error error;
};

template <typename T>
T Check(Result<T> r) {
  if (!r) throw CommandError{std::move(r.error())};
  return std::move(*r);
}
inline void Check(Status s) {
  if (!s) throw CommandError{std::move(s.error())};
}

std::unique_ptr<vault::Vault> OpenVault(const Globals& g) {
  auto passphrase = Check(ReadPassphrase({g.passphrase_file, "EVAULT_PASSPHRASE", "Passphrase: "}));
  return Check(vault::Vault::Open(g.vault_dir, passphrase));
}

std::string ReadInput(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw CommandError{{ErrorCode::kNotFound, fmt::format("cannot read {}: no such file", path)}};
  }
  if (fs::file_size(path, ec) > (8u << 20)) {
    throw CommandError{{ErrorCode::kInvalidArgument, fmt::format("{} is too large for a record", path)}};
  }
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw CommandError{{ErrorCode::kIo, fmt::format("cannot read {}", path)}};
  return text;
}

void PrintJson(const json& j) { std::cout << j.dump(2) << "\n"; }

// A progress bar on stderr, only when it is a terminal, at most ten updates a second.
class ProgressBar {
 public:
  explicit ProgressBar(std::string label) : label_(std::move(label)), enabled_(::isatty(STDERR_FILENO)) {}
  ~ProgressBar() {
    if (drawn_) std::fputs("\r\033[K", stderr);
  }
  void operator()(std::uint64_t done, std::uint64_t total) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (drawn_ && done < total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    drawn_ = true;
    const double fraction = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
    const int width = 30, filled = static_cast<int>(fraction * width);
    std::fprintf(stderr, "\r%s [%s%s] %3d%% %.1f/%.1f MiB", label_.c_str(), std::string(filled, '#').c_str(),
                 std::string(width - filled, ' ').c_str(), static_cast<int>(fraction * 100),
                 static_cast<double>(done) / (1 << 20), static_cast<double>(total) / (1 << 20));
    std::fflush(stderr);
  }

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

crypto::PassphraseKdfParams KdfFromFlags(std::uint64_t ops, std::uint64_t mem_mib) {
  return crypto::PassphraseKdfParams::New(ops, mem_mib << 20);
}

int Run(int argc, char** argv) {
  CLI::App app{"evault: an encrypted evidence vault for human-rights documentation"};
  app.require_subcommand(1);
  app.fallthrough();
  Globals g;
  g.vault_dir = DefaultVaultDir();
  app.add_option("--vault", g.vault_dir, "Vault directory (env EVAULT_VAULT)")->capture_default_str();
  app.add_option("--passphrase-file", g.passphrase_file,
                 "Read the passphrase from FILE (else env EVAULT_PASSPHRASE, else a prompt)");

  std::uint64_t kdf_ops = crypto::PassphraseKdfParams::kDefaultOps;
  std::uint64_t kdf_mem_mib = crypto::PassphraseKdfParams::kDefaultMemBytes >> 20;
  auto add_kdf_flags = [&](CLI::App* cmd) {
    cmd->add_option("--kdf-ops", kdf_ops, "Argon2id passes (minimum 2)")->capture_default_str();
    cmd->add_option("--kdf-memory-mib", kdf_mem_mib, "Argon2id memory in MiB (minimum 64)")->capture_default_str();
  };
  bool as_json = false;
  auto add_json = [&](CLI::App* cmd) { cmd->add_flag("--json", as_json, "Print JSON for scripts"); };

  // init
  auto* init = app.add_subcommand("init", "Create a new vault (prints the new device id first)");
  add_kdf_flags(init);
  init->callback([&] {
    auto passphrase = Check(ReadNewPassphrase({g.passphrase_file, "EVAULT_PASSPHRASE", "New passphrase: "}));
    auto device_id = Check(vault::Vault::Create(g.vault_dir, passphrase, KdfFromFlags(kdf_ops, kdf_mem_mib)));
    fmt::print("{} device created a new vault in {}\n", device_id, g.vault_dir);
  });

  // passwd
  auto* passwd = app.add_subcommand("passwd", "Change the passphrase (re-wraps one key)");
  std::optional<std::string> new_passphrase_file;
  passwd->add_option("--new-passphrase-file", new_passphrase_file,
                     "Read the new passphrase from FILE (else env EVAULT_NEW_PASSPHRASE, else a prompt)");
  add_kdf_flags(passwd);
  passwd->callback([&] {
    auto v = OpenVault(g);
    auto passphrase = Check(ReadNewPassphrase({new_passphrase_file, "EVAULT_NEW_PASSPHRASE", "New passphrase: "}));
    Check(v->ChangePassphrase(passphrase, KdfFromFlags(kdf_ops, kdf_mem_mib)));
    fmt::print("passphrase changed\n");
  });

  // case
  auto* case_cmd = app.add_subcommand("case", "Cases: new, list");
  case_cmd->require_subcommand(1);
  std::string case_title;
  std::vector<std::string> case_tags;
  auto* case_new = case_cmd->add_subcommand("new", "Create a case (prints its id)");
  case_new->add_option("--title", case_title, "Case title")->required();
  case_new->add_option("--tag", case_tags, "A tag (repeatable)");
  case_new->callback([&] {
    auto v = OpenVault(g);
    auto c = Check(v->CreateCase(case_title, case_tags));
    fmt::print("{}\n", c.id);
  });
  auto* case_list = case_cmd->add_subcommand("list", "List cases, one per line");
  add_json(case_list);
  case_list->callback([&] {
    auto v = OpenVault(g);
    auto cases = Check(v->ListCases());
    if (as_json) {
      json out = json::array();
      for (const auto& c : cases) out.push_back(ToJson(c));
      return PrintJson(out);
    }
    for (const auto& c : cases) fmt::print("{}\n", CaseLine(c));
  });

  // record
  auto* record = app.add_subcommand("record", "Records: add, edit, show, list");
  record->require_subcommand(1);
  std::string case_id, record_id, json_path;
  bool history = false;
  auto* record_add = record->add_subcommand("add", "Add a record to a case from JSON (prints its id)");
  record_add->add_option("--case", case_id, "Case id")->required();
  record_add->add_option("--json", json_path, "Record JSON file, or - for stdin")->required();
  record_add->callback([&] {
    const std::string text = ReadInput(json_path);
    auto v = OpenVault(g);
    auto r = Check(v->AddRecord(case_id, text));
    fmt::print("{} revision {} {}\n", r.record_id, r.revision, r.revision_id);
  });
  auto* record_edit = record->add_subcommand("edit", "Save a new revision of a record (prints the revision id)");
  record_edit->add_option("id", record_id, "Record id")->required();
  record_edit->add_option("--json", json_path, "Record JSON file, or - for stdin")->required();
  record_edit->callback([&] {
    const std::string text = ReadInput(json_path);
    auto v = OpenVault(g);
    auto r = Check(v->EditRecord(record_id, text));
    fmt::print("{} record {} revision {}\n", r.revision_id, r.record_id, r.revision);
  });
  auto* record_show = record->add_subcommand("show", "Show a record (--history: every revision)");
  record_show->add_option("id", record_id, "Record id")->required();
  record_show->add_flag("--history", history, "Show every revision");
  add_json(record_show);
  record_show->callback([&] {
    auto v = OpenVault(g);
    auto view = Check(v->GetRecord(record_id, history));
    if (as_json) return PrintJson(ToJson(view));
    fmt::print("{}", RenderRecord(view, history));
  });
  auto* record_list = record->add_subcommand("list", "List records, one per line");
  record_list->add_option("--case", case_id, "Only this case");
  add_json(record_list);
  record_list->callback([&] {
    auto v = OpenVault(g);
    auto records = Check(v->ListRecords(case_id.empty() ? std::nullopt : std::optional<std::string_view>(case_id)));
    if (as_json) {
      json out = json::array();
      for (const auto& r : records) out.push_back(ToJson(r));
      return PrintJson(out);
    }
    for (const auto& r : records) fmt::print("{}\n", RecordLine(r));
  });

  // attach
  auto* attach = app.add_subcommand("attach", "Attachments: add, get, list");
  attach->require_subcommand(1);
  std::vector<std::string> files;
  std::string attachment_id, out_path;
  auto* attach_add = attach->add_subcommand("add", "Attach files to a record (prints id, SHA-256, file)");
  attach_add->add_option("--record", record_id, "Record id")->required();
  attach_add->add_option("files", files, "Files to attach")->required();
  attach_add->callback([&] {
    for (const auto& f : files) {  // fail before asking for the passphrase
      std::error_code ec;
      if (!fs::is_regular_file(f, ec)) {
        throw CommandError{{ErrorCode::kNotFound, fmt::format("cannot attach {}: no such file", f)}};
      }
    }
    auto v = OpenVault(g);
    for (const auto& f : files) {
      ProgressBar bar(fs::path(f).filename().string());
      auto a = Check(v->AddAttachment(record_id, f, std::ref(bar)));
      fmt::print("{} {} {}\n", a.id, a.sha256, f);
      std::fflush(stdout);
    }
  });
  auto* attach_get = attach->add_subcommand("get", "Write an original back to a file (never overwrites)");
  attach_get->add_option("id", attachment_id, "Attachment id")->required();
  attach_get->add_option("--out", out_path, "Output file, or - for stdout")->required();
  attach_get->callback([&] {
    auto v = OpenVault(g);
    auto info = Check(v->GetAttachment(attachment_id));
    const bool to_stdout = out_path == "-";
    int fd = STDOUT_FILENO;
    if (!to_stdout) {
      fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0) {
        throw CommandError{{errno == EEXIST ? ErrorCode::kAlreadyExists : ErrorCode::kIo,
                            fmt::format("cannot create {}: {}", out_path, std::strerror(errno))}};
      }
    }
    ProgressBar bar(info.file_name);
    auto status = v->ReadAttachment(
        attachment_id,
        [&](crypto::ByteView chunk) -> Status {
          std::size_t done = 0;
          while (done < chunk.size()) {
            ssize_t n = ::write(fd, chunk.data() + done, chunk.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return Fail(ErrorCode::kIo, fmt::format("writing {} failed: {}", out_path, std::strerror(errno)));
            done += static_cast<std::size_t>(n);
          }
          return Ok();
        },
        std::ref(bar));
    if (status && !to_stdout && ::fsync(fd) != 0) status = Fail(ErrorCode::kIo, fmt::format("fsync of {} failed", out_path));
    if (!to_stdout) {
      ::close(fd);
      if (!status) ::unlink(out_path.c_str());  // never leave a partial original behind
    }
    Check(status);
    if (!to_stdout) fmt::print(stderr, "{} bytes written to {} (SHA-256 verified)\n", info.size, out_path);
  });
  auto* attach_list = attach->add_subcommand("list", "List a record's attachments, one per line");
  attach_list->add_option("--record", record_id, "Record id")->required();
  add_json(attach_list);
  attach_list->callback([&] {
    auto v = OpenVault(g);
    auto list = Check(v->ListAttachments(record_id));
    if (as_json) {
      json out = json::array();
      for (const auto& a : list) out.push_back(ToJson(a));
      return PrintJson(out);
    }
    for (const auto& a : list) fmt::print("{}\n", AttachmentLine(a));
  });

  // search
  auto* search = app.add_subcommand("search", "Records containing every word of TEXT");
  std::string search_text;
  search->add_option("text", search_text, "Words to look for")->required();
  add_json(search);
  search->callback([&] {
    auto v = OpenVault(g);
    auto hits = Check(v->Search(search_text));
    if (as_json) {
      json out = json::array();
      for (const auto& r : hits) out.push_back(ToJson(r));
      return PrintJson(out);
    }
    for (const auto& r : hits) fmt::print("{}\n", RecordLine(r));
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    fmt::print(stderr, "evault: {}\n", e.what());
    return 2;
  } catch (const CommandError& e) {
    fmt::print(stderr, "evault: error: {}\n", e.error.message);
    return ExitCodeFor(e.error.code);
  }
  return 0;
}

}  // namespace
}  // namespace evault::client

int main(int argc, char** argv) {
  ::umask(077);  // everything the vault writes is for this user only
  if (auto s = evault::crypto::DisableCoreDumps(); !s) {
    fmt::print(stderr, "evault: error: {}\n", s.error().message);
    return 1;
  }
  try {
    return evault::client::Run(argc, argv);
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "evault: error: out of memory\n");
  } catch (const std::exception& e) {
    fmt::print(stderr, "evault: error: internal error ({})\n", e.what());
  }
  return 1;
}
