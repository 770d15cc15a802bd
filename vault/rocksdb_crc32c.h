#pragma once
// RocksDB checks every block, blob and log record it writes or reads with CRC32C. Debian's
// librocksdb is built for any x86-64 CPU, so it computes CRC32C a byte table at a time, at
// about 1.3 GB/s here: a fifth of the CPU of a 1 GiB sync, counting both ends. We link
// RocksDB statically, and rocksdb_crc32c.cc takes the place of the archive's CRC32C member
// (rocksdb::crc32c::Extend and its two siblings): the CPU's crc32 instruction (SSE4.2)
// where there is one, a byte table otherwise. Same function, same values: vaults and server
// data written before read the same (tests/vault/rocksdb_crc32c_test.cc opens one).
//
// vault/CMakeLists.txt puts it on the link line of every executable that links
// evault_vault, ahead of librocksdb.a.

#include <cstdint>

namespace evault::vault {

// Whether RocksDB's CRC32C runs on the crc32 instruction in this process.
bool RocksDbCrc32cIsHardware();

// How many CRC32C calls the replacement has served, for the test that proves RocksDB's own
// checksums come here.
std::uint64_t RocksDbCrc32cCalls();

}  // namespace evault::vault
