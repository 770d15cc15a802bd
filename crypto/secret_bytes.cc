#include "crypto/secret_bytes.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "crypto/sanitizers.h"

namespace evault::crypto {

void EnsureSodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) std::abort();
}

namespace {

// Small secrets (keys, object bodies, index blocks) come from slabs of locked memory,
// carved into slots of power-of-two sizes and zeroed when given back. sodium_malloc per
// allocation costs an mmap, two mprotects, an mlock and a munmap; with one per key slot
// and per object that was a fifth of the time of a bulk import. The slabs themselves come
// from sodium_malloc, so they are locked, excluded from core dumps and fenced by guard
// pages; what a slot no longer has is a guard page of its own. Large buffers (attachment
// chunks) and AddressSanitizer builds (which must see every overflow) bypass the pool.
class LockedPool {
 public:
  static constexpr std::size_t kMinSlot = 32;
  static constexpr std::size_t kMaxSlot = 64 << 10;

  static LockedPool& Get() {
    static LockedPool* pool = new LockedPool();  // never destroyed: statics may outlive it
    return *pool;
  }

  static bool Serves(std::size_t size) { return !kAddressSanitizer && size <= kMaxSlot; }

  void* Allocate(std::size_t size) {
    const std::size_t c = ClassOf(size);
    std::lock_guard lock(mutex_);
    auto& free = free_[c];
    if (free.empty() && !Grow(c)) return nullptr;
    void* slot = free.back();
    free.pop_back();
    return slot;
  }

  void Release(void* slot, std::size_t size) {
    const std::size_t c = ClassOf(size);
    sodium_memzero(slot, SlotSize(c));
    std::lock_guard lock(mutex_);
    free_[c].push_back(slot);
  }

 private:
  static constexpr std::size_t kClasses = 12;  // 32 B .. 64 KiB
  static constexpr std::size_t kSlabBytes = 256 << 10;

  static std::size_t SlotSize(std::size_t c) { return kMinSlot << c; }
  static std::size_t ClassOf(std::size_t size) {
    std::size_t c = 0;
    while (SlotSize(c) < size) ++c;
    return c;
  }

  bool Grow(std::size_t c) {
    void* slab = sodium_malloc(kSlabBytes);  // locked, fenced, not dumped
    if (slab == nullptr) return false;
    sodium_memzero(slab, kSlabBytes);
    auto* bytes = static_cast<std::uint8_t*>(slab);
    for (std::size_t at = 0; at + SlotSize(c) <= kSlabBytes; at += SlotSize(c)) free_[c].push_back(bytes + at);
    return true;
  }

  std::mutex mutex_;
  std::vector<void*> free_[kClasses];
};

std::uint8_t* AllocateLocked(std::size_t size) {
  void* p = LockedPool::Serves(size) ? LockedPool::Get().Allocate(size) : sodium_malloc(size);
  if (p == nullptr) throw std::bad_alloc();
  return static_cast<std::uint8_t*>(p);
}

void ReleaseLocked(std::uint8_t* p, std::size_t size) {
  if (LockedPool::Serves(size)) {
    LockedPool::Get().Release(p, size);
  } else {
    sodium_free(p);  // zeroes before unmapping
  }
}

}  // namespace

// One byte at least, so data_ is never null for a live object; capacity_ remembers the
// allocation's size, which Truncate does not change.
SecretBytes::SecretBytes(std::size_t size) : size_(size), capacity_(size == 0 ? 1 : size) {
  EnsureSodium();
  data_ = AllocateLocked(capacity_);
  sodium_memzero(data_, capacity_);
}

SecretBytes::~SecretBytes() {
  if (data_ != nullptr) ReleaseLocked(data_, capacity_);
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) ReleaseLocked(data_, capacity_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

SecretBytes SecretBytes::Random(std::size_t size) {
  SecretBytes out(size);
  randombytes_buf(out.data_, size);
  return out;
}

SecretBytes SecretBytes::CopyFrom(std::span<const std::uint8_t> bytes) {
  SecretBytes out(bytes.size());
  if (!bytes.empty()) std::memcpy(out.data_, bytes.data(), bytes.size());
  return out;
}

SecretBytes SecretBytes::CopyFrom(std::string_view text) {
  return CopyFrom(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

SecretBytes SecretBytes::Clone() const { return CopyFrom(span()); }

void SecretBytes::Truncate(std::size_t size) {
  if (size >= size_) return;
  sodium_memzero(data_ + size, size_ - size);
  size_ = size;
}

bool SecretBytes::Equals(const SecretBytes& other) const {
  return size_ == other.size_ && (size_ == 0 || sodium_memcmp(data_, other.data_, size_) == 0);
}

}  // namespace evault::crypto
