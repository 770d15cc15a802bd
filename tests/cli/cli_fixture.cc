#include "tests/cli/cli_fixture.h"

#include <stdlib.h>

#include <fstream>
#include <iterator>
#include <random>

#include <fmt/core.h>

#include "crypto/bytes.h"
#include "crypto/digest.h"

namespace evault::cli_test {

using nlohmann::json;

std::vector<std::string> Lines(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string FirstWord(std::string_view line) {
  const auto end = line.find_first_of(" \t\r\n");
  return std::string(line.substr(0, end));
}

bool IsId(std::string_view s) {
  if (s.size() != 32) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void WriteFile(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string Sha256Hex(std::string_view bytes) {
  return crypto::ToHex(crypto::Digest::Sha256(crypto::AsBytes(bytes)));
}

namespace {
std::mt19937_64& Rng() {
  static std::mt19937_64 rng{std::random_device{}()};
  return rng;
}
}  // namespace

std::string RandomBytes(std::size_t n) {
  std::string out(n, '\0');
  std::size_t i = 0;
  while (i < n) {
    std::uint64_t v = Rng()();
    for (int k = 0; k < 8 && i < n; ++k, ++i) out[i] = static_cast<char>((v >> (8 * k)) & 0xff);
  }
  return out;
}

std::string RandomHex(std::size_t bytes) { return crypto::ToHex(crypto::AsBytes(RandomBytes(bytes))); }

fs::path MakeTempDir(std::string_view prefix) {
  const char* tmp = std::getenv("TMPDIR");
  fs::path base = tmp && *tmp ? fs::path(tmp) : fs::path("/tmp");
  std::string tmpl = (base / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed under " + base.string());
  return tmpl;
}

fs::path DemoDir() { return fs::path(EVAULT_SOURCE_DIR) / "client" / "demo" / "cases"; }
std::string DemoFile(std::string_view relative) { return ReadFile(DemoDir() / relative); }

::testing::AssertionResult IsCleanError(const RunResult& r, int exit_code) {
  if (r.timed_out || r.term_signal != 0) return ::testing::AssertionFailure() << r.Describe();
  if (r.exit_code == 0) return ::testing::AssertionFailure() << "expected failure, got " << r.Describe();
  if (exit_code != 0 && r.exit_code != exit_code) {
    return ::testing::AssertionFailure() << "expected exit " << exit_code << ", got " << r.Describe();
  }
  if (!r.out.empty()) return ::testing::AssertionFailure() << "stdout not empty: " << r.Describe();
  if (r.err.empty() || r.err.back() != '\n' || r.err.find('\n') != r.err.size() - 1) {
    return ::testing::AssertionFailure() << "stderr is not exactly one line: " << r.Describe();
  }
  if (!r.err.starts_with("evault:")) {
    return ::testing::AssertionFailure() << "stderr does not start with 'evault:': " << r.Describe();
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Succeeded(const RunResult& r) {
  if (r.timed_out || r.term_signal != 0 || r.exit_code != 0) return ::testing::AssertionFailure() << r.Describe();
  return ::testing::AssertionSuccess();
}

void CliTest::SetUp() {
  dir_ = MakeTempDir("evault-cli-");
  vault_ = dir_ / "vault";
  pass_file_ = dir_ / "passphrase";
  WriteFile(pass_file_, std::string(kPassphrase) + "\n");
}

void CliTest::TearDown() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

RunResult CliTest::EvRaw(const std::vector<std::string>& args, const RunOptions& options) const {
  return RunEvault(args, options);
}

RunResult CliTest::Ev(const std::vector<std::string>& args, const RunOptions& options) const {
  std::vector<std::string> full = {"--vault", vault_.string(), "--passphrase-file", pass_file_.string()};
  full.insert(full.end(), args.begin(), args.end());
  return RunEvault(full, options);
}

std::string CliTest::Init() {
  auto r = Ev({"init", "--kdf-ops", "2", "--kdf-memory-mib", "64"});
  EXPECT_OK(r);
  auto lines = Lines(r.out);
  if (lines.empty()) throw std::runtime_error("init printed nothing: " + r.Describe());
  return FirstWord(lines[0]);
}

std::string CliTest::NewCase(const std::string& title, const std::vector<std::string>& tags) {
  std::vector<std::string> args = {"case", "new", "--title", title};
  for (const auto& t : tags) {
    args.push_back("--tag");
    args.push_back(t);
  }
  auto r = Ev(args);
  EXPECT_OK(r);
  auto lines = Lines(r.out);
  if (lines.size() != 1 || !IsId(FirstWord(lines[0]))) throw std::runtime_error("case new: " + r.Describe());
  return FirstWord(lines[0]);
}

std::string CliTest::AddRecordText(const std::string& case_id, const std::string& json_text) {
  const fs::path file = dir_ / fmt::format("record-{}.json", RandomHex(4));
  WriteFile(file, json_text);
  auto r = Ev({"record", "add", "--case", case_id, "--json", file.string()});
  fs::remove(file);
  EXPECT_OK(r);
  auto lines = Lines(r.out);
  if (lines.size() != 1 || !IsId(FirstWord(lines[0]))) throw std::runtime_error("record add: " + r.Describe());
  return FirstWord(lines[0]);
}

std::string CliTest::AddRecord(const std::string& case_id, const json& record) {
  return AddRecordText(case_id, record.dump(2));
}

std::string CliTest::EditRecord(const std::string& record_id, const json& record) {
  const fs::path file = dir_ / fmt::format("edit-{}.json", RandomHex(4));
  WriteFile(file, record.dump(2));
  auto r = Ev({"record", "edit", record_id, "--json", file.string()});
  fs::remove(file);
  EXPECT_OK(r);
  auto lines = Lines(r.out);
  if (lines.size() != 1 || !IsId(FirstWord(lines[0]))) throw std::runtime_error("record edit: " + r.Describe());
  return FirstWord(lines[0]);
}

json CliTest::ShowJson(const std::string& record_id, bool history) {
  std::vector<std::string> args = {"record", "show", record_id, "--json"};
  if (history) args.push_back("--history");
  auto r = Ev(args);
  EXPECT_OK(r);
  return json::parse(r.out);  // throws (and fails the test) if it is not JSON
}

std::string CliTest::Attach(const std::string& record_id, const fs::path& file) {
  auto r = Ev({"attach", "add", "--record", record_id, file.string()});
  EXPECT_OK(r);
  auto lines = Lines(r.out);
  if (lines.size() != 1 || !IsId(FirstWord(lines[0]))) throw std::runtime_error("attach add: " + r.Describe());
  return FirstWord(lines[0]);
}

json SimpleRecord(const std::string& title, const std::string& narrative) {
  json r = {{"kind", "detention"}, {"title", title}};
  if (!narrative.empty()) r["narrative"] = narrative;
  return r;
}

Device Device::Make(const fs::path& dir, const std::string& name) {
  Device d{dir / name / "vault", dir / name / "pass"};
  fs::create_directories(dir / name);
  WriteFile(d.pass, "passphrase of device " + name);
  return d;
}

}  // namespace evault::cli_test
