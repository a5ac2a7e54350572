#!/usr/bin/env bash
# The yardstick: our mTLS service beside a bare Kestrel doing only mTLS and beside nginx, all driven by the same load
# generator (bench/MtlsLoad, presenting order's chain, validating the server for real), the server's CPU per request
# (keep-alive) or per connection (full handshake + one request) as the compared figure; plus the bytes a .NET server
# allocates and the context switches of the server, per request.
#
#   server     keep-alive rows, 16 connections, the same JSON body from three servers:
#              nginx-keepalive  Debian's nginx, one worker, ssl_verify_client on, the JSON as a static file
#              bare-keepalive   Mtls.Bench server --bare: CreateSlimBuilder, no logging, RequireCertificate + a chain
#                               check (custom root, clientAuth), one minimal-API endpoint answering the same bytes
#              ours-keepalive   the real services/Inventory (Release build output, its appsettings.json, its
#                               ServiceDefaults, caller rule `order`, no OTLP endpoint): GET /api/inventory/items
#   handshake  the same three servers, a new connection per request (4 connections, to 127.0.0.1: never resumed),
#              nginx with ssl_session_cache and ssl_session_tickets off: nginx-full, bare-full, ours-full
#   proxy      legacy-proxy (YARP behind ServiceDefaults' mTLS) against nginx terminating mTLS in front of the SAME
#              legacy-ledger Unix socket: proxy-keepalive, nginx-proxy-keepalive, proxy-full, nginx-proxy-full
#   issuance   CertBootstrap.Bench's fleet simulation (10,000 identities on 1 h leaves): the CA's headroom
#
# Pinning: every process under test on CPU 0, the load generator (and the shared legacy-ledger) on CPU 1. Rounds
# alternate: every row of a section runs once per round, the servers stay up, and each figure is the median over the
# rounds (the min-max range beside it).
#
# usage: bench/compare.sh [--rounds N] [--only LIST] [--duration S] [--warmup S] [--steady-max S] [--connections N]
#                         [--skip-build] [--keep]
#   --rounds N       alternating rounds, medians (default 1)
#   --only LIST      run only some of server,handshake,proxy,issuance (the ratios of the others are n/a)
#   --duration S     measured seconds per row (default 8)
#   --warmup S       unmeasured seconds before each row (default 3), then on until steady (below)
#   --steady-max S   at most this much more warm-up per row until its CPU per request is steady (default 180)
#   --connections N  keep-alive connections (default 16); handshake rows use 4
#   --skip-build     use the existing Release build
#   --keep           keep the work directory (PKI, logs, configs) and print its path
# ISSUANCE_ARGS replaces the issuance bench's arguments (default: --no-breakdown --count 200 --fleet).
# The last line printed is
#   ratios: keepalive-vs-bare=R (target ≤1.15) keepalive-vs-nginx=R handshake-vs-bare=R handshake-vs-nginx=R (target ≤1.5)
#           proxy-vs-nginx=R (target ≤2) proxy-handshake-vs-nginx=R fleet-headroom=Nx
# every R a cost multiple: our server CPU per request (or connection) ÷ theirs, so lower is better.
set -euo pipefail

duration=8
warmup=3
steady_max=180
connections=16
handshake_connections=4
rounds=1
build=1
keep=0
only="server,handshake,proxy,issuance"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration) duration="$2"; shift 2 ;;
        --warmup) warmup="$2"; shift 2 ;;
        --steady-max) steady_max="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --skip-build) build=0; shift ;;
        --keep) keep=1; shift ;;
        --only) only="$2"; shift 2 ;;
        *) echo "unknown argument '$1'" >&2; sed -n '2,37p' "$0" >&2; exit 2 ;;
    esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "--rounds '$rounds' is not a positive integer" >&2; exit 2; }
