/* hello: printf of integers and strings, its arguments, and exit status 3. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	long long big = 1234567890123456789LL;
	unsigned u = 4000000000u;

	printf("hello, world\n");
	printf("ints: %d %i %u %x %X %o %lld %llx\n", -42, 7, u, 0xbeefu, 0xcafeu, 0755,
	       big, (unsigned long long)-1);
	printf("width: [%8d] [%-8d] [%08d] [%+d] [% d]\n", 123, 123, 123, 123, 123);
	printf("strings: [%s] [%10s] [%-10s] [%.3s] %c%c\n", "abc", "right", "left",
	       "truncate", 'o', 'k');
	printf("argc=%d\n", argc);
	for (int i = 1; i < argc; i++)
		printf("argv[%d]=%s (%zu)\n", i, argv[i], strlen(argv[i]));
	fprintf(stderr, "to stderr\n");
	return 3;
}
