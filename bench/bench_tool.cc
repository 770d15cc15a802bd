// bench_tool: the small in-process pieces of the benchmark suite (bench/bench_suite.sh).
// Each subcommand measures one thing and prints plain numbers on stdout (progress and
// errors on stderr), so the driver can put them beside the evault and peer commands:
//
//   random-file  --out F --mib N            incompressible test data (libsodium's ChaCha20 stream), fsync'd
//   run          [--stdout F] [--stderr F] [--fsync PATH]... -- CMD ARGS...
//                                           runs CMD, then fsyncs PATH (a file, or every file of a directory);
//                                           prints "SECONDS MAXRSS_KIB SAMPLED_KIB" (wall time of both,
//                                           wait4's ru_maxrss; with --sample-rss-after S, the largest VmRSS
//                                           read every 10 ms after S seconds, else 0)
//   aead         --file F                   raw XChaCha20-Poly1305 over 1 MiB chunks of F (one core):
//                                           prints "ENCRYPT_SECONDS DECRYPT_SECONDS BYTES" (crypto calls only)
//   sha256       --file F                   OpenSSL SHA-256 of F: prints "SECONDS BYTES" (hashing only)
//   pwhash       --ops N --mem-mib M        crypto_pwhash (Argon2id): prints the median seconds of --runs
//   unlock       --vault D --passphrase-file P
//                                           Vault::Open (the passphrase KDF and the open): median seconds
//   gen-records  --count N --out F          JSON Lines in the record schema: prints "RECORDS MEAN_BYTES"
//   rocksdb-puts --jsonl F --dir D          raw RocksDB: one put per record of the size its sealed envelope
//                                           would have, batches of --batch, each written with sync:
//                                           prints "SECONDS RECORDS MEAN_VALUE_BYTES"
//   search       --vault D --passphrase-file P --jsonl F
//                                           Vault::Search for words of different frequency, and grep over
//                                           the plaintext: one line per query, tab-separated:
//                                           "QUERY HITS MEDIAN_SECONDS GREP_MEDIAN_SECONDS"
//   table        ROWS.tsv                   the rows (figure, ours, limit or peer, ratio) as a Markdown table
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>

#include "crypto/padding.h"
#include "crypto/secret_bytes.h"
#include "evault_format.pb.h"
#include "vault/record.h"
#include "vault/tokenizer.h"
#include "vault/vault.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct ToolError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

constexpr std::size_t kChunk = 1 << 20;

// Reads a file in 1 MiB chunks, calling `f(data, size)` for each.
template <typename F>
std::uint64_t ForEachChunk(const fs::path& path, F&& f) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ToolError("cannot open " + path.string());
  std::vector<unsigned char> buf(kChunk);
  std::uint64_t total = 0;
  while (true) {
    std::size_t have = 0;
    while (have < buf.size()) {
      const ssize_t n = ::read(fd, buf.data() + have, buf.size() - have);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw ToolError("cannot read " + path.string());
      if (n == 0) break;
      have += static_cast<std::size_t>(n);
    }
    if (have == 0) break;
    f(buf.data(), have);
    total += have;
    if (have < buf.size()) break;
  }
  ::close(fd);
  return total;
}

void FsyncPath(const fs::path& path) {
  auto sync_one = [](const fs::path& p, int flags) {
    const int fd = ::open(p.c_str(), flags | O_CLOEXEC);
    if (fd < 0) throw ToolError("cannot open " + p.string() + " to fsync it");
    if (::fsync(fd) != 0) throw ToolError("fsync of " + p.string() + " failed");
    ::close(fd);
  };
  if (fs::is_directory(path)) {
    for (const auto& e : fs::recursive_directory_iterator(path)) {
      if (e.is_regular_file()) sync_one(e.path(), O_RDONLY);
      else if (e.is_directory()) sync_one(e.path(), O_RDONLY | O_DIRECTORY);
    }
    sync_one(path, O_RDONLY | O_DIRECTORY);
  } else {
    sync_one(path, O_RDONLY);
  }
}

struct RunResult {
  double seconds = 0;
  long maxrss_kib = 0;
  long sampled_kib = 0;  // the largest VmRSS sampled after `sample_after` seconds
  int exit_code = 0;
};

