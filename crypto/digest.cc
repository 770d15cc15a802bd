#include "crypto/digest.h"

#include <openssl/evp.h>

#include <cstdlib>

namespace evault::crypto {

struct Digest::Context {
  EVP_MD_CTX* md = nullptr;
  ~Context() { EVP_MD_CTX_free(md); }
};

namespace {
const EVP_MD* MdFor(Digest::Algorithm algorithm) {
  return algorithm == Digest::Algorithm::kSha256 ? EVP_sha256() : EVP_sha512();
}
}  // namespace

Digest::Digest(Algorithm algorithm) : ctx_(std::make_unique<Context>()), algorithm_(algorithm) {
  ctx_->md = EVP_MD_CTX_new();
  if (ctx_->md == nullptr || EVP_DigestInit_ex(ctx_->md, MdFor(algorithm_), nullptr) != 1) {
    std::abort();
  }
}

Digest::~Digest() = default;
Digest::Digest(Digest&&) noexcept = default;
Digest& Digest::operator=(Digest&&) noexcept = default;

void Digest::Update(ByteView bytes) {
  if (EVP_DigestUpdate(ctx_->md, bytes.data(), bytes.size()) != 1) std::abort();
}

Bytes Digest::Finish() {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(ctx_->md, out.data(), &size) != 1 ||
      EVP_DigestInit_ex(ctx_->md, MdFor(algorithm_), nullptr) != 1) {
    std::abort();
  }
  out.resize(size);
  return out;
}

Bytes Digest::Sha256(ByteView bytes) {
  Digest d(Algorithm::kSha256);
  d.Update(bytes);
  return d.Finish();
}

}  // namespace evault::crypto
