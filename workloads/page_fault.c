//go:build ignore

// Guest source, built by build.sh: the constraint above stops the go command
// from rejecting C files in this non-cgo package.

/*
 * page_fault - mmap / first-touch / munmap churn, after will-it-scale's
 * page_fault1.
 *
 * Models: short-lived anonymous allocations in several threads of one
 * process.
 *
 * Each of THREADS threads runs ITERATIONS rounds of: mmap
 * max(1, PAGES/THREADS) private anonymous pages, store one byte into
 * each page, munmap them. Main only starts and joins the threads.
 *
 * Kernel paths exercised: mmap (get_unmapped_area, vma creation under
 * mmap_write_lock); handle_mm_fault -> do_anonymous_page (write: page
 * allocation, zeroing, no TLB flush since the PTE was not present);
 * munmap -> unmap_region with an mmu_gather (tlb_flush_pending raised,
 * zap_pte_range, free_pgtables, tlb_finish_mmu -> flush_tlb_mm_range
 * with freed_tables, IPIs to every CPU of mm_cpumask including lazy
 * ones, range vs. full-flush choice against tlb_single_page_flush_ceiling).
 */
#include "rt.h"

struct churn_args {
	u64 pages;
	u64 iterations;
};

static struct churn_args cargs;
static struct thread *threads[MAX_THREADS];

static void churn(void *arg)
{
	struct churn_args *a = (struct churn_args *)arg;
	u64 it, pg;

	for (it = 0; it < a->iterations; it++) {
		volatile u8 *b = (volatile u8 *)map_anon(a->pages);
		for (pg = 0; pg < a->pages; pg++)
			b[pg * PAGE_SIZE] = 1;
		check_sys(sys_munmap((void *)b, a->pages * PAGE_SIZE), "munmap");
	}
}

int main(int argc, char **argv)
{
	struct params p;
	u64 i;

	parse_params(argc, argv, &p);
	cargs.pages = p.pages / p.threads;
	if (cargs.pages == 0)
		cargs.pages = 1;
	cargs.iterations = p.iterations;

	for (i = 0; i < p.threads; i++)
		threads[i] = thread_create(churn, &cargs);
	for (i = 0; i < p.threads; i++)
		thread_join(threads[i]);
	return 0;
}
