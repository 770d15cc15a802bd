// The Store contract: gap-free sequences, idempotent appends, chain heads, scan
// limits, chunks, first-wins join requests, single-use tokens, issued and revoked
// tokens, the incarnation, and durability across a reopen. See store_conformance.h.
#include "tests/server/store_conformance.h"

#include <algorithm>
#include <chrono>
#include <map>
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
    ASSERT_OK_AND_ASSIGN(auto appended, store().Append(v.id, batch, std::nullopt));
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
  auto refused = store().Append(missing.id, one, std::nullopt);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kNotFound);
}

TEST_P(StoreConformance, AppendIsIdempotentPerObjectId) {
  TestVault v;
  Device owner;
  World w(store());
  w.Create(v, owner);
  std::vector<ObjectEnvelope> batch = {v.Sealed(owner), v.Sealed(owner)};
  ASSERT_OK_AND_ASSIGN(auto first, store().Append(v.id, batch, std::nullopt));
  ASSERT_OK_AND_ASSIGN(std::uint64_t used, store().BytesUsed(v.id));

  ASSERT_OK_AND_ASSIGN(auto again, store().Append(v.id, batch, std::nullopt));
  ASSERT_EQ(again.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(again[i].existed);
    EXPECT_EQ(again[i].server_seq, first[i].server_seq);
  }
  // The same object twice in one call: stored once.
  ObjectEnvelope e = v.Sealed(owner);
  std::vector<ObjectEnvelope> twice = {e, e};
  ASSERT_OK_AND_ASSIGN(auto dup, store().Append(v.id, twice, std::nullopt));
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
  ASSERT_OK_AND_ASSIGN(auto unused, store().Append(v.id, batch, std::nullopt));
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
  ASSERT_OK_AND_ASSIGN(auto unused, store().Append(v.id, batch, std::nullopt));
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
  ASSERT_OK_AND_ASSIGN(auto unused, store().Append(v.id, batch, std::nullopt));
  (void)unused;
  ASSERT_OK_AND_ASSIGN(auto ops, store().MembershipEnvelopes(v.id));
  ASSERT_EQ(ops.size(), 3u);
  EXPECT_EQ(ops[0].object_id(), g.object_id());
  EXPECT_EQ(ops[1].object_id(), batch[1].object_id());
  EXPECT_EQ(ops[2].object_id(), batch[3].object_id());
}

