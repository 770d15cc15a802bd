#!/usr/bin/env bash
# Makes an organisation CA and a server certificate for evault-server with OpenSSL.
# Installed by the evault-server package as /usr/sbin/evault-server-make-certs.
#
#   make-certs.sh OUT_DIR [SERVER_NAME ...]
#
# OUT_DIR/ca.pem       give this to every device: evault sync --ca-file ca.pem
# OUT_DIR/ca.key       keep it offline: it can mint server certificates your devices trust
# OUT_DIR/server.pem   the server's certificate (evault-server --tls-cert)
# OUT_DIR/server.key   its private key (evault-server --tls-key), mode 0600
#
# SERVER_NAME defaults to "localhost 127.0.0.1"; give every DNS name and IP address
# devices will use to reach the server (or the reverse proxy in front of it).
#
# Renewal: when OUT_DIR already holds ca.pem and ca.key, they are kept and only a new
# server certificate and key are made, so devices keep trusting the server. The server
# certificate is valid for 825 days, the CA for 10 years.
#
# To use an existing certificate instead (your organisation's CA, Let's Encrypt), give
# evault-server its full chain and key, and the devices the CA that issued it. Devices
# that cannot be given a CA can pin the server certificate instead:
#   openssl x509 -in server.pem -noout -fingerprint -sha256
#   evault sync --server HOST:PORT --server-fingerprint 'AB:CD:...'
set -euo pipefail
out=${1:?usage: make-certs.sh OUT_DIR [SERVER_NAME ...]}
shift
names=("$@")
((${#names[@]})) || names=(localhost 127.0.0.1)

san=""
for n in "${names[@]}"; do
  if [[ $n =~ ^[0-9.]+$ || $n == *:* ]]; then san+="IP:$n,"; else san+="DNS:$n,"; fi
done
san=${san%,}

# OpenSSL is quiet on success; on failure its own message is shown.
run() {
  local log
  if ! log=$("$@" 2>&1); then
    printf 'make-certs: %s failed:\n%s\n' "$1" "$log" >&2
    exit 1
  fi
}

mkdir -p "$out"
umask 077
cd "$out"
if [[ -f ca.pem && -f ca.key ]]; then
  echo "keeping the CA in $out (ca.pem, ca.key); making a new server certificate"
else
  run openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 3650 \
    -keyout ca.key -out ca.pem -subj "/CN=Evidence Vault organisation CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
fi
run openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 \
  -keyout server.key.new -out server.csr -subj "/CN=${names[0]}"
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$san" > server.ext
run openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days 825 \
  -out server.pem.new -extfile server.ext
# The pair replaces the old one only once both exist.
mv server.key.new server.key
mv server.pem.new server.pem
rm -f server.csr server.ext ca.srl
chmod 0644 ca.pem server.pem
echo "made $out/ca.pem (for devices) and $out/server.pem + server.key (for evault-server), names: ${names[*]}"
echo "server certificate $(openssl x509 -in server.pem -noout -fingerprint -sha256) (for --server-fingerprint)"
