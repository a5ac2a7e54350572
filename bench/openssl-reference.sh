#!/usr/bin/env bash
# OpenSSL reference for bench/Mtls.Bench (see the shared perf-reference.md and bench/README.md).
#
# Makes a CertBootstrap PKI per key type (root, intermediate, server leaf "payment" with DNS localhost and IP
# 127.0.0.1, client leaf "order"), serves a small file with `openssl s_server -WWW` (single-threaded) and times
# TLS 1.3 connections with `openssl s_time`, full (-new) and resumed (-reuse), with mTLS (client certificate
# required and verified) and server-only TLS. The server's CPU per connection is read from /proc/PID/stat.
#
# usage: bench/openssl-reference.sh [--time S] [--key-types "ecdsa-p256 rsa-2048"] [--speed] [--no-pin]
#   --time S       seconds per s_time run (default 5)
#   --key-types T  key types to run (default "ecdsa-p256 rsa-2048")
#   --speed        also run `openssl speed -seconds 3 ecdsap256 rsa2048 ecdhx25519` (the crypto ceiling)
#   --no-pin       do not pin s_server to CPU 0 and s_time to CPU 1 (default: pinned, as Mtls.Bench pins its server
#                  child and load generator)
set -euo pipefail

run_seconds=5
key_types="ecdsa-p256 rsa-2048"
speed=0
pin=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --time) run_seconds="$2"; shift 2 ;;
        --key-types) key_types="$2"; shift 2 ;;
        --speed) speed=1; shift ;;
        --no-pin) pin=0; shift ;;
        *) echo "unknown argument '$1'" >&2; sed -n '2,17p' "$0" >&2; exit 2 ;;
    esac
done

repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/mtls-openssl-ref.XXXXXX")"
server_pid=""

