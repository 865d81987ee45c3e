//go:build ignore

// Guest source, built by build.sh: the constraint above stops the go command
// from rejecting C files in this non-cgo package.

/*
 * uffd_wp - userfaultfd write-protect, the pattern of the Linux
 * selftest (tools/testing/selftests/vm/userfaultfd.c, "wp" mode).
 *
 * Models: a monitor thread that resolves write-protect faults while
 * another thread repeatedly write-protects and un-protects the whole
 * range, with writer threads storing into random pages.
 *
 * Kernel paths exercised: userfaultfd ioctls UFFDIO_API,
 * UFFDIO_REGISTER (mode WP) and UFFDIO_WRITEPROTECT ->
 * mwriteprotect_range -> change_protection (MM_CP_UFFD_WP and
 * MM_CP_UFFD_WP_RESOLVE) under mmap_read_lock with a deferred
 * flush_tlb_range and tlb_flush_pending raised; the fault side
 * handle_pte_fault -> do_wp_page -> handle_userfault (blocking the
 * writer, queueing a uffd_msg, read(2) by the monitor, wake on
 * resolve, VM_FAULT_RETRY) and, after resolution, do_wp_page ->
 * wp_page_reuse / wp_page_copy. Un-protecting pages that are already
 * writable is deliberate: in v5.10 RESOLVE clears their RW bit under
 * the read lock (Nadav Amit's scenario A, kernel-spec 4.4).
 *
 * Threads: THREADS writers, one monitor, and main, which runs ITERATIONS
 * rounds of {MADV_DONTNEED a rotating 16-page "hot" chunk, busy loop,
 * protect whole range, busy loop, un-protect whole range, busy loop}.
 * The range is registered MISSING|WP, as the selftest's anon mode does:
 * the monitor fills the dropped pages back with UFFDIO_COPY, so freshly
 * copied pages sit in the monitor CPU's LRU pagevec with page_count 2.
 * Writer 0 stores only into the hot chunk; the others store into random
 * pages, and into the hot chunk only while main un-protects. A write
 * fault on a hot page that the un-protect demoted to read-only takes
 * wp_page_copy (page_count 2), not reuse, while writer 0 may still hold
 * a writable TLB entry for it: the LKML race (kernel-spec 4.4 scenario A).
 *
 * Shutdown: the registered mapping has one extra "sentinel" page after
 * the PAGES writer pages; writers never touch it. The monitor exits
 * right after it has resolved a fault on the sentinel page, and only
 * then. At the end main sets stop, un-protects the writer range (waking
 * any writer blocked in handle_userfault), joins the writers, then
 * write-protects the sentinel and writes to it itself: main blocks in
 * the fault until the monitor resolves it, which is the monitor's
 * last message. So no thread can stay blocked in read(2) or in a fault.
 *
 * The uffd is opened blocking (O_CLOEXEC only) and with features = 0.
 */
#include "rt.h"
#include "uffd.h"

#define UFFD_BUSY_LOOP 2000

static u64 stop;
static int uffd;
static u64 sentinel;
static u64 hot; /* first page of the current hot chunk */
static u64 src_page[PAGE_SIZE / 8] __attribute__((aligned(4096)));
static struct writer_args wargs[MAX_THREADS];

#define HOT_PAGES 16

/* hot_writer: writer 0 stores only into the hot chunk main is recycling
 * (it keeps writable TLB entries for it); the other writers store into
 * random pages, and into the hot chunk only while main is un-protecting
 * (phase 1). So during the un-protect, a writer without a TLB entry for a
 * hot page write-faults on it while writer 0 may still write through a
 * stale writable entry: the interleaving of kernel-spec 4.4 scenario A. */
static u64 phase;
static struct thread *threads[MAX_THREADS];
static void hot_writer(void *arg)
{
	struct writer_args *a = (struct writer_args *)arg;
	u64 state = rnd_seed(a->seed, a->index);
	u64 *base = a->base;
	u64 n = 0;
	int seen = 0;

	for (;;) {
		int i;
		if (atomic_load_u64(a->stop))
			break;
		if (a->index != 0 && atomic_load_u64(&phase) && !seen) {
			/* Give the walk time to demote the hot chunk first. */
			busy_loop(1000);
			seen = 1;
		} else if (!atomic_load_u64(&phase)) {
			seen = 0;
		}
		for (i = 0; i < 64; i++) {
			u64 r = rnd_next(&state);
			u64 page;
			if (a->index == 0 || atomic_load_u64(&phase))
				page = atomic_load_u64(&hot) + ((r >> 1) % HOT_PAGES);
			else
				page = (r >> 1) % a->pages;
			u64 word = (r >> 32) % (PAGE_SIZE / 8);
			base[page * (PAGE_SIZE / 8) + word] = ++n;
		}
	}
}

