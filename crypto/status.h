// Errors are values. Every fallible call in the crypto and vault libraries returns
// Result<T> (std::expected) carrying an Error whose message names what failed and
// never echoes a secret or a byte of plaintext.
#pragma once

#include <cerrno>
#include <expected>
#include <string>
#include <utility>

namespace evault {

enum class ErrorCode {
  kInvalidArgument,     // the caller's input is malformed (bad JSON, bad id, ...)
  kNotFound,            // an id or file that does not exist
  kAlreadyExists,       // refusing to overwrite
  kWrongPassphrase,     // the key slot did not open
  kTampered,            // authentication failed: data was altered, moved or truncated
  kCorrupt,             // stored data is structurally broken
  kUnsupportedVersion,  // written by a newer evault
  kNotAVault,           // a directory without a vault header
  kIo,                  // the operating system or RocksDB refused
  kNoSpace,             // the disk is full: an I/O failure that freeing space cures
  kWeakParameters,      // KDF parameters below the floor
  kPermissionDenied,    // this device's role or keys do not allow it
  kInternal,
  kUnsupported,         // not available here (e.g. on this storage backend); say what is
  kAborted,             // a condition the caller checked changed before the write; nothing written, retry
};

struct Error {
  ErrorCode code;
  std::string message;
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}

// An operating-system failure by its errno: a full disk (or quota) is kNoSpace, the
// rest kIo. `message` should already name what failed and strerror(err).
inline std::unexpected<Error> FailErrno(int err, std::string message) {
  return Fail(err == ENOSPC || err == EDQUOT ? ErrorCode::kNoSpace : ErrorCode::kIo, std::move(message));
}

inline Status Ok() { return {}; }

// The enumerator's name, for tests and diagnostics.
inline const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "kInvalidArgument";
    case ErrorCode::kNotFound: return "kNotFound";
    case ErrorCode::kAlreadyExists: return "kAlreadyExists";
    case ErrorCode::kWrongPassphrase: return "kWrongPassphrase";
    case ErrorCode::kTampered: return "kTampered";
    case ErrorCode::kCorrupt: return "kCorrupt";
    case ErrorCode::kUnsupportedVersion: return "kUnsupportedVersion";
    case ErrorCode::kNotAVault: return "kNotAVault";
    case ErrorCode::kIo: return "kIo";
    case ErrorCode::kNoSpace: return "kNoSpace";
    case ErrorCode::kWeakParameters: return "kWeakParameters";
    case ErrorCode::kPermissionDenied: return "kPermissionDenied";
    case ErrorCode::kInternal: return "kInternal";
    case ErrorCode::kUnsupported: return "kUnsupported";
    case ErrorCode::kAborted: return "kAborted";
  }
  return "unknown";
}

}  // namespace evault

// Propagates the error of a Result/Status expression, LevelDB-style.
#define EVAULT_TRY(expr)                                   \
  do {                                                     \
    if (auto evault_try_result_ = (expr); !evault_try_result_) \
      return std::unexpected(std::move(evault_try_result_.error())); \
  } while (0)

#define EVAULT_CONCAT_INNER_(a, b) a##b
#define EVAULT_CONCAT_(a, b) EVAULT_CONCAT_INNER_(a, b)
// EVAULT_ASSIGN_OR_RETURN(auto x, Expr()) declares x from a successful Result.
#define EVAULT_ASSIGN_OR_RETURN(decl, expr)                               \
  auto EVAULT_CONCAT_(evault_aor_, __LINE__) = (expr);                    \
  if (!EVAULT_CONCAT_(evault_aor_, __LINE__))                             \
    return std::unexpected(std::move(EVAULT_CONCAT_(evault_aor_, __LINE__).error())); \
  decl = std::move(*EVAULT_CONCAT_(evault_aor_, __LINE__))