for name in ${only//,/ }; do
    [[ "$name" =~ ^(server|handshake|proxy|issuance)$ ]] || { echo "--only: '$name' is not server, handshake, proxy or issuance" >&2; exit 2; }
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
command -v curl > /dev/null || fail "curl is missing (apt-get install curl): it fetches the body every server must answer."

if [[ "$build" == 1 ]]; then
    echo "building Release: MtlsLoad, Mtls.Bench, ProcessProbe, CertBootstrap(.Bench), inventory, legacy-proxy, legacy-ledger…"
    for project in bench/MtlsLoad bench/Mtls.Bench bench/ProcessProbe bench/CertBootstrap.Bench tools/CertBootstrap services/Inventory services/LegacyProxy services/LegacyLedger; do
        dotnet build -c Release "$repo/$project" -v q -nologo > "$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "build of $project failed"; }
    done
fi
release() { echo "$repo/$1/bin/Release/net10.0/$2"; }
load_bin="$(release bench/MtlsLoad MtlsLoad)"
server_bin="$(release bench/Mtls.Bench Mtls.Bench)"
probe_dll="$(release bench/ProcessProbe ProcessProbe.dll)"
cb_bin="$(release tools/CertBootstrap CertBootstrap)"
inventory_bin="$(release services/Inventory Inventory)"
proxy_bin="$(release services/LegacyProxy LegacyProxy)"
ledger_bin="$(release services/LegacyLedger LegacyLedger)"
for binary in "$load_bin" "$server_bin" "$cb_bin" "$inventory_bin" "$proxy_bin" "$ledger_bin"; do
    [[ -x "$binary" ]] || fail "$binary is missing: run without --skip-build."
done
[[ -f "$probe_dll" ]] || fail "$probe_dll is missing: run without --skip-build."

# --- helpers ---------------------------------------------------------------------------------------------------
# Every row of every round, as MtlsLoad's "result …" lines, prefixed with the row's key.
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
# field KEY NAME: the median over the rounds of a value of a row's result lines (empty when the row did not run).
field() {
    awk -v k="$1" -v f="$2" '$1 == k { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f && kv[2] != "NaN") print kv[2] } }' "$results" |
        sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else printf "%g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# spread KEY NAME: "min–max" over the rounds, or nothing with one round.
spread() {
    awk -v k="$1" -v f="$2" '$1 == k { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f && kv[2] != "NaN") print kv[2] } }' "$results" |
        sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR > 1) printf "%g–%g", lo, hi }'
}
# ratio A B: A ÷ B, two decimals, or n/a.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(dotnet --version 2>/dev/null | head -1) SDK," \
    "$(openssl version | cut -d' ' -f1-2), $("$nginx_bin" -v 2>&1 | cut -d' ' -f3), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
echo "placement: process under test on CPU 0, load generator and legacy-ledger on CPU 1; ${duration} s measured per row after ${warmup} s" \
    "and until steady (at most ${steady_max} s more); ${rounds} alternating round(s), medians"

# --- one PKI for every side ------------------------------------------------------------------------------------
echo "PKI: CertBootstrap init, server leaves for inventory and legacy-proxy (DNS localhost, IP 127.0.0.1), client leaves for order and payment"
pki="$work/pki"
export MTLS_ROOT_PASSPHRASE="compare-sh-throwaway-passphrase"
"$cb_bin" init --pki "$pki" > /dev/null
"$cb_bin" issue --pki "$pki" --service inventory --dns localhost --ip 127.0.0.1 > /dev/null
"$cb_bin" issue --pki "$pki" --service legacy-proxy --dns localhost --ip 127.0.0.1 > /dev/null
"$cb_bin" issue --pki "$pki" --service order > /dev/null
"$cb_bin" issue --pki "$pki" --service payment > /dev/null
unset MTLS_ROOT_PASSPHRASE
as_order=(--ca "$pki/ca.crt" --cert "$pki/services/order/tls.crt" --key "$pki/services/order/tls.key")
as_payment=(--ca "$pki/ca.crt" --cert "$pki/services/payment/tls.crt" --key "$pki/services/payment/tls.key")

