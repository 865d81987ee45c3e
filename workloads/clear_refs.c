//go:build ignore

// Guest source, built by build.sh: the constraint above stops the go command
// from rejecting C files in this non-cgo package.

/*
 * clear_refs - CRIU-style soft-dirty tracking under concurrent writers.
 *
 * Models: a checkpointing tool that repeatedly writes "4" to
 * /proc/self/clear_refs (CLEAR_REFS_SOFT_DIRTY) while the process's
 * threads keep writing to random words of a large anonymous mapping.
 * This is the scenario of the December 2020 LKML thread.
 *
 * Kernel paths exercised: clear_refs_write -> walk_page_range ->
 * clear_refs_pte_range -> clear_soft_dirty (write-protects every PTE;
 * in v5.10 under mmap_read_lock, with tlb_flush_pending raised and no
 * TLB flush at tlb_finish_mmu), then write faults on present read-only
 * PTEs: handle_pte_fault -> do_wp_page -> wp_page_reuse / wp_page_copy,
 * racing with writers that still hold stale writable TLB entries.
 * PAGES should exceed the TLB reach so that some entries are evicted
 * and others survive a clear.
 *
 * Arguments: THREADS writer threads (beside main), PAGES pages in the
 * shared mapping, ITERATIONS clears, SEED for the writers' PRNGs.
 */
#include "rt.h"

#define CLEAR_BUSY_LOOP 2000

static u64 stop;
static struct writer_args wargs[MAX_THREADS];
static struct thread *threads[MAX_THREADS];

int main(int argc, char **argv)
{
	static const char path[] = "/proc/self/clear_refs";
	struct params p;
	u64 *base;
	u64 i;
	long fd;

	parse_params(argc, argv, &p);
	base = (u64 *)map_anon(p.pages);
	touch_pages(base, p.pages);

	fd = check_sys(sys_openat(AT_FDCWD, path, O_WRONLY, 0), "open /proc/self/clear_refs");

	for (i = 0; i < p.threads; i++) {
		wargs[i].base = base;
		wargs[i].pages = p.pages;
		wargs[i].seed = p.seed;
		wargs[i].index = i;
		wargs[i].stop = &stop;
		threads[i] = thread_create(random_writer, &wargs[i]);
	}

	for (i = 0; i < p.iterations; i++) {
		long n = sys_write((int)fd, "4", 1);
		if (n != 1)
			die("write clear_refs", n);
		busy_loop(CLEAR_BUSY_LOOP);
	}

	atomic_xchg_u64(&stop, 1);
	for (i = 0; i < p.threads; i++)
		thread_join(threads[i]);
	check_sys(sys_close((int)fd), "close");
	return 0;
}
