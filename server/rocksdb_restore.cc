#include "server/rocksdb_restore.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <rocksdb/env.h>

#include "server/rocksdb_store.h"

namespace evault::server {

namespace fs = std::filesystem;

namespace {

// RocksDB's own lock on a database directory, the one a running server holds (from
// another process or, in tests, this one). Released when destroyed.
class DatabaseLock {
 public:
  static Result<DatabaseLock> Take(const fs::path& db_dir) {
    DatabaseLock lock;
    auto s = rocksdb::Env::Default()->LockFile((db_dir / "LOCK").string(), &lock.lock_);
    if (!s.ok() && s.ToString().find("Permission denied") != std::string::npos) {
      return Fail(ErrorCode::kPermissionDenied, fmt::format("cannot open {}: permission denied", db_dir.string()));
    }
    if (!s.ok()) {
      return Fail(ErrorCode::kIo,
                  fmt::format("the database in {} is in use (is evault-server running on it?); stop the server first",
                              db_dir.parent_path().string()));
    }
    return lock;
  }
  DatabaseLock(DatabaseLock&& other) noexcept : lock_(std::exchange(other.lock_, nullptr)) {}
  ~DatabaseLock() {
    if (lock_ != nullptr) (void)rocksdb::Env::Default()->UnlockFile(lock_);
  }

 private:
  DatabaseLock() = default;
  rocksdb::FileLock* lock_ = nullptr;
};

// Whether `db_dir` holds anything but RocksDB's lock file (which taking the lock makes).
Result<bool> HoldsDatabase(const fs::path& db_dir) {
  std::error_code ec;
  for (fs::directory_iterator it(db_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename() != "LOCK") return true;
  }
  if (ec) return Fail(ErrorCode::kIo, fmt::format("cannot read {}: {}", db_dir.string(), ec.message()));
  return false;
}

// db.replaced-20261126T211000Z beside `db_dir`, with -2, -3... if taken.
fs::path AsideName(const fs::path& db_dir) {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  const std::string base = fmt::format("{}.replaced-{:%Y%m%dT%H%M%SZ}", db_dir.filename().string(), fmt::gmtime(now));
  fs::path aside = db_dir.parent_path() / base;
  for (int n = 2; fs::exists(aside); ++n) aside = db_dir.parent_path() / fmt::format("{}-{}", base, n);
  return aside;
}

// Renames are durable once the directory holding them is synced.
Status SyncDirectory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return FailErrno(errno, fmt::format("cannot open {}: {}", dir.string(), std::strerror(errno)));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return FailErrno(err, fmt::format("cannot sync {}: {}", dir.string(), std::strerror(err)));
  return Ok();
}

// Whose the restored files must be when root restores: the server's user's, or the
// server could not open them. That is the owner of the data directory itself: under
// systemd (DynamicUser=, StateDirectory=) the dynamic user, to whom systemd gives the
// state directory at every start, checking only the directory's own owner, not what is
// inside (/var/lib/evault-server's parent, /var/lib/private, is root's). A data
// directory that does not exist yet takes the owner of its nearest existing ancestor,
// as if the operator had made it. nullopt: not root, or the owner is root.
struct Owner {
  uid_t uid;
  gid_t gid;
};

Result<std::optional<Owner>> RestoredFilesOwner(const fs::path& data_dir) {
  if (::geteuid() != 0) return std::nullopt;
  std::error_code ec;
  fs::path anchor = fs::absolute(data_dir, ec);
  if (ec) return Fail(ErrorCode::kIo, fmt::format("cannot resolve {}: {}", data_dir.string(), ec.message()));
  while (!fs::exists(anchor, ec) && anchor.has_relative_path()) anchor = anchor.parent_path();
  struct stat st {};
  if (::stat(anchor.c_str(), &st) != 0) {  // through a link: /var/lib/evault-server is one
    return FailErrno(errno, fmt::format("cannot read the owner of {}: {}", anchor.string(), std::strerror(errno)));
  }
  if (st.st_uid == 0 && st.st_gid == 0) return std::nullopt;
  return Owner{st.st_uid, st.st_gid};
}

// Gives `top` and everything below it to `owner`, never following a link (the tree is
// the restore's own copy, but a link in it must not hand anything outside it over).
Status GiveTree(const fs::path& top, Owner owner) {
  auto give = [&](const fs::path& p) -> Status {
    if (::lchown(p.c_str(), owner.uid, owner.gid) != 0) {
      return FailErrno(errno, fmt::format("cannot give {} to the data directory's owner: {}", p.string(),
                                          std::strerror(errno)));
    }
    return Ok();
  };
  EVAULT_TRY(give(top));
  std::error_code ec;
  for (fs::recursive_directory_iterator it(top, ec), end; !ec && it != end; it.increment(ec)) {
    EVAULT_TRY(give(it->path()));
  }
  if (ec) return Fail(ErrorCode::kIo, fmt::format("cannot read {}: {}", top.string(), ec.message()));
  return Ok();
}

}  // namespace

