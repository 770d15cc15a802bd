// Tamper sweeps over what sits on a laptop: a vault and an export bundle.
//
// Vault: random flips (single bits, bytes, bursts, scattered bytes) in every file of a
// closed vault — header, table files, blob files, write-ahead log, MANIFEST, OPTIONS,
// CURRENT, IDENTIFIER — then the copy is opened and everything read
// (tests/vault/vault_snapshot.h). Acceptable: Open fails, a read fails, or a read returns
// exactly the original. Never: a read that returns anything else.
// (tests/vault/tamper_test.cc flips one bit at fixed places; this goes wider.)
//
// Bundle: random flips in every file of an exported bag, then VerifyBundle (and, for a
// sample, `evault verify`). Acceptable: verification fails and names the altered file.
// Never: an altered bundle verifies. The one exception, asserted byte for byte: what the
// bag format leaves unsigned (audit/bundle.h, audit/minisign.h, audit/sshsig.h) — the
// minisign file's "untrusted comment:" text (minisign signs only the trusted comment),
// and anything after the SSH signature's END line or a line break inside its armor
// turned into "\r" (the armor's base64 ignores line breaks); every other byte of the
// three files the tag manifest cannot list (itself and its two signatures) is covered by
// the signatures, and every other file by the tag manifest or the payload manifests.
#include <cctype>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <sodium.h>

#include "audit/bundle.h"
#include "tests/cli/run_evault.h"
#include "tests/fault/sample_vault.h"
#include "tests/tamper/flip.h"
#include "vault/header.h"
#include "vault/vault.h"

namespace evault::tamper_test {
namespace {

using vault::Vault;
namespace vt = vault::testing;

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<fs::path> FilesUnder(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.file_size() > 0) out.push_back(fs::relative(e.path(), dir));  // LOCK is empty
  }
  std::sort(out.begin(), out.end());
  return out;
}

void Replace(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::remove_all(to, ec);
  fs::copy(from, to, fs::copy_options::recursive);
}

// --- the vault ---------------------------------------------------------------------------

TEST(TamperSweep, VaultFlipsNeverYieldAlteredPlaintext) {
  const SweepConfig config = SweepConfig::FromEnv();
  std::mt19937_64 rng = config.Rng("vault");
  vt::ScopedTempDir tmp;
  const fs::path original = tmp.path() / "original", trial = tmp.path() / "trial";
  vt::SampleVault sample;
  ASSERT_NO_FATAL_FAILURE(vt::BuildSampleVault(original, tmp.path(), sample));
  const std::vector<fs::path> files = FilesUnder(original);
  std::set<std::string> kinds;
  for (const auto& f : files) kinds.insert(DbFileKind(f));
  for (const char* required : {"vault.header", "sst", "blob", "wal", "manifest", "options", "CURRENT"}) {
    ASSERT_TRUE(kinds.contains(required)) << "the sample vault has no " << required << " file to tamper with";
  }

  const auto start = std::chrono::steady_clock::now();
  const int flips = config.Flips(100);
  Tally tally, by_mode;
  std::vector<std::string> violations;
  for (std::size_t index : Schedule(files.size(), flips, 3, rng)) {
    const fs::path& target = files[index];
    const std::string kind = DbFileKind(target);
    Replace(original, trial);
    const Flip flip = RandomFlip(rng, fs::file_size(trial / target));
    ASSERT_TRUE(ApplyFlip(trial / target, flip));
    std::string outcome;
    if (kind == vault::kHeaderFileName) {
      // A header whose flip raised the Argon2id cost would be refused after the KDF ran
      // (its parameters are bound into the key slots' associated data), but only after
      // allocating up to 4 GiB: such flips are counted, not run.
      auto parsed = vault::ParseHeader(vt::ReadFileOrEmpty(trial / target));
      if (parsed && (parsed->kdf.mem_limit_bytes > (256u << 20) || parsed->kdf.ops_limit > 4)) {
        tally.Add(kind, "costly KDF, not run");
        by_mode.Add(flip.mode, "costly KDF, not run");
        continue;
      }
    }
    auto opened = Vault::Open(trial, vt::Passphrase(vt::kPassphrase));
    if (!opened) {
      outcome = "open failed";
    } else {
      const auto cmp = vt::Compare(sample.reads, vt::ReadEverything(**opened, sample.ids));
      if (!cmp.differing.empty()) {
        outcome = "WRONG DATA";
        violations.push_back(fmt::format("{} ({}): {}", target.string(), flip.Describe(), cmp.differing.front()));
      } else {
        outcome = cmp.errors > 0 ? "read failed" : "unaffected";
      }
    }
    tally.Add(kind, outcome);
    by_mode.Add(flip.mode, outcome);
  }
  fmt::print("vault tamper sweep: seed 0x{:x} (replay with EVAULT_TAMPER_SEED), {} flips over {} files in {:.1f} s\n{}"
             "  by kind of flip:\n{}",
             config.seed, tally.trials(), files.size(), Since(start), tally.Table(), by_mode.Table());
  std::fflush(stdout);
  for (std::size_t i = 0; i < violations.size() && i < 10; ++i) {
    ADD_FAILURE() << "a tampered vault returned altered data: " << violations[i];
  }
  EXPECT_EQ(tally.trials(), flips);
  // Most flips land in authenticated bytes; the sweep must see them caught.
  EXPECT_GT(tally.count("open failed") + tally.count("read failed"), flips / 3) << tally.Table();
}