long VmRssKib(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == "VmRSS:") return (in >> value) ? value : 0;
    in.ignore(1 << 10, '\n');
  }
  return 0;
}

// fork/exec/wait4: wall time from fork to exit, the child's peak RSS (ru_maxrss covers
// the descendants it waited for too). Standard input is /dev/null. With `sample_after`
// >= 0 the child's VmRSS is also read every 10 ms, and the largest value read after that
// many seconds is kept: a peak that leaves out an early phase (the passphrase KDF's
// Argon2id memory, freed when the key is derived, stays in ru_maxrss).
RunResult RunCommand(const std::vector<std::string>& args, const std::string& out, const std::string& err,
                     double sample_after = -1) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const auto start = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) throw ToolError("fork failed");
  if (pid == 0) {
    const int in = ::open("/dev/null", O_RDONLY);
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int e = err == out ? o : ::open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (in < 0 || o < 0 || e < 0) ::_exit(126);
    ::dup2(in, STDIN_FILENO);
    ::dup2(o, STDOUT_FILENO);
    ::dup2(e, STDERR_FILENO);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  struct rusage usage {};
  RunResult r;
  if (sample_after >= 0) {
    while (true) {
      const pid_t done = ::wait4(pid, &status, WNOHANG, &usage);
      if (done == pid) break;
      if (done < 0 && errno != EINTR) throw ToolError("wait4 failed");
      if (Seconds(Clock::now() - start) >= sample_after) r.sampled_kib = std::max(r.sampled_kib, VmRssKib(pid));
      ::usleep(10000);
    }
  } else {
    while (::wait4(pid, &status, 0, &usage) < 0) {
      if (errno != EINTR) throw ToolError("wait4 failed");
    }
  }
  r.seconds = Seconds(Clock::now() - start);
  r.maxrss_kib = usage.ru_maxrss;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// --- subcommands ---------------------------------------------------------------------

int RandomFile(const std::string& out, std::uint64_t mib, std::uint64_t seed) {
  unsigned char key[randombytes_SEEDBYTES] = {};
  std::memcpy(key, &seed, sizeof seed);
  // 64 MiB at a time from the ChaCha20 stream; the nonce is the block number.
  constexpr std::size_t kBlock = 64 << 20;
  std::vector<unsigned char> buf(kBlock);
  const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw ToolError("cannot create " + out);
  std::uint64_t left = mib << 20;
  for (std::uint64_t block = 0; left > 0; ++block) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, kBlock));
    std::memcpy(key + 8, &block, sizeof block);
    randombytes_buf_deterministic(buf.data(), n, key);
    for (std::size_t done = 0; done < n;) {
      const ssize_t w = ::write(fd, buf.data() + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) throw ToolError("cannot write " + out);
      done += static_cast<std::size_t>(w);
    }
    left -= n;
  }
  if (::fsync(fd) != 0) throw ToolError("fsync of " + out + " failed");
  ::close(fd);
  return 0;
}

int Run(const std::vector<std::string>& command, const std::string& out, const std::string& err,
        const std::vector<std::string>& fsync_paths, double sample_after) {
  const auto start = Clock::now();
  RunResult r = RunCommand(command, out, err, sample_after);
  if (r.exit_code == 0) {
    for (const auto& p : fsync_paths) FsyncPath(p);
  }
  r.seconds = Seconds(Clock::now() - start);
  fmt::print("{:.6f} {} {}\n", r.seconds, r.maxrss_kib, r.sampled_kib);
  return r.exit_code;
}

