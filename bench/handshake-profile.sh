#!/usr/bin/env bash
# Where the server's CPU per full mTLS handshake + one request goes: ours against nginx, under the same load.
#
#   bench/handshake-profile.sh [--duration S] [--warmup S] [--steady-max S] [--skip-build] [--keep] [--only ours,nginx]
#
# One CertBootstrap PKI. Each server alone on CPU 0 (taskset), MtlsLoad as order on CPU 1, 4 workers, a new TCP + TLS
# 1.3 connection per request to 127.0.0.1 (the .NET client never resumes to an IP literal): every request is a full
# mTLS handshake. After the warm-up (MtlsLoad --steady), the measured seconds are sampled by `perf record` (cpu-clock,
# 999 Hz, call graphs) on the server's process; the .NET server runs with DOTNET_PerfMapEnabled=1 so that perf names
# JIT-compiled methods. Printed per server: MtlsLoad's result line (server_cpu_us = the server's CPU per connection),
# the share of samples per library, the top symbols, and for ours the share of samples under a few frames we own.
#   ours:  bench/Mtls.Bench server (AddServiceDefaults + AddMtlsServer), GET /api/ping (RequireCaller("order"))
#   nginx: Debian's nginx, worker_processes 1, TLS 1.3, ssl_verify_client on, ssl_client_certificate + ssl_crl,
#          ssl_session_tickets off, ssl_session_cache off, `return 200 "pong"`
# --keep keeps the work directory (perf.data files, perf-PID.map, logs) for `perf report -i`.
set -euo pipefail

duration=15
warmup=5
steady_max=90
build=1
keep=0
only="ours,nginx"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration) duration="$2"; shift 2 ;;
        --warmup) warmup="$2"; shift 2 ;;
        --steady-max) steady_max="$2"; shift 2 ;;
        --skip-build) build=0; shift ;;
        --keep) keep=1; shift ;;
        --only) only="$2"; shift 2 ;;
        *) echo "unknown argument '$1'" >&2; sed -n '2,17p' "$0" >&2; exit 2 ;;
    esac
done

repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/mtls-hsprofile.XXXXXX")"
chmod 700 "$work"
pids=()
stop_all() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
cleanup() {
    stop_all
    if [[ "$keep" == 1 ]]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "handshake-profile.sh: $*" >&2; exit 1; }

[[ "$(nproc)" -ge 2 ]] && command -v taskset > /dev/null || fail "needs 2 CPUs and taskset."
command -v perf > /dev/null || fail "needs perf (Debian: apt-get install linux-perf)."
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
on_server_core=(taskset -c 0)
on_load_core=(taskset -c 1)

if [[ "$build" == 1 ]]; then
    for project in bench/MtlsLoad bench/Mtls.Bench tools/CertBootstrap; do
        dotnet build -c Release "$repo/$project" -v q -nologo > "$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "build of $project failed."; }
    done
fi
release() { echo "$repo/$1/bin/Release/net10.0/$2"; }
load_bin="$(release bench/MtlsLoad MtlsLoad)"
server_bin="$(release bench/Mtls.Bench Mtls.Bench)"
cb_bin="$(release tools/CertBootstrap CertBootstrap)"