// --- the export bundle ---------------------------------------------------------------------

// Which bytes of a bag no signature or manifest covers (see the comment at the top).
struct Uncovered {
  std::string minisig, sshsig;  // the original texts of the two signature files

  // Whether changing byte `pos` of `file` to `now` leaves what is verified unchanged.
  bool Allows(const std::string& file, std::uint64_t pos, std::uint8_t now) const {
    if (file == "tagmanifest-sha256.txt.minisig") {
      constexpr std::string_view kPrefix = "untrusted comment:";
      const std::size_t end = minisig.find('\n');
      return pos >= kPrefix.size() && pos < end && now != '\n' && now != '\r';
    }
    if (file == "tagmanifest-sha256.txt.sshsig") {
      constexpr std::string_view kEnd = "-----END SSH SIGNATURE-----";
      const std::size_t end = sshsig.find(kEnd);
      if (pos >= end + kEnd.size()) return true;
      const std::size_t body = sshsig.find('\n');
      return pos > body && pos < end && sshsig[pos] == '\n' && now == '\r';
    }
    return false;
  }
};

// Whether every flipped byte of a signature file turned a base64 digit into a byte
// above 0x7F: libsodium 1.0.18's sodium_base642bin decodes some of those as digits (see
// SignatureBase64RejectsNonAscii), so the signature decodes unchanged.
bool NonAsciiInSignatureBase64(const std::string& file, const std::string& original, const Flip& flip) {
  if (file != "tagmanifest-sha256.txt.minisig" && file != "tagmanifest-sha256.txt.sshsig") return false;
  for (const auto& [pos, mask] : flip.bytes) {
    const unsigned char was = static_cast<unsigned char>(original[pos]);
    const bool digit = std::isalnum(was) || was == '+' || was == '/';
    if (!digit || (was ^ mask) < 0x80) return false;
  }
  return true;
}

std::string BagFileKind(const fs::path& rel) {
  const std::string s = rel.generic_string();
  if (s.starts_with("data/records/")) return "data/records/*/*.json";
  if (s.starts_with("data/attachments/")) {
    return rel.filename() == "metadata.json" ? "data/attachments/*/metadata.json" : "data/attachments/*/original";
  }
  return s;
}

