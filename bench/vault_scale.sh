#!/usr/bin/env bash
# Runs bench/vault_scale on a throwaway PostgreSQL cluster: starts one with
# tests/server/pg_cluster.sh on 127.0.0.1, runs the benchmark with --postgres against it
# (and --postgres-dir, so its du is reported too), and stops and removes the cluster on
# exit, on an error and on SIGINT/SIGTERM.
#
#   bench/vault_scale.sh [--build DIR] [--port PORT] [--pg-fsync on|off] [vault_scale flags...]
#
#   --build DIR      build directory holding bench/vault_scale (default: build)
#   --port PORT      the cluster's port (default: a random one in 40000..59999)
#   --pg-fsync on    (default) turns fsync and full_page_writes back on: pg_cluster.sh turns
#                    them off to save the tests time, but a server's figures should pay
#                    for durability, as RocksDB's do; off keeps the test cluster's settings.
#
# Everything else goes to vault_scale, e.g. `--vaults 2000 --replicas 2`.
# For RocksDB no cluster is needed: run build/bench/vault_scale directly.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=$root/build
port=$((40000 + RANDOM % 20000))
fsync=on
args=()
while (($#)); do
  case "$1" in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --port) port=$2; shift 2 ;;
    --pg-fsync) fsync=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ $fsync == on || $fsync == off ]] || { echo "vault_scale.sh: --pg-fsync on|off" >&2; exit 2; }
bench=$build/bench/vault_scale
[[ -x $bench ]] || { echo "vault_scale.sh: no $bench: cmake --build $build --target vault_scale" >&2; exit 1; }

cluster=$(mktemp -d "${TMPDIR:-/tmp}/evault-pg-scale-XXXXXX")
cleanup() { "$root/tests/server/pg_cluster.sh" stop "$cluster" "$port" || true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$root/tests/server/pg_cluster.sh" start "$cluster" "$port" >&2
uri="postgresql://evault_test@127.0.0.1:$port/postgres"
if [[ $fsync == on ]]; then
  psql -X -q "$uri" -c "ALTER SYSTEM SET fsync = on" -c "ALTER SYSTEM SET full_page_writes = on" \
    -c "SELECT pg_reload_conf()" >/dev/null
  sleep 1  # the reload is asynchronous
  [[ $(psql -X -A -t "$uri" -c "SHOW fsync") == on ]] || { echo "vault_scale.sh: fsync is still off" >&2; exit 1; }
fi
# Not exec: the trap removes the cluster when the benchmark ends.
"$bench" --postgres "$uri" --postgres-dir "$cluster" "${args[@]}"