wait_for() { # wait_for DESCRIPTION PID COMMAND…: until COMMAND succeeds, while PID lives (at most 60 s)
    local what="$1" pid="$2" tries=0
    shift 2
    until "$@" > /dev/null 2>&1; do
        tries=$((tries + 1))
        kill -0 "$pid" 2>/dev/null || fail "$what exited before it was ready (logs in $work)."
        [[ $tries -lt 600 ]] || fail "$what was not ready after 60 s."
        sleep 0.1
    done
}
listening() { ss -ltnH "sport = :$1" | grep -q .; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
pki="$work/pki"
export MTLS_ROOT_PASSPHRASE="handshake-profile-throwaway-passphrase"
"$cb_bin" init --pki "$pki" > /dev/null
"$cb_bin" issue --pki "$pki" --service payment --dns localhost --ip 127.0.0.1 > /dev/null
"$cb_bin" issue --pki "$pki" --service order > /dev/null
unset MTLS_ROOT_PASSPHRASE
as_order=(--ca "$pki/ca.crt" --cert "$pki/services/order/tls.crt" --key "$pki/services/order/tls.key")
export DOTNET_TC_DelaySingleProcMultiplier=1

# profile NAME URL PID…: warm up to steady, then the measured seconds under perf record of the first PID.
profile() {
    local name="$1" url="$2" target="$3" pid_args=() pid
    shift 2
    for pid in "$@"; do pid_args+=(--pid "$pid"); done
    echo
    echo "== $name: full mTLS handshake + one request, $duration s measured (load average $(cut -d' ' -f1-3 /proc/loadavg)) =="
    # The warm-up alone, until the CPU per request is steady; then a measured run with perf attached for its seconds.
    "${on_load_core[@]}" "$load_bin" --url "$url" --mode new --connections 4 --duration 5 --warmup "$warmup" --steady "$steady_max" \
        --label "$name-warmup" "${pid_args[@]}" "${as_order[@]}" > "$work/$name-warmup.txt" || { cat "$work/$name-warmup.txt" >&2; fail "$name warm-up failed."; }
    "${on_load_core[@]}" "$load_bin" --url "$url" --mode new --connections 4 --duration "$duration" --warmup 1 \
        --label "$name" "${pid_args[@]}" "${as_order[@]}" > "$work/$name-load.txt" &
    local load_pid=$!
    perf record -q -e cpu-clock -F 999 -g -p "$target" -o "$work/$name.perf.data" -- sleep "$((duration + 1))" > /dev/null 2>&1 || true
    wait "$load_pid" || { cat "$work/$name-load.txt" >&2; fail "$name load failed."; }
    grep '^result ' "$work/$name-load.txt"
    echo "-- samples per library (self) --"
    perf report -i "$work/$name.perf.data" --no-children --sort dso --stdio 2> /dev/null | grep -E '^ +[0-9]' | head -12 || true
    echo "-- top symbols (self) --"
    perf report -i "$work/$name.perf.data" --no-children --sort dso,sym --stdio 2> /dev/null | grep -E '^ +[0-9]' | head -25 | cut -c1-160 || true
}

# share OURS_PERF PATTERN…: the share of samples with a frame matching each pattern anywhere in their stack (inclusive).
share() {
    local data="$1" total
    shift
    perf script -i "$data" -F ip,sym 2> /dev/null > "$work/stacks.txt" || true
    total="$(awk 'NF == 0 { n++ } END { print n + 0 }' "$work/stacks.txt")"
    for pattern in "$@"; do
        awk -v p="$pattern" -v total="$total" '
            NF == 0 { if (hit) n++; hit = 0; next }
            index($0, p) { hit = 1 }
            END { if (hit) n++; printf "  %5.1f %%  %s\n", (total > 0 ? 100 * n / total : 0), p }' "$work/stacks.txt"
    done
}

if [[ ",$only," == *",nginx,"* ]]; then
    port="$("$load_bin" free-port)"
    mkdir -p "$work/nginx/logs"
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
    server {
        listen 127.0.0.1:$port ssl;
        ssl_protocols TLSv1.3;
        ssl_certificate $pki/services/payment/tls.crt;
        ssl_certificate_key $pki/services/payment/tls.key;
        ssl_verify_client on;
        ssl_client_certificate $pki/ca.crt;
        ssl_crl $pki/services/payment/crl.pem;
        ssl_verify_depth 2;
        ssl_session_tickets off;
        ssl_session_cache off;
        location / { return 200 "pong"; }
    }
}
EOF
    "${on_server_core[@]}" "$nginx_bin" -e "$work/nginx/logs/error.log" -c "$work/nginx/nginx.conf" -p "$work/nginx" > "$work/nginx/stdout.log" 2>&1 &
    master=$!
    pids+=("$master")
    wait_for nginx "$master" listening "$port"
    worker="$(pgrep -P "$master" | head -1)"
    profile nginx "https://127.0.0.1:$port/api/ping" "$worker" "$master"
    stop_all
fi

if [[ ",$only," == *",ours,"* ]]; then
    mkfifo "$work/ours.stdin"
    DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 OTEL_EXPORTER_OTLP_ENDPOINT='' ASPNETCORE_URLS="https://127.0.0.1:0;http://127.0.0.1:0" \
        "${on_server_core[@]}" "$server_bin" server --port-file "$work/ours.ports" --credentials "$pki/services/payment" \
        < "$work/ours.stdin" > "$work/ours.log" 2>&1 &
    ours=$!
    pids+=("$ours")
    exec {hold}> "$work/ours.stdin"
    wait_for "server child" "$ours" test -s "$work/ours.ports"
    https="$(sed -n 's/^https=//p' "$work/ours.ports")"
    profile ours "https://127.0.0.1:$https/api/ping" "$ours"
    echo "-- share of samples under (inclusive) --"
    share "$work/ours.perf.data" AuthenticateAsServer ServerHandshakeOptions::Validate MtlsCredentials::Validate ChainCheck::Verify \
        X509Chain::Build GetCertHashString CertificateValidation SslStream::CompleteHandshake SslStream::ForceAuthenticationAsync \
        SessionTicket ssl_tickets tls_construct_new_session_ticket X509_verify_cert ossl_ecdsa \
        HttpConnection PeerConnectionMiddleware CertificateAuthenticationHandler Http1Connection HttpProtocol::ProcessRequests \
        ThreadPoolWorkQueue::Dispatch epoll_wait
    exec {hold}>&-
    stop_all
fi
