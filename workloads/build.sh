#!/usr/bin/env bash
# build.sh - compile the guest workloads into static, non-PIE x86-64 ELFs.
#
# Usage: bash build.sh [OUTDIR]   (default OUTDIR: bin; run by `go generate ./workloads`)
#
# Writes OUTDIR/NAME.elf for every program, OUTDIR/SOURCES.sha256 (the
# sha256 of the concatenation, in sorted file-name order, of all *.c and *.h,
# build.sh and cflags.sh here) and OUTDIR/TOOLCHAIN (gcc and ld versions, so that
# the reproducibility test only compares bytes built by the same tools).
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-bin}
mkdir -p "$out"
export LC_ALL=C

CC=${CC:-gcc}
# shellcheck source=cflags.sh
source cflags.sh

progs=(clear_refs clear_refs_predump fork_cow madvise madvise_ipi mprotect munmap_unrelated page_fault tlb_flush2 tlb_flush2_away tlb_flush2_lru uffd_wp)
for p in "${progs[@]}"; do
	"$CC" "${CFLAGS[@]}" -o "$out/$p.elf" "$p.c" rt.c
done

# The source hash (see workloads_test.go): sorted names, contents concatenated.
# shellcheck disable=SC2012
ls -1 -- *.c *.h build.sh cflags.sh | sort | while read -r f; do cat -- "$f"; done |
	sha256sum | cut -d' ' -f1 >"$out/SOURCES.sha256"
{
	"$CC" --version | head -n1
	ld --version | head -n1
} >"$out/TOOLCHAIN"
