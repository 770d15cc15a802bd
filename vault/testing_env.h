// A test seam: the RocksDB Env every vault database is opened with. Fault-injection
// tests set an Env whose files fail (ENOSPC, EIO, fsync errors) to prove that a failed
// write is reported and nothing acknowledged is lost. Production code never calls it.
#pragma once

namespace rocksdb {
class Env;
}

namespace evault::vault::testing {

// Every vault database opened after this call uses `env` (nullptr: RocksDB's default).
// Not thread-safe; set it before opening, reset it after closing.
void SetDatabaseEnv(rocksdb::Env* env);
rocksdb::Env* DatabaseEnv();

}  // namespace evault::vault::testing
