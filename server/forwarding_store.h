// A Store that hands every call to another one: the base of decorators (a store that
// fails on demand in a test, one that lies to clients in another) which override only
// the calls they change, so that a method added to Store is forwarded here once.
#pragma once

#include <memory>
#include <utility>

#include "server/store.h"

namespace evault::server {

class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}

  Store& inner() { return *inner_; }

  Result<bool> VaultExists(crypto::ByteView v) override { return inner_->VaultExists(v); }
  Result<CreateOutcome> CreateVault(crypto::ByteView v, const format::v1::ObjectEnvelope& g,
                                    crypto::ByteView t) override {
    return inner_->CreateVault(v, g, t);
  }
  Result<std::vector<Appended>> Append(crypto::ByteView v, std::span<const format::v1::ObjectEnvelope> e,
                                       std::optional<std::uint64_t> membership_ops) override {
    return inner_->Append(v, e, membership_ops);
  }
  Result<std::uint64_t> HeadSeq(crypto::ByteView v) override { return inner_->HeadSeq(v); }
  Result<std::optional<StoredObject>> FindObject(crypto::ByteView v, crypto::ByteView o) override {
    return inner_->FindObject(v, o);
  }
  Result<std::vector<StoredObject>> Scan(crypto::ByteView v, std::uint64_t after, std::size_t max_count,
                                         std::size_t max_bytes) override {
    return inner_->Scan(v, after, max_count, max_bytes);
  }
  Result<ChainHead> AuthorHead(crypto::ByteView v, crypto::ByteView a) override { return inner_->AuthorHead(v, a); }
  Result<std::vector<format::v1::ObjectEnvelope>> MembershipEnvelopes(crypto::ByteView v) override {
    return inner_->MembershipEnvelopes(v);
  }
  Result<std::uint64_t> BytesUsed(crypto::ByteView v) override { return inner_->BytesUsed(v); }

  Result<std::vector<VaultSummary>> ListVaults() override { return inner_->ListVaults(); }
  Result<std::optional<VaultSummary>> FindVault(crypto::ByteView v) override { return inner_->FindVault(v); }
  Status SetVaultQuota(crypto::ByteView v, std::uint64_t q) override { return inner_->SetVaultQuota(v, q); }

  Status IssueEnrollToken(crypto::ByteView h, std::int64_t created, std::string_view note) override {
    return inner_->IssueEnrollToken(h, created, note);
  }
  Result<std::optional<IssuedEnrollToken>> FindEnrollToken(crypto::ByteView h) override {
    return inner_->FindEnrollToken(h);
  }
  Result<std::vector<IssuedEnrollToken>> ListEnrollTokens() override { return inner_->ListEnrollTokens(); }
  Result<RevokeOutcome> RevokeEnrollToken(crypto::ByteView h) override { return inner_->RevokeEnrollToken(h); }

  Result<crypto::Bytes> Incarnation() override { return inner_->Incarnation(); }
  Status RenewIncarnation() override { return inner_->RenewIncarnation(); }
  Status Backup(const std::filesystem::path& dir) override { return inner_->Backup(dir); }

  Result<bool> HasChunk(crypto::ByteView v, crypto::ByteView c) override { return inner_->HasChunk(v, c); }
  Result<std::unique_ptr<ChunkUpload>> BeginChunkUpload(crypto::ByteView v) override {
    return inner_->BeginChunkUpload(v);
  }
  Result<std::optional<std::string>> GetChunk(crypto::ByteView v, crypto::ByteView c) override {
    return inner_->GetChunk(v, c);
  }

  Result<bool> PutJoinRequest(const sync::v1::JoinRequest& r) override { return inner_->PutJoinRequest(r); }
  Result<std::vector<sync::v1::JoinRequest>> ListJoinRequests(crypto::ByteView v) override {
    return inner_->ListJoinRequests(v);
  }
  Status RemoveJoinRequest(crypto::ByteView v, crypto::ByteView i) override { return inner_->RemoveJoinRequest(v, i); }

 private:
  std::unique_ptr<Store> inner_;
};

}  // namespace evault::server
