//go:build ignore

// Guest source, built by build.sh: the constraint above stops the go command
// from rejecting C files in this non-cgo package.

/*
 * mprotect - permission flips on a range that other threads cache in
 * their TLBs.
 *
 * Models: a runtime (e.g. a GC or JIT) that repeatedly makes a shared
 * region read-only and writable again while worker threads run.
 *
 * Layout: the mapping of PAGES pages (at least 2) is split in two. The
 * lower half is written by THREADS random writers; the upper half is
 * only READ by those writers (one random load per store), so that their
 * TLBs hold entries for it but no writer can take SIGSEGV while it is
 * read-only. Main runs ITERATIONS rounds of {mprotect(upper, PROT_READ),
 * busy loop, mprotect(upper, PROT_READ|PROT_WRITE), store into up to 64
 * random upper pages, busy loop}. Main's own stores are the write
 * faults: after mprotect(RW) the PTEs of a private anonymous mapping stay
 * read-only (vm_page_prot is the COW protection), so each first store
 * takes do_wp_page -> wp_page_reuse.
 *
 * Kernel paths exercised: mprotect -> mprotect_fixup ->
 * change_protection -> change_pte_range under mmap_write_lock, with
 * tlb_flush_pending raised and flush_tlb_range to every CPU in
 * mm_cpumask (the readers hold entries for the range); VMA split and
 * merge of the upper half on each call; handle_pte_fault -> do_wp_page
 * -> wp_page_reuse for main's stores.
 */
#include "rt.h"

#define MPROTECT_BUSY_LOOP 2000
#define MAIN_STORES 64

struct rw_args {
	u64 *lower;
	u64 lower_pages;
	const u64 *upper;
	u64 upper_pages;
	u64 seed;
	u64 index;
	u64 sum; /* out: sum of the loaded words, so the loads are not dead */
};

static u64 stop;
static struct rw_args rwargs[MAX_THREADS];
static struct thread *threads[MAX_THREADS];

static void reader_writer(void *arg)
{
	struct rw_args *a = (struct rw_args *)arg;
	u64 state = rnd_seed(a->seed, a->index);
	const volatile u64 *upper = a->upper;
	u64 n = 0, sum = 0;

	for (;;) {
		int i;
		if (atomic_load_u64(&stop))
			break;
		for (i = 0; i < 64; i++) {
			u64 r = rnd_next(&state);
			n++;
			a->lower[(r % a->lower_pages) * WORDS_PER_PAGE + (r >> 32) % WORDS_PER_PAGE] = n;
			sum += upper[((r >> 16) % a->upper_pages) * WORDS_PER_PAGE + (r >> 48) % WORDS_PER_PAGE];
		}
	}
	a->sum = sum;
}

int main(int argc, char **argv)
{
	struct params p;
	u64 *base, *upper;
	u64 lower_pages, upper_pages;
	u64 state;
	u64 i;

	parse_params(argc, argv, &p);
	if (p.pages < 2)
		die("PAGES must be at least 2", (long)p.pages);
	lower_pages = p.pages / 2;
	upper_pages = p.pages - lower_pages;
	base = (u64 *)map_anon(p.pages);
	touch_pages(base, p.pages);
	upper = base + lower_pages * WORDS_PER_PAGE;
	state = rnd_seed(p.seed, MAX_THREADS);

	for (i = 0; i < p.threads; i++) {
		rwargs[i].lower = base;
		rwargs[i].lower_pages = lower_pages;
		rwargs[i].upper = upper;
		rwargs[i].upper_pages = upper_pages;
		rwargs[i].seed = p.seed;
		rwargs[i].index = i;
		threads[i] = thread_create(reader_writer, &rwargs[i]);
	}

	for (i = 0; i < p.iterations; i++) {
		int j;
		check_sys(sys_mprotect(upper, upper_pages * PAGE_SIZE, PROT_READ), "mprotect R");
		busy_loop(MPROTECT_BUSY_LOOP);
		check_sys(sys_mprotect(upper, upper_pages * PAGE_SIZE, PROT_READ | PROT_WRITE),
			  "mprotect RW");
		for (j = 0; j < MAIN_STORES; j++) {
			u64 r = rnd_next(&state);
			((volatile u64 *)upper)[(r % upper_pages) * WORDS_PER_PAGE] = i;
		}
		busy_loop(MPROTECT_BUSY_LOOP);
	}

	atomic_xchg_u64(&stop, 1);
	for (i = 0; i < p.threads; i++)
		thread_join(threads[i]);
	return 0;
}