// The membership check of an append (store.h): the caller says how many membership
// operations it checked against; another writer's operation in between, or a count
// that was never right, makes the append write nothing at all.
TEST_P(StoreConformance, AnAppendCheckedAgainstAnOldMembershipWritesNothing) {
  TestVault v;
  Device owner, member;
  World w(store());
  w.Create(v, owner);  // the genesis: one membership operation

  std::vector<ObjectEnvelope> sealed = {v.Sealed(owner)};
  ASSERT_OK_AND_ASSIGN(auto first, store().Append(v.id, sealed, 1));
  EXPECT_EQ(first[0].server_seq, 2u);
  const Bytes invite = crypto::RandomBytes(32);
  std::vector<ObjectEnvelope> op = {v.Invite(owner, invite, sync::v1::MONITOR)};
  ASSERT_OK_AND_ASSIGN(auto second, store().Append(v.id, op, 1));  // now 2 operations
  EXPECT_EQ(second[0].server_seq, 3u);

  ASSERT_OK_AND_ASSIGN(std::uint64_t used, store().BytesUsed(v.id));
  ASSERT_OK_AND_ASSIGN(ChainHead owner_head, store().AuthorHead(v.id, owner.signing.public_key()));
  const Device::Chain owner_chain = owner.chain;
  // Checked before the INVITE (1), or against more than there are (3): refused, with a
  // membership operation and a sealed object of two authors in the batch.
  for (std::uint64_t stale : {std::uint64_t{1}, std::uint64_t{3}, std::uint64_t{0}}) {
    owner.chain = owner_chain;
    std::vector<ObjectEnvelope> batch = {v.Sealed(member), v.Admit(owner, member, invite, sync::v1::MONITOR),
                                         v.Sealed(owner)};
    auto refused = store().Append(v.id, batch, stale);
    ASSERT_FALSE(refused.has_value()) << "stale count " << stale;
    EXPECT_EQ(refused.error().code, ErrorCode::kAborted) << refused.error().message;
    ASSERT_OK_AND_ASSIGN(std::uint64_t head, store().HeadSeq(v.id));
    EXPECT_EQ(head, 3u);
    for (const auto& e : batch) {
      ASSERT_OK_AND_ASSIGN(auto found, store().FindObject(v.id, ToBytes(e.object_id())));
      EXPECT_FALSE(found.has_value());
    }
    ASSERT_OK_AND_ASSIGN(auto scanned, store().Scan(v.id, 3, 100, 1 << 20));
    EXPECT_TRUE(scanned.empty());
    ASSERT_OK_AND_ASSIGN(auto ops, store().MembershipEnvelopes(v.id));
    EXPECT_EQ(ops.size(), 2u);
    ASSERT_OK_AND_ASSIGN(std::uint64_t used_after, store().BytesUsed(v.id));
    EXPECT_EQ(used_after, used);
    ASSERT_OK_AND_ASSIGN(ChainHead o, store().AuthorHead(v.id, owner.signing.public_key()));
    EXPECT_EQ(o.author_seq, owner_head.author_seq);
    EXPECT_EQ(o.hash, owner_head.hash);
    ASSERT_OK_AND_ASSIGN(ChainHead m, store().AuthorHead(v.id, member.signing.public_key()));
    EXPECT_EQ(m.author_seq, 0u);
    member.chain = {};
  }
  // Checked against the current count: stored, and the count moves on with it.
  owner.chain = owner_chain;
  std::vector<ObjectEnvelope> batch = {v.Admit(owner, member, invite, sync::v1::MONITOR), v.Sealed(owner)};
  ASSERT_OK_AND_ASSIGN(auto stored, store().Append(v.id, batch, 2));
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[0].server_seq, 4u);
  EXPECT_EQ(stored[1].server_seq, 5u);
  std::vector<ObjectEnvelope> late = {v.Sealed(owner)};
  auto refused = store().Append(v.id, late, 2);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kAborted);
  ASSERT_OK_AND_ASSIGN(auto last, store().Append(v.id, late, 3));
  EXPECT_EQ(last[0].server_seq, 6u);
  // A vault that does not exist is still kNotFound, whatever the count.
  TestVault missing;
  auto absent = store().Append(missing.id, late, 1);
  ASSERT_FALSE(absent.has_value());
  EXPECT_EQ(absent.error().code, ErrorCode::kNotFound);
  // The count survives a reopen (it is the store's, not the process's).
  Reopen();
  std::vector<ObjectEnvelope> after = {v.Sealed(owner)};
  auto stale = store().Append(v.id, after, 2);
  ASSERT_FALSE(stale.has_value());
  EXPECT_EQ(stale.error().code, ErrorCode::kAborted);
  ASSERT_OK_AND_ASSIGN(auto reopened, store().Append(v.id, after, 3));
  EXPECT_EQ(reopened[0].server_seq, 7u);
}

