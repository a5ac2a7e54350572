#!/usr/bin/env bash
# Every side-by-side comparison of issue 11 in one run, on this machine, each pair measured back to back by the same
# load generator (bench/MtlsLoad): client certificates from our own CA, the server validated for real, CPU per
# request of the process under test from /proc, latency in HDR histograms.
#
#   1. legacy-proxy (YARP behind ServiceDefaults' mTLS) against Debian's nginx terminating mTLS (ssl_verify_client,
#      ssl_crl) in front of the SAME legacy-ledger Unix socket: keep-alive req/s and CPU per request, full-handshake
#      CPU per connection.
#   2. our mTLS server (Kestrel + ServiceDefaults, bench/Mtls.Bench's server child) against `openssl s_server`: full
#      and resumed TLS 1.3 handshakes, server CPU per connection; keep-alive mTLS against the same app on plain HTTP.
#   3. leaf issuance (bench/CertBootstrap.Bench, durable ledger, on this disk) against Vault's published ~2,200/s.
#
# Pinning: every process under test runs on CPU 0, the load generator (and the shared legacy-ledger) on CPU 1.
# The references run with the settings a user would choose: s_server's defaults (session tickets on), nginx with one
# worker, TLS 1.3, its default session tickets, HTTP/1.1 keep-alive upstream; its access log is off, as our
# services log no line per request.
#
# usage: bench/compare.sh [--duration S] [--warmup S] [--connections N] [--skip-build] [--keep]
#   --duration S     measured seconds per row (default 8)
#   --warmup S       unmeasured seconds before each row (default 3), then on until steady (below)
#   --steady-max S   at most this much more warm-up per row until its CPU per request is steady (default 180)
#   --connections N  keep-alive connections (default 16); handshake rows use 4
#   --skip-build     use the existing Release build
#   --keep           keep the work directory (PKI, logs, configs) and print its path
#   --only LIST      run only some of server,proxy,issuance (the ratios of the others are n/a)
# ISSUANCE_ARGS replaces the issuance bench's arguments (default: --batch 256 --count 10000).
# The last line printed is
#   ratios: proxy-keepalive=R proxy-handshake-cpu=R handshake-cpu=R resumed-cpu=R keepalive-mtls-vs-plain=R issuance-vs-vault=R
# with every R oriented so that >= 1.00 means we are ahead (throughput ours/theirs, CPU theirs/ours).
set -euo pipefail

duration=8
warmup=3
steady_max=180
connections=16
handshake_connections=4
build=1
keep=0
only="server,proxy,issuance"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration) duration="$2"; shift 2 ;;
        --warmup) warmup="$2"; shift 2 ;;
        --steady-max) steady_max="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        --skip-build) build=0; shift ;;
        --keep) keep=1; shift ;;
        --only) only="$2"; shift 2 ;;
        *) echo "unknown argument '$1'" >&2; sed -n '2,29p' "$0" >&2; exit 2 ;;
    esac
done

repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/mtls-compare.XXXXXX")"
chmod 700 "$work"
pids=()

stop_all() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}
cleanup() {
    stop_all
    if [[ "$keep" == 1 ]]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "compare.sh: $*" >&2; exit 1; }

if [[ "$(nproc)" -lt 2 ]] || ! command -v taskset > /dev/null; then
    fail "needs 2 CPUs and taskset: the process under test runs on CPU 0, the load generator on CPU 1."
fi
on_server_core=(taskset -c 0)
on_load_core=(taskset -c 1)

# --- what the comparison needs ---------------------------------------------------------------------------------
if ! command -v nginx > /dev/null && [[ ! -x /usr/sbin/nginx ]]; then
    echo "installing nginx (Debian package)…"
    if [[ "$(id -u)" == 0 ]]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx > /dev/null
    else
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx > /dev/null
    fi
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
command -v openssl > /dev/null || fail "openssl is missing (apt-get install openssl)."