static void writeprotect(u64 start, u64 len, u64 mode)
{
	struct uffdio_writeprotect wp;
	wp.range.start = start;
	wp.range.len = len;
	wp.mode = mode;
	check_sys(sys_ioctl(uffd, UFFDIO_WRITEPROTECT, &wp), "UFFDIO_WRITEPROTECT");
}

static void monitor(void *arg)
{
	struct uffd_msg msg;
	(void)arg;
	for (;;) {
		long n = sys_read(uffd, &msg, sizeof(msg));
		u64 page;
		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n != (long)sizeof(msg))
			die("read uffd", n);
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			die("unexpected uffd event", msg.event);
		page = msg.address & ~(PAGE_SIZE - 1);
		if (!(msg.flags & UFFD_PAGEFAULT_FLAG_WP)) {
			/* MISSING: fill the page (mcopy_atomic). -EEXIST: someone
			 * filled it first; the kernel woke nobody, so wake. */
			struct uffdio_copy c;
			c.dst = page;
			c.src = (u64)src_page;
			c.len = PAGE_SIZE;
			c.mode = 0;
			c.copy = 0;
			long r = sys_ioctl(uffd, UFFDIO_COPY, &c);
			if (r == -EEXIST) {
				struct uffdio_range w;
				w.start = page;
				w.len = PAGE_SIZE;
				check_sys(sys_ioctl(uffd, UFFDIO_WAKE, &w), "UFFDIO_WAKE");
			} else {
				check_sys(r, "UFFDIO_COPY");
			}
			continue;
		}
		writeprotect(page, PAGE_SIZE, 0);
		if (page == sentinel)
			break;
	}
}

int main(int argc, char **argv)
{
	struct params p;
	struct uffdio_api api;
	struct uffdio_register reg;
	struct thread *mon;
	u64 *base;
	u64 len;
	u64 i;

	parse_params(argc, argv, &p);
	len = p.pages * PAGE_SIZE;
	base = (u64 *)map_anon(p.pages + 1);
	touch_pages(base, p.pages + 1);
	sentinel = (u64)base + len;

	uffd = (int)check_sys(sys_userfaultfd(O_CLOEXEC), "userfaultfd");
	api.api = UFFD_API;
	api.features = 0;
	api.ioctls = 0;
	check_sys(sys_ioctl(uffd, UFFDIO_API, &api), "UFFDIO_API");

	reg.range.start = (u64)base;
	reg.range.len = len + PAGE_SIZE;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP;
	reg.ioctls = 0;
	check_sys(sys_ioctl(uffd, UFFDIO_REGISTER, &reg), "UFFDIO_REGISTER");
	if (!(reg.ioctls & (1UL << _UFFDIO_WRITEPROTECT)))
		die("UFFDIO_REGISTER: range does not support UFFDIO_WRITEPROTECT", (long)reg.ioctls);

	mon = thread_create(monitor, NULL);
	for (i = 0; i < p.threads; i++) {
		wargs[i].base = base;
		wargs[i].pages = p.pages;
		wargs[i].seed = p.seed;
		wargs[i].index = i;
		wargs[i].stop = &stop;
		threads[i] = thread_create(hot_writer, &wargs[i]);
	}

	for (i = 0; i < p.iterations; i++) {
		/* The hot chunk rotates over the first 4 chunks, which the
		 * un-protect walk demotes first. */
		u64 h = (i % 4) * HOT_PAGES % (p.pages >= HOT_PAGES ? p.pages - HOT_PAGES + 1 : 1);
		if (p.pages >= HOT_PAGES) {
			atomic_store_u64(&hot, h);
			check_sys(sys_madvise((char *)base + h * PAGE_SIZE, HOT_PAGES * PAGE_SIZE, MADV_DONTNEED), "madvise");
		}
		busy_loop(UFFD_BUSY_LOOP);
		writeprotect((u64)base, len, UFFDIO_WRITEPROTECT_MODE_WP);
		busy_loop(UFFD_BUSY_LOOP);
		atomic_store_u64(&phase, 1);
		writeprotect((u64)base, len, 0);
		atomic_store_u64(&phase, 0);
		busy_loop(UFFD_BUSY_LOOP);
	}

	atomic_xchg_u64(&stop, 1);
	writeprotect((u64)base, len, 0);
	for (i = 0; i < p.threads; i++)
		thread_join(threads[i]);

	/* The monitor's last message: a WP fault by main on the sentinel page. */
	writeprotect(sentinel, PAGE_SIZE, UFFDIO_WRITEPROTECT_MODE_WP);
	*(volatile u64 *)sentinel = 1;
	thread_join(mon);
	check_sys(sys_close(uffd), "close");
	return 0;
}