stop_server() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
cleanup() {
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

clk_tck="$(getconf CLK_TCK)"
server_cpu=()
client_cpu=()
if [[ "$pin" == 1 && "$(nproc)" -ge 2 ]] && command -v taskset > /dev/null; then
    server_cpu=(taskset -c 0)
    client_cpu=(taskset -c 1)
fi

# utime + stime (fields 14 and 15) of a process, in clock ticks; the name in parentheses is skipped.
cpu_ticks() {
    local stat
    stat="$(cat "/proc/$1/stat")"
    stat="${stat##*) }"
    awk '{ print $12 + $13 }' <<< "$stat"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_listening() {
    local port="$1" tries=0
    until ss -ltnH "sport = :$port" | grep -q .; do
        tries=$((tries + 1))
        if [[ $tries -gt 100 ]] || ! kill -0 "$server_pid" 2>/dev/null; then
            echo "s_server did not start listening on $port" >&2
            exit 1
        fi
        sleep 0.05
    done
}

echo "OpenSSL reference: $(openssl version), $(nproc) CPUs, CLK_TCK $clk_tck, ${run_seconds} s per run, \
$([[ ${#server_cpu[@]} -gt 0 ]] && echo "s_server pinned to CPU 0, s_time to CPU 1" || echo "not pinned")"
echo "work directory $work"

echo "building tools/CertBootstrap (Release)…"
dotnet build -c Release "$repo/tools/CertBootstrap" -v q -nologo > "$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
cb() { dotnet run -c Release --no-build --project "$repo/tools/CertBootstrap" -- "$@"; }
export MTLS_ROOT_PASSPHRASE="openssl-reference-passphrase-not-a-secret"

printf '\n%-10s %-14s %-6s %9s %8s %9s %12s %12s %10s\n' "keys" "mode" "conn" "conns" "conn/s" "wall s" "srv µs/conn" "cli µs/conn" "bytes/conn"

for key_type in $key_types; do
    pki="$work/pki-$key_type"
    cb init --pki "$pki" --key-type "$key_type" > /dev/null
    cb issue --pki "$pki" --service payment --dns localhost --ip 127.0.0.1 > /dev/null
    cb issue --pki "$pki" --service order > /dev/null

    files="$work/files-$key_type"
    mkdir -p "$files/www"
    # tls.crt is leaf + intermediate(s): split it. The PKI's ca.crt is the trust bundle (every trusted root).
    awk -v leaf="$files/srv.pem" -v rest="$files/int.pem" '/-----BEGIN CERTIFICATE-----/ { n++ } { print > (n == 1 ? leaf : rest) }' "$pki/services/payment/tls.crt"
    awk -v leaf="$files/cli.pem" -v rest="$files/cli-int.pem" '/-----BEGIN CERTIFICATE-----/ { n++ } { print > (n == 1 ? leaf : rest) }' "$pki/services/order/tls.crt"
    cp "$pki/services/payment/tls.key" "$files/srv.key"
    cp "$pki/services/order/tls.key" "$files/cli.key"
    cp "$pki/ca.crt" "$files/root.pem"
    # s_time -cert sends only the leaf: the server gets root + intermediate to build the client's chain.
    { cat "$files/root.pem"; echo; cat "$files/int.pem"; } | grep -v '^$' > "$files/bundle.pem"
    echo ok > "$files/www/ok.txt"

    for mode in mtls server-only; do
        port="$(free_port)"
        server_args=(-accept "127.0.0.1:$port" -tls1_3 -cert "$files/srv.pem" -key "$files/srv.key" -cert_chain "$files/int.pem"
            -CAfile "$files/bundle.pem" -WWW -quiet)
        client_args=(-connect "127.0.0.1:$port" -tls1_3 -CAfile "$files/bundle.pem" -verify 2 -www /ok.txt)
        cert_args=()
        if [[ "$mode" == mtls ]]; then
            server_args+=(-Verify 2 -verify_return_error -verify_quiet -purpose sslclient)
            cert_args=(-cert "$files/cli.pem" -key "$files/cli.key")
            client_args+=("${cert_args[@]}")
        fi

        (cd "$files/www" && exec "${server_cpu[@]}" openssl s_server "${server_args[@]}" < /dev/null > "$work/s_server.log" 2>&1) &
        server_pid=$!
        wait_listening "$port"

        # Sanity: the client verifies the server strictly, and (mTLS) the server refuses a client without a certificate.
        check="$(printf 'GET /ok.txt HTTP/1.0\r\n\r\n' | openssl s_client -connect "127.0.0.1:$port" -tls1_3 -CAfile "$files/bundle.pem" \
            -verify_return_error -verify 2 "${cert_args[@]}" -quiet 2>&1 || true)"
        if ! grep -q '^ok' <<< "$check"; then
            echo "sanity check failed ($key_type $mode): $check" >&2
            exit 1
        fi
        if [[ "$mode" == mtls ]]; then
            refused="$(printf 'GET /ok.txt HTTP/1.0\r\n\r\n' | openssl s_client -connect "127.0.0.1:$port" -tls1_3 -CAfile "$files/bundle.pem" -quiet 2>&1 || true)"
            if grep -q '^ok' <<< "$refused"; then
                echo "s_server served a client without a certificate: mTLS is not enforced" >&2
                exit 1
            fi
        fi

        for flag in -new -reuse; do
            before="$(cpu_ticks "$server_pid")"
            start_ns="$(date +%s%N)"
            "${client_cpu[@]}" openssl s_time "${client_args[@]}" "$flag" -time "$run_seconds" > "$work/s_time.out" 2>&1
            end_ns="$(date +%s%N)"
            after="$(cpu_ticks "$server_pid")"
            # "N connections in Xs; Y connections/user sec, bytes read Z" then "N connections in T real seconds, B bytes read per connection"
            summary="$(grep 'bytes read per connection' "$work/s_time.out" | tail -1)"
            user_line="$(grep 'connections/user sec' "$work/s_time.out" | tail -1)"
            connections="$(awk '{ print $1 }' <<< "$summary")"
            bytes="$(awk '{ print $7 }' <<< "$summary")"
            per_user_sec="$(sed -E 's/.*; ([0-9.]+) connections\/user sec.*/\1/' <<< "$user_line")"
            if [[ -z "$connections" || "$connections" -eq 0 ]]; then
                echo "s_time made no connections ($key_type $mode $flag):" >&2
                cat "$work/s_time.out" >&2
                exit 1
            fi
            wall="$(awk -v a="$start_ns" -v b="$end_ns" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')"
            awk -v kt="$key_type" -v m="$mode" -v f="${flag#-}" -v n="$connections" -v w="$wall" -v t0="$before" -v t1="$after" \
                -v clk="$clk_tck" -v u="$per_user_sec" -v by="$bytes" 'BEGIN {
                    printf "%-10s %-14s %-6s %9d %8.0f %9s %12.0f %12.0f %10s%s\n", kt, m, f, n, n / w, w,
                        (t1 - t0) * 1e6 / clk / n, (u > 0 ? 1e6 / u : 0), by, (by > 0 ? "" : "   <- 0 bytes: handshakes were refused")
                }'
            if [[ "$bytes" == 0 ]]; then
                exit 1
            fi
        done
        stop_server
    done
done

echo
echo "srv µs/conn: s_server utime+stime over the run / connections (from /proc/PID/stat, CLK_TCK $clk_tck)."
echo "cli µs/conn: s_time's own user CPU per connection (1e6 / 'connections/user sec')."

if [[ "$speed" == 1 ]]; then
    echo
    openssl speed -seconds 3 ecdsap256 rsa2048 ecdhx25519 2>/dev/null | grep -E '^(sign|rsa|[ ]*[0-9]+ bits|.*ecdsa|.*X25519|.*ecdh)' || true
fi