// The chain rule of an append (store.h): a new envelope that does not extend its
// author's stored chain (a second object at a place another process filled, or a gap)
// makes the whole append write nothing; a replay of a stored object is still fine.
TEST_P(StoreConformance, AnAppendThatNoLongerExtendsItsAuthorsChainWritesNothing) {
  TestVault v;
  Device owner, other;
  World w(store());
  w.Create(v, owner);
  const Device::Chain at_one = owner.chain;
  std::vector<ObjectEnvelope> first = {v.Sealed(owner)};
  ASSERT_OK_AND_ASSIGN(auto stored, store().Append(v.id, first, std::nullopt));
  ASSERT_OK_AND_ASSIGN(ChainHead head, store().AuthorHead(v.id, owner.signing.public_key()));
  ASSERT_OK_AND_ASSIGN(std::uint64_t used, store().BytesUsed(v.id));
  const Device::Chain at_two = owner.chain;

  owner.chain = at_one;  // a fork: another object at place 2, behind another author's
  std::vector<ObjectEnvelope> fork = {v.Sealed(other), v.Sealed(owner)};
  owner.chain = at_two;
  (void)v.Sealed(owner);  // place 3, never stored: the next one leaves a gap
  std::vector<ObjectEnvelope> gap = {v.Sealed(owner)};
  for (const auto* batch : {&fork, &gap}) {
    auto refused = store().Append(v.id, *batch, std::nullopt);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code, ErrorCode::kAborted) << refused.error().message;
    ASSERT_OK_AND_ASSIGN(std::uint64_t h, store().HeadSeq(v.id));
    EXPECT_EQ(h, 2u);
    ASSERT_OK_AND_ASSIGN(ChainHead now, store().AuthorHead(v.id, owner.signing.public_key()));
    EXPECT_EQ(now.author_seq, head.author_seq);
    EXPECT_EQ(now.hash, head.hash);
    ASSERT_OK_AND_ASSIGN(ChainHead o, store().AuthorHead(v.id, other.signing.public_key()));
    EXPECT_EQ(o.author_seq, 0u);
    ASSERT_OK_AND_ASSIGN(std::uint64_t used_after, store().BytesUsed(v.id));
    EXPECT_EQ(used_after, used);
  }
  // The stored object sent again, then the rightful next one: fine.
  owner.chain = at_two;
  std::vector<ObjectEnvelope> next = {first[0], v.Sealed(owner)};
  ASSERT_OK_AND_ASSIGN(auto appended, store().Append(v.id, next, std::nullopt));
  EXPECT_TRUE(appended[0].existed);
  EXPECT_EQ(appended[0].server_seq, stored[0].server_seq);
  EXPECT_EQ(appended[1].server_seq, 3u);
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

// --- the operator's view ---

