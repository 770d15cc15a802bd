// A small pool of PostgreSQL connections for PostgresStore. A pqxx::connection is not
// thread-safe, so every store call leases one for its duration (a chunk upload for
// its whole transaction) and hands it back; idle connections are kept for the next.
//
// At most `max_connections` are open at once; a caller that finds them all leased
// waits up to `wait` for one, then gets kIo. Long leases (a chunk upload, held while
// its stream arrives) may take all but `reserved` of them: a call that holds one and
// needs a short one beside it (the service checks chunks while an upload is open) always
// finds one soon, so uploads can never starve the calls they wait for. A connection that broke (or whose state
// is unknown after an error) is Discard()ed by its leaseholder and closed instead of
// returned, so the next lease opens a fresh one: a restarted database costs the calls
// that were running, not the server.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <pqxx/connection>

#include "crypto/status.h"

namespace evault::server {

class PostgresPool {
 public:
  // Run once on each new connection: session settings, prepared statements. May throw
  // libpqxx's exceptions; the connection is then not used.
  using Setup = std::function<void(pqxx::connection&)>;

  // reserved < max_connections.
  PostgresPool(std::string conninfo, Setup setup, std::size_t max_connections, std::size_t reserved,
               std::chrono::milliseconds wait);
  ~PostgresPool();  // every lease must have ended

  PostgresPool(const PostgresPool&) = delete;
  PostgresPool& operator=(const PostgresPool&) = delete;

  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();  // hands the connection back, or closes it if discarded

    pqxx::connection& operator*() const { return *connection_; }
    pqxx::connection* operator->() const { return connection_.get(); }
    // The connection is broken or in an unknown state: close it rather than reuse it.
    void Discard() { discard_ = true; }

   private:
    friend class PostgresPool;
    Lease(PostgresPool& pool, std::unique_ptr<pqxx::connection> connection, bool long_lived);

    PostgresPool* pool_;
    std::unique_ptr<pqxx::connection> connection_;
    bool long_lived_;
    bool discard_ = false;
  };

  enum class Term { kShort, kLong };

  // An idle connection, or a new one (kIo if it cannot be opened: libpq's reason,
  // which names the server but never a password).
  Result<Lease> Acquire(Term term = Term::kShort);

 private:
  void Return(std::unique_ptr<pqxx::connection> connection, bool long_lived, bool discard);

  const std::string conninfo_;
  const Setup setup_;
  const std::size_t max_connections_;
  const std::size_t max_long_;
  const std::chrono::milliseconds wait_;

  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  std::size_t open_ = 0;  // idle plus leased, plus those being opened
  std::size_t long_ = 0;  // long leases, included in open_
};

}  // namespace evault::server
