// The Store contract: gap-free sequences, idempotent appends, chain heads, scan
// limits, chunks, first-wins join requests, single-use tokens, and durability across
// a reopen. See store_conformance.h.
#include "tests/server/store_conformance.h"

#include <algorithm>
#include <set>
#include <thread>

#include "server/enroll_tokens.h"

namespace evault::server::testing {

void StoreConformance::SetUp() {
  crypto::EnsureSodium();
  store_ = GetParam().open(dir_.path());
  ASSERT_NE(store_, nullptr);
}

void StoreConformance::Reopen() {
  store_.reset();
  store_ = GetParam().open(dir_.path());
  ASSERT_NE(store_, nullptr);
}

namespace {


sync::v1::Chunk MakeChunk(const Bytes& id, std::size_t size) {
  sync::v1::Chunk c;
  c.set_chunk_id(Str(id));
  c.set_data(Str(crypto::RandomBytes(size)));
  return c;
}

sync::v1::JoinRequest MakeJoin(const Bytes& vault_id, const Bytes& invite_id, const Device& d) {
  sync::v1::JoinRequest r;
  r.set_vault_id(Str(vault_id));
  r.set_invite_id(Str(invite_id));
  *r.mutable_device() = d.keys();
  r.set_proof(Str(crypto::RandomBytes(32)));
  r.set_device_signature(Str(crypto::RandomBytes(64)));
  return r;
}

class World {
 public:
  explicit World(Store& store) : store_(store) {}

  // Creates a vault with a fresh token; returns the genesis.
  ObjectEnvelope Create(TestVault& v, Device& owner) {
    ObjectEnvelope g = v.Genesis(owner);
    auto outcome = store_.CreateVault(v.id, g, EnrollTokenHash(NextToken()));
    EXPECT_TRUE(outcome.has_value() && *outcome == CreateOutcome::kCreated);
    return g;
  }

  std::string NextToken() { return "token-number-" + std::to_string(++tokens_) + "-abcdefgh"; }

 private:
  Store& store_;
  int tokens_ = 0;
};

}  // namespace

TEST_P(StoreConformance, CreateVaultStoresGenesisAtSeqOne) {
  TestVault v;
  Device owner;
  ASSERT_OK_AND_ASSIGN(bool before, store().VaultExists(v.id));
  EXPECT_FALSE(before);
  ASSERT_OK_AND_ASSIGN(std::uint64_t head0, store().HeadSeq(v.id));
  EXPECT_EQ(head0, 0u);

  ObjectEnvelope g = v.Genesis(owner);
  ASSERT_OK_AND_ASSIGN(CreateOutcome outcome, store().CreateVault(v.id, g, EnrollTokenHash("a-token-long-enough")));
  EXPECT_EQ(outcome, CreateOutcome::kCreated);
  ASSERT_OK_AND_ASSIGN(bool after, store().VaultExists(v.id));
  EXPECT_TRUE(after);
  ASSERT_OK_AND_ASSIGN(std::uint64_t head, store().HeadSeq(v.id));
  EXPECT_EQ(head, 1u);
  ASSERT_OK_AND_ASSIGN(auto found, store().FindObject(v.id, ToBytes(g.object_id())));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->server_seq, 1u);
  EXPECT_EQ(found->envelope.SerializeAsString(), g.SerializeAsString());
  ASSERT_OK_AND_ASSIGN(ChainHead chain, store().AuthorHead(v.id, owner.signing.public_key()));
  EXPECT_EQ(chain.author_seq, 1u);
  EXPECT_EQ(chain.hash, vault::ObjectCodec::ChainHash(g));
  ASSERT_OK_AND_ASSIGN(auto ops, store().MembershipEnvelopes(v.id));
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].SerializeAsString(), g.SerializeAsString());
  ASSERT_OK_AND_ASSIGN(std::uint64_t used, store().BytesUsed(v.id));
  EXPECT_EQ(used, g.ByteSizeLong());
}

