// VerifyBundle (audit/bundle.h): every check a court's expert would make on an export
// bundle, each failure one problem line naming the file and line or entry.
//
// Nothing in the bag is trusted: the directory is walked once without following any
// link, and every later read opens only files found by that walk, component by
// component with O_NOFOLLOW. Files are read with size limits (originals are hashed in a
// stream, never loaded), JSON is screened for depth before it is parsed, and no value
// from the bag reaches a problem line unescaped.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "audit/bagit.h"
#include "audit/bundle.h"
#include "audit/text.h"
#include "audit/custody.h"
#include "audit/minisign.h"
#include "audit/sshsig.h"
#include "crypto/digest.h"

namespace evault::audit {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// What this verifier reads into memory at most, per file.
constexpr std::uint64_t kMaxTagFileBytes = 1u << 20;     // bagit.txt, bag-info, keys, signatures
constexpr std::uint64_t kMaxManifestBytes = 256u << 20;  // manifests, tag manifest
constexpr std::uint64_t kMaxJsonFileBytes = 64u << 20;   // case, revisions, attachment metadata
constexpr std::uint64_t kMaxCustodyBytes = 256u << 20;   // custody log and proof
// A custody line is a few hundred bytes; a log of more lines than this is not one an
// exporter wrote, and checking it line by line would cost gigabytes.
constexpr std::size_t kMaxCustodyLines = 1'000'000;
constexpr std::size_t kMaxJsonDepth = 128;               // nlohmann's dump and == recurse
constexpr int kMaxDirectoryDepth = 32;
constexpr std::size_t kMaxProblems = 10000;
constexpr std::size_t kReadChunkBytes = 1u << 20;
constexpr std::size_t kIdHexDigits = 32;

constexpr std::string_view kBagitTxtContent = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";
constexpr char kBagitTxt[] = "bagit.txt";
constexpr char kBagInfo[] = "bag-info.txt";
constexpr char kManifest256[] = "manifest-sha256.txt";
constexpr char kManifest512[] = "manifest-sha512.txt";
constexpr char kExporterPub[] = "exporter.pub";
constexpr char kAllowedSigners[] = "allowed_signers";
constexpr char kTagManifest[] = "tagmanifest-sha256.txt";
constexpr char kTagManifestMinisig[] = "tagmanifest-sha256.txt.minisig";
constexpr char kTagManifestSshsig[] = "tagmanifest-sha256.txt.sshsig";

const std::string kData = "data/";
const std::string kCasePath = kData + kCaseFile;
const std::string kRecordsPath = kData + kRecordsDir;
const std::string kAttachmentsPath = kData + kAttachmentsDir;
const std::string kLogPath = kData + kCustodyLogFile;
const std::string kProofPath = kData + kCustodyProofFile;


// Text from the bag, fit for one problem line: valid UTF-8, control characters and
// stray bytes escaped as \xNN, no more than `max_bytes` of it shown.
std::string Shown(std::string_view text, std::size_t max_bytes = 200) {
  std::string out;
  while (!text.empty()) {
    if (out.size() >= max_bytes) {
      out += "...";
      break;
    }
    std::uint32_t code_point = 0;
    const std::size_t n = Utf8Sequence(text, code_point);
    const unsigned char c = static_cast<unsigned char>(text[0]);
    if (n == 0 || c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02x}", c);
      text.remove_prefix(1);
    } else {
      out.append(text.substr(0, n));
      text.remove_prefix(n);
    }
  }
  return out;
}
// A message from a parser or verifier that may quote the bag.
std::string ShownMessage(std::string_view message) { return Shown(message, 2000); }
// An id or label from bag-info, which may be absent.
std::string ShownValue(std::string_view value) { return value.empty() ? std::string("(none)") : Shown(value); }

bool IsLowerHex(std::string_view s, std::size_t digits) {
  return s.size() == digits &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}
bool IsId(std::string_view s) { return IsLowerHex(s, kIdHexDigits); }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Splits on '\n'; the text after the last '\n' is a line only if not empty.
std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    lines.push_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}


bool IsCanonical(const json& value, std::string_view text) {
  try {
    return value.dump(-1, ' ', false, json::error_handler_t::strict) == text;
  } catch (const json::exception&) {
    return false;
  }
}

const json* Field(const json& object, const char* name) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(name);
  return it == object.end() ? nullptr : &*it;
}
std::optional<std::string> StringField(const json& object, const char* name) {
  const json* f = Field(object, name);
  if (f == nullptr || !f->is_string()) return std::nullopt;
  return f->get<std::string>();
}
std::optional<std::uint64_t> UintField(const json& object, const char* name) {
  const json* f = Field(object, name);
  if (f == nullptr || !f->is_number_unsigned()) return std::nullopt;
  return f->get<std::uint64_t>();
}

// Why a path from a manifest is unsafe to open, or nullopt.
std::optional<std::string> UnsafePath(std::string_view path) {
  if (path.empty()) return "an empty path";
  if (path.front() == '/') return "an absolute path";
  for (unsigned char c : path) {
    if (c == '\\') return "a backslash in the path";
    if (c < 0x20 || c == 0x7F) return "a control character in the path";
    if (c == '%') return "a '%' in the path (BagIt would percent-decode it; evault never writes one)";
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view part = path.substr(start, end - start);
    if (part == "..") return "a \"..\" component in the path (it would leave the bag)";
    if (part.empty() || part == ".") return "an empty or \".\" component in the path";
    start = end + 1;
  }
  return std::nullopt;
}

// The parent directory of a relative path ("" at the top).
std::string ParentOf(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string() : std::string(path.substr(0, slash));
}

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

struct FileHashes {
  std::uint64_t size = 0;
  std::string sha256, sha512;  // lower-case hex
};

// One custody line that parsed, with what the cross-checks use.
struct Entry {
  std::size_t line = 0;  // 1-based, as in the file
  json fields;
  std::string action, device, key;
  const json& subject() const { return fields["subject"]; }
  std::string Named() const { return fmt::format("custody line {} ({})", line, action); }
};

class Verifier {
 public:
  explicit Verifier(fs::path root) : root_(std::move(root)) {}

  BundleReport Run(const std::optional<std::string>& expected_signer);

 private:
  void Problem(std::string text) {
    if (report_.problems.size() < kMaxProblems) {
      report_.problems.push_back(std::move(text));
    } else {
      ++dropped_problems_;
    }
  }

  // The bag's inventory.
  void Walk(const fs::path& dir, const std::string& rel, int depth);
  bool IsFile(const std::string& rel) const { return files_.contains(rel); }
  std::string WhyAbsent(const std::string& rel) const;

  // Reading files found by the walk.
  Result<int> Open(const std::string& rel) const;
  Result<std::string> Read(const std::string& rel, std::uint64_t limit) const;
  std::optional<std::string> ReadOrProblem(const std::string& rel, std::uint64_t limit);
  const Result<FileHashes>& Hashes(const std::string& rel);
  std::optional<json> ParseJsonFile(const std::string& rel, const std::string& text);