int Aead(const std::string& file) {
  unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
  unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  crypto_aead_xchacha20poly1305_ietf_keygen(key);
  std::vector<unsigned char> sealed(kChunk + crypto_aead_xchacha20poly1305_ietf_ABYTES), opened(kChunk);
  Clock::duration enc{}, dec{};
  std::uint64_t index = 0;
  const std::uint64_t bytes = ForEachChunk(file, [&](const unsigned char* data, std::size_t n) {
    randombytes_buf(nonce, sizeof nonce);
    unsigned char ad[8];
    std::memcpy(ad, &index, sizeof ad);
    ++index;
    unsigned long long sealed_len = 0, opened_len = 0;
    auto t0 = Clock::now();
    crypto_aead_xchacha20poly1305_ietf_encrypt(sealed.data(), &sealed_len, data, n, ad, sizeof ad, nullptr, nonce, key);
    auto t1 = Clock::now();
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(opened.data(), &opened_len, nullptr, sealed.data(), sealed_len, ad,
                                                   sizeof ad, nonce, key) != 0 ||
        opened_len != n) {
      throw ToolError("decryption failed");
    }
    auto t2 = Clock::now();
    enc += t1 - t0;
    dec += t2 - t1;
  });
  fmt::print("{:.6f} {:.6f} {}\n", Seconds(enc), Seconds(dec), bytes);
  return 0;
}

int Sha256(const std::string& file) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  Clock::duration spent{};
  const std::uint64_t bytes = ForEachChunk(file, [&](const unsigned char* data, std::size_t n) {
    auto t0 = Clock::now();
    EVP_DigestUpdate(ctx, data, n);
    spent += Clock::now() - t0;
  });
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  fmt::print("{:.6f} {}\n", Seconds(spent), bytes);
  return 0;
}

int Pwhash(std::uint64_t ops, std::uint64_t mem_mib, int runs) {
  unsigned char out[32], salt[crypto_pwhash_SALTBYTES];
  randombytes_buf(salt, sizeof salt);
  const std::string pass = "benchmark passphrase";
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    if (crypto_pwhash(out, sizeof out, pass.data(), pass.size(), salt, ops, static_cast<std::size_t>(mem_mib << 20),
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
      throw ToolError("crypto_pwhash ran out of memory");
    }
    times.push_back(Seconds(Clock::now() - t0));
  }
  fmt::print("{:.6f}\n", Median(times));
  return 0;
}

evault::crypto::SecretBytes ReadPassphrase(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return evault::crypto::SecretBytes::CopyFrom(std::string_view(text));
}

std::unique_ptr<evault::vault::Vault> OpenVault(const std::string& dir, const std::string& passphrase_file) {
  auto v = evault::vault::Vault::Open(dir, ReadPassphrase(passphrase_file));
  if (!v) throw ToolError("cannot open the vault: " + v.error().message);
  return std::move(*v);
}

int Unlock(const std::string& dir, const std::string& passphrase_file, int runs) {
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    auto v = OpenVault(dir, passphrase_file);
    times.push_back(Seconds(Clock::now() - t0));
  }
  fmt::print("{:.6f}\n", Median(times));
  return 0;
}

// Records in the schema of vault/record.cc, about 700 bytes of JSON each. Words come
// from a text file (the monitoring report in shared/seed) when there is one, else from
// a made-up vocabulary; either way drawn with Zipf weights (1/rank), so the search
// index sees a realistic mix of very common and rare words.
class RecordGenerator {
 public:
  RecordGenerator(const std::string& words_file, std::uint64_t seed) : rng_(seed) {
    std::set<std::string> seen;
    if (!words_file.empty()) {
      std::ifstream in(words_file);
      const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const std::regex word(R"([A-Za-z][A-Za-z'-]{2,})");
      for (auto it = std::sregex_iterator(text.begin(), text.end(), word); it != std::sregex_iterator(); ++it) {
        if (words_.size() >= 4000) break;
        if (seen.insert(it->str()).second) words_.push_back(it->str());
      }
    }
    static const char* const kSyllables[] = {"ka", "ra", "zh", "mo", "tel", "an", "ir", "bek", "sul", "tan", "ov",
                                             "na", "li", "es", "ar", "gul", "dar", "sa", "ny", "ul", "ser", "jan"};
    while (words_.size() < 4000) {  // fill up (or make up) the vocabulary
      std::string w;
      for (int n = 2 + static_cast<int>(Uniform(3)); n > 0; --n) w += kSyllables[Uniform(std::size(kSyllables))];
      if (seen.insert(w).second) words_.push_back(std::move(w));
    }
    double sum = 0;
    for (std::size_t i = 0; i < words_.size(); ++i) cumulative_.push_back(sum += 1.0 / static_cast<double>(i + 1));
  }

