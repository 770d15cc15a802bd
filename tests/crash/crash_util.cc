#include "tests/crash/crash_util.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <set>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "crypto/bytes.h"
#include "crypto/digest.h"
#include "tests/vault/test_util.h"
#include "tests/vault/vault_snapshot.h"

namespace evault::crash_test {

std::size_t Trials() {
  const char* text = std::getenv("EVAULT_CRASH_TRIALS");
  if (text && *text) return static_cast<std::size_t>(std::max(1L, std::strtol(text, nullptr, 10)));
  return 10;
}

std::uint64_t BaseSeed() {
  static const std::uint64_t seed = [] {
    const char* text = std::getenv("EVAULT_CRASH_SEED");
    if (text && *text) return static_cast<std::uint64_t>(std::strtoull(text, nullptr, 10));
    return static_cast<std::uint64_t>((static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}());
  }();
  return seed;
}

crypto::SecretBytes Passphrase() { return crypto::SecretBytes::CopyFrom(kPassphrase); }

json RecordInput(std::string_view tag, std::uint64_t seed, std::uint64_t seq) {
  std::mt19937_64 rng(vault::testing::SplitMix64(seed ^ (seq * 0x9E3779B97F4A7C15ull)));
  json j = {{"kind", "detention"}, {"title", fmt::format("crash {} {}-{}", tag, seed, seq)}};
  // Between a few bytes and ~48 KiB of narrative: small writes and ones that span blocks.
  const std::size_t words = rng() % 4 == 0 ? rng() % 6000 : rng() % 40;
  std::string narrative;
  static const char* kWords[] = {"detained", "Алматы", "court", "witness", "Жасырын", "protest", "appeal"};
  for (std::size_t i = 0; i < words; ++i) {
    if (i) narrative += ' ';
    narrative += kWords[rng() % std::size(kWords)];
  }
  if (!narrative.empty()) j["narrative"] = narrative;
  if (rng() % 2) {
    j["people"] = json::array({{{"name", fmt::format("Person {}", rng() % 1000)}, {"role", "witness"}}});
  }
  if (rng() % 2) j["tags"] = json::array({"crash", fmt::format("t{}", rng() % 10)});
  return j;
}

std::string WriteInputFile(const fs::path& path, std::uint64_t seed, std::uint64_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  crypto::Digest digest(crypto::Digest::Algorithm::kSha256);
  std::vector<std::uint8_t> block(1 << 20);
  for (std::uint64_t offset = 0; offset < size;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), size - offset));
    vault::testing::FillPattern(seed, offset, std::span(block.data(), n));
    out.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(n));
    digest.Update(crypto::ByteView(block.data(), n));
    offset += n;
  }
  out.close();
  if (!out) ADD_FAILURE() << "cannot write " << path;
  return crypto::ToHex(digest.Finish());
}

// --- Child ---------------------------------------------------------------------------

Child::Child(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return;
  }
  // Everything the child needs is built before fork: between fork and exec it may only
  // make async-signal-safe calls (the parent has threads).
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::vector<std::string> storage = {self, "--crash-child", fmt::format("fd={}", fds[1])};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
    if (::getppid() != parent) ::_exit(126);
    ::fcntl(fds[1], F_SETFD, 0);  // the report pipe survives exec
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  fd_ = fds[0];
  if (pid_ < 0) ADD_FAILURE() << "fork: " << std::strerror(errno);
}

Child::~Child() {
  if (pid_ > 0) KillAndReap();
  if (fd_ >= 0) ::close(fd_);
}

bool Child::ReadSome(int timeout_ms) {
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLIN, 0};
  const int ready = ::poll(&p, 1, timeout_ms);
  if (ready <= 0) return true;  // timeout (or EINTR): still alive as far as we know
  char buffer[8192];
  const ssize_t got = ::read(fd_, buffer, sizeof buffer);
  if (got < 0 && errno == EINTR) return true;
  if (got <= 0) {
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  partial_.append(buffer, static_cast<std::size_t>(got));
  for (std::size_t nl; (nl = partial_.find('\n')) != std::string::npos;) {
    lines_.push_back(partial_.substr(0, nl));
    partial_.erase(0, nl + 1);
  }
  return true;
}

