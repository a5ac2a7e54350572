#!/usr/bin/env bash
# identity-ab.sh: A/B of the per-request identity path. Server CPU, allocated bytes and context switches per keep-alive
# mTLS request with a caller rule (GET /api/ping, RequireCaller("order")) of `Mtls.Bench server`, built from two
# revisions of this repository, driven by MtlsLoad: the server alone on CPU 0, the generator on CPU 1, A and B
# alternating for --rounds rounds; the last lines give the medians and the ratio B/A.
#
#   bench/identity-ab.sh --a-ref REF [--b-ref REF] [--rounds 3] [--duration 8] [--warmup 12] [--connections 16]
#
# REF: any git revision; each is exported with `git archive` into the work directory and built (Release). Without
# --b-ref, B is the working tree as it is. Allocations come from dotnet-counters (installed into the work directory, the
# version bench/soak.sh uses), context switches from /proc, both over the middle of the measured seconds.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
a_ref="" b_ref="" rounds=3 duration=8 warmup=12 connections=16
while [[ $# -gt 0 ]]; do
    case "$1" in
        --a-ref) a_ref="$2"; shift 2 ;;
        --b-ref) b_ref="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --warmup) warmup="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
[[ -n "$a_ref" ]] || { echo "--a-ref REF is required (the revision to compare against)" >&2; exit 2; }
[[ "$duration" -ge 4 ]] || { echo "--duration must be at least 4 s" >&2; exit 2; }

work="$(mktemp -d -t identity-ab-XXXXXX)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

build() { # build NAME REF|"": the Mtls.Bench Release output directory of REF (or of the working tree)
    local name="$1" ref="$2" source="$repo"
    if [[ -n "$ref" ]]; then
        source="$work/src-$name"
        mkdir -p "$source"
        git -C "$repo" archive "$ref" | tar -x -C "$source"
    fi
    dotnet build -c Release "$source/bench/Mtls.Bench" -v q -nologo > "$work/build-$name.log" 2>&1 \
        || { cat "$work/build-$name.log" >&2; echo "build of $name failed" >&2; exit 1; }
    echo "$source/bench/Mtls.Bench/bin/Release/net10.0/Mtls.Bench"
}

echo "building A ($a_ref), B (${b_ref:-working tree}), MtlsLoad, CertBootstrap…"
server_a="$(build a "$a_ref")"
server_b="$(build b "$b_ref")"
for project in bench/MtlsLoad tools/CertBootstrap; do
    dotnet build -c Release "$repo/$project" -v q -nologo > "$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
done
load_bin="$repo/bench/MtlsLoad/bin/Release/net10.0/MtlsLoad"
cb_bin="$repo/tools/CertBootstrap/bin/Release/net10.0/CertBootstrap"
dotnet tool install dotnet-counters --version 10.0.750501 --tool-path "$work/tools" > /dev/null
counters="$work/tools/dotnet-counters"

pki="$work/pki"
export MTLS_ROOT_PASSPHRASE="identity-ab-throwaway-passphrase"
"$cb_bin" init --pki "$pki" > /dev/null
"$cb_bin" issue --pki "$pki" --service payment --dns localhost --ip 127.0.0.1 > /dev/null
"$cb_bin" issue --pki "$pki" --service order > /dev/null
unset MTLS_ROOT_PASSPHRASE
export DOTNET_TC_DelaySingleProcMultiplier=1 # see compare.sh: pinned to one CPU, .NET tiers up ten times later

switches() { # voluntary + involuntary context switches of every thread of PID
    cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches/ { s += $2 } END { print s + 0 }'
}

