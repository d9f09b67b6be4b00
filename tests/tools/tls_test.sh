#!/usr/bin/env bash
# Mutual TLS across processes: two nodes with certificates from the cluster's CA form a
# cluster (seen with streamverse-ctl over TLS); ctl with a certificate from another CA is
# refused (exit 1); neither call drops the link between the two nodes (caf_openssl left a
# stale OpenSSL error behind a ctl connection that ended, and the next read on the
# node-to-node link failed on it). Strangers that open connections and never finish (or
# never start) the TLS handshake are closed at the handshake deadline, after which node-a
# idles and its link stays up (issue #18: caf_openssl spun on such connections).
# Certificates are made with the openssl command line. Ports 17501-17502. Every wait is
# bounded. Usage: tls_test.sh NODE_BIN CTL_BIN HOSTILE_BIN
set -uo pipefail
node=$1
ctl=$2
hostile=${3:-}
source "$(dirname "$0")/node_processes.sh"
cd "$tmp"
q() { "$@" > /dev/null 2>&1 || fail "$*"; }
ca() { q openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" -keyout $1.key -out $1.pem; }
leaf() {
  q openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout $1.key -out $1.csr
  q openssl x509 -req -days 2 -in $1.csr -CA $2.pem -CAkey $2.key -CAcreateserial -out $1.pem
}
ca cluster-ca
ca rogue-ca
leaf node-a cluster-ca
leaf node-b cluster-ca
leaf ops cluster-ca
leaf intruder rogue-ca

tls_keys() { # name
  printf 'tls_certificate = "%s"\ntls_key = "%s"\ntls_ca = "%s"\nhandshake_timeout_ms = 1000' \
    "$tmp/$1.pem" "$tmp/$1.key" "$tmp/cluster-ca.pem"
}
write_config node-a 17501 '' "$(tls_keys node-a)"
write_config node-b 17502 '"127.0.0.1:17501"' "$(tls_keys node-b)"
start node-a
start node-b
as() { # cert -> ctl members against node-a over TLS
  "$ctl" members --node 127.0.0.1:17501 --timeout-ms 2000 \
    --tls-cert "$tmp/$1.pem" --tls-key "$tmp/$1.key" --tls-ca "$tmp/cluster-ca.pem" 2>&1
}
for _ in $(seq 100); do
  [ "$(as ops | grep -Ec '^node-[ab] +[^ ]+ +up ')" = 2 ] && break
  sleep 0.1
done
[ "$(as ops | grep -Ec '^node-[ab] +[^ ]+ +up ')" = 2 ] || fail "TLS cluster did not form: $(as ops)"
echo "two TLS nodes up, listed over TLS with a certificate from the cluster's CA"
out=$(as intruder)
rc=$?
[ $rc = 1 ] || fail "a certificate from another CA was not refused (exit $rc): $out"
echo "a certificate from another CA: refused (exit 1)"
for _ in 1 2 3; do as ops > /dev/null; done
sleep 0.3
drops=$(grep -h 'disconnected' node-a.log node-b.log)
[ -z "$drops" ] || fail "ctl calls over TLS dropped the node-to-node link: $drops"
echo "every ctl call over TLS: the link between the nodes stayed up"
"$ctl" members --node 127.0.0.1:17501 --tls-cert "$tmp/ops.pem" > /dev/null 2>&1
[ $? = 2 ] || fail "partial TLS options did not exit 2"
echo "partial TLS options: exit 2"
[ -n "$hostile" ] || fail "no sv-hostile binary given"
pid_a=${pids[0]}
"$hostile" tls-half --connections 40 --hold-ms 2500 --target 127.0.0.1:17501 > hostile.json \
  || fail "sv-hostile tls-half: $(cat hostile.json)"
"$hostile" idle --connections 40 --hold-ms 2500 --target 127.0.0.1:17501 >> hostile.json \
  || fail "sv-hostile idle: $(cat hostile.json)"
grep -c '"closed_by_peer":40' hostile.json | grep -q 2 || fail "not every stranger was closed: $(cat hostile.json)"
t0=$(awk '{print $14 + $15}' "/proc/$pid_a/stat")
sleep 2
busy=$(( $(awk '{print $14 + $15}' "/proc/$pid_a/stat") - t0 ))
[ $busy -lt 40 ] || fail "node-a still busy after the strangers were closed ($busy ticks in 2 s)"
[ "$(as ops | grep -Ec '^node-[ab] +[^ ]+ +up ')" = 2 ] || fail "the TLS cluster broke: $(as ops)"
drops=$(grep -h 'disconnected' node-a.log node-b.log)
[ -z "$drops" ] || fail "strangers dropped the node-to-node link: $drops"
echo "80 TLS strangers closed at the handshake deadline; node-a idle again ($busy ticks in 2 s), link up"