if [[ "$build" == 1 ]]; then
    echo "building Release: MtlsLoad, Mtls.Bench, CertBootstrap(.Bench), legacy-proxy, legacy-ledger…"
    for project in bench/MtlsLoad bench/Mtls.Bench bench/CertBootstrap.Bench tools/CertBootstrap services/LegacyProxy services/LegacyLedger; do
        dotnet build -c Release "$repo/$project" -v q -nologo > "$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "build of $project failed"; }
    done
fi
release() { echo "$repo/$1/bin/Release/net10.0/$2"; }
load_bin="$(release bench/MtlsLoad MtlsLoad)"
server_bin="$(release bench/Mtls.Bench Mtls.Bench)"
cb_bin="$(release tools/CertBootstrap CertBootstrap)"
proxy_bin="$(release services/LegacyProxy LegacyProxy)"
ledger_bin="$(release services/LegacyLedger LegacyLedger)"
for binary in "$load_bin" "$server_bin" "$cb_bin" "$proxy_bin" "$ledger_bin"; do
    [[ -x "$binary" ]] || fail "$binary is missing: run without --skip-build."
done

# --- helpers ---------------------------------------------------------------------------------------------------
# Every row of the run, as MtlsLoad's "result …" lines, prefixed with the row's key.
results="$work/results.txt"
: > "$results"

free_port() { "$load_bin" free-port; }

wait_for() { # wait_for DESCRIPTION PID COMMAND…: until COMMAND succeeds, while PID lives (at most 60 s)
    local what="$1" pid="$2" tries=0
    shift 2
    until "$@" > /dev/null 2>&1; do
        tries=$((tries + 1))
        kill -0 "$pid" 2>/dev/null || fail "$what exited before it was ready (logs in $work)."
        [[ $tries -lt 600 ]] || fail "$what was not ready after 60 s (logs in $work)."
        sleep 0.1
    done
}
listening() { ss -ltnH "sport = :$1" | grep -q .; }

