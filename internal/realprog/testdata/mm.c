/* mm: mmap, touch, mprotect, madvise(MADV_DONTNEED), munmap; private
 * anonymous memory reads back as zeros after MADV_DONTNEED and a fresh
 * mmap, and a MAP_FIXED remap replaces the old contents. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { PAGES = 64 };

static unsigned long sum(const unsigned char *p, size_t n)
{
	unsigned long s = 0;
	for (size_t i = 0; i < n; i++)
		s += p[i];
	return s;
}

int main(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t len = PAGES * pg;
	printf("pagesize %ld\n", pg);
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	printf("fresh sum %lu\n", sum(p, len));
	for (int i = 0; i < PAGES; i++)
		memset(p + i * pg, i + 1, pg);
	printf("filled sum %lu\n", sum(p, len));
	if (mprotect(p, len / 2, PROT_READ) != 0) {
		perror("mprotect");
		return 1;
	}
	printf("read-only half sum %lu\n", sum(p, len / 2));
	if (mprotect(p, len / 2, PROT_READ | PROT_WRITE) != 0) {
		perror("mprotect");
		return 1;
	}
	p[0] = 200;
	if (madvise(p + 8 * pg, 8 * pg, MADV_DONTNEED) != 0) {
		perror("madvise");
		return 1;
	}
	printf("after dontneed sum %lu, page 8 sum %lu, page 16 first byte %d\n", sum(p, len),
	       sum(p + 8 * pg, pg), p[16 * pg]);
	int zero = 1;
	for (size_t i = 8 * pg; i < 16 * pg; i++)
		if (p[i])
			zero = 0;
	printf("dontneed range zero: %d\n", zero);
	if (mmap(p + 32 * pg, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 -1, 0) != p + 32 * pg) {
		perror("mmap fixed");
		return 1;
	}
	printf("after fixed remap sum %lu\n", sum(p, len));
	if (munmap(p + 60 * pg, 4 * pg) != 0 || munmap(p, 60 * pg) != 0) {
		perror("munmap");
		return 1;
	}
	/* mincore on an unmapped range fails with ENOMEM; msync too. Use a
	 * fresh mapping at the same place instead. */
	unsigned char *q = mmap(p, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (q != p) {
		perror("mmap again");
		return 1;
	}
	printf("remapped read-only sum %lu\n", sum(q, len));
	munmap(q, len);
	char *big = mmap(NULL, 16 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int i = 0; i < 16 << 20; i += 1 << 20)
		big[i] = 1;
	unsigned long firsts = 0;
	for (int i = 0; i < 16 << 20; i += pg)
		firsts += (unsigned char)big[i];
	printf("sparse 16M: first bytes of its pages sum to %lu\n", firsts);
	munmap(big, 16 << 20);
	return 0;
}
