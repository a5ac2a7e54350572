#!/usr/bin/env bash
# Fuzzes every parser that reads bytes from outside (fuzz/MtlsAspire.Fuzz) with SharpFuzz under Debian's AFL++.
#
#   bash fuzz/run.sh [--execs N] [--targets a,b,...] [--timeout-per-target SECONDS] [--keep]
#
#   --execs N              stop each target after about N executions (afl-fuzz -E; default 1000000)
#   --targets a,b          only these targets (default: every one `MtlsAspire.Fuzz list` names)
#   --timeout-per-target S also stop a target after S seconds (afl-fuzz -V; default: none)
#   --keep                 keep the work directory (tools, instrumented build, seeds, AFL output) and say where
#
# What it does: installs afl++ with apt-get when afl-fuzz is missing; installs SharpFuzz.CommandLine 2.3.0 into the
# work directory (dotnet tool install --tool-path, not globally); publishes the harness in Release into the work
# directory and instruments only the assemblies holding the parsers (MtlsAspire.Verification, and LegacyLedger's
# ForwardedClientCert class), never the framework; writes seeds made by a fresh throwaway PKI; then runs afl-fuzz
# once per target, one at a time. It prints one line per target (executions, exec/s, crashes, hangs), copies crashing
# inputs to fuzz-crashes/<target>/ under the current directory with each one's exception, and exits 1 when any
# target crashed (2 on a setup error). Every process it starts is stopped by pid on exit; the work directory is
# removed unless --keep. The seed PKI's private keys live only in the work directory, and in a credentials crash
# input copied to fuzz-crashes/ (git-ignored): a throwaway key, still not one to publish.
set -euo pipefail

# The whole script is one function, parsed before it runs: bash reads a script as it goes, so editing this file
# under a long run would otherwise change what the run executes next.
main() {

  execs=1000000
  targets=""
  seconds=""
  keep=false
  while [ $# -gt 0 ]; do
    case "$1" in
      --execs) execs="$2"; shift 2 ;;
      --targets) targets="$2"; shift 2 ;;
      --timeout-per-target) seconds="$2"; shift 2 ;;
      --keep) keep=true; shift ;;
      -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
      *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
  done

  repo="$(cd "$(dirname "$0")/.." && pwd)"
  crashes_dir="$PWD/fuzz-crashes"
  work="$(mktemp -d /tmp/mtls-fuzz.XXXXXX)"
  export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

  afl_pid=""
  cleanup() {
    # Stop what this script started: the afl-fuzz of the current target, then any harness process left from this
    # run's own build (SharpFuzz's out-of-process child), each by pid.
    if [ -n "$afl_pid" ] && kill -0 "$afl_pid" 2>/dev/null; then
      kill "$afl_pid" 2>/dev/null || true
      wait "$afl_pid" 2>/dev/null || true
    fi
    for pid in $(pgrep -f -- "$work/[a-z]*/MtlsAspire.Fuzz.dll" || true); do
      kill "$pid" 2>/dev/null || true
    done
    if $keep; then
      echo "run.sh: work directory kept: $work"
    else
      rm -rf "$work"
    fi
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM

  if ! command -v afl-fuzz >/dev/null 2>&1; then
    echo "run.sh: installing afl++"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends afl++ >/dev/null
  fi

  echo "run.sh: installing SharpFuzz.CommandLine 2.3.0 into $work/tools"
  dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$work/tools" >/dev/null

  echo "run.sh: publishing the harness (Release) and instrumenting the parsers' assemblies"
  dotnet publish "$repo/fuzz/MtlsAspire.Fuzz/MtlsAspire.Fuzz.csproj" -c Release -o "$work/bin" --nologo -v quiet >/dev/null
  # Instrumented code runs only under the fuzzer (it writes AFL's trace bits): seeds and replays use a plain copy.
  cp -r "$work/bin" "$work/plain"
  "$work/tools/sharpfuzz" "$work/bin/MtlsAspire.Verification.dll"
  "$work/tools/sharpfuzz" "$work/bin/LegacyLedger.dll" MtlsAspire.LegacyLedger.ForwardedClientCert

  harness=(dotnet "$work/bin/MtlsAspire.Fuzz.dll")
  plain=(dotnet "$work/plain/MtlsAspire.Fuzz.dll")
  "${plain[@]}" seeds "$work/seeds"
  [ -n "$targets" ] || targets="$("${plain[@]}" list | paste -sd, -)"

  # As root in a VM: no CPU governor to check, no core_pattern to change, no terminal; the harness is a dotnet process
  # (its instrumentation is in the IL SharpFuzz rewrote, not in the dotnet binary AFL checks), and .NET takes a few
  # seconds to start the fork server.
  export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_SKIP_BIN_CHECK=1 \
    AFL_FORKSRV_INIT_TMOUT=60000 AFL_NO_AFFINITY=1 AFL_QUIET=1

  stat() { awk -v k="$1" -F' *: *' '$1 == k { print $2 }' "$2"; }

  status=0
  summary=()
  IFS=, read -ra names <<< "$targets"
  for target in "${names[@]}"; do
    out="$work/out/$target"
    mkdir -p "$out"
    echo "run.sh: fuzzing $target ($execs executions${seconds:+, at most ${seconds}s})"
    afl-fuzz -i "$work/seeds/$target" -o "$out" -E "$execs" ${seconds:+-V "$seconds"} -t 5000 -m none \
      -- "${harness[@]}" run "$target" "$work/seeds/issuers.pem" >"$work/afl-$target.log" 2>&1 &
    afl_pid=$!
    if ! wait "$afl_pid"; then
      echo "run.sh: afl-fuzz failed for $target; its log:" >&2
      tail -30 "$work/afl-$target.log" >&2
      status=2
    fi
    afl_pid=""

    stats="$out/default/fuzzer_stats"
    if [ -f "$stats" ]; then
      done_execs="$(stat execs_done "$stats")"
      elapsed=$(( $(stat last_update "$stats") - $(stat start_time "$stats") ))
      crashes="$(stat saved_crashes "$stats")"
      hangs="$(stat saved_hangs "$stats")"
      rate="$(awk -v e="$done_execs" -v t="$elapsed" 'BEGIN { printf "%.0f", (t > 0 ? e / t : 0) }')"
    else
      done_execs=0 rate=0 crashes="?" hangs="?"
    fi

    if [ "$crashes" != "0" ]; then
      status=1
      mkdir -p "$crashes_dir/$target"
      find "$out/default/crashes" -type f -name 'id:*' -exec cp {} "$crashes_dir/$target/" \; 2>/dev/null || true
      "${plain[@]}" replay "$target" "$work/seeds/issuers.pem" "$crashes_dir/$target"/id:* >"$crashes_dir/$target/exceptions.txt" 2>&1 || true
      echo "run.sh: $target crashed; inputs and exceptions in $crashes_dir/$target"
    fi
    summary+=("$(printf '%-18s executions %9s  exec/s %6s  crashes %3s  hangs %3s' "$target" "$done_execs" "$rate" "$crashes" "$hangs")")
    for pid in $(pgrep -f -- "$work/[a-z]*/MtlsAspire.Fuzz.dll" || true); do
      kill "$pid" 2>/dev/null || true
    done
  done

  echo
  printf '%s\n' "${summary[@]}"
  exit "$status"
}

main "$@"
