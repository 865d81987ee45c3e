/* tlbflush2: a will-it-scale tlb_flush2-style testcase ("TLB flush of
 * anonymous memory private mapping") in a pthread harness. Each of N
 * worker threads maps 1 MiB of private anonymous memory and, ITER times,
 * writes one byte to every page and drops the range with
 * MADV_DONTNEED; since the threads share one mm, every MADV_DONTNEED on a
 * CPU shoots down the TLBs of the CPUs running the other threads. The
 * threads run in a child process; the parent reads the "TLB:" row of
 * /proc/interrupts before the fork and after the child has been reaped,
 * so that the window also holds the flushes of the child's exit_mmap, and
 * prints the sum of the per-CPU deltas. Usage: tlbflush2 [THREADS [ITER]]
 * (default 3 threads, 20 iterations). Unlike will-it-scale it runs a fixed
 * number of iterations instead of for a time, so that its work does not
 * depend on the clock. */
#include <assert.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MEMSIZE (1 * 1024 * 1024)

static long iterations;
static pthread_barrier_t start;

static void *testcase(void *arg)
{
	unsigned long long *count = arg;
	long pgsize = sysconf(_SC_PAGESIZE);
	char *c = mmap(NULL, MEMSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert(c != MAP_FAILED);
	pthread_barrier_wait(&start);
	for (long it = 0; it < iterations; it++) {
		for (long i = 0; i < MEMSIZE; i += pgsize)
			c[i] = 0;
		madvise(c, MEMSIZE, MADV_DONTNEED);
		(*count)++;
	}
	munmap(c, MEMSIZE);
	return NULL;
}

/* tlb_interrupts returns the sum of the TLB row of /proc/interrupts. */
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
	char *line = strstr(buf, "\nTLB:");
	if (!line) {
		fprintf(stderr, "no TLB: row in /proc/interrupts\n");
		exit(1);
	}
	char *s = line + 5;
	unsigned long long sum = 0;
	for (;;) {
		char *end;
		unsigned long long v = strtoull(s, &end, 10);
		if (end == s)
			break;
		sum += v;
		s = end;
	}
	return sum;
}

/* run starts the workers, waits for them and prints their iterations. */
static int run(int nthreads)
{
	pthread_t t[64];
	unsigned long long count[64] = {0};
	pthread_barrier_init(&start, NULL, nthreads + 1);
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&t[i], NULL, testcase, &count[i]) != 0) {
			perror("pthread_create");
			return 1;
		}
	pthread_barrier_wait(&start);
	unsigned long long total = 0;
	for (int i = 0; i < nthreads; i++) {
		pthread_join(t[i], NULL);
		total += count[i];
	}
	printf("threads:%d iterations:%llu\n", nthreads, total);
	return 0;
}

int main(int argc, char **argv)
{
	int nthreads = argc > 1 ? atoi(argv[1]) : 3;
	iterations = argc > 2 ? atol(argv[2]) : 20;
	if (nthreads < 1 || nthreads > 64 || iterations < 1) {
		fprintf(stderr, "usage: tlbflush2 [THREADS [ITER]]\n");
		return 2;
	}
	printf("testcase:TLB flush of anonymous memory private mapping\n");
	fflush(stdout);
	unsigned long long before = tlb_interrupts();
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0)
		exit(run(nthreads));
	int status;
	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		return 1;
	}
	unsigned long long after = tlb_interrupts();
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "child: status %#x\n", status);
		return 1;
	}
	printf("TLB shootdowns:%llu\n", after - before);
	return 0;
}
