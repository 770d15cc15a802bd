#include "vault/media_type.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

namespace evault::vault {

std::string MediaTypeForFileName(std::string_view file_name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 28> kTypes = {{
      {"txt", "text/plain"}, {"md", "text/markdown"}, {"csv", "text/csv"},
      {"html", "text/html"}, {"htm", "text/html"}, {"json", "application/json"},
      {"pdf", "application/pdf"}, {"doc", "application/msword"},
      {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
      {"odt", "application/vnd.oasis.opendocument.text"}, {"zip", "application/zip"},
      {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"}, {"png", "image/png"},
      {"gif", "image/gif"}, {"webp", "image/webp"}, {"heic", "image/heic"},
      {"tif", "image/tiff"}, {"tiff", "image/tiff"}, {"mp4", "video/mp4"},
      {"mov", "video/quicktime"}, {"mkv", "video/x-matroska"}, {"webm", "video/webm"},
      {"mp3", "audio/mpeg"}, {"m4a", "audio/mp4"}, {"ogg", "audio/ogg"},
      {"opus", "audio/opus"}, {"wav", "audio/wav"},
  }};
  const auto dot = file_name.rfind('.');
  if (dot == std::string_view::npos || dot + 1 == file_name.size()) return "application/octet-stream";
  std::string ext(file_name.substr(dot + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const auto& [e, type] : kTypes) {
    if (e == ext) return std::string(type);
  }
  return "application/octet-stream";
}

}  // namespace evault::vault