section() { [[ ",$only," == *",$1,"* ]]; }
# JIT tiering: a .NET process that sees one CPU multiplies the runtime's tier-up delay by ten (1 s instead of 100 ms,
# restarted by every method compiled for the first time, a timer's included), so pinned to CPU 0 legacy-proxy still ran
# instrumented tier-0 code after 50 s of load: ~650 µs of CPU per request, against ~260 µs once tiered. The pinning is
# there to keep the processes apart, not to model a one-CPU deployment, so every .NET process of the comparison gets
# the multi-CPU delay (DOTNET_TC_DelaySingleProcMultiplier=1); and every row, after --warmup, warms on until the CPU
# per request of all its processes (under test, upstream, load generator) is steady (MtlsLoad --steady: the last three
# 5 s windows within 5 % of each other, at most --steady-max seconds). Otherwise the JIT is what gets measured.
export DOTNET_TC_DelaySingleProcMultiplier=1
# Every .NET process under test gets the allocation probe (bench/ProcessProbe, a startup hook): MtlsLoad reads its
# GC.GetTotalAllocatedBytes over a Unix socket at the start and end of the measured seconds.
# probe NAME: sets with_probe, an `env` prefix that starts a command with the probe's socket at $work/NAME.probe.
probe() { with_probe=(env "DOTNET_STARTUP_HOOKS=$probe_dll" "MTLS_BENCH_PROBE=$work/$1.probe"); }

# nginx_conf NAME SERVER-BLOCKS: a one-worker nginx configuration in $work/NAME (access log off: our services log no
# line per request either; `user root` where we are root, so that the worker can reach a socket in a 0700 directory).
nginx_conf() {
    mkdir -p "$work/$1/logs"
    cat > "$work/$1/nginx.conf" <<EOF
$([[ "$(id -u)" == 0 ]] && echo "user root;")
worker_processes 1;
daemon off;
pid $work/$1/nginx.pid;
error_log $work/$1/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    # nginx closes a keep-alive connection after 1,000 requests by default; Kestrel does not: a keep-alive row would
    # otherwise carry a handshake every 1,000 requests on nginx's side only.
    keepalive_requests 100000000;
    client_body_temp_path $work/$1/body;
    proxy_temp_path $work/$1/proxy;
    fastcgi_temp_path $work/$1/fastcgi;
    uwsgi_temp_path $work/$1/uwsgi;
    scgi_temp_path $work/$1/scgi;
$2
}
EOF
}
# start_nginx NAME PORT: sets nginx_pids (--pid for master and worker).
start_nginx() {
    "${on_server_core[@]}" "$nginx_bin" -e "$work/$1/logs/error.log" -c "$work/$1/nginx.conf" -p "$work/$1" > "$work/$1/stdout.log" 2>&1 &
    local master=$!
    pids+=("$master")
    wait_for "nginx ($1)" "$master" listening "$2"
    nginx_pids=(--pid "$master")
    for worker in $(pgrep -P "$master"); do nginx_pids+=(--pid "$worker"); done
}
# The TLS part every nginx server block shares: TLS 1.3, client certificates required and checked against the root
# and the CRLs, as our services do.
nginx_tls() { # nginx_tls SERVICE
    cat <<EOF
        ssl_protocols TLSv1.3;
        ssl_certificate $pki/services/$1/tls.crt;
        ssl_certificate_key $pki/services/$1/tls.key;
        ssl_verify_client on;
        ssl_client_certificate $pki/ca.crt;
        ssl_crl $pki/services/$1/crl.pem;
        ssl_verify_depth 2;
EOF
}
# fetch URL OUT [CURL ARGS…]: GET over mTLS as order, the body to OUT; fails unless 200.
fetch() {
    local status
    status="$(curl -sS -o "$2" -w '%{http_code}' --cacert "$pki/ca.crt" --cert "$pki/services/order/tls.crt" --key "$pki/services/order/tls.key" "$1")"
    [[ "$status" == 200 ]] || fail "GET $1 answered $status, expected 200."
}