  // The checks, in order.
  void CheckBagitTxt();
  void ParseBagInfo();
  std::optional<std::string> Info(const std::string& label, bool required = true);
  void CheckPayloadOxum();
  void CheckManifest(const char* name, std::size_t hex_digits, bool sha512);
  void CheckTagManifest();
  void CheckTopLevel();
  void CheckSignatures(const std::optional<std::string>& expected_signer);
  void CheckBagInfoFields();
  void CheckLayout();
  void CheckCustody();
  void CheckCase();
  void CheckRecords();
  void CheckRevision(const std::string& record_id, const std::string& rel, const std::string& file_name);
  void CheckAttachments();
  void CheckAttachment(const std::string& attachment_id);
  void CheckLogNamesOnlyBundledFiles();

  std::vector<const Entry*> EntriesNaming(const std::multimap<std::string, std::size_t>& index,
                                          const std::string& id) const {
    std::vector<const Entry*> out;
    auto [from, to] = index.equal_range(id);
    for (auto it = from; it != to; ++it) out.push_back(&entries_[it->second]);
    return out;
  }

  fs::path root_;
  BundleReport report_;
  std::size_t dropped_problems_ = 0;

  std::map<std::string, std::uint64_t> files_;  // regular files (relative path -> size)
  std::set<std::string> dirs_;                  // directories
  std::set<std::string> not_files_;             // links and other non-regular entries
  std::map<std::string, Result<FileHashes>> hashes_;

  std::vector<std::pair<std::string, std::string>> info_;  // bag-info.txt, in order
  bool have_info_ = false;
  std::string tag_manifest_;
  bool have_tag_manifest_ = false;
  std::set<std::string> tag_listed_;
  std::optional<crypto::Bytes> signer_;  // the Ed25519 key the bag is signed with
  std::string vault_id_, case_id_;
  std::optional<std::string> export_time_, export_purpose_;  // bag-info

  std::vector<std::string> lines_;  // the custody log
  std::vector<Entry> entries_;      // lines that parsed and belong to this vault and case
  std::multimap<std::string, std::size_t> case_creates_, revisions_, attachment_captures_;  // id -> entries_ index
  std::set<std::string> bundled_revisions_, bundled_attachments_;                             // ids with files
  std::optional<json> checkpoint_;
};

// ---------------------------------------------------------------------------------
// The inventory

void Verifier::Walk(const fs::path& dir, const std::string& rel, int depth) {
  std::error_code ec;
  std::vector<fs::directory_entry> children;
  fs::directory_iterator it(dir, fs::directory_options::none, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) children.push_back(*it);
  const std::string shown_dir = rel.empty() ? "the bag directory" : Shown(rel) + "/";
  if (ec) {
    Problem(fmt::format("{}: cannot be listed: {}", shown_dir, ec.message()));
    return;
  }
  std::sort(children.begin(), children.end(),
            [](const auto& a, const auto& b) { return a.path().filename() < b.path().filename(); });
  for (const auto& child : children) {
    const std::string name = child.path().filename().string();
    const std::string child_rel = rel.empty() ? name : rel + "/" + name;
    const fs::file_status status = child.symlink_status(ec);
    if (ec) {
      Problem(fmt::format("{}: cannot be examined: {}", Shown(child_rel), ec.message()));
      not_files_.insert(child_rel);
    } else if (fs::is_symlink(status)) {
      Problem(fmt::format("{}: a symbolic link (not followed); a bundle holds none", Shown(child_rel)));
      not_files_.insert(child_rel);
    } else if (fs::is_directory(status)) {
      dirs_.insert(child_rel);
      if (depth >= kMaxDirectoryDepth) {
        Problem(fmt::format("{}/: nested deeper than {} directories; not examined", Shown(child_rel), kMaxDirectoryDepth));
      } else {
        Walk(child.path(), child_rel, depth + 1);
      }
    } else if (fs::is_regular_file(status)) {
      const std::uintmax_t size = child.file_size(ec);
      files_[child_rel] = ec ? 0 : size;
    } else {
      Problem(fmt::format("{}: neither a regular file nor a directory (a device, socket or pipe)", Shown(child_rel)));
      not_files_.insert(child_rel);
    }
  }
}

std::string Verifier::WhyAbsent(const std::string& rel) const {
  if (not_files_.contains(rel)) return "is not a regular file (not read)";
  if (dirs_.contains(rel)) return "is a directory, not a file";
  return "is missing";
}

// Opens a file of the walk, each directory on its path and the file itself with
// O_NOFOLLOW, so a link swapped in after the walk is not followed either.
Result<int> Verifier::Open(const std::string& rel) const {
  if (!IsFile(rel)) return Fail(ErrorCode::kNotFound, WhyAbsent(rel));
  int dir = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return Fail(ErrorCode::kIo, fmt::format("the bag directory cannot be opened: {}", std::strerror(errno)));
  std::string_view rest = rel;
  for (std::size_t slash = rest.find('/'); slash != std::string_view::npos; slash = rest.find('/')) {
    const std::string part(rest.substr(0, slash));
    rest.remove_prefix(slash + 1);
    const int next = ::openat(dir, part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    const int error = errno;
    ::close(dir);
    if (next < 0) {
      return Fail(ErrorCode::kIo, fmt::format("a directory on its path cannot be opened: {}", std::strerror(error)));
    }
    dir = next;
  }
  const int fd = ::openat(dir, std::string(rest).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  const int error = errno;
  ::close(dir);
  if (fd < 0) {
    return Fail(ErrorCode::kIo, error == ELOOP ? std::string("is a symbolic link (not followed)")
                                               : fmt::format("cannot be opened: {}", std::strerror(error)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Fail(ErrorCode::kIo, "is not a regular file (not read)");
  }
  return fd;
}

Result<std::string> Verifier::Read(const std::string& rel, std::uint64_t limit) const {
  EVAULT_ASSIGN_OR_RETURN(const int raw_fd, Open(rel));
  FdCloser fd(raw_fd);
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) > limit) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("is {} bytes, more than the {} this check reads", st.st_size, limit));
  }
  std::string out;
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(ErrorCode::kIo, fmt::format("cannot be read: {}", std::strerror(errno)));
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > limit) {
      return Fail(ErrorCode::kInvalidArgument, fmt::format("is more than the {} bytes this check reads", limit));
    }
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

std::optional<std::string> Verifier::ReadOrProblem(const std::string& rel, std::uint64_t limit) {
  auto text = Read(rel, limit);
  if (!text) {
    Problem(fmt::format("{}: {}", Shown(rel), text.error().message));
    return std::nullopt;
  }
  return std::move(*text);
}

