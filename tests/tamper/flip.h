// Random byte flips for the tamper sweeps, their configuration and their tally.
//
// Configuration (one binary for the CI and the long variant):
//   EVAULT_TAMPER_SEED   the seed (decimal or 0x-hex) to replay a run; random otherwise,
//                        and always printed
//   EVAULT_TAMPER_SCALE  flips per category = the CI count times this (default 1; the
//                        long variant runs 10)
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/core.h>

namespace evault::tamper_test {

namespace fs = std::filesystem;

struct Flip {
  std::string mode;  // bit | byte | burst | scatter
  std::vector<std::pair<std::uint64_t, std::uint8_t>> bytes;  // offset, non-zero XOR mask

  std::string Describe() const {
    if (bytes.size() == 1) return fmt::format("{}: byte {} ^ 0x{:02x}", mode, bytes[0].first, bytes[0].second);
    return fmt::format("{}: {} bytes from {} to {}", mode, bytes.size(), bytes.front().first, bytes.back().first);
  }
};

// One random alteration of a file of `size` bytes (> 0): a single bit, a single byte,
// a burst of 2-16 consecutive bytes, or 2-8 bytes scattered over the file.
inline Flip RandomFlip(std::mt19937_64& rng, std::uint64_t size) {
  auto mask = [&] { return static_cast<std::uint8_t>(1 + rng() % 255); };
  Flip f;
  switch (rng() % 4) {
    case 0:
      f.mode = "bit";
      f.bytes.emplace_back(rng() % size, static_cast<std::uint8_t>(1u << (rng() % 8)));
      break;
    case 1:
      f.mode = "byte";
      f.bytes.emplace_back(rng() % size, mask());
      break;
    case 2: {
      f.mode = "burst";
      const std::uint64_t n = std::min<std::uint64_t>(size, 2 + rng() % 15);
      const std::uint64_t at = rng() % (size - n + 1);
      for (std::uint64_t i = 0; i < n; ++i) f.bytes.emplace_back(at + i, mask());
      break;
    }
    default: {
      f.mode = "scatter";
      std::map<std::uint64_t, std::uint8_t> picked;
      const std::uint64_t n = std::min<std::uint64_t>(size, 2 + rng() % 7);
      while (picked.size() < n) picked.emplace(rng() % size, mask());
      f.bytes.assign(picked.begin(), picked.end());
      break;
    }
  }
  return f;
}

// XORs the flip into the file in place.
inline bool ApplyFlip(const fs::path& file, const Flip& f) {
  std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
  for (const auto& [pos, mask] : f.bytes) {
    io.seekg(static_cast<std::streamoff>(pos));
    char byte = 0;
    io.read(&byte, 1);
    byte = static_cast<char>(byte ^ mask);
    io.seekp(static_cast<std::streamoff>(pos));
    io.write(&byte, 1);
  }
  return io.good();
}

struct SweepConfig {
  std::uint64_t seed = 0;
  int scale = 1;

  static SweepConfig FromEnv() {
    SweepConfig c;
    if (const char* s = std::getenv("EVAULT_TAMPER_SEED"); s != nullptr && *s != '\0') {
      c.seed = std::strtoull(s, nullptr, 0);
    } else {
      c.seed = (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
    }
    if (const char* s = std::getenv("EVAULT_TAMPER_SCALE"); s != nullptr) c.scale = std::max(1, std::atoi(s));
    // Printed first, so that a run that crashes still says how to replay it.
    std::fprintf(stderr, "tamper sweep seed 0x%llx (replay with EVAULT_TAMPER_SEED)\n",
                 static_cast<unsigned long long>(c.seed));
    return c;
  }
  int Flips(int ci_count) const { return ci_count * scale; }
  // Each category draws from its own stream, so one can be replayed alone.
  std::mt19937_64 Rng(std::string_view category) const {
    return std::mt19937_64(seed ^ std::hash<std::string_view>{}(category));
  }
};

// Outcomes per file kind, printed as a table.
class Tally {
 public:
  void Add(const std::string& kind, const std::string& outcome) {
    ++by_kind_[kind][outcome];
    ++totals_[outcome];
    ++trials_;
  }
  int trials() const { return trials_; }
  int count(const std::string& outcome) const {
    auto it = totals_.find(outcome);
    return it == totals_.end() ? 0 : it->second;
  }
  std::string Table() const {
    std::string out;
    for (const auto& [kind, counts] : by_kind_) {
      out += fmt::format("    {:<34}", kind);
      for (const auto& [outcome, n] : counts) out += fmt::format(" {}={}", outcome, n);
      out += "\n";
    }
    out += fmt::format("    {:<34}", "total:");
    for (const auto& [outcome, n] : totals_) out += fmt::format(" {}={}", outcome, n);
    return out + "\n";
  }

 private:
  std::map<std::string, std::map<std::string, int>> by_kind_;
  std::map<std::string, int> totals_;
  int trials_ = 0;
};

// Spreads `total` flips over `files` (at least `min_per_file` each), in a shuffled order.
inline std::vector<std::size_t> Schedule(std::size_t files, int total, int min_per_file, std::mt19937_64& rng) {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < files; ++i) {
    for (int k = 0; k < min_per_file; ++k) order.push_back(i);
  }
  while (static_cast<int>(order.size()) < total) order.push_back(rng() % files);
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

// The kind of a RocksDB or vault file, for the tables.
inline std::string DbFileKind(const fs::path& relative) {
  const std::string name = relative.filename().string();
  if (relative.extension() == ".sst") return "sst";
  if (relative.extension() == ".blob") return "blob";
  if (relative.extension() == ".log") return "wal";
  if (name.rfind("MANIFEST", 0) == 0) return "manifest";
  if (name.rfind("OPTIONS", 0) == 0) return "options";
  return name;  // vault.header, CURRENT, IDENTIFIER, ...
}

}  // namespace evault::tamper_test
