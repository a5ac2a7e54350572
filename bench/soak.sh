#!/usr/bin/env bash
# The soak (issue "Hardening", deliverable 2): the whole app as `dotnet run --project MtlsAspire.AppHost` runs it
# (real DCP, dashboard, telemetry), bench/Lifecycle.Bench's order load through every hop for --minutes, every leaf
# renewed every minute and the intermediate rotated every ten, each service's RSS, file descriptors, sockets and
# threads sampled from /proc, its managed heap and mTLS caches from dotnet-counters, and its live heap after a full GC
# from dotnet-gcdump after the warm-up and at the end (both installed here into a work directory, not globally). Writes samples.csv, events.csv, summary.md (the drift of each figure) and soak.svg (the
# curves) to --out. Exit 1 when a request failed or a process was left behind.
#
# usage: bench/soak.sh [--minutes M] [--out DIR] [--skip-build] [-- more Lifecycle.Bench arguments]
#   --minutes M    length of the load (default 30)
#   --out DIR      where the results go (default soak-out in the current directory)
#   --skip-build   use the existing Debug build of bench/Lifecycle.Bench
#   after --: passed on, e.g. --renew-every 30 --rotate-every 120 --sample-every 5 --workers 4 --charge-every 4
set -euo pipefail

minutes=30
out="$PWD/soak-out"
build=1
extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --minutes) minutes="$2"; shift 2 ;;
        --out) out="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
        --skip-build) build=0; shift ;;
        --) shift; extra=("$@"); break ;;
        *) echo "unknown argument '$1'" >&2; sed -n '2,14p' "$0" >&2; exit 2 ;;
    esac
done

repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/mtls-soak.XXXXXX")"
trap 'rm -rf "$work"' EXIT
dotnet tool install dotnet-counters --version 10.0.750501 --tool-path "$work/tools" >/dev/null
dotnet tool install dotnet-gcdump --version 10.0.750501 --tool-path "$work/tools" >/dev/null
if [[ $build == 1 ]]; then
    dotnet build "$repo/bench/Lifecycle.Bench" -v q -nologo >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
fi
cd "$repo"
dotnet run --no-build --project bench/Lifecycle.Bench -- --soak "$minutes" --out "$out" --counters "$work/tools/dotnet-counters" --gcdump "$work/tools/dotnet-gcdump" --dir "$work" "${extra[@]}"