  std::string Make(std::uint64_t i) {
    static const char* const kKinds[] = {"detention", "trial", "hearing", "harassment", "surveillance", "search", "fine"};
    static const char* const kRoles[] = {"victim", "witness", "perpetrator", "official", "lawyer", "other"};
    static const char* const kReliability[] = {"high", "medium", "low", "unknown"};
    static const char* const kCities[] = {"Almaty", "Nur-Sultan", "Shymkent", "Aktobe", "Karaganda", "Taraz", "Oral"};
    json r;
    r["kind"] = kKinds[Uniform(std::size(kKinds))];
    r["title"] = Phrase(4 + Uniform(4));
    r["occurred"] = {{"from", fmt::format("{:04}-{:02}-{:02}", 2015 + Uniform(10), 1 + Uniform(12), 1 + Uniform(28))},
                     {"precision", "day"}};
    r["location"] = {{"country", "Kazakhstan"}, {"city", kCities[Uniform(std::size(kCities))]}, {"place", Phrase(2)}};
    json people = json::array();
    for (std::size_t n = 1 + Uniform(2); n > 0; --n) {
      people.push_back({{"name", Phrase(2)}, {"role", kRoles[Uniform(std::size(kRoles))]}});
    }
    r["people"] = std::move(people);
    if (Uniform(2) == 0) {
      r["legal"] = {{"charges", json::array({{{"code", "Administrative Code"},
                                              {"article", fmt::format("{}", 400 + Uniform(100))},
                                              {"description", Phrase(4)}}})},
                    {"court", Phrase(3)}};
    }
    r["narrative"] = Phrase(26 + Uniform(12));
    r["sources"] = json::array({{{"kind", "testimony"},
                                 {"reference", fmt::format("interview-{:06}", i)},
                                 {"reliability", kReliability[Uniform(std::size(kReliability))]}}});
    r["tags"] = {Word(), Word(), Word()};
    return r.dump();
  }

 private:
  std::size_t Uniform(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }
  const std::string& Word() {
    const double u = std::uniform_real_distribution<double>(0, cumulative_.back())(rng_);
    const auto it = std::lower_bound(cumulative_.begin(), cumulative_.end(), u);
    return words_[std::min<std::size_t>(words_.size() - 1, static_cast<std::size_t>(it - cumulative_.begin()))];
  }
  std::string Phrase(std::size_t n) {
    std::string s;
    for (; n > 0; --n) {
      if (!s.empty()) s += ' ';
      s += Word();
    }
    return s;
  }

  std::mt19937_64 rng_;
  std::vector<std::string> words_;
  std::vector<double> cumulative_;
};

int GenRecords(std::uint64_t count, const std::string& out, const std::string& words_file, std::uint64_t seed) {
  RecordGenerator gen(words_file, seed);
  std::ofstream file(out, std::ios::binary | std::ios::trunc);
  std::uint64_t bytes = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::string line = gen.Make(i);
    bytes += line.size();
    file << line << '\n';
  }
  file.close();
  if (!file) throw ToolError("cannot write " + out);
  fmt::print("{} {}\n", count, count ? bytes / count : 0);
  return 0;
}

// The stored size of a record sealed as vault/object.cc does: an ObjectEnvelope with
// the real field sizes (ids, Ed25519 key and signature, chain hash, three sealed key
// slots of a 74-byte header, a key commitment) around the padded, encrypted JSON.
std::size_t SealedRecordBytes(std::size_t json_bytes) {
  static const std::string b16(16, 'x'), b32(32, 'x'), b64(64, 'x'),
      slot(74 + crypto_box_SEALBYTES, 'x');
  evault::format::v1::ObjectEnvelope e;
  e.set_format_version(1);
  e.set_vault_id(b16);
  e.set_object_id(b16);
  e.set_author(b32);
  e.set_author_seq(100000);
  e.set_prev_hash(b32);
  e.set_ciphertext(std::string(evault::crypto::PaddedSize(json_bytes) + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                                   crypto_aead_xchacha20poly1305_ietf_ABYTES,
                               'x'));
  e.set_signature(b64);
  e.set_key_epoch(1);
  for (int i = 0; i < 3; ++i) e.add_key_slots(slot);
  e.set_key_commitment(b32);
  return e.ByteSizeLong();
}

