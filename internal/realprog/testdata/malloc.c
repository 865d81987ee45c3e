/* malloc: malloc/free/realloc churn, qsort of 10^4 ints and of strings, and
 * the string functions (strlen, strcmp, memcpy, memchr, strchr, memset,
 * memcmp, strcpy) on every alignment, checked against plain loops. glibc
 * picks SSE2/SSE4.2 implementations of these from CPUID. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ULL;

static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static int cmpint(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int sign(int v) { return (v > 0) - (v < 0); }

static size_t naive_strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

static int naive_strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

int main(void)
{
	/* churn */
	enum { SLOTS = 256, ROUNDS = 3000 };
	static char *slot[SLOTS];
	static size_t size[SLOTS];
	uint64_t sum = 0;
	for (int r = 0; r < ROUNDS; r++) {
		int i = next() % SLOTS;
		size_t n = 1 + next() % (next() % 8 == 0 ? 5000 : 300);
		if (slot[i] && next() % 2) {
			for (size_t k = 0; k < size[i]; k++)
				sum += (unsigned char)slot[i][k] ^ (k & 0xff);
			char *p = realloc(slot[i], n);
			if (!p)
				return 1;
			if (n > size[i])
				memset(p + size[i], (int)(n & 0xff), n - size[i]);
			slot[i] = p;
		} else {
			free(slot[i]);
			slot[i] = malloc(n);
			if (!slot[i])
				return 1;
			memset(slot[i], i & 0xff, n);
		}
		size[i] = n;
	}
	for (int i = 0; i < SLOTS; i++)
		free(slot[i]);
	printf("churn checksum %llu\n", (unsigned long long)sum);

	/* qsort of ints */
	enum { N = 10000 };
	int *v = malloc(N * sizeof *v);
	uint64_t before = 0, after = 0;
	for (int i = 0; i < N; i++) {
		v[i] = (int)(next() % 200000) - 100000;
		before += (uint64_t)(v[i] + 100000) * 2654435761u;
	}
	qsort(v, N, sizeof *v, cmpint);
	int sorted = 1;
	for (int i = 0; i < N; i++) {
		after += (uint64_t)(v[i] + 100000) * 2654435761u;
		if (i && v[i - 1] > v[i])
			sorted = 0;
	}
	printf("qsort ints: sorted=%d sum-kept=%d min=%d median=%d max=%d\n", sorted,
	       before == after, v[0], v[N / 2], v[N - 1]);
	free(v);

	/* qsort of strings */
	enum { NS = 500 };
	char **s = malloc(NS * sizeof *s);
	for (int i = 0; i < NS; i++) {
		int len = 1 + next() % 40;
		s[i] = malloc(len + 1);
		for (int k = 0; k < len; k++)
			s[i][k] = 'a' + next() % 4;
		s[i][len] = 0;
	}
	qsort(s, NS, sizeof *s, cmpstr);
	sorted = 1;
	for (int i = 1; i < NS; i++)
		if (naive_strcmp(s[i - 1], s[i]) > 0)
			sorted = 0;
	printf("qsort strings: sorted=%d first=%s last=%s mid=%s\n", sorted, s[0], s[NS - 1],
	       s[NS / 2]);
	for (int i = 0; i < NS; i++)
		free(s[i]);
	free(s);

	/* string functions on 32 alignments and lengths up to 300, the
	 * strings starting 48 bytes before a page boundary so that most
	 * of them cross it (the SSE2 versions read whole 16-byte blocks and
	 * must not fault past the end of a string) */
	static char buf[8192] __attribute__((aligned(4096)));
	static char buf2[8192] __attribute__((aligned(4096)));
	int bad = 0, checks = 0;
	for (int al = 0; al < 32; al++) {
		for (int len = 0; len < 300; len += 1 + len / 8) {
			char *p = buf + 4096 - 48 + al;
			char *q = buf2 + 4096 - 48 + (al * 7) % 32;
			for (int k = 0; k < len; k++)
				p[k] = 'A' + (k * 31 + al) % 50;
			p[len] = 0;
			checks++;
			if (strlen(p) != naive_strlen(p) || strlen(p) != (size_t)len)
				bad++;
			memcpy(q, p, len + 1);
			if (memcmp(q, p, len + 1) != 0 || strcmp(q, p) != 0)
				bad++;
			if (len > 0) {
				q[len - 1]++;
				if (sign(strcmp(p, q)) != sign(naive_strcmp(p, q)) ||
				    sign(memcmp(p, q, len)) >= 0)
					bad++;
				q[len - 1]--;
			}
			char c = 'A' + (len * 13) % 50;
			char *m1 = memchr(p, c, len), *m2 = NULL;
			for (int k = 0; k < len && !m2; k++)
				if (p[k] == c)
					m2 = p + k;
			if (m1 != m2)
				bad++;
			char *c1 = strchr(p, c);
			if (c1 != m2 || strchr(p, 0) != p + len || strrchr(p, 0) != p + len)
				bad++;
			strcpy(q + 1, p);
			if (strcmp(q + 1, p) != 0 || strncmp(q + 1, p, len / 2) != 0)
				bad++;
			memset(p, 'z', len);
			if (naive_strlen(p) != (size_t)len || (len && p[len - 1] != 'z'))
				bad++;
			memmove(p + 1, p, len);
			p[len + 1] = 0;
			size_t zs = len ? (size_t)len + 1 : 0;
			if (strspn(p, "z") != zs || strcspn(p, "y") != zs)
				bad++;
		}
	}
	printf("string checks: %d, failures: %d\n", checks, bad);
	char hay[] = "the quick brown fox jumps over the lazy dog";
	printf("strstr=%s strpbrk=%s strrchr=%s\n", strstr(hay, "fox"), strpbrk(hay, "xyz"),
	       strrchr(hay, 'o'));
	char *dup = strdup(hay);
	printf("strdup eq=%d len=%zu\n", strcmp(dup, hay) == 0, strlen(dup));
	free(dup);
	return 0;
}
