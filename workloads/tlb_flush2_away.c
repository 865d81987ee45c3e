//go:build ignore

// Guest source, built by build.sh: the constraint above stops the go command
// from rejecting C files in this non-cgo package.

/*
 * tlb_flush2_away - tlb_flush2 whose CPUs leave the mm and come back.
 *
 * The loop of tlb_flush2.c, and a neighbour process with one spinning
 * thread per CPU: every AWAY_OPS = 2 ops each test thread yields, and its
 * CPU runs the neighbour (another mm) for AWAY_CYCLES = 16,000 TSC cycles
 * before it comes back. This is the shape of the LKP robot's run of
 * tlb_flush2 in thread mode on lkp-skl-fpga01 (104 CPUs, 104 threads;
 * Msg-Id 202411282207.6bd28eae-lkp@intel.com), where the CPUs left the
 * mm whenever a thread slept on mmap_lock: 695,438 context switches per
 * second against 756,738 ops per second (≈ 0.46 departures per op, one
 * every 2 ops) and 44.6 % idle, so the CPU is away 0.446 / 0.554 of the
 * time it runs the test: ≈ 16,000 cycles per 2 ops of ≈ 10,000 cycles
 * each (emu's tlb_flush2 op at 8 CPUs, 5.10-stable). A CPU that left
 * stays in mm_cpumask with 209954cbc7d0 "x86/mm/tlb: Update mm_cpumask
 * lazily" and receives the next flush IPI of the mm; with 6db2526c1d69
 * "x86/mm/tlb: Only trim the mm_cpumask once a second" should_flush_tlb
 * skips it (except munmap's freed_tables flush and once a second).
 * Ops, the report on fd 1 and the parameters are tlb_flush2's.
 */
#define AWAY_OPS 2
#define AWAY_CYCLES 16000
#include "tlb_flush2.c"
