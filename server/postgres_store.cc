#include "server/postgres_store.h"

#include <iterator>
#include <limits>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "server/postgres_pool.h"
#include "server/store_checks.h"
#include "vault/object.h"

namespace evault::server {

using crypto::ByteView;
using format::v1::ObjectEnvelope;

namespace {

// --- the schema -----------------------------------------------------------------------

constexpr const char* kSchemaTable = R"sql(
CREATE TABLE IF NOT EXISTS evault_schema (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  version  integer NOT NULL))sql";

// kMigrations[i] brings the schema from version i to i + 1, in the transaction that
// records the new version. A later version adds a migration here, never edits one.
// No foreign keys: vaults are never deleted, and every writer checks its vault under
// the vault's row lock already; a key from chunks to chunk_data would make each
// dropped duplicate (see Upload::Commit) scan chunks for references.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE IF NOT EXISTS vaults (
  vault_id    bytea PRIMARY KEY,
  head_seq    bigint NOT NULL,
  bytes_used  bigint NOT NULL,
  last_write  timestamptz,
  quota_bytes bigint NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS objects (
  vault_id   bytea NOT NULL,
  seq        bigint NOT NULL,
  object_id  bytea NOT NULL,
  membership boolean NOT NULL,
  envelope   bytea NOT NULL,
  PRIMARY KEY (vault_id, seq),
  UNIQUE (vault_id, object_id));
CREATE INDEX IF NOT EXISTS objects_membership ON objects (vault_id, seq) WHERE membership;
CREATE TABLE IF NOT EXISTS author_heads (
  vault_id   bytea NOT NULL,
  author     bytea NOT NULL,
  author_seq bigint NOT NULL,
  chain_hash bytea NOT NULL,
  PRIMARY KEY (vault_id, author));
CREATE TABLE IF NOT EXISTS spent_tokens (
  token_hash bytea PRIMARY KEY);
CREATE TABLE IF NOT EXISTS chunk_data (
  id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  data bytea NOT NULL);
ALTER TABLE chunk_data ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE TABLE IF NOT EXISTS chunks (
  vault_id bytea NOT NULL,
  chunk_id bytea NOT NULL,
  size     bigint NOT NULL,
  data_id  bigint NOT NULL,
  PRIMARY KEY (vault_id, chunk_id));
CREATE TABLE IF NOT EXISTS join_requests (
  vault_id  bytea NOT NULL,
  invite_id bytea NOT NULL,
  request   bytea NOT NULL,
  PRIMARY KEY (vault_id, invite_id));
)sql",
    // 1 -> 2: tokens the operator issues (`evault-server admin token`), the incarnation.
    // The note is bytea: it is the operator's text, whatever its encoding.
    R"sql(
CREATE TABLE IF NOT EXISTS enroll_tokens (
  token_hash bytea PRIMARY KEY,
  created    bigint NOT NULL,
  note       bytea NOT NULL,
  revoked    boolean NOT NULL DEFAULT false);
CREATE TABLE IF NOT EXISTS store_incarnation (
  only_row    boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  incarnation bytea NOT NULL);
)sql",
};
static_assert(std::size(kMigrations) == PostgresStore::kSchemaVersion);

// Concurrent first opens would race in CREATE TABLE IF NOT EXISTS; they take turns on
// this transaction-scoped advisory lock (an arbitrary key of this program's).
constexpr std::int64_t kSchemaLockKey = 0x65766175'6c742d31;  // "evault-1"

// --- prepared statements: every query that carries data -------------------------------

struct Statement {
  const char* name;
  const char* sql;
};

constexpr Statement kReadVault{"read_vault", "SELECT head_seq, bytes_used FROM vaults WHERE vault_id = $1"};
// The row lock that serialises the writers of one vault, in every process. NO KEY:
// the key is not changed, so it does not conflict with what a foreign key would take.
constexpr Statement kLockVault{"lock_vault",
                               "SELECT head_seq, bytes_used FROM vaults WHERE vault_id = $1 FOR NO KEY UPDATE"};
constexpr Statement kAddVaultBytes{"add_vault_bytes",
                                   "UPDATE vaults SET bytes_used = bytes_used + $2, last_write = clock_timestamp() "
                                   "WHERE vault_id = $1"};
constexpr Statement kSpendToken{"spend_token", "INSERT INTO spent_tokens (token_hash) VALUES ($1) ON CONFLICT DO NOTHING"};
constexpr Statement kCreateVault{"create_vault",
                                 "INSERT INTO vaults (vault_id, head_seq, bytes_used, last_write) "
                                 "VALUES ($1, 1, $2, clock_timestamp()) ON CONFLICT DO NOTHING"};
// Read by Summary(); last_write as whole seconds since the epoch, 0 if never written.
constexpr Statement kVaultSummary{"vault_summary",
                                  "SELECT vault_id, head_seq, bytes_used, "
                                  "coalesce(floor(extract(epoch FROM last_write))::bigint, 0), quota_bytes "
                                  "FROM vaults WHERE vault_id = $1"};
constexpr Statement kListVaults{"list_vaults",
                                "SELECT vault_id, head_seq, bytes_used, "
                                "coalesce(floor(extract(epoch FROM last_write))::bigint, 0), quota_bytes "
                                "FROM vaults ORDER BY vault_id"};
constexpr Statement kSetQuota{"set_quota", "UPDATE vaults SET quota_bytes = $2 WHERE vault_id = $1"};

// The objects of an append that are stored already ($2: every object id of the call).
constexpr Statement kStoredObjects{"stored_objects",
                                   "SELECT object_id, seq FROM objects WHERE vault_id = $1 AND object_id = ANY($2::bytea[])"};
