#!/usr/bin/env bash
# Evidence Vault demo: loads five cases drawn from the CIVICUS Monitor update on Kazakhstan
# (IPHR / KIBHR, August-October 2019) into a fresh, throw-away vault and shows what the CLI does.
#
# Usage: client/demo/demo.sh [PATH-TO-evault [PATH-TO-evault-server]]
#        (defaults: build/client/evault and build/server/evault-server under the repo root)
#
# Data layout (see README.md): cases/NN-name/case.txt (line 1 title, line 2 space-separated tags),
# cases/NN-name/NN-record.json (records, added in name order), optional edit.json (a new version of
# the case's first record) and optional attachments/* (attached to the case's first record).
set -euo pipefail

DEMO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$DEMO_DIR/../.." && pwd)"

EVAULT="${1:-$REPO_ROOT/build/client/evault}"
case "$EVAULT" in
  /*) ;;
  *) EVAULT="$PWD/$EVAULT" ;;
esac

SERVER_BIN="${2:-$(dirname "$EVAULT")/../server/evault-server}"

die() { printf 'demo: FAILED: %s\n' "$*" >&2; exit 1; }

[[ -x "$EVAULT" ]] || die "evault binary not found or not executable: $EVAULT (run 'make build' first)"

# ---------------------------------------------------------------------------------------------
# Throw-away workspace: the vault, the passphrase file and restored files all live here and are
# removed when the script exits, whatever happens.
# ---------------------------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/evault-demo.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf -- "$WORK"
}
trap cleanup EXIT

VAULT="$WORK/vault"
mkdir -m 700 "$VAULT"

PASSFILE="$WORK/passphrase"
DEMO_PASSPHRASE='demo only: never use this passphrase for real evidence'
(umask 077 && printf '%s\n' "$DEMO_PASSPHRASE" > "$PASSFILE")
chmod 600 "$PASSFILE"

# Options given on every call. They go before the subcommand.
GLOBAL=(--vault "$VAULT" --passphrase-file "$PASSFILE")

# Print the command being run (without the global options; paths shown relative to the demo dir).
SAFE_WORD_RE='^[A-Za-z0-9_./:=@+$-]+$'
show_cmd() {
  local line='$ evault' a q="'"
  for a in "$@"; do
    a="${a#"$DEMO_DIR"/}"
    a="${a/#"$WORK"/\$TMP}"
    if [[ "$a" =~ $SAFE_WORD_RE ]]; then
      line+=" $a"
    else
      line+=" $q${a//$q/$q\\$q$q}$q"
    fi
  done
  printf '%s\n' "$line"
}

# run ARGS...: run evault, output goes straight to the terminal.
run() {
  show_cmd "$@"
  "$EVAULT" "${GLOBAL[@]}" "$@"
}

# capture VAR ARGS...: run evault, print its stdout and also store it in VAR.
capture() {
  local __var="$1"; shift
  show_cmd "$@"
  local __out
  __out="$("$EVAULT" "${GLOBAL[@]}" "$@")"
  if [[ -n "$__out" ]]; then printf '%s\n' "$__out"; fi
  printf -v "$__var" '%s' "$__out"
}

# first_word TEXT: first whitespace-separated word of the first line of TEXT.
first_word() {
  local line="${1%%$'\n'*}"
  line="${line#"${line%%[![:space:]]*}"}"
  printf '%s' "${line%%[[:space:]]*}"
}

header() { printf '\n== %s ==\n' "$*"; }

echo "== Evidence Vault demo =="
echo "binary:     $EVAULT"
echo "temp vault: $VAULT (deleted when the demo ends)"
echo "Cases are drawn from the CIVICUS Monitor update on Kazakhstan by IPHR and KIBHR (Aug-Oct 2019)."

# ---------------------------------------------------------------------------------------------
header "1. Create a new vault"
echo "This demo uses fast key-derivation settings (--kdf-ops 2 --kdf-memory-mib 64) so it runs quickly;"
echo "real vaults use the default, stronger settings."
capture out init --kdf-ops 2 --kdf-memory-mib 64
DEVICE_ID="$(first_word "$out")"
[[ -n "$DEVICE_ID" ]] || die "init printed no device id"
echo "-> device id: $DEVICE_ID"

# ---------------------------------------------------------------------------------------------
header "2. Record five cases from the report"
declare -A CASE_ID=() FIRST_RID=()
CASE_NAMES=()
EDIT_CASE=""
ATT_RID="" ATT_ID="" ATT_FILE=""

for dir in "$DEMO_DIR"/cases/*/; do
  dir="${dir%/}"
  name="${dir##*/}"
  [[ -f "$dir/case.txt" ]] || continue
  title="" tagline=""
  { IFS= read -r title || true; IFS= read -r tagline || true; } < "$dir/case.txt"
  title="${title%$'\r'}"
  tagline="${tagline%$'\r'}"
  [[ -n "$title" ]] || die "$dir/case.txt: first line (title) is empty"

  echo
  echo "-- case $name: $title"
  args=(case new --title "$title")
  read -r -a tags <<< "$tagline" || true
  for t in ${tags[@]+"${tags[@]}"}; do args+=(--tag "$t"); done
  capture out "${args[@]}"
  cid="$(first_word "$out")"
  [[ -n "$cid" ]] || die "'case new' printed no case id for $name"
  CASE_ID[$name]="$cid"
  CASE_NAMES+=("$name")

  for rec in "$dir"/[0-9][0-9]-record.json; do
    [[ -f "$rec" ]] || continue
    capture out record add --case "$cid" --json "$rec"
    rid="$(first_word "$out")"
    [[ -n "$rid" ]] || die "'record add' printed no record id for $rec"
    [[ -n "${FIRST_RID[$name]:-}" ]] || FIRST_RID[$name]="$rid"
  done
  [[ -n "${FIRST_RID[$name]:-}" ]] || die "case $name has no NN-record.json files"

  if [[ -d "$dir/attachments" ]]; then
    files=()
    for f in "$dir"/attachments/*; do
      if [[ -f "$f" ]]; then files+=("$f"); fi
    done
    if ((${#files[@]} > 0)); then
      capture out attach add --record "${FIRST_RID[$name]}" "${files[@]}"
      # One line per file: <attachment-id> <sha256-hex> <file>
      i=0
      while IFS=$' \t' read -r aid sha _rest; do
        [[ -n "$aid" ]] || continue
        ((i < ${#files[@]})) || die "'attach add' printed more lines than files"
        want="$(sha256sum < "${files[$i]}")"
        want="${want%% *}"
        [[ "${sha,,}" == "$want" ]] \
          || die "sha256 printed for ${files[$i]##*/} ($sha) differs from sha256sum ($want)"
        echo "   ${files[$i]##*/}: sha256 matches local sha256sum"
        if [[ -z "$ATT_ID" ]]; then
          ATT_RID="${FIRST_RID[$name]}" ATT_ID="$aid" ATT_FILE="${files[$i]}"
        fi
        i=$((i + 1))
      done <<< "$out"
      ((i == ${#files[@]})) || die "'attach add' printed $i lines for ${#files[@]} files"
    fi
  fi

  if [[ -f "$dir/edit.json" ]]; then EDIT_CASE="$name"; fi
done

((${#CASE_NAMES[@]} > 0)) || die "no cases found under $DEMO_DIR/cases"
[[ -n "$EDIT_CASE" ]] || die "no case has an edit.json"
[[ -n "$ATT_ID" ]] || die "no case has attachments"

BATYR_CASE="01-batyrbekov-libel"
CYRILLIC_CASE="05-dvk-protests-21-september"
[[ -n "${FIRST_RID[$BATYR_CASE]:-}" && -n "${FIRST_RID[$CYRILLIC_CASE]:-}" ]] \
  || die "expected cases $BATYR_CASE and $CYRILLIC_CASE"

# ---------------------------------------------------------------------------------------------
EDIT_RID="${FIRST_RID[$EDIT_CASE]}"
header "3. Revise a record: outcome updated after the appeal was rejected"
echo "Records are never overwritten: an edit creates a new revision and keeps the old one."
run record edit "$EDIT_RID" --json "$DEMO_DIR/cases/$EDIT_CASE/edit.json"

header "Revision history of record $EDIT_RID"
run record show "$EDIT_RID" --history

# ---------------------------------------------------------------------------------------------
header "4. Cases in the vault"
run case list

header "All records"
run record list

header "Records of one case only ($EDIT_CASE)"
run record list --case "${CASE_ID[$EDIT_CASE]}"

# ---------------------------------------------------------------------------------------------
header "5. Attachments: list, restore and compare with the original"
run attach list --record "$ATT_RID"
run attach get "$ATT_ID" --out "$WORK/restored"
if cmp -s "$ATT_FILE" "$WORK/restored"; then
  echo "-> restored ${ATT_FILE##*/} is byte-for-byte identical to the original (cmp)"
else
  die "restored attachment differs from $ATT_FILE"
fi

# ---------------------------------------------------------------------------------------------
# search_demo QUERY EXPECTED_RID: show search results; the expected record should be among them.
search_demo() {
  local query="$1" expect="$2" out
  capture out search "$query"
  [[ -n "$out" ]] || die "search '$query' printed nothing"
  if [[ "$out" != *"$expect"* ]]; then
    echo "   (warning: record $expect not found in the search output)" >&2
  fi
}

header "6. Search (whole words, case-insensitive, all words must match)"
search_demo "Batyrbekov" "${FIRST_RID[$BATYR_CASE]}"

header "Search in Cyrillic"
search_demo "Алматы" "${FIRST_RID[$CYRILLIC_CASE]}"

header "Search with two words (both must occur in the record)"
search_demo "restricted freedom" "${FIRST_RID[$EDIT_CASE]}"

# ---------------------------------------------------------------------------------------------
CYR_RID="${FIRST_RID[$CYRILLIC_CASE]}"
cyr_recs=("$DEMO_DIR/cases/$CYRILLIC_CASE"/[0-9][0-9]-record.json)
CYR_JSON="${cyr_recs[0]}"
header "7. A record as JSON (Kazakh and Russian text must come back unchanged)"
capture out record show "$CYR_RID" --json
printf '%s\n' "$out" > "$WORK/show.json"
if command -v python3 > /dev/null 2>&1; then
  python3 - "$CYR_JSON" "$WORK/show.json" <<'PY' || die "UTF-8 round trip check failed"
import json, sys
src = json.load(open(sys.argv[1], encoding="utf-8"))
got = json.load(open(sys.argv[2], encoding="utf-8"))
def strings(v):
    if isinstance(v, dict):
        for x in v.values(): yield from strings(x)
    elif isinstance(v, list):
        for x in v: yield from strings(x)
    elif isinstance(v, str):
        yield v
found = set(strings(got))
missing = [k for k in ("title", "narrative") if src[k] not in found]
if missing:
    sys.exit("fields not returned unchanged: " + ", ".join(missing))
print("-> UTF-8 round trip OK: title and Cyrillic narrative returned byte for byte")
PY
else
  echo "(python3 not installed: skipping the JSON round-trip check)"
fi

# ---------------------------------------------------------------------------------------------
header "8. What is on disk"
echo "Files in the vault directory: $(find "$VAULT" -type f | wc -l), total $(du -sh "$VAULT" | cut -f1)"
for needle in "Batyrbekov" "Arzamasova" "Saryagash" "Алматы" "DEMO RECONSTRUCTION" "$DEMO_PASSPHRASE"; do
  shown="$needle"
  if [[ "$needle" == "$DEMO_PASSPHRASE" ]]; then shown="<the passphrase>"; fi
  echo "\$ grep -r -a -l '$shown' \$VAULT"
  rc=0
  grep -r -a -l -F -- "$needle" "$VAULT" || rc=$?
  case "$rc" in
    1) ;;
    0) die "plaintext '$shown' found in the vault directory" ;;
    *) die "grep failed on $VAULT" ;;
  esac
done
echo "-> no plaintext found on disk: the vault directory contains no readable case text"

# ---------------------------------------------------------------------------------------------
header "9. Two offices: sync through evault-server (TLS on 127.0.0.1)"
if [[ ! -x "$SERVER_BIN" ]]; then
  echo "(evault-server not built: skipping the sync part)"
else
  "$REPO_ROOT/deploy/make-certs.sh" "$WORK/certs" localhost 127.0.0.1 >/dev/null
  TOKEN="demo-enroll-token-$RANDOM$RANDOM"
  (umask 077 && printf '%s\n' "$TOKEN" > "$WORK/enroll-tokens")
  "$SERVER_BIN" --data "$WORK/server-data" --listen 127.0.0.1:0 --tls-cert "$WORK/certs/server.pem" \
    --tls-key "$WORK/certs/server.key" --enroll-token-file "$WORK/enroll-tokens" 2> "$WORK/server.log" &
  SERVER_PID=$!
  PORT=""
  for _ in $(seq 1 100); do
    PORT="$(grep -o 'listening[^\n]*127\.0\.0\.1:[0-9]*' "$WORK/server.log" 2>/dev/null | grep -o '[0-9]*$' | head -1 || true)"
    [[ -n "$PORT" ]] && break
    sleep 0.1
  done
  [[ -n "$PORT" ]] || die "evault-server did not start: $(cat "$WORK/server.log")"
  echo "evault-server listening on localhost:$PORT (certificates from deploy/make-certs.sh)"
  echo
  echo "-- office A (this vault) creates the vault on the server with the operator's enrollment token"
  show_cmd sync --server "localhost:$PORT" --ca-file ca.pem --enroll-token "<token>"
  "$EVAULT" "${GLOBAL[@]}" sync --server "localhost:$PORT" --ca-file "$WORK/certs/ca.pem" --enroll-token "$TOKEN"
  capture INVITE member invite --role coordinator
  INVITE_CODE="$(first_word "$INVITE")"

  echo
  echo "-- office B: a new device joins with the invite code"
  VAULT_B="$WORK/vault-b"
  GLOBAL_B=(--vault "$VAULT_B" --passphrase-file "$PASSFILE")
  echo "\$ evault --vault \$TMP/vault-b init --join <code> --ca-file ca.pem"
  "$EVAULT" "${GLOBAL_B[@]}" init --join "$INVITE_CODE" --ca-file "$WORK/certs/ca.pem" --kdf-ops 2 --kdf-memory-mib 64
  echo
  echo "-- office A syncs: it checks the request and seals the vault key to the new device"
  run sync
  run member list
  echo
  echo "-- office B syncs: the whole vault arrives, verified (signatures, hash chains, membership)"
  echo "\$ evault --vault \$TMP/vault-b sync"
  "$EVAULT" "${GLOBAL_B[@]}" sync
  echo "\$ evault --vault \$TMP/vault-b search Batyrbekov"
  "$EVAULT" "${GLOBAL_B[@]}" search Batyrbekov
  B_LIST="$("$EVAULT" "${GLOBAL_B[@]}" record list | sort)"
  A_LIST="$("$EVAULT" "${GLOBAL[@]}" record list | sort)"
  [[ "$A_LIST" == "$B_LIST" ]] || die "office B's records differ from office A's"
  echo "-> both offices hold the same $(printf '%s\n' "$A_LIST" | wc -l) records"
  echo
  echo "-- what the server holds: ciphertext only"
  for needle in "Batyrbekov" "Алматы" "DEMO RECONSTRUCTION"; do
    if grep -r -a -l -F -- "$needle" "$WORK/server-data" >/dev/null; then die "plaintext '$needle' on the server"; fi
  done
  echo "-> grep finds none of the names, places or statements in the server's data directory"

  header "10. Roles enforced by keys: a field monitor, a legal team, a lost device"
  in_vault() { local d="$1"; shift; echo "\$ evault --vault \$TMP/$(basename "$d") $*"; "$EVAULT" --vault "$d" --passphrase-file "$PASSFILE" "$@"; }
  join_as() {  # join_as DIR ROLE: invite on office A, join, admit, first sync
    local dir="$1" role="$2" code
    code="$(first_word "$("$EVAULT" "${GLOBAL[@]}" member invite --role "$role")")"
    "$EVAULT" --vault "$dir" --passphrase-file "$PASSFILE" init --join "$code" --ca-file "$WORK/certs/ca.pem" \
      --kdf-ops 2 --kdf-memory-mib 64 >/dev/null
    "$EVAULT" "${GLOBAL[@]}" sync >/dev/null
    "$EVAULT" --vault "$dir" --passphrase-file "$PASSFILE" sync >/dev/null
  }
  MONITOR="$WORK/vault-monitor"; LEGAL="$WORK/vault-legal"
  join_as "$MONITOR" monitor
  join_as "$LEGAL" legal
  run member list
  echo
  echo "-- the monitor documents a new detention in the field, syncs, and purges its copy"
  echo "\$ evault --vault \$TMP/vault-monitor case new --title 'Field report: detention at a picket'"
  MON_CASE="$("$EVAULT" --vault "$MONITOR" --passphrase-file "$PASSFILE" case new --title "Field report: detention at a picket")"
  echo "$MON_CASE"
  in_vault "$MONITOR" record add --case "$MON_CASE" --json - <<<'{"kind":"detention","title":"Picketer detained FIELDMARK","narrative":"Detained for two hours, released without charge."}'
  in_vault "$MONITOR" sync
  in_vault "$MONITOR" search Batyrbekov || true
  echo "-> the monitor holds no key that opens office A's records: the search above finds nothing"
  in_vault "$MONITOR" purge --synced
  if grep -r -a -l -F FIELDMARK "$MONITOR" >/dev/null; then die "the purged report is still on the monitor"; fi
  echo "-> nothing of the report is left on the monitor's disk"
  echo
  echo "-- office A reads the report, and grants the legal team that one case"
  run sync
  run search FIELDMARK
  LEGAL_ID="$("$EVAULT" --vault "$LEGAL" --passphrase-file "$PASSFILE" status --json | grep -o '"device": *"[0-9a-f]*"' | grep -o '[0-9a-f]\{32\}')"
  run case grant "$MON_CASE" --to "$LEGAL_ID"
  in_vault "$LEGAL" sync
  in_vault "$LEGAL" record list
  echo "-> the legal team reads the granted case and nothing else"
  if in_vault "$LEGAL" case new --title "x" 2>/dev/null; then die "a legal device wrote evidence"; fi
  echo "-> and cannot write evidence (exit code 5)"
  echo
  echo "-- the monitor's laptop is seized: office A revokes it"
  MON_ID="$("$EVAULT" --vault "$MONITOR" --passphrase-file "$PASSFILE" status --json | grep -o '"device": *"[0-9a-f]*"' | grep -o '[0-9a-f]\{32\}')"
  run member revoke "$MON_ID"
  if in_vault "$MONITOR" sync 2>/dev/null; then die "the server still serves a revoked device"; fi
  echo "-> the server refuses the revoked device; what office A writes next is sealed to a new key epoch"
  echo
  header "11. Chain of custody: the defence team exports the granted case; anyone checks it with standard tools"
  LEGAL_REC="$("$EVAULT" --vault "$LEGAL" --passphrase-file "$PASSFILE" record list | head -1 | cut -d' ' -f1)"
  in_vault "$LEGAL" record show "$LEGAL_REC" >/dev/null
  BUNDLE="$WORK/bundle"
  in_vault "$LEGAL" export --case "$MON_CASE" --out "$BUNDLE" --purpose "Defence of the detained picketer, appeal hearing"
  echo "\$ cd bundle && sha256sum -c manifest-sha256.txt && sha256sum -c tagmanifest-sha256.txt"
  (cd "$BUNDLE" && sha256sum -c --quiet manifest-sha256.txt && sha256sum -c --quiet tagmanifest-sha256.txt) ||
    die "sha256sum refused the bundle"
  echo "-> every payload and tag file matches its manifest"
  if command -v minisign >/dev/null; then
    echo "\$ minisign -Vm tagmanifest-sha256.txt -p exporter.pub"
    (cd "$BUNDLE" && minisign -Vm tagmanifest-sha256.txt -p exporter.pub) || die "minisign refused the bundle"
  fi
  if command -v ssh-keygen >/dev/null; then
    IDENTITY="$(cut -d' ' -f1 "$BUNDLE/allowed_signers")"
    echo "\$ ssh-keygen -Y verify -f allowed_signers -I $IDENTITY -n evault-export -s tagmanifest-sha256.txt.sshsig < tagmanifest-sha256.txt"
    (cd "$BUNDLE" && ssh-keygen -Y verify -f allowed_signers -I "$IDENTITY" -n evault-export \
       -s tagmanifest-sha256.txt.sshsig < tagmanifest-sha256.txt) || die "ssh-keygen refused the bundle"
  fi
  echo "\$ evault verify bundle"
  "$EVAULT" verify "$BUNDLE" || die "evault verify refused the bundle"
  echo "\$ head -c 400 bundle/data/custody/custody-log.jsonl"
  head -c 400 "$BUNDLE/data/custody/custody-log.jsonl"; echo " ..."
  echo
  echo "-- someone edits one record in a copy of the bundle: evault verify names the file"
  cp -a "$BUNDLE" "$WORK/bundle-edited"
  EDITED="$(find "$WORK/bundle-edited/data/records" -name '*.json' | head -1)"
  sed -i 's/Detained for two hours/Detained for one hour/' "$EDITED"
  if "$EVAULT" verify "$WORK/bundle-edited" 2> "$WORK/verify.err"; then die "an edited bundle verified"; fi
  sed 's|'"$WORK"'/||' "$WORK/verify.err" | head -4
  echo "-> refused (exit 4), naming the file that changed"
  echo
  echo "-- office A syncs and sees the defence team's view and export in the case's custody log"
  in_vault "$LEGAL" sync >/dev/null
  "$EVAULT" "${GLOBAL[@]}" sync >/dev/null
  run audit log --case "$MON_CASE"
  run audit verify
  echo "report for people: bundle/report.html (self-contained, printable); bundle kept only for this demo run"

  header "12. At a checkpoint: duress on the monitor's laptop, panic in office B"
  DURESS_FILE="$WORK/duress"
  echo 'demo only: the duress passphrase' > "$DURESS_FILE"
  echo "-- a new monitor laptop joins, sets a duress passphrase, documents a detention and syncs it"
  MONITOR="$WORK/vault-monitor-2"
  join_as "$MONITOR" monitor
  echo "\$ evault --vault \$TMP/vault-monitor-2 duress set --duress-passphrase-file \$TMP/duress"
  "$EVAULT" --vault "$MONITOR" --passphrase-file "$PASSFILE" duress set --duress-passphrase-file "$DURESS_FILE"
  CHECKPOINT_CASE="$("$EVAULT" --vault "$MONITOR" --passphrase-file "$PASSFILE" case new --title "Field report: second picket")"
  "$EVAULT" --vault "$MONITOR" --passphrase-file "$PASSFILE" record add --case "$CHECKPOINT_CASE" --json - \
    <<<'{"kind":"detention","title":"Second picketer detained DURESSMARK","narrative":"Held overnight."}' >/dev/null
  "$EVAULT" --vault "$MONITOR" --passphrase-file "$PASSFILE" sync >/dev/null
  echo "-- at a checkpoint the monitor is made to unlock the laptop, and types the duress passphrase"
  echo "\$ EVAULT_PASSPHRASE=<duress passphrase> evault --vault \$TMP/vault-monitor-2 case list"
  EVAULT_PASSPHRASE="$(cat "$DURESS_FILE")" "$EVAULT" --vault "$MONITOR" case list
  echo "-> an empty vault, no error, exit 0; the real keys were destroyed before it opened"
  if "$EVAULT" --vault "$MONITOR" --passphrase-file "$PASSFILE" case list 2>"$WORK/duress.err"; then
    die "the real passphrase still opens the monitor's vault after duress"
  fi
  echo "\$ evault --vault \$TMP/vault-monitor-2 case list   (the real passphrase)"
  cat "$WORK/duress.err"
  echo "-- the report reached the server before the checkpoint: office A still has it"
  "$EVAULT" "${GLOBAL[@]}" sync >/dev/null
  run search DURESSMARK
  echo
  echo "-- office B is raided: panic destroys its keys, then its files, without a passphrase"
  echo "\$ evault --vault \$TMP/vault-b panic --yes"
  "$EVAULT" --vault "$VAULT_B" panic --yes
  [[ ! -e "$VAULT_B" ]] || die "office B's vault survived the panic"
  echo "-> gone; everything it held is on the server and in office A"
fi

echo
echo "== Demo finished; the temporary vault is removed now =="