Result<RestoredStore> RestoreRocksDbBackup(const fs::path& backup, const fs::path& data_dir, bool replace) {
  std::error_code ec;
  if (!fs::is_regular_file(backup / "CURRENT", ec)) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{} is not a backup made by `evault-server admin backup` (it has no CURRENT file)",
                            backup.string()));
  }
  EVAULT_ASSIGN_OR_RETURN(const std::optional<Owner> owner, RestoredFilesOwner(data_dir));
  std::vector<fs::path> made;  // the directories create_directories is about to make
  for (fs::path p = data_dir; !p.empty() && !fs::exists(p, ec) && p != p.parent_path(); p = p.parent_path()) {
    made.push_back(p);
  }
  fs::create_directories(data_dir, ec);
  if (ec) return Fail(ErrorCode::kIo, fmt::format("cannot create {}: {}", data_dir.string(), ec.message()));
  if (owner && !made.empty()) EVAULT_TRY(GiveTree(made.back(), *owner));  // nothing but what it just made
  fs::permissions(data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) return Fail(ErrorCode::kIo, fmt::format("cannot restrict {}: {}", data_dir.string(), ec.message()));

  RestoredStore restored;
  const fs::path db_dir = data_dir / RocksDbStore::kDatabaseDir;
  std::optional<DatabaseLock> lock;
  if (fs::is_directory(db_dir, ec)) {
    EVAULT_ASSIGN_OR_RETURN(auto taken, DatabaseLock::Take(db_dir));
    lock.emplace(std::move(taken));
    EVAULT_ASSIGN_OR_RETURN(bool holds, HoldsDatabase(db_dir));
    if (holds && !replace) {
      return Fail(ErrorCode::kAlreadyExists,
                  fmt::format("{} holds a database already; --replace moves it aside (nothing is deleted)",
                              data_dir.string()));
    }
    if (holds) {
      restored.moved_aside = AsideName(db_dir);
      fs::rename(db_dir, restored.moved_aside, ec);
      if (ec) return Fail(ErrorCode::kIo, fmt::format("cannot move the database aside: {}", ec.message()));
    }
  }

  // The copy is opened as a store of its own in a staging directory: RocksDbStore::Open
  // sweeps half-done uploads, and the new incarnation is written with the store's code.
  const fs::path staging = data_dir / ".restoring";
  fs::remove_all(staging, ec);  // what an interrupted restore left; never the database
  fs::create_directories(staging, ec);
  if (!ec) fs::copy(backup, staging / RocksDbStore::kDatabaseDir, fs::copy_options::recursive, ec);
  if (ec) {
    return Fail(ec.value() == ENOSPC ? ErrorCode::kNoSpace : ErrorCode::kIo,
                fmt::format("cannot copy the backup into {}: {}", data_dir.string(), ec.message()));
  }
  {
    EVAULT_ASSIGN_OR_RETURN(auto store, RocksDbStore::Open(staging));
    EVAULT_TRY(store->RenewIncarnation());
    EVAULT_ASSIGN_OR_RETURN(restored.incarnation, store->Incarnation());
  }
  // Handed over before it is renamed into place: the server never sees a file of root's.
  if (owner) EVAULT_TRY(GiveTree(staging / RocksDbStore::kDatabaseDir, *owner));
  lock.reset();
  // An empty database directory (or one with only its lock file) holds nothing to keep;
  // fs::remove takes nothing else.
  if (restored.moved_aside.empty() && fs::exists(db_dir, ec)) {
    fs::remove(db_dir / "LOCK", ec);
    fs::remove(db_dir, ec);
  }
  fs::rename(staging / RocksDbStore::kDatabaseDir, db_dir, ec);
  if (ec) return Fail(ErrorCode::kIo, fmt::format("cannot move the restored database into place: {}", ec.message()));
  fs::remove(staging, ec);
  EVAULT_TRY(SyncDirectory(data_dir));
  return restored;
}

}  // namespace evault::server