bool Child::WaitForLine(std::string_view prefix, std::chrono::steady_clock::time_point deadline) {
  std::size_t checked = 0;
  while (true) {
    for (; checked < lines_.size(); ++checked) {
      if (lines_[checked].starts_with(prefix)) return true;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (!ReadSome(static_cast<int>(left.count()))) {
      for (; checked < lines_.size(); ++checked) {
        if (lines_[checked].starts_with(prefix)) return true;
      }
      return false;
    }
  }
}

bool Child::ReadUntil(std::chrono::steady_clock::time_point deadline) {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return fd_ >= 0;
    if (!ReadSome(static_cast<int>(left.count()))) return false;
  }
}

int Child::KillAndReap() {
  int status = 0;
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  // The child is gone: what it wrote before dying is in the pipe, then EOF.
  while (fd_ >= 0 && ReadSome(1000)) {
  }
  return status;
}

// --- Model and checks ----------------------------------------------------------------

void Model::Merge(const Model& other) {
  for (const auto& [id, title] : other.cases) cases[id] = title;
  for (const auto& [id, revisions] : other.records) {
    auto& mine = records[id];
    for (std::size_t i = mine.size(); i < revisions.size(); ++i) mine.push_back(revisions[i]);
  }
  for (const auto& [id, a] : other.attachments) attachments[id] = a;
}

std::size_t Model::Objects() const {
  std::size_t n = cases.size() + attachments.size();
  for (const auto& [id, revisions] : records) n += revisions.size();
  return n;
}

CheckOutcome CheckVault(const fs::path& dir, Model& must, const Model* may, const InFlight& in_flight) {
  auto opened = vault::Vault::Open(dir, Passphrase());
  if (!opened) {
    ADD_FAILURE() << "the vault in " << dir << " does not open: " << ErrorCodeName(opened.error().code) << ": "
                  << opened.error().message;
    return {};
  }
  return CheckVault(**opened, must, may, in_flight);
}