# load KEY ARGS…: one MtlsLoad run pinned to the load core; its result line is kept under KEY.
load() {
    local key="$1" output
    shift
    if ! output="$("${on_load_core[@]}" "$load_bin" --duration "$duration" --warmup "$warmup" --steady "$steady_max" --label "$key" "$@")"; then
        echo "$output" >&2
        fail "row $key had errors or no requests."
    fi
    sed 's/^/  /' <<< "$output" | grep -v '^  result '
    grep '^result ' <<< "$output" | sed "s/^result /$key /" >> "$results"
}
# field KEY NAME: a value of a row's result line.
field() { awk -v k="$1" -v f="$2" '$1 == k { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$results"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(dotnet --version 2>/dev/null | head -1) SDK," \
    "$(openssl version | cut -d' ' -f1-2), $("$nginx_bin" -v 2>&1 | cut -d' ' -f3), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
echo "placement: process under test on CPU 0, load generator and legacy-ledger on CPU 1; ${duration} s measured, ${warmup} s warm-up per row"

# --- one PKI for every side ------------------------------------------------------------------------------------
echo "PKI: CertBootstrap init, leaves for payment, legacy-proxy (servers: DNS localhost, IP 127.0.0.1) and order (client)"
pki="$work/pki"
export MTLS_ROOT_PASSPHRASE="compare-sh-throwaway-passphrase"
"$cb_bin" init --pki "$pki" > /dev/null
"$cb_bin" issue --pki "$pki" --service payment --dns localhost --ip 127.0.0.1 > /dev/null
"$cb_bin" issue --pki "$pki" --service legacy-proxy --dns localhost --ip 127.0.0.1 > /dev/null
"$cb_bin" issue --pki "$pki" --service order > /dev/null
unset MTLS_ROOT_PASSPHRASE
files="$work/files"
mkdir -p "$files/www"
# Leaf and intermediate apart (s_server -cert / -cert_chain); the client presents leaf + intermediate.
awk -v leaf="$files/srv.pem" -v rest="$files/int.pem" '/-----BEGIN CERTIFICATE-----/ { n++ } { print > (n == 1 ? leaf : rest) }' "$pki/services/payment/tls.crt"
cp "$pki/services/payment/tls.key" "$files/srv.key"
cp "$pki/ca.crt" "$files/root.pem"
echo ok > "$files/www/ok.txt"
client=(--ca "$pki/ca.crt" --cert "$pki/services/payment/tls.crt" --key "$pki/services/payment/tls.key")
as_order=(--ca "$pki/ca.crt" --cert "$pki/services/order/tls.crt" --key "$pki/services/order/tls.key")

section() { [[ ",$only," == *",$1,"* ]]; }
# JIT tiering: a .NET process that sees one CPU multiplies the runtime's tier-up delay by ten (1 s instead of 100 ms,
# restarted by every method compiled for the first time, a timer's included), so pinned to CPU 0 legacy-proxy still ran
# instrumented tier-0 code after 50 s of load: ~650 µs of CPU per request, against ~260 µs once tiered. The pinning is
# there to keep the processes apart, not to model a one-CPU deployment, so every .NET process of the comparison gets
# the multi-CPU delay (DOTNET_TC_DelaySingleProcMultiplier=1); and every row, after --warmup, warms on until the CPU
# per request of all its processes (under test, upstream, load generator) is steady (MtlsLoad --steady: the last three
# 5 s windows within 5 % of each other, at most --steady-max seconds). Otherwise the JIT is what gets measured.
export DOTNET_TC_DelaySingleProcMultiplier=1

# --- 2. our mTLS server against openssl s_server -----------------------------------------------------------------
if section server; then
echo
echo "== mTLS server: ours (Kestrel + ServiceDefaults) against openssl s_server, ECDSA P-256, TLS 1.3 =="
port="$(free_port)"
(cd "$files/www" && exec "${on_server_core[@]}" openssl s_server -accept "127.0.0.1:$port" -tls1_3 -cert "$files/srv.pem" -key "$files/srv.key" \
    -cert_chain "$files/int.pem" -CAfile "$files/root.pem" -Verify 2 -verify_return_error -verify_quiet -purpose sslclient -WWW -quiet \
    < /dev/null > "$work/s_server.log" 2>&1) &
sserver=$!
pids+=("$sserver")
wait_for "openssl s_server" "$sserver" listening "$port"
load sserver-full --url "https://127.0.0.1:$port/ok.txt" --mode new --connections "$handshake_connections" --pid "$sserver" "${as_order[@]}"
load sserver-resumed --url "https://localhost:$port/ok.txt" --connect 127.0.0.1 --mode new --connections "$handshake_connections" --pid "$sserver" "${as_order[@]}"
stop_all

# The server child exits when its standard input closes: hold it open on a fifo that dies with this script.
start_server_child() { # start_server_child NAME ARGS…: sets child_pid, child_https, child_http
    local name="$1" portfile="$work/$1.ports"
    shift
    mkfifo "$work/$name.stdin"
    OTEL_EXPORTER_OTLP_ENDPOINT='' ASPNETCORE_URLS="${child_urls:-https://127.0.0.1:0;http://127.0.0.1:0}" \
        "${on_server_core[@]}" "$server_bin" server --port-file "$portfile" "$@" < "$work/$name.stdin" > "$work/$name.log" 2>&1 &
    child_pid=$!
    pids+=("$child_pid")
    eval "exec {hold}> \"$work/$name.stdin\""
    wait_for "server child $name" "$child_pid" test -s "$portfile"
    child_https="$(sed -n 's/^https=//p' "$portfile")"
    child_http="$(sed -n 's/^http=//p' "$portfile")"
}

start_server_child ours --credentials "$pki/services/payment"
ours=$child_pid
load ours-full --url "https://127.0.0.1:$child_https/api/ping" --mode new --connections "$handshake_connections" --pid "$ours" "${as_order[@]}"
load ours-resumed --url "https://localhost:$child_https/api/ping" --connect 127.0.0.1 --mode new --connections "$handshake_connections" --pid "$ours" "${as_order[@]}"
load ours-keepalive-mtls --url "https://127.0.0.1:$child_https/api/ping-open" --connections "$connections" --pid "$ours" "${as_order[@]}"
stop_all
child_urls="http://127.0.0.1:0" start_server_child plain --plain
load ours-keepalive-plain --url "http://127.0.0.1:$child_http/api/ping-open" --connections "$connections" --pid "$child_pid"
stop_all
fi

# --- 1. legacy-proxy against nginx, in front of the same legacy-ledger socket ------------------------------------
if section proxy; then
echo
echo "== mTLS proxy: legacy-proxy (YARP) against nginx, both in front of the same legacy-ledger Unix socket =="
ledger_dir="$work/ledger"
mkdir -m 700 "$ledger_dir"
socket="$ledger_dir/ledger.sock"
# Both services run from their build output, as an installed service would: their appsettings.json applies.
(cd "$(dirname "$ledger_bin")" && ASPNETCORE_URLS="http://unix:$socket" Ledger__Database="$ledger_dir/ledger.db" OTEL_EXPORTER_OTLP_ENDPOINT='' \
    exec "${on_load_core[@]}" "$ledger_bin" > "$work/ledger.log" 2>&1) &
ledger=$!
pids+=("$ledger")
wait_for legacy-ledger "$ledger" test -S "$socket"
# The ledger's cheapest answer, so that the proxy, not the legacy app behind it, is what is measured (a ledger query
# costs the ledger ~0.3 ms of CPU 1, which would cap both proxies at the same rate).
query="/api/ledger/ping"

nginx_port="$(free_port)"
mkdir -p "$work/nginx/logs"
# The ledger's CRLs: nginx checks the whole chain against them, as legacy-proxy does.
cat > "$work/nginx/nginx.conf" <<EOF
$([[ "$(id -u)" == 0 ]] && echo "user root;")
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    upstream ledger {
        server unix:$socket;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$nginx_port ssl;
        ssl_protocols TLSv1.3;
        ssl_certificate $pki/services/legacy-proxy/tls.crt;
        ssl_certificate_key $pki/services/legacy-proxy/tls.key;
        ssl_verify_client on;
        ssl_client_certificate $pki/ca.crt;
        ssl_crl $pki/services/legacy-proxy/crl.pem;
        ssl_verify_depth 2;
        location /api/ledger/ {
            proxy_pass http://ledger;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-Client-Cert "Hash=\$ssl_client_fingerprint;Subject=\"\$ssl_client_s_dn\"";
        }
    }
}
EOF
"${on_server_core[@]}" "$nginx_bin" -e "$work/nginx/logs/error.log" -c "$work/nginx/nginx.conf" -p "$work/nginx" > "$work/nginx/stdout.log" 2>&1 &
nginx_master=$!
pids+=("$nginx_master")
wait_for nginx "$nginx_master" listening "$nginx_port"
nginx_pids=(--pid "$nginx_master")
for worker in $(pgrep -P "$nginx_master"); do nginx_pids+=(--pid "$worker"); done
load nginx-keepalive --url "https://127.0.0.1:$nginx_port$query" --connections "$connections" "${nginx_pids[@]}" --upstream-pid "$ledger" "${client[@]}"
load nginx-full --url "https://127.0.0.1:$nginx_port$query" --mode new --connections "$handshake_connections" "${nginx_pids[@]}" --upstream-pid "$ledger" "${client[@]}"
kill "$nginx_master" 2>/dev/null || true
wait "$nginx_master" 2>/dev/null || true

