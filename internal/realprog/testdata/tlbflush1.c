/* tlbflush1: a will-it-scale tlb_flush1-shaped testcase ("TLB flush of
 * separated file private mapping"). A file (mkstemp in /tmp, or a memfd)
 * is ftruncated to PAGES pages and, PASSES times, mapped MAP_PRIVATE;
 * for each page: store a byte (a COW fault), MADV_DONTNEED the page (a
 * flush, which shoots down the TLB of the CPU running the polling peer
 * thread of the same mm), read the page back (a read fault: do_read_fault,
 * with fault-around mapping the neighbouring cached file pages read-only,
 * so that the next page's store is a write-protect COW with a second
 * flush); then munmap. The main thread runs on CPU 0, the peer on CPU 1
 * (sched_setaffinity). CPU 1's column of the TLB row of /proc/interrupts
 * (the shootdown IPIs the peer received) is read around the first pass
 * (cold: the file's pages enter the page cache during it) and around the
 * other passes (warm), and the IPIs per iteration of each are printed
 * with the iteration counts. (CPU 0's own column is not used: v5.10's
 * on_each_cpu_cond_mask also runs flush_tlb_func_remote, which counts an
 * irq_tlb_count, on the initiating CPU.)
 * Usage: tlbflush1 tmp|memfd [PAGES [PASSES]] (default 256 pages, 3 passes). */
#define _GNU_SOURCE
#include <assert.h>
#include <sched.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile int stop;
static volatile int peer_ready;

static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0) {
		perror("sched_setaffinity");
		exit(1);
	}
}

static void *peer(void *arg)
{
	(void)arg;
	pin(1);
	peer_ready = 1;
	while (!stop)
		; /* poll: stays on its CPU, in the mm's cpumask */
	return NULL;
}

/* tlb_interrupts returns CPU 1's column of the TLB row of /proc/interrupts. */
static unsigned long long tlb_interrupts(void)
{
	static char buf[1 << 16];
	int fd = open("/proc/interrupts", O_RDONLY);
	if (fd < 0) {
		perror("open /proc/interrupts");
		exit(1);
	}
	size_t n = 0;
	for (ssize_t r; n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0;)
		n += r;
	close(fd);
	buf[n] = 0;
	char *row = strstr(buf, "\nTLB:");
	if (!row) {
		fprintf(stderr, "no TLB: row in /proc/interrupts\n");
		exit(1);
	}
	char *s = row + 5, *end;
	strtoull(s, &end, 10); /* CPU 0 */
	s = end;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s) {
		fprintf(stderr, "no CPU 1 column in the TLB row\n");
		exit(1);
	}
	return v;
}

/* pass runs the testcase loop once over the file. */
static unsigned long pass(int fd, long pages, long pgsize)
{
	unsigned long iterations = 0;
	char *addr = mmap(NULL, pages * pgsize, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	assert(addr != MAP_FAILED);
	for (long i = 0; i < pages * pgsize; i += pgsize) {
		*(addr + i) = 1;
		madvise(addr + i, pgsize, MADV_DONTNEED);
		assert(*(volatile char *)(addr + i) == 0);
		iterations++;
	}
	munmap(addr, pages * pgsize);
	return iterations;
}

int main(int argc, char **argv)
{
	if (argc < 2 || (strcmp(argv[1], "tmp") && strcmp(argv[1], "memfd"))) {
		fprintf(stderr, "usage: tlbflush1 tmp|memfd [PAGES [PASSES]]\n");
		return 2;
	}
	long pages = argc > 2 ? atol(argv[2]) : 256;
	int passes = argc > 3 ? atoi(argv[3]) : 3;
	if (pages < 1 || passes < 2) {
		fprintf(stderr, "usage: tlbflush1 tmp|memfd [PAGES [PASSES]] (PASSES >= 2)\n");
		return 2;
	}
	long pgsize = getpagesize();
	pin(0);
	int fd;
	if (!strcmp(argv[1], "tmp")) {
		char tmpfile[] = "/tmp/willitscale.XXXXXX";
		fd = mkstemp(tmpfile);
		assert(fd >= 0);
		assert(unlink(tmpfile) == 0);
	} else {
		fd = memfd_create("willitscale", 0);
		assert(fd >= 0);
	}
	assert(ftruncate(fd, pages * pgsize) == 0);
	pthread_t t;
	if (pthread_create(&t, NULL, peer, NULL) != 0) {
		perror("pthread_create");
		return 1;
	}
	while (!peer_ready)
		;
	unsigned long long t0 = tlb_interrupts();
	unsigned long cold = pass(fd, pages, pgsize);
	unsigned long long t1 = tlb_interrupts();
	unsigned long warm = 0;
	for (int p = 1; p < passes; p++)
		warm += pass(fd, pages, pgsize);
	unsigned long long t2 = tlb_interrupts();
	stop = 1;
	pthread_join(t, NULL);
	printf("testcase:TLB flush of separated file private mapping (%s)\n", argv[1]);
	printf("iterations: cold %lu warm %lu\n", cold, warm);
	printf("TLB IPIs per iteration: cold %.2f warm %.2f\n", (double)(t1 - t0) / cold, (double)(t2 - t1) / warm);
	return 0;
}
