/* softdirty: a CRIU-style dirty-page tracker. Populate a private anonymous
 * region, write "4" to /proc/self/clear_refs (clear the soft-dirty bits),
 * touch some pages in different ways, and read /proc/self/pagemap: bit 55
 * (soft-dirty) must be set exactly on the pages written since the clear
 * (Documentation/admin-guide/mm/soft-dirty.rst). The region is small and
 * MADV_NOHUGEPAGE so that no THP can widen the dirty set. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { PAGES = 16 };

#define PM_SOFT_DIRTY (1ULL << 55)
#define PM_PRESENT (1ULL << 63)

static long pg;

static int clear_refs(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);
	if (fd < 0) {
		perror("open clear_refs");
		return -1;
	}
	if (write(fd, "4", 1) != 1) {
		perror("write clear_refs");
		return -1;
	}
	return close(fd);
}

static int show(const char *when, unsigned char *p)
{
	uint64_t e[PAGES];
	int fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0) {
		perror("open pagemap");
		return -1;
	}
	off_t off = (off_t)((uintptr_t)p / pg) * 8;
	if (pread(fd, e, sizeof e, off) != sizeof e) {
		perror("pread pagemap");
		return -1;
	}
	close(fd);
	char sd[PAGES + 1], pr[PAGES + 1];
	for (int i = 0; i < PAGES; i++) {
		sd[i] = e[i] & PM_SOFT_DIRTY ? 'D' : '.';
		pr[i] = e[i] & PM_PRESENT ? 'P' : '.';
	}
	sd[PAGES] = pr[PAGES] = 0;
	printf("%-22s soft-dirty %s present %s\n", when, sd, pr);
	return 0;
}

int main(void)
{
	pg = sysconf(_SC_PAGESIZE);
	unsigned char *p = mmap(NULL, PAGES * pg, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	madvise(p, PAGES * pg, MADV_NOHUGEPAGE);
	/* pages 0-11 written, 12-13 read (zero page), 14-15 untouched */
	for (int i = 0; i < 12; i++)
		p[i * pg] = (unsigned char)i;
	volatile unsigned char sink = p[12 * pg] + p[13 * pg];
	(void)sink;
	if (show("populated", p) || clear_refs() || show("after clear_refs", p))
		return 1;
	p[1 * pg] = 1;             /* write a present page */
	p[3 * pg + 100] = 3;       /* write a present page, not at its start */
	sink = p[5 * pg];          /* read only */
	p[12 * pg] = 12;           /* write a zero-page mapping */
	p[14 * pg] = 14;           /* first touch, by a write */
	sink = p[15 * pg];         /* first touch, by a read */
	madvise(p + 7 * pg, pg, MADV_DONTNEED);
	madvise(p + 8 * pg, pg, MADV_DONTNEED);
	p[8 * pg] = 8;             /* refault by a write after MADV_DONTNEED */
	if (show("after touches", p) || clear_refs() || show("after second clear", p))
		return 1;
	memset(p + 9 * pg, 9, 2 * pg); /* pages 9 and 10 */
	if (show("after memset 9-10", p))
		return 1;
	if (mprotect(p + 4 * pg, pg, PROT_READ) || mprotect(p + 4 * pg, pg, PROT_READ | PROT_WRITE))
		return 1;
	p[4 * pg] = 4;             /* write after an mprotect round trip */
	if (show("after mprotect + write", p))
		return 1;
	return 0;
}