// SHA-256, SHA-512 and size of a file, in one streaming pass, once per file.
const Result<FileHashes>& Verifier::Hashes(const std::string& rel) {
  if (auto it = hashes_.find(rel); it != hashes_.end()) return it->second;
  auto compute = [&]() -> Result<FileHashes> {
    EVAULT_ASSIGN_OR_RETURN(const int raw_fd, Open(rel));
    FdCloser fd(raw_fd);
    crypto::Digest sha256(crypto::Digest::Algorithm::kSha256), sha512(crypto::Digest::Algorithm::kSha512);
    auto buffer = std::make_unique<std::uint8_t[]>(kReadChunkBytes);
    FileHashes h;
    for (;;) {
      const ssize_t n = ::read(fd.get(), buffer.get(), kReadChunkBytes);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Fail(ErrorCode::kIo, fmt::format("cannot be read: {}", std::strerror(errno)));
      if (n == 0) break;
      const crypto::ByteView chunk(buffer.get(), static_cast<std::size_t>(n));
      sha256.Update(chunk);
      sha512.Update(chunk);
      h.size += static_cast<std::uint64_t>(n);
    }
    h.sha256 = crypto::ToHex(sha256.Finish());
    h.sha512 = crypto::ToHex(sha512.Finish());
    return h;
  };
  return hashes_.emplace(rel, compute()).first->second;
}

std::optional<json> Verifier::ParseJsonFile(const std::string& rel, const std::string& text) {
  if (JsonDepth(text, kMaxJsonDepth) > kMaxJsonDepth) {
    Problem(fmt::format("{}: JSON nested deeper than {} levels; not parsed", Shown(rel), kMaxJsonDepth));
    return std::nullopt;
  }
  json value;
  try {
    value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  } catch (const json::exception&) {
    value = json(json::value_t::discarded);
  }
  if (value.is_discarded()) {
    Problem(fmt::format("{}: not valid JSON", Shown(rel)));
    return std::nullopt;
  }
  if (!value.is_object()) {
    Problem(fmt::format("{}: not a JSON object", Shown(rel)));
    return std::nullopt;
  }
  return value;
}

// ---------------------------------------------------------------------------------
// The bag

void Verifier::CheckBagitTxt() {
  auto text = ReadOrProblem(kBagitTxt, kMaxTagFileBytes);
  if (text && *text != kBagitTxtContent) {
    Problem(fmt::format("{}: not exactly \"BagIt-Version: 1.0\" and \"Tag-File-Character-Encoding: UTF-8\"", kBagitTxt));
  }
}

// RFC 8493 2.2.2: "Label: value" lines; a line starting with whitespace continues the
// value before it.
void Verifier::ParseBagInfo() {
  auto text = ReadOrProblem(kBagInfo, kMaxTagFileBytes);
  if (!text) return;
  have_info_ = true;
  if (!text->empty() && text->back() != '\n') Problem(fmt::format("{}: the last line has no line ending", kBagInfo));
  const auto lines = SplitLines(*text);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      Problem(fmt::format("{} line {}: empty", kBagInfo, i + 1));
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      if (info_.empty()) {
        Problem(fmt::format("{} line {}: a continuation with no field before it", kBagInfo, i + 1));
      } else {
        info_.back().second += " " + std::string(line.substr(line.find_first_not_of(" \t")));
      }
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 >= line.size() ||
        (line[colon + 1] != ' ' && line[colon + 1] != '\t')) {
      Problem(fmt::format("{} line {}: not \"Label: value\"", kBagInfo, i + 1));
      continue;
    }
    const std::size_t value_start = line.find_first_not_of(" \t", colon + 1);
    info_.emplace_back(std::string(line.substr(0, colon)),
                       value_start == std::string_view::npos ? std::string() : std::string(line.substr(value_start)));
  }
}

std::optional<std::string> Verifier::Info(const std::string& label, bool required) {
  if (!have_info_) return std::nullopt;
  std::optional<std::string> value;
  std::size_t count = 0;
  for (const auto& [l, v] : info_) {
    if (l == label) {
      ++count;
      value = v;
    }
  }
  if (count == 0 && required) Problem(fmt::format("{}: no {} field", kBagInfo, label));
  if (count > 1) {
    Problem(fmt::format("{}: {} appears {} times", kBagInfo, label, count));
    return std::nullopt;
  }
  return value;
}

void Verifier::CheckPayloadOxum() {
  std::uint64_t bytes = 0, count = 0;
  for (const auto& [path, size] : files_) {
    if (!path.starts_with(kData)) continue;
    bytes += size;
    ++count;
  }
  report_.payload_bytes = bytes;
  const auto oxum = Info("Payload-Oxum");
  if (!oxum) return;
  const std::size_t dot = oxum->find('.');
  const auto digits = [](std::string_view s) {
    return !s.empty() && s.size() <= 19 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (dot == std::string::npos || !digits(std::string_view(*oxum).substr(0, dot)) ||
      !digits(std::string_view(*oxum).substr(dot + 1))) {
    Problem(fmt::format("{}: Payload-Oxum \"{}\" is not OCTETCOUNT.STREAMCOUNT", kBagInfo, Shown(*oxum)));
    return;
  }
  const std::string expected = fmt::format("{}.{}", bytes, count);
  if (*oxum != expected) {
    Problem(fmt::format("{}: Payload-Oxum is {}, but data/ holds {} bytes in {} files", kBagInfo, Shown(*oxum), bytes,
                        count));
  }
}

// "HASH  data/PATH" lines: each path safe and present with the hash; every payload file
// listed.
void Verifier::CheckManifest(const char* name, std::size_t hex_digits, bool sha512) {
  const char* algorithm = sha512 ? "SHA-512" : "SHA-256";
  auto text = ReadOrProblem(name, kMaxManifestBytes);
  if (!text) return;
  if (!text->empty() && text->back() != '\n') Problem(fmt::format("{}: the last line has no line ending", name));
  std::map<std::string, std::size_t> listed;  // path -> line
  const auto lines = SplitLines(*text);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    const std::size_t number = i + 1;
    if (line.empty()) {
      Problem(fmt::format("{} line {}: empty", name, number));
      continue;
    }
    if (line.back() == '\r') {
      Problem(fmt::format("{} line {}: ends in a carriage return (sha256sum would read it as part of the name)", name,
                          number));
      continue;
    }
    if (line.size() < hex_digits + 3 || line.substr(hex_digits, 2) != "  " ||
        !IsLowerHex(Lower(line.substr(0, hex_digits)), hex_digits)) {
      Problem(fmt::format("{} line {}: not \"{}  PATH\" with a {}-digit hex {}", name, number, sha512 ? "SHA512" : "SHA256",
                          hex_digits, algorithm));
      continue;
    }
    const std::string hash = Lower(line.substr(0, hex_digits));
    const std::string path(line.substr(hex_digits + 2));
    if (auto unsafe = UnsafePath(path)) {
      Problem(fmt::format("{} line {}: \"{}\" is unsafe: {}", name, number, Shown(path), *unsafe));
      continue;
    }
    if (!path.starts_with(kData)) {
      Problem(fmt::format("{} line {}: \"{}\" is not under data/", name, number, Shown(path)));
      continue;
    }
    if (auto [it, added] = listed.emplace(path, number); !added) {
      Problem(fmt::format("{} line {}: {} is listed twice (also line {})", name, number, Shown(path), it->second));
      continue;
    }
    if (!IsFile(path)) {
      Problem(fmt::format("{} line {}: {} {}", name, number, Shown(path), WhyAbsent(path)));
      continue;
    }
    const auto& h = Hashes(path);
    if (!h) {
      Problem(fmt::format("{}: {}", Shown(path), h.error().message));
    } else if ((sha512 ? h->sha512 : h->sha256) != hash) {
      Problem(fmt::format("{}: its {} does not match {} line {}: the file was altered", Shown(path), algorithm, name,
                          number));
    }
  }
  for (const auto& [path, size] : files_) {
    if (path.starts_with(kData) && !listed.contains(path)) {
      Problem(fmt::format("{}: not listed in {}: a file was added to the payload", Shown(path), name));
    }
  }
}

