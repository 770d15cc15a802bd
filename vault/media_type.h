// The media type of an original, from its file name's extension (no content sniffing:
// the bytes are evidence and are stored exactly as they are).
#pragma once

#include <string>
#include <string_view>

namespace evault::vault {

std::string MediaTypeForFileName(std::string_view file_name);

}  // namespace evault::vault
