// Whether this build runs under AddressSanitizer: gcc defines __SANITIZE_ADDRESS__, clang
// answers __has_feature(address_sanitizer). Code that pools memory steps aside for it,
// and tests that measure memory do not (ASan's quarantine keeps freed memory mapped).
#pragma once

namespace evault::crypto {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

}  // namespace evault::crypto
