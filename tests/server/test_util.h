// Helpers shared by the server tests: temporary directories, devices with their own
// signed hash chain, and the envelopes a real client would push (sealed objects and
// membership operations, built with vault/object.h).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

#include <gtest/gtest.h>

#include "crypto/bytes.h"
#include "crypto/identity.h"
#include "crypto/keys.h"
#include "crypto/secret_bytes.h"
#include "evault_format.pb.h"
#include "evault_sync.pb.h"
#include "vault/membership.h"
#include "vault/object.h"

namespace evault::server::testing {

namespace fs = std::filesystem;
using crypto::Bytes;
using format::v1::ObjectEnvelope;

#define EVS_CONCAT_INNER_(a, b) a##b
#define EVS_CONCAT_(a, b) EVS_CONCAT_INNER_(a, b)
// Unwraps a Result, failing the test (not crashing) on an error.
#define ASSERT_OK_AND_ASSIGN(decl, expr)                                                      \
  auto EVS_CONCAT_(evs_result_, __LINE__) = (expr);                                           \
  ASSERT_TRUE(EVS_CONCAT_(evs_result_, __LINE__).has_value())                                 \
      << EVS_CONCAT_(evs_result_, __LINE__).error().message;                                  \
  decl = std::move(*EVS_CONCAT_(evs_result_, __LINE__))

inline std::string Str(const Bytes& b) { return std::string(b.begin(), b.end()); }
inline Bytes ToBytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/evault-server-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A device: its keys and the head of its own hash chain in one vault.
struct Device {
  struct Chain {
    std::uint64_t seq = 0;
    Bytes head;
  };

  crypto::SigningKeyPair signing = crypto::SigningKeyPair::Generate();
  crypto::BoxKeyPair box = crypto::BoxKeyPair::Generate();
  Chain chain;

  std::string key() const { return Str(signing.public_key()); }
  sync::v1::DeviceKeys keys() const {
    sync::v1::DeviceKeys k;
    k.set_signing_key(Str(signing.public_key()));
    k.set_box_key(Str(box.public_key()));
    return k;
  }
  // Records `e` as this device's newest object.
  void Advance(const ObjectEnvelope& e) {
    chain.seq = e.author_seq();
    chain.head = vault::ObjectCodec::ChainHash(e);
  }
};

// A vault as its members see it: its id and read key.
struct TestVault {
  Bytes id = crypto::RandomBytes(16);
  crypto::SymmetricKey read_key = crypto::SymmetricKey::Generate();

  std::string id_str() const { return Str(id); }

  // The next sealed object of `d` (advances its chain).
  ObjectEnvelope Sealed(Device& d, std::string_view body = "{\"title\":\"record\"}") {
    vault::ObjectCodec codec(id, &d.signing, &read_key);
    ObjectEnvelope e = codec.Seal(crypto::RandomBytes(vault::kIdBytes),
                                  {vault::ObjectKind::kRecordRevision, crypto::RandomBytes(vault::kIdBytes), 1},
                                  crypto::AsBytes(body), d.chain.seq + 1, d.chain.head, crypto::SymmetricKey::Generate());
    d.Advance(e);
    return e;
  }

  // The next membership operation of `d` (advances its chain).
  ObjectEnvelope Op(Device& d, const sync::v1::MembershipOp& op) {
    vault::ObjectCodec codec(id, &d.signing, &read_key);
    ObjectEnvelope e = codec.SealPublic(crypto::RandomBytes(vault::kIdBytes), crypto::AsBytes(op.SerializeAsString()),
                                        d.chain.seq + 1, d.chain.head);
    d.Advance(e);
    return e;
  }

  ObjectEnvelope Genesis(Device& owner) {
    sync::v1::MembershipOp op;
    op.set_kind(sync::v1::MembershipOp::GENESIS);
    *op.mutable_subject() = owner.keys();
    op.set_role(sync::v1::OWNER);
    op.set_created("2019-09-21T10:00:00Z");
    return Op(owner, op);
  }

  ObjectEnvelope Invite(Device& by, const Bytes& invite_id, sync::v1::Role role) {
    sync::v1::MembershipOp op;
    op.set_kind(sync::v1::MembershipOp::INVITE);
    op.set_role(role);
    op.set_invite_id(Str(invite_id));
    return Op(by, op);
  }

  ObjectEnvelope Admit(Device& by, const Device& subject, const Bytes& invite_id, sync::v1::Role role) {
    sync::v1::MembershipOp op;
    op.set_kind(sync::v1::MembershipOp::ADMIT);
    *op.mutable_subject() = subject.keys();
    op.set_role(role);
    op.set_invite_id(Str(invite_id));
    auto sealed = crypto::SealToPublicKey(subject.box.public_key(), read_key.bytes().span());
    op.set_sealed_read_key(sealed ? Str(*sealed) : "");
    return Op(by, op);
  }

  ObjectEnvelope Revoke(Device& by, const Device& subject) {
    sync::v1::MembershipOp op;
    op.set_kind(sync::v1::MembershipOp::REVOKE);
    *op.mutable_subject() = subject.keys();
    return Op(by, op);
  }
};

}  // namespace evault::server::testing
