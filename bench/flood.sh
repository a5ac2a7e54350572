#!/usr/bin/env bash
# Bad handshakes against payment while a legitimate caller runs (issue "Hardening", floods).
#
# Starts the real Payment service (Release, its own PKI from CertBootstrap, OTLP off) pinned to CPU 0 and drives it from
# CPU 1 with bench/MtlsLoad as order: GET /api/payments/charges/none (404 from the endpoint, after authentication and the
# caller rule). Four rows: the legitimate caller on keep-alive connections and on a new connection per request, each
# alone and then beside a flood of --rate bad handshakes a second (round robin: 64 garbage bytes, a certificate from a
# rogue CA claiming order's SPIFFE ID, no certificate), each a new connection.
# Then payment's own log: refusals logged one by one, and the ones its summaries counted (Mtls:RefusalLogs). Their sum
# must equal the TLS refusals the flood saw: rate-limited logs lose no count.
#
# usage: bench/flood.sh [--rate N] [--duration S] [--warmup S] [--skip-build] [--keep]
#   --rate N       bad handshakes a second (default 500)
#   --duration S   measured seconds per row (default 20)
#   --warmup S     unmeasured seconds before each row, the flood already running (default 10)
#   --skip-build   use the existing Release build
#   --keep         keep the work directory (PKI, payment's log) and print its path
# The last line printed is
#   flood: rate=R keepalive_success=P% keepalive_p99_us=N new_success=P% new_p99_us=N answered=N log_count=ok|lost
set -euo pipefail

rate=500
duration=20
warmup=10
build=1
keep=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rate) rate="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --warmup) warmup="$2"; shift 2 ;;
        --skip-build) build=0; shift ;;
        --keep) keep=1; shift ;;
        *) echo "unknown argument '$1'" >&2; sed -n '2,21p' "$0" >&2; exit 2 ;;
    esac
done

repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/mtls-flood.XXXXXX")"
chmod 700 "$work"
payment_pid=""
cleanup() {
    if [[ -n "$payment_pid" ]]; then
        kill "$payment_pid" 2>/dev/null || true
        wait "$payment_pid" 2>/dev/null || true
    fi
    if [[ "$keep" == 1 ]]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "flood.sh: $*" >&2; exit 1; }

[[ "$(nproc)" -ge 2 ]] && command -v taskset > /dev/null || fail "needs 2 CPUs and taskset: payment runs on CPU 0, the callers on CPU 1."
# As in compare.sh: a pinned .NET process would otherwise tier up ten times slower.
export DOTNET_TC_DelaySingleProcMultiplier=1

if [[ "$build" == 1 ]]; then
    echo "building Release: MtlsLoad, CertBootstrap, Payment…"
    for project in bench/MtlsLoad tools/CertBootstrap services/Payment; do
        dotnet build -c Release "$repo/$project" -v q -nologo > "$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "build of $project failed"; }
    done
fi
release() { echo "$repo/$1/bin/Release/net10.0/$2"; }
load_bin="$(release bench/MtlsLoad MtlsLoad)"
cb_bin="$(release tools/CertBootstrap CertBootstrap)"
payment_bin="$(release services/Payment Payment)"
for binary in "$load_bin" "$cb_bin" "$payment_bin"; do
    [[ -x "$binary" ]] || fail "$binary is missing: run without --skip-build."
done

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
pki="$work/pki"
export MTLS_ROOT_PASSPHRASE="flood-sh-throwaway-passphrase"
"$cb_bin" init --pki "$pki" > /dev/null
"$cb_bin" issue --pki "$pki" --service payment --dns localhost --ip 127.0.0.1 > /dev/null
"$cb_bin" issue --pki "$pki" --service order > /dev/null
unset MTLS_ROOT_PASSPHRASE

https_port="$("$load_bin" free-port)"
http_port="$("$load_bin" free-port)"
log="$work/payment.log"
(cd "$(dirname "$payment_bin")" && ASPNETCORE_URLS="https://127.0.0.1:$https_port;http://127.0.0.1:$http_port" \
    Mtls__CredentialsDirectory="$pki/services/payment" Mtls__Authorization__ReferencedBy__0=order \
    OTEL_EXPORTER_OTLP_ENDPOINT='' exec env 'services__legacy-proxy__https__0=https://127.0.0.1:9' taskset -c 0 "$payment_bin" > "$log" 2>&1) &
