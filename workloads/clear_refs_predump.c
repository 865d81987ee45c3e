//go:build ignore

// Guest source, built by build.sh: the constraint above stops the go command
// from rejecting C files in this non-cgo package.

/*
 * clear_refs_predump - soft-dirty tracking checked the way CRIU's
 * iterative pre-dump checks it: clear, let the task run, read
 * /proc/self/pagemap, and see which written pages pagemap says are clean.
 *
 * Models: CRIU's pre-dump loop (criu/mem.c: write "4" to
 * /proc/PID/clear_refs, let the task run, read /proc/PID/pagemap and copy
 * only the pages with PM_SOFT_DIRTY, bit 55) against writer threads that
 * keep storing into a small, TLB-resident working set. A page written
 * during an interval whose pagemap entry reads present and not
 * soft-dirty is a page the next pre-dump would not copy: one lost page.
 *
 * Kernel paths exercised: clear_refs_write -> clear_soft_dirty (in v5.10
 * under mmap_read_lock with tlb_flush_pending raised and, before
 * 912efa17e512 "mm: proc: Invalidate TLB after clearing soft-dirty page
 * state", no TLB flush), stores through the writers' stale writable dTLB
 * entries that set no soft-dirty bit, and pagemap_read ->
 * pagemap_pmd_range -> pte_to_pagemap_entry (fs/proc/task_mmu.c).
 *
 * Arguments: THREADS writer threads (beside main), each with its own set
 * of PAGES pages (default 32: with the stack and code pages the set fits
 * a 64-entry L1 dTLB), ITERATIONS clears, SEED (picks the word of each
 * page a writer stores to), and an optional fifth INTERVAL: iterations of
 * main's register busy loop between a clear and the pagemap read
 * (default 20000).
 *
 * Protocol. Writer i owns pages [i*PAGES, (i+1)*PAGES) of one mapping.
 * Pass k of a writer stores k into one word of every page of its set, in
 * page order, then checks the stop flag; the loop keeps everything in
 * registers (inline asm), so a writer stores to nothing but its set: no
 * stack, no counters elsewhere. Main waits until every writer has
 * completed two passes (its TLB is warm), then ITERATIONS times:
 *   1. writes "4" to /proc/self/clear_refs;
 *   2. reads c0[i], the word of writer i's last page (the number of the
 *      last pass writer i completed before the read);
 *   3. spins INTERVAL iterations in registers;
 *   4. reads c1[i] the same way, then pread()s the pagemap entries of the
 *      whole mapping;
 *   5. for every writer with c1[i] >= c0[i] + 2, every page of its set
 *      was stored to after step 1 returned (pass c0[i]+1 had not
 *      completed at step 2, so pass c0[i]+2 began after it; x86 stores
 *      are seen in order, so pass c0[i]+2's completed last store means
 *      all of its stores were done by step 4): each such page that reads
 *      present without PM_SOFT_DIRTY is one lost page. A writer that did
 *      not complete two passes (descheduled) is not checked that
 *      interval.
 * At exit main prints to stdout, one "name value" line each:
 *   emu_guest_lost_soft_dirty_pages   lost pages, summed over intervals
 *   emu_guest_checked_pages           pages checked, summed over intervals
 *   emu_guest_unchecked_sets          (interval, writer) pairs not checked
 * (cmd/emu and the golden test turn them into counters).
 */
#include "rt.h"

#define PM_SOFT_DIRTY (1UL << 55)
#define PM_PRESENT (1UL << 63)
#define DEFAULT_INTERVAL 20000

static u64 stop;
static u64 *base;
static u64 set_pages;
static u64 word;
static u64 c0[MAX_THREADS];
static u64 c1[MAX_THREADS];
static struct thread *threads[MAX_THREADS];

/* spin runs n iterations of a loop whose counter stays in a register. */
static inline void spin(u64 n)
{
	if (n == 0)
		return;
	__asm__ volatile("1: dec %0\n\tjnz 1b" : "+r"(n) : : "cc");
}

/*
 * writer stores the pass number into word `word` of every page of its set,
 * pass after pass, until stop is set; all loop state is in registers.
 */