TEST_P(StoreConformance, CreatingAnExistingVaultWritesNothingAndSpendsNoToken) {
  TestVault v;
  Device owner, other;
  World w(store());
  w.Create(v, owner);
  ObjectEnvelope second = v.Genesis(other);
  const Bytes token = EnrollTokenHash("an-unspent-token-1234");
  ASSERT_OK_AND_ASSIGN(CreateOutcome outcome, store().CreateVault(v.id, second, token));
  EXPECT_EQ(outcome, CreateOutcome::kVaultExists);
  ASSERT_OK_AND_ASSIGN(std::uint64_t head, store().HeadSeq(v.id));
  EXPECT_EQ(head, 1u);
  // The token was not spent by the refused create.
  TestVault v2;
  ASSERT_OK_AND_ASSIGN(CreateOutcome again, store().CreateVault(v2.id, v2.Genesis(other), token));
  EXPECT_EQ(again, CreateOutcome::kCreated);
}

TEST_P(StoreConformance, EnrollmentTokensAreSingleUse) {
  Device owner;
  TestVault a, b;
  const Bytes token = EnrollTokenHash("single-use-token-xyz");
  ASSERT_OK_AND_ASSIGN(CreateOutcome first, store().CreateVault(a.id, a.Genesis(owner), token));
  EXPECT_EQ(first, CreateOutcome::kCreated);
  ASSERT_OK_AND_ASSIGN(CreateOutcome second, store().CreateVault(b.id, b.Genesis(owner), token));
  EXPECT_EQ(second, CreateOutcome::kTokenSpent);
  ASSERT_OK_AND_ASSIGN(bool exists, store().VaultExists(b.id));
  EXPECT_FALSE(exists);
}

TEST_P(StoreConformance, AppendsGetGapFreeSequences) {
  TestVault v;
  Device owner, other;
  World w(store());
  w.Create(v, owner);
  std::uint64_t expected = 2;
  for (std::size_t batch_size : {1u, 3u, 5u}) {
    std::vector<ObjectEnvelope> batch;
    for (std::size_t i = 0; i < batch_size; ++i) batch.push_back(v.Sealed(i % 2 ? other : owner));
    ASSERT_OK_AND_ASSIGN(auto appended, store().Append(v.id, batch));
    ASSERT_EQ(appended.size(), batch_size);
    for (const auto& a : appended) {
      EXPECT_FALSE(a.existed);
      EXPECT_EQ(a.server_seq, expected++);
    }
  }
  ASSERT_OK_AND_ASSIGN(std::uint64_t head, store().HeadSeq(v.id));
  EXPECT_EQ(head, expected - 1);

  TestVault missing;
  std::vector<ObjectEnvelope> one = {missing.Sealed(owner)};
  auto refused = store().Append(missing.id, one);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kNotFound);
}

TEST_P(StoreConformance, AppendIsIdempotentPerObjectId) {
  TestVault v;
  Device owner;
  World w(store());
  w.Create(v, owner);
  std::vector<ObjectEnvelope> batch = {v.Sealed(owner), v.Sealed(owner)};
  ASSERT_OK_AND_ASSIGN(auto first, store().Append(v.id, batch));
  ASSERT_OK_AND_ASSIGN(std::uint64_t used, store().BytesUsed(v.id));

  ASSERT_OK_AND_ASSIGN(auto again, store().Append(v.id, batch));
  ASSERT_EQ(again.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(again[i].existed);
    EXPECT_EQ(again[i].server_seq, first[i].server_seq);
  }
  // The same object twice in one call: stored once.
  ObjectEnvelope e = v.Sealed(owner);
  std::vector<ObjectEnvelope> twice = {e, e};
  ASSERT_OK_AND_ASSIGN(auto dup, store().Append(v.id, twice));
  EXPECT_FALSE(dup[0].existed);
  EXPECT_TRUE(dup[1].existed);
  EXPECT_EQ(dup[0].server_seq, dup[1].server_seq);
  ASSERT_OK_AND_ASSIGN(std::uint64_t head, store().HeadSeq(v.id));
  EXPECT_EQ(head, 4u);
  ASSERT_OK_AND_ASSIGN(std::uint64_t used_after, store().BytesUsed(v.id));
  EXPECT_EQ(used_after, used + e.ByteSizeLong());
}

