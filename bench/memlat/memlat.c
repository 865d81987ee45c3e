/* memlat: the host's floor for emu's TLB-missing random-update loop.
 *
 * BenchmarkInterpreter/loop=random-update updates random 8-byte words of a
 * 32 MiB array. An interpreter running it must at least load each word it
 * updates, so one host cache (and host TLB) miss per guest iteration is
 * unavoidable unless the miss overlaps other work. This program measures,
 * on the host:
 *   chase   one dependent load per step over 32 MiB (a pointer chase: the
 *           latency of a miss, nothing to overlap it with);
 *   update  the benchmark's loop natively (bench/interp_test.go,
 *           randomUpdateLoop: x = x*6364136223846793005 + 1, then
 *           a[(x >> 40) & mask] += 1; independent updates, whose misses
 *           the CPU overlaps).
 * Build and run: gcc -O2 -o memlat memlat.c && ./memlat [MiB] [steps]
 * MiB is a power of two (the loop masks its index), as the benchmark's 32.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
	rng ^= rng << 13; /* xorshift64, Marsaglia 2003 */
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], 0, 10) : 32;
	long steps = argc > 2 ? strtol(argv[2], 0, 10) : 20000000;
	if (mib < 1 || mib > 4096 || (mib & (mib - 1)) || steps < 1 || steps > 10000000000L) {
		fprintf(stderr, "memlat: usage: memlat [MiB: a power of two, 1-4096] [steps: 1-10000000000]\n");
		return 2;
	}
	size_t n = mib << 17; /* 8-byte words */
	uint64_t *a = malloc(n * sizeof *a);
	if (!a) {
		fprintf(stderr, "memlat: cannot allocate %zu MiB\n", mib);
		return 1;
	}
	/* A single random cycle through all words (Sattolo's algorithm), so
	 * the chase visits every word before it repeats. */
	for (size_t i = 0; i < n; i++)
		a[i] = i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = next() % i, t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
	double t0 = now();
	uint64_t p = 0;
	for (long i = 0; i < steps; i++)
		p = a[p];
	double chase = (now() - t0) / steps * 1e9;

	t0 = now();
	uint64_t x = 1; /* the benchmark's RAX and RDX */
	for (long i = 0; i < steps; i++) {
		x = x * 6364136223846793005ull + 1;
		a[(x >> 40) & (n - 1)] += 1;
	}
	double update = (now() - t0) / steps * 1e9;
	/* p and the array are printed so the compiler keeps both loops. */
	printf("%zu MiB: chase %.1f ns per dependent load; update %.1f ns per iteration (end %llu, word %llu)\n",
	       mib, chase, update, (unsigned long long)p, (unsigned long long)a[x >> 40 & (n - 1)]);
	return 0;
}