proxy_https="$(free_port)"
proxy_http="$(free_port)"
(cd "$(dirname "$proxy_bin")" && ASPNETCORE_URLS="https://127.0.0.1:$proxy_https;http://127.0.0.1:$proxy_http" \
    Mtls__CredentialsDirectory="$pki/services/legacy-proxy" Mtls__Authorization__ReferencedBy__0=payment LegacyLedger__Socket="$socket" \
    OTEL_EXPORTER_OTLP_ENDPOINT='' exec "${on_server_core[@]}" "$proxy_bin" > "$work/legacy-proxy.log" 2>&1) &
proxy=$!
pids+=("$proxy")
wait_for legacy-proxy "$proxy" listening "$proxy_https"
load proxy-keepalive --url "https://127.0.0.1:$proxy_https$query" --connections "$connections" --pid "$proxy" --upstream-pid "$ledger" "${client[@]}"
load proxy-full --url "https://127.0.0.1:$proxy_https$query" --mode new --connections "$handshake_connections" --pid "$proxy" --upstream-pid "$ledger" "${client[@]}"
stop_all
fi

# --- 3. issuance against Vault's published figure ----------------------------------------------------------------
issued=""
if section issuance; then
echo
echo "== issuance: CertBootstrap with the durable ledger, on this disk, against Vault's ~2,200 P-256 certificates/s =="
issuance_log="$work/issuance.log"
# Batches of 256 (IssueMany: signed on both cores, one ledger transaction, one group commit of the files), on the
# disk of the work directory.
"$(release bench/CertBootstrap.Bench CertBootstrap.Bench)" --dir "$work" --no-breakdown ${ISSUANCE_ARGS:---batch 256 --count 10000} | tee "$issuance_log" | sed 's/^/  /'
issued="$(sed -n 's/.*issuance: leaves\/s=\([0-9.]*\).*/\1/p' "$issuance_log" | tail -1)"
fi
vault=2200