TEST_P(StoreConformance, ChainHeadsFollowEachAuthor) {
  TestVault v;
  Device owner, other, stranger;
  World w(store());
  w.Create(v, owner);
  std::vector<ObjectEnvelope> batch = {v.Sealed(other), v.Sealed(owner), v.Sealed(other), v.Sealed(other)};
  ASSERT_OK_AND_ASSIGN(auto unused, store().Append(v.id, batch));
  (void)unused;
  ASSERT_OK_AND_ASSIGN(ChainHead o, store().AuthorHead(v.id, owner.signing.public_key()));
  EXPECT_EQ(o.author_seq, 2u);
  EXPECT_EQ(o.hash, vault::ObjectCodec::ChainHash(batch[1]));
  ASSERT_OK_AND_ASSIGN(ChainHead t, store().AuthorHead(v.id, other.signing.public_key()));
  EXPECT_EQ(t.author_seq, 3u);
  EXPECT_EQ(t.hash, vault::ObjectCodec::ChainHash(batch[3]));
  ASSERT_OK_AND_ASSIGN(ChainHead s, store().AuthorHead(v.id, stranger.signing.public_key()));
  EXPECT_EQ(s.author_seq, 0u);
  EXPECT_TRUE(s.hash.empty());
}

TEST_P(StoreConformance, ScanHonoursCountAndByteLimits) {
  TestVault v;
  Device owner;
  World w(store());
  w.Create(v, owner);
  std::vector<ObjectEnvelope> batch;
  for (int i = 0; i < 9; ++i) batch.push_back(v.Sealed(owner, std::string(1000, 'x')));
  ASSERT_OK_AND_ASSIGN(auto unused, store().Append(v.id, batch));
  (void)unused;

  ASSERT_OK_AND_ASSIGN(auto all, store().Scan(v.id, 0, 100, 1 << 20));
  ASSERT_EQ(all.size(), 10u);
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].server_seq, i + 1);
  EXPECT_EQ(all[5].envelope.SerializeAsString(), batch[4].SerializeAsString());

  ASSERT_OK_AND_ASSIGN(auto counted, store().Scan(v.id, 3, 4, 1 << 20));
  ASSERT_EQ(counted.size(), 4u);
  EXPECT_EQ(counted.front().server_seq, 4u);
  EXPECT_EQ(counted.back().server_seq, 7u);

  const std::size_t one = batch[0].ByteSizeLong();
  ASSERT_OK_AND_ASSIGN(auto sized, store().Scan(v.id, 1, 100, 2 * one + one / 2));
  EXPECT_EQ(sized.size(), 2u);
  // A first object larger than the byte limit still comes back alone.
  ASSERT_OK_AND_ASSIGN(auto tiny, store().Scan(v.id, 1, 100, 1));
  ASSERT_EQ(tiny.size(), 1u);
  EXPECT_EQ(tiny[0].server_seq, 2u);

  ASSERT_OK_AND_ASSIGN(auto beyond, store().Scan(v.id, 10, 100, 1 << 20));
  EXPECT_TRUE(beyond.empty());
  ASSERT_OK_AND_ASSIGN(auto far, store().Scan(v.id, 1000, 100, 1 << 20));
  EXPECT_TRUE(far.empty());
  // Another vault's objects never show.
  TestVault other;
  w.Create(other, owner);
  ASSERT_OK_AND_ASSIGN(auto theirs, store().Scan(other.id, 0, 100, 1 << 20));
  EXPECT_EQ(theirs.size(), 1u);
}

TEST_P(StoreConformance, MembershipEnvelopesComeInServerOrder) {
  TestVault v;
  Device owner, member;
  World w(store());
  ObjectEnvelope g = w.Create(v, owner);
  const Bytes invite = crypto::RandomBytes(32);
  std::vector<ObjectEnvelope> batch = {v.Sealed(owner), v.Invite(owner, invite, sync::v1::MONITOR), v.Sealed(owner),
                                       v.Admit(owner, member, invite, sync::v1::MONITOR)};
  ASSERT_OK_AND_ASSIGN(auto unused, store().Append(v.id, batch));
  (void)unused;
  ASSERT_OK_AND_ASSIGN(auto ops, store().MembershipEnvelopes(v.id));
  ASSERT_EQ(ops.size(), 3u);
  EXPECT_EQ(ops[0].object_id(), g.object_id());
  EXPECT_EQ(ops[1].object_id(), batch[1].object_id());
  EXPECT_EQ(ops[2].object_id(), batch[3].object_id());
}

