#!/usr/bin/env bash
# Writes a small PKI for the TLS tests into DIR (EC P-256, valid one day):
#   ca.pem/ca.key            the fleet's CA
#   master.pem/master.key    signed by ca; SAN DNS:timesync-master.test, IP:127.0.0.1
#   agent.pem/agent.key      signed by ca (client certificate)
#   rogue-ca.pem/.key        an unrelated CA
#   rogue-agent.pem/.key     a client certificate signed by rogue-ca
#   rogue-master.pem/.key    a server certificate signed by rogue-ca, same names
# Usage: make_test_certs.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
ca() {
  key "$1"
  openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 1 -subj "/CN=$2" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
# leaf NAME CA CN EXTENSIONS
leaf() {
  key "$1"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$3"
  printf '%s\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -out "$1.pem" \
    -days 1 -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
server_ext='subjectAltName=DNS:timesync-master.test,IP:127.0.0.1
extendedKeyUsage=serverAuth'
client_ext='extendedKeyUsage=clientAuth'
ca ca "timesync test fleet CA"
ca rogue-ca "someone else's CA"
leaf master ca timesync-master.test "$server_ext"
leaf agent ca camera "$client_ext"
leaf rogue-agent rogue-ca camera "$client_ext"
leaf rogue-master rogue-ca timesync-master.test "$server_ext"
chmod 0644 ./*.pem ./*.key
