// `evault import`: two passes over the input. The first parses and validates every
// record and writes nothing, so a bad record anywhere in the file leaves the vault as
// it was. The second writes the records in batches, each batch one atomic transaction
// (Vault::AddRecords). Neither pass holds the file: memory is bounded by one batch.
// The price is that a write failing midway (a full disk) leaves the batches before it
// imported; the error says how many and how to resume (--skip-records).
#include "client/import_command.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <streambuf>

#include "client/import_reader.h"

namespace evault::client {

namespace {

constexpr std::size_t kDefaultBatchRecords = 1000;
// A batch is also cut at this many bytes of record JSON, so large records keep it small.
constexpr std::size_t kMaxBatchBytes = 16u << 20;
// Standard input cannot be read twice and plaintext must not go to a temporary file,
// so it is held in memory, up to this size.
constexpr std::size_t kMaxStdinBytes = 256u << 20;

struct ImportFlags {
  std::string case_id;
  std::string file;
  std::optional<std::string> format;
  std::uint64_t skip_records = 0;
  std::size_t batch_records = kDefaultBatchRecords;
  bool as_json = false;
};

// A read-only view of memory as a stream buffer (standard input, read once).
class MemoryBuf : public std::streambuf {
 public:
  explicit MemoryBuf(const std::string& bytes) {
    char* begin = const_cast<char*>(bytes.data());
    setg(begin, begin, begin + bytes.size());
  }
};

// The input, readable once per pass.
class ImportInput {
 public:
  static ImportInput Open(const std::string& file) {
    ImportInput input;
    input.file_ = file;
    if (file == "-") {
      input.stdin_bytes_ = std::make_shared<std::string>();
      char buffer[1 << 16];
      while (true) {
        const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw CommandError{{ErrorCode::kIo, fmt::format("reading standard input failed: {}", std::strerror(errno))}};
        if (n == 0) break;
        if (input.stdin_bytes_->size() + static_cast<std::size_t>(n) > kMaxStdinBytes) {
          throw CommandError{{ErrorCode::kInvalidArgument,
                              fmt::format("standard input is larger than {} MiB: import from a file instead",
                                          kMaxStdinBytes >> 20)}};
        }
        input.stdin_bytes_->append(buffer, static_cast<std::size_t>(n));
      }
      input.size_ = input.stdin_bytes_->size();
      return input;
    }
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
      throw CommandError{{ErrorCode::kNotFound, fmt::format("cannot read {}: no such file", file)}};
    }
    input.size_ = fs::file_size(file, ec);
    if (ec) throw CommandError{{ErrorCode::kIo, fmt::format("cannot read {}: {}", file, ec.message())}};
    return input;
  }

  std::unique_ptr<std::istream> Stream() const {
    if (stdin_bytes_) {
      auto buf = std::make_shared<MemoryBuf>(*stdin_bytes_);
      struct Owning : std::istream {
        explicit Owning(std::shared_ptr<MemoryBuf> b) : std::istream(b.get()), buf(std::move(b)) {}
        std::shared_ptr<MemoryBuf> buf;
      };
      return std::make_unique<Owning>(std::move(buf));
    }
    auto in = std::make_unique<std::ifstream>(file_, std::ios::binary);
    if (!*in) throw CommandError{{ErrorCode::kIo, fmt::format("cannot open {}", file_)}};
    return in;
  }

  // Every byte was read: a read error or a file changed under us shows as a short read.
  void CheckComplete(const ImportReader& reader) const {
    if (reader.bytes_read() != size_) {
      throw CommandError{{ErrorCode::kIo, fmt::format("{} could not be read completely, or changed while it was read",
                                                      file_ == "-" ? "standard input" : file_)}};
    }
  }

  std::uint64_t size() const { return size_; }