// A whole append in one statement (see ObjectBatch): the new objects, their authors' new
// chain heads and the vault's counters.
constexpr Statement kStoreObjects{
    "store_objects",
    "WITH stored AS ("
    "  INSERT INTO objects (vault_id, seq, object_id, membership, envelope)"
    "  SELECT $1, * FROM unnest($2::bigint[], $3::bytea[], $4::boolean[], $5::bytea[])), "
    "heads AS ("
    "  INSERT INTO author_heads (vault_id, author, author_seq, chain_hash)"
    "  SELECT $1, * FROM unnest($6::bytea[], $7::bigint[], $8::bytea[])"
    "  ON CONFLICT (vault_id, author) DO UPDATE SET author_seq = EXCLUDED.author_seq, chain_hash = EXCLUDED.chain_hash) "
    "UPDATE vaults SET head_seq = $9, bytes_used = $10, last_write = clock_timestamp() WHERE vault_id = $1"};
// The vault's membership envelopes, counted on the partial index objects_membership
// (an index-only scan of a few entries per member). Run after kLockVault, so that this
// statement's snapshot holds every membership operation committed before the lock.
constexpr Statement kCountMembership{"count_membership",
                                     "SELECT count(*) FROM objects WHERE vault_id = $1 AND membership"};
constexpr Statement kFindObject{"find_object",
                                "SELECT seq, envelope FROM objects WHERE vault_id = $1 AND object_id = $2"};
// A running byte total stops the scan: every row while the total stays within $4, and
// the first row whatever its size.
constexpr Statement kScan{"scan",
                         "SELECT seq, envelope FROM ("
                         "  SELECT seq, envelope, row_number() OVER w AS n, sum(octet_length(envelope)) OVER w AS total"
                         "  FROM objects WHERE vault_id = $1 AND seq > $2"
                         "  WINDOW w AS (ORDER BY seq) ORDER BY seq LIMIT $3) s "
                         "WHERE n = 1 OR total <= $4 ORDER BY seq"};
constexpr Statement kAuthorHead{"author_head",
                                "SELECT author_seq, chain_hash FROM author_heads WHERE vault_id = $1 AND author = $2"};
constexpr Statement kMembership{"membership",
                                "SELECT envelope FROM objects WHERE vault_id = $1 AND membership ORDER BY seq"};

constexpr Statement kHasChunk{"has_chunk", "SELECT 1 FROM chunks WHERE vault_id = $1 AND chunk_id = $2"};
constexpr Statement kGetChunk{"get_chunk",
                              "SELECT d.data FROM chunks c JOIN chunk_data d ON d.id = c.data_id "
                              "WHERE c.vault_id = $1 AND c.chunk_id = $2"};
constexpr Statement kStageChunk{"stage_chunk", "INSERT INTO chunk_data (data) VALUES ($1) RETURNING id"};
constexpr Statement kLinkChunk{"link_chunk",
                               "INSERT INTO chunks (vault_id, chunk_id, size, data_id) VALUES ($1, $2, $3, $4) "
                               "ON CONFLICT DO NOTHING"};
constexpr Statement kDropChunkData{"drop_chunk_data", "DELETE FROM chunk_data WHERE id = $1"};

// Issued tokens, with whether a vault was created with each (columns as Token() reads).
constexpr Statement kIssueToken{"issue_token",
                                "INSERT INTO enroll_tokens (token_hash, created, note) VALUES ($1, $2, $3) "
                                "ON CONFLICT DO NOTHING"};
constexpr Statement kFindToken{"find_token",
                               "SELECT t.token_hash, t.created, t.note, t.revoked, s.token_hash IS NOT NULL "
                               "FROM enroll_tokens t LEFT JOIN spent_tokens s USING (token_hash) WHERE t.token_hash = $1"};
constexpr Statement kListTokens{"list_tokens",
                                "SELECT t.token_hash, t.created, t.note, t.revoked, s.token_hash IS NOT NULL "
                                "FROM enroll_tokens t LEFT JOIN spent_tokens s USING (token_hash) "
                                "ORDER BY t.created, t.token_hash"};
// CreateVault and RevokeEnrollToken take turns on the token's row: a create shares it
// (creates with different tokens never wait for each other), a revoke takes it alone.
constexpr Statement kShareToken{"share_token", "SELECT revoked FROM enroll_tokens WHERE token_hash = $1 FOR SHARE"};
constexpr Statement kLockToken{"lock_token", "SELECT revoked FROM enroll_tokens WHERE token_hash = $1 FOR UPDATE"};
constexpr Statement kTokenSpent{"token_spent", "SELECT 1 FROM spent_tokens WHERE token_hash = $1"};
constexpr Statement kRevokeToken{"revoke_token", "UPDATE enroll_tokens SET revoked = true WHERE token_hash = $1"};

constexpr Statement kReadIncarnation{"read_incarnation", "SELECT incarnation FROM store_incarnation"};
constexpr Statement kFirstIncarnation{"first_incarnation",
                                      "INSERT INTO store_incarnation (incarnation) VALUES ($1) ON CONFLICT DO NOTHING"};
constexpr Statement kRenewIncarnation{"renew_incarnation", "UPDATE store_incarnation SET incarnation = $1"};

constexpr Statement kPutJoin{"put_join",
                             "INSERT INTO join_requests (vault_id, invite_id, request) VALUES ($1, $2, $3) "
                             "ON CONFLICT DO NOTHING"};
