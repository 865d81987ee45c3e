#!/usr/bin/env bash
# soak.sh: a long reliability run, not part of CI.
#
#   bench/soak.sh [-fuzztime DURATION] [-grid DURATION] [-seed N]
#
# 1. Runs every fuzz target of the module (go test -list '^Fuzz' ./...) for
#    -fuzztime each (default 60s) and counts executions and crashers (a
#    failing target; its input is left in the package's testdata/fuzz/).
# 2. For -grid (default 5m) of wall time, draws a random workload × variant
#    (kernel, patch, -pti, -thp, -flush-order) × seed × GOMAXPROCS, runs it
#    twice at two different GOMAXPROCS values and compares the JSON results
#    byte for byte (they must be identical: the emulator is deterministic).
#
# It prints executions, crashers and mismatches, and exits 1 if there was
# any crasher or mismatch. Run it niced on a shared machine:
#
#   nice -n 19 bench/soak.sh -fuzztime 2m -grid 10m
set -u

fuzztime=60s
grid=5m
seed=$$
while [ $# -gt 0 ]; do
	case "$1" in
	-fuzztime) fuzztime=$2; shift 2 ;;
	-grid) grid=$2; shift 2 ;;
	-seed) seed=$2; shift 2 ;;
	*) echo "usage: $0 [-fuzztime DURATION] [-grid DURATION] [-seed N]" >&2; exit 2 ;;
	esac
done

cd "$(dirname "$0")/.." || exit 2
work=$(mktemp -d) || exit 2
trap 'rm -rf "$work"' EXIT

# seconds converts a Go-style duration (90s, 2m, 1h) to seconds.
seconds() {
	case "$1" in
	*h) echo $((${1%h} * 3600)) ;;
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}

total_execs=0
crashers=0
targets=0
echo "== fuzz: every target for $fuzztime"
go test -list '^Fuzz' ./... 2>/dev/null | awk '
	/^Fuzz/ { names = names " " $1; next }
	/^ok/ { if (names != "") print $2 names; names = "" }
' >"$work/targets"
while read -r pkg names; do
	for name in $names; do
		targets=$((targets + 1))
		log="$work/fuzz.log"
		if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
			status=ok
		else
			status=CRASH
			crashers=$((crashers + 1))
		fi
		# The last progress line carries the total: "fuzz: elapsed: 60s, execs: 12345 (205/sec), ..."
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | awk '{print $2}')
		execs=${execs:-0}
		total_execs=$((total_execs + execs))
		printf '%-5s %-40s %-18s %12d execs\n' "$status" "$pkg" "$name" "$execs"
		if [ "$status" = CRASH ]; then
			grep -E -- '--- FAIL|Failing input|panic:|testdata/fuzz' "$log" | head -5 | sed 's/^/      /'
		fi
	done
done <"$work/targets"

echo "== grid: random workload × variant × seed × GOMAXPROCS for $grid"
go build -o "$work/emu" ./cmd/emu || exit 2
RANDOM=$seed
workloads=(clear_refs fork_cow madvise mprotect munmap_unrelated page_fault uffd_wp)
variants=(
	"-kernel 5.10"
	"-kernel 5.10-stable"
	"-patch clear-refs-flush"
	"-patch pte-fault-flush-pending"
	"-patch clear-refs-flush,pte-fault-flush-pending"
	"-patch clear-refs-mmap-write-lock"
	"-patch uffd-wp-flush-pending"
	"-pti"
	"-thp"
	"-flush-order concurrent"
	"-pcid=false"
	"-tlb zen4"
)
procs=(1 2 3 4 8)
runs=0
mismatches=0
failures=0
end=$((SECONDS + $(seconds "$grid")))
while [ $SECONDS -lt $end ]; do
	w=${workloads[RANDOM % ${#workloads[@]}]}
	v=${variants[RANDOM % ${#variants[@]}]}
	s=$((RANDOM % 1000 + 1))
	cpus=$((RANDOM % 4 + 2))
	p1=${procs[RANDOM % ${#procs[@]}]}
	p2=${procs[RANDOM % ${#procs[@]}]}
	[ "$p1" = "$p2" ] && p2=$((p1 % 8 + 1))
	# shellcheck disable=SC2086 # $v is a list of flags
	set -- -q -format json -workload "$w" -cpus "$cpus" -seed "$s" $v
	GOMAXPROCS=$p1 "$work/emu" "$@" >"$work/a.json" 2>"$work/a.err"
	c1=$?
	GOMAXPROCS=$p2 "$work/emu" "$@" >"$work/b.json" 2>"$work/b.err"
	c2=$?
	runs=$((runs + 2))
	if [ $c1 -ne 0 ] || [ $c2 -ne 0 ]; then
		failures=$((failures + 1))
		echo "FAIL  exit $c1/$c2: emu $* ($(head -1 "$work/a.err"))"
	fi
	if [ $c1 != $c2 ] || ! cmp -s "$work/a.json" "$work/b.json"; then
		mismatches=$((mismatches + 1))
		echo "DIFF  GOMAXPROCS=$p1 vs $p2: emu $*"
		# Name the first counter (or section) that differs.
		line=$(cmp "$work/a.json" "$work/b.json" 2>/dev/null | sed -n 's/.* line \([0-9]*\)$/\1/p')
		if [ -n "$line" ]; then
			where=$(head -n "$line" "$work/a.json" | grep -E '"event"|^  "[a-z_]*":' | tail -1 | tr -s ' ')
			echo "      first difference at line $line, in$where"
		fi
	fi
done

echo "== soak: $targets fuzz targets, $total_execs executions, $crashers crashers; $runs grid runs, $mismatches mismatches, $failures errors (grid seed $seed)"
[ $crashers -eq 0 ] && [ $mismatches -eq 0 ] && [ $failures -eq 0 ]
