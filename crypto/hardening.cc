#include "crypto/hardening.h"

#include <sys/prctl.h>
#include <sys/resource.h>

namespace evault::crypto {

Status DisableCoreDumps() {
  struct rlimit none = {0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0) {
    return Fail(ErrorCode::kIo, "could not disable core dumps (setrlimit)");
  }
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return Fail(ErrorCode::kIo, "could not disable core dumps (prctl)");
  }
  return Ok();
}

}  // namespace evault::crypto