constexpr Statement kListJoins{"list_joins",
                               "SELECT request FROM join_requests WHERE vault_id = $1 ORDER BY invite_id"};
constexpr Statement kRemoveJoin{"remove_join", "DELETE FROM join_requests WHERE vault_id = $1 AND invite_id = $2"};

constexpr const Statement* kStatements[] = {
    &kReadVault,    &kLockVault,  &kAddVaultBytes, &kSpendToken, &kCreateVault, &kVaultSummary,
    &kListVaults,   &kSetQuota,   &kStoredObjects, &kStoreObjects, &kCountMembership, &kFindObject, &kScan,
    &kAuthorHead,   &kMembership, &kHasChunk,      &kGetChunk,   &kStageChunk,  &kLinkChunk,
    &kDropChunkData, &kPutJoin,   &kListJoins,     &kRemoveJoin,
    &kIssueToken,   &kFindToken,  &kListTokens,    &kShareToken, &kLockToken,   &kTokenSpent,
    &kRevokeToken,  &kReadIncarnation, &kFirstIncarnation, &kRenewIncarnation};

// Each new connection: the isolation level and durability this store is written for,
// whatever the server's defaults, no NOTICE chatter, and the statements above.
void SetUpSession(pqxx::connection& c) {
  c.set_variable("default_transaction_isolation", "'read committed'");
  c.set_variable("synchronous_commit", "on");
  c.set_variable("client_min_messages", "warning");
  for (const Statement* s : kStatements) c.prepare(s->name, s->sql);
}

// --- values in and out ----------------------------------------------------------------

// bytea parameters go in binary, so no byte of them is ever parsed as SQL or text.
pqxx::binarystring Bin(ByteView b) { return pqxx::binarystring(b.data(), b.size()); }
pqxx::binarystring Bin(std::string_view s) { return pqxx::binarystring(s.data(), s.size()); }

// Counts and sizes are bigint: below 2^63 by far.
std::int64_t Big(std::uint64_t v) { return static_cast<std::int64_t>(v); }
std::uint64_t U64(const pqxx::field& f) { return static_cast<std::uint64_t>(f.as<std::int64_t>()); }

std::string Serialize(const google::protobuf::MessageLite& m) {
  std::string out;
  m.SerializeToString(&out);
  return out;
}

template <typename Message>
Result<Message> Parse(const pqxx::field& f, const char* what) {
  const pqxx::binarystring raw(f);
  Message m;
  if (!m.ParseFromArray(raw.data(), static_cast<int>(raw.size()))) {
    return Fail(ErrorCode::kCorrupt, fmt::format("storage: {} is malformed", what));
  }
  return m;
}

IssuedEnrollToken Token(const pqxx::row& r) {
  const pqxx::binarystring hash(r[0]);
  const pqxx::binarystring note(r[2]);
  return {crypto::Bytes(hash.data(), hash.data() + hash.size()), r[1].as<std::int64_t>(), note.str(),
          r[3].as<bool>(), r[4].as<bool>()};
}

VaultSummary Summary(const pqxx::row& r) {
  const pqxx::binarystring id(r[0]);
  return {crypto::Bytes(id.data(), id.data() + id.size()), U64(r[1]), U64(r[2]), r[3].as<std::int64_t>(), U64(r[4])};
}

// --- errors as values -----------------------------------------------------------------

// SQLSTATE classes after which the session is gone: connection exceptions (08) and
// operator intervention (57P: shutdown, terminated backend).
bool SessionLost(const std::string& sqlstate) { return sqlstate.starts_with("08") || sqlstate.starts_with("57P"); }

// Runs `body` on the leased connection, turning libpqxx's exceptions into errors. The
// message names the operation and the SQLSTATE only: the server's own text may quote
// values (a key in a constraint's DETAIL), and no stored byte belongs in a log line.
template <typename F>
auto Guarded(PostgresPool::Lease& lease, std::string_view what, F&& body)
    -> std::invoke_result_t<F&, pqxx::connection&> {
  try {
    return body(*lease);
  } catch (const pqxx::sql_error& e) {
    if (!lease->is_open() || SessionLost(e.sqlstate())) lease.Discard();
    if (e.sqlstate() == "53100") {
      return Fail(ErrorCode::kNoSpace, fmt::format("storage: PostgreSQL's disk is full (SQLSTATE 53100) in {}", what));
    }
    return Fail(ErrorCode::kIo, fmt::format("storage: PostgreSQL refused {} (SQLSTATE {})", what, e.sqlstate()));
  } catch (const pqxx::in_doubt_error&) {
    lease.Discard();
    return Fail(ErrorCode::kIo,
                fmt::format("storage: the connection to PostgreSQL broke while committing {}; it may or may not "
                            "have been stored",
                            what));
  } catch (const pqxx::broken_connection&) {
    lease.Discard();
    return Fail(ErrorCode::kIo, fmt::format("storage: lost the connection to PostgreSQL in {}", what));
  } catch (const std::exception&) {
    lease.Discard();
    return Fail(ErrorCode::kIo, fmt::format("storage: PostgreSQL failed in {}", what));
  }
}

// The same on a connection leased for this one call.
template <typename F>
auto WithConnection(PostgresPool& pool, std::string_view what, F&& body)
    -> std::invoke_result_t<F&, pqxx::connection&> {
  auto lease = pool.Acquire();
  if (!lease) return std::unexpected(std::move(lease.error()));
  return Guarded(*lease, what, body);
}

// A single-statement read in autocommit mode: no BEGIN and COMMIT round trips.
template <typename... Args>
pqxx::result ReadOnce(pqxx::connection& c, const Statement& s, Args&&... args) {
  pqxx::nontransaction tx(c);
  return tx.exec_prepared(s.name, std::forward<Args>(args)...);
}