TEST(TamperSweep, BundleFlipsNeverVerify) {
  const SweepConfig config = SweepConfig::FromEnv();
  std::mt19937_64 rng = config.Rng("bundle");
  vt::ScopedTempDir tmp;
  const fs::path bag = tmp.path() / "bundle", trial = tmp.path() / "trial";
  vt::SampleVault sample;
  ASSERT_NO_FATAL_FAILURE(vt::BuildSampleVault(tmp.path() / "vault", tmp.path(), sample));
  {
    ASSERT_OK_AND_ASSIGN(auto v, Vault::Open(tmp.path() / "vault", vt::Passphrase(vt::kPassphrase)));
    ASSERT_OK(v->Export(sample.case_a, {.out = bag, .purpose = "tamper sweep"}));
  }
  ASSERT_OK_AND_ASSIGN(auto clean, audit::VerifyBundle(bag, std::nullopt));
  ASSERT_TRUE(clean.ok()) << clean.problems.front();
  ASSERT_EQ(clean.attachments, 1u);
  const Uncovered uncovered{vt::ReadFileOrEmpty(bag / "tagmanifest-sha256.txt.minisig"),
                            vt::ReadFileOrEmpty(bag / "tagmanifest-sha256.txt.sshsig")};
  const std::vector<fs::path> files = FilesUnder(bag);
  std::uint64_t total_bytes = 0, uncovered_bytes = 0;
  for (const auto& f : files) {
    const std::uint64_t size = fs::file_size(bag / f);
    total_bytes += size;
    for (std::uint64_t pos = 0; pos < size; ++pos) uncovered_bytes += uncovered.Allows(f.generic_string(), pos, '#');
  }
  // The sweep's own premise: these two stretches are the only unsigned bytes (a format
  // change that signs or unsigns more must update this test).
  EXPECT_EQ(uncovered_bytes, uncovered.minisig.find('\n') - 18 + 1) << "unsigned bytes: minisig comment + sshsig trailing newline";

  const auto start = std::chrono::steady_clock::now();
  const int flips = config.Flips(250);
  Tally tally;
  std::vector<std::string> violations;
  int cli_runs = 0, trial_no = 0;
  for (std::size_t index : Schedule(files.size(), flips, 4, rng)) {
    const fs::path& target = files[index];
    const std::string name = target.generic_string();
    Replace(bag, trial);
    const Flip flip = RandomFlip(rng, fs::file_size(trial / target));
    ASSERT_TRUE(ApplyFlip(trial / target, flip));
    bool only_uncovered = true;
    const std::string original = vt::ReadFileOrEmpty(bag / target);
    for (const auto& [pos, mask] : flip.bytes) {
      only_uncovered = only_uncovered && uncovered.Allows(name, pos, static_cast<std::uint8_t>(original[pos] ^ mask));
    }
    auto report = audit::VerifyBundle(trial, std::nullopt);
    std::string outcome;
    if (!report) {
      outcome = "not a bag";  // e.g. bagit.txt unreadable as such: refused outright
    } else if (report->ok()) {
      if (only_uncovered) {
        outcome = "verified (unsigned bytes)";
      } else if (NonAsciiInSignatureBase64(name, original, flip)) {
        outcome = "verified (non-ASCII base64 alias, a bug)";  // see DISABLED_SignatureBase64RejectsNonAscii
      } else {
        outcome = "VERIFIED ALTERED";
        violations.push_back(fmt::format("{} ({}) verified as good", name, flip.Describe()));
      }
    } else {
      bool named = false;
      for (const auto& p : report->problems) named = named || p.find(name) != std::string::npos;
      outcome = named ? "failed, names the file" : "FAILED WITHOUT NAMING IT";
      if (!named) {
        violations.push_back(fmt::format("{} ({}): the problems do not name it: {}", name, flip.Describe(),
                                         report->problems.front()));
      }
    }
    tally.Add(BagFileKind(target), outcome);
    // The command line gives the same verdict: exit 4 naming the file, or 0.
    if (trial_no++ % 10 == 0) {
      ++cli_runs;
      auto cli = cli_test::RunEvault({"verify", trial.string()});
      const bool failed = !report || !report->ok();
      if (failed && (cli.exit_code != 4 || cli.err.find(name) == std::string::npos)) {
        violations.push_back(fmt::format("evault verify after {} ({}): {}", name, flip.Describe(), cli.Describe()));
      }
      if (!failed && cli.exit_code != 0) violations.push_back("evault verify disagrees: " + cli.Describe());
    }
  }
  fmt::print("bundle tamper sweep: seed 0x{:x} (replay with EVAULT_TAMPER_SEED), {} flips over {} files "
             "({} also through `evault verify`) in {:.1f} s; {} of {} bytes unsigned by design\n{}",
             config.seed, tally.trials(), files.size(), cli_runs, Since(start), uncovered_bytes, total_bytes,
             tally.Table());
  std::fflush(stdout);
  for (std::size_t i = 0; i < violations.size() && i < 10; ++i) ADD_FAILURE() << violations[i];
  EXPECT_EQ(tally.trials(), flips);
}

