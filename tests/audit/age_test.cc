// age v1 encryption: HKDF and Bech32 against published vectors, recipient parsing and its
// refusals, the exact file layout; then interop with the standard tool: files that
// AgeWriter encrypts to an `age-keygen` key open with `age -d -i` byte-exact, and not
// with another key, nor after any change or truncation. SealedFile leaves nothing behind
// unless finished.
#include "audit/age.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "audit/sealed_file.h"
#include "tests/audit/tool_test_util.h"

namespace evault::audit {
namespace {

namespace fs = std::filesystem;

// The X25519 example of the age specification (c2sp.org/age).
constexpr char kSpecIdentity[] = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX";
constexpr char kSpecRecipient[] = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";

std::string Pattern(std::size_t size, unsigned seed) {
  std::string out(size, '\0');
  std::uint32_t x = seed * 2654435761u + 7;
  for (auto& c : out) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return out;
}

std::string Hex(const crypto::SecretBytes& s) { return crypto::ToHex(s.span()); }

TEST(AgeHkdf, Rfc5869Vectors) {
  const crypto::Bytes ikm(22, 0x0b);
  // Test case 1 (the first 32 bytes of its 42-byte output).
  const crypto::Bytes salt = *crypto::FromHex("000102030405060708090a0b0c");
  const crypto::Bytes info = *crypto::FromHex("f0f1f2f3f4f5f6f7f8f9");
  EXPECT_EQ(Hex(HkdfSha256(ikm, salt, crypto::AsText(info))),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf");
  // Test case 3: empty salt and info, as age's header key uses.
  EXPECT_EQ(Hex(HkdfSha256(ikm, {}, "")), "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d");
}

TEST(AgeRecipientTest, TheSpecificationsExampleKey) {
  // The identity decodes to a scalar whose public key is the example recipient.
  auto identity = Bech32Decode(kSpecIdentity);
  ASSERT_TRUE(identity) << identity.error().message;
  EXPECT_EQ(identity->first, "age-secret-key-");
  ASSERT_EQ(identity->second.size(), 32u);
  std::array<std::uint8_t, 32> pk;
  ASSERT_EQ(sodium_init() >= 0, true);
  crypto_scalarmult_base(pk.data(), identity->second.data());
  auto from_bytes = AgeRecipient::FromBytes(pk);
  ASSERT_TRUE(from_bytes);
  EXPECT_EQ(from_bytes->ToString(), kSpecRecipient);

  auto parsed = ParseAgeRecipient(kSpecRecipient);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->key(), pk);
  EXPECT_EQ(parsed->ToString(), kSpecRecipient);
  // All upper case is the same Bech32 string.
  std::string upper = kSpecRecipient;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto parsed_upper = ParseAgeRecipient(upper);
  ASSERT_TRUE(parsed_upper) << parsed_upper.error().message;
  EXPECT_EQ(parsed_upper->key(), pk);
}

TEST(AgeRecipientTest, RefusesWhatIsNotARecipientAndSaysWhy) {
  const std::string good = kSpecRecipient;
  auto refused = [](std::string_view text, std::string_view why) {
    auto r = ParseAgeRecipient(text);
    if (r) return ::testing::AssertionFailure() << "accepted " << text;
    if (r.error().code != ErrorCode::kInvalidArgument) return ::testing::AssertionFailure() << "code";
    if (r.error().message.find(why) == std::string::npos) {
      return ::testing::AssertionFailure() << "message \"" << r.error().message << "\" lacks \"" << why << "\"";
    }
    return ::testing::AssertionSuccess();
  };
  // A typo: checksum.
  std::string typo = good;
  typo[10] = typo[10] == 'q' ? 'p' : 'q';
  EXPECT_TRUE(refused(typo, "checksum"));
  std::string last = good;
  last.back() = last.back() == 'j' ? 'k' : 'j';
  EXPECT_TRUE(refused(last, "checksum"));
  // Mixed case.
  EXPECT_TRUE(refused("Age" + good.substr(3), "mixed"));
  EXPECT_TRUE(refused(good.substr(0, 20) + "Q" + good.substr(21), "mixed"));
  // Another HRP, with a valid checksum.
  const auto key = ParseAgeRecipient(good)->key();
  EXPECT_TRUE(refused(Bech32Encode("agx", key), "prefix"));
  EXPECT_TRUE(refused(Bech32Encode("age1pq", key), "prefix"));
  // A secret key pasted by mistake: named, and never echoed.
  auto secret = ParseAgeRecipient(kSpecIdentity);
  ASSERT_FALSE(secret);
  EXPECT_NE(secret.error().message.find("identity"), std::string::npos);
  EXPECT_EQ(secret.error().message.find("GFPYYSJZ"), std::string::npos);
  // The wrong length, with a valid checksum.
  EXPECT_TRUE(refused(Bech32Encode("age", crypto::Bytes(31, 7)), "31 bytes"));
  EXPECT_TRUE(refused(Bech32Encode("age", crypto::Bytes(33, 7)), "33 bytes"));
  EXPECT_TRUE(refused(good.substr(0, good.size() - 1), "checksum"));
  // Not Bech32 at all.
  EXPECT_TRUE(refused("", "separator"));
  EXPECT_TRUE(refused("age1", "separator"));
  EXPECT_TRUE(refused(" " + good, "space"));
  EXPECT_TRUE(refused(good.substr(0, 5) + "b" + good.substr(6), "alphabet"));
  EXPECT_TRUE(refused("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE", "space"));
  EXPECT_FALSE(AgeRecipient::FromBytes(crypto::Bytes(31, 1)));
}

// The layout, without any tool: header lines, then a 16-byte nonce, then one 16-byte
// tag per 64 KiB chunk (at least one).
TEST(AgeWriterTest, FileLayout) {
  auto recipient = ParseAgeRecipient(kSpecRecipient);
  ASSERT_TRUE(recipient);
  for (std::size_t size : {0u, 1u, 65535u, 65536u, 65537u, 200000u}) {
    std::string out;
    auto age = AgeWriter::Create(
        [&](crypto::ByteView b) {
          out.append(crypto::AsText(b));
          return Ok();
        },
        *recipient);
    ASSERT_TRUE(age) << age.error().message;
    ASSERT_TRUE((*age)->Write(crypto::AsBytes(Pattern(size, 3))));
    ASSERT_TRUE((*age)->Finish());
    EXPECT_FALSE((*age)->Write(crypto::AsBytes(std::string("late"))));
    EXPECT_FALSE((*age)->Finish());
    EXPECT_EQ((*age)->plaintext_bytes(), size);

    std::vector<std::string> lines;
    std::size_t at = 0;
    for (int i = 0; i < 4; ++i) {
      const std::size_t nl = out.find('\n', at);
      ASSERT_NE(nl, std::string::npos);
      lines.push_back(out.substr(at, nl - at));
      at = nl + 1;
    }
    EXPECT_EQ(lines[0], "age-encryption.org/v1");
    EXPECT_EQ(lines[1].substr(0, 10), "-> X25519 ");
    EXPECT_EQ(lines[1].size(), 10u + 43u);  // 32 bytes, unpadded base64
    EXPECT_EQ(lines[2].size(), 43u);        // the 32-byte wrapped key: one short line
    EXPECT_EQ(lines[3].substr(0, 4), "--- ");
    EXPECT_EQ(lines[3].size(), 4u + 43u);
    EXPECT_EQ(out.substr(0, at).find('='), std::string::npos) << "padding in the header";
    const std::size_t chunks = size == 0 ? 1 : (size + AgeWriter::kChunkBytes - 1) / AgeWriter::kChunkBytes;
    EXPECT_EQ(out.size(), at + 16 + size + 16 * chunks) << size;
  }
}

TEST(AgeWriterTest, RefusesALowOrderRecipient) {
  auto zero = AgeRecipient::FromBytes(crypto::Bytes(32, 0));
  ASSERT_TRUE(zero);
  std::string out;
  auto age = AgeWriter::Create(
      [&](crypto::ByteView b) {
        out.append(crypto::AsText(b));
        return Ok();
      },
      *zero);
  ASSERT_FALSE(age);
  EXPECT_EQ(age.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(out, "");
}

TEST(AgeWriterTest, AFailingSinkStopsTheStream) {
  auto recipient = ParseAgeRecipient(kSpecRecipient);
  int calls = 0;
  auto age = AgeWriter::Create(
      [&](crypto::ByteView) -> Status {
        if (++calls == 3) return Fail(ErrorCode::kIo, "disk full");  // header, nonce, chunk 0
        return Ok();
      },
      *recipient);
  ASSERT_TRUE(age);
  auto written = (*age)->Write(crypto::AsBytes(Pattern(AgeWriter::kChunkBytes + 1, 1)));
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().code, ErrorCode::kIo);
  EXPECT_FALSE((*age)->Write(crypto::AsBytes(std::string("x"))));
  EXPECT_FALSE((*age)->Finish());
}

class AgeToolTest : public testing::ToolTest {
 protected:
  void SetUp() override {
    ToolTest::SetUp();
    if (!testing::HaveTool("age") || !testing::HaveTool("age-keygen")) {
      GTEST_SKIP() << "age is not installed (deploy/install-deps.sh installs it)";
    }
    recipient_ = KeyGen("key.txt");
  }