// Column `column` of kReadVault (0: head seq, 1: bytes used); 0 if there is no such vault.
Result<std::uint64_t> ReadVaultCounter(PostgresPool& pool, ByteView vault_id, int column, std::string_view what) {
  EVAULT_TRY(CheckVaultId(vault_id));
  return WithConnection(pool, what, [&](pqxx::connection& c) -> Result<std::uint64_t> {
    const pqxx::result r = ReadOnce(c, kReadVault, Bin(vault_id));
    return r.empty() ? 0 : U64(r[0][column]);
  });
}

// A PostgreSQL array in its text input syntax, passed as one parameter: a batch of
// values costs one round trip, not one each. bytea elements are hex ("\\x..."), so no
// byte of them is ever read as syntax.
class ArrayText {
 public:
  void Add(std::int64_t v) { Next().append(std::to_string(v)); }
  void Add(bool v) { Next().push_back(v ? 't' : 'f'); }
  void Add(ByteView b) { Next().append("\"\\\\x").append(crypto::ToHex(b)).push_back('"'); }
  void Add(std::string_view b) { Add(crypto::AsBytes(b)); }
  std::string Text() const { return "{" + items_ + "}"; }

 private:
  std::string& Next() {
    if (!items_.empty()) items_.push_back(',');
    return items_;
  }
  std::string items_;
};

// The new objects of one append (or a creation's genesis), written by kStoreObjects.
class ObjectBatch {
 public:
  void Add(std::uint64_t seq, const ObjectEnvelope& e, const std::string& encoded) {
    seqs_.Add(Big(seq));
    ids_.Add(e.object_id());
    membership_.Add(!e.public_body().empty());
    envelopes_.Add(encoded);
    last_of_author_[e.author()] = &e;  // later objects of an author replace its head
  }
  bool empty() const { return last_of_author_.empty(); }

  void Store(pqxx::work& tx, ByteView vault_id, std::uint64_t head_seq, std::uint64_t bytes_used) const {
    ArrayText authors, author_seqs, hashes;
    for (const auto& [author, e] : last_of_author_) {
      authors.Add(author);
      author_seqs.Add(Big(e->author_seq()));
      hashes.Add(ByteView(vault::ObjectCodec::ChainHash(*e)));
    }
    tx.exec_prepared(kStoreObjects.name, Bin(vault_id), seqs_.Text(), ids_.Text(), membership_.Text(),
                     envelopes_.Text(), authors.Text(), author_seqs.Text(), hashes.Text(), Big(head_seq),
                     Big(bytes_used));
  }

 private:
  ArrayText seqs_, ids_, membership_, envelopes_;
  std::unordered_map<std::string, const ObjectEnvelope*> last_of_author_;
};

}  // namespace

// --- opening --------------------------------------------------------------------------

PostgresStore::PostgresStore(std::unique_ptr<PostgresPool> pool) : pool_(std::move(pool)) {}
PostgresStore::~PostgresStore() = default;

Result<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& conninfo, PostgresLimits limits) {
  if (limits.reserved_for_calls == 0 || limits.reserved_for_calls >= limits.max_connections) {
    return Fail(ErrorCode::kInvalidArgument, "PostgreSQL connection limits: 0 < reserved < max is needed");
  }
  auto pool = std::make_unique<PostgresPool>(conninfo, SetUpSession, limits.max_connections,
                                             limits.reserved_for_calls, limits.wait);
  EVAULT_TRY(WithConnection(*pool, "the schema set-up", [](pqxx::connection& c) -> Status {
    pqxx::work tx(c);
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kSchemaLockKey);
    tx.exec(kSchemaTable);
    const pqxx::result r = tx.exec("SELECT version FROM evault_schema");
    const int version = r.empty() ? 0 : r[0][0].as<int>();
    if (version > kSchemaVersion) {
      return Fail(ErrorCode::kUnsupportedVersion,
                  fmt::format("the database's evault schema is version {}, newer than this server's ({})", version,
                              kSchemaVersion));
    }
    if (version == kSchemaVersion) return Ok();
    for (int v = version; v < kSchemaVersion; ++v) tx.exec(kMigrations[v]);
    tx.exec_params(
        "INSERT INTO evault_schema (version) VALUES ($1) ON CONFLICT (only_row) DO UPDATE SET version = EXCLUDED.version",
        kSchemaVersion);
    tx.commit();
    return Ok();
  }));
  std::unique_ptr<PostgresStore> store(new PostgresStore(std::move(pool)));
  // The first store to open the database makes its incarnation; the others read it.
  EVAULT_ASSIGN_OR_RETURN(store->incarnation_,
                          WithConnection(*store->pool_, "Incarnation", [](pqxx::connection& c) -> Result<crypto::Bytes> {
                            pqxx::work tx(c);
                            tx.exec_prepared(kFirstIncarnation.name, Bin(ByteView(crypto::RandomBytes(16))));
                            const pqxx::binarystring incarnation(tx.exec_prepared1(kReadIncarnation.name)[0]);
                            tx.commit();
                            return crypto::Bytes(incarnation.data(), incarnation.data() + incarnation.size());
                          }));
  return store;
}

// --- vaults and objects ---------------------------------------------------------------

Result<bool> PostgresStore::VaultExists(ByteView vault_id) {
  EVAULT_TRY(CheckVaultId(vault_id));
  return WithConnection(*pool_, "VaultExists", [&](pqxx::connection& c) -> Result<bool> {
    return !ReadOnce(c, kReadVault, Bin(vault_id)).empty();
  });
}