row() { # row NAME BINARY: one measured row; appends "NAME cpu_us alloc_b switches rps load" to $work/rows
    local name="$1" binary="$2" portfile="$work/$1.ports"
    rm -f "$portfile" "$work/$name.stdin"
    mkfifo "$work/$name.stdin"
    OTEL_EXPORTER_OTLP_ENDPOINT='' ASPNETCORE_URLS='https://127.0.0.1:0;http://127.0.0.1:0' \
        taskset -c 0 "$binary" server --credentials "$pki/services/payment" --port-file "$portfile" < "$work/$name.stdin" > "$work/$name.log" 2>&1 &
    local server=$!
    pids+=("$server")
    exec {hold}> "$work/$name.stdin"
    for _ in $(seq 600); do [[ -s "$portfile" ]] && break; sleep 0.1; done
    [[ -s "$portfile" ]] || { cat "$work/$name.log" >&2; echo "server $name did not start" >&2; exit 1; }
    local port
    port="$(sed -n 's/^https=//p' "$portfile")"
    # Allocations and context switches over the middle of the measured seconds (1 s in from each end).
    (
        sleep $((warmup + 1))
        before=$(switches "$server")
        "$counters" collect -p "$server" --counters System.Runtime --format csv -o "$work/$name.csv" \
            --refresh-interval 1 --duration "00:00:00:$(printf %02d $((duration - 2)))" > /dev/null 2>&1 || true
        echo $(( $(switches "$server") - before )) > "$work/$name.switches"
    ) &
    local sampler=$!
    local output
    output="$(taskset -c 1 "$load_bin" --url "https://127.0.0.1:$port/api/ping" --ca "$pki/ca.crt" --cert "$pki/services/order/tls.crt" \
        --key "$pki/services/order/tls.key" --mode keepalive --connections "$connections" --duration "$duration" --warmup "$warmup" \
        --pid "$server" --label "$name")" || { echo "$output" >&2; echo "row $name had errors" >&2; exit 1; }
    wait "$sampler"
    exec {hold}>&-
    wait "$server" 2>/dev/null || true
    local result rps cpu seconds alloc switched
    result="$(grep '^result ' <<< "$output")"
    rps="$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<< "$result")"
    cpu="$(sed -n 's/.* server_cpu_us=\([0-9.]*\).*/\1/p' <<< "$result")"
    # dotnet.gc.heap.total_allocated is reported per refresh interval (bytes a second): mean over the samples.
    alloc="$(awk -F, -v rps="$rps" 'tolower($3) ~ /total_allocated|allocation rate/ { s += $5; n++ } END { if (n > 0 && rps > 0) printf "%.0f", s / n / rps; else print "n/a" }' "$work/$name.csv" 2>/dev/null || echo n/a)"
    seconds=$((duration - 2))
    switched="$(awk -v s="$(cat "$work/$name.switches")" -v rps="$rps" -v t="$seconds" 'BEGIN { printf "%.3f", s / (rps * t) }')"
    local load
    load="$(cut -d' ' -f1 /proc/loadavg)"
    printf '%-4s cpu_us/req=%-7s alloc_B/req=%-6s ctx_switches/req=%-6s rps=%-8s load_avg=%s\n' "$name" "$cpu" "$alloc" "$switched" "$rps" "$load"
    echo "${name%%[0-9]*} $cpu $alloc $switched $rps $load" >> "$work/rows"
}

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ); ${duration} s measured after ${warmup} s warm-up, ${connections} keep-alive connections"
for round in $(seq "$rounds"); do
    row "a$round" "$server_a"
    row "b$round" "$server_b"
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for side in a b; do
    for column in 2 3 4; do
        awk -v s="$side" -v c="$column" '$1 == s { print $c }' "$work/rows" | median > "$work/median-$side-$column"
    done
done
m() { cat "$work/median-$1-$2"; }
echo "median A ($a_ref): cpu_us/req=$(m a 2) alloc_B/req=$(m a 3) ctx_switches/req=$(m a 4)"
echo "median B (${b_ref:-working tree}): cpu_us/req=$(m b 2) alloc_B/req=$(m b 3) ctx_switches/req=$(m b 4)"
echo "identity-ab: cpu_ratio_b_to_a=$(awk -v a="$(m a 2)" -v b="$(m b 2)" 'BEGIN { printf "%.2f", b / a }')" \
    "alloc_ratio_b_to_a=$(awk -v a="$(m a 3)" -v b="$(m b 3)" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "n/a" }')" \
    "load_avg_end=$(cut -d' ' -f1 /proc/loadavg)"