# --- server and handshake: nginx, bare Kestrel, ours (inventory) with the same JSON ------------------------------
items="/api/inventory/items"
if section server || section handshake; then
echo
echo "== the yardstick: nginx, a bare Kestrel doing only mTLS, and the real inventory, the same JSON over mTLS (ECDSA P-256, TLS 1.3) =="
# Ours: the real inventory service from its build output (its appsettings.json applies), its ServiceDefaults, the
# AppHost's caller rule (order references inventory), no OTLP endpoint.
inventory_https="$(free_port)"
inventory_http="$(free_port)"
probe inventory
(cd "$(dirname "$inventory_bin")" && ASPNETCORE_URLS="https://127.0.0.1:$inventory_https;http://127.0.0.1:$inventory_http" \
    Mtls__CredentialsDirectory="$pki/services/inventory" Mtls__Authorization__ReferencedBy__0=order OTEL_EXPORTER_OTLP_ENDPOINT='' \
    exec "${with_probe[@]}" "${on_server_core[@]}" "$inventory_bin" > "$work/inventory.log" 2>&1) &
inventory=$!
pids+=("$inventory")
wait_for inventory "$inventory" listening "$inventory_https"
wait_for "inventory's probe" "$inventory" test -S "$work/inventory.probe"
mkdir -p "$work/www$(dirname "$items")"
body="$work/www$items"
fetch "https://127.0.0.1:$inventory_https$items" "$body"
echo "the body every server answers: $(wc -c < "$body") bytes of inventory's $items"

# The yardstick: the same certificate, the same bytes. It exits when its standard input closes: held open on a fifo
# that dies with this script.
mkfifo "$work/bare.stdin"
probe bare
"${with_probe[@]}" "${on_server_core[@]}" "$server_bin" server --bare --credentials "$pki/services/inventory" --body "$body" --path "$items" \
    --port-file "$work/bare.ports" < "$work/bare.stdin" > "$work/bare.log" 2>&1 &
bare=$!
pids+=("$bare")
exec {hold_bare}> "$work/bare.stdin"
wait_for "bare Kestrel" "$bare" test -s "$work/bare.ports"
bare_https="$(sed -n 's/^https=//p' "$work/bare.ports")"

# nginx: the same file, static; no session cache and no tickets, so that every new connection is a full handshake
# and nginx pays for no ticket it would never see again (the load generator dials an IP literal: it never resumes).
nginx_json_port="$(free_port)"
nginx_conf nginx-json "    server {
        listen 127.0.0.1:$nginx_json_port ssl;
$(nginx_tls inventory)
        ssl_session_cache off;
        ssl_session_tickets off;
        root $work/www;
        default_type application/json;
        location = $items { }
    }"
start_nginx nginx-json "$nginx_json_port"
json_nginx_pids=("${nginx_pids[@]}")

for url in "https://127.0.0.1:$bare_https$items" "https://127.0.0.1:$nginx_json_port$items"; do
    fetch "$url" "$work/check.json"
    cmp -s "$body" "$work/check.json" || fail "$url answers other bytes than inventory."
done

