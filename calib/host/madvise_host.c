/*
 * madvise_host.c - the host-side figures of emu calibrate's -virt nested
 * rows (H1, H2): madvise(MADV_DONTNEED) of one touched page, timed alone,
 * in a process with THREADS-1 other threads spinning on their own pages
 * (so with THREADS=2 every madvise shoots down one other CPU).
 *
 * Not part of any build or test: run it on the machine a -virt preset is
 * calibrated against, e.g.
 *   gcc -O2 -o madvise_host madvise_host.c -lpthread
 *   ./madvise_host 1 20000; ./madvise_host 2 20000
 * Issue 16 recorded 0.9 us (1 thread) and 18 us (2 threads) on the
 * project's machine (AMD EPYC, 2.6 GHz, a nested KVM guest, 2 CPUs); a
 * later run under load gave 1.0 us and 10.4-11.7 us.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static volatile int done;

static void *spin(void *a)
{
	volatile char *p = a;
	while (!done)
		*p += 1;
	return 0;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv)
{
	int th = argc > 1 ? atoi(argv[1]) : 1, it = argc > 2 ? atoi(argv[2]) : 20000;
	char *m = mmap(0, 4096 * 64, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t t[8];
	double sum = 0;
	struct timespec settle = {0, 20000000};

	if (th < 1 || th > 8 || it < 1) {
		fprintf(stderr, "usage: madvise_host THREADS(1..8) ITERATIONS\n");
		return 2;
	}
	for (int i = 1; i < th; i++) {
		m[4096 * (i + 8)] = 1;
		pthread_create(&t[i], 0, spin, m + 4096 * (i + 8));
	}
	nanosleep(&settle, 0);
	for (int i = 0; i < it; i++) {
		m[0] = 1;
		double b = now();
		madvise(m, 4096, MADV_DONTNEED);
		sum += now() - b;
	}
	done = 1;
	for (int i = 1; i < th; i++)
		pthread_join(t[i], 0);
	printf("threads %d: madvise alone %.0f ns\n", th, sum / it);
	return 0;
}