payment_pid=$!
for _ in $(seq 600); do
    ss -ltnH "sport = :$https_port" | grep -q . && break
    kill -0 "$payment_pid" 2>/dev/null || { cat "$log" >&2; fail "payment exited before it listened"; }
    sleep 0.1
done
ss -ltnH "sport = :$https_port" | grep -q . || fail "payment did not listen within 60 s"

as_order=(--ca "$pki/ca.crt" --cert "$pki/services/order/tls.crt" --key "$pki/services/order/tls.key")
url="https://127.0.0.1:$https_port/api/payments/charges/none"
results="$work/results.txt"
: > "$results"
row() { # row KEY ARGS…
    local key="$1" output
    shift
    # A legitimate error makes MtlsLoad exit 1: here it is the figure, so the run goes on and the line is kept.
    output="$(taskset -c 1 "$load_bin" --url "$url" --expect 404 --duration "$duration" --warmup "$warmup" --pid "$payment_pid" --label "$key" "${as_order[@]}" "$@")" || true
    sed 's/^/  /' <<< "$output" | grep -v '^  result '
    grep '^result ' <<< "$output" | sed "s/^result /$key /" >> "$results"
    grep -q '^result ' <<< "$output" || fail "row $key printed no result"
}
field() { awk -v k="$1" -v f="$2" '$1 == k { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$results"; }
success() { awk -v r="$(field "$1" requests)" -v e="$(field "$1" errors)" 'BEGIN { if (r + e > 0) printf "%.3f", 100 * r / (r + e); else print "n/a" }'; }

echo "== the legitimate caller alone, then beside $rate bad handshakes a second =="
row alone-keepalive --connections 4
row flood-keepalive --connections 4 --flood "$rate"
row alone-new --mode new --connections 2
row flood-new --mode new --connections 2 --flood "$rate"

# The flood's TLS kinds (rogue, none) reach payment's certificate check; garbage never gets that far.
tls_refused=0
for key in flood-keepalive flood-new; do
    tls_refused=$((tls_refused + $(field "$key" flood_tls_refused)))
done

echo
printf '%-16s %9s %8s %7s %9s %9s %11s %10s %10s\n' row "req/s" errors "ok %" "p50 µs" "p99 µs" "cpu µs/req" "flood/s" answered
for key in alone-keepalive flood-keepalive alone-new flood-new; do
    printf '%-16s %9s %8s %7s %9s %9s %11s %10s %10s\n' "$key" "$(field "$key" rps)" "$(field "$key" errors)" "$(success "$key")" \
        "$(field "$key" p50_us)" "$(field "$key" p99_us)" "$(field "$key" server_cpu_us)" "$(field "$key" flood_rps)" "$(field "$key" flood_accepted)"
done
log_count=lost
# Payment logs a window's summary when the window ends, and the last one when it stops.
kill "$payment_pid" 2>/dev/null || true
wait "$payment_pid" 2>/dev/null || true
payment_pid=""
logged="$(grep -c 'refused the client certificate from' "$log" || true)"
summed="$(grep -o 'refused [0-9]* more client certificates' "$log" | awk '{ s += $2 } END { print s + 0 }')"
summaries="$(grep -c 'more client certificates for' "$log" || true)"
[[ $((logged + summed)) -eq "$tls_refused" ]] && log_count=ok
echo "payment's log: $logged refusals logged in full and $summaries summaries counting $summed more: $((logged + summed)), against $tls_refused TLS attempts the flood saw refused ($log_count)"
answered=$(( $(field flood-keepalive flood_accepted) + $(field flood-new flood_accepted) ))
echo
echo "flood: rate=$rate keepalive_success=$(success flood-keepalive)% keepalive_p99_us=$(field flood-keepalive p99_us)" \
    "new_success=$(success flood-new)% new_p99_us=$(field flood-new p99_us) answered=$answered log_count=$log_count"
