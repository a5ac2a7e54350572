#!/usr/bin/env bash
# What strangers' oversized chains cost a service's memory.
#
# Starts the real Inventory service (Release, its own PKI from CertBootstrap, OTLP off), pinned to CPU 0 when there are
# two, and sends it --count handshakes from CPU 1 with `MtlsLoad strangers`: each a new connection presenting a fresh
# leaf under two made-up CAs of --padding bytes each (about 40 KB by default), which inventory must refuse (handshake
# admission off, as if each came from its own address). Inventory's
# RSS (VmRSS in /proc/PID/status) is read after a warm-up of 50 such handshakes, right after the run, and again after
# --settle seconds; the growth is the difference. Its peak (VmHWM) is printed too.
#
# usage: bench/strangers.sh [--count N] [--padding BYTES] [--settle S] [--skip-build] [--keep]
#   --count N        handshakes (default 2000)
#   --padding BYTES  padding in each of the two CAs (default 40000)
#   --settle S       seconds to wait before the last reading (default 5)
#   --skip-build     use the existing Release build
#   --keep           keep the work directory (PKI, inventory's log) and print its path
# The last line printed is
#   strangers: count=N refused=N answered=N rss_before_mb=X rss_after_mb=Y rss_settled_mb=Z growth_mb=G peak_mb=P
# where growth_mb is rss_after_mb - rss_before_mb.
set -euo pipefail

count=2000
padding=40000
settle=5
build=1
keep=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --count) count="$2"; shift 2 ;;
        --padding) padding="$2"; shift 2 ;;
        --settle) settle="$2"; shift 2 ;;
        --skip-build) build=0; shift ;;
        --keep) keep=1; shift ;;
        *) echo "unknown argument '$1'" >&2; sed -n '2,20p' "$0" >&2; exit 2 ;;
    esac
done

repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/mtls-strangers.XXXXXX")"
chmod 700 "$work"
inventory_pid=""
cleanup() {
    if [[ -n "$inventory_pid" ]]; then
        kill "$inventory_pid" 2>/dev/null || true
        wait "$inventory_pid" 2>/dev/null || true
    fi
    if [[ "$keep" == 1 ]]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "strangers.sh: $*" >&2; exit 1; }

server_cpu=()
client_cpu=()
if [[ "$(nproc)" -ge 2 ]] && command -v taskset > /dev/null; then
    server_cpu=(taskset -c 0)
    client_cpu=(taskset -c 1)
    # As in compare.sh: a pinned .NET process would otherwise tier up ten times slower.
    export DOTNET_TC_DelaySingleProcMultiplier=1
fi

if [[ "$build" == 1 ]]; then
    echo "building Release: MtlsLoad, CertBootstrap, Inventory…"
    for project in bench/MtlsLoad tools/CertBootstrap services/Inventory; do
        dotnet build -c Release "$repo/$project" -v q -nologo > "$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "build of $project failed"; }
    done
fi
release() { echo "$repo/$1/bin/Release/net10.0/$2"; }
load_bin="$(release bench/MtlsLoad MtlsLoad)"
cb_bin="$(release tools/CertBootstrap CertBootstrap)"
inventory_bin="$(release services/Inventory Inventory)"
for binary in "$load_bin" "$cb_bin" "$inventory_bin"; do
    [[ -x "$binary" ]] || fail "$binary is missing: run without --skip-build."
done

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
pki="$work/pki"
export MTLS_ROOT_PASSPHRASE="strangers-sh-throwaway-passphrase"
"$cb_bin" init --pki "$pki" > /dev/null
"$cb_bin" issue --pki "$pki" --service inventory --dns localhost --ip 127.0.0.1 > /dev/null
unset MTLS_ROOT_PASSPHRASE

https_port="$("$load_bin" free-port)"
http_port="$("$load_bin" free-port)"
log="$work/inventory.log"
# The handshake admission is off: from one address, it would close all but the first ~50 of these before TLS, and this
# measures what the handshakes that do reach TLS leave behind (strangers from many addresses).
(cd "$(dirname "$inventory_bin")" && ASPNETCORE_URLS="https://127.0.0.1:$https_port;http://127.0.0.1:$http_port" \
    Mtls__CredentialsDirectory="$pki/services/inventory" Mtls__Admission__Enabled=false OTEL_EXPORTER_OTLP_ENDPOINT='' exec "${server_cpu[@]}" "$inventory_bin" > "$log" 2>&1) &
inventory_pid=$!
for _ in $(seq 600); do
    ss -ltnH "sport = :$https_port" | grep -q . && break
    kill -0 "$inventory_pid" 2>/dev/null || { cat "$log" >&2; fail "inventory exited before it listened"; }
    sleep 0.1
done
ss -ltnH "sport = :$https_port" | grep -q . || fail "inventory did not listen within 60 s"

rss_mb() { awk -v f="$1:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$inventory_pid/status"; }
strangers() { "${client_cpu[@]}" "$load_bin" strangers --url "https://127.0.0.1:$https_port/api/inventory" --ca "$pki/ca.crt" --padding "$padding" "$@"; }

# The warm-up runs the refusal path once through the JIT and the first GCs, so that "before" is a service that has
# already seen strangers.
strangers --count 50 > /dev/null || fail "the warm-up failed: a stranger was answered, or an attempt failed otherwise"
before="$(rss_mb VmRSS)"
output="$(strangers --count "$count")" || { echo "$output"; fail "a stranger was answered, or an attempt failed otherwise"; }
after="$(rss_mb VmRSS)"
sed 's/^/  /' <<< "$output" | grep -v '^  result '
sleep "$settle"
settled="$(rss_mb VmRSS)"
peak="$(rss_mb VmHWM)"
result="$(grep '^result ' <<< "$output")"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$result"; }
growth="$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.1f", a - b }')"
echo "inventory's RSS: $before MB before, $after MB after, $settled MB $settle s later; peak $peak MB"
echo "strangers: count=$count refused=$(field refused) answered=$(field answered) rss_before_mb=$before rss_after_mb=$after rss_settled_mb=$settled growth_mb=$growth peak_mb=$peak"
