#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the PostgresStore tests, started and stopped by the
# suite itself (ctest fixture "postgres", tests/server/CMakeLists.txt), so `make test`
# needs only Debian's postgresql package, not a running server.
#
#   pg_cluster.sh start DIR PORT   wipe DIR, initdb, start on 127.0.0.1:PORT and a unix
#                                  socket in DIR; superuser "evault_test", trust auth
#   pg_cluster.sh stop DIR PORT    stop it (fast shutdown) and remove DIR
#
# The tests reach it as postgresql://evault_test@127.0.0.1:PORT/postgres.
# fsync is off: this cluster is deleted after the run, and the durability of an
# acknowledged write is PostgreSQL's (synchronous_commit, which the store sets on), not
# something these tests can observe. It saves seconds of fsyncs per run on a slow disk.
# Run as root, initdb and pg_ctl run as the "postgres" user: PostgreSQL refuses root.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR PORT" >&2; exit 2; }
(($# == 3)) || usage
action=$1 dir=$2 port=$3

bin=${EVAULT_PG_BIN:-/usr/lib/postgresql/15/bin}
if [[ ! -x $bin/pg_ctl ]]; then
  echo "pg_cluster.sh: $bin/pg_ctl not found: install Debian's postgresql package" >&2
  exit 1
fi

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

stop() {
  if [[ -f $dir/data/postmaster.pid ]]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null || true
  fi
  rm -rf "$dir"
}

case "$action" in
  start)
    stop  # a cluster left by an interrupted run
    mkdir -p "$dir"
    chmod 700 "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U evault_test --auth=trust --no-sync \
      --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    # A unix socket path is limited to 107 bytes; a deep build directory gets TCP only.
    socket_dir=$dir
    ((${#dir} + 20 > 107)) && socket_dir=""
    cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$socket_dir'
fsync = off
full_page_writes = off
shared_buffers = 64MB
max_connections = 100
EOF
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
      { cat "$dir/server.log" >&2; exit 1; }
    echo "PostgreSQL test cluster on 127.0.0.1:$port ($dir)"
    ;;
  stop)
    stop
    ;;
  *) usage ;;
esac
