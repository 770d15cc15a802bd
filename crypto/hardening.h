// Process hardening for a program that holds keys and plaintext evidence: no core
// dumps, not ptrace-attachable by same-uid processes, no swap of locked pages.
#pragma once

#include "crypto/status.h"

namespace evault::crypto {

// prctl(PR_SET_DUMPABLE, 0) and RLIMIT_CORE 0. Call first thing in main().
Status DisableCoreDumps();

}  // namespace evault::crypto
