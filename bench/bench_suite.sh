#!/usr/bin/env bash
# The benchmark suite of issue #7 (`make bench`): every figure measured beside its limit or
# peer in the same run, printed as one table (figure | ours | limit or peer | ratio) on
# stdout. Progress goes to stderr. See bench/README.md.
#
#   bench/bench_suite.sh [--build DIR] [--quick] [--attach-mib N] [--big-attach-mib N | --no-big]
#                        [--records N] [--sync-records N] [--no-sync] [--work-dir DIR] [--keep]
#
# Ratio: ours divided by the limit or peer, as time for the same work (or as peak RSS);
# below 1.00x ours is faster (or smaller), above 1.00x it is slower.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
build=$repo/build
quick=0
attach_mib=1024
big_mib=8192
records=20000
sync_records=10000
do_sync=1
work_parent=${TMPDIR:-/tmp}
keep=0
words_file=$repo/../shared/seed/monitoring-report-kazakhstan-2019.txt
declare -A given=()

usage() { sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
  case $1 in
    --build) build=$2; shift ;;
    --quick) quick=1 ;;
    --attach-mib) attach_mib=$2; given[attach]=1; shift ;;
    --big-attach-mib) big_mib=$2; given[big]=1; shift ;;
    --no-big) big_mib=0; given[big]=1 ;;
    --records) records=$2; given[records]=1; shift ;;
    --sync-records) sync_records=$2; given[sync]=1; shift ;;
    --no-sync) do_sync=0 ;;
    --work-dir) work_parent=$2; shift ;;
    --words-file) words_file=$2; shift ;;
    --keep) keep=1 ;;
    -h|--help) usage ;;
    *) echo "bench_suite: unknown argument $1" >&2; usage ;;
  esac
  shift
done
runs=3  # timed runs of each ingest and read-back contender; the median counts
if ((quick)); then
  runs=1
  [[ -v given[attach] ]] || attach_mib=64
  [[ -v given[big] ]] || big_mib=0
  [[ -v given[records] ]] || records=2000
  [[ -v given[sync] ]] || sync_records=1000
fi
small_records=$(( sync_records / 10 > 0 ? sync_records / 10 : 1 ))

build=$(cd "$build" && pwd)
tool=$build/bench/bench_tool
evault=$build/client/evault
for f in "$tool" "$evault" "$build/bench/sync_bench" "$build/server/evault-server"; do
  [[ -x $f ]] || { echo "bench_suite: $f is missing: build first (cmake --build $build)" >&2; exit 1; }
done

