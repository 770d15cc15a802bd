// Putting a backup of the embedded store (RocksDbStore::Backup, made by `evault-server
// admin backup`) back in place, with the server stopped:
//
//   evault-server admin restore --from BACKUP --data DATA_DIR [--replace]
//
// Refuses while a server holds the database (RocksDB's LOCK file), and refuses a data
// directory that already holds a database unless `replace`; then that database is
// moved aside inside DATA_DIR (db.replaced-<UTC time>), never deleted. Anything else
// in DATA_DIR (backups kept there, say) is left alone. The backup is copied, not
// linked, so it stays as it was and can be restored again; the copy is opened once
// (which drops chunk uploads the backup caught half-done) and given a new incarnation
// (Store::Incarnation), so that clients see the server's history may have gone back.
// The copy is made beside the database and renamed into place last: an interrupted
// restore leaves no half-restored database. Run as root (as under systemd, where the
// server runs as a dynamic user), the restore gives the files it writes to the owner
// of the data directory (or, if it makes the directory, of its nearest existing
// ancestor), so the server can open them without a chown by hand.
#pragma once

#include <filesystem>

#include "crypto/bytes.h"
#include "crypto/status.h"

namespace evault::server {

struct RestoredStore {
  std::filesystem::path moved_aside;  // where the replaced database went; empty if none
  crypto::Bytes incarnation;          // the restored store's new one
};

Result<RestoredStore> RestoreRocksDbBackup(const std::filesystem::path& backup, const std::filesystem::path& data_dir,
                                           bool replace);

}  // namespace evault::server
