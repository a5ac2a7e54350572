#!/usr/bin/env bash
# Bad handshakes from one address against payment while a legitimate caller from another address runs.
#
# Starts the real Payment service (Release, its own PKI from CertBootstrap, OTLP off) pinned to CPU 0 and drives it from
# CPU 1 with bench/MtlsLoad as order, from 127.0.0.1: GET /api/payments/charges/none (404 from the endpoint, after
# authentication and the caller rule). Per round four rows: the legitimate caller on keep-alive connections and on a new
# connection per request, each alone and then beside a flood of --rate bad handshakes a second from --from (round
# robin: 64 garbage bytes, a certificate from a rogue CA claiming order's SPIFFE ID, no certificate), each a new
# connection, sent by --flooders processes of their own under `nice -n 19` on the caller's CPU, the caller under
# `nice -n -10` (as root): the caller has priority over the flood where they share a core, so the figures measure the
# server, not the flood starving the caller.
# Each flooded row's rate is given as a percentage of the unflooded row's of the same round.
# Then payment's own log: refusals logged one by one, and the ones its summaries counted (Mtls:RefusalLogs). Their sum
# must equal the refusals the flood saw at payment's certificate check: rate-limited logs lose no count. Connections
# closed before TLS by the handshake admission (Mtls:Admission) are summed from its summaries.
#
# usage: bench/flood.sh [--rate N] [--from ADDRESS] [--flooders N] [--rounds N] [--duration S] [--warmup S]
#                       [--admission on|off] [--skip-build] [--keep]
#   --rate N          bad handshakes a second, all flood processes together (default 1000)
#   --from ADDRESS    the flood's source address, a loopback address other than 127.0.0.1 (default 127.0.0.2)
#   --flooders N      flood processes (default 5)
#   --rounds N        rounds of the four rows (default 1); the last line sums them
#   --duration S      measured seconds per row (default 20)
#   --warmup S        unmeasured seconds before each row, the flood already running (default 10)
#   --admission X     on (default) or off: Mtls__Admission__Enabled for payment, to measure without it
#   --skip-build      use the existing Release build
#   --keep            keep the work directory (PKI, payment's log) and print its path
# The last line printed is
#   flood: from=A rate=R admission=X keepalive_rate=P% keepalive_success=P% new_rate=P% new_success=P% answered=N
#          closed_before_tls=N cpu_per_bad_connection_us=N log_count=ok|lost
# (the last from a fifth row: the flood alone, payment's CPU divided by the bad connections).
set -euo pipefail

rate=1000
from=127.0.0.2
flooders=5
rounds=1
duration=20
warmup=10
admission=on
build=1
keep=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rate) rate="$2"; shift 2 ;;
        --from) from="$2"; shift 2 ;;
        --flooders) flooders="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --warmup) warmup="$2"; shift 2 ;;
        --admission) admission="$2"; shift 2 ;;
        --skip-build) build=0; shift ;;
        --keep) keep=1; shift ;;
        *) echo "unknown argument '$1'" >&2; sed -n '2,31p' "$0" >&2; exit 2 ;;
    esac
done
[[ "$admission" == on || "$admission" == off ]] || { echo "--admission is on or off" >&2; exit 2; }
[[ "$from" != 127.0.0.1 ]] || { echo "--from must differ from the caller's 127.0.0.1" >&2; exit 2; }

repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/mtls-flood.XXXXXX")"
chmod 700 "$work"
payment_pid=""
flood_pids=()
cleanup() {
    for pid in "${flood_pids[@]}" $payment_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
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
enabled=true
[[ "$admission" == on ]] || enabled=false
(cd "$(dirname "$payment_bin")" && ASPNETCORE_URLS="https://127.0.0.1:$https_port;http://127.0.0.1:$http_port" \
    Mtls__CredentialsDirectory="$pki/services/payment" Mtls__Authorization__ReferencedBy__0=order Mtls__Admission__Enabled="$enabled" \
    OTEL_EXPORTER_OTLP_ENDPOINT='' exec env 'services__legacy-proxy__https__0=https://127.0.0.1:9' setsid taskset -c 0 "$payment_bin" > "$log" 2>&1) &
payment_pid=$!
for _ in $(seq 600); do
    ss -ltnH "sport = :$https_port" | grep -q . && break
    kill -0 "$payment_pid" 2>/dev/null || { cat "$log" >&2; fail "payment exited before it listened"; }
    sleep 0.1
done
ss -ltnH "sport = :$https_port" | grep -q . || fail "payment did not listen within 60 s"

tls=(--ca "$pki/ca.crt")
as_order=("${tls[@]}" --cert "$pki/services/order/tls.crt" --key "$pki/services/order/tls.key")
url="https://127.0.0.1:$https_port/api/payments/charges/none"
results="$work/results.txt"
: > "$results"
# The caller runs at a higher priority than the flood where they share CPU 1 (nice -10 needs root; otherwise 0 against the flood's 19).
caller_nice=0
[[ "$(id -u)" == 0 ]] && caller_nice=-10
per_flooder="$(awk -v r="$rate" -v n="$flooders" 'BEGIN { printf "%.3f", r / n }')"
row() { # row KEY FLOOD(0|1) ARGS…
    local key="$1" flood="$2" output i
    shift 2
    flood_pids=()
    if [[ "$flood" == 1 ]]; then
        for i in $(seq "$flooders"); do
            chrt --idle 0 nice -n 19 taskset -c 1 "$load_bin" --url "$url" "${tls[@]}" --flood-only --flood "$per_flooder" --flood-from "$from" \
                --duration "$duration" --warmup "$warmup" --label "$key-flooder-$i" > "$work/$key-flooder-$i.txt" 2>&1 &
            flood_pids+=($!)
        done
    fi
    # A legitimate error makes MtlsLoad exit 1: here it is the figure, so the run goes on and the line is kept.
    output="$(nice -n "$caller_nice" taskset -c 1 "$load_bin" --url "$url" --from 127.0.0.1 --expect 404 --duration "$duration" --warmup "$warmup" --pid "$payment_pid" \
        --label "$key" "${as_order[@]}" "$@")" || true
    sed 's/^/  /' <<< "$output" | grep -v '^  result '
    grep '^result ' <<< "$output" | sed "s/^result /$key /" >> "$results"
    grep -q '^result ' <<< "$output" || fail "row $key printed no result"
    if [[ "$flood" == 1 ]]; then
        for i in "${!flood_pids[@]}"; do
            wait "${flood_pids[$i]}" || true
        done
        flood_pids=()
        # The flood processes' figures, summed into the row's line.
        awk -v k="$key" -v out="$results" '/^result / { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] ~ /^flood_/) s[kv[1]] += kv[2] } }
            /: flood: / { print "  " $0 }
            END { line = k "-flood"; for (f in s) line = line " " f "=" s[f]; print line >> out }' "$work/$key"-flooder-*.txt
    fi
}
field() { awk -v k="$1" -v f="$2" '$1 == k { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$results"; }
sum() { # sum FIELD KEY…
    local f="$1" total=0 v key
    shift
    for key in "$@"; do v="$(field "$key" "$f")"; total=$(awk -v a="$total" -v b="${v:-0}" 'BEGIN { print a + b }'); done
    echo "$total"
}
percent() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", 100 * a / b; else print "n/a" }'; }
success() { percent "$(sum requests "$@")" "$(awk -v r="$(sum requests "$@")" -v e="$(sum errors "$@")" 'BEGIN { print r + e }')"; }

keys=()
for round in $(seq "$rounds"); do
    echo "== round $round: the legitimate caller from 127.0.0.1 alone, then beside $rate bad handshakes a second from $from ($flooders processes, nice 19; admission $admission) =="
    row "alone-keepalive-$round" 0 --connections 4
    row "flood-keepalive-$round" 1 --connections 4
    row "alone-new-$round" 0 --mode new --connections 2
    row "flood-new-$round" 1 --mode new --connections 2
    keys+=("alone-keepalive-$round" "flood-keepalive-$round" "alone-new-$round" "flood-new-$round")
done

# The flood alone, no caller: payment's CPU (utime+stime from /proc) per bad connection, whatever became of it.
ticks() { awk '{ print $14 + $15 }' "/proc/$payment_pid/stat"; }
echo "== the flood alone: payment's CPU per bad connection =="
before="$(ticks)"
flood_pids=()
for i in $(seq "$flooders"); do
    chrt --idle 0 nice -n 19 taskset -c 1 "$load_bin" --url "$url" "${tls[@]}" --flood-only --flood "$per_flooder" --flood-from "$from" \
        --duration "$duration" --warmup 0 --label "flood-alone-flooder-$i" > "$work/flood-alone-flooder-$i.txt" 2>&1 &
    flood_pids+=($!)
done
for i in "${!flood_pids[@]}"; do wait "${flood_pids[$i]}" || true; done
flood_pids=()
after="$(ticks)"
alone_field() { cat "$work"/flood-alone-flooder-*.txt | awk -v f="$1" '/^result / { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) s += kv[2] } } END { print s + 0 }'; }
attempts="$(alone_field flood_attempts)"
flood_cpu_us="$(awk -v t="$((after - before))" -v hz="$(getconf CLK_TCK)" -v n="$attempts" 'BEGIN { if (n > 0) printf "%.0f", t * 1e6 / hz / n; else print "n/a" }')"
echo "  $attempts bad connections in $duration s, payment used $(awk -v t="$((after - before))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }') s of CPU: $flood_cpu_us µs each"

echo
printf '%-18s %9s %7s %8s %7s %9s %9s %11s %9s %8s %9s\n' row "req/s" "rate %" errors "ok %" "p50 µs" "p99 µs" "cpu µs/req" "flood/s" answered "closed<tls"
for key in "${keys[@]}"; do
    relative=""
    [[ "$key" == flood-* ]] && relative="$(percent "$(field "$key" rps)" "$(field "alone-${key#flood-}" rps)")"
    printf '%-18s %9s %7s %8s %7s %9s %9s %11s %9s %8s %9s\n' "$key" "$(field "$key" rps)" "$relative" "$(field "$key" errors)" "$(success "$key")" \
        "$(field "$key" p50_us)" "$(field "$key" p99_us)" "$(field "$key" server_cpu_us)" "$(field "$key-flood" flood_rps)" "$(field "$key-flood" flood_accepted)" \
        "$(field "$key-flood" flood_closed_early)"
done

# The flood's TLS kinds (rogue, none) that reached payment's certificate check; garbage never gets that far.
flood_keys=()
for round in $(seq "$rounds"); do flood_keys+=("flood-keepalive-$round-flood" "flood-new-$round-flood"); done
tls_refused=$(( $(sum flood_tls_refused "${flood_keys[@]}") + $(alone_field flood_tls_refused) ))
answered=$(( $(sum flood_accepted "${flood_keys[@]}") + $(alone_field flood_accepted) ))
log_count=lost
# Payment logs a window's summary when the window ends, and the last one when it stops.
kill "$payment_pid" 2>/dev/null || true
wait "$payment_pid" 2>/dev/null || true
payment_pid=""
logged="$(grep -c 'refused the client certificate from' "$log" || true)"
summed="$( (grep -o 'refused [0-9]* more client certificates' "$log" || true) | awk '{ s += $2 } END { print s + 0 }')"
summaries="$(grep -c 'more client certificates for' "$log" || true)"
closed="$( (grep -o 'admission closed [0-9]* connections before TLS' "$log" || true) | awk '{ s += $3 } END { print s + 0 }')"
penalties="$(grep -c 'mTLS admission penalised' "$log" || true)"
[[ $((logged + summed)) -eq "$tls_refused" ]] && log_count=ok
echo "payment's log: $logged refusals logged in full and $summaries summaries counting $summed more: $((logged + summed)), against $tls_refused TLS attempts the flood saw refused ($log_count)"
echo "payment's log: $closed connections closed before TLS by the handshake admission; $penalties penalties logged"

rates() { # rates MODE: the flooded rows' requests over the unflooded rows', every round summed
    local alone=() flooded=()
    for round in $(seq "$rounds"); do alone+=("alone-$1-$round"); flooded+=("flood-$1-$round"); done
    percent "$(sum requests "${flooded[@]}")" "$(sum requests "${alone[@]}")"
}
flooded_rows() { for round in $(seq "$rounds"); do echo "flood-$1-$round"; done; }
echo
echo "flood: from=$from rate=$rate admission=$admission keepalive_rate=$(rates keepalive)% keepalive_success=$(success $(flooded_rows keepalive))%" \
    "new_rate=$(rates new)% new_success=$(success $(flooded_rows new))% answered=$answered closed_before_tls=$closed cpu_per_bad_connection_us=$flood_cpu_us log_count=$log_count"
