#include "server/server_metrics.h"

namespace evault::server {

namespace {

// From a fast Pull (about a millisecond) to a chunk stream that commits for minutes.
const std::vector<double> kLatencyBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                            0.5,   1,      2.5,   5,    10,    30,   60,  120};

constexpr char kStoreUpHelp[] = "1 if the store could be read at this scrape, else 0 (the totals are then absent).";

std::string_view FailureKind(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNoSpace: return "no_space";
    case ErrorCode::kIo: return "io";
    case ErrorCode::kCorrupt: return "corrupt";
    default: return "other";
  }
}

}  // namespace

ServerMetrics::ServerMetrics(Store& store)
    : store_(store),
      rpcs_(registry_.AddCounter<2>("evault_rpcs_total", "RPCs finished, by method and gRPC status code.",
                                    {"method", "code"})),
      rpc_seconds_(registry_.AddHistogram<1>("evault_rpc_duration_seconds",
                                             "Time from an RPC's arrival to its reply, by method.", {"method"},
                                             kLatencyBounds)),
      storage_failures_(registry_.AddCounter<1>(
          "evault_storage_failures_total",
          "Failed storage operations, by kind (io, no_space, corrupt, other); each is also logged at error.",
          {"kind"})) {
  // Present from the start, so that an alert on their increase sees the first one.
  for (ErrorCode code : {ErrorCode::kIo, ErrorCode::kNoSpace, ErrorCode::kCorrupt, ErrorCode::kInternal}) {
    storage_failures_.Add({std::string(FailureKind(code))}, 0);
  }
  registry_.AddGauges([this] { return StoreTotals(); });
}

void ServerMetrics::RpcFinished(std::string_view rpc, grpc::StatusCode code, double seconds) {
  rpcs_.Add({std::string(rpc), std::string(StatusCodeName(code))});
  rpc_seconds_.Observe({std::string(rpc)}, seconds);
}

void ServerMetrics::StorageFailed(ErrorCode code) { storage_failures_.Add({std::string(FailureKind(code))}); }

std::vector<GaugeSample> ServerMetrics::StoreTotals() {
  auto vaults = store_.ListVaults();
  if (!vaults) {
    StorageFailed(vaults.error().code);
    return {{"evault_store_up", kStoreUpHelp, 0}};
  }
  double objects = 0, bytes = 0;
  for (const VaultSummary& v : *vaults) {
    objects += static_cast<double>(v.objects);
    bytes += static_cast<double>(v.bytes_used);
  }
  return {
      {"evault_store_up", kStoreUpHelp, 1},
      {"evault_vaults", "Vaults stored.", static_cast<double>(vaults->size())},
      {"evault_objects", "Objects stored in all vaults (envelopes, genesis included; not chunks).", objects},
      {"evault_stored_bytes", "Bytes counted against quotas in all vaults: serialized envelopes plus chunks.", bytes},
  };
}

}  // namespace evault::server