int RocksdbPuts(const std::string& jsonl, const std::string& dir, std::size_t batch_size) {
  std::vector<std::size_t> sizes;
  {
    std::ifstream in(jsonl);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) sizes.push_back(SealedRecordBytes(line.size()));
    }
  }
  rocksdb::Options options;  // as the vault's database: no compression (ciphertext)
  options.create_if_missing = true;
  options.error_if_exists = true;
  options.compression = rocksdb::kNoCompression;
  options.paranoid_checks = true;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) throw ToolError("cannot open RocksDB at " + dir + ": " + s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  // Keys and values are random bytes made before the clock starts.
  std::vector<std::string> keys(sizes.size()), values(sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    keys[i].resize(16);
    randombytes_buf(keys[i].data(), keys[i].size());
    values[i].resize(sizes[i]);
    randombytes_buf(values[i].data(), values[i].size());
  }
  rocksdb::WriteOptions durable;
  durable.sync = true;
  const auto start = Clock::now();
  for (std::size_t i = 0; i < sizes.size(); i += batch_size) {
    rocksdb::WriteBatch batch;
    for (std::size_t j = i; j < std::min(sizes.size(), i + batch_size); ++j) batch.Put(keys[j], values[j]);
    s = db->Write(durable, &batch);
    if (!s.ok()) throw ToolError("RocksDB write failed: " + s.ToString());
  }
  const double seconds = Seconds(Clock::now() - start);
  std::size_t total = 0;
  for (auto n : sizes) total += n;
  fmt::print("{:.6f} {} {}\n", seconds, sizes.size(), sizes.empty() ? 0 : total / sizes.size());
  return 0;
}

// The public-key work the object format asks of every imported record, on one core: two
// objects (the revision and its custody entry), each with three X25519 sealed boxes of
// its key header (crypto_box_seal) and one Ed25519 signature. No import can beat this
// without changing the format, so it is the floor the import is compared with.
int PublicKeyFloor(std::size_t records) {
  constexpr std::size_t kHeaderBytes = 32 + 1 + 16 + 8 + 1 + 16;  // vault/object.cc's sealed header
  std::vector<std::uint8_t> pk(crypto_box_PUBLICKEYBYTES), sk(crypto_box_SECRETKEYBYTES);
  crypto_box_keypair(pk.data(), sk.data());
  std::vector<std::uint8_t> sign_pk(crypto_sign_PUBLICKEYBYTES), sign_sk(crypto_sign_SECRETKEYBYTES);
  crypto_sign_keypair(sign_pk.data(), sign_sk.data());
  std::vector<std::uint8_t> header(kHeaderBytes, 7), sealed(kHeaderBytes + crypto_box_SEALBYTES);
  std::vector<std::uint8_t> message(1200, 9), signature(crypto_sign_BYTES);
  const auto start = Clock::now();
  for (std::size_t i = 0; i < 2 * records; ++i) {
    for (int slot = 0; slot < 3; ++slot) crypto_box_seal(sealed.data(), header.data(), header.size(), pk.data());
    crypto_sign_detached(signature.data(), nullptr, message.data(), message.size(), sign_sk.data());
  }
  fmt::print("{:.6f}\n", Seconds(Clock::now() - start));
  return 0;
}