void Verifier::CheckTagManifest() {
  auto text = ReadOrProblem(kTagManifest, kMaxManifestBytes);
  if (!text) return;
  tag_manifest_ = *text;
  have_tag_manifest_ = true;
  if (!text->empty() && text->back() != '\n') Problem(fmt::format("{}: the last line has no line ending", kTagManifest));
  const auto lines = SplitLines(*text);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    const std::size_t number = i + 1;
    if (line.empty()) {
      Problem(fmt::format("{} line {}: empty", kTagManifest, number));
      continue;
    }
    if (line.size() < 67 || line.substr(64, 2) != "  " || !IsLowerHex(Lower(line.substr(0, 64)), 64) ||
        line.back() == '\r') {
      Problem(fmt::format("{} line {}: not \"SHA256  NAME\"", kTagManifest, number));
      continue;
    }
    const std::string hash = Lower(line.substr(0, 64));
    const std::string path(line.substr(66));
    if (auto unsafe = UnsafePath(path)) {
      Problem(fmt::format("{} line {}: \"{}\" is unsafe: {}", kTagManifest, number, Shown(path), *unsafe));
      continue;
    }
    if (!tag_listed_.insert(path).second) {
      Problem(fmt::format("{} line {}: {} is listed twice", kTagManifest, number, Shown(path)));
      continue;
    }
    if (!IsFile(path)) {
      Problem(fmt::format("{} line {}: {} {}", kTagManifest, number, Shown(path), WhyAbsent(path)));
      continue;
    }
    const auto& h = Hashes(path);
    if (!h) {
      Problem(fmt::format("{}: {}", Shown(path), h.error().message));
    } else if (h->sha256 != hash) {
      Problem(fmt::format("{}: its SHA-256 does not match {} line {}: the file was altered", Shown(path), kTagManifest,
                          number));
    }
  }
  for (const char* required : {kBagitTxt, kBagInfo, kManifest256, kManifest512, kExporterPub, kAllowedSigners,
                               kReportFile}) {
    if (!tag_listed_.contains(required)) {
      Problem(fmt::format("{}: does not list {}, so its signatures do not cover it", kTagManifest, required));
    }
  }
}

// Outside data/, only the signed tag files and the tag manifest with its signatures.
void Verifier::CheckTopLevel() {
  // The other tag files are read, which names any that is missing; report.html only
  // when the tag manifest does not name it either.
  if (!IsFile(kReportFile) && !not_files_.contains(kReportFile) && !tag_listed_.contains(kReportFile)) {
    Problem(fmt::format("{}: {}", kReportFile, WhyAbsent(kReportFile)));
  }
  for (const auto& [path, size] : files_) {
    if (path.starts_with(kData) || path == kTagManifest || path == kTagManifestMinisig || path == kTagManifestSshsig) {
      continue;
    }
    if (!tag_listed_.contains(path) && have_tag_manifest_) {
      Problem(fmt::format("{}: a file outside data/ that {} does not list, so nothing signs it", Shown(path),
                          kTagManifest));
    }
  }
  if (!dirs_.contains("data")) Problem("data/: missing (the bag has no payload directory)");
}

// Both signatures of the tag manifest, one key in exporter.pub and allowed_signers, and
// the key the caller pinned.
void Verifier::CheckSignatures(const std::optional<std::string>& expected_signer) {
  std::optional<crypto::Bytes> minisign_key, ssh_key;
  const auto pub = ReadOrProblem(kExporterPub, kMaxTagFileBytes);
  if (pub) {
    if (auto key = ParseMinisignPublicKey(*pub)) {
      minisign_key = *key;
    } else {
      Problem(fmt::format("{}: {}", kExporterPub, ShownMessage(key.error().message)));
    }
  }
  if (const auto allowed = ReadOrProblem(kAllowedSigners, kMaxTagFileBytes)) {
    auto signers = ParseAllowedSigners(*allowed);
    if (!signers) {
      Problem(fmt::format("{}: {}", kAllowedSigners, ShownMessage(signers.error().message)));
    } else if (signers->size() != 1) {
      Problem(fmt::format("{}: holds {} signers, not the exporting device's one key", kAllowedSigners, signers->size()));
    } else {
      const AllowedSigner& signer = signers->front();
      ssh_key = signer.key;
      if (!signer.namespaces.empty() &&
          std::find(signer.namespaces.begin(), signer.namespaces.end(), kExportNamespace) == signer.namespaces.end()) {
        Problem(fmt::format("{}: the signer's namespaces do not include \"{}\", so ssh-keygen -Y verify refuses it",
                            kAllowedSigners, kExportNamespace));
      }
    }
  }
  if (minisign_key && ssh_key && *minisign_key != *ssh_key) {
    Problem(fmt::format("{} and {} hold different keys ({} and {}): one exporting device signs with one key",
                        kExporterPub, kAllowedSigners, SshFingerprint(*minisign_key), SshFingerprint(*ssh_key)));
  }
  signer_ = minisign_key ? minisign_key : ssh_key;
  if (signer_) {
    report_.signer_key = crypto::ToHex(*signer_);
    report_.signer_fingerprint = SshFingerprint(*signer_);
  }

  if (have_tag_manifest_) {
    const crypto::ByteView manifest = crypto::AsBytes(tag_manifest_);
    if (const auto minisig = ReadOrProblem(kTagManifestMinisig, kMaxTagFileBytes); minisig && pub && minisign_key) {
      if (auto ok = MinisignVerify(*pub, manifest, *minisig); !ok) {
        Problem(fmt::format("{}: {} (with the key in {})", kTagManifestMinisig, ShownMessage(ok.error().message),
                            kExporterPub));
      }
    }
    if (const auto sshsig = ReadOrProblem(kTagManifestSshsig, kMaxTagFileBytes); sshsig && ssh_key) {
      if (auto ok = SshVerify(*ssh_key, kExportNamespace, manifest, *sshsig); !ok) {
        Problem(fmt::format("{}: {} (with the key in {}, namespace {})", kTagManifestSshsig,
                            ShownMessage(ok.error().message), kAllowedSigners, kExportNamespace));
      }
    }
  }

  if (expected_signer) {
    const std::string& pin = *expected_signer;
    const auto hex = crypto::FromHex(pin);
    const bool is_key = hex && hex->size() == crypto::kSigningPublicKeyBytes;
    const bool is_fingerprint = pin.starts_with("SHA256:");
    if (!is_key && !is_fingerprint) {
      Problem(fmt::format("the expected signer \"{}\" is neither a hex Ed25519 key nor a SHA256: fingerprint",
                          Shown(pin)));
    } else {
      std::string pinned = pin;
      while (is_fingerprint && pinned.ends_with('=')) pinned.pop_back();
      const auto matches = [&](const crypto::Bytes& key) {
        return is_key ? key == *hex : SshFingerprint(key) == pinned;
      };
      for (const auto& [file, key] : {std::pair{kExporterPub, minisign_key}, std::pair{kAllowedSigners, ssh_key}}) {
        if (key && !matches(*key)) {
          Problem(fmt::format("{}: the bundle is signed by {} ({}), not by the expected signer {}", file,
                              SshFingerprint(*key), crypto::ToHex(*key), Shown(pin)));
        }
      }
      if (!minisign_key && !ssh_key) {
        Problem(fmt::format("the bundle's signer cannot be compared with the expected signer {}: no key was read",
                            Shown(pin)));
      }
    }
  }
}