 private:
  std::string file_;
  std::shared_ptr<std::string> stdin_bytes_;
  std::uint64_t size_ = 0;
};

ImportFormat FormatFor(const ImportFlags& f) {
  if (f.format) return *ImportFormatByName(*f.format);  // CLI11 checked the name
  if (f.file == "-") {
    throw CommandError{{ErrorCode::kInvalidArgument, "say which format standard input is in: --format jsonl|csv"}};
  }
  auto format = ImportFormatForFile(f.file);
  if (!format) {
    throw CommandError{{ErrorCode::kInvalidArgument,
                        fmt::format("cannot tell the format of {} from its name (.jsonl, .ndjson or .csv): "
                                    "pass --format jsonl|csv",
                                    f.file)}};
  }
  return *format;
}

void RunImport(const Globals& g, const ImportFlags& f) {
  if (f.batch_records == 0) throw CommandError{{ErrorCode::kInvalidArgument, "--batch-records must be at least 1"}};
  const ImportFormat format = FormatFor(f);
  const ImportInput input = ImportInput::Open(f.file);
  const std::string shown_file = f.file == "-" ? "standard input" : f.file;

  // Pass 1: every record parsed and validated; nothing written, no passphrase needed yet.
  std::uint64_t total = 0;
  {
    auto stream = input.Stream();
    ImportReader reader(*stream, format);
    ProgressBar bar("checking");
    while (auto record = Check(reader.Next())) {
      Check(CheckImportRecord(*record));
      ++total;
      bar(reader.bytes_read(), input.size());
    }
    input.CheckComplete(reader);
  }
  if (f.skip_records > total) {
    throw CommandError{{ErrorCode::kInvalidArgument, fmt::format("--skip-records {} is more than the {} records in {}",
                                                                 f.skip_records, total, shown_file)}};
  }

  auto v = OpenVault(g);
  Check(v->AddRecords(f.case_id, {}));  // the case exists and this device may add to it

  // Pass 2: the records in batches, each one transaction.
  std::uint64_t seen = 0, imported = 0;
  json added = json::array();
  std::vector<std::string> batch;
  std::vector<std::uint64_t> batch_lines;
  std::size_t batch_bytes = 0;
  // The error of a write pass that stopped midway: what is in the vault, and how to resume.
  auto stopped = [&](const Error& e, std::optional<std::uint64_t> first_missing_line) {
    const std::uint64_t done = f.skip_records + imported;
    if (done == 0) return CommandError{{e.code, fmt::format("{}; nothing was imported", e.message)}};
    return CommandError{{e.code, fmt::format("{}; the first {} of {} records are in the vault{}: rerun with "
                                             "--skip-records {} to resume",
                                             e.message, done, total,
                                             first_missing_line ? fmt::format(", none from line {} on", *first_missing_line)
                                                                : std::string(),
                                             done)}};
  };
  auto flush = [&] {
    if (batch.empty()) return;
    auto revisions = v->AddRecords(f.case_id, batch);
    if (!revisions) throw stopped(revisions.error(), batch_lines.front());
    imported += revisions->size();
    if (f.as_json) {
      for (std::size_t i = 0; i < revisions->size(); ++i) {
        added.push_back({{"line", batch_lines[i]},
                         {"record_id", (*revisions)[i].record_id},
                         {"revision_id", (*revisions)[i].revision_id}});
      }
    }
    batch.clear();
    batch_lines.clear();
    batch_bytes = 0;
  };
  {
    auto stream = input.Stream();
    ImportReader reader(*stream, format);
    ProgressBar bar("importing");
    while (true) {
      auto record = reader.Next();
      if (!record) {
        // The file passed the first pass: it changed in between. The batch read so far
        // is not written: the file is no longer what was checked.
        throw stopped({ErrorCode::kInvalidArgument,
                       fmt::format("{} changed during the import ({})", shown_file, record.error().message)},
                      batch_lines.empty() ? std::nullopt : std::optional(batch_lines.front()));
      }
      if (!*record) break;
      if (seen++ < f.skip_records) continue;
      batch_bytes += (*record)->json.size();
      batch_lines.push_back((*record)->line);
      batch.push_back(std::move((*record)->json));
      if (batch.size() >= f.batch_records || batch_bytes >= kMaxBatchBytes) flush();
      bar(reader.bytes_read(), input.size());
    }
    flush();
    input.CheckComplete(reader);
  }
  if (f.as_json) {
    return PrintJson({{"case_id", f.case_id}, {"imported", imported}, {"skipped", f.skip_records}, {"records", added}});
  }
  fmt::print("imported {} record{} into case {}{}\n", imported, imported == 1 ? "" : "s", f.case_id,
             f.skip_records > 0 ? fmt::format(" (skipped the first {})", f.skip_records) : "");
}

}  // namespace

void AddImportCommand(CLI::App& app, const Globals& g) {
  auto f = std::make_shared<ImportFlags>();
  const auto lower = [](std::string id) {
    for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return id;
  };
  auto* cmd = app.add_subcommand(
      "import", "Add many records to a case from JSON Lines or CSV; a bad record anywhere imports nothing");
  cmd->add_option("--case", f->case_id, "Case id")->required()->transform(lower);
  cmd->add_option("FILE", f->file, "A .jsonl/.ndjson or .csv file, or - for stdin")->required();
  cmd->add_option("--format", f->format, "jsonl or csv (default: by the file's extension)")
      ->check(CLI::IsMember({"jsonl", "csv"}));
  cmd->add_option("--skip-records", f->skip_records,
                  "Skip the first N records (to resume an import that stopped; its error says N)");
  cmd->add_option("--batch-records", f->batch_records, "Records per transaction")->capture_default_str();
  cmd->add_flag("--json", f->as_json, "Print JSON for scripts: the count and each record's line and ids");
  cmd->callback([f, &g] { RunImport(g, *f); });
}

}  // namespace evault::client
