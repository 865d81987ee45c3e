//go:build ignore

// Guest source, built by build.sh: the constraint above stops the go command
// from rejecting C files in this non-cgo package.

/*
 * fork_cow - fork while other threads write: copy-on-write faults.
 *
 * Models: a multithreaded process that forks (e.g. to snapshot or to
 * exec a helper) while its threads keep writing to shared anonymous
 * memory; the pattern behind 09854ba94c6a ("mm: do_wp_page()
 * simplification") and the COW races of kernel-spec 2.8 / 2.11.
 *
 * THREADS random writers store into PAGES pages (as in clear_refs).
 * Main runs ITERATIONS rounds of: fork; the child stores into 8 pages
 * spread over the range and exits with status 0; the parent waits for
 * it with wait4, checks the status, and runs a busy loop.
 *
 * Kernel paths exercised: fork -> dup_mmap -> copy_page_range ->
 * copy_present_pte (write-protects the parent's PTEs under
 * mmap_write_lock; flush_tlb_mm of the parent at the end of dup_mmap,
 * IPIs to the writers' CPUs); writers' write faults -> do_wp_page ->
 * wp_page_copy while the child still maps the page (page_count > 1)
 * and wp_page_reuse after it has exited; the child's own COW faults;
 * exit_mmap of the child and wait4.
 */
#include "rt.h"

#define FORK_BUSY_LOOP 2000
#define CHILD_STORES 8

static u64 stop;
static struct writer_args wargs[MAX_THREADS];
static struct thread *threads[MAX_THREADS];

int main(int argc, char **argv)
{
	struct params p;
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

	for (i = 0; i < p.iterations; i++) {
		long pid = check_sys(sys_fork(), "fork");
		int status = -1;
		long ret;
		if (pid == 0) {
			int j;
			for (j = 0; j < CHILD_STORES; j++)
				((volatile u64 *)base)[(j * p.pages / CHILD_STORES) * WORDS_PER_PAGE] = i;
			sys_exit_group(0);
		}
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
	return 0;
}
