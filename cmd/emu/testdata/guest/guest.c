// guest.c - a tiny static guest for cmd/emu's tests of emu run: what it
// writes to stdout and stderr, what it reads from stdin, how it ends.
//
//   guest exit N      write "out N\n" to stdout, "err N\n" to stderr, exit N
//   guest segv        write "out segv\n", then store to address 0 (SIGSEGV)
//   guest cat         copy stdin to stdout, exit 0
//   guest spam K      write K KiB of 'x' lines to stdout, exit 0
//   guest nosys       call syscall 500 (unimplemented) twice and 501 once, exit 0
//   guest env         write each environment string on a line, exit 0
//
// Built by build.sh (go generate ./cmd/emu) into guest.elf; no libc.

typedef unsigned long u64;

static long sys3(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}

static u64 len(const char *s)
{
	u64 n = 0;
	while (s[n])
		n++;
	return n;
}

static void put(int fd, const char *s) { sys3(1, fd, (long)s, (long)len(s)); }

static int eq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static long num(const char *s)
{
	long n = 0;
	while (*s >= '0' && *s <= '9')
		n = n * 10 + (*s++ - '0');
	return n;
}

static __attribute__((noreturn)) void exit_group(long code)
{
	sys3(231, code, 0, 0);
	for (;;)
		;
}

static char buf[4096];

int main(int argc, char **argv)
{
	if (argc < 2)
		exit_group(100);
	const char *mode = argv[1], *arg = argc > 2 ? argv[2] : "0";
	if (eq(mode, "exit")) {
		put(1, "out ");
		put(1, arg);
		put(1, "\n");
		put(2, "err ");
		put(2, arg);
		put(2, "\n");
		exit_group(num(arg));
	}
	if (eq(mode, "segv")) {
		put(1, "out segv\n");
		*(volatile int *)0 = 1;
		exit_group(101);
	}
	if (eq(mode, "cat")) {
		long n;
		while ((n = sys3(0, 0, (long)buf, sizeof buf)) > 0)
			sys3(1, 1, (long)buf, n);
		exit_group(n < 0 ? 102 : 0);
	}
	if (eq(mode, "spam")) {
		for (int i = 0; i < 64; i++)
			buf[i] = i == 63 ? '\n' : 'x';
		for (long k = num(arg) * 16; k > 0; k--)
			sys3(1, 1, (long)buf, 64);
		exit_group(0);
	}
	if (eq(mode, "env")) {
		for (char **e = argv + argc + 1; *e; e++) {
			put(1, *e);
			put(1, "\n");
		}
		exit_group(0);
	}
	if (eq(mode, "nosys")) {
		sys3(500, 0, 0, 0);
		sys3(500, 0, 0, 0);
		sys3(501, 0, 0, 0);
		exit_group(0);
	}
	exit_group(103);
}

__attribute__((naked, noreturn)) void _start(void)
{
	__asm__ volatile("mov (%rsp), %rdi\n\t"
			 "lea 8(%rsp), %rsi\n\t"
			 "and $-16, %rsp\n\t"
			 "call main\n\t"
			 "mov %eax, %edi\n\t"
			 "mov $231, %eax\n\t"
			 "syscall\n\t"
			 "hlt");
}
