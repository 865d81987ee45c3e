//go:build ignore

// Guest source, built by build.sh: the constraint above stops the go command
// from rejecting C files in this non-cgo package.

/*
 * munmap_unrelated - write faults while an unrelated munmap keeps
 * mm->tlb_flush_pending raised (Andy Lutomirski's objection to Yu
 * Zhao's December 2020 proposal).
 *
 * The proposal flushes the faulting page's TLB entry whenever a write
 * fault hits a present, read-only PTE while mm_tlb_flush_pending(mm) is
 * true. But the count is per mm: any mmu_gather user, such as an
 * munmap of a range nobody else touches, raises it, so the check fires
 * on faults that have nothing to do with a deferred flush. This
 * workload measures those spurious flushes.
 *
 * Threads: THREADS random writers store into range A (PAGES pages, as in
 * clear_refs); one "unmapper" thread loops, until main sets stop,
 * mmap + touch + munmap of an unrelated 64-page range B; main runs
 * ITERATIONS rounds of fork + child exit_group(0) + wait4 + busy loop.
 * The fork write-protects A, so writers take COW / write-protect faults
 * in A (do_wp_page) while B's munmap holds tlb_flush_pending raised.
 *
 * Kernel paths exercised: munmap -> __do_munmap (mmap_write_lock,
 * downgraded to read for unmap_region, so faults in A run concurrently)
 * -> unmap_region -> tlb_gather_mmu (inc_tlb_flush_pending) ...
 * tlb_finish_mmu (flush_tlb_mm_range, dec_tlb_flush_pending); do_anonymous_page for B; fork -> dup_mmap ->
 * copy_present_pte (write-protect A) + flush_tlb_mm; handle_pte_fault ->
 * (patched: flush_tlb_page when pending) -> do_wp_page ->
 * wp_page_copy / wp_page_reuse; exit_mmap and wait4.
 */
#include "rt.h"

#define UNRELATED_PAGES 64
#define FORK_BUSY_LOOP 2000

static u64 stop;
static struct writer_args wargs[MAX_THREADS];
static struct thread *threads[MAX_THREADS];

static void unmapper(void *arg)
{
	(void)arg;
	while (!atomic_load_u64(&stop)) {
		void *b = map_anon(UNRELATED_PAGES);
		touch_pages(b, UNRELATED_PAGES);
		check_sys(sys_munmap(b, UNRELATED_PAGES * PAGE_SIZE), "munmap");
	}
}

int main(int argc, char **argv)
{
	struct params p;
	struct thread *unm;
	u64 *base;
	u64 i;

	parse_params(argc, argv, &p);
	base = (u64 *)map_anon(p.pages);
	touch_pages(base, p.pages);

	for (i = 0; i < p.threads; i++) {
		wargs[i].base = base;
		wargs[i].pages = p.pages;
		wargs[i].seed = p.seed;
		wargs[i].index = i;
		wargs[i].stop = &stop;
		threads[i] = thread_create(random_writer, &wargs[i]);
	}
	unm = thread_create(unmapper, NULL);

	for (i = 0; i < p.iterations; i++) {
		long pid = check_sys(sys_fork(), "fork");
		int status = -1;
		long ret;
		if (pid == 0)
			sys_exit_group(0);
		ret = sys_wait4((int)pid, &status, 0, NULL);
		if (ret != pid)
			die("wait4", ret);
		if (status != 0)
			die("child exit status", status);
		busy_loop(FORK_BUSY_LOOP);
	}

	atomic_xchg_u64(&stop, 1);
	for (i = 0; i < p.threads; i++)
		thread_join(threads[i]);
	thread_join(unm);
	return 0;
}