void Verifier::CheckBagInfoFields() {
  if (!have_info_) return;
  (void)Info("Bagging-Date");
  if (const auto format = Info("Evault-Bundle-Format"); format && *format != kBundleFormat) {
    Problem(fmt::format("{}: Evault-Bundle-Format is \"{}\"; this verifier reads format {}", kBagInfo, Shown(*format),
                        kBundleFormat));
  }
  if (const auto vault = Info("Evault-Vault-Id")) {
    vault_id_ = *vault;
    report_.vault_id = *vault;
    if (!IsId(*vault)) Problem(fmt::format("{}: Evault-Vault-Id \"{}\" is not 32 hex digits", kBagInfo, Shown(*vault)));
  }
  if (const auto case_id = Info("Evault-Case-Id")) {
    case_id_ = *case_id;
    report_.case_id = *case_id;
    if (!IsId(*case_id)) {
      Problem(fmt::format("{}: Evault-Case-Id \"{}\" is not 32 hex digits", kBagInfo, Shown(*case_id)));
    }
    if (const auto external = Info("External-Identifier"); external && *external != *case_id) {
      Problem(fmt::format("{}: External-Identifier \"{}\" is not the Evault-Case-Id", kBagInfo, Shown(*external)));
    }
  }
  const auto device = Info("Evault-Exporting-Device");
  if (device) report_.exporting_device = *device;
  if (const auto key = Info("Evault-Signer-Key"); key && signer_) {
    const auto bytes = crypto::FromHex(*key);
    if (!bytes || *bytes != *signer_) {
      Problem(fmt::format("{}: Evault-Signer-Key \"{}\" is not the key in {} ({})", kBagInfo, Shown(*key), kExporterPub,
                          crypto::ToHex(*signer_)));
    }
  }
  if (device && signer_ && *device != DeviceIdOf(*signer_)) {
    Problem(fmt::format("{}: Evault-Exporting-Device \"{}\" is not the device of the signing key ({})", kBagInfo,
                        Shown(*device), DeviceIdOf(*signer_)));
  }
  export_time_ = Info("Evault-Export-Time");
  export_purpose_ = Info("Evault-Export-Purpose");
}

// Format 1's payload: case.json, records/, attachments/, custody/ and nothing else.
void Verifier::CheckLayout() {
  const std::set<std::string> allowed_dirs = {kRecordsPath, kAttachmentsPath, kData + "custody"};
  const std::set<std::string> allowed_files = {kCasePath, kLogPath, kProofPath};
  for (const auto& dir : dirs_) {
    if (!dir.starts_with(kData)) continue;
    const std::string parent = ParentOf(dir);
    const bool fits = allowed_dirs.contains(dir) ||
                      ((parent == kRecordsPath || parent == kAttachmentsPath) && IsId(dir.substr(parent.size() + 1)));
    if (!fits) Problem(fmt::format("{}/: not part of a format-{} bundle's payload", Shown(dir), kBundleFormat));
  }
  for (const auto& [path, size] : files_) {
    if (!path.starts_with(kData) || allowed_files.contains(path)) continue;
    const std::string parent = ParentOf(path), grandparent = ParentOf(parent);
    if (grandparent == kRecordsPath || grandparent == kAttachmentsPath) continue;  // checked per record, attachment
    Problem(fmt::format("{}: not part of a format-{} bundle's payload", Shown(path), kBundleFormat));
  }
  for (const auto& required : allowed_files) {
    if (!IsFile(required) && !not_files_.contains(required)) Problem(fmt::format("{}: missing", required));
  }
}

// ---------------------------------------------------------------------------------
// The custody log

