// The worker the local crash tests kill: opens the vault, then adds records, edits them
// or adds attachments until SIGKILL. Before each call it reports "B <seq> ..." (begun),
// after each successful call "A <seq> ..." (acknowledged: durable by the vault's
// contract); "R" once the vault is open; "E <seq> <message>" and exit on an error.
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <rocksdb/env.h>

#include "tests/crash/crash_util.h"
#include "vault/testing_env.h"

namespace evault::crash_test {

namespace {

// Sabotage for the test that proves the checks bite: a write-ahead log that keeps what
// it is given in process memory and claims every sync succeeded, as a vault that
// acknowledged before its write was durable would. SIGKILL loses it.
class BufferedLog : public rocksdb::WritableFile {
 public:
  explicit BufferedLog(std::unique_ptr<rocksdb::WritableFile> target) : target_(std::move(target)) {}
  rocksdb::Status Append(const rocksdb::Slice& data) override {
    buffer_.append(data.data(), data.size());
    return rocksdb::Status::OK();
  }
  rocksdb::Status Close() override {
    auto s = target_->Append(buffer_);
    buffer_.clear();
    return s.ok() ? target_->Close() : s;
  }
  rocksdb::Status Flush() override { return rocksdb::Status::OK(); }
  rocksdb::Status Sync() override { return rocksdb::Status::OK(); }
  rocksdb::Status Fsync() override { return rocksdb::Status::OK(); }
  uint64_t GetFileSize() override { return target_->GetFileSize() + buffer_.size(); }

 private:
  std::unique_ptr<rocksdb::WritableFile> target_;
  std::string buffer_;
};

class BufferedLogEnv : public rocksdb::EnvWrapper {
 public:
  BufferedLogEnv() : rocksdb::EnvWrapper(rocksdb::Env::Default()) {}
  const char* Name() const override { return "BufferedLogEnv"; }
  rocksdb::Status NewWritableFile(const std::string& name, std::unique_ptr<rocksdb::WritableFile>* result,
                                  const rocksdb::EnvOptions& options) override {
    auto s = target()->NewWritableFile(name, result, options);
    if (s.ok() && name.ends_with(".log")) *result = std::make_unique<BufferedLog>(std::move(*result));
    return s;
  }
};

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    const auto end = text.find(sep, start);
    out.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

}  // namespace

int RunCrashChild(int argc, char** argv) {
  std::map<std::string, std::string> arg;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    const auto eq = a.find('=');
    if (eq != std::string::npos) arg[a.substr(0, eq)] = a.substr(eq + 1);
  }
  const int fd = std::atoi(arg["fd"].c_str());
  auto say = [fd](const std::string& text) {
    const std::string line = text + "\n";  // one write, < PIPE_BUF: atomic
    if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) ::_exit(5);
  };
  const std::string op = arg["op"], tag = arg["tag"], case_id = arg["case"];
  const std::uint64_t seed = std::strtoull(arg["seed"].c_str(), nullptr, 10);
  const std::vector<std::string> records = Split(arg["records"], ',');
  const fs::path files = arg["files"];
  const std::size_t nfiles = std::strtoull(arg["nfiles"].c_str(), nullptr, 10);

  if (arg["sabotage"] == "buffered-log") vault::testing::SetDatabaseEnv(new BufferedLogEnv());  // lives until exit
  auto opened = vault::Vault::Open(arg["vault"], Passphrase());
  if (!opened) {
    say(fmt::format("E 0 open: {}", opened.error().message));
    return 2;
  }
  vault::Vault& v = **opened;
  say("R");
  std::mt19937_64 rng(seed);
  // Bounded, in case the parent never kills (it would then fail on its own timeout).
  for (std::uint64_t seq = 0; seq < 100000; ++seq) {
    if (op == "record-add") {
      const std::string input = RecordInput(tag, seed, seq).dump();
      say(fmt::format("B {}", seq));
      auto r = v.AddRecord(case_id, input);
      if (!r) return say(fmt::format("E {} {}", seq, r.error().message)), 3;
      say(fmt::format("A {} {} {} {}", seq, r->record_id, r->revision_id, r->revision));
    } else if (op == "record-edit") {
      const std::string& record = records.at(rng() % records.size());
      const std::string input = RecordInput(tag, seed, seq).dump();
      say(fmt::format("B {} {}", seq, record));
      auto r = v.EditRecord(record, input);
      if (!r) return say(fmt::format("E {} {}", seq, r.error().message)), 3;
      say(fmt::format("A {} {} {} {}", seq, r->record_id, r->revision_id, r->revision));
    } else if (op == "attachment-add") {
      const std::string& record = records.at(rng() % records.size());
      const std::size_t k = rng() % nfiles;
      say(fmt::format("B {} {} {}", seq, record, k));
      auto a = v.AddAttachment(record, files / fmt::format("input-{}.bin", k));
      if (!a) return say(fmt::format("E {} {}", seq, a.error().message)), 3;
      say(fmt::format("A {} {} {} {}", seq, a->id, a->sha256, a->size));
    } else {
      say("E 0 unknown op " + op);
      return 2;
    }
  }
  return 0;
}

}  // namespace evault::crash_test
