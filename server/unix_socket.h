// Probing a Unix domain socket the way a client would, without gRPC: the server uses it
// to refuse a socket another live server serves, `evault-server admin` to say why it
// cannot reach the server (no socket, nothing answering, no permission).
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace evault::server {

// The longest path a sockaddr_un holds (with its terminating NUL).
inline constexpr std::size_t kMaxUnixSocketPath = sizeof(sockaddr_un::sun_path) - 1;

// 0 if a process accepts connections on the socket at `path`, else connect()'s errno
// (ENOENT: no such file; ECONNREFUSED: a stale socket; EACCES: no permission).
inline int ConnectUnixSocket(const std::string& path) {
  if (path.size() > kMaxUnixSocketPath) return ENAMETOOLONG;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  const int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace evault::server
