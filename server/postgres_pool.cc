#include "server/postgres_pool.h"

#include <utility>

#include <fmt/format.h>
#include <pqxx/except>

namespace evault::server {

namespace {
// libpq's messages run over several lines ("...failed: Connection refused\n\tIs the
// server running..."); an error is one line.
std::string OneLine(std::string_view text) {
  std::string out;
  for (char c : text) {
    const bool space = c == '\n' || c == '\t' || c == '\r';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out.push_back(space ? ' ' : c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}
}  // namespace

PostgresPool::PostgresPool(std::string conninfo, Setup setup, std::size_t max_connections, std::size_t reserved,
                           std::chrono::milliseconds wait)
    : conninfo_(std::move(conninfo)),
      setup_(std::move(setup)),
      max_connections_(max_connections),
      max_long_(max_connections - reserved),
      wait_(wait) {}

PostgresPool::~PostgresPool() = default;

PostgresPool::Lease::Lease(PostgresPool& pool, std::unique_ptr<pqxx::connection> connection, bool long_lived)
    : pool_(&pool), connection_(std::move(connection)), long_lived_(long_lived) {}

PostgresPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_),
      connection_(std::move(other.connection_)),
      long_lived_(other.long_lived_),
      discard_(other.discard_) {}

PostgresPool::Lease::~Lease() {
  if (connection_) pool_->Return(std::move(connection_), long_lived_, discard_);
}

Result<PostgresPool::Lease> PostgresPool::Acquire(Term term) {
  const bool long_lived = term == Term::kLong;
  {
    std::unique_lock lock(mu_);
    const bool available = freed_.wait_for(lock, wait_, [&] {
      if (long_lived && long_ >= max_long_) return false;
      return !idle_.empty() || open_ < max_connections_;
    });
    if (!available) {
      return Fail(ErrorCode::kIo, fmt::format("storage: all {} PostgreSQL connections{} stayed busy",
                                              long_lived ? max_long_ : max_connections_,
                                              long_lived ? " for uploads" : ""));
    }
    if (long_lived) ++long_;
    if (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(connection), long_lived);
    }
    ++open_;  // counted while it is opened, outside the lock
  }
  try {
    auto connection = std::make_unique<pqxx::connection>(conninfo_);
    setup_(*connection);
    return Lease(*this, std::move(connection), long_lived);
  } catch (const pqxx::broken_connection& e) {
    Return(nullptr, long_lived, true);
    // libpq's reason: the host and port it tried, and what refused (never a password).
    return Fail(ErrorCode::kIo, "storage: cannot connect to PostgreSQL: " + OneLine(e.what()));
  } catch (const pqxx::sql_error& e) {
    Return(nullptr, long_lived, true);
    return Fail(ErrorCode::kIo, "storage: PostgreSQL refused the session set-up (SQLSTATE " + e.sqlstate() + ")");
  } catch (const std::exception&) {
    Return(nullptr, long_lived, true);
    return Fail(ErrorCode::kIo, "storage: cannot set up a PostgreSQL connection");
  }
}

void PostgresPool::Return(std::unique_ptr<pqxx::connection> connection, bool long_lived, bool discard) {
  {
    std::lock_guard lock(mu_);
    if (long_lived) --long_;
    if (connection && !discard) {
      idle_.push_back(std::move(connection));
    } else {
      --open_;
    }
  }
  // Both kinds of waiter may be able to go on now.
  freed_.notify_all();
  // A discarded connection closes here, outside the lock.
}

}  // namespace evault::server
