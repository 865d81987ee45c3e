/*
 * compare.c - a CoreMark-like integer workload for bench/compare.sh.
 *
 * The same static binary runs natively, under emu (-cpus 1 and 2), under
 * valgrind --tool=cachegrind and under qemu-x86_64, so the ratios compare
 * the tools on identical guest instructions. The kernels follow CoreMark's
 * (EEMBC, core_list_join.c, core_matrix.c, core_state.c, crcu16 in
 * core_util.c): linked-list find and reverse, a small integer matrix
 * multiply, a byte-driven state machine, and CRC-16 over the results. Not
 * CoreMark itself: no timing, no validation tables; the checksum printed
 * makes the work observable.
 *
 * Build: musl-gcc -static -O2 -o compare compare.c
 * Usage: compare [iterations]   (default 2000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

#define LIST 256
#define N 16

struct node {
	struct node *next;
	int16_t data, idx;
};

static struct node pool[LIST];
static int32_t ma[N][N], mb[N][N], mc[N][N];
static uint8_t text[512];

static uint16_t crcu8(uint8_t data, uint16_t crc)
{
	for (int i = 0; i < 8; i++) {
		uint8_t x16 = (data & 1) ^ (crc & 1);
		data >>= 1;
		if (x16) {
			crc ^= 0x4002;
			crc = (crc >> 1) | 0x8000;
		} else {
			crc >>= 1;
		}
	}
	return crc;
}

static uint16_t crc16(int32_t v, uint16_t crc)
{
	crc = crcu8((uint8_t)v, crc);
	crc = crcu8((uint8_t)(v >> 8), crc);
	return crc;
}

static struct node *reverse(struct node *l)
{
	struct node *r = NULL;
	while (l) {
		struct node *n = l->next;
		l->next = r;
		r = l;
		l = n;
	}
	return r;
}

static struct node *find(struct node *l, int16_t data)
{
	while (l && l->data != data)
		l = l->next;
	return l;
}

static int32_t matrix(int32_t k)
{
	int32_t sum = 0;
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++) {
			int32_t s = 0;
			for (int t = 0; t < N; t++)
				s += ma[i][t] * mb[t][j];
			mc[i][j] = s + k;
			sum += s > 1000 ? s & 0xff : s;
		}
	return sum;
}

/* core_state.c's idea: classify a byte stream as numbers, floats, words. */
static int32_t states(int32_t seed)
{
	int32_t count[4] = {0};
	int state = 0;
	for (size_t i = 0; i < sizeof text; i++) {
		uint8_t c = text[i] ^ (uint8_t)seed;
		switch (state) {
		case 0:
			state = (c >= '0' && c <= '9') ? 1 : (c == '.') ? 2 : 3;
			break;
		case 1:
			if (c == '.')
				state = 2;
			else if (c < '0' || c > '9')
				state = 0, count[1]++;
			break;
		case 2:
			if (c < '0' || c > '9')
				state = 0, count[2]++;
			break;
		default:
			if (c == ' ' || c == ',')
				state = 0, count[3]++;
			break;
		}
	}
	return count[1] * 3 + count[2] * 5 + count[3] * 7;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 2000;
	uint32_t x = 1;
	for (int i = 0; i < LIST; i++) {
		x = x * 1103515245 + 12345;
		pool[i].data = (int16_t)(x >> 16);
		pool[i].idx = (int16_t)i;
		pool[i].next = i + 1 < LIST ? &pool[i + 1] : NULL;
	}
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++) {
			x = x * 1103515245 + 12345;
			ma[i][j] = (int32_t)(x >> 24) - 128;
			mb[i][j] = (int32_t)(x >> 16 & 0xff) - 128;
		}
	for (size_t i = 0; i < sizeof text; i++) {
		x = x * 1103515245 + 12345;
		text[i] = "0123456789.., abcdefgh"[(x >> 16) % 22];
	}
	struct node *list = pool;
	uint16_t crc = 0;
	for (long it = 0; it < iters; it++) {
		struct node *f = find(list, pool[it % LIST].data);
		crc = crc16(f ? f->idx : -1, crc);
		list = reverse(list);
		crc = crc16(matrix((int32_t)it), crc);
		crc = crc16(states((int32_t)it), crc);
	}
	printf("compare: %ld iterations, crc %#06x\n", iters, crc);
	return 0;
}
