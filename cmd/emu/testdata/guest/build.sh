#!/usr/bin/env bash
# build.sh - compile guest.c into guest.elf, the static, non-PIE guest of
# cmd/emu's tests (run by `go generate ./cmd/emu`; needs gcc).
set -euo pipefail
cd "$(dirname "$0")"
export LC_ALL=C
${CC:-gcc} -static -nostdlib -ffreestanding -fno-pie -no-pie -O2 -mgeneral-regs-only \
	-fno-tree-vectorize -fno-tree-loop-distribute-patterns -fno-stack-protector \
	-fno-asynchronous-unwind-tables -fno-unwind-tables -fcf-protection=none -fno-builtin \
	-fno-ident -Wall -Wextra -Werror -Wl,--build-id=none -o guest.elf guest.c