Result<CreateOutcome> PostgresStore::CreateVault(ByteView vault_id, const ObjectEnvelope& genesis,
                                                 ByteView enroll_token_hash) {
  EVAULT_TRY(CheckVaultId(vault_id));
  EVAULT_TRY(CheckEnvelope(genesis));
  if (enroll_token_hash.empty()) return Fail(ErrorCode::kInvalidArgument, "enrollment token hash is empty");
  const std::string encoded = Serialize(genesis);
  return WithConnection(*pool_, "CreateVault", [&](pqxx::connection& c) -> Result<CreateOutcome> {
    // A concurrent create with the same token or vault waits here for the other's
    // outcome. Returning before commit() rolls back: nothing written, nothing spent.
    pqxx::work tx(c);
    const pqxx::result issued = tx.exec_prepared(kShareToken.name, Bin(enroll_token_hash));
    if (!issued.empty() && issued[0][0].as<bool>()) return CreateOutcome::kTokenRevoked;
    if (tx.exec_prepared(kSpendToken.name, Bin(enroll_token_hash)).affected_rows() == 0) {
      return CreateOutcome::kTokenSpent;
    }
    if (tx.exec_prepared(kCreateVault.name, Bin(vault_id), Big(encoded.size())).affected_rows() == 0) {
      return CreateOutcome::kVaultExists;
    }
    ObjectBatch batch;
    batch.Add(1, genesis, encoded);
    batch.Store(tx, vault_id, 1, encoded.size());
    tx.commit();
    return CreateOutcome::kCreated;
  });
}

Result<std::vector<Appended>> PostgresStore::Append(ByteView vault_id, std::span<const ObjectEnvelope> envelopes,
                                                    std::optional<std::uint64_t> membership_ops) {
  EVAULT_TRY(CheckVaultId(vault_id));
  for (const auto& e : envelopes) EVAULT_TRY(CheckEnvelope(e));
  return WithConnection(*pool_, "Append", [&](pqxx::connection& c) -> Result<std::vector<Appended>> {
    pqxx::work tx(c);
    const pqxx::result vault = tx.exec_prepared(kLockVault.name, Bin(vault_id));
    if (vault.empty()) return Fail(ErrorCode::kNotFound, "no such vault");
    // Under the row lock: every other process's append to this vault either committed
    // before this statement's snapshot or waits for our COMMIT. Counted, not kept in a
    // column of vaults: a count cannot drift from the rows (not even with a replica of
    // an older build still appending during an upgrade), and it needs no new schema.
    if (membership_ops &&
        U64(tx.exec_prepared1(kCountMembership.name, Bin(vault_id))[0]) != *membership_ops) {
      return Fail(ErrorCode::kAborted, "the vault's membership changed since the append was checked");
    }
    std::uint64_t head = U64(vault[0][0]);
    std::uint64_t bytes_used = U64(vault[0][1]);

    // Object id -> seq: those stored already, then those this call stores.
    std::unordered_map<std::string, std::uint64_t> known;
    ArrayText ids;
    for (const auto& e : envelopes) ids.Add(e.object_id());
    for (const auto& row : tx.exec_prepared(kStoredObjects.name, Bin(vault_id), ids.Text())) {
      known.emplace(pqxx::binarystring(row[0]).str(), U64(row[1]));
    }
    std::vector<Appended> out;
    out.reserve(envelopes.size());
    ObjectBatch batch;
    // Read in this transaction, after the row lock: no other append to the vault runs.
    ChainExtension chains([&](const std::string& author) -> Result<ChainHead> {
      const pqxx::result r = tx.exec_prepared(kAuthorHead.name, Bin(vault_id), Bin(crypto::AsBytes(author)));
      if (r.empty()) return ChainHead{};
      const pqxx::binarystring hash(r[0][1]);
      return ChainHead{U64(r[0][0]), crypto::Bytes(hash.data(), hash.data() + hash.size())};
    });
    for (const auto& e : envelopes) {
      if (auto it = known.find(e.object_id()); it != known.end()) {
        out.push_back({it->second, true});
        continue;
      }
      EVAULT_TRY(chains.Check(e));
      const std::string encoded = Serialize(e);
      const std::uint64_t seq = ++head;
      bytes_used += encoded.size();
      batch.Add(seq, e, encoded);
      known.emplace(e.object_id(), seq);
      out.push_back({seq, false});
    }
    if (batch.empty()) return out;  // nothing new: nothing to commit
    batch.Store(tx, vault_id, head, bytes_used);
    tx.commit();
    return out;
  });
}

Result<std::uint64_t> PostgresStore::HeadSeq(ByteView vault_id) {
  return ReadVaultCounter(*pool_, vault_id, 0, "HeadSeq");
}

Result<std::optional<StoredObject>> PostgresStore::FindObject(ByteView vault_id, ByteView object_id) {
  EVAULT_TRY(CheckVaultId(vault_id));
  if (object_id.size() != kIdBytes) return Fail(ErrorCode::kInvalidArgument, "object id must be 16 bytes");
  return WithConnection(*pool_, "FindObject", [&](pqxx::connection& c) -> Result<std::optional<StoredObject>> {
    const pqxx::result r = ReadOnce(c, kFindObject, Bin(vault_id), Bin(object_id));
    if (r.empty()) return std::nullopt;
    EVAULT_ASSIGN_OR_RETURN(auto envelope, Parse<ObjectEnvelope>(r[0][1], "object"));
    return StoredObject{U64(r[0][0]), std::move(envelope)};
  });
}