for round in $(seq "$rounds"); do
    [[ "$rounds" == 1 ]] || echo "-- round $round of $rounds"
    if section server; then
        load nginx-keepalive --url "https://127.0.0.1:$nginx_json_port$items" --connections "$connections" "${json_nginx_pids[@]}" "${as_order[@]}"
        load bare-keepalive --url "https://127.0.0.1:$bare_https$items" --connections "$connections" --pid "$bare" --alloc-probe "$work/bare.probe" "${as_order[@]}"
        load ours-keepalive --url "https://127.0.0.1:$inventory_https$items" --connections "$connections" --pid "$inventory" --alloc-probe "$work/inventory.probe" "${as_order[@]}"
    fi
    if section handshake; then
        load nginx-full --url "https://127.0.0.1:$nginx_json_port$items" --mode new --connections "$handshake_connections" "${json_nginx_pids[@]}" "${as_order[@]}"
        load bare-full --url "https://127.0.0.1:$bare_https$items" --mode new --connections "$handshake_connections" --pid "$bare" --alloc-probe "$work/bare.probe" "${as_order[@]}"
        load ours-full --url "https://127.0.0.1:$inventory_https$items" --mode new --connections "$handshake_connections" --pid "$inventory" --alloc-probe "$work/inventory.probe" "${as_order[@]}"
    fi
done
exec {hold_bare}>&-
stop_all
fi

# --- proxy: legacy-proxy against nginx, in front of the same legacy-ledger socket ---------------------------------
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

# Two server blocks of one nginx: keep-alive as a user would run it (session tickets on), and a twin without session
# cache and tickets for the full-handshake row, as in the yardstick.
nginx_port="$(free_port)"
nginx_full_port="$(free_port)"
proxy_location="$(cat <<'EOF'
        location /api/ledger/ {
            proxy_pass http://ledger;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-Client-Cert "Hash=$ssl_client_fingerprint;Subject=\"$ssl_client_s_dn\"";
        }
EOF
)"
nginx_conf nginx-proxy "    upstream ledger {
        server unix:$socket;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$nginx_port ssl;
$(nginx_tls legacy-proxy)
$proxy_location
    }
    server {
        listen 127.0.0.1:$nginx_full_port ssl;
$(nginx_tls legacy-proxy)
        ssl_session_cache off;
        ssl_session_tickets off;
$proxy_location
    }"
start_nginx nginx-proxy "$nginx_port"
proxy_nginx_pids=("${nginx_pids[@]}")

proxy_https="$(free_port)"
proxy_http="$(free_port)"
probe legacy-proxy
(cd "$(dirname "$proxy_bin")" && ASPNETCORE_URLS="https://127.0.0.1:$proxy_https;http://127.0.0.1:$proxy_http" \
    Mtls__CredentialsDirectory="$pki/services/legacy-proxy" Mtls__Authorization__ReferencedBy__0=payment LegacyLedger__Socket="$socket" \
    OTEL_EXPORTER_OTLP_ENDPOINT='' exec "${with_probe[@]}" "${on_server_core[@]}" "$proxy_bin" > "$work/legacy-proxy.log" 2>&1) &
proxy=$!
pids+=("$proxy")
wait_for legacy-proxy "$proxy" listening "$proxy_https"
wait_for "legacy-proxy's probe" "$proxy" test -S "$work/legacy-proxy.probe"

for round in $(seq "$rounds"); do
    [[ "$rounds" == 1 ]] || echo "-- round $round of $rounds"
    load nginx-proxy-keepalive --url "https://127.0.0.1:$nginx_port$query" --connections "$connections" "${proxy_nginx_pids[@]}" --upstream-pid "$ledger" "${as_payment[@]}"
    load proxy-keepalive --url "https://127.0.0.1:$proxy_https$query" --connections "$connections" --pid "$proxy" --alloc-probe "$work/legacy-proxy.probe" \
        --upstream-pid "$ledger" "${as_payment[@]}"
    load nginx-proxy-full --url "https://127.0.0.1:$nginx_full_port$query" --mode new --connections "$handshake_connections" "${proxy_nginx_pids[@]}" \
        --upstream-pid "$ledger" "${as_payment[@]}"
    load proxy-full --url "https://127.0.0.1:$proxy_https$query" --mode new --connections "$handshake_connections" --pid "$proxy" \
        --alloc-probe "$work/legacy-proxy.probe" --upstream-pid "$ledger" "${as_payment[@]}"
done
stop_all
fi

