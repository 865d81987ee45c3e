/*
 * parallel.c - a private-work multithreaded guest for emu's parallel
 * phases (kernelmodel/parallel.go) and BenchmarkParallelGuest.
 *
 * THREADS pthreads each run ROUNDS passes of integer work over a 16 KiB
 * array of their own (a multiply-add recurrence and an xorshift mix per
 * word), sharing nothing but the result slot each writes once at the end,
 * so under emu every thread's user code may run in a parallel phase. The
 * main thread only creates and joins them; the checksum printed makes the
 * work observable and is the same natively and under emu.
 *
 * Build: musl-gcc -static -O2 -o parallel.musl parallel.c
 * Usage: parallel [threads [rounds]]   (defaults 2, 200; threads <= 64)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define WORDS 2048 /* 16 KiB: four pages */
#define MAXT 64

struct slot {
	uint64_t a[WORDS];
	uint64_t sum;
} __attribute__((aligned(4096)));

static struct slot slots[MAXT];
static int rounds = 200;

static void *work(void *arg)
{
	struct slot *s = arg;
	uint64_t x = (uint64_t)(s - slots) * 0x9e3779b97f4a7c15ull + 1;
	for (int i = 0; i < WORDS; i++)
		s->a[i] = x + i;
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < WORDS; i++) {
			uint64_t v = s->a[i] * 6364136223846793005ull + x;
			x ^= v >> 29;
			x ^= x << 17;
			s->a[i] = v;
		}
	s->sum = x;
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2;
	if (argc > 2)
		rounds = atoi(argv[2]);
	if (n < 1 || n > MAXT || rounds < 0) {
		fprintf(stderr, "usage: parallel [threads (1..%d) [rounds]]\n", MAXT);
		return 2;
	}
	pthread_t t[MAXT];
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, work, &slots[i]) != 0) {
			perror("pthread_create");
			return 1;
		}
	uint64_t sum = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		sum = sum * 31 + slots[i].sum;
	}
	printf("parallel: %d threads, %d rounds, checksum %016llx\n", n, rounds, (unsigned long long)sum);
	return 0;
}