CheckOutcome CheckVault(vault::Vault& v, Model& must, const Model* may, const InFlight& in_flight) {
  CheckOutcome out;
  json snapshot = {{"cases", json::object()}, {"records", json::object()}, {"attachments", json::object()}};

  auto cases = v.ListCases();
  if (!cases) {
    ADD_FAILURE() << "ListCases: " << cases.error().message;
    return out;
  }
  std::set<std::string> seen_cases;
  for (const auto& c : *cases) {
    seen_cases.insert(c.id);
    snapshot["cases"][c.id] = json{c.title, c.status, c.tags, c.created, c.author};
    const std::string* title = nullptr;
    if (auto it = must.cases.find(c.id); it != must.cases.end()) title = &it->second;
    if (!title && may) {
      if (auto it = may->cases.find(c.id); it != may->cases.end()) title = &it->second;
    }
    if (!title) {
      ADD_FAILURE() << "unexplained case " << c.id;
      continue;
    }
    EXPECT_EQ(c.title, *title) << "case " << c.id;
    ++out.objects_checked;
  }
  for (const auto& [id, title] : must.cases) {
    EXPECT_TRUE(seen_cases.contains(id)) << "acknowledged case " << id << " is missing";
  }

  auto list = v.ListRecords(std::nullopt);
  if (!list) {
    ADD_FAILURE() << "ListRecords: " << list.error().message;
    return out;
  }
  std::set<std::string> seen_records;
  for (const auto& summary : *list) {
    const std::string& id = summary.record_id;
    if (!seen_records.insert(id).second) {
      ADD_FAILURE() << "record " << id << " is listed twice";
      continue;
    }
    auto view = v.GetRecord(id, true);
    if (!view) {
      ADD_FAILURE() << "record " << id << " is listed but does not read: " << ErrorCodeName(view.error().code) << ": "
                    << view.error().message;
      continue;
    }
    auto history = view->history;
    std::sort(history.begin(), history.end(), [](const auto& a, const auto& b) {
      return std::tie(a.revision, a.revision_id) < std::tie(b.revision, b.revision_id);
    });
    EXPECT_EQ(view->heads.size(), 1u) << "record " << id << " shows " << view->heads.size() << " heads";
    json& snap = snapshot["records"][id] = json::array();
    for (const auto& h : history) snap.push_back(vault::testing::RevisionJson(h));
    for (std::size_t i = 0; i < history.size(); ++i) {
      EXPECT_EQ(history[i].revision, i + 1) << "record " << id << ": revisions not 1..n";
      if (i > 0) {
        EXPECT_EQ(history[i].parents, std::vector<std::string>{history[i - 1].revision_id})
            << "record " << id << " revision " << i + 1 << " does not follow its predecessor";
      }
    }
    if (!view->heads.empty() && !history.empty()) {
      EXPECT_EQ(view->heads.back().revision_id, history.back().revision_id) << "record " << id << ": stale head";
    }

    // `must`: acknowledged here, all of it present. `may`: another device's news, which
    // extends what `must` holds of the record (edits) and may have arrived in part.
    const std::vector<ExpectedRevision>* must_revisions = nullptr;
    const std::vector<ExpectedRevision>* may_revisions = nullptr;
    if (auto it = must.records.find(id); it != must.records.end()) must_revisions = &it->second;
    if (may) {
      if (auto it = may->records.find(id); it != may->records.end()) may_revisions = &it->second;
    }
    if (!must_revisions && !may_revisions) {
      if (in_flight.kind == InFlight::kRecordAdd && !out.in_flight_committed && history.size() == 1 &&
          history[0].data == in_flight.data) {
        must.records[id] = {{history[0].revision_id, in_flight.data}};
        out.in_flight_committed = true;
        ++out.objects_checked;
      } else {
        ADD_FAILURE() << "unexplained record " << id << " with " << history.size() << " revisions, title "
                      << (history.empty() ? json() : history[0].data.value("title", json()));
      }
      continue;
    }
    const auto& expected = may_revisions && (!must_revisions || may_revisions->size() > must_revisions->size())
                               ? *may_revisions
                               : *must_revisions;
    const std::size_t n = history.size(), lo = must_revisions ? must_revisions->size() : 1, hi = expected.size();
    const bool extra_in_flight = n == hi + 1 && in_flight.kind == InFlight::kRecordEdit && !out.in_flight_committed &&
                                 in_flight.record_id == id && history[hi].data == in_flight.data;
    if (!extra_in_flight) {
      EXPECT_TRUE(n >= lo && n <= hi) << "record " << id << " has " << n << " revisions; expected " << lo
                                      << (lo == hi ? "" : fmt::format(" to {}", hi)) << " (acknowledged)";
    }
    for (std::size_t i = 0; i < std::min(n, hi); ++i) {
      const ExpectedRevision& e = expected[i];
      if (!e.revision_id.empty()) {
        EXPECT_EQ(history[i].revision_id, e.revision_id) << "record " << id << " revision " << i + 1;
      }
      EXPECT_EQ(history[i].data, e.data) << "record " << id << " revision " << i + 1 << " is not what was acknowledged";
      ++out.objects_checked;
    }
    if (extra_in_flight) {
      must.records[id].push_back({history[hi].revision_id, in_flight.data});
      out.in_flight_committed = true;
      ++out.objects_checked;
    }
  }
  for (const auto& [id, revisions] : must.records) {
    EXPECT_TRUE(seen_records.contains(id)) << "acknowledged record " << id << " is missing";
  }

  std::set<std::string> seen_attachments;
  for (const auto& record_id : seen_records) {
    auto attachments = v.ListAttachments(record_id);
    if (!attachments) {
      ADD_FAILURE() << "ListAttachments(" << record_id << "): " << attachments.error().message;
      continue;
    }
    for (const auto& a : *attachments) {
      seen_attachments.insert(a.id);
      snapshot["attachments"][a.id] = vault::testing::AttachmentJson(a);
      // Whatever is listed must read back whole: a half-written attachment fails here.
      crypto::Digest digest(crypto::Digest::Algorithm::kSha256);
      std::uint64_t total = 0;
      auto read = v.ReadAttachment(a.id, [&](crypto::ByteView chunk) -> Status {
        digest.Update(chunk);
        total += chunk.size();
        return Ok();
      });
      EXPECT_TRUE(read.has_value()) << "listed attachment " << a.id << " does not read back: "
                                    << (read ? "" : read.error().message);
      const std::string sha = crypto::ToHex(digest.Finish());
      EXPECT_EQ(total, a.size) << "attachment " << a.id << " read back " << total << " of " << a.size << " bytes";
      EXPECT_EQ(sha, a.sha256) << "attachment " << a.id << " does not hash to its listed SHA-256";
      const ExpectedAttachment* e = nullptr;
      if (auto it = must.attachments.find(a.id); it != must.attachments.end()) e = &it->second;
      if (!e && may) {
        if (auto it = may->attachments.find(a.id); it != may->attachments.end()) e = &it->second;
      }
      if (!e) {
        if (in_flight.kind == InFlight::kAttachmentAdd && !out.in_flight_committed && in_flight.record_id == record_id &&
            in_flight.sha256 == sha && in_flight.size == total) {
          must.attachments[a.id] = {record_id, sha, total};
          out.in_flight_committed = true;
          ++out.objects_checked;
        } else {
          ADD_FAILURE() << "unexplained attachment " << a.id << " on record " << record_id;
        }
        continue;
      }
      EXPECT_EQ(a.record_id, e->record_id) << "attachment " << a.id;
      EXPECT_EQ(a.sha256, e->sha256) << "attachment " << a.id << " is not the acknowledged file";
      EXPECT_EQ(a.size, e->size) << "attachment " << a.id;
      ++out.objects_checked;
    }
  }
  for (const auto& [id, a] : must.attachments) {
    EXPECT_TRUE(seen_attachments.contains(id)) << "acknowledged attachment " << id << " is missing";
  }

  // Last, so the custody entries the reads above appended are verified too.
  auto audit = v.VerifyAuditLog();
  if (!audit) {
    ADD_FAILURE() << "VerifyAuditLog: " << ErrorCodeName(audit.error().code) << ": " << audit.error().message;
  } else if (!audit->ok()) {
    std::string problems;
    for (std::size_t i = 0; i < audit->problems.size() && i < 5; ++i) problems += "\n  " + audit->problems[i];
    ADD_FAILURE() << "the custody log does not verify (" << audit->problems.size() << " problems):" << problems;
  }
  out.snapshot = std::move(snapshot);
  return out;
}

void Figures::Print(std::uint64_t seed) const {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // A sync has no single object in flight: there, "committed" does not apply.
  const std::string committed =
      name.starts_with("sync") ? "" : fmt::format(" ({} of them had committed)", committed_in_flight);
  fmt::print(
      "[crash figures] {}: {} trials (kills), {} mid-operation{}, {} between operations; "
      "{} operations acknowledged; {} acknowledged objects checked exactly; {:.1f} s; seed {} "
      "(rerun with EVAULT_CRASH_SEED={})\n",
      name, trials, mid_operation, committed, between, acknowledged, objects_checked, seconds, seed, seed);
  std::fflush(stdout);
}

}  // namespace evault::crash_test