TEST_P(StoreConformance, ChunksArePerVaultAndStoredOnce) {
  TestVault v, other;
  Device owner;
  World w(store());
  w.Create(v, owner);
  w.Create(other, owner);
  const Bytes id1 = crypto::RandomBytes(16), id2 = crypto::RandomBytes(16);
  ASSERT_OK_AND_ASSIGN(bool has_before, store().HasChunk(v.id, id1));
  EXPECT_FALSE(has_before);
  ASSERT_OK_AND_ASSIGN(std::uint64_t used0, store().BytesUsed(v.id));

  std::vector<sync::v1::Chunk> chunks = {MakeChunk(id1, 5000), MakeChunk(id2, 70000)};
  ASSERT_OK_AND_ASSIGN(std::uint64_t added, store().PutChunks(v.id, chunks));
  EXPECT_EQ(added, 75000u);
  ASSERT_OK_AND_ASSIGN(bool has, store().HasChunk(v.id, id1));
  EXPECT_TRUE(has);
  ASSERT_OK_AND_ASSIGN(auto data, store().GetChunk(v.id, id2));
  ASSERT_TRUE(data.has_value());
  EXPECT_EQ(*data, chunks[1].data());
  ASSERT_OK_AND_ASSIGN(std::uint64_t used1, store().BytesUsed(v.id));
  EXPECT_EQ(used1, used0 + 75000);

  // Again: nothing new, nothing counted.
  ASSERT_OK_AND_ASSIGN(std::uint64_t again, store().PutChunks(v.id, chunks));
  EXPECT_EQ(again, 0u);
  ASSERT_OK_AND_ASSIGN(std::uint64_t used2, store().BytesUsed(v.id));
  EXPECT_EQ(used2, used1);

  ASSERT_OK_AND_ASSIGN(bool theirs, store().HasChunk(other.id, id1));
  EXPECT_FALSE(theirs);
  ASSERT_OK_AND_ASSIGN(auto missing, store().GetChunk(other.id, id1));
  EXPECT_FALSE(missing.has_value());

  TestVault absent;
  auto refused = store().PutChunks(absent.id, chunks);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kNotFound);
}

TEST_P(StoreConformance, AnUploadIsInvisibleUntilItCommits) {
  TestVault v;
  Device owner;
  World w(store());
  w.Create(v, owner);
  const Bytes id1 = crypto::RandomBytes(16), id2 = crypto::RandomBytes(16);
  std::vector<sync::v1::Chunk> first = {MakeChunk(id1, 5000)}, second = {MakeChunk(id2, 9000), MakeChunk(id1, 5000)};
  ASSERT_OK_AND_ASSIGN(auto upload, store().BeginChunkUpload(v.id));
  ASSERT_TRUE(upload->Stage(first).has_value());
  ASSERT_TRUE(upload->Stage(second).has_value());  // id1 again: staged once
  EXPECT_EQ(upload->staged_bytes(), 14000u);
  ASSERT_OK_AND_ASSIGN(bool visible, store().HasChunk(v.id, id1));
  EXPECT_FALSE(visible);
  ASSERT_OK_AND_ASSIGN(auto early, store().GetChunk(v.id, id2));
  EXPECT_FALSE(early.has_value());
  ASSERT_OK_AND_ASSIGN(std::uint64_t used0, store().BytesUsed(v.id));

  ASSERT_OK_AND_ASSIGN(std::uint64_t added, upload->Commit());
  EXPECT_EQ(added, 14000u);
  ASSERT_OK_AND_ASSIGN(auto data, store().GetChunk(v.id, id2));
  ASSERT_TRUE(data.has_value());
  EXPECT_EQ(*data, second[0].data());
  ASSERT_OK_AND_ASSIGN(std::uint64_t used1, store().BytesUsed(v.id));
  EXPECT_EQ(used1, used0 + 14000);
  EXPECT_FALSE(upload->Commit().has_value());  // once only
  EXPECT_FALSE(upload->Stage(first).has_value());
}

TEST_P(StoreConformance, ADroppedUploadLeavesNothingVisibleAcrossAReopen) {
  TestVault v;
  Device owner;
  World w(store());
  w.Create(v, owner);
  const Bytes id = crypto::RandomBytes(16);
  std::vector<sync::v1::Chunk> chunks = {MakeChunk(id, 70000)};
  ASSERT_OK_AND_ASSIGN(std::uint64_t used0, store().BytesUsed(v.id));
  {
    ASSERT_OK_AND_ASSIGN(auto upload, store().BeginChunkUpload(v.id));
    ASSERT_TRUE(upload->Stage(chunks).has_value());
  }  // dropped: the stream broke off
  Reopen();
  ASSERT_OK_AND_ASSIGN(bool has, store().HasChunk(v.id, id));
  EXPECT_FALSE(has);
  ASSERT_OK_AND_ASSIGN(auto data, store().GetChunk(v.id, id));
  EXPECT_FALSE(data.has_value());
  ASSERT_OK_AND_ASSIGN(std::uint64_t used1, store().BytesUsed(v.id));
  EXPECT_EQ(used1, used0);
  // The client sends it again, and this time it commits.
  ASSERT_OK_AND_ASSIGN(std::uint64_t added, store().PutChunks(v.id, chunks));
  EXPECT_EQ(added, 70000u);
  ASSERT_OK_AND_ASSIGN(auto again, store().GetChunk(v.id, id));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, chunks[0].data());
}