Result<std::vector<StoredObject>> PostgresStore::Scan(ByteView vault_id, std::uint64_t after_seq,
                                                      std::size_t max_count, std::size_t max_bytes) {
  EVAULT_TRY(CheckVaultId(vault_id));
  constexpr std::uint64_t kBigMax = std::numeric_limits<std::int64_t>::max();
  if (max_count == 0 || after_seq >= kBigMax) return std::vector<StoredObject>{};
  return WithConnection(*pool_, "Scan", [&](pqxx::connection& c) -> Result<std::vector<StoredObject>> {
    const pqxx::result r = ReadOnce(c, kScan, Bin(vault_id), Big(after_seq), Big(std::min<std::uint64_t>(max_count, kBigMax)),
                                    Big(std::min<std::uint64_t>(max_bytes, kBigMax)));
    std::vector<StoredObject> out;
    out.reserve(r.size());
    for (const auto& row : r) {
      EVAULT_ASSIGN_OR_RETURN(auto envelope, Parse<ObjectEnvelope>(row[1], "object"));
      out.push_back({U64(row[0]), std::move(envelope)});
    }
    return out;
  });
}

Result<ChainHead> PostgresStore::AuthorHead(ByteView vault_id, ByteView author) {
  EVAULT_TRY(CheckVaultId(vault_id));
  if (author.size() != kAuthorBytes) return Fail(ErrorCode::kInvalidArgument, "author must be 32 bytes");
  return WithConnection(*pool_, "AuthorHead", [&](pqxx::connection& c) -> Result<ChainHead> {
    const pqxx::result r = ReadOnce(c, kAuthorHead, Bin(vault_id), Bin(author));
    if (r.empty()) return ChainHead{};
    const pqxx::binarystring hash(r[0][1]);
    return ChainHead{U64(r[0][0]), crypto::Bytes(hash.data(), hash.data() + hash.size())};
  });
}

Result<std::vector<ObjectEnvelope>> PostgresStore::MembershipEnvelopes(ByteView vault_id) {
  EVAULT_TRY(CheckVaultId(vault_id));
  return WithConnection(*pool_, "MembershipEnvelopes", [&](pqxx::connection& c) -> Result<std::vector<ObjectEnvelope>> {
    const pqxx::result r = ReadOnce(c, kMembership, Bin(vault_id));
    std::vector<ObjectEnvelope> out;
    out.reserve(r.size());
    for (const auto& row : r) {
      EVAULT_ASSIGN_OR_RETURN(auto envelope, Parse<ObjectEnvelope>(row[0], "membership object"));
      out.push_back(std::move(envelope));
    }
    return out;
  });
}

Result<std::uint64_t> PostgresStore::BytesUsed(ByteView vault_id) {
  return ReadVaultCounter(*pool_, vault_id, 1, "BytesUsed");
}

// --- the operator's view --------------------------------------------------------------

Result<std::vector<VaultSummary>> PostgresStore::ListVaults() {
  return WithConnection(*pool_, "ListVaults", [&](pqxx::connection& c) -> Result<std::vector<VaultSummary>> {
    const pqxx::result r = ReadOnce(c, kListVaults);
    std::vector<VaultSummary> out;
    out.reserve(r.size());
    for (const auto& row : r) out.push_back(Summary(row));
    return out;
  });
}

Result<std::optional<VaultSummary>> PostgresStore::FindVault(ByteView vault_id) {
  EVAULT_TRY(CheckVaultId(vault_id));
  return WithConnection(*pool_, "FindVault", [&](pqxx::connection& c) -> Result<std::optional<VaultSummary>> {
    const pqxx::result r = ReadOnce(c, kVaultSummary, Bin(vault_id));
    if (r.empty()) return std::nullopt;
    return Summary(r[0]);
  });
}

Status PostgresStore::SetVaultQuota(ByteView vault_id, std::uint64_t quota_bytes) {
  EVAULT_TRY(CheckVaultId(vault_id));
  if (quota_bytes > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return Fail(ErrorCode::kInvalidArgument, "a quota must be below 2^63 bytes");
  }
  return WithConnection(*pool_, "SetVaultQuota", [&](pqxx::connection& c) -> Status {
    pqxx::work tx(c);
    if (tx.exec_prepared(kSetQuota.name, Bin(vault_id), Big(quota_bytes)).affected_rows() == 0) {
      return Fail(ErrorCode::kNotFound, "no such vault");
    }
    tx.commit();
    return Ok();
  });
}

// --- enrollment tokens issued by the operator ------------------------------------------

Status PostgresStore::IssueEnrollToken(ByteView token_hash, std::int64_t created_unix, std::string_view note) {
  EVAULT_TRY(CheckTokenHash(token_hash));
  EVAULT_TRY(CheckEnrollTokenNote(note));
  return WithConnection(*pool_, "IssueEnrollToken", [&](pqxx::connection& c) -> Status {
    pqxx::work tx(c);
    if (tx.exec_prepared(kIssueToken.name, Bin(token_hash), created_unix, Bin(note)).affected_rows() == 0) {
      return Fail(ErrorCode::kAlreadyExists, "that enrollment token is issued already");
    }
    tx.commit();
    return Ok();
  });
}

Result<std::optional<IssuedEnrollToken>> PostgresStore::FindEnrollToken(ByteView token_hash) {
  EVAULT_TRY(CheckTokenHash(token_hash));
  return WithConnection(*pool_, "FindEnrollToken", [&](pqxx::connection& c) -> Result<std::optional<IssuedEnrollToken>> {
    const pqxx::result r = ReadOnce(c, kFindToken, Bin(token_hash));
    if (r.empty()) return std::nullopt;
    return Token(r[0]);
  });
}