namespace {
std::int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

TEST_P(StoreConformance, ListVaultsGivesEachVaultsIdsAndCountsInIdOrder) {
  ASSERT_OK_AND_ASSIGN(auto empty, store().ListVaults());
  EXPECT_TRUE(empty.empty());
  Device owner, second, third;  // a device's chain is per vault: one owner each
  World w(store());
  TestVault plain, appended, with_chunk;
  struct Expected {
    std::uint64_t objects, bytes;
  };
  std::map<Bytes, Expected> expected;
  const std::int64_t before = UnixNow();
  expected[appended.id] = {1, w.Create(appended, owner).ByteSizeLong()};
  expected[plain.id] = {1, w.Create(plain, second).ByteSizeLong()};
  expected[with_chunk.id] = {1, w.Create(with_chunk, third).ByteSizeLong()};
  std::vector<ObjectEnvelope> batch = {appended.Sealed(owner), appended.Sealed(owner)};
  ASSERT_TRUE(store().Append(appended.id, batch, std::nullopt).has_value());
  expected[appended.id].objects += 2;
  expected[appended.id].bytes += batch[0].ByteSizeLong() + batch[1].ByteSizeLong();
  std::vector<sync::v1::Chunk> chunks = {MakeChunk(crypto::RandomBytes(16), 5000)};
  ASSERT_TRUE(store().PutChunks(with_chunk.id, chunks).has_value());
  expected[with_chunk.id].bytes += 5000;
  const std::int64_t after = UnixNow();

  ASSERT_OK_AND_ASSIGN(auto list, store().ListVaults());
  ASSERT_EQ(list.size(), 3u);
  auto want = expected.begin();  // a std::map: in byte order of id
  for (const VaultSummary& got : list) {
    EXPECT_EQ(got.vault_id, want->first) << "not in id order";
    EXPECT_EQ(got.objects, want->second.objects);
    EXPECT_EQ(got.bytes_used, want->second.bytes);
    EXPECT_EQ(got.quota_bytes, 0u);
    // The backend's clock may round; a second either side is allowed.
    EXPECT_GE(got.last_write_unix, before - 1);
    EXPECT_LE(got.last_write_unix, after + 1);
    ASSERT_OK_AND_ASSIGN(auto one, store().FindVault(got.vault_id));
    ASSERT_TRUE(one.has_value());
    EXPECT_EQ(one->vault_id, got.vault_id);
    EXPECT_EQ(one->objects, got.objects);
    EXPECT_EQ(one->bytes_used, got.bytes_used);
    EXPECT_EQ(one->last_write_unix, got.last_write_unix);
    ++want;
  }
  ASSERT_OK_AND_ASSIGN(auto absent, store().FindVault(TestVault().id));
  EXPECT_FALSE(absent.has_value());
  auto malformed = store().FindVault(crypto::RandomBytes(15));
  ASSERT_FALSE(malformed.has_value());
  EXPECT_EQ(malformed.error().code, ErrorCode::kInvalidArgument);
}

// Last write moves with what stores something new, and only with that.
TEST_P(StoreConformance, LastWriteFollowsAppendsAndChunkCommits) {
  Device owner, other;  // a device's chain is per vault: one owner each
  World w(store());
  TestVault objects_vault, chunks_vault;
  const ObjectEnvelope genesis = w.Create(objects_vault, owner);
  w.Create(chunks_vault, other);
  auto last_write = [&](const TestVault& v) {
    auto found = store().FindVault(v.id);
    EXPECT_TRUE(found.has_value() && found->has_value());
    return found && *found ? (*found)->last_write_unix : -1;
  };
  const std::int64_t created = std::max(last_write(objects_vault), last_write(chunks_vault));
  // Once the clock has passed the creations' second, any later write shows.
  while (UnixNow() <= created) std::this_thread::sleep_for(std::chrono::milliseconds(20));

  const std::vector<ObjectEnvelope> replay = {genesis};
  ASSERT_TRUE(store().Append(objects_vault.id, replay, std::nullopt).has_value());  // stores nothing
  ASSERT_TRUE(store().SetVaultQuota(objects_vault.id, 1 << 20).has_value());
  EXPECT_LE(last_write(objects_vault), created);

  const std::vector<ObjectEnvelope> fresh = {objects_vault.Sealed(owner)};
  ASSERT_TRUE(store().Append(objects_vault.id, fresh, std::nullopt).has_value());
  const std::int64_t appended = last_write(objects_vault);
  EXPECT_GT(appended, created);
  std::vector<sync::v1::Chunk> chunks = {MakeChunk(crypto::RandomBytes(16), 3000)};
  ASSERT_TRUE(store().PutChunks(chunks_vault.id, chunks).has_value());
  const std::int64_t committed = last_write(chunks_vault);
  EXPECT_GT(committed, created);
  Reopen();
  EXPECT_EQ(last_write(objects_vault), appended);
  EXPECT_EQ(last_write(chunks_vault), committed);
}

TEST_P(StoreConformance, AVaultsQuotaIsSetResetAndKept) {
  Device owner, other_owner;  // a device's chain is per vault: one owner each
  World w(store());
  TestVault v, other;
  w.Create(v, owner);
  w.Create(other, other_owner);
  ASSERT_OK_AND_ASSIGN(std::uint64_t used, store().BytesUsed(v.id));
  ASSERT_TRUE(store().SetVaultQuota(v.id, 123456789).has_value());
  ASSERT_OK_AND_ASSIGN(auto found, store().FindVault(v.id));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->quota_bytes, 123456789u);
  EXPECT_EQ(found->bytes_used, used);  // nothing else changed
  EXPECT_EQ(found->objects, 1u);
  ASSERT_OK_AND_ASSIGN(auto theirs, store().FindVault(other.id));
  ASSERT_TRUE(theirs.has_value());
  EXPECT_EQ(theirs->quota_bytes, 0u);