void Verifier::CheckCustody() {
  const auto log = IsFile(kLogPath) ? ReadOrProblem(kLogPath, kMaxCustodyBytes) : std::nullopt;
  if (log) {
    if (log->empty()) Problem(fmt::format("{}: empty: the log has no entries", kLogPath));
    if (!log->empty() && log->back() != '\n') {
      Problem(fmt::format("{}: custody line {} has no final newline (the file was cut short?)", kLogPath,
                          SplitLines(*log).size()));
    }
    const std::size_t line_count = static_cast<std::size_t>(std::count(log->begin(), log->end(), '\n'));
    if (line_count > kMaxCustodyLines) {
      Problem(fmt::format("{}: {} lines, more than the {} a custody log may hold; not checked", kLogPath, line_count,
                          kMaxCustodyLines));
      report_.custody_entries = 0;
      return;
    }
    for (std::string_view line : SplitLines(*log)) {
      const std::size_t number = lines_.size() + 1;
      if (line.empty()) Problem(fmt::format("{}: custody line {} is empty", kLogPath, number));
      if (JsonDepth(line, kMaxJsonDepth) > kMaxJsonDepth) {
        // custody.cc would recurse that deep: checked as an empty line instead.
        Problem(fmt::format("{}: custody line {} is JSON nested deeper than {} levels; not parsed", kLogPath, number,
                            kMaxJsonDepth));
        lines_.emplace_back();
        continue;
      }
      lines_.emplace_back(line);
    }
  }
  report_.custody_entries = lines_.size();

  std::optional<CustodyProof> proof;
  if (IsFile(kProofPath)) {
    if (auto text = ReadOrProblem(kProofPath, kMaxCustodyBytes)) {
      if (auto parsed = ParseJsonFile(kProofPath, *text)) {
        if (auto p = CustodyProofFromJson(*parsed)) {
          proof = std::move(*p);
          // The checkpoints are JSON inside JSON strings, parsed again by custody.cc.
          const auto too_deep = [](const std::string& checkpoint) {
            return JsonDepth(checkpoint, kMaxJsonDepth) > kMaxJsonDepth;
          };
          if (too_deep(proof->checkpoint)) {
            Problem(fmt::format("{}: the checkpoint is JSON nested deeper than {} levels; not parsed", kProofPath,
                                kMaxJsonDepth));
            proof->checkpoint.clear();
          }
          for (std::size_t i = 0; i < proof->earlier.size(); ++i) {
            if (too_deep(proof->earlier[i].checkpoint)) {
              Problem(fmt::format("{}: earlier checkpoint {} is JSON nested deeper than {} levels; not parsed",
                                  kProofPath, i + 1, kMaxJsonDepth));
              proof->earlier[i].checkpoint.clear();
            }
          }
        } else {
          Problem(fmt::format("{}: {}", kProofPath, ShownMessage(p.error().message)));
        }
      }
    }
  }
  if (!log) return;
  if (!proof) {
    Problem(fmt::format("{}: no usable custody proof, so nothing shows the log is the one the exporter signed",
                        kLogPath));
  }

  const CustodyReport custody = VerifyCustodyLog(vault_id_, case_id_, lines_, proof ? &*proof : nullptr);
  for (const auto& problem : custody.problems) {
    const bool about_lines = problem.starts_with("custody line") || problem.starts_with("entry ");
    Problem(fmt::format("{}: {}", about_lines ? kLogPath : kProofPath, ShownMessage(problem)));
  }

  if (proof) {
    if (auto checkpoint = ParseCheckpoint(proof->checkpoint)) checkpoint_ = std::move(*checkpoint);
  }
  if (signer_ && !custody.checkpoint_key.empty()) {
    if (custody.checkpoint_key != crypto::ToHex(*signer_)) {
      Problem(fmt::format("{}: the checkpoint is signed by key {}, not by the bundle's signer {}: the bundle was "
                          "re-signed by another key",
                          kProofPath, custody.checkpoint_key, crypto::ToHex(*signer_)));
    }
  }
  if (checkpoint_) {
    const std::uint64_t size = (*checkpoint_)["size"];
    if (size != lines_.size()) {
      Problem(fmt::format("{}: the checkpoint signs {} entries, but {} holds {} lines", kProofPath, size, kLogPath,
                          lines_.size()));
    }
    if (const auto entries = Info("Evault-Custody-Entries"); entries && *entries != std::to_string(size)) {
      Problem(fmt::format("{}: Evault-Custody-Entries \"{}\" is not the checkpoint's size {}", kBagInfo, Shown(*entries),
                          size));
    }
    if (const auto root = Info("Evault-Custody-Root"); root && (*checkpoint_)["root"] != Lower(*root)) {
      Problem(fmt::format("{}: Evault-Custody-Root \"{}\" is not the checkpoint's root", kBagInfo, Shown(*root)));
    }
  } else {
    (void)Info("Evault-Custody-Entries");
    (void)Info("Evault-Custody-Root");
  }

  // The lines the cross-checks use: signed, and of this vault and case.
  const Entry* last_of_signer = nullptr;
  std::vector<Entry> parsed;
  for (std::size_t i = 0; i < lines_.size(); ++i) {
    auto fields = ParseEntry(lines_[i]);
    if (!fields) continue;
    Entry e{i + 1, std::move(*fields), "", "", ""};
    e.action = e.fields["action"].get<std::string>();
    e.device = e.fields["device"].get<std::string>();
    e.key = e.fields["key"].get<std::string>();
    parsed.push_back(std::move(e));
  }
  for (auto& e : parsed) {
    if (e.fields["vault"] != vault_id_ || e.fields["stream"] != case_id_) continue;  // VerifyCustodyLog named it
    entries_.push_back(std::move(e));
  }
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (signer_ && e.key == crypto::ToHex(*signer_)) last_of_signer = &e;
    const json& subject = e.subject();
    if (e.action == action::kCaseCreate) {
      case_creates_.emplace(StringField(subject, "case_id").value_or(""), i);
    } else if (e.action == action::kRecordCapture || e.action == action::kRecordEdit) {
      revisions_.emplace(StringField(subject, "revision_id").value_or(""), i);
    } else if (e.action == action::kAttachmentCapture) {
      attachment_captures_.emplace(StringField(subject, "attachment_id").value_or(""), i);
    }
  }
  if (signer_) {
    if (last_of_signer == nullptr) {
      Problem(fmt::format("{}: no entry is signed by the bundle's signer {}, so the log does not record this export",
                          kLogPath, crypto::ToHex(*signer_)));
    } else if (last_of_signer->action != action::kExport) {
      Problem(fmt::format("{}: {} is the signer's last entry, not an \"export\" entry: the log does not record this "
                          "export",
                          kLogPath, last_of_signer->Named()));
    } else {
      // bag-info says what the signed export entry says.
      const Entry& entry = *last_of_signer;
      if (export_time_ && entry.fields["time"] != *export_time_) {
        Problem(fmt::format("{}: Evault-Export-Time \"{}\" is not the time of {}", kBagInfo, Shown(*export_time_),
                            entry.Named()));
      }
      const auto purpose = StringField(entry.subject(), "purpose");
      if (export_purpose_ && purpose != export_purpose_) {
        Problem(fmt::format("{}: Evault-Export-Purpose is not the purpose recorded in {}", kBagInfo, entry.Named()));
      }
      if (StringField(entry.subject(), "case_id") != case_id_) {
        Problem(fmt::format("{}: {} does not name this case", kLogPath, entry.Named()));
      }
    }
  }
}

// ---------------------------------------------------------------------------------
// The evidence against the custody log

void Verifier::CheckCase() {
  if (!IsFile(kCasePath)) return;  // CheckLayout named it
  const auto text = ReadOrProblem(kCasePath, kMaxJsonFileBytes);
  if (!text) return;
  const std::string sha256 = crypto::ToHex(crypto::Digest::Sha256(crypto::AsBytes(*text)));
  std::optional<std::string> author;
  if (auto value = ParseJsonFile(kCasePath, *text)) {
    author = StringField(*value, "author");
    if (!IsCanonical(*value, *text)) {
      Problem(fmt::format("{}: not canonical JSON (sorted keys, no spaces): it is not the case as stored", kCasePath));
    }
    for (const char* field : {"author", "case_id", "created", "status", "tags", "title"}) {
      if (!value->contains(field)) Problem(fmt::format("{}: lacks \"{}\"", kCasePath, field));
    }
    if (value->size() != 6) Problem(fmt::format("{}: has fields besides those of a case", kCasePath));
    if (StringField(*value, "case_id") != case_id_) {
      Problem(fmt::format("{}: its \"case_id\" is not the bag's Evault-Case-Id {}", kCasePath, ShownValue(case_id_)));
    }
  }
  const auto creates = EntriesNaming(case_creates_, case_id_);
  if (creates.empty()) {
    Problem(fmt::format("{}: no case-create entry in {} names case {}", kCasePath, kLogPath, ShownValue(case_id_)));
    return;
  }
  if (creates.size() > 1) {
    Problem(fmt::format("{}: {} and {} both create case {}", kLogPath, creates[0]->Named(), creates[1]->Named(),
                        ShownValue(case_id_)));
  }
  const Entry& entry = *creates.front();
  if (StringField(entry.subject(), "sha256") != sha256) {
    Problem(fmt::format("{}: its SHA-256 does not match {}: the case was altered", kCasePath, entry.Named()));
  }
  if (author && *author != entry.device) {
    Problem(fmt::format("{}: its author \"{}\" is not device {}, which signed {}", kCasePath, Shown(*author),
                        entry.device, entry.Named()));
  }
}