TEST_P(StoreConformance, TwoUploadsOfOneChunkCountItOnce) {
  TestVault v;
  Device owner;
  World w(store());
  w.Create(v, owner);
  const Bytes id = crypto::RandomBytes(16);
  std::vector<sync::v1::Chunk> chunks = {MakeChunk(id, 6000)};
  ASSERT_OK_AND_ASSIGN(auto a, store().BeginChunkUpload(v.id));
  ASSERT_OK_AND_ASSIGN(auto b, store().BeginChunkUpload(v.id));
  ASSERT_TRUE(a->Stage(chunks).has_value());
  ASSERT_TRUE(b->Stage(chunks).has_value());
  ASSERT_OK_AND_ASSIGN(std::uint64_t used0, store().BytesUsed(v.id));
  ASSERT_OK_AND_ASSIGN(std::uint64_t by_a, a->Commit());
  ASSERT_OK_AND_ASSIGN(std::uint64_t by_b, b->Commit());
  EXPECT_EQ(by_a + by_b, 6000u);
  ASSERT_OK_AND_ASSIGN(std::uint64_t used1, store().BytesUsed(v.id));
  EXPECT_EQ(used1, used0 + 6000);
  ASSERT_OK_AND_ASSIGN(auto data, store().GetChunk(v.id, id));
  ASSERT_TRUE(data.has_value());
  EXPECT_EQ(*data, chunks[0].data());
}

TEST_P(StoreConformance, JoinRequestsFirstOneWins) {
  TestVault v;
  Device owner, a, b;
  World w(store());
  w.Create(v, owner);
  const Bytes invite1 = crypto::RandomBytes(32), invite2 = crypto::RandomBytes(32);
  ASSERT_OK_AND_ASSIGN(bool first, store().PutJoinRequest(MakeJoin(v.id, invite1, a)));
  EXPECT_TRUE(first);
  ASSERT_OK_AND_ASSIGN(bool second, store().PutJoinRequest(MakeJoin(v.id, invite1, b)));
  EXPECT_FALSE(second);
  ASSERT_OK_AND_ASSIGN(bool other, store().PutJoinRequest(MakeJoin(v.id, invite2, b)));
  EXPECT_TRUE(other);

  ASSERT_OK_AND_ASSIGN(auto list, store().ListJoinRequests(v.id));
  ASSERT_EQ(list.size(), 2u);
  for (const auto& r : list) {
    const std::string& expected = r.invite_id() == Str(invite1) ? a.key() : b.key();
    EXPECT_EQ(r.device().signing_key(), expected);
  }
  ASSERT_TRUE(store().RemoveJoinRequest(v.id, invite1).has_value());
  ASSERT_OK_AND_ASSIGN(auto after, store().ListJoinRequests(v.id));
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].invite_id(), Str(invite2));
  // Removed: the invite id may be requested again.
  ASSERT_OK_AND_ASSIGN(bool reopened, store().PutJoinRequest(MakeJoin(v.id, invite1, b)));
  EXPECT_TRUE(reopened);
  TestVault other_vault;
  ASSERT_OK_AND_ASSIGN(auto none, store().ListJoinRequests(other_vault.id));
  EXPECT_TRUE(none.empty());
}

TEST_P(StoreConformance, MalformedIdsAreRefused) {
  Device owner;
  const Bytes short_id = crypto::RandomBytes(15);
  auto exists = store().VaultExists(short_id);
  ASSERT_FALSE(exists.has_value());
  EXPECT_EQ(exists.error().code, ErrorCode::kInvalidArgument);
  TestVault v;
  World w(store());
  w.Create(v, owner);
  auto chunk = store().HasChunk(v.id, crypto::RandomBytes(17));
  ASSERT_FALSE(chunk.has_value());
  EXPECT_EQ(chunk.error().code, ErrorCode::kInvalidArgument);
  ObjectEnvelope bad = v.Sealed(owner);
  bad.set_object_id("short");
  std::vector<ObjectEnvelope> batch = {bad};
  auto append = store().Append(v.id, batch);
  ASSERT_FALSE(append.has_value());
  EXPECT_EQ(append.error().code, ErrorCode::kInvalidArgument);
}