  // Kept across a reopen and through later writes.
  Reopen();
  std::vector<ObjectEnvelope> batch = {v.Sealed(owner)};
  ASSERT_TRUE(store().Append(v.id, batch, std::nullopt).has_value());
  std::vector<sync::v1::Chunk> chunks = {MakeChunk(crypto::RandomBytes(16), 3000)};
  ASSERT_TRUE(store().PutChunks(v.id, chunks).has_value());
  ASSERT_OK_AND_ASSIGN(auto list, store().ListVaults());
  auto mine = std::find_if(list.begin(), list.end(), [&](const VaultSummary& s) { return s.vault_id == v.id; });
  ASSERT_NE(mine, list.end());
  EXPECT_EQ(mine->quota_bytes, 123456789u);
  EXPECT_EQ(mine->objects, 2u);
  EXPECT_EQ(mine->bytes_used, used + batch[0].ByteSizeLong() + 3000);

  // 0: back to the server's default.
  ASSERT_TRUE(store().SetVaultQuota(v.id, 0).has_value());
  ASSERT_OK_AND_ASSIGN(auto reset, store().FindVault(v.id));
  ASSERT_TRUE(reset.has_value());
  EXPECT_EQ(reset->quota_bytes, 0u);

  auto absent = store().SetVaultQuota(TestVault().id, 1000);
  ASSERT_FALSE(absent.has_value());
  EXPECT_EQ(absent.error().code, ErrorCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(auto after, store().ListVaults());
  EXPECT_EQ(after.size(), 2u);  // refusing created nothing
  auto malformed = store().SetVaultQuota(crypto::RandomBytes(17), 1000);
  ASSERT_FALSE(malformed.has_value());
  EXPECT_EQ(malformed.error().code, ErrorCode::kInvalidArgument);
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
  auto append = store().Append(v.id, batch, std::nullopt);
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
        auto r = store().Append(v.id, std::span(&e, 1), std::nullopt);
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

// --- enrollment tokens issued by the operator, the incarnation -----------------------------

TEST_P(StoreConformance, IssuedTokensAreListedByHashWithTheirState) {
  const Bytes early = EnrollTokenHash("issued-token-early-0123"), late = EnrollTokenHash("issued-token-late-01234"),
              spent = EnrollTokenHash("issued-token-spent-0123");
  ASSERT_TRUE(store().IssueEnrollToken(late, 2000, "for the Lagos office").has_value());
  ASSERT_TRUE(store().IssueEnrollToken(early, 1000, "").has_value());
  ASSERT_TRUE(store().IssueEnrollToken(spent, 3000, "spent one").has_value());
  // Issued twice is refused, and changes nothing.
  ASSERT_FALSE(store().IssueEnrollToken(late, 9999, "again").has_value());
  EXPECT_EQ(store().IssueEnrollToken(late, 9999, "again").error().code, ErrorCode::kAlreadyExists);
  Device owner;
  TestVault v;
  ASSERT_OK_AND_ASSIGN(CreateOutcome created, store().CreateVault(v.id, v.Genesis(owner), spent));
  EXPECT_EQ(created, CreateOutcome::kCreated);
  ASSERT_OK_AND_ASSIGN(RevokeOutcome revoked, store().RevokeEnrollToken(early));
  EXPECT_EQ(revoked, RevokeOutcome::kRevoked);

  Reopen();

  ASSERT_OK_AND_ASSIGN(auto tokens, store().ListEnrollTokens());
  ASSERT_EQ(tokens.size(), 3u);  // oldest first
  EXPECT_EQ(tokens[0].hash, early);
  EXPECT_EQ(tokens[0].created_unix, 1000);
  EXPECT_EQ(tokens[0].note, "");
  EXPECT_TRUE(tokens[0].revoked);
  EXPECT_FALSE(tokens[0].spent);
  EXPECT_EQ(tokens[1].hash, late);
  EXPECT_EQ(tokens[1].created_unix, 2000);
  EXPECT_EQ(tokens[1].note, "for the Lagos office");
  EXPECT_FALSE(tokens[1].revoked);
  EXPECT_FALSE(tokens[1].spent);
  EXPECT_EQ(tokens[2].hash, spent);
  EXPECT_TRUE(tokens[2].spent);
  EXPECT_FALSE(tokens[2].revoked);
  ASSERT_OK_AND_ASSIGN(auto found, store().FindEnrollToken(late));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->note, "for the Lagos office");
  ASSERT_OK_AND_ASSIGN(auto spent_found, store().FindEnrollToken(spent));
  ASSERT_TRUE(spent_found.has_value());
  EXPECT_TRUE(spent_found->spent);
  // A token only spent (from the token file) was never issued.
  TestVault w;
  const Bytes file_token = EnrollTokenHash("a-token-from-the-file-1");
  ASSERT_TRUE(store().CreateVault(w.id, w.Genesis(owner), file_token).has_value());
  ASSERT_OK_AND_ASSIGN(auto not_issued, store().FindEnrollToken(file_token));
  EXPECT_FALSE(not_issued.has_value());
  ASSERT_OK_AND_ASSIGN(auto still, store().ListEnrollTokens());
  EXPECT_EQ(still.size(), 3u);
}

TEST_P(StoreConformance, ARevokedTokenCreatesNoVault) {
  Device owner;
  TestVault v;
  const Bytes token = EnrollTokenHash("to-be-revoked-token-01");
  ASSERT_TRUE(store().IssueEnrollToken(token, 1, "x").has_value());
  ASSERT_OK_AND_ASSIGN(RevokeOutcome first, store().RevokeEnrollToken(token));
  EXPECT_EQ(first, RevokeOutcome::kRevoked);
  ASSERT_OK_AND_ASSIGN(RevokeOutcome second, store().RevokeEnrollToken(token));
  EXPECT_EQ(second, RevokeOutcome::kAlreadyRevoked);
  ASSERT_OK_AND_ASSIGN(CreateOutcome outcome, store().CreateVault(v.id, v.Genesis(owner), token));
  EXPECT_EQ(outcome, CreateOutcome::kTokenRevoked);
  ASSERT_OK_AND_ASSIGN(bool exists, store().VaultExists(v.id));
  EXPECT_FALSE(exists);
  ASSERT_OK_AND_ASSIGN(auto listed, store().FindEnrollToken(token));
  ASSERT_TRUE(listed.has_value());
  EXPECT_FALSE(listed->spent);  // the refused create spent nothing

  // A spent token is not revoked; one never issued cannot be.
  const Bytes used = EnrollTokenHash("used-before-revoke-012");
  ASSERT_TRUE(store().IssueEnrollToken(used, 2, "").has_value());
  ASSERT_TRUE(store().CreateVault(v.id, v.Genesis(owner), used).has_value());
  ASSERT_OK_AND_ASSIGN(RevokeOutcome late, store().RevokeEnrollToken(used));
  EXPECT_EQ(late, RevokeOutcome::kSpent);
  ASSERT_OK_AND_ASSIGN(auto after, store().FindEnrollToken(used));
  ASSERT_TRUE(after.has_value());
  EXPECT_FALSE(after->revoked);
  auto unknown = store().RevokeEnrollToken(EnrollTokenHash("never-issued-token-01"));
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
}

TEST_P(StoreConformance, TokenArgumentsAreChecked) {
  const Bytes token = EnrollTokenHash("argument-check-token-1");
  EXPECT_EQ(store().IssueEnrollToken(Bytes(31, 1), 1, "").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store().IssueEnrollToken(token, 1, std::string(kMaxEnrollTokenNoteBytes + 1, 'n')).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(store().IssueEnrollToken(token, 1, "line\nbreak").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store().FindEnrollToken(Bytes(33, 1)).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store().RevokeEnrollToken(Bytes()).error().code, ErrorCode::kInvalidArgument);
  // The longest note, in UTF-8, is kept as it was.
  const std::string note = std::string(kMaxEnrollTokenNoteBytes - 2, 'n') + "\xc3\xa9";
  ASSERT_TRUE(store().IssueEnrollToken(token, 1, note).has_value());
  ASSERT_OK_AND_ASSIGN(auto found, store().FindEnrollToken(token));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->note, note);
}

// A revoke and a create with the same token, at once: one of them wins, and the other
// sees it (never a vault made with a token whose revocation was acknowledged).
TEST_P(StoreConformance, RevokeAndCreateRacingHaveOneWinner) {
  Device owner;
  int created = 0, revoked = 0;
  for (int i = 0; i < 20; ++i) {
    const Bytes token = EnrollTokenHash("racing-token-number-" + std::to_string(i));
    ASSERT_TRUE(store().IssueEnrollToken(token, i, "").has_value());
    TestVault v;
    Result<CreateOutcome> create = Fail(ErrorCode::kInternal, "not run");
    std::thread creator([&] { create = store().CreateVault(v.id, v.Genesis(owner), token); });
    auto revoke = store().RevokeEnrollToken(token);
    creator.join();
    ASSERT_TRUE(create.has_value()) << create.error().message;
    ASSERT_TRUE(revoke.has_value()) << revoke.error().message;
    if (*create == CreateOutcome::kCreated) {
      EXPECT_EQ(*revoke, RevokeOutcome::kSpent);
      ++created;
    } else {
      EXPECT_EQ(*create, CreateOutcome::kTokenRevoked);
      EXPECT_EQ(*revoke, RevokeOutcome::kRevoked);
      ++revoked;
    }
    ASSERT_OK_AND_ASSIGN(bool exists, store().VaultExists(v.id));
    EXPECT_EQ(exists, *create == CreateOutcome::kCreated);
  }
  EXPECT_EQ(created + revoked, 20);
}

TEST_P(StoreConformance, TheIncarnationIsKeptUntilRenewed) {
  ASSERT_OK_AND_ASSIGN(Bytes first, store().Incarnation());
  EXPECT_EQ(first.size(), 16u);
  Reopen();
  ASSERT_OK_AND_ASSIGN(Bytes reopened, store().Incarnation());
  EXPECT_EQ(reopened, first);
  ASSERT_TRUE(store().RenewIncarnation().has_value());
  ASSERT_OK_AND_ASSIGN(Bytes renewed, store().Incarnation());
  EXPECT_EQ(renewed.size(), 16u);
  EXPECT_NE(renewed, first);
  Reopen();
  ASSERT_OK_AND_ASSIGN(Bytes kept, store().Incarnation());
  EXPECT_EQ(kept, renewed);
}

TEST_P(StoreConformance, ReopeningKeepsEverything) {
  TestVault v;
  Device owner, joiner;
  World w(store());
  w.Create(v, owner);
  const Bytes invite = crypto::RandomBytes(32);
  std::vector<ObjectEnvelope> batch = {v.Sealed(owner), v.Invite(owner, invite, sync::v1::MONITOR)};
  ASSERT_OK_AND_ASSIGN(auto unused, store().Append(v.id, batch, std::nullopt));
  (void)unused;
  const Bytes chunk_id = crypto::RandomBytes(16);
  std::vector<sync::v1::Chunk> chunks = {MakeChunk(chunk_id, 3000)};
  ASSERT_TRUE(store().PutChunks(v.id, chunks).has_value());
  ASSERT_TRUE(store().PutJoinRequest(MakeJoin(v.id, invite, joiner)).has_value());
  ASSERT_OK_AND_ASSIGN(std::uint64_t used, store().BytesUsed(v.id));
  const Bytes token = EnrollTokenHash("spent-before-reopen-123");
  TestVault spent_on;
  Device other_owner;  // a device's chain is per vault
  ASSERT_TRUE(store().CreateVault(spent_on.id, spent_on.Genesis(other_owner), token).has_value());

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
  Device newcomer;
  ASSERT_OK_AND_ASSIGN(CreateOutcome outcome, store().CreateVault(next.id, next.Genesis(newcomer), token));
  EXPECT_EQ(outcome, CreateOutcome::kTokenSpent);
  // And appends continue where they were.
  std::vector<ObjectEnvelope> more = {v.Sealed(owner)};
  ASSERT_OK_AND_ASSIGN(auto appended, store().Append(v.id, more, std::nullopt));
  EXPECT_EQ(appended[0].server_seq, 4u);
}

}  // namespace evault::server::testing
