// A whole export bundle (audit/bundle.h), as a court or a hostile party hands it over:
// the input is a few files, each "<path under the bag>\n<content>", separated by the
// separator of fuzz_util.h (a path ending in '/' makes an empty directory). The target
// writes them into a scratch bag under /dev/shm and runs VerifyBundle, which must name
// problems and never crash, whatever the files hold. Seeds are complete bundles signed
// by the fuzz world's key (make_seeds), and damaged copies of them.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "audit/bundle.h"
#include "fuzz/fuzz_util.h"

namespace {

namespace fs = std::filesystem;

// Only plain relative paths inside the bag: the verifier is under test, not the
// harness's ability to write outside its directory.
bool SafeRelative(std::string_view path) {
  if (path.empty() || path.size() > 200 || path.front() == '/') return false;
  std::size_t depth = 0;
  for (std::size_t start = 0; start <= path.size();) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(start, end - start);
    if (part == "." || part == ".." || (part.empty() && end != path.size())) return false;
    if (part.find('\0') != std::string_view::npos) return false;
    if (++depth > 8) return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace evault;
  // Removed when the run ends (libFuzzer exits through exit(), so this destructor runs).
  static const struct Scratch {
    fs::path dir = fuzz::ScratchDir("bundle");
    ~Scratch() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } scratch;
  const fs::path bag = scratch.dir / "bag";
  std::error_code ec;
  fs::remove_all(bag, ec);
  fs::create_directories(bag);
  for (std::string_view part : fuzz::Split(fuzz::AsView(data, size), 40)) {
    const std::size_t nl = part.find('\n');
    const std::string_view path = part.substr(0, nl);
    const std::string_view content = nl == std::string_view::npos ? std::string_view() : part.substr(nl + 1);
    if (!SafeRelative(path)) continue;
    const fs::path target = bag / fs::path(std::string(path));
    if (path.back() == '/') {
      fs::create_directories(target, ec);
      continue;
    }
    fs::create_directories(target.parent_path(), ec);
    if (fs::is_directory(target, ec)) continue;
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
  }
  auto report = audit::VerifyBundle(bag, std::nullopt);
  if (!report || !report->ok()) return 0;
  // Only the fuzz world's key signs seeds: a bundle that verifies is signed by it, and
  // verifies pinned to it, and not pinned to another key.
  static const std::string signer = crypto::ToHex(fuzz::FixedSigningKey(0).public_key());
  static const std::string other = crypto::ToHex(fuzz::FixedSigningKey(1).public_key());
  if (report->signer_key != signer) std::abort();
  auto pinned = audit::VerifyBundle(bag, signer);
  auto wrong = audit::VerifyBundle(bag, other);
  if (!pinned || !pinned->ok() || !wrong || wrong->ok()) std::abort();
  return 0;
}