TEST_P(StoreConformance, ConcurrentAppendsStayGapFree) {
  TestVault v;
  Device owner;
  World w(store());
  w.Create(v, owner);
  constexpr int kThreads = 4, kPerThread = 8;
  std::vector<std::vector<ObjectEnvelope>> work(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    Device d;
    for (int i = 0; i < kPerThread; ++i) work[t].push_back(v.Sealed(d));
  }
  std::vector<std::vector<std::uint64_t>> seqs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (const auto& e : work[t]) {
        auto r = store().Append(v.id, std::span(&e, 1));
        if (r) seqs[t].push_back((*r)[0].server_seq);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::uint64_t> all;
  for (const auto& s : seqs) {
    EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));
    all.insert(s.begin(), s.end());
  }
  ASSERT_EQ(all.size(), std::size_t{kThreads * kPerThread});
  EXPECT_EQ(*all.begin(), 2u);
  EXPECT_EQ(*all.rbegin(), std::uint64_t{kThreads * kPerThread + 1});
}

TEST_P(StoreConformance, ReopeningKeepsEverything) {
  TestVault v;
  Device owner, joiner;
  World w(store());
  w.Create(v, owner);
  const Bytes invite = crypto::RandomBytes(32);
  std::vector<ObjectEnvelope> batch = {v.Sealed(owner), v.Invite(owner, invite, sync::v1::MONITOR)};
  ASSERT_OK_AND_ASSIGN(auto unused, store().Append(v.id, batch));
  (void)unused;
  const Bytes chunk_id = crypto::RandomBytes(16);
  std::vector<sync::v1::Chunk> chunks = {MakeChunk(chunk_id, 3000)};
  ASSERT_TRUE(store().PutChunks(v.id, chunks).has_value());
  ASSERT_TRUE(store().PutJoinRequest(MakeJoin(v.id, invite, joiner)).has_value());
  ASSERT_OK_AND_ASSIGN(std::uint64_t used, store().BytesUsed(v.id));
  const Bytes token = EnrollTokenHash("spent-before-reopen-123");
  TestVault spent_on;
  ASSERT_TRUE(store().CreateVault(spent_on.id, spent_on.Genesis(owner), token).has_value());

  Reopen();

  ASSERT_OK_AND_ASSIGN(std::uint64_t head, store().HeadSeq(v.id));
  EXPECT_EQ(head, 3u);
  ASSERT_OK_AND_ASSIGN(auto all, store().Scan(v.id, 0, 100, 1 << 20));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].envelope.SerializeAsString(), batch[1].SerializeAsString());
  ASSERT_OK_AND_ASSIGN(ChainHead chain, store().AuthorHead(v.id, owner.signing.public_key()));
  EXPECT_EQ(chain.author_seq, 3u);
  EXPECT_EQ(chain.hash, vault::ObjectCodec::ChainHash(batch[1]));
  ASSERT_OK_AND_ASSIGN(auto ops, store().MembershipEnvelopes(v.id));
  EXPECT_EQ(ops.size(), 2u);
  ASSERT_OK_AND_ASSIGN(auto data, store().GetChunk(v.id, chunk_id));
  ASSERT_TRUE(data.has_value());
  EXPECT_EQ(*data, chunks[0].data());
  ASSERT_OK_AND_ASSIGN(auto joins, store().ListJoinRequests(v.id));
  EXPECT_EQ(joins.size(), 1u);
  ASSERT_OK_AND_ASSIGN(std::uint64_t used_after, store().BytesUsed(v.id));
  EXPECT_EQ(used_after, used);
  TestVault next;
  ASSERT_OK_AND_ASSIGN(CreateOutcome outcome, store().CreateVault(next.id, next.Genesis(owner), token));
  EXPECT_EQ(outcome, CreateOutcome::kTokenSpent);
  // And appends continue where they were.
  std::vector<ObjectEnvelope> more = {v.Sealed(owner)};
  ASSERT_OK_AND_ASSIGN(auto appended, store().Append(v.id, more));
  EXPECT_EQ(appended[0].server_seq, 4u);
}

}  // namespace evault::server::testing