  // A new identity file from age-keygen; its recipient.
  AgeRecipient KeyGen(const std::string& name) {
    EXPECT_EQ(testing::RunShell("cd '" + dir_.string() + "' && age-keygen -o " + name + " 2>/dev/null"), 0);
    EXPECT_EQ(testing::RunShell("cd '" + dir_.string() + "' && age-keygen -y " + name + " > " + name + ".pub"), 0);
    std::string line = testing::ReadFile(dir_ / (name + ".pub"));
    while (!line.empty() && line.back() == '\n') line.pop_back();
    auto parsed = ParseAgeRecipient(line);
    if (!parsed) {
      ADD_FAILURE() << "age-keygen -y gave \"" << line << "\": " << parsed.error().message;
      return *AgeRecipient::FromBytes(crypto::Bytes(32, 9));
    }
    EXPECT_EQ(parsed->ToString(), line);
    return *parsed;
  }

  // Encrypts `plaintext` to `file`, written in pieces of `piece` bytes.
  void Encrypt(const std::string& plaintext, const std::string& file, std::size_t piece = 7919) {
    auto sealed = SealedFile::Create(dir_ / file);
    ASSERT_TRUE(sealed) << sealed.error().message;
    auto age = AgeWriter::Create((*sealed)->sink(), recipient_);
    ASSERT_TRUE(age) << age.error().message;
    for (std::size_t at = 0; at < plaintext.size(); at += piece) {
      ASSERT_TRUE((*age)->Write(crypto::AsBytes(std::string_view(plaintext).substr(at, piece))));
    }
    ASSERT_TRUE((*age)->Finish());
    ASSERT_TRUE((*sealed)->Finish());
  }

