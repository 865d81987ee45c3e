//go:build ignore

// Guest source, built by build.sh: the constraint above stops the go command
// from rejecting C files in this non-cgo package.

/*
 * madvise - MADV_DONTNEED churn, after will-it-scale's tlb_flush2.
 *
 * Models: allocators that return memory with madvise(MADV_DONTNEED)
 * and touch it again soon after, in several threads of one process.
 * will-it-scale's tlb_flush2 dirties a whole chunk and then discards
 * it with one madvise; here each page is discarded on its own, so every
 * madvise is a single-page zap with its own flush.
 *
 * Each of THREADS threads owns a chunk of max(1, PAGES/THREADS) pages
 * of one shared anonymous mapping and runs ITERATIONS passes over it:
 * for each page, store one byte, madvise(page, 4096, MADV_DONTNEED),
 * load the byte back (it must read 0). Main only starts and joins the
 * threads.
 *
 * Kernel paths exercised: madvise_dontneed_single_vma ->
 * zap_page_range under mmap_read_lock with an mmu_gather
 * (tlb_gather_mmu raises tlb_flush_pending; tlb_finish_mmu ->
 * flush_tlb_mm_range of one page, IPIs to the other CPUs of
 * mm_cpumask that run threads of this mm); the read-back maps the zero
 * page (do_anonymous_page, read); the next pass's store is a write
 * fault on the zero page (do_wp_page -> wp_page_copy); on the first
 * pass do_anonymous_page (write).
 */
#include "rt.h"

struct chunk_args {
	volatile u8 *base;
	u64 pages;
	u64 iterations;
};

static struct chunk_args cargs[MAX_THREADS];
static struct thread *threads[MAX_THREADS];

static void churn(void *arg)
{
	struct chunk_args *a = (struct chunk_args *)arg;
	u64 it, pg;

	for (it = 0; it < a->iterations; it++) {
		for (pg = 0; pg < a->pages; pg++) {
			volatile u8 *b = a->base + pg * PAGE_SIZE;
			*b = (u8)(it | 1);
			check_sys(sys_madvise((void *)b, PAGE_SIZE, MADV_DONTNEED), "madvise");
			if (*b != 0)
				die("byte not zero after MADV_DONTNEED", *b);
		}
	}
}

int main(int argc, char **argv)
{
	struct params p;
	u8 *base;
	u64 chunk, i;

	parse_params(argc, argv, &p);
	chunk = p.pages / p.threads;
	if (chunk == 0)
		chunk = 1;
	base = (u8 *)map_anon(chunk * p.threads);

	for (i = 0; i < p.threads; i++) {
		cargs[i].base = base + i * chunk * PAGE_SIZE;
		cargs[i].pages = chunk;
		cargs[i].iterations = p.iterations;
		threads[i] = thread_create(churn, &cargs[i]);
	}
	for (i = 0; i < p.threads; i++)
		thread_join(threads[i]);
	return 0;
}