int Search(const std::string& dir, const std::string& passphrase_file, const std::string& jsonl, int runs) {
  // Document frequency of every word, as the index sees it (the record's string values).
  std::map<std::string, std::size_t> df;
  std::size_t records = 0;
  {
    std::ifstream in(jsonl);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      ++records;
      std::set<std::string> words;
      for (const auto& text : evault::vault::RecordText(json::parse(line))) {
        for (const auto& w : evault::vault::Tokenize(text)) words.insert(w);
      }
      for (const auto& w : words) ++df[w];
    }
  }
  // Words (letters only, 4+) by frequency: the most common, one in ~10% of the
  // records, one in ~1%, the one nearest to 10 records.
  std::vector<std::pair<std::size_t, std::string>> by_df;
  for (const auto& [w, n] : df) {
    if (w.size() >= 4 && std::all_of(w.begin(), w.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
      by_df.emplace_back(n, w);
    }
  }
  std::sort(by_df.begin(), by_df.end(), std::greater<>());
  auto nearest = [&](double target) {
    std::size_t best = 0;
    for (std::size_t i = 0; i < by_df.size(); ++i) {
      if (std::abs(static_cast<double>(by_df[i].first) - target) < std::abs(static_cast<double>(by_df[best].first) - target)) best = i;
    }
    return by_df[best].second;
  };
  const double n = static_cast<double>(records);
  std::vector<std::string> words = {by_df.front().second, nearest(n * 0.10), nearest(n * 0.01), nearest(10)};
  // And a word in exactly one record, when there is one (a source reference's number).
  for (const auto& [w, count] : df) {
    if (count == 1) {
      words.push_back(w);
      break;
    }
  }
  std::vector<std::string> queries;
  for (const auto& w : words) {
    if (std::find(queries.begin(), queries.end(), w) == queries.end()) queries.push_back(w);
  }
  queries.push_back(words[1] + " " + words[2]);  // two words: every record with both

  auto v = OpenVault(dir, passphrase_file);
  for (const auto& q : queries) {
    std::size_t hits = 0;
    std::vector<double> ours, grep;
    // The first run warms the caches and is not counted; a slow query (a word in most
    // records) stops after 10 s of timed runs, with at least one.
    double spent = 0;
    for (int i = 0; i <= runs && (i < 2 || spent < 10); ++i) {
      auto t0 = Clock::now();
      auto found = v->Search(q);
      const double s = Seconds(Clock::now() - t0);
      if (!found) throw ToolError("search failed: " + found.error().message);
      hits = found->size();
      if (i > 0) {
        ours.push_back(s);
        spent += s;
      }
    }
    // The peer: grep over the plaintext JSON Lines (-w -i -F; two words: a pipe of two).
    std::string script = fmt::format("grep -wiF -- '{}' '{}'", q.substr(0, q.find(' ')), jsonl);
    if (q.find(' ') != std::string::npos) script += fmt::format(" | grep -wiF -- '{}'", q.substr(q.find(' ') + 1));
    script += " | wc -l";
    for (int i = 0; i <= runs; ++i) {
      RunResult r = RunCommand({"/bin/sh", "-c", script}, "/dev/null", "/dev/null");
      if (i > 0) grep.push_back(r.seconds);
    }
    fmt::print("{}\t{}\t{:.6f}\t{:.6f}\n", q, hits, Median(ours), Median(grep));
    std::fflush(stdout);
  }
  return 0;
}

