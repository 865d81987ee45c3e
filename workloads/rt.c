//go:build ignore

// Guest source, built by build.sh: the constraint above stops the go command
// from rejecting C files in this non-cgo package.

/*
 * rt.c - the freestanding runtime behind rt.h: process entry, exit,
 * memset/memcpy, error output, argument parsing and threads.
 */
#include "rt.h"

int main(int argc, char **argv);

/*
 * _start: the kernel enters with %rsp pointing at argc, followed by the
 * argv pointers, NULL, envp, NULL and the auxv (SysV x86-64 ABI 3.4.1).
 * Align the stack to 16 bytes before the call (so main sees the
 * ABI-mandated %rsp % 16 == 8 after the return address is pushed) and
 * pass main's return value to exit_group.
 */
__asm__(
	".text\n"
	".globl _start\n"
	".type _start, @function\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	mov (%rsp), %rdi\n"
	"	lea 8(%rsp), %rsi\n"
	"	and $-16, %rsp\n"
	"	call main\n"
	"	mov %eax, %edi\n"
	"1:	mov $231, %eax\n"
	"	syscall\n"
	"	jmp 1b\n"
	".size _start, .-_start\n");

/*
 * rt_clone(flags, stack_top, ptid, ctid, fn, arg): raw clone(2).
 * fn and arg are stored at the top of the child's stack before the
 * call; the child pops them, calls fn(arg) on its own stack and then
 * exits the thread with exit(0). It never returns into the parent's C
 * frames. The parent gets the child's tid or -errno.
 * x86-64 clone argument order: flags, newsp, parent_tid, child_tid, tls.
 */
long rt_clone(u64 flags, void *stack_top, int *ptid, int *ctid, void (*fn)(void *), void *arg);
__asm__(
	".text\n"
	".globl rt_clone\n"
	".type rt_clone, @function\n"
	"rt_clone:\n"
	"	and $-16, %rsi\n"
	"	sub $16, %rsi\n"
	"	mov %r8, (%rsi)\n"
	"	mov %r9, 8(%rsi)\n"
	"	mov %rcx, %r10\n"
	"	xor %r8d, %r8d\n"
	"	mov $56, %eax\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 2f\n"
	/* child: %rsp == stack_top - 16 */
	"	xor %ebp, %ebp\n"
	"	pop %rax\n"
	"	pop %rdi\n"
	"	call *%rax\n"
	"1:	mov $60, %eax\n"
	"	xor %edi, %edi\n"
	"	syscall\n"
	"	jmp 1b\n"
	"2:	ret\n"
	".size rt_clone, .-rt_clone\n");

void sys_exit(int code)
{
	for (;;)
		syscall1(SYS_exit, code);
}

void sys_exit_group(int code)
{
	for (;;)
		syscall1(SYS_exit_group, code);
}

void *memset(void *dst, int c, size_t n)
{
	void *d = dst;
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
	return dst;
}

static const char *progname = "guest";

size_t rt_strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

void rt_puts(const char *s)
{
	sys_write(2, s, rt_strlen(s));
}

void rt_print_u64(u64 v)
{
	char buf[24];
	int i = sizeof(buf);
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	sys_write(2, buf + i, sizeof(buf) - i);
}

void die(const char *msg, long err)
{
	rt_puts(progname);
	rt_puts(": ");
	rt_puts(msg);
	if (err < 0) {
		rt_puts(" (errno ");
		rt_print_u64((u64)-err);
		rt_puts(")");
	} else if (err > 0) {
		rt_puts(" (");
		rt_print_u64((u64)err);
		rt_puts(")");
	}
	rt_puts("\n");
	sys_exit_group(1);
}

int parse_u64(const char *s, u64 *out)
{
	u64 v = 0;
	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		u64 d;
		if (*s < '0' || *s > '9')
			return -1;
		d = (u64)(*s - '0');
		if (v > (~0UL - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

void parse_params(int argc, char **argv, struct params *p)
{
	static const char *const names[4] = {"THREADS", "PAGES", "ITERATIONS", "SEED"};
	u64 *fields[4] = {&p->threads, &p->pages, &p->iterations, &p->seed};
	int i;

	if (argc > 0 && argv[0])
		progname = argv[0];
	p->threads = 1;
	p->pages = 4096;
	p->iterations = 20;
	p->seed = 1;
	if (argc > 5) {
		rt_puts(progname);
		rt_puts(": usage: THREADS PAGES ITERATIONS SEED\n");
		sys_exit_group(2);
	}
	for (i = 1; i < argc; i++) {
		if (parse_u64(argv[i], fields[i - 1]) != 0) {
			rt_puts(progname);
			rt_puts(": bad ");
			rt_puts(names[i - 1]);
			rt_puts(": want a decimal number\n");
			sys_exit_group(2);
		}
	}
	if (p->threads < 1 || p->threads > MAX_THREADS)
		die("THREADS out of range [1, 1024]", (long)p->threads);
	if (p->pages < 1 || p->pages > (1UL << 24))
		die("PAGES out of range [1, 16777216]", (long)p->pages);
}

void *map_anon(u64 npages)
{
	void *p = sys_mmap(NULL, npages * PAGE_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check_sys((long)p, "mmap");
	return p;
}

void touch_pages(void *base, u64 npages)
{
	volatile u64 *w = (volatile u64 *)base;
	u64 i;
	for (i = 0; i < npages; i++)
		w[i * WORDS_PER_PAGE] = i + 1;
}

void busy_loop(u64 n)
{
	volatile u64 counter = 0;
	while (counter < n)
		counter = counter + 1;
}

#define THREAD_STACK_SIZE (64UL * 1024)

/*
 * thread_create: the struct thread lives at the bottom of the thread's
 * own stack mapping; the stack grows down from the top. Stacks are
 * never unmapped: the programs are short-lived, and an munmap would add
 * TLB flushes that are not part of the workload being measured.
 */
struct thread *thread_create(void (*fn)(void *), void *arg)
{
	char *stack = (char *)map_anon(THREAD_STACK_SIZE / PAGE_SIZE);
	struct thread *t = (struct thread *)stack;
	long ret;

	t->fn = fn;
	t->arg = arg;
	ret = rt_clone(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
			       CLONE_SYSVSEM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID,
		       stack + THREAD_STACK_SIZE, &t->tid, &t->tid, fn, arg);
	check_sys(ret, "clone");
	return t;
}

void thread_join(struct thread *t)
{
	int tid;
	while ((tid = atomic_load_int(&t->tid)) != 0) {
		long ret = sys_futex(&t->tid, FUTEX_WAIT, tid, NULL);
		if (ret < 0 && ret != -EAGAIN && ret != -EINTR)
			die("futex wait", ret);
	}
}

void random_writer(void *arg)
{
	struct writer_args *a = (struct writer_args *)arg;
	u64 state = rnd_seed(a->seed, a->index);
	u64 *base = a->base;
	u64 pages = a->pages;
	u64 n = 0;

	for (;;) {
		int i;
		if (atomic_load_u64(a->stop))
			break;
		for (i = 0; i < 64; i++) {
			u64 r = rnd_next(&state);
			u64 page = r % pages;
			u64 word = (r >> 32) % WORDS_PER_PAGE;
			n++;
			base[page * WORDS_PER_PAGE + word] = n;
		}
	}
	a->writes = n;
}