void Verifier::CheckRecords() {
  for (const auto& dir : dirs_) {
    if (ParentOf(dir) != kRecordsPath) continue;
    const std::string record_id = dir.substr(kRecordsPath.size() + 1);
    if (!IsId(record_id)) continue;  // CheckLayout named it
    ++report_.records;
    const std::string prefix = dir + "/";
    for (auto it = files_.lower_bound(prefix); it != files_.end() && it->first.starts_with(prefix); ++it) {
      const std::string name = it->first.substr(prefix.size());
      if (name.find('/') != std::string::npos) continue;  // in a subdirectory: CheckLayout named it
      CheckRevision(record_id, it->first, name);
    }
  }
}

// data/records/<record id>/<NNNN>-<revision id>.json against its record-capture or
// record-edit entry.
void Verifier::CheckRevision(const std::string& record_id, const std::string& rel, const std::string& name) {
  constexpr std::string_view kJson = ".json";
  const std::size_t dash = name.find('-');
  const std::string number = name.substr(0, std::min(dash, name.size()));
  const bool digits = number.size() >= 4 && number.size() <= 19 &&
                      std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; });
  const bool shaped = digits && dash != std::string::npos && name.ends_with(kJson) &&
                      name.size() == number.size() + 1 + kIdHexDigits + kJson.size();
  const std::string revision_id = shaped ? name.substr(dash + 1, kIdHexDigits) : std::string();
  if (!shaped || !IsId(revision_id) || fmt::format("{:04}", std::stoull(number)) != number) {
    Problem(fmt::format("{}: not a revision file (<revision, 4 digits>-<revision id>.json)", Shown(rel)));
    return;
  }
  const std::uint64_t revision = std::stoull(number);
  ++report_.revisions;
  bundled_revisions_.insert(revision_id);

  const auto text = ReadOrProblem(rel, kMaxJsonFileBytes);
  if (!text) return;
  const std::string sha256 = crypto::ToHex(crypto::Digest::Sha256(crypto::AsBytes(*text)));
  std::optional<std::string> author;
  if (auto value = ParseJsonFile(rel, *text)) {
    if (!IsCanonical(*value, *text)) {
      Problem(fmt::format("{}: not canonical JSON (sorted keys, no spaces): it is not the revision as stored", rel));
    }
    for (const char* field : {"author", "case_id", "created", "parents", "record", "record_id", "revision"}) {
      if (!value->contains(field)) Problem(fmt::format("{}: lacks \"{}\"", rel, field));
    }
    if (value->size() != 7) Problem(fmt::format("{}: has fields besides those of a record revision", rel));
    if (StringField(*value, "record_id") != record_id) {
      Problem(fmt::format("{}: its \"record_id\" is not {}, the record directory it is in", rel, record_id));
    }
    if (UintField(*value, "revision") != revision) {
      Problem(fmt::format("{}: its \"revision\" is not {}, as its file name says", rel, revision));
    }
    if (StringField(*value, "case_id") != case_id_) {
      Problem(fmt::format("{}: its \"case_id\" is not the bag's Evault-Case-Id {}", rel, ShownValue(case_id_)));
    }
    author = StringField(*value, "author");
  }
  const auto entries = EntriesNaming(revisions_, revision_id);
  if (entries.empty()) {
    Problem(fmt::format("{}: no record-capture or record-edit entry in {} names revision {}", rel, kLogPath,
                        revision_id));
    return;
  }
  if (entries.size() > 1) {
    Problem(fmt::format("{}: {} and {} both name revision {}", kLogPath, entries[0]->Named(), entries[1]->Named(),
                        revision_id));
  }
  const Entry& entry = *entries.front();
  const json& subject = entry.subject();
  if (StringField(subject, "sha256") != sha256) {
    Problem(fmt::format("{}: its SHA-256 does not match {}: the revision was altered", rel, entry.Named()));
  }
  if (StringField(subject, "record_id") != record_id) {
    Problem(fmt::format("{}: {} names this revision for another record", rel, entry.Named()));
  }
  if (UintField(subject, "revision") != revision) {
    Problem(fmt::format("{}: {} gives this revision another number", rel, entry.Named()));
  }
  if (author && *author != entry.device) {
    Problem(fmt::format("{}: its author \"{}\" is not device {}, which signed {}", rel, Shown(*author), entry.device,
                        entry.Named()));
  }
}

void Verifier::CheckAttachments() {
  for (const auto& dir : dirs_) {
    if (ParentOf(dir) != kAttachmentsPath) continue;
    const std::string attachment_id = dir.substr(kAttachmentsPath.size() + 1);
    if (!IsId(attachment_id)) continue;  // CheckLayout named it
    ++report_.attachments;
    bundled_attachments_.insert(attachment_id);
    CheckAttachment(attachment_id);
  }
}