std::vector<std::string> SplitTabs(const std::string& line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const auto tab = line.find('\t', start);
    out.push_back(line.substr(start, tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  return out;
}

int Table(const std::string& file) {
  std::vector<std::vector<std::string>> rows = {{"figure", "ours", "limit or peer", "ratio"}};
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto cells = SplitTabs(line);
    cells.resize(4);
    rows.push_back(std::move(cells));
  }
  std::size_t w[4] = {};
  for (const auto& r : rows) {
    for (int i = 0; i < 4; ++i) w[i] = std::max(w[i], r[i].size());
  }
  auto print = [&](const std::vector<std::string>& r) {
    fmt::print("| {:<{}} | {:<{}} | {:<{}} | {:>{}} |\n", r[0], w[0], r[1], w[1], r[2], w[2], r[3], w[3]);
  };
  print(rows[0]);
  fmt::print("|{}|{}|{}|{}:|\n", std::string(w[0] + 2, '-'), std::string(w[1] + 2, '-'), std::string(w[2] + 2, '-'),
             std::string(w[3] + 1, '-'));
  for (std::size_t i = 1; i < rows.size(); ++i) print(rows[i]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0) {
    fmt::print(stderr, "bench_tool: libsodium failed to initialise\n");
    return 1;
  }
  CLI::App app{"bench_tool: in-process pieces of the evault benchmark suite (bench/bench_suite.sh)"};
  app.require_subcommand(1);
  int rc = 0;

  std::string out, file, dir, passphrase_file, words_file, jsonl, err = "/dev/null", stdout_file = "/dev/null";
  std::uint64_t mib = 0, seed = 1, count = 0, ops = 3, mem_mib = 256;
  std::size_t batch = 1000;
  int runs = 3;
  double sample_after = -1;
  std::vector<std::string> command, fsync_paths;

  auto* random_file = app.add_subcommand("random-file", "Incompressible test data, fsync'd");
  random_file->add_option("--out", out)->required();
  random_file->add_option("--mib", mib)->required();
  random_file->add_option("--seed", seed);
  random_file->callback([&] { rc = RandomFile(out, mib, seed); });

  auto* run = app.add_subcommand("run", "Run a command; print wall seconds and peak RSS (KiB)");
  run->add_option("--stdout", stdout_file, "The command's standard output (default /dev/null)");
  run->add_option("--stderr", err, "The command's standard error, appended (default /dev/null)");
  run->add_option("--fsync", fsync_paths, "fsync this file (or every file under this directory) after, timed")
      ->allow_extra_args(false);
  run->add_option("--sample-rss-after", sample_after,
                  "Also sample VmRSS every 10 ms, keeping the largest after this many seconds (third number)");
  run->add_option("command", command)->required();
  run->callback([&] { rc = Run(command, stdout_file, err, fsync_paths, sample_after); });

  auto* aead = app.add_subcommand("aead", "Raw XChaCha20-Poly1305 over 1 MiB chunks of a file");
  aead->add_option("--file", file)->required();
  aead->callback([&] { rc = Aead(file); });

  auto* sha = app.add_subcommand("sha256", "OpenSSL SHA-256 of a file");
  sha->add_option("--file", file)->required();
  sha->callback([&] { rc = Sha256(file); });

  auto* pwhash = app.add_subcommand("pwhash", "crypto_pwhash (Argon2id): median seconds");
  pwhash->add_option("--ops", ops);
  pwhash->add_option("--mem-mib", mem_mib);
  pwhash->add_option("--runs", runs);
  pwhash->callback([&] { rc = Pwhash(ops, mem_mib, runs); });

  auto* unlock = app.add_subcommand("unlock", "Vault::Open: median seconds");
  unlock->add_option("--vault", dir)->required();
  unlock->add_option("--passphrase-file", passphrase_file)->required();
  unlock->add_option("--runs", runs);
  unlock->callback([&] { rc = Unlock(dir, passphrase_file, runs); });

  auto* gen = app.add_subcommand("gen-records", "JSON Lines records in the record schema");
  gen->add_option("--count", count)->required();
  gen->add_option("--out", out)->required();
  gen->add_option("--words-file", words_file, "Text to take the vocabulary from (else made-up words)");
  gen->add_option("--seed", seed);
  gen->callback([&] { rc = GenRecords(count, out, words_file, seed); });

  auto* puts = app.add_subcommand("rocksdb-puts", "Raw RocksDB batched, synced puts of sealed-record sizes");
  puts->add_option("--jsonl", jsonl)->required();
  puts->add_option("--dir", dir)->required();
  puts->add_option("--batch", batch);
  puts->callback([&] { rc = RocksdbPuts(jsonl, dir, batch); });

  auto* floor = app.add_subcommand("pk-floor", "The sealed boxes and signatures of N imported records, one core");
  floor->add_option("--count", count)->required();
  floor->callback([&] { rc = PublicKeyFloor(count); });

  auto* search = app.add_subcommand("search", "Vault::Search latency against grep over the plaintext");
  search->add_option("--vault", dir)->required();
  search->add_option("--passphrase-file", passphrase_file)->required();
  search->add_option("--jsonl", jsonl)->required();
  search->add_option("--runs", runs);
  search->callback([&] { rc = Search(dir, passphrase_file, jsonl, runs); });

  auto* table = app.add_subcommand("table", "Rows (TSV) as a Markdown table");
  table->add_option("rows", file)->required();
  table->callback([&] { rc = Table(file); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_tool: {}\n", e.what());
    return 1;
  }
  return rc;
}
