// SecretBytes: key material and plaintext in locked memory.
//
// Locked memory (mlock'd so it is never swapped, left out of core dumps), zeroed when
// released. Up to 64 KiB it comes from a pool of locked slabs, larger buffers from
// sodium_malloc with guard pages of their own (secret_bytes.cc says why). Not
// copyable: a key is moved or explicitly cloned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace evault::crypto {

// Must succeed before any other call; idempotent and thread-safe. Aborts the
// process if libsodium cannot initialise (no safe way to continue).
void EnsureSodium();

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t size);  // zero-filled
  ~SecretBytes();

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  static SecretBytes Random(std::size_t size);
  static SecretBytes CopyFrom(std::span<const std::uint8_t> bytes);
  static SecretBytes CopyFrom(std::string_view text);
  SecretBytes Clone() const;

  std::uint8_t* data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<std::uint8_t> span() { return {data_, size_}; }
  std::span<const std::uint8_t> span() const { return {data_, size_}; }
  std::string_view view() const { return {reinterpret_cast<const char*>(data_), size_}; }

  // Shrinks the logical size (e.g. after unpadding); the memory stays locked.
  void Truncate(std::size_t size);

  // Constant-time comparison.
  bool Equals(const SecretBytes& other) const;

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace evault::crypto
