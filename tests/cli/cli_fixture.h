// Shared fixture for the evault end-to-end tests: a fresh temporary directory per
// test holding the vault and its passphrase file, and helpers that run the real
// binary with `--vault DIR --passphrase-file FILE` and check its output conventions.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/run_evault.h"

namespace evault::cli_test {

namespace fs = std::filesystem;

inline constexpr char kPassphrase[] = "correct horse battery staple";

// Lines of `text` without their '\n' (a trailing newline does not start a new line).
std::vector<std::string> Lines(std::string_view text);
std::string FirstWord(std::string_view line);
bool IsId(std::string_view s);  // 32 lower-case hex digits
std::string ReadFile(const fs::path& path);
void WriteFile(const fs::path& path, std::string_view bytes);
std::string Sha256Hex(std::string_view bytes);
std::string RandomBytes(std::size_t n);
std::string RandomHex(std::size_t bytes);
// A directory under $TMPDIR (else /tmp), removed by the caller.
fs::path MakeTempDir(std::string_view prefix);
// The demo data shipped with the client (client/demo/cases/...).
fs::path DemoDir();
std::string DemoFile(std::string_view relative);

// The error convention: non-zero exit, nothing on stdout, exactly one line on stderr
// starting with "evault:". `exit_code` 0 means "any non-zero".
::testing::AssertionResult IsCleanError(const RunResult& r, int exit_code = 0);
#define EXPECT_CLEAN_ERROR(result, ...) EXPECT_TRUE(::evault::cli_test::IsCleanError(result, ##__VA_ARGS__))

::testing::AssertionResult Succeeded(const RunResult& r);
#define ASSERT_OK(result) ASSERT_TRUE(::evault::cli_test::Succeeded(result))
#define EXPECT_OK(result) EXPECT_TRUE(::evault::cli_test::Succeeded(result))

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Runs evault with --vault vault_ --passphrase-file pass_file_ first.
  RunResult Ev(const std::vector<std::string>& args, const RunOptions& options = {}) const;
  // Runs evault with exactly `args`.
  RunResult EvRaw(const std::vector<std::string>& args, const RunOptions& options = {}) const;

  std::string Init();  // returns the device id
  std::string NewCase(const std::string& title, const std::vector<std::string>& tags = {});
  std::string AddRecord(const std::string& case_id, const nlohmann::json& record);
  std::string AddRecordText(const std::string& case_id, const std::string& json_text);
  std::string EditRecord(const std::string& record_id, const nlohmann::json& record);  // revision id
  nlohmann::json ShowJson(const std::string& record_id, bool history = false);
  // `attach add --record` with one file: returns the attachment id.
  std::string Attach(const std::string& record_id, const fs::path& file);

  fs::path Path(std::string_view name) const { return dir_ / name; }

  fs::path dir_;
  fs::path vault_;
  fs::path pass_file_;
};

// One device's vault and passphrase file, and the real binary run on it (the end-to-end
// sync and fault suites drive several devices at once).
struct Device {
  fs::path vault, pass;
  // dir/name/vault (not created yet) and dir/name/pass holding "passphrase of device NAME".
  static Device Make(const fs::path& dir, const std::string& name);
  RunResult Ev(std::vector<std::string> args, const RunOptions& options = {}) const {
    args.insert(args.begin(), {"--vault", vault.string(), "--passphrase-file", pass.string()});
    return RunEvault(args, options);
  }
};

// A small valid record with distinctive text.
nlohmann::json SimpleRecord(const std::string& title, const std::string& narrative = "");

}  // namespace evault::cli_test