Result<std::vector<IssuedEnrollToken>> PostgresStore::ListEnrollTokens() {
  return WithConnection(*pool_, "ListEnrollTokens", [&](pqxx::connection& c) -> Result<std::vector<IssuedEnrollToken>> {
    const pqxx::result r = ReadOnce(c, kListTokens);
    std::vector<IssuedEnrollToken> out;
    out.reserve(r.size());
    for (const auto& row : r) out.push_back(Token(row));
    return out;
  });
}

// Under the token's row lock, a CreateVault that shared it first has committed (its
// spending is seen by the next statement) and one that comes later waits, then sees
// the token revoked.
Result<RevokeOutcome> PostgresStore::RevokeEnrollToken(ByteView token_hash) {
  EVAULT_TRY(CheckTokenHash(token_hash));
  return WithConnection(*pool_, "RevokeEnrollToken", [&](pqxx::connection& c) -> Result<RevokeOutcome> {
    pqxx::work tx(c);
    const pqxx::result token = tx.exec_prepared(kLockToken.name, Bin(token_hash));
    if (token.empty()) return Fail(ErrorCode::kNotFound, "no enrollment token with that hash was issued");
    if (!tx.exec_prepared(kTokenSpent.name, Bin(token_hash)).empty()) return RevokeOutcome::kSpent;
    if (token[0][0].as<bool>()) return RevokeOutcome::kAlreadyRevoked;
    tx.exec_prepared(kRevokeToken.name, Bin(token_hash));
    tx.commit();
    return RevokeOutcome::kRevoked;
  });
}

// --- the store's identity, backups ------------------------------------------------------

Result<crypto::Bytes> PostgresStore::Incarnation() {
  std::lock_guard lock(incarnation_mu_);
  return incarnation_;
}

// Other servers on the same database keep the incarnation they read when they opened
// it: the operator runs this (`evault-server admin mark-restored`) with all stopped.
Status PostgresStore::RenewIncarnation() {
  crypto::Bytes fresh = crypto::RandomBytes(16);
  EVAULT_TRY(WithConnection(*pool_, "RenewIncarnation", [&](pqxx::connection& c) -> Status {
    pqxx::work tx(c);
    tx.exec_prepared(kRenewIncarnation.name, Bin(ByteView(fresh)));
    tx.commit();
    return Ok();
  }));
  std::lock_guard lock(incarnation_mu_);
  incarnation_ = std::move(fresh);
  return Ok();
}

Status PostgresStore::Backup(const std::filesystem::path&) {
  return Fail(ErrorCode::kUnsupported,
              "a PostgreSQL store is backed up with PostgreSQL's own tools, pg_dump or pg_basebackup; after "
              "restoring one, run `evault-server admin mark-restored --postgres CONNINFO` before starting the servers");
}

// --- attachment chunks ----------------------------------------------------------------

Result<bool> PostgresStore::HasChunk(ByteView vault_id, ByteView chunk_id) {
  EVAULT_TRY(CheckVaultId(vault_id));
  EVAULT_TRY(CheckChunkId(crypto::AsText(chunk_id)));
  return WithConnection(*pool_, "HasChunk", [&](pqxx::connection& c) -> Result<bool> {
    return !ReadOnce(c, kHasChunk, Bin(vault_id), Bin(chunk_id)).empty();
  });
}

// One upload is one transaction on one leased connection, opened at the first Stage
// (a stream that sends nothing holds no connection). Stage inserts each new chunk's
// bytes into chunk_data: written once, streaming, and visible to no other session.
// Commit locks the vault's row, links each staged chunk to its id in `chunks` unless
// another upload linked it first (then the staged copy is deleted and not counted),
// adds the linked bytes to the vault, and COMMITs: visible and durable at once.
// Dropped without Commit, the transaction rolls back, and a crash does the same.
//
// chunk_data has no unique key, so two uploads staging the same chunk never wait for
// each other; `chunks` has one, and only Commit writes it, under the vault's row lock,
// so the second linker finds the first one's row committed and counts nothing.
class PostgresStore::Upload final : public ChunkUpload {
 public:
  Upload(PostgresPool& pool, ByteView vault_id) : pool_(pool), vault_id_(vault_id.begin(), vault_id.end()) {}

  Status Stage(std::span<const sync::v1::Chunk> chunks) override {
    EVAULT_TRY(CheckUsable());
    for (const auto& c : chunks) EVAULT_TRY(CheckChunkId(c.chunk_id()));
    if (!lease_) {
      EVAULT_ASSIGN_OR_RETURN(auto lease, pool_.Acquire(PostgresPool::Term::kLong));
      lease_.emplace(std::move(lease));
    }
    return Finish(Guarded(*lease_, "Stage", [&](pqxx::connection& c) -> Status {
      if (!tx_) tx_ = std::make_unique<pqxx::work>(c);
      for (const auto& chunk : chunks) {
        if (staged_ids_.contains(chunk.chunk_id())) continue;
        if (!tx_->exec_prepared(kHasChunk.name, Bin(vault()), Bin(chunk.chunk_id())).empty()) continue;
        const pqxx::row row = tx_->exec_prepared1(kStageChunk.name, Bin(chunk.data()));
        staged_ids_.insert(chunk.chunk_id());
        staged_.push_back({chunk.chunk_id(), chunk.data().size(), row[0].as<std::int64_t>()});
        staged_bytes_ += chunk.data().size();
      }
      return Ok();
    }));
  }

