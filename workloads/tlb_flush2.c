//go:build ignore

// Guest source, built by build.sh: the constraint above stops the go command
// from rejecting C files in this non-cgo package.

/*
 * tlb_flush2 - will-it-scale's tlb_flush2 testcase, thread mode.
 *
 * will-it-scale tests/tlb_flush2.c ("TLB flush of anonymous memory
 * private mapping"), run by main.c built with -DTHREADS: every task
 * loops forever over
 *
 *	addr = mmap(NULL, 1 MiB, PROT_READ|PROT_WRITE, MAP_ANONYMOUS|MAP_PRIVATE);
 *	for each page: *page = 1; madvise(page, 4096, MADV_DONTNEED);
 *	               assert(*page == 0); (*iteration)++;
 *	munmap(addr, 1 MiB);
 *
 * and the harness samples the per-task iteration counts once a second
 * (per_thread_ops is their sum divided by the task count). Here each of
 * THREADS threads makes ITERATIONS passes of that loop over a private
 * PAGES-page mapping of its own (PAGES = 256 is the testcase's 1 MiB);
 * one op is one page stored, discarded and read back, as one
 * *iteration increment. The harness's tasks wait on one pipe to start
 * together; here each thread starts when it is created (main only
 * starts and joins them), a stagger of one clone per thread against
 * loops of a million cycles. (A futex start gate would put every thread
 * on one CPU in the model: each blocks before the next is created, so
 * newTask's least-loaded choice, kernelmodel/sched.go, picks the same
 * idle CPU for all, and the wake-ups queue there.)
 *
 * Report: each thread reads the time-stamp counter (the model's cycle
 * clock) before its first pass and after its last; main then writes one
 * line per thread to fd 1,
 *
 *	emu-ops THREAD OPS CYCLES
 *
 * which emu turns into the emu_ops, emu_op_cycles and per_thread_ops
 * counters (workloads.ParseOps). This is the only output on success.
 *
 * BATCH_PAGES (default 1, the testcase) is how many consecutive pages
 * are stored before one madvise discards them all; tlb_flush2_lru.c
 * sets it above the lru_add pagevec size.
 *
 * AWAY_OPS (default 0: off; tlb_flush2_away.c sets it) makes every CPU
 * leave the mm and come back while the test runs, as the CPUs of the
 * LKP robot's run did (a neighbour process, see neighbours() below):
 * each thread calls sched_yield after every AWAY_OPS ops, and the CPU
 * runs a task of another process for AWAY_CYCLES TSC cycles before it
 * yields back.
 *
 * Kernel paths exercised: mmap_region; per op the write fault
 * do_anonymous_page -> lru_cache_add (this CPU's lru_add pagevec),
 * madvise_dontneed_single_vma -> lru_add_drain, zap_page_range under
 * mmap_read_lock with an mmu_gather (tlb_finish_mmu ->
 * flush_tlb_mm_range of the batch, IPIs to the other CPUs of mm_cpumask:
 * every thread shares the mm, whichever mapping it uses), the read-back
 * maps the zero page (do_anonymous_page, read); then munmap ->
 * unmap_region of the zero-page PTEs and the page tables
 * (freed_tables: the flush reaches lazy CPUs too).
 */
#include "rt.h"

#ifndef BATCH_PAGES
#define BATCH_PAGES 1
#endif
#ifndef AWAY_OPS
#define AWAY_OPS 0
#endif
#ifndef AWAY_CYCLES
#define AWAY_CYCLES 0
#endif

struct task {
	u64 pages;
	u64 iterations;
	u64 ops;    /* out: pages discarded, will-it-scale's *iteration */
	u64 cycles; /* out: TSC cycles from the first pass to the end of the last */
};

static struct task tasks[MAX_THREADS];
static struct thread *threads[MAX_THREADS];

/* rdtsc: the vCPU's cycle clock in the model (SDM Vol. 2B, RDTSC). */
static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (u64)hi << 32 | lo;
}

