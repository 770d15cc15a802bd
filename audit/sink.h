// ByteSink: where a streaming writer (TarWriter, AgeWriter, a streamed BagWriter) puts
// its output, so the writers stack without any of them touching disk:
//   BagWriter -> TarWriter -> AgeWriter -> SealedFile
//
// Contract: a sink takes all of the bytes or returns an error; it never keeps the view
// after returning. A writer whose sink failed once refuses every later call, so a
// half-written stream is never mistaken for a complete one.
#pragma once

#include <functional>

#include "crypto/bytes.h"
#include "crypto/status.h"

namespace evault::audit {

using ByteSink = std::function<Status(crypto::ByteView)>;

}  // namespace evault::audit