  // Exit status of `age -d -i identity -o out file`.
  int Decrypt(const std::string& file, const std::string& identity = "key.txt") {
    fs::remove(dir_ / "out");
    return testing::RunShell("cd '" + dir_.string() + "' && age -d -i " + identity + " -o out " + file +
                             " > age.err 2>&1");
  }

  AgeRecipient recipient_ = *AgeRecipient::FromBytes(crypto::Bytes(32, 9));
};

TEST_F(AgeToolTest, AgeDecryptsEverySizeByteExact) {
  for (std::size_t size : {0u, 1u, 65535u, 65536u, 65537u, 200000u}) {
    const std::string plaintext = Pattern(size, static_cast<unsigned>(size));
    const std::string file = "f" + std::to_string(size) + ".age";
    ASSERT_NO_FATAL_FAILURE(Encrypt(plaintext, file));
    ASSERT_EQ(Decrypt(file), 0) << size << ": " << testing::ReadFile(dir_ / "age.err");
    EXPECT_TRUE(testing::ReadFile(dir_ / "out") == plaintext) << size;
  }
  // One write of everything, and one byte at a time, give files age opens just the same.
  const std::string plaintext = Pattern(70000, 5);
  ASSERT_NO_FATAL_FAILURE(Encrypt(plaintext, "whole.age", plaintext.size()));
  ASSERT_EQ(Decrypt("whole.age"), 0);
  EXPECT_TRUE(testing::ReadFile(dir_ / "out") == plaintext);
  ASSERT_NO_FATAL_FAILURE(Encrypt(plaintext, "bytes.age", 1));
  ASSERT_EQ(Decrypt("bytes.age"), 0);
  EXPECT_TRUE(testing::ReadFile(dir_ / "out") == plaintext);
}

TEST_F(AgeToolTest, AnotherIdentityCannotDecrypt) {
  ASSERT_NO_FATAL_FAILURE(Encrypt("for the defence only", "f.age"));
  KeyGen("other.txt");
  EXPECT_NE(Decrypt("f.age", "other.txt"), 0);
  EXPECT_FALSE(fs::exists(dir_ / "out") && fs::file_size(dir_ / "out") > 0);
  EXPECT_EQ(Decrypt("f.age"), 0);
}

TEST_F(AgeToolTest, AnyChangeOrTruncationIsRefused) {
  const std::string plaintext = Pattern(150000, 11);  // three chunks
  ASSERT_NO_FATAL_FAILURE(Encrypt(plaintext, "f.age"));
  const std::string original = testing::ReadFile(dir_ / "f.age");
  const std::size_t header = original.find("\n--- ") + 5 + 43 + 1;
  // A byte of: the wrapped file key, the header MAC, the nonce, the first, middle and
  // last chunk, and the last tag.
  const std::vector<std::size_t> offsets = {
      original.find('\n', original.find("-> X25519")) + 5,
      header - 10,
      header + 3,
      header + 16 + 100,
      header + 16 + 65536 + 16 + 500,
      original.size() - 20,
      original.size() - 1,
  };
  for (std::size_t offset : offsets) {
    std::string changed = original;
    changed[offset] = static_cast<char>(changed[offset] ^ 0x01);
    testing::WriteFile(dir_ / "changed.age", changed);
    EXPECT_NE(Decrypt("changed.age"), 0) << "offset " << offset;
  }
  // The last chunk cut off: the second chunk is not marked final.
  testing::WriteFile(dir_ / "cut.age", original.substr(0, header + 16 + 2 * (65536 + 16)));
  EXPECT_NE(Decrypt("cut.age"), 0);
  // And the untouched file still opens.
  ASSERT_EQ(Decrypt("f.age"), 0);
  EXPECT_TRUE(testing::ReadFile(dir_ / "out") == plaintext);
}

TEST_F(AgeToolTest, AStreamNeverFinishedDoesNotDecrypt) {
  std::string out;
  {
    auto age = AgeWriter::Create(
        [&](crypto::ByteView b) {
          out.append(crypto::AsText(b));
          return Ok();
        },
        recipient_);
    ASSERT_TRUE(age);
    ASSERT_TRUE((*age)->Write(crypto::AsBytes(Pattern(3 * AgeWriter::kChunkBytes, 4))));
  }  // dropped without Finish: only the full chunks already sealed were written
  testing::WriteFile(dir_ / "f.age", out);
  EXPECT_NE(Decrypt("f.age"), 0);
}

TEST_F(AgeToolTest, SealedFileKeepsOnlyFinishedBundles) {
  const fs::path path = dir_ / "bundle.tar.age";
  {
    auto sealed = SealedFile::Create(path);
    ASSERT_TRUE(sealed);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto again = SealedFile::Create(path);  // never over an existing file
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
    auto age = AgeWriter::Create((*sealed)->sink(), recipient_);
    ASSERT_TRUE(age);
    ASSERT_TRUE((*age)->Write(crypto::AsBytes(Pattern(100000, 1))));
    // The export fails here: neither Finish is reached.
  }
  EXPECT_FALSE(fs::exists(path));

  {
    auto sealed = SealedFile::Create(path);
    ASSERT_TRUE(sealed);
    (*sealed)->Discard();
    EXPECT_FALSE(fs::exists(path));
    EXPECT_FALSE((*sealed)->Write(crypto::AsBytes(std::string("x"))));
    EXPECT_FALSE((*sealed)->Finish());
  }

  {
    // Something else put at the path meanwhile is not removed.
    auto sealed = SealedFile::Create(path);
    ASSERT_TRUE(sealed);
    fs::remove(path);
    testing::WriteFile(path, "not ours");
  }
  EXPECT_EQ(testing::ReadFile(path), "not ours");
  fs::remove(path);

  // A symlink at the path is refused, not followed.
  fs::create_symlink(dir_ / "target", path);
  EXPECT_FALSE(SealedFile::Create(path));
  EXPECT_FALSE(fs::exists(dir_ / "target"));
  fs::remove(path);

  ASSERT_NO_FATAL_FAILURE(Encrypt("kept", "bundle.tar.age"));
  EXPECT_TRUE(fs::exists(path));
  ASSERT_EQ(Decrypt("bundle.tar.age"), 0);
  EXPECT_EQ(testing::ReadFile(dir_ / "out"), "kept");
}

}  // namespace
}  // namespace evault::audit
