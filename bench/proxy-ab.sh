#!/usr/bin/env bash
# A/B of runtime and socket settings for legacy-proxy and the legacy-ledger behind it, set through the environment
# (no rebuild between variants): keep-alive mTLS through the proxy to the ledger's Unix socket, the proxy alone on
# CPU 0, the ledger and the load generator (MtlsLoad, as payment) on CPU 1, as compare.sh's proxy rows. Each round
# runs every variant once, in turn, each with a fresh proxy and ledger; the figures are CPU µs per request of the proxy
# and of the ledger (/proc), with the load average beside each row.
#
# usage: bench/proxy-ab.sh [--rounds R] [--duration S] [--warmup S] [--skip-build] [--variant 'NAME ENV=V…']…
#   default variants: "default" (nothing set), "spin0" (DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0 for both),
#   "inline" (DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 for both)
# An ENV name prefixed with "proxy:" or "ledger:" goes to that process only. The last line per variant:
#   ab: variant=NAME rounds=R proxy_us=MEDIAN ledger_us=MEDIAN rps=MEDIAN
set -euo pipefail

rounds=3
duration=8
warmup=20
build=1
variants=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --warmup) warmup="$2"; shift 2 ;;
        --skip-build) build=0; shift ;;
        --variant) variants+=("$2"); shift 2 ;;
        *) echo "unknown argument '$1'" >&2; sed -n '2,15p' "$0" >&2; exit 2 ;;
    esac
done
[[ ${#variants[@]} -gt 0 ]] || variants=("default" "spin0 DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0" "inline DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1")

repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/mtls-proxy-ab.XXXXXX")"
chmod 700 "$work"
pids=()
stop_all() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
fail() { echo "proxy-ab.sh: $*" >&2; exit 1; }

if [[ "$build" == 1 ]]; then
    for project in bench/MtlsLoad tools/CertBootstrap services/LegacyProxy services/LegacyLedger; do
        dotnet build -c Release "$repo/$project" -v q -nologo > "$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "build of $project failed"; }
    done
fi
release() { echo "$repo/$1/bin/Release/net10.0/$2"; }
load_bin="$(release bench/MtlsLoad MtlsLoad)"
cb_bin="$(release tools/CertBootstrap CertBootstrap)"
proxy_bin="$(release services/LegacyProxy LegacyProxy)"
ledger_bin="$(release services/LegacyLedger LegacyLedger)"

pki="$work/pki"
export MTLS_ROOT_PASSPHRASE="proxy-ab-throwaway-passphrase"
"$cb_bin" init --pki "$pki" > /dev/null
"$cb_bin" issue --pki "$pki" --service payment > /dev/null
"$cb_bin" issue --pki "$pki" --service legacy-proxy --dns localhost --ip 127.0.0.1 > /dev/null
unset MTLS_ROOT_PASSPHRASE
export DOTNET_TC_DelaySingleProcMultiplier=1 # see compare.sh: otherwise the JIT's tier-up is what gets measured

wait_for() { # wait_for DESCRIPTION PID COMMAND…
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

results="$work/results.txt"
: > "$results"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ); ${warmup} s warm-up, ${duration} s measured, 16 keep-alive connections"
for round in $(seq "$rounds"); do
    for variant in "${variants[@]}"; do
        read -r -a words <<< "$variant"
        name="${words[0]}"
        proxy_env=()
        ledger_env=()
        for setting in "${words[@]:1}"; do
            case "$setting" in
                proxy:*) proxy_env+=("${setting#proxy:}") ;;
                ledger:*) ledger_env+=("${setting#ledger:}") ;;
                *) proxy_env+=("$setting"); ledger_env+=("$setting") ;;
            esac
        done
        ledger_dir="$work/ledger-$round-$name"
        mkdir -m 700 "$ledger_dir"
        socket="$ledger_dir/ledger.sock"
        (cd "$(dirname "$ledger_bin")" && exec env ASPNETCORE_URLS="http://unix:$socket" Ledger__Database="$ledger_dir/ledger.db" OTEL_EXPORTER_OTLP_ENDPOINT='' \
            "${ledger_env[@]}" taskset -c 1 "$ledger_bin" > "$work/ledger.log" 2>&1) &
        ledger=$!
        pids+=("$ledger")
        wait_for legacy-ledger "$ledger" test -S "$socket"
        port="$("$load_bin" free-port)"
        (cd "$(dirname "$proxy_bin")" && exec env ASPNETCORE_URLS="https://127.0.0.1:$port;http://127.0.0.1:$("$load_bin" free-port)" \
            Mtls__CredentialsDirectory="$pki/services/legacy-proxy" Mtls__Authorization__ReferencedBy__0=payment LegacyLedger__Socket="$socket" \
            OTEL_EXPORTER_OTLP_ENDPOINT='' "${proxy_env[@]}" taskset -c 0 "$proxy_bin" > "$work/proxy.log" 2>&1) &
        proxy=$!
        pids+=("$proxy")
        wait_for legacy-proxy "$proxy" listening "$port"
        output="$(taskset -c 1 "$load_bin" --url "https://127.0.0.1:$port/api/ledger/ping" --connections 16 --duration "$duration" --warmup "$warmup" \
            --label "$name" --pid "$proxy" --upstream-pid "$ledger" --ca "$pki/ca.crt" --cert "$pki/services/payment/tls.crt" \
            --key "$pki/services/payment/tls.key")" || { echo "$output" >&2; fail "variant $name had errors"; }
        line="$(grep '^result ' <<< "$output")"
        echo "round $round $line load=$(cut -d' ' -f1 /proc/loadavg)"
        echo "$name $line" >> "$results"
        stop_all
    done
done

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
value() { awk -v k="$1" -v f="$2" '$1 == k { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$results"; }
for variant in "${variants[@]}"; do
    name="${variant%% *}"
    echo "ab: variant=$name rounds=$rounds proxy_us=$(value "$name" server_cpu_us | median) ledger_us=$(value "$name" upstream_cpu_us | median) rps=$(value "$name" rps | median)"
done
