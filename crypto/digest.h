// Forensic hashes of originals (SHA-256, SHA-512) through OpenSSL's EVP interface,
// which uses the CPU's SHA extensions. Integrity, not secrecy: no keys here.
#pragma once

#include <memory>

#include "crypto/bytes.h"

namespace evault::crypto {

class Digest {
 public:
  enum class Algorithm { kSha256, kSha512 };

  explicit Digest(Algorithm algorithm);
  ~Digest();
  Digest(Digest&&) noexcept;
  Digest& operator=(Digest&&) noexcept;

  void Update(ByteView bytes);
  Bytes Finish();  // the digest; the object can then be reused from scratch

  static Bytes Sha256(ByteView bytes);

 private:
  struct Context;
  std::unique_ptr<Context> ctx_;
  Algorithm algorithm_;
};

}  // namespace evault::crypto
