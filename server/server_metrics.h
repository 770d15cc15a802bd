// The metrics evault-server exposes (server/METRICS.md): RPCs by method and gRPC status
// code, their latency by method, storage failures by kind, and the store's totals
// (vaults, objects, bytes), read from Store::ListVaults at every scrape. The only
// labels are method names, status code names and failure kinds: never a vault id.
#pragma once

#include <string>

#include "server/metrics.h"
#include "server/rpc_log.h"
#include "server/store.h"

namespace evault::server {

class ServerMetrics final : public RpcObserver {
 public:
  // `store` must outlive this.
  explicit ServerMetrics(Store& store);

  void RpcFinished(std::string_view rpc, grpc::StatusCode code, double seconds) override;
  void StorageFailed(ErrorCode code) override;

  // The exposition text (format 0.0.4). Reads the store: a scrape costs one pass over
  // the vaults' records.
  std::string Render() const { return registry_.Render(); }

 private:
  std::vector<GaugeSample> StoreTotals();

  Store& store_;
  MetricsRegistry registry_;
  Counter<2>& rpcs_;
  Histogram<1>& rpc_seconds_;
  Counter<1>& storage_failures_;
};

}  // namespace evault::server
