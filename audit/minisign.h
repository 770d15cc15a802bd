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

namespace evault::audit {

// The public key file ("untrusted comment: ..." and the base64 key line).
std::string MinisignPublicKey(crypto::ByteView ed25519_public_key);

// The .minisig file for `message`. `trusted_comment` must be one line.
std::string MinisignSign(const crypto::SigningKeyPair& key, crypto::ByteView message,
                         std::string_view trusted_comment);

}  // namespace evault::audit
