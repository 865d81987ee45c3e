# cflags.sh - the compiler flags of the freestanding guests (sourced by
# build.sh here and by ../calib/guest/build.sh): static, non-PIE, general
# registers only (no SSE: the guests' code stays in the integer subset),
# no stack protector or unwind tables, no alignment padding, reproducible.
# shellcheck shell=bash disable=SC2034
CFLAGS=(-static -nostdlib -ffreestanding -fno-pie -no-pie -O2
	-mgeneral-regs-only -fno-tree-vectorize -fno-tree-loop-distribute-patterns
	-fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables
	-fcf-protection=none -fno-builtin -fno-ident
	-falign-functions=1 -falign-jumps=1 -falign-loops=1 -falign-labels=1 -Wall -Wextra -Werror
	-Wl,--build-id=none)
