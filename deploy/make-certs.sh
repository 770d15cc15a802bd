#!/usr/bin/env bash
# Makes an organisation CA and a server certificate for evault-server with OpenSSL.
#
#   deploy/make-certs.sh OUT_DIR [SERVER_NAME ...]
#
# OUT_DIR/ca.pem       give this to every device: evault sync --ca-file ca.pem
# OUT_DIR/ca.key       keep offline: it can mint server certificates for your devices
# OUT_DIR/server.pem   evault-server --tls-cert
# OUT_DIR/server.key   evault-server --tls-key (mode 0600)
#
# SERVER_NAME defaults to "localhost 127.0.0.1"; give the DNS names and IP addresses
# devices will use to reach the server. To use an existing certificate instead, pass
# its chain and key to evault-server and its issuing CA to the devices.
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

mkdir -p "$out"
umask 077
cd "$out"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 3650 \
  -keyout ca.key -out ca.pem -subj "/CN=Evidence Vault organisation CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 \
  -keyout server.key -out server.csr -subj "/CN=${names[0]}" 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$san" > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days 825 \
  -out server.pem -extfile server.ext 2>/dev/null
rm -f server.csr server.ext ca.srl
chmod 0644 ca.pem server.pem
echo "made $out/ca.pem (for devices) and $out/server.pem + server.key (for evault-server), names: ${names[*]}"