static void testcase(void *arg)
{
	struct task *t = (struct task *)arg;
	u64 it, pg, i, n, t0;

	t0 = rdtsc();
	for (it = 0; it < t->iterations; it++) {
		volatile u8 *addr = (volatile u8 *)map_anon(t->pages);
		for (pg = 0; pg < t->pages; pg += n) {
			volatile u8 *b = addr + pg * PAGE_SIZE;
			n = t->pages - pg < BATCH_PAGES ? t->pages - pg : BATCH_PAGES;
			for (i = 0; i < n; i++)
				b[i * PAGE_SIZE] = 1;
			check_sys(sys_madvise((void *)b, n * PAGE_SIZE, MADV_DONTNEED), "madvise");
			for (i = 0; i < n; i++)
				if (b[i * PAGE_SIZE] != 0)
					die("byte not zero after MADV_DONTNEED", b[i * PAGE_SIZE]);
			t->ops += n;
#if AWAY_OPS
			if (t->ops % AWAY_OPS == 0)
				sys_sched_yield(); /* the CPU runs the neighbour (another mm) */
#endif
		}
		check_sys(sys_munmap((void *)addr, t->pages * PAGE_SIZE), "munmap");
	}
	t->cycles = rdtsc() - t0;
}

/*
 * The neighbour process (AWAY_OPS > 0): forked once the test threads run,
 * one thread per CPU (the model places a new task on the least loaded CPU,
 * lowest id on ties, kernelmodel/sched.go newTask; THREADS + 1 of them
 * put one beside every test thread, and one where main waits). Each spins
 * for AWAY_CYCLES TSC cycles and yields, until main raises *away_stop
 * (a MAP_SHARED page, so both processes see it). A CPU that switches to
 * it leaves the test's mm (switch_mm_irqs_off) and comes back at the
 * test thread's next turn: on the LKP robot's 104-CPU machine the CPUs
 * left the mm when a thread slept on mmap_lock (≈ 0.9 context switches
 * per op, 44 % idle; see README "Published results reproduced").
 */
#if AWAY_OPS
#define MAP_SHARED_ 0x01
static volatile u64 *away_stop;

static void neighbour(void *arg)
{
	u64 t0;

	(void)arg;
	while (!__atomic_load_n(away_stop, __ATOMIC_ACQUIRE)) {
		t0 = rdtsc();
		while (rdtsc() - t0 < AWAY_CYCLES)
			;
		sys_sched_yield();
	}
}

/* neighbours forks the neighbour process and returns its pid (in main). */
static long neighbours(u64 n)
{
	static struct thread *nb[MAX_THREADS + 1];
	long pid;
	u64 i;

	pid = check_sys(sys_fork(), "fork");
	if (pid != 0)
		return pid;
	for (i = 0; i < n; i++)
		nb[i] = thread_create(neighbour, NULL);
	for (i = 0; i < n; i++)
		thread_join(nb[i]);
	sys_exit_group(0);
}
#endif

/* put_u64 appends v in decimal at p and returns the end. */
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

static char *put_str(char *p, const char *s)
{
	while (*s)
		*p++ = *s++;
	return p;
}

/* report writes "emu-ops THREAD OPS CYCLES\n" for thread i to fd 1. */
static void report(u64 i)
{
	char line[96], *p = line;

	p = put_str(p, "emu-ops ");
	p = put_u64(p, i);
	*p++ = ' ';
	p = put_u64(p, tasks[i].ops);
	*p++ = ' ';
	p = put_u64(p, tasks[i].cycles);
	*p++ = '\n';
	if (sys_write(1, line, (size_t)(p - line)) != p - line)
		die("write report", -1);
}

int main(int argc, char **argv)
{
	struct params p;
	u64 i;
#if AWAY_OPS
	long pid;
	int status = 0;
#endif

	parse_params(argc, argv, &p);
#if AWAY_OPS
	{
		away_stop = (volatile u64 *)sys_mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
						     MAP_SHARED_ | MAP_ANONYMOUS, -1, 0);
		check_sys((long)away_stop, "mmap shared");
		*away_stop = 0; /* present before fork: the child's PTE maps the same page */
	}
#endif
	for (i = 0; i < p.threads; i++) {
		tasks[i].pages = p.pages;
		tasks[i].iterations = p.iterations;
		threads[i] = thread_create(testcase, &tasks[i]);
	}
#if AWAY_OPS
	pid = neighbours(p.threads + 1);
#endif
	for (i = 0; i < p.threads; i++)
		thread_join(threads[i]);
#if AWAY_OPS
	__atomic_store_n(away_stop, 1, __ATOMIC_RELEASE);
	if (sys_wait4((int)pid, &status, 0, NULL) != pid || status != 0)
		die("wait4 neighbour", status);
#endif
	for (i = 0; i < p.threads; i++)
		report(i);
	return 0;
}