  std::uint64_t staged_bytes() const override { return staged_bytes_; }

  Result<std::uint64_t> Commit() override {
    EVAULT_TRY(CheckUsable());
    committed_ = true;
    if (staged_.empty()) {  // nothing new (or nothing staged): nothing to link
      Release();
      return std::uint64_t{0};
    }
    auto added = Guarded(*lease_, "Commit", [&](pqxx::connection&) -> Result<std::uint64_t> {
      if (tx_->exec_prepared(kLockVault.name, Bin(vault())).empty()) return Fail(ErrorCode::kNotFound, "no such vault");
      std::uint64_t added = 0;
      for (const auto& s : staged_) {
        if (tx_->exec_prepared(kLinkChunk.name, Bin(vault()), Bin(s.chunk_id), Big(s.size), s.data_id).affected_rows() > 0) {
          added += s.size;
        } else {
          tx_->exec_prepared(kDropChunkData.name, s.data_id);  // another upload committed it first
        }
      }
      if (added > 0) tx_->exec_prepared(kAddVaultBytes.name, Bin(vault()), Big(added));
      tx_->commit();
      return added;
    });
    Release();
    return added;
  }

 private:
  struct Staged {
    std::string chunk_id;
    std::uint64_t size = 0;
    std::int64_t data_id = 0;  // its row in chunk_data
  };

  ByteView vault() const { return vault_id_; }

  Status CheckUsable() const {
    if (committed_) return Fail(ErrorCode::kInvalidArgument, "the upload is already committed");
    if (failed_) return Fail(ErrorCode::kIo, "storage: the upload failed earlier; nothing of it was stored");
    return Ok();
  }

  // After a failed Stage the transaction is aborted: roll back and give up the upload.
  Status Finish(Status s) {
    if (!s) {
      failed_ = true;
      Release();
    }
    return s;
  }

  // Ends the transaction (a rollback unless it committed), then hands the connection back.
  void Release() {
    tx_.reset();
    lease_.reset();
  }

  PostgresPool& pool_;
  crypto::Bytes vault_id_;
  std::optional<PostgresPool::Lease> lease_;
  std::unique_ptr<pqxx::work> tx_;  // declared after lease_: always ends before it
  std::unordered_set<std::string> staged_ids_;
  std::vector<Staged> staged_;
  std::uint64_t staged_bytes_ = 0;
  bool committed_ = false;
  bool failed_ = false;
};

Result<std::unique_ptr<Store::ChunkUpload>> PostgresStore::BeginChunkUpload(ByteView vault_id) {
  EVAULT_ASSIGN_OR_RETURN(bool exists, VaultExists(vault_id));
  if (!exists) return Fail(ErrorCode::kNotFound, "no such vault");
  return std::make_unique<Upload>(*pool_, vault_id);
}

Result<std::optional<std::string>> PostgresStore::GetChunk(ByteView vault_id, ByteView chunk_id) {
  EVAULT_TRY(CheckVaultId(vault_id));
  EVAULT_TRY(CheckChunkId(crypto::AsText(chunk_id)));
  return WithConnection(*pool_, "GetChunk", [&](pqxx::connection& c) -> Result<std::optional<std::string>> {
    const pqxx::result r = ReadOnce(c, kGetChunk, Bin(vault_id), Bin(chunk_id));
    if (r.empty()) return std::nullopt;  // absent, or staged by an upload not yet committed
    return pqxx::binarystring(r[0][0]).str();
  });
}

// --- join requests --------------------------------------------------------------------

Result<bool> PostgresStore::PutJoinRequest(const sync::v1::JoinRequest& request) {
  const ByteView vault_id = crypto::AsBytes(request.vault_id());
  EVAULT_TRY(CheckVaultId(vault_id));
  if (request.invite_id().empty() || request.invite_id().size() > 64) {
    return Fail(ErrorCode::kInvalidArgument, "invite id must be 1 to 64 bytes");
  }
  return WithConnection(*pool_, "PutJoinRequest", [&](pqxx::connection& c) -> Result<bool> {
    pqxx::work tx(c);
    const bool stored =
        tx.exec_prepared(kPutJoin.name, Bin(vault_id), Bin(request.invite_id()), Bin(Serialize(request))).affected_rows() > 0;
    tx.commit();
    return stored;
  });
}

Result<std::vector<sync::v1::JoinRequest>> PostgresStore::ListJoinRequests(ByteView vault_id) {
  EVAULT_TRY(CheckVaultId(vault_id));
  return WithConnection(*pool_, "ListJoinRequests", [&](pqxx::connection& c) -> Result<std::vector<sync::v1::JoinRequest>> {
    const pqxx::result r = ReadOnce(c, kListJoins, Bin(vault_id));
    std::vector<sync::v1::JoinRequest> out;
    out.reserve(r.size());
    for (const auto& row : r) {
      EVAULT_ASSIGN_OR_RETURN(auto request, Parse<sync::v1::JoinRequest>(row[0], "join request"));
      out.push_back(std::move(request));
    }
    return out;
  });
}

Status PostgresStore::RemoveJoinRequest(ByteView vault_id, ByteView invite_id) {
  EVAULT_TRY(CheckVaultId(vault_id));
  return WithConnection(*pool_, "RemoveJoinRequest", [&](pqxx::connection& c) -> Status {
    pqxx::work tx(c);
    tx.exec_prepared(kRemoveJoin.name, Bin(vault_id), Bin(invite_id));
    tx.commit();
    return Ok();
  });
}

}  // namespace evault::server