// BUG (found by the bundle sweep with seed 0x79bb0a0ca06ae6b2, scale 10: "byte 117 ^ 0xf0"
// of tagmanifest-sha256.txt.minisig verified as good; audit/minisign.cc FromBase64 and
// audit/sshsig.cc SshVerify): both decode base64 with libsodium 1.0.18's
// sodium_base642bin, which accepts some bytes above 0x7F as base64 digits. A signature
// file with such a byte in place of a digit that decodes to the same six bits still
// verifies: the signed content is intact, but the signature files are not byte-exact (a
// bundle can be altered without `evault verify` noticing, and two "verified" copies can
// differ). Expected: reject any byte outside the base64 alphabet (check the line before
// decoding, or compare with the re-encoding of what was decoded).
// The bytes libsodium decodes from the base64 line starting at `from` ("" if it refuses).
std::string Base64Line(const std::string& text, std::size_t from) {
  const std::string line = text.substr(from, text.find('\n', from) - from);
  std::string out(line.size(), '\0');
  std::size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), line.data(), line.size(), nullptr,
                        &length, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    return "";
  }
  return out.substr(0, length);
}

TEST(TamperSweep, SignatureBase64RejectsNonAscii) {
  vt::ScopedTempDir tmp;
  const fs::path bag = tmp.path() / "bundle";
  vt::SampleVault sample;
  ASSERT_NO_FATAL_FAILURE(vt::BuildSampleVault(tmp.path() / "vault", tmp.path(), sample));
  {
    ASSERT_OK_AND_ASSIGN(auto v, Vault::Open(tmp.path() / "vault", vt::Passphrase(vt::kPassphrase)));
    ASSERT_OK(v->Export(sample.case_a, {.out = bag, .purpose = "base64 aliases"}));
  }
  const std::string file = "tagmanifest-sha256.txt.minisig";
  const std::string original = vt::ReadFileOrEmpty(bag / file);
  const std::size_t line = original.find('\n') + 1;  // the signature line
  int aliases = 0;
  for (std::size_t pos = line; pos < line + 90 && aliases < 3; ++pos) {
    for (int c = 0x80; c < 0x100; ++c) {
      std::string altered = original;
      altered[pos] = static_cast<char>(c);
      if (Base64Line(altered, line) != Base64Line(original, line)) continue;  // decodes differently
      vt::WriteFile(bag / file, altered);
      auto report = audit::VerifyBundle(bag, std::nullopt);
      if (report && report->ok()) {
        ++aliases;
        ADD_FAILURE() << fmt::format("byte {} of {} set to 0x{:02x} (was '{}'): the bundle still verifies", pos, file, c,
                                     original[pos]);
        break;
      }
    }
  }
  vt::WriteFile(bag / file, original);
}

}  // namespace
}  // namespace evault::tamper_test
