#!/usr/bin/env bash
# Cold start: `dotnet run --no-build` of the AppHost on a fresh state directory (a new PKI each time) until every
# resource is healthy, N times; prints each start and the median. See bench/README.md.
set -euo pipefail

runs=10 build=1 timeout=300 keep=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --skip-build) build=0; shift ;;
    --timeout) timeout="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--runs N (10)] [--skip-build] [--timeout S (300, per start)] [--keep]" >&2; exit 2 ;;
  esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d -t coldstart.XXXXXX)"
marker='Every resource is healthy' # MtlsAspire.AppHost/ReadyReport.cs
runner='' apphost='' started=()

descendants() { # every live process under $1
  ps -e -o pid=,ppid= | awk -v root="$1" '{ parent[$1] = $2 } END {
    queue[0] = root; n = 1
    for (i = 0; i < n; i++) for (p in parent) if (parent[p] == queue[i]) { queue[n++] = p; print p } }'
}

alive() { # the pids of "$@" that still run (zombies excluded)
  local pid
  for pid in "$@"; do
    [[ -r /proc/$pid/stat ]] && [[ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ]] && echo "$pid"
  done
  return 0
}

# Every process the start made: under `dotnet run` (the AppHost, the dashboard), and DCP, which detaches and watches the
# AppHost with --monitor PID, with everything under it (the services).
collect() {
  local dcp
  started=($(descendants "$runner"))
  if [[ -n "$apphost" ]]; then
    for dcp in $(pgrep -f -- "--monitor $apphost( |\$)" || true); do
      started+=("$dcp" $(descendants "$dcp"))
    done
  fi
}

# SIGTERM to the AppHost (Ctrl+C would do the same); it stops DCP, which stops the dashboard and every service.
stop() {
  [[ -z "$runner" ]] && return 0
  collect
  if [[ -n "$apphost" ]]; then kill -TERM "$apphost" 2>/dev/null || true; else kill -TERM "$runner" 2>/dev/null || true; fi
  local deadline=$((SECONDS + 60))
  while [[ $SECONDS -lt $deadline && -n "$(alive "$runner" "${started[@]}")" ]]; do sleep 0.2; done
  local left=($(alive "$runner" "${started[@]}"))
  if [[ ${#left[@]} -gt 0 ]]; then
    echo "  LEFT RUNNING 60 s after SIGTERM, killed: $(for p in "${left[@]}"; do tr '\0' ' ' < "/proc/$p/cmdline" | cut -c1-100; echo; done)" >&2
    kill -KILL "${left[@]}" 2>/dev/null || true
    leftovers=$((leftovers + ${#left[@]}))
  fi
  wait "$runner" 2>/dev/null || true
  runner='' apphost=''
}

cleanup() {
  stop
  if [[ $keep -eq 0 ]]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cd "$root"
if [[ $build -eq 1 ]]; then
  dotnet build MtlsAspire.AppHost/MtlsAspire.AppHost.csproj -v q -nologo | grep -E "error|Warn|Elapsed" || true
fi

echo "cold start: dotnet run --no-build --project MtlsAspire.AppHost -- --state-dir <new> until \"$marker\"; $runs starts; load $(cut -d' ' -f1-3 /proc/loadavg)"
times=() leftovers=0
for i in $(seq 1 "$runs"); do
  log="$work/run-$i.log"
  t0=$(date +%s.%N)
  # The launch profile's settings, on ports the OS picks (so that another app on this machine does not collide).
  ASPNETCORE_ENVIRONMENT=Development DOTNET_ENVIRONMENT=Development ASPIRE_ALLOW_UNSECURED_TRANSPORT=true \
    ASPNETCORE_URLS=http://127.0.0.1:0 ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL=http://127.0.0.1:0 ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL=http://127.0.0.1:0 \
    dotnet run --no-build --no-launch-profile --project MtlsAspire.AppHost -- --state-dir "$work/state-$i" >"$log" 2>&1 &
  runner=$!
  ready=0
  while [[ $(echo "$(date +%s.%N) - $t0 < $timeout" | bc) -eq 1 ]]; do
    [[ -z "$apphost" ]] && apphost=$(for p in $(descendants "$runner"); do tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q 'MtlsAspire.AppHost' && echo "$p"; done | head -1)
    if grep -q "$marker" "$log"; then ready=1; break; fi
    kill -0 "$runner" 2>/dev/null || break
    sleep 0.1
  done
  t1=$(date +%s.%N)
  if [[ $ready -ne 1 ]]; then
    echo "start $i: not healthy within ${timeout} s (or the AppHost exited); its log: $log" >&2
    tail -20 "$log" >&2
    keep=1
    exit 1
  fi
  seconds=$(echo "$t1 - $t0" | bc)
  own=$(grep -o "$marker.*" "$log" | grep -oE '[0-9]+\.[0-9] s after' | cut -d' ' -f1)
  stop
  times+=("$seconds")
  printf 'start %2d: %6.1f s to every resource healthy (the AppHost counts %s s from its own start); load %s\n' "$i" "$seconds" "$own" "$(cut -d' ' -f1-3 /proc/loadavg)"
done

median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')
printf 'coldstart: median %.1f s over %d starts (min %.1f, max %.1f); processes left after stop: %d\n' "$median" "$runs" \
  "$(printf '%s\n' "${times[@]}" | sort -n | head -1)" "$(printf '%s\n' "${times[@]}" | sort -n | tail -1)" "$leftovers"
