#!/bin/bash
# bench/compare.sh: emulated MIPS of emu against native, valgrind
# (cachegrind) and qemu-x86_64 on the same static binary, CPU time
# (user+sys, as the shared machine makes wall time noisy), medians of
# RUNS alternating runs.
#
#   bench/compare.sh [ITERATIONS] [RUNS]     (defaults 4000, 3)
#
# Needs musl-gcc (musl-tools); valgrind and qemu-x86_64 (qemu-user) are
# measured when installed. The guest instruction count is emu's
# "instructions" counter (user-mode instructions retired), used for every
# tool's MIPS. Native and qemu runs, too short for the 10 ms resolution
# of time(1), run 10x the iterations and count a tenth of their time (the
# per-iteration work is constant). Prints one row per tool and its CPU time relative to
# cachegrind's (the issue's target: emu at most 2x).
set -euo pipefail
iters=${1:-4000}
runs=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v musl-gcc >/dev/null || { echo "compare.sh: needs musl-gcc (apt-get install musl-tools)" >&2; exit 2; }
musl-gcc -static -O2 -o "$tmp/compare" "$here/compare/compare.c"
(cd "$here/.." && go build -o "$tmp/emu" ./cmd/emu)

# cputime CMD...: user+sys seconds of one run (stdout discarded).
cputime() {
	/usr/bin/time -f '%U %S' -o "$tmp/t" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
	awk '{printf "%.3f\n", $1 + $2}' "$tmp/t"
}

inst=$("$tmp/emu" run -q -format json -cpus 1 -o "$tmp/r.json" "$tmp/compare" "$iters" >/dev/null 2>&1; \
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["counters"]["instructions"]["counter-value"])' "$tmp/r.json")

tools=(native "emu-cpus1" "emu-cpus2")
command -v valgrind >/dev/null && tools+=(cachegrind)
command -v qemu-x86_64 >/dev/null && tools+=(qemu)
for ((r = 0; r < runs; r++)); do
	for t in "${tools[@]}"; do
		case $t in
		native) cmd=("$tmp/compare" $((iters * 10))) ;;
		emu-cpus1) cmd=("$tmp/emu" run -q -cpus 1 "$tmp/compare" "$iters") ;;
		emu-cpus2) cmd=("$tmp/emu" run -q -cpus 2 "$tmp/compare" "$iters") ;;
		cachegrind) cmd=(valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$tmp/compare" "$iters") ;;
		qemu) cmd=(qemu-x86_64 "$tmp/compare" $((iters * 10))) ;;
		esac
		s=$(cputime "${cmd[@]}")
		case $t in native | qemu) s=$(awk -v s="$s" 'BEGIN { printf "%.4f", s / 10 }') ;; esac
		echo "$t $s" >>"$tmp/times"
	done
done
echo "compare.c, $iters iterations, $inst guest instructions; CPU s, median of $runs"
sort -k1,1 -k2n "$tmp/times" | awk -v inst="$inst" -v runs="$runs" '
	{ t[$1] = t[$1] " " $2; n[$1]++ }
	END {
		for (k in t) { split(substr(t[k], 2), a, " "); med[k] = a[int((n[k] + 1) / 2)] }
		printf "%-11s %9s %9s %12s\n", "tool", "CPU s", "MIPS", "x cachegrind"
		split("native qemu cachegrind emu-cpus1 emu-cpus2", order, " ")
		for (i = 1; i <= 5; i++) {
			k = order[i]
			if (!(k in med)) continue
			m = med[k] > 0 ? inst / med[k] / 1e6 : 0
			rel = ("cachegrind" in med && med["cachegrind"] > 0) ? sprintf("%.2f", med[k] / med["cachegrind"]) : "-"
			printf "%-11s %9.4f %9.0f %12s\n", k, med[k], m, rel
		}
	}'
