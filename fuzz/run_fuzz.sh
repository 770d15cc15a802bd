#!/usr/bin/env bash
# One libFuzzer run over a scratch copy of a target's seed corpus.
#   run_fuzz.sh FUZZER SEED_DIR WORK_DIR SECONDS [--keep] [libFuzzer flags...]
# WORK_DIR/corpus starts as a copy of SEED_DIR (the committed corpus is only read) and
# WORK_DIR/artifacts receives any crashing, leaking or slow input. With --keep, an
# existing WORK_DIR/corpus is kept, so repeated long runs build on each other.
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4
shift 4
keep=0
if [[ ${1:-} == --keep ]]; then keep=1; shift; fi
if ((keep == 0)); then rm -rf "$work"; fi
mkdir -p "$work/corpus" "$work/artifacts"
cp -n "$seeds"/* "$work/corpus/"
# Tokens the mutator would take long to invent (JSON literals, field names).
dict=
case $(basename "$seeds") in
  record_json | object_body) dict=json.dict ;;
  custody_line | custody_log | bundle) dict=custody.dict ;;
esac
if [[ -n $dict ]]; then set -- -dict="$(dirname "$0")/dict/$dict" "$@"; fi
# -timeout: one input taking this long is a finding (a hang); -rss_limit_mb: so is
# memory growth past it. Leak checks are on (ASan's LeakSanitizer, libFuzzer default).
set +e
"$fuzzer" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2560 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" 2>"$work/log"
status=$?
set -e
# ctest shows the tail: the final stats (execs, rate) or the finding with its stack.
tail -n 60 "$work/log"
if ((status != 0)); then
  echo "run_fuzz: $(basename "$fuzzer") failed (exit $status); inputs in $work/artifacts:" >&2
  ls -l "$work/artifacts" >&2
fi
exit $status
