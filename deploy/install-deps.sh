#!/usr/bin/env bash
# Installs the Debian 12 packages Evidence Vault builds and tests with, if any are missing.
# Run as root it uses apt-get; otherwise it prints the command to run.
#   install-deps.sh            what `make` and `make test` need
#   install-deps.sh sanitize   also clang 19 and its sanitizer and libFuzzer runtimes, for
#                              `make test-sanitize` and `make fuzz-long` (clang 14, Debian's
#                              default, lacks std::expected)
#   install-deps.sh bench      also the peers `make bench` measures evault against: age, gpg
#                              and restic (bench/bench_suite.sh)
set -euo pipefail
mode=${1:-}

packages=(
  build-essential cmake pkg-config
  libsodium-dev librocksdb-dev
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  libgtest-dev libcli11-dev nlohmann-json3-dev libfmt-dev libssl-dev libkeyutils-dev
  libmicrohttpd-dev
  libpqxx-dev postgresql
)
case "$mode" in
  "") ;;
  sanitize) packages+=(clang-19 libclang-rt-19-dev) ;;
  bench) packages+=(age gnupg restic) ;;
  *) echo "usage: $0 [sanitize|bench]" >&2; exit 2 ;;
esac
# The standard tools the tests check exports with (ssh-keygen -Y verify, minisign -V, and
# age -d for the encrypted bundle), and chromium, which renders the export's report.html
# headless (screenshot, DOM, PDF). nginx, which the reverse-proxy example is tested with
# (tests/deploy/nginx_test.cc).
# Installed when possible; without them those tests skip, nothing else needs them.
optional=(openssh-client minisign chromium age nginx)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done
missing_optional=()
for p in "${optional[@]}"; do
  installed "$p" || missing_optional+=("$p")
done
if ((${#missing[@]} == 0)); then
  ((${#missing_optional[@]} == 0)) && exit 0
  if [[ $(id -u) -ne 0 ]]; then
    echo "evault: optional test tools missing (their tests skip): ${missing_optional[*]}" >&2
    exit 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing_optional[@]}"; } ||
    echo "evault: could not install ${missing_optional[*]}; their tests skip" >&2
  exit 0
fi
missing+=("${missing_optional[@]}")

if [[ $(id -u) -ne 0 ]]; then
  echo "evault: missing Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