# --- issuance: the CA's headroom for a fleet ---------------------------------------------------------------------
headroom_second=""
headroom_minute=""
if section issuance; then
echo
echo "== issuance: CertBootstrap.Bench's fleet simulation (10,000 identities on 1 h leaves, a virtual clock), on this disk =="
issuance_log="$work/issuance.log"
"$(release bench/CertBootstrap.Bench CertBootstrap.Bench)" --dir "$work" ${ISSUANCE_ARGS:---no-breakdown --count 200 --fleet} | tee "$issuance_log" | sed 's/^/  /'
headroom_second="$(sed -n 's/^headroom *\([0-9.]*\)x the peak second, \([0-9.]*\)x the peak minute.*/\1/p' "$issuance_log" | tail -1)"
headroom_minute="$(sed -n 's/^headroom *\([0-9.]*\)x the peak second, \([0-9.]*\)x the peak minute.*/\2/p' "$issuance_log" | tail -1)"
fi

# --- the table and the ratios ------------------------------------------------------------------------------------
echo
[[ "$rounds" == 1 ]] || echo "medians over $rounds rounds (min–max of the CPU figure in brackets)"
printf '%-22s %8s %11s %15s %10s %8s %12s %10s %8s %8s %6s %7s\n' row "req/s" "cpu µs/req" "(range)" "alloc B" "cs/req" "upstream µs" "client µs" \
    "p50 µs" "p99 µs" "busy" "warm s"
for key in nginx-keepalive bare-keepalive ours-keepalive nginx-full bare-full ours-full nginx-proxy-keepalive proxy-keepalive nginx-proxy-full proxy-full; do
    [[ -n "$(field "$key" rps)" ]] || continue
    printf '%-22s %8s %11s %15s %10s %8s %12s %10s %8s %8s %6s %7s\n' "$key" "$(field "$key" rps)" "$(field "$key" server_cpu_us)" \
        "$(spread "$key" server_cpu_us)" "$(field "$key" alloc_bytes || true)" "$(field "$key" cs)" "$(field "$key" upstream_cpu_us)" "$(field "$key" client_cpu_us)" \
        "$(field "$key" p50_us)" "$(field "$key" p99_us)" "$(field "$key" busy_cores)" \
        "$(field "$key" warm_s)$(grep -q "^$key .*steady=no" "$results" && echo '!')"
done
[[ -z "$headroom_second" ]] || echo "fleet headroom: ${headroom_second}x the peak second, ${headroom_minute}x the peak minute of renewals (CA capacity / need)"
echo "(cpu µs/req: the process under test, utime+stime from /proc (nginx: master + worker); in the -full rows one request is one connection."
echo " alloc B: bytes the .NET server allocated per request (GC.GetTotalAllocatedBytes, precise); cs/req: its voluntary + involuntary"
echo " context switches per request, summed over its threads; warm s: seconds of load before the measured ones, '!' where not steady)"
echo
cpu() { field "$1" server_cpu_us; }
echo "ratios: keepalive-vs-bare=$(ratio "$(cpu ours-keepalive)" "$(cpu bare-keepalive)") (target ≤1.15)" \
    "keepalive-vs-nginx=$(ratio "$(cpu ours-keepalive)" "$(cpu nginx-keepalive)")" \
    "handshake-vs-bare=$(ratio "$(cpu ours-full)" "$(cpu bare-full)")" \
    "handshake-vs-nginx=$(ratio "$(cpu ours-full)" "$(cpu nginx-full)") (target ≤1.5)" \
    "proxy-vs-nginx=$(ratio "$(cpu proxy-keepalive)" "$(cpu nginx-proxy-keepalive)") (target ≤2)" \
    "proxy-handshake-vs-nginx=$(ratio "$(cpu proxy-full)" "$(cpu nginx-proxy-full)")" \
    "fleet-headroom=${headroom_second:-n/a}$([[ -n "$headroom_second" ]] && echo x)"
