// Replaces the member crc32c.cc.o of Debian's librocksdb.a (see rocksdb_crc32c.h). The
// linker extracts an archive member only for a symbol still undefined, so this object,
// which comes first on the link line and defines every global symbol of that member,
// keeps it out. A librocksdb whose crc32c.cc.o defines another symbol that is referenced
// fails the link with "multiple definition": loud, at build time, never a silent mix.

#include "vault/rocksdb_crc32c.h"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <string>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace evault::vault {
namespace {

// CRC32C (Castagnoli), reflected polynomial.
constexpr std::uint32_t kPolynomial = 0x82f63b78u;

std::atomic<std::uint64_t> g_calls{0};

// RocksDB's convention throughout: a CRC is passed in and returned finalised (inverted),
// so Extend(Extend(0, a), b) == Extend(0, a followed by b).

constexpr std::array<std::uint32_t, 256> ByteTable() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c >> 1) ^ (kPolynomial & (0u - (c & 1u)));
    table[i] = c;
  }
  return table;
}
constexpr std::array<std::uint32_t, 256> kByteTable = ByteTable();

// For a CPU without SSE4.2 (none made since about 2010): a byte at a time, ~0.5 GB/s.
std::uint32_t TableExtend(std::uint32_t crc, const char* data, std::size_t n) {
  std::uint32_t state = crc ^ 0xffffffffu;
  for (std::size_t i = 0; i < n; ++i) state = kByteTable[(state ^ static_cast<unsigned char>(data[i])) & 0xff] ^ (state >> 8);
  return state ^ 0xffffffffu;
}

#if defined(__x86_64__)
// The crc32 instruction, 8 bytes per instruction once aligned.
__attribute__((target("sse4.2"))) std::uint32_t HardwareExtend(std::uint32_t crc, const char* data, std::size_t n) {
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  std::uint64_t state = crc ^ 0xffffffffu;
  for (; n > 0 && (reinterpret_cast<std::uintptr_t>(p) & 7) != 0; --n) state = _mm_crc32_u8(static_cast<std::uint32_t>(state), *p++);
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);
    state = _mm_crc32_u64(state, word);
  }
  for (; n > 0; --n) state = _mm_crc32_u8(static_cast<std::uint32_t>(state), *p++);
  return static_cast<std::uint32_t>(state) ^ 0xffffffffu;
}
#endif

using ExtendFunction = std::uint32_t (*)(std::uint32_t, const char*, std::size_t);

ExtendFunction Chosen() {
  static const ExtendFunction chosen = [] {
#if defined(__x86_64__)
    __builtin_cpu_init();  // this may run from a static initialiser, before libgcc's
    if (__builtin_cpu_supports("sse4.2")) return HardwareExtend;
#endif
    return TableExtend;
  }();
  return chosen;
}

// a * b modulo the polynomial, both reflected (x^0 in the top bit).
std::uint32_t MultiplyModP(std::uint32_t a, std::uint32_t b) {
  std::uint32_t product = 0;
  for (std::uint32_t m = 1u << 31; m != 0; m >>= 1) {
    if (a & m) product ^= b;
    b = (b & 1u) ? (b >> 1) ^ kPolynomial : b >> 1;
  }
  return product;
}

// x^(8 * bytes) modulo the polynomial, by squaring.
std::uint32_t ShiftByBytes(std::size_t bytes) {
  std::uint32_t result = 1u << 31;  // x^0
  std::uint32_t power = 1u << 23;   // x^8: one byte
  for (; bytes != 0; bytes >>= 1) {
    if (bytes & 1) result = MultiplyModP(power, result);
    power = MultiplyModP(power, power);
  }
  return result;
}

}  // namespace

bool RocksDbCrc32cIsHardware() {
#if defined(__x86_64__)
  return Chosen() == HardwareExtend;
#else
  return false;
#endif
}

std::uint64_t RocksDbCrc32cCalls() { return g_calls.load(std::memory_order_relaxed); }

}  // namespace evault::vault

// The three global symbols of librocksdb.a's crc32c.cc.o, declared in RocksDB's
// util/crc32c.h (not installed by Debian), with its semantics.
namespace rocksdb::crc32c {

std::string IsFastCrc32Supported();
std::uint32_t Extend(std::uint32_t init_crc, const char* data, std::size_t n);
std::uint32_t Crc32cCombine(std::uint32_t crc1, std::uint32_t crc2, std::size_t crc2len);

std::string IsFastCrc32Supported() {
  return evault::vault::RocksDbCrc32cIsHardware() ? "Supported on x86 (Evidence Vault's SSE4.2 CRC32C)"
                                                  : "Not supported on x86";
}

std::uint32_t Extend(std::uint32_t init_crc, const char* data, std::size_t n) {
  evault::vault::g_calls.fetch_add(1, std::memory_order_relaxed);
  return evault::vault::Chosen()(init_crc, data, n);
}

// The CRC of A followed by B from crc1 = CRC(A), crc2 = CRC(B) and |B|: the finalising
// inversions cancel, so it is crc1 shifted past |B| zero bytes, xor crc2 (as zlib's
// crc32_combine).
std::uint32_t Crc32cCombine(std::uint32_t crc1, std::uint32_t crc2, std::size_t crc2len) {
  return evault::vault::MultiplyModP(evault::vault::ShiftByBytes(crc2len), crc1) ^ crc2;
}

}  // namespace rocksdb::crc32c
