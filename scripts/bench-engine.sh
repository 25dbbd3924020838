#!/usr/bin/env bash
# Rotation engine benchmark (issue 3): builds `rotor-bench` in release mode and runs
# `rotor-bench engine` twice against the in-process fake Vultr API (rate limit off):
#
#   1. 1,000 rotations with no injected latency          target: >= 200 rotations/s
#      (then again through the native Vultr adapter: the built-in vultr definition, which
#       credentials use, must reach >= 90 % of its rotations/s)
#   2. 10,000 queued jobs with 50 ms on every provider call
#        targets: wall time <= 1.5 x (provider calls per rotation x 50 ms x jobs / concurrency),
#                 peak RSS < 200 MB, GET /v1/jobs/{id} p99 < 10 ms while the jobs run
#
# Each run prints rotations/s, rotation latency percentiles (started -> finished), provider calls,
# GET /v1/jobs/{id} latency percentiles (two pollers, each about every 10 ms), and the peak RSS of
# the whole bench process (Rotor, the fake and the bench's clients: an upper bound for Rotor).
# A run fails if any rotation does not succeed or the fake ends with other than one key per
# credential. Misses of the targets are reported; BENCH_ENFORCE=1 makes them fail the script.
#
# Usage: scripts/bench-engine.sh
#        JOBS=1000 LATENCY_JOBS=10000 CONCURRENCY=64 scripts/bench-engine.sh
#        BENCH_POSTGRES=1 scripts/bench-engine.sh   (PostgreSQL store: starts a throwaway server from
#                                                  Debian's packages with its default durability, one
#                                                  new database per run)
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=${JOBS:-1000}
LATENCY_JOBS=${LATENCY_JOBS:-10000}
LATENCY_MS=${LATENCY_MS:-50}
CONCURRENCY=${CONCURRENCY:-64}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench-engine: %s\n' "$*" >&2; exit 1; }
for value in "$JOBS" "$LATENCY_JOBS" "$LATENCY_MS" "$CONCURRENCY"; do
    [[ $value =~ ^[1-9][0-9]*$ ]] || die "JOBS, LATENCY_JOBS, LATENCY_MS and CONCURRENCY must be positive integers"
done

log "building rotor (release)"
swift build -c release --product rotor-bench
bin="$(swift build -c release --show-bin-path)/rotor-bench"
[[ -x $bin ]] || die "no executable at $bin"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rotor-bench-engine.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

store_args=()
if [[ ${BENCH_POSTGRES:-0} == 1 ]]; then
    command -v psql >/dev/null || die "BENCH_POSTGRES=1 needs PostgreSQL (apt-get install postgresql)"
    eval "$(scripts/postgres-test-server.sh start --durable)"
    trap 'scripts/postgres-test-server.sh stop "$ROTOR_TEST_PG_DIR"; rm -rf "$tmp"' EXIT
fi

# run NAME ARGS...: runs one bench, shows its report, keeps it in $tmp/NAME.
run() {
    local name=$1
    shift
    if [[ ${BENCH_POSTGRES:-0} == 1 ]]; then
        # A new database per run: the bench names its credentials bench-0, bench-1, ...
        psql "${ROTOR_TEST_DATABASE_URL%/*}/rotor_test?sslmode=disable" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE bench_$name" >&2
        store_args=(--database-url "${ROTOR_TEST_DATABASE_URL%/*}/bench_$name?sslmode=disable")
    fi
    log "rotor-bench engine $*"
    "$bin" engine "$@" "${store_args[@]}" | tee "$tmp/$name"
    echo
}

run plain --jobs "$JOBS" --concurrency "$CONCURRENCY"
# The same run through the native Vultr adapter: the built-in definition (what credentials use)
# must stay within 10 % of it (issue 15).
run native --jobs "$JOBS" --concurrency "$CONCURRENCY" --native-vultr
run latency --jobs "$LATENCY_JOBS" --latency-ms "$LATENCY_MS" --concurrency "$CONCURRENCY"

# Figures from the reports.
field() { sed -n "s/$2/\1/p" "$tmp/$1" | head -n 1; }
plain_rate=$(field plain '^wall time [0-9.]* s: \([0-9.]*\) rotations\/s.*')
native_rate=$(field native '^wall time [0-9.]* s: \([0-9.]*\) rotations\/s.*')
definition_share=$(awk -v d="$plain_rate" -v n="$native_rate" 'BEGIN { printf "%.1f", 100 * d / n }')
ratio=$(field latency '.*measured\/ideal \([0-9.]*\).*')
rss=$(field latency '^peak RSS.*: \([0-9.]*\) MB$')
get_p99=$(field latency '^GET.*p99 \([0-9.]*\) ms.*')

echo "=== targets (2 CPUs: $(nproc) here) ==="
missed=0
check() { # check LABEL VALUE OP LIMIT
    if awk -v v="$2" -v l="$4" -v op="$3" 'BEGIN { exit !((op == ">=" && v >= l) || (op == "<=" && v <= l) || (op == "<" && v < l)) }'; then
        printf 'met:    %-48s %s (target %s %s)\n' "$1" "$2" "$3" "$4"
    else
        printf 'MISSED: %-48s %s (target %s %s)\n' "$1" "$2" "$3" "$4"
        missed=1
    fi
}
check "rotations/s, no latency" "${plain_rate:-0}" ">=" 200
check "vultr definition, % of the native adapter's rotations/s" "${definition_share:-0}" ">=" 90
check "wall time / ideal, ${LATENCY_MS} ms latency" "${ratio:-99}" "<=" 1.5
check "peak RSS (MB), $LATENCY_JOBS jobs" "${rss:-9999}" "<" 200
check "GET /v1/jobs/{id} p99 (ms) while running" "${get_p99:-9999}" "<" 10
if ((missed)) && [[ ${BENCH_ENFORCE:-0} == 1 ]]; then exit 1; fi
exit 0
