#!/usr/bin/env bash
# build.sh - compile the guest workloads into static, non-PIE x86-64 ELFs.
#
# Usage: bash build.sh [OUTDIR]   (default OUTDIR: bin; run by `go generate ./workloads`)
#
# Writes OUTDIR/NAME.elf for every program, OUTDIR/SOURCES.sha256 (the
# sha256 of the concatenation, in sorted file-name order, of all *.c, *.h
# and build.sh here) and OUTDIR/TOOLCHAIN (gcc and ld versions, so that
# the reproducibility test only compares bytes built by the same tools).
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-bin}
mkdir -p "$out"
export LC_ALL=C

CC=${CC:-gcc}
CFLAGS=(-static -nostdlib -ffreestanding -fno-pie -no-pie -O2
	-mgeneral-regs-only -fno-tree-vectorize -fno-tree-loop-distribute-patterns
	-fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables
	-fcf-protection=none -fno-builtin -fno-ident
	-falign-functions=1 -falign-jumps=1 -falign-loops=1 -falign-labels=1 -Wall -Wextra -Werror
	-Wl,--build-id=none)

progs=(clear_refs fork_cow madvise mprotect munmap_unrelated page_fault uffd_wp)
for p in "${progs[@]}"; do
	"$CC" "${CFLAGS[@]}" -o "$out/$p.elf" "$p.c" rt.c
done

# The source hash (see workloads_test.go): sorted names, contents concatenated.
# shellcheck disable=SC2012
ls -1 -- *.c *.h build.sh | sort | while read -r f; do cat -- "$f"; done |
	sha256sum | cut -d' ' -f1 >"$out/SOURCES.sha256"
{
	"$CC" --version | head -n1
	ld --version | head -n1
} >"$out/TOOLCHAIN"
