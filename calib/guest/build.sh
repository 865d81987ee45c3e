#!/usr/bin/env bash
# build.sh - compile the calibration guest into a static, non-PIE x86-64 ELF
# with the workloads' runtime and flags (../../workloads/build.sh).
#
# Usage: bash build.sh   (run by `go generate ./calib`)
set -euo pipefail
cd "$(dirname "$0")"
export LC_ALL=C
CC=${CC:-gcc}
CFLAGS=(-static -nostdlib -ffreestanding -fno-pie -no-pie -O2
	-mgeneral-regs-only -fno-tree-vectorize -fno-tree-loop-distribute-patterns
	-fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables
	-fcf-protection=none -fno-builtin -fno-ident
	-falign-functions=1 -falign-jumps=1 -falign-loops=1 -falign-labels=1 -Wall -Wextra -Werror
	-Wl,--build-id=none)
"$CC" "${CFLAGS[@]}" -I../../workloads -o calib.elf calib.c ../../workloads/rt.c
# The source hash (calib_test.go TestGuestSources).
cat calib.c build.sh ../../workloads/rt.c ../../workloads/rt.h | sha256sum | cut -d' ' -f1 >SOURCES.sha256
