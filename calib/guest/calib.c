//go:build ignore

// Guest source, built by build.sh: the constraint above stops the go command
// from rejecting C files in this non-cgo package.

/*
 * calib - freestanding ports of the published TLB-shootdown
 * microbenchmarks that `emu calibrate` reproduces.
 *
 * Usage: calib MODE THREADS PAGES ITERATIONS
 *
 * THREADS-1 helper threads spin on their own page of the same mm until
 * the measurement ends, so their CPUs stay in mm_cpumask and are not
 * lazy (every flush of the measured range is a shootdown to each of
 * them), as in the benchmarks the figures come from. The main thread
 * runs ITERATIONS/8 warm-up rounds, then ITERATIONS timed rounds, timed
 * with RDTSC (the vCPU's cycle clock), and prints one line to stderr:
 * "MODE A B" with A and B the summed cycles of the two timed parts.
 *
 * Modes:
 *   madv   MADV_DONTNEED of PAGES pages, then a write to each (the
 *          re-fault: do_anonymous_page allocates and zeroes a page).
 *          A = madvise + touch, B = madvise alone.
 *   madvr  the same with a read of each page (the re-fault maps the
 *          zero page). After
 *          Nadav Amit's microbenchmark in "[RFC PATCH 0/6] x86/mm: Flush
 *          remote and local TLBs concurrently", LKML, 25 May 2019.
 *   mprot  mprotect(PROT_READ), mprotect(PROT_READ|PROT_WRITE), write
 *          one byte, on PAGES pages inside a mapping one page larger on
 *          each side (the first call splits the VMA in three, the second
 *          merges it back). A = the PROT_READ call, B = the
 *          PROT_READ|WRITE call.
 *          After Nadav Amit, "[RFC PATCH 00/14] mm: relaxed TLB flushes
 *          and other optimi.", LKML, 18 Jul 2022.
 */
#include "rt.h"

static volatile int done;
static volatile u64 ready;

static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

static void spinner(void *arg)
{
	volatile u64 *p = (volatile u64 *)arg;
	__atomic_fetch_add(&ready, 1, __ATOMIC_SEQ_CST);
	while (!done)
		*p = *p + 1;
}

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static void touch(volatile u8 *b, u64 pages)
{
	u64 i;
	for (i = 0; i < pages; i++)
		b[i * PAGE_SIZE] = 1;
}

static u8 sink;

static void touch_read(volatile u8 *b, u64 pages)
{
	u64 i;
	u8 s = 0;
	for (i = 0; i < pages; i++)
		s += b[i * PAGE_SIZE];
	sink = s;
}

int main(int argc, char **argv)
{
	static struct thread *threads[64];
	u64 nthreads, pages, iters, warm, i, a = 0, b = 0;
	volatile u8 *base;
	char *helpers;
	int mode;

	if (argc != 5 || parse_u64(argv[2], &nthreads) || parse_u64(argv[3], &pages) ||
	    parse_u64(argv[4], &iters)) {
		rt_puts("calib: usage: madv|madvr|mprot THREADS PAGES ITERATIONS\n");
		sys_exit_group(2);
	}
	if (streq(argv[1], "madv"))
		mode = 0;
	else if (streq(argv[1], "mprot"))
		mode = 1;
	else if (streq(argv[1], "madvr"))
		mode = 2;
	else
		die("unknown MODE (valid: madv, madvr, mprot)", 0);
	if (nthreads < 1 || nthreads > 64)
		die("THREADS out of range [1, 64]", (long)nthreads);
	if (pages < 1 || pages > 4096)
		die("PAGES out of range [1, 4096]", (long)pages);
	if (iters < 1 || iters > 1000000)
		die("ITERATIONS out of range [1, 1000000]", (long)iters);

	if (mode == 1) {
		base = (volatile u8 *)map_anon(pages + 2) + PAGE_SIZE;
		touch(base - PAGE_SIZE, pages + 2);
	} else {
		base = (volatile u8 *)map_anon(pages);
	}
	helpers = (char *)map_anon(nthreads);
	touch(base, pages);
	for (i = 1; i < nthreads; i++)
		threads[i] = thread_create(spinner, helpers + i * PAGE_SIZE);
	while (__atomic_load_n(&ready, __ATOMIC_SEQ_CST) != nthreads - 1)
		;

	warm = iters / 8;
	for (i = 0; i < warm + iters; i++) {
		u64 t0, t1, t2;
		if (mode == 0 || mode == 2) {
			t0 = rdtsc();
			check_sys(sys_madvise((void *)base, pages * PAGE_SIZE, MADV_DONTNEED), "madvise");
			t1 = rdtsc();
			if (mode == 0)
				touch(base, pages);
			else
				touch_read(base, pages);
			t2 = rdtsc();
			if (i >= warm) {
				a += t2 - t0;
				b += t1 - t0;
			}
		} else {
			t0 = rdtsc();
			check_sys(sys_mprotect((void *)base, pages * PAGE_SIZE, PROT_READ), "mprotect");
			t1 = rdtsc();
			check_sys(sys_mprotect((void *)base, pages * PAGE_SIZE, PROT_READ | PROT_WRITE), "mprotect");
			t2 = rdtsc();
			touch(base, pages);
			if (i >= warm) {
				a += t1 - t0;
				b += t2 - t1;
			}
		}
	}
	done = 1;
	for (i = 1; i < nthreads; i++)
		thread_join(threads[i]);
	rt_puts(argv[1]);
	rt_puts(" ");
	rt_print_u64(a);
	rt_puts(" ");
	rt_print_u64(b);
	rt_puts("\n");
	return 0;
}