# --- the ratios --------------------------------------------------------------------------------------------------
echo
printf '%-22s %8s %11s %12s %12s %8s %8s %9s %6s %7s\n' row "req/s" "cpu µs/req" "upstream µs" "client µs" "p50 µs" "p99 µs" "p99.9 µs" "busy" "warm s"
for key in sserver-full ours-full sserver-resumed ours-resumed ours-keepalive-mtls ours-keepalive-plain nginx-keepalive proxy-keepalive nginx-full proxy-full; do
    printf '%-22s %8s %11s %12s %12s %8s %8s %9s %6s %7s\n' "$key" "$(field "$key" rps)" "$(field "$key" server_cpu_us)" "$(field "$key" upstream_cpu_us)" \
        "$(field "$key" client_cpu_us)" "$(field "$key" p50_us)" "$(field "$key" p99_us)" "$(field "$key" p999_us)" "$(field "$key" busy_cores)" \
        "$(field "$key" warm_s)$([[ "$(field "$key" steady)" == no ]] && echo '!')"
done
echo "issuance: ${issued:-n/a} leaves/s (Vault: $vault/s published)"
echo "(cpu µs/req: the process under test, from /proc; in the -full and -resumed rows one request is one connection;"
echo " warm s: seconds of load before the measured ones, '!' where the CPU per request was still not steady at --steady-max)"
echo
echo "ratios: proxy-keepalive=$(ratio "$(field proxy-keepalive rps)" "$(field nginx-keepalive rps)")" \
    "proxy-handshake-cpu=$(ratio "$(field nginx-full server_cpu_us)" "$(field proxy-full server_cpu_us)")" \
    "handshake-cpu=$(ratio "$(field sserver-full server_cpu_us)" "$(field ours-full server_cpu_us)")" \
    "resumed-cpu=$(ratio "$(field sserver-resumed server_cpu_us)" "$(field ours-resumed server_cpu_us)")" \
    "keepalive-mtls-vs-plain=$(ratio "$(field ours-keepalive-mtls rps)" "$(field ours-keepalive-plain rps)")" \
    "issuance-vs-vault=$(ratio "${issued:-0}" "$vault")"
