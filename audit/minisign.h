// minisign signatures (https://jedisct1.github.io/minisign/) with a device's Ed25519 key,
// so anyone can check an export with the standard tool and no evault:
//   minisign -Vm FILE -p exporter.pub
// The "ED" (pre-hashed, BLAKE2b-512) form: files of any size, one pass. The trusted
// comment is signed too; it carries what the exporter says about the file.
#pragma once

#include <string>
#include <string_view>

#include "crypto/bytes.h"
#include "crypto/identity.h"
#include "crypto/status.h"

namespace evault::audit {

// The public key file ("untrusted comment: ..." and the base64 key line).
std::string MinisignPublicKey(crypto::ByteView ed25519_public_key);

// The .minisig file for `message`. `trusted_comment` must be one line.
std::string MinisignSign(const crypto::SigningKeyPair& key, crypto::ByteView message,
                         std::string_view trusted_comment);

// The Ed25519 key (32 bytes) of a public key file: an "untrusted comment:" line, then
// base64 of "Ed" | key id (8) | key (32), as `minisign -G` and MinisignPublicKey write
// it. Fails with kInvalidArgument naming what is malformed.
Result<crypto::Bytes> ParseMinisignPublicKey(std::string_view public_key_file_text);

// Checks a .minisig file as `minisign -V` does: the key ids of key and signature match,
// the signature ("ED": over BLAKE2b-512 of `message`; legacy "Ed": over `message`)
// verifies, and so does the global signature over signature | trusted comment. Fails
// with kInvalidArgument for a malformed file, kTampered for a signature that does not hold.
Status MinisignVerify(std::string_view public_key_file_text, crypto::ByteView message,
                      std::string_view minisig_file_text);

}  // namespace evault::audit
