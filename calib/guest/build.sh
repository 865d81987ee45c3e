#!/usr/bin/env bash
# build.sh - compile the calibration guest into a static, non-PIE x86-64 ELF
# with the workloads' runtime and flags (../../workloads/build.sh).
#
# Usage: bash build.sh   (run by `go generate ./calib`)
set -euo pipefail
cd "$(dirname "$0")"
export LC_ALL=C
CC=${CC:-gcc}
# shellcheck source=../../workloads/cflags.sh
source ../../workloads/cflags.sh
"$CC" "${CFLAGS[@]}" -I../../workloads -o calib.elf calib.c ../../workloads/rt.c
# The source hash (calib_test.go TestGuestSources).
cat calib.c build.sh ../../workloads/cflags.sh ../../workloads/rt.c ../../workloads/rt.h | sha256sum | cut -d' ' -f1 >SOURCES.sha256
