//go:build ignore

// Guest source, built by build.sh: the constraint above stops the go command
// from rejecting C files in this non-cgo package.

/*
 * madvise_ipi - Nadav Amit's 2019 shootdown microbenchmark as an ops
 * workload: one thread discards and re-reads one page, the others are
 * its IPI targets.
 *
 * After the benchmark of "[RFC PATCH 0/6] x86/mm: Flush remote and local
 * TLBs concurrently" (LKML, 25 May 2019, Msg-Id
 * 20190525082203.6531-1-namit@vmware.com; emu calibrate's S1-S5 rows,
 * calib/guest/calib.c mode madvr): thread 0 loops ITERATIONS times over
 * madvise(page, 4096, MADV_DONTNEED) of one page of a PAGES-page private
 * mapping followed by a read of it (the re-fault maps the zero page, so
 * the next madvise has a PTE to zap and a flush to send), the page
 * advancing round-robin; THREADS-1 helper threads spin on a page of their
 * own in the same mm until thread 0 is done, so their CPUs stay in
 * mm_cpumask and are not lazy: every madvise is a flush_tlb_mm_range with
 * one IPI per helper. One op is one madvise + read; thread 0 writes
 *
 *	emu-ops 0 OPS CYCLES
 *
 * to fd 1 (the helpers report nothing, so per_thread_ops is thread 0's
 * ops per emulated second: 1e9 / per_thread_ops is the ns per round the
 * benchmark printed).
 */
#include "rt.h"

struct helper {
	u64 page[PAGE_SIZE / 8];
};

static volatile int done;
static volatile u64 ready;
static struct helper helpers[MAX_THREADS];
static u64 ops, cycles;
static struct params prm;

static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (u64)hi << 32 | lo;
}

/* spinner keeps its CPU running the mm (not lazy) until thread 0 is done. */
static void spinner(void *arg)
{
	volatile u64 *p = ((struct helper *)arg)->page;

	atomic_fetch_add_u64((u64 *)&ready, 1);
	while (!done)
		p[0]++;
}

static void flusher(void *arg)
{
	volatile u8 *base = (volatile u8 *)map_anon(prm.pages);
	u64 i, pg = 0, t0;
	u8 sum = 0;

	(void)arg;
	while (atomic_load_u64((u64 *)&ready) < prm.threads - 1)
		;
	t0 = rdtsc();
	for (i = 0; i < prm.iterations; i++) {
		volatile u8 *b = base + pg * PAGE_SIZE;
		check_sys(sys_madvise((void *)b, PAGE_SIZE, MADV_DONTNEED), "madvise");
		sum += *b;
		pg = pg + 1 == prm.pages ? 0 : pg + 1;
	}
	cycles = rdtsc() - t0;
	ops = prm.iterations;
	if (sum != 0)
		die("byte not zero after MADV_DONTNEED", sum);
	done = 1;
}

static char *put_u64(char *p, u64 v)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

int main(int argc, char **argv)
{
	static struct thread *threads[MAX_THREADS];
	char line[96], *p = line;
	u64 i;

	parse_params(argc, argv, &prm);
	for (i = 1; i < prm.threads; i++)
		threads[i] = thread_create(spinner, &helpers[i]);
	threads[0] = thread_create(flusher, NULL);
	for (i = 0; i < prm.threads; i++)
		thread_join(threads[i]);
	for (const char *s = "emu-ops 0 "; *s; s++)
		*p++ = *s;
	p = put_u64(p, ops);
	*p++ = ' ';
	p = put_u64(p, cycles);
	*p++ = '\n';
	if (sys_write(1, line, (size_t)(p - line)) != p - line)
		die("write report", -1);
	return 0;
}