// data/attachments/<attachment id>/: metadata.json and the original, against each other
// and the attachment-capture entry.
void Verifier::CheckAttachment(const std::string& attachment_id) {
  const std::string dir = kAttachmentsPath + "/" + attachment_id;
  const std::string prefix = dir + "/";
  const std::string metadata_path = prefix + kAttachmentMetadataFile;
  if (!IsFile(metadata_path)) {
    Problem(fmt::format("{}: {}", metadata_path, WhyAbsent(metadata_path)));
    return;
  }
  const auto text = ReadOrProblem(metadata_path, kMaxJsonFileBytes);
  if (!text) return;
  const auto metadata = ParseJsonFile(metadata_path, *text);
  if (!metadata) return;
  if (!IsCanonical(*metadata, *text)) {
    Problem(fmt::format("{}: not canonical JSON (sorted keys, no spaces)", metadata_path));
  }
  for (const char* field : {"attachment_id", "captured", "case_id", "device", "file_name", "media_type", "path",
                            "record_id", "sha256", "sha512", "size"}) {
    if (!metadata->contains(field)) Problem(fmt::format("{}: lacks \"{}\"", metadata_path, field));
  }
  if (metadata->size() != 11) Problem(fmt::format("{}: has fields besides those of attachment metadata", metadata_path));
  if (StringField(*metadata, "attachment_id") != attachment_id) {
    Problem(fmt::format("{}: its \"attachment_id\" is not {}, the directory it is in", metadata_path, attachment_id));
  }
  if (StringField(*metadata, "case_id") != case_id_) {
    Problem(fmt::format("{}: its \"case_id\" is not the bag's Evault-Case-Id {}", metadata_path, ShownValue(case_id_)));
  }
  const auto record_id = StringField(*metadata, "record_id");
  if (record_id && (!IsId(*record_id) || !dirs_.contains(kRecordsPath + "/" + *record_id))) {
    Problem(fmt::format("{}: its record {} is not in the bundle", metadata_path, Shown(*record_id)));
  }

  // The original: the one other file, named as "path" says, made safe from "file_name".
  std::optional<std::string> original;
  const auto path = StringField(*metadata, "path");
  const auto file_name = StringField(*metadata, "file_name");
  if (!path) {
    Problem(fmt::format("{}: no \"path\" naming the original", metadata_path));
  } else if (!path->starts_with(prefix) || path->find('/', prefix.size()) != std::string::npos ||
             *path == metadata_path || UnsafePath(*path)) {
    Problem(fmt::format("{}: its \"path\" \"{}\" does not name a file in {}/", metadata_path, Shown(*path), dir));
  } else if (!IsFile(*path)) {
    Problem(fmt::format("{}: the original {} named by its \"path\" {}", metadata_path, Shown(*path), WhyAbsent(*path)));
  } else {
    original = *path;
    if (file_name && path->substr(prefix.size()) != SafeFileName(*file_name)) {
      Problem(fmt::format("{}: the original's name is not its \"file_name\" made safe (\"{}\")", Shown(*path),
                          Shown(SafeFileName(*file_name))));
    }
  }
  for (auto it = files_.lower_bound(prefix); it != files_.end() && it->first.starts_with(prefix); ++it) {
    if (it->first != metadata_path && it->first != original && it->first.find('/', prefix.size()) == std::string::npos) {
      Problem(fmt::format("{}: an extra file in the attachment's directory (its metadata names another original)",
                          Shown(it->first)));
    }
  }

  std::optional<FileHashes> hashes;
  if (original) {
    if (const auto& h = Hashes(*original); h) {
      hashes = *h;
    } else {
      Problem(fmt::format("{}: {}", Shown(*original), h.error().message));
    }
  }
  const std::string shown_original = original ? Shown(*original) : dir + "/<original>";
  if (hashes) {
    if (StringField(*metadata, "sha256") != hashes->sha256) {
      Problem(fmt::format("{}: its SHA-256 does not match {}", shown_original, metadata_path));
    }
    if (StringField(*metadata, "sha512") != hashes->sha512) {
      Problem(fmt::format("{}: its SHA-512 does not match {}", shown_original, metadata_path));
    }
    if (UintField(*metadata, "size") != hashes->size) {
      Problem(fmt::format("{}: its size ({} bytes) does not match {}", shown_original, hashes->size, metadata_path));
    }
  }

  const auto entries = EntriesNaming(attachment_captures_, attachment_id);
  if (entries.empty()) {
    Problem(fmt::format("{}: no attachment-capture entry in {} names attachment {}", metadata_path, kLogPath,
                        attachment_id));
    return;
  }
  if (entries.size() > 1) {
    Problem(fmt::format("{}: {} and {} both capture attachment {}", kLogPath, entries[0]->Named(), entries[1]->Named(),
                        attachment_id));
  }
  const Entry& entry = *entries.front();
  const json& subject = entry.subject();
  if (hashes) {
    if (StringField(subject, "sha256") != hashes->sha256) {
      Problem(fmt::format("{}: its SHA-256 does not match {}: the original was altered", shown_original, entry.Named()));
    }
    if (UintField(subject, "size") != hashes->size) {
      Problem(fmt::format("{}: its size ({} bytes) does not match {}", shown_original, hashes->size, entry.Named()));
    }
  }
  for (const char* field : {"sha256", "size", "record_id", "file_name", "media_type"}) {
    const json* in_metadata = Field(*metadata, field);
    const json* in_entry = Field(subject, field);
    if (in_metadata != nullptr && (in_entry == nullptr || *in_entry != *in_metadata)) {
      Problem(fmt::format("{}: its \"{}\" does not match {}", metadata_path, field, entry.Named()));
    }
  }
  if (StringField(*metadata, "device") != entry.device) {
    Problem(fmt::format("{}: its \"device\" is not device {}, which signed {}", metadata_path, entry.device,
                        entry.Named()));
  }
}

// Every revision and attachment the log records for this case is in the bundle.
void Verifier::CheckLogNamesOnlyBundledFiles() {
  for (const auto& [revision_id, index] : revisions_) {
    const Entry& entry = entries_[index];
    const auto record_id = StringField(entry.subject(), "record_id");
    const auto revision = UintField(entry.subject(), "revision");
    if (!IsId(revision_id) || !record_id || !IsId(*record_id) || !revision) {
      Problem(fmt::format("{}: {} does not name a record, revision number and revision id", kLogPath, entry.Named()));
    } else if (!bundled_revisions_.contains(revision_id)) {
      Problem(fmt::format("{}: {} records revision {} of record {}, but {}/{}/{:04}-{}.json is not in the bundle",
                          kLogPath, entry.Named(), *revision, *record_id, kRecordsPath, *record_id, *revision,
                          revision_id));
    }
  }
  for (const auto& [attachment_id, index] : attachment_captures_) {
    const Entry& entry = entries_[index];
    if (!IsId(attachment_id)) {
      Problem(fmt::format("{}: {} does not name an attachment id", kLogPath, entry.Named()));
    } else if (!bundled_attachments_.contains(attachment_id)) {
      Problem(fmt::format("{}: {} records attachment {}, but {}/{}/ is not in the bundle", kLogPath, entry.Named(),
                          attachment_id, kAttachmentsPath, attachment_id));
    }
  }
  for (const auto& [case_id, index] : case_creates_) {
    if (case_id != case_id_) {
      Problem(fmt::format("{}: {} creates case {}, not this bundle's case", kLogPath, entries_[index].Named(),
                          Shown(case_id)));
    }
  }
}

BundleReport Verifier::Run(const std::optional<std::string>& expected_signer) {
  Walk(root_, "", 0);
  CheckBagitTxt();
  ParseBagInfo();
  CheckManifest(kManifest256, 64, false);
  CheckManifest(kManifest512, 128, true);
  CheckPayloadOxum();
  CheckTagManifest();
  CheckTopLevel();
  CheckSignatures(expected_signer);
  CheckBagInfoFields();
  CheckLayout();
  CheckCustody();
  CheckCase();
  CheckRecords();
  CheckAttachments();
  CheckLogNamesOnlyBundledFiles();
  if (dropped_problems_ > 0) {
    report_.problems.push_back(fmt::format("... and {} more problems not listed", dropped_problems_));
  }
  return std::move(report_);
}

}  // namespace

Result<BundleReport> VerifyBundle(const fs::path& dir, const std::optional<std::string>& expected_signer) {
  std::error_code ec;
  const fs::file_status status = fs::status(dir, ec);
  if (ec || !fs::exists(status)) return Fail(ErrorCode::kNotFound, fmt::format("{} does not exist", dir.string()));
  if (!fs::is_directory(status)) return Fail(ErrorCode::kInvalidArgument, fmt::format("{} is not a directory", dir.string()));
  const bool has_bagit = fs::exists(fs::symlink_status(dir / kBagitTxt, ec));
  const bool has_data = fs::exists(fs::symlink_status(dir / "data", ec));
  if (!has_bagit && !has_data) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{} is not a BagIt bag (no bagit.txt, no data/)", dir.string()));
  }
  try {
    return Verifier(dir).Run(expected_signer);
  } catch (const std::exception& e) {
    // Every check handles hostile input itself; this is the last line of defence.
    return Fail(ErrorCode::kInternal, fmt::format("verifying {} failed unexpectedly: {}", dir.string(), e.what()));
  }
}

}  // namespace evault::audit
