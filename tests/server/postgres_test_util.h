// The throwaway PostgreSQL cluster of the server tests (ctest fixture "postgres",
// pg_cluster.sh; its URI in EVAULT_TEST_POSTGRES) and stores in schemas of their own,
// so that tests never see each other's tables.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "server/postgres_store.h"

namespace evault::server::testing {

inline const char* ClusterUri() { return std::getenv("EVAULT_TEST_POSTGRES"); }
inline constexpr char kNoCluster[] = "EVAULT_TEST_POSTGRES is not set: run through ctest (fixture postgres)";

// A schema name for a test directory (lower-case hex: no quoting needed anywhere).
inline std::string SchemaFor(const std::filesystem::path& dir) {
  return fmt::format("t_{:016x}", std::hash<std::string>{}(dir.string()));
}

// Runs administrative SQL (no data in it) on the cluster's maintenance database.
inline void Admin(const std::string& sql) {
  pqxx::connection c(ClusterUri());
  pqxx::nontransaction tx(c);
  tx.exec(sql);
}

// The conninfo of a store kept in `schema`, its sessions named after it so a test can
// find them in pg_stat_activity.
inline std::string SchemaConninfo(const std::string& schema) {
  return fmt::format("{}?options=-csearch_path%3D{}&application_name={}", ClusterUri(), schema, schema);
}

inline std::unique_ptr<PostgresStore> OpenSchema(const std::string& schema, PostgresLimits limits = {}) {
  Admin("CREATE SCHEMA IF NOT EXISTS " + schema);
  auto store = PostgresStore::Open(SchemaConninfo(schema), limits);
  if (!store) {
    ADD_FAILURE() << store.error().message;
    return nullptr;
  }
  return std::move(*store);
}

}  // namespace evault::server::testing
