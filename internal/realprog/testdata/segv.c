/* segv: a store to a read-only page kills the program with SIGSEGV
 * (status 139). */
#include <stdio.h>
#include <sys/mman.h>

int main(void)
{
	volatile char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	fprintf(stderr, "read %d, now writing\n", p[0]);
	p[0] = 1;
	fprintf(stderr, "not reached\n");
	return 0;
}