static void writer(void *arg)
{
	u64 *p0 = base + (u64)arg * set_pages * WORDS_PER_PAGE + word;
	u64 n = set_pages;
	u64 pass = 0, *p, k;

	__asm__ volatile("1:\n\t"
			 "inc %[pass]\n\t"
			 "mov %[p0], %[p]\n\t"
			 "mov %[n], %[k]\n"
			 "2:\n\t"
			 "mov %[pass], (%[p])\n\t"
			 "add $4096, %[p]\n\t"
			 "dec %[k]\n\t"
			 "jnz 2b\n\t"
			 "cmpq $0, (%[stop])\n\t"
			 "je 1b"
			 : [pass] "+r"(pass), [p] "=&r"(p), [k] "=&r"(k)
			 : [p0] "r"(p0), [n] "r"(n), [stop] "r"(&stop)
			 : "cc", "memory");
}

/* last_pass is the number of the last pass writer i completed. */
static inline u64 last_pass(u64 i)
{
	const u64 *w = base + ((i + 1) * set_pages - 1) * WORDS_PER_PAGE + word;
	return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

static void print_counter(const char *name, u64 v)
{
	char buf[96];
	size_t n = rt_strlen(name), i = sizeof(buf);

	buf[--i] = '\n';
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	buf[--i] = ' ';
	i -= n;
	memcpy(buf + i, name, n);
	if (sys_write(1, buf + i, sizeof(buf) - i) != (long)(sizeof(buf) - i))
		die("write stdout", 0);
}

int main(int argc, char **argv)
{
	static const char clear_path[] = "/proc/self/clear_refs";
	static const char pagemap_path[] = "/proc/self/pagemap";
	struct params p;
	u64 interval = DEFAULT_INTERVAL;
	u64 total, lost = 0, checked = 0, unchecked = 0;
	u64 *entries;
	long cfd, pfd;
	u64 i, it;

	if (argc > 5 && parse_u64(argv[5], &interval) != 0)
		die("bad INTERVAL: want a decimal number", 0);
	if (argc > 6)
		die("usage: THREADS PAGES ITERATIONS SEED [INTERVAL]", 0);
	parse_params(argc > 5 ? 5 : argc, argv, &p);
	if (p.threads * p.pages > (1UL << 24))
		die("THREADS * PAGES out of range [1, 16777216]", (long)(p.threads * p.pages));
	total = p.threads * p.pages;
	set_pages = p.pages;
	word = rnd_seed(p.seed, 0) % WORDS_PER_PAGE;
	base = (u64 *)map_anon(total);
	touch_pages(base, total);
	entries = (u64 *)map_anon((total * 8 + PAGE_SIZE - 1) / PAGE_SIZE);

	cfd = check_sys(sys_openat(AT_FDCWD, clear_path, O_WRONLY, 0), "open /proc/self/clear_refs");
	pfd = check_sys(sys_openat(AT_FDCWD, pagemap_path, O_RDONLY, 0), "open /proc/self/pagemap");

	for (i = 0; i < p.threads; i++)
		threads[i] = thread_create(writer, (void *)i);
	/* Warm-up: every writer has stored to its whole set twice. */
	for (i = 0; i < p.threads; i++)
		while (last_pass(i) < 2)
			spin(64);

	for (it = 0; it < p.iterations; it++) {
		long n = sys_write((int)cfd, "4", 1);
		if (n != 1)
			die("write clear_refs", n);
		for (i = 0; i < p.threads; i++)
			c0[i] = last_pass(i);
		spin(interval);
		for (i = 0; i < p.threads; i++)
			c1[i] = last_pass(i);
		n = syscall4(SYS_pread64, pfd, (long)entries, (long)(total * 8), (long)((u64)base / PAGE_SIZE * 8));
		if (n != (long)(total * 8))
			die("pread /proc/self/pagemap", n);
		for (i = 0; i < p.threads; i++) {
			u64 j;
			if (c1[i] < c0[i] + 2) {
				unchecked++;
				continue;
			}
			for (j = i * p.pages; j < (i + 1) * p.pages; j++) {
				u64 e = entries[j];
				checked++;
				if ((e & PM_PRESENT) && !(e & PM_SOFT_DIRTY))
					lost++;
			}
		}
	}

	atomic_xchg_u64(&stop, 1);
	for (i = 0; i < p.threads; i++)
		thread_join(threads[i]);
	check_sys(sys_close((int)pfd), "close");
	check_sys(sys_close((int)cfd), "close");
	print_counter("emu_guest_lost_soft_dirty_pages", lost);
	print_counter("emu_guest_checked_pages", checked);
	print_counter("emu_guest_unchecked_sets", unchecked);
	return 0;
}