mkdir -p "$work_parent"
work=$(mktemp -d "$work_parent/evault-suite-XXXXXX")
cleanup() {
  # gpg may have started an agent for this GNUPGHOME; stop it before the directory goes.
  [[ -d $work/gnupg ]] && GNUPGHOME=$work/gnupg gpgconf --kill gpg-agent 2>/dev/null || true
  if ((keep)); then echo "bench_suite: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

rows=$work/rows.tsv
: >"$rows"
log() { printf '[%5ds] %s\n' "$SECONDS" "$*" >&2; }
row() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$rows"; }
calc() { awk "BEGIN { printf \"%s\", $* }" </dev/null; }
# 4.71 s | 15.3 ms
dur() { awk -v s="$1" 'BEGIN { if (s < 1) printf "%.1f ms", s * 1000; else printf "%.2f s", s }'; }
# bytes and seconds -> "228 MB/s" or "1.52 GB/s"
rate() { awk -v b="$1" -v s="$2" 'BEGIN { r = b / s; if (r >= 1e9) printf "%.2f GB/s", r / 1e9; else printf "%.0f MB/s", r / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f MiB", k / 1024 }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# measure [bench_tool run options] -- COMMAND...: prints "SECONDS MAXRSS_KIB"; a failing
# command stops the suite with its log.
measure() {
  local out
  : >"$work/cmd.log"
  if ! out=$("$tool" run --stderr "$work/cmd.log" "$@"); then
    echo "bench_suite: failed: ${*}" >&2
    tail -n 20 "$work/cmd.log" >&2
    return 1
  fi
  echo "$out"
}

pass=$work/passphrase
printf 'benchmark passphrase of the suite' >"$pass"
ev() { local vault=$1; shift; "$evault" --vault "$vault" --passphrase-file "$pass" "$@"; }
# A vault with the cheapest KDF, a case and a record: prints "CASE RECORD".
new_vault() {
  ev "$1" init --kdf-ops 2 --kdf-memory-mib 64 --no-recovery-key >/dev/null
  local case_id record_id
  case_id=$(ev "$1" case new --title "Benchmark case")
  printf '{"kind":"video","title":"Footage of the detention"}' >"$work/record.json"
  record_id=$(ev "$1" record add --case "$case_id" --json "$work/record.json" | awk '{ print $1 }')
  echo "$case_id $record_id"
}
# The unlock baseline of a vault: median of 3 runs of `evault status` (process start,
# passphrase KDF, database open, a small read), subtracted from commands on that vault.
# Prints "MEDIAN_SECONDS PEAK_RSS_KIB".
baseline() {
  for _ in 1 2 3; do
    measure -- "$evault" --vault "$1" --passphrase-file "$pass" status
  done | sort -g | awk '{ s[NR] = $1; if ($2 > rss) rss = $2 } END { print s[2], rss }'
}
have() { command -v "$1" >/dev/null 2>&1; }
# median_run PREP -- MEASURE_ARGS...: PREP (untimed: remove the last output, make a fresh
# repository), then `measure`, $runs times; prints the line of the median run. One run of
# a 1 GiB write swung by 2x on these virtual disks.
median_run() {
  local prep=$1 i
  shift 2
  for ((i = 0; i < runs; i++)); do
    $prep
    measure "$@" || exit 1
  done | sort -g | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'
}
nothing() { :; }
# median3 COMMAND...: the median seconds of 3 runs (a peer's own start-up and key derivation).
median3() {
  for _ in 1 2 3; do measure -- "$@" | awk '{ print $1 }'; done | median
}
gpg_args=(--batch --yes --pinentry-mode loopback --passphrase "benchmark passphrase")
load() { awk '{ print $1, $2, $3 }' /proc/loadavg; }

log "bench_suite: attachment ${attach_mib} MiB, big ${big_mib} MiB, ${records} records, sync ${sync_records}/${small_records} records; in $work"
log "load average at start: $(load)"
started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_start=$(load)

# --- 1, 2, 6: one attachment: ingest, read-back, export and verify ----------------------
bytes=$(( attach_mib << 20 ))
label="${attach_mib} MiB"
file=$work/attachment.bin
log "writing a ${attach_mib} MiB random file"
"$tool" random-file --out "$file" --mib "$attach_mib"

log "limits: libsodium XChaCha20-Poly1305, OpenSSL SHA-256, dd conv=fdatasync"
read -r enc_s dec_s _ <<<"$("$tool" aead --file "$file")"
read -r sha_s _ <<<"$("$tool" sha256 --file "$file")"
no_dd() { rm -f "$work/dd.out"; }
read -r dd_s _ <<<"$(median_run no_dd -- -- dd if="$file" of="$work/dd.out" bs=1M conv=fdatasync)"
rm -f "$work/dd.out"
row "limit: XChaCha20-Poly1305 encrypt, ${label} (libsodium, 1 core)" "—" "$(dur "$enc_s") ($(rate "$bytes" "$enc_s"))" "—"
row "limit: XChaCha20-Poly1305 decrypt, ${label} (libsodium, 1 core)" "—" "$(dur "$dec_s") ($(rate "$bytes" "$dec_s"))" "—"
row "limit: SHA-256, ${label} (OpenSSL, 1 core)" "—" "$(dur "$sha_s") ($(rate "$bytes" "$sha_s"))" "—"
row "limit: durable write, ${label} (dd bs=1M conv=fdatasync)" "—" "$(dur "$dd_s") ($(rate "$bytes" "$dd_s"))" "—"

log "evault attach add (${label})"
# Each run adds the file to a new vault (add1, add2, ...); the median run's vault becomes v1,
# which is read back and exported below.
for ((i = 1; i <= runs; i++)); do new_vault "$work/add$i" >"$work/add$i.ids"; done
read -r base1 base1_rss <<<"$(baseline "$work/add1")"
log "  unlock baseline (median of 3 evault status): $(dur "$base1")"
read -r add_raw add_rss add_rss_after add_run <<<"$(
  for ((i = 1; i <= runs; i++)); do
    read -r _ add_record <"$work/add$i.ids"
    line=$(measure --stdout "$work/attach$i.out" --sample-rss-after "$(calc "$base1 * 1.5")" -- \
      "$evault" --vault "$work/add$i" --passphrase-file "$pass" attach add --record "$add_record" "$file") || exit 1
    echo "$line $i"
  done | sort -g | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }')"
mv "$work/add$add_run" "$work/v1"
read -r case_id record_id <"$work/add$add_run.ids"
attachment_id=$(awk '{ print $1 }' "$work/attach$add_run.out")
rm -rf "$work"/add[0-9]* "$work"/attach[0-9]*.out
add_s=$(calc "$add_raw - $base1")
log "  attach add: $(dur "$add_raw") - $(dur "$base1") = $(dur "$add_s") ($(rate "$bytes" "$add_s")), peak RSS $(mib "$add_rss") ($(mib "$add_rss_after") after unlock; status: $(mib "$base1_rss"))"
ours="$(dur "$add_s") ($(rate "$bytes" "$add_s"))"
fig="1. attach add ${label}"
row "$fig" "$ours" "raw XChaCha20-Poly1305 $(dur "$enc_s")" "$(ratio "$add_s" "$enc_s")"
row "$fig" "$ours" "dd conv=fdatasync $(dur "$dd_s")" "$(ratio "$add_s" "$dd_s")"

declare -A peer_rss=()
if have age && have age-keygen; then
  log "age -r (${label}) + sync"
  age-keygen -o "$work/age.key" 2>/dev/null
  recipient=$(age-keygen -y "$work/age.key")
  no_age() { rm -f "$work/age.out"; }
  read -r age_s 'peer_rss[age]' _ <<<"$(median_run no_age -- --fsync "$work/age.out" -- age -r "$recipient" -o "$work/age.out" "$file")"
  row "$fig" "$ours" "age -r + sync $(dur "$age_s")" "$(ratio "$add_s" "$age_s")"
else
  row "$fig" "$ours" "age: not installed" "—"
fi
if have gpg; then
  log "gpg --symmetric (${label}) + sync"
  mkdir -m 700 "$work/gnupg"
  export GNUPGHOME=$work/gnupg
  # gpg's start-up (agent, S2K key derivation) is measured on an empty file and subtracted,
  # as evault's unlock is; the first run, which creates the home directory, is not counted.
  : >"$work/empty"
  gpg "${gpg_args[@]}" --symmetric -o "$work/empty.gpg" "$work/empty" 2>/dev/null
  gpg_base=$(median3 gpg "${gpg_args[@]}" --symmetric -o "$work/empty.gpg" "$work/empty")
  no_gpg() { rm -f "$work/gpg.out"; }
  read -r gpg_raw 'peer_rss[gpg]' _ <<<"$(median_run no_gpg -- --fsync "$work/gpg.out" -- gpg "${gpg_args[@]}" --symmetric \
    -o "$work/gpg.out" "$file")"
  gpg_s=$(calc "$gpg_raw - $gpg_base")
  log "  gpg: $(dur "$gpg_raw") - $(dur "$gpg_base") (empty file) = $(dur "$gpg_s")"
  row "$fig" "$ours" "gpg --symmetric + sync $(dur "$gpg_s")" "$(ratio "$add_s" "$gpg_s")"
else
  row "$fig" "$ours" "gpg: not installed" "—"
fi
if have restic; then
  log "restic backup (${label}) into a new local repository"
  export RESTIC_PASSWORD="benchmark passphrase" RESTIC_CACHE_DIR=$work/restic-cache
  restic -r "$work/restic" init >/dev/null 2>&1
  # restic's start-up (the repository key's scrypt) is measured with `cat config` and subtracted.
  restic_base=$(median3 restic -r "$work/restic" cat config)
  # A first backup each time: into a new repository (a second would find every blob there).
  new_restic() { rm -rf "$work/restic"; restic -r "$work/restic" init >/dev/null 2>&1; }
  read -r restic_raw 'peer_rss[restic]' _ <<<"$(median_run new_restic -- --fsync "$work/restic" -- restic -r "$work/restic" backup "$file")"
  restic_s=$(calc "$restic_raw - $restic_base")
  log "  restic: $(dur "$restic_raw") - $(dur "$restic_base") (cat config) = $(dur "$restic_s")"
  row "$fig" "$ours" "restic backup + fsync $(dur "$restic_s")" "$(ratio "$add_s" "$restic_s")"
else
  row "$fig" "$ours" "restic: not installed" "—"
fi
for p in "${!peer_rss[@]}"; do log "  peak RSS of $p: $(mib "${peer_rss[$p]}")"; done
fig="1. attach add ${label}: peak RSS after unlock"
row "$fig" "$(mib "$add_rss_after")" "target 64 MiB" "$(ratio "$add_rss_after" 65536)"
[[ -v peer_rss[age] ]] && row "$fig" "$(mib "$add_rss_after")" "age -r $(mib "${peer_rss[age]}")" "$(ratio "$add_rss_after" "${peer_rss[age]}")"
[[ -v peer_rss[restic] ]] && row "$fig" "$(mib "$add_rss_after")" "restic backup $(mib "${peer_rss[restic]}")" "$(ratio "$add_rss_after" "${peer_rss[restic]}")"
row "1. attach add ${label}: peak RSS, whole command" "$(mib "$add_rss")" "evault status (unlock only) $(mib "$base1_rss")" "$(ratio "$add_rss" "$base1_rss")"

log "read-back: evault attach get, raw decryption, age -d, gpg -d, restic restore"
no_get() { rm -f "$work/get.out"; }
read -r get_raw _ <<<"$(median_run no_get -- -- "$evault" --vault "$work/v1" --passphrase-file "$pass" attach get "$attachment_id" \
  --out "$work/get.out")"
get_s=$(calc "$get_raw - $base1")
cmp -s "$file" "$work/get.out" || { echo "bench_suite: attach get returned different bytes" >&2; exit 1; }
rm -f "$work/get.out"
log "  attach get: $(dur "$get_s") ($(rate "$bytes" "$get_s"))"
ours="$(dur "$get_s") ($(rate "$bytes" "$get_s"))"
fig="2. attach get ${label} (fsync'd)"
row "$fig" "$ours" "raw XChaCha20-Poly1305 $(dur "$dec_s")" "$(ratio "$get_s" "$dec_s")"
row "$fig" "$ours" "dd conv=fdatasync $(dur "$dd_s")" "$(ratio "$get_s" "$dd_s")"
if [[ -f $work/age.out ]]; then
  no_age_dec() { rm -f "$work/age.dec"; }
  read -r s _ <<<"$(median_run no_age_dec -- --fsync "$work/age.dec" -- age -d -i "$work/age.key" -o "$work/age.dec" "$work/age.out")"
  row "$fig" "$ours" "age -d + sync $(dur "$s")" "$(ratio "$get_s" "$s")"
  rm -f "$work/age.out" "$work/age.dec"
fi
if [[ -f $work/gpg.out ]]; then
  base=$(median3 gpg "${gpg_args[@]}" -o "$work/empty.dec" -d "$work/empty.gpg")
  no_gpg_dec() { rm -f "$work/gpg.dec"; }
  read -r s _ <<<"$(median_run no_gpg_dec -- --fsync "$work/gpg.dec" -- gpg "${gpg_args[@]}" -o "$work/gpg.dec" -d "$work/gpg.out")"
  log "  gpg -d: $(dur "$s") - $(dur "$base") (empty file) = $(dur "$(calc "$s - $base")")"
  s=$(calc "$s - $base")
  row "$fig" "$ours" "gpg -d + sync $(dur "$s")" "$(ratio "$get_s" "$s")"
  rm -f "$work/gpg.out" "$work/gpg.dec" "$work/empty"*
fi
if [[ -d $work/restic ]]; then
  no_restored() { rm -rf "$work/restored"; }
  read -r s _ <<<"$(median_run no_restored -- --fsync "$work/restored" -- restic -r "$work/restic" restore latest --target "$work/restored")"
  log "  restic restore: $(dur "$s") - $(dur "$restic_base") (cat config) = $(dur "$(calc "$s - $restic_base")")"
  s=$(calc "$s - $restic_base")
  row "$fig" "$ours" "restic restore + fsync $(dur "$s")" "$(ratio "$get_s" "$s")"
  rm -rf "$work/restic" "$work/restored" "$work/restic-cache"
fi

log "export and verify of the case (${label} of attachments) against sha256sum"
read -r exp_raw _ <<<"$(measure -- "$evault" --vault "$work/v1" --passphrase-file "$pass" export --case "$case_id" \
  --out "$work/bundle" --purpose "benchmark")"
exp_s=$(calc "$exp_raw - $base1")
read -r ver_s _ <<<"$(measure -- "$evault" verify "$work/bundle")"
read -r sum_s _ <<<"$(measure -- sha256sum "$file")"
log "  export $(dur "$exp_s"), verify $(dur "$ver_s"), sha256sum $(dur "$sum_s")"
row "6. export case with ${label} attachment" "$(dur "$exp_s") ($(rate "$bytes" "$exp_s"))" "sha256sum $(dur "$sum_s")" "$(ratio "$exp_s" "$sum_s")"
row "6. evault verify of that bundle" "$(dur "$ver_s") ($(rate "$bytes" "$ver_s"))" "sha256sum $(dur "$sum_s")" "$(ratio "$ver_s" "$sum_s")"
row "6. evault verify of that bundle" "$(dur "$ver_s") ($(rate "$bytes" "$ver_s"))" "OpenSSL SHA-256 $(dur "$sha_s")" "$(ratio "$ver_s" "$sha_s")"
rm -rf "$work/bundle" "$work/v1" "$file"

# --- 1 (big): the same ingest at 8 GiB, evault only ---------------------------------------
if ((big_mib > 0)); then
  big_bytes=$(( big_mib << 20 ))
  log "writing a ${big_mib} MiB random file ($(df -h --output=avail "$work" | tail -1 | tr -d ' ') free)"
  "$tool" random-file --out "$file" --mib "$big_mib"
  read -r _ record_id <<<"$(new_vault "$work/v2")"
  read -r base2 _ <<<"$(baseline "$work/v2")"
  log "evault attach add (${big_mib} MiB)"
  read -r big_raw big_rss big_rss_after <<<"$(measure --stdout /dev/null --sample-rss-after "$(calc "$base2 * 1.5")" -- \
    "$evault" --vault "$work/v2" --passphrase-file "$pass" attach add --record "$record_id" "$file")"
  big_s=$(calc "$big_raw - $base2")
  rm -rf "$work/v2" "$file"
  log "  attach add: $(dur "$big_s") ($(rate "$big_bytes" "$big_s")), peak RSS $(mib "$big_rss") ($(mib "$big_rss_after") after unlock)"
  scale=$(calc "$big_bytes / $bytes")
  row "1. attach add ${big_mib} MiB" "$(dur "$big_s") ($(rate "$big_bytes" "$big_s"))" \
    "${label} run x $(calc "$scale") = $(dur "$(calc "$add_s * $scale")")" "$(ratio "$big_s" "$(calc "$add_s * $scale")")"
  row "1. attach add ${big_mib} MiB: peak RSS after unlock" "$(mib "$big_rss_after")" "target 64 MiB" "$(ratio "$big_rss_after" 65536)"
  row "1. attach add ${big_mib} MiB: peak RSS after unlock" "$(mib "$big_rss_after")" "${label} run $(mib "$add_rss_after")" \
    "$(ratio "$big_rss_after" "$add_rss_after")"
  row "1. attach add ${big_mib} MiB: peak RSS, whole command" "$(mib "$big_rss")" "${label} run $(mib "$add_rss")" "$(ratio "$big_rss" "$add_rss")"
fi

# --- 3, 4: record import and search ------------------------------------------------------
jsonl=$work/records.jsonl
if [[ -r $words_file ]]; then words=(--words-file "$words_file"); else words=(); log "no $words_file: made-up words"; fi
read -r _ mean_json <<<"$("$tool" gen-records --count "$records" --out "$jsonl" "${words[@]}")"
log "import of ${records} records (mean ${mean_json} bytes of JSON)"
read -r case_id _ <<<"$(new_vault "$work/v3")"
read -r base3 _ <<<"$(baseline "$work/v3")"
read -r imp_raw imp_rss imp_rss_after <<<"$(measure --sample-rss-after "$(calc "$base3 * 1.5")" -- "$evault" --vault "$work/v3" --passphrase-file "$pass" import --case "$case_id" "$jsonl")"
imp_s=$(calc "$imp_raw - $base3")
read -r raw_s _ value_bytes <<<"$("$tool" rocksdb-puts --jsonl "$jsonl" --dir "$work/rocks" --batch 1000)"
rm -rf "$work/rocks"
log "  import $(dur "$imp_s") (peak RSS $(mib "$imp_rss"), $(mib "$imp_rss_after") after unlock), raw RocksDB $(dur "$raw_s") (values of ${value_bytes} bytes)"
per_s() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f rec/s", n / s }'; }
row "3. import ${records} records (JSONL, ${mean_json} B each)" "$(dur "$imp_s") ($(per_s "$records" "$imp_s"))" \
  "RocksDB puts of ${value_bytes} B, 1000/synced batch: $(dur "$raw_s") ($(per_s "$records" "$raw_s"))" "$(ratio "$imp_s" "$raw_s")"
read -r floor_s <<<"$("$tool" pk-floor --count "$records")"
row "3. import ${records} records, against the format's public-key work" "$(dur "$imp_s")" \
  "6 crypto_box_seal + 2 Ed25519 signatures per record, 1 core: $(dur "$floor_s") ($(per_s "$records" "$floor_s"))" "$(ratio "$imp_s" "$floor_s")"
row "3. import ${records} records: peak RSS after unlock" "$(mib "$imp_rss_after")" "target 64 MiB" "$(ratio "$imp_rss_after" 65536)"

log "search over ${records} records (in-process Vault::Search, median of 5 runs, fewer past 10 s) against grep over the plaintext"
"$tool" search --vault "$work/v3" --passphrase-file "$pass" --jsonl "$jsonl" --runs 5 >"$work/search.tsv"
while IFS=$'\t' read -r query hits ours_s grep_s; do
  log "  '$query': $hits hits, $(dur "$ours_s"); grep $(dur "$grep_s")"
  row "4. search '${query}' (${hits} of ${records} records)" "$(dur "$ours_s")" "grep -wiF plaintext JSONL $(dur "$grep_s")" \
    "$(ratio "$ours_s" "$grep_s")"
done <"$work/search.tsv"
rm -rf "$work/v3" "$jsonl"

# --- 5: sync (bench/sync_bench.cc) ----------------------------------------------------------
if ((do_sync)); then
  log "sync_bench: ${sync_records} records, ${small_records} in the small vault, ${label} attachment"
  "$build/bench/sync_bench" --records "$sync_records" --small-records "$small_records" --attachment-mib "$attach_mib" \
    --server-binary "$build/server/evault-server" --work-dir "$work" --tsv "$work/sync.tsv" >"$work/sync.out"
  while IFS=$'\t' read -r f o r q; do row "5. sync: ${f#[0-9]. }" "$o" "$r" "$q"; done <"$work/sync.tsv"
fi

# --- 7: unlock at the default KDF ------------------------------------------------------------
help=$("$evault" init --help)
kdf_ops=$(sed -n 's/.*--kdf-ops[^0-9]*\([0-9][0-9]*\).*/\1/p' <<<"$help")
kdf_mib=$(sed -n 's/.*--kdf-memory-mib[^0-9]*\([0-9][0-9]*\).*/\1/p' <<<"$help")
[[ -n $kdf_ops && -n $kdf_mib ]] || { echo "bench_suite: cannot read the default KDF from evault init --help" >&2; exit 1; }
log "unlock at the default KDF (Argon2id ops ${kdf_ops}, ${kdf_mib} MiB)"
ev "$work/v4" init --no-recovery-key >/dev/null
unlock_s=$("$tool" unlock --vault "$work/v4" --passphrase-file "$pass" --runs 3)
pwhash_s=$("$tool" pwhash --ops "$kdf_ops" --mem-mib "$kdf_mib" --runs 3)
read -r status_s _ <<<"$(measure -- "$evault" --vault "$work/v4" --passphrase-file "$pass" status)"
rm -rf "$work/v4"
row "7. unlock, Argon2id ops ${kdf_ops}, ${kdf_mib} MiB (Vault::Open, median of 3)" "$(dur "$unlock_s")" \
  "crypto_pwhash same params $(dur "$pwhash_s")" "$(ratio "$unlock_s" "$pwhash_s")"
row "7. evault status at default KDF (whole command)" "$(dur "$status_s")" "crypto_pwhash same params $(dur "$pwhash_s")" \
  "$(ratio "$status_s" "$pwhash_s")"

# --- the table --------------------------------------------------------------------------------
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with uncommitted changes)" || true)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
ram=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
btype=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
log "load average at end: $(load)"
{
  echo
  echo "evault benchmark suite, $started, commit $commit$dirty"
  echo "command: bench/bench_suite.sh --build $build$( ((quick)) && echo " --quick") --attach-mib $attach_mib --big-attach-mib $big_mib --records $records --sync-records $sync_records"
  echo "machine: nproc $(nproc), $cpu, $ram, $(uname -sr), load average $load_start at start, $(load) at end; build ${btype:-RelWithDebInfo (default)}"
  echo "ratio = ours / limit or peer, as time for the same bytes or records (or as peak RSS): below 1.00x ours is faster."
  echo "evault times exclude the passphrase KDF: the median of 3 \`evault status\` runs on the same vault is subtracted;"
  echo "likewise gpg's (the same command on an empty file) and restic's (\`restic cat config\`). Peers: default settings."
  echo "Peak RSS after unlock: the largest VmRSS read every 10 ms once 1.5x that median has passed (the KDF's Argon2id memory"
  echo "is freed after unlock but stays in ru_maxrss, the \"whole command\" figure). Test vaults use Argon2id ops 2, 64 MiB."
  echo "MB = 10^6 bytes, MiB = 2^20 bytes."
  echo
  "$tool" table "$rows"
}
