/* auxv: what a dynamically linked PIE sees of its own loading: AT_PHDR,
 * AT_ENTRY, AT_PHENT, AT_PHNUM, whether AT_BASE is set, main's address,
 * and its /proc/self/maps lines for the executable (path and offsets).
 * Natively run with ASLR off (setarch -R), so that the PIE is at
 * ELF_ET_DYN_BASE as under emu. */
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>

int main(int argc, char **argv)
{
	printf("AT_PHDR %#lx AT_ENTRY %#lx AT_PHENT %lu AT_PHNUM %lu AT_BASE set %d\n", getauxval(AT_PHDR), getauxval(AT_ENTRY),
	       getauxval(AT_PHENT), getauxval(AT_PHNUM), getauxval(AT_BASE) != 0);
	printf("main %p\n", (void *)main);
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return 1;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		char range[64], perm[8], dev[16], path[256] = "";
		unsigned long off, ino;
		if (sscanf(line, "%63s %7s %lx %15s %lu %255s", range, perm, &off, dev, &ino, path) >= 5 && argc > 1 && !strcmp(path, argv[1]))
			printf("%s %s %08lx\n", range, perm, off);
	}
	fclose(f);
	return 0;
}
