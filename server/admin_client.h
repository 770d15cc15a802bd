// `evault-server admin`: the operator's commands. Most talk to a running server over its
// admin socket (--admin-socket; the Admin service, admin_service.h); two work on a
// stopped server's store directly.
//
//   evault-server admin [--socket PATH] vaults [--json]
//   evault-server admin [--socket PATH] quota VAULT_ID BYTES      (0: the server's default)
//   evault-server admin [--socket PATH] token create [--note TEXT]
//   evault-server admin [--socket PATH] token revoke TOKEN_OR_HASH_PREFIX
//   evault-server admin [--socket PATH] token list [--json]
//   evault-server admin [--socket PATH] backup DIR
//   evault-server admin restore --from DIR --data DATA_DIR [--replace]    (server stopped)
//   evault-server admin mark-restored --data DIR | --postgres CONNINFO    (servers stopped)
//
// --socket defaults to kDefaultAdminSocket, where the packaged systemd unit puts it.
// Results go to stdout (`token create` prints the token and nothing else, so a script
// can take it); an error is one line on stderr and exit code 1, a usage error exit 2.
// A socket that is missing or that nothing answers on is reported as such: the server
// is not running, or runs without --admin-socket.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace evault::server {

inline constexpr char kDefaultAdminSocket[] = "/run/evault-server/admin.sock";

// `args` are the words after "admin". Returns the process's exit code.
int AdminMain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace evault::server
