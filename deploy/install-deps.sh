#!/usr/bin/env bash
# Installs the Debian 12 packages Evidence Vault builds and tests with, if any are missing.
# Run as root it uses apt-get; otherwise it prints the command to run.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libsodium-dev librocksdb-dev
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  libgtest-dev libcli11-dev nlohmann-json3-dev libfmt-dev libssl-dev
  openssh-client minisign  # ssh-keygen -Y verify, minisign -V: exports are checked with the standard tools
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "evault: missing Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
