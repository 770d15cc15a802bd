#include "vault/testing_env.h"

namespace evault::vault::testing {

namespace {
rocksdb::Env* g_database_env = nullptr;
}

void SetDatabaseEnv(rocksdb::Env* env) { g_database_env = env; }
rocksdb::Env* DatabaseEnv() { return g_database_env; }

}  // namespace evault::vault::testing
