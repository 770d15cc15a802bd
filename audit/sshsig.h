// OpenSSH signatures (PROTOCOL.sshsig) with a device's Ed25519 key, so anyone can check
// an export with the standard tool and no evault:
//   ssh-keygen -Y verify -f allowed_signers -I IDENTITY -n NAMESPACE -s FILE.sshsig < FILE
// The namespace keeps a signature made for one purpose from being valid for another.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "crypto/bytes.h"
#include "crypto/identity.h"
#include "crypto/status.h"

namespace evault::audit {

// The armored signature ("-----BEGIN SSH SIGNATURE-----" ...) over `message` (SHA-512).
std::string SshSign(const crypto::SigningKeyPair& key, std::string_view ssh_namespace, crypto::ByteView message);

// "ssh-ed25519 AAAA..." for an Ed25519 public key.
std::string SshPublicKey(crypto::ByteView ed25519_public_key);

// One line of an allowed_signers file: "IDENTITY namespaces="NS" ssh-ed25519 AAAA...".
std::string AllowedSignersLine(std::string_view identity, std::string_view ssh_namespace,
                               crypto::ByteView ed25519_public_key);

// The key's fingerprint as ssh-keygen -l shows it: "SHA256:" and the unpadded base64
// of the SHA-256 of the key's wire blob (string "ssh-ed25519" | string key).
std::string SshFingerprint(crypto::ByteView ed25519_public_key);

// One signer of an allowed_signers file (ssh-keygen(1) ALLOWED SIGNERS).
struct AllowedSigner {
  std::string principals;               // comma-separated, as written
  std::vector<std::string> namespaces;  // from namespaces="..."; empty: any namespace
  crypto::Bytes key;                    // the Ed25519 key, 32 bytes
};
// Every signer line ("#" comments and blank lines skipped): principals, options
// (namespaces="..." only; cert-authority and other options are refused), then an
// ssh-ed25519 key. Fails with kInvalidArgument naming the line that is malformed.
Result<std::vector<AllowedSigner>> ParseAllowedSigners(std::string_view text);

// Checks an armored signature as ssh-keygen -Y verify does, for one known key.
Status SshVerify(crypto::ByteView ed25519_public_key, std::string_view ssh_namespace, crypto::ByteView message,
                 std::string_view armored);

}  // namespace evault::audit
