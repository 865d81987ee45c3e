//go:build ignore

// Guest source for abi_test.go, built at test time with the machine's gcc
// against ../../workloads/rt.c (a freestanding runtime: raw syscalls,
// threads).
//
// abi_guest pagemap    soft-dirty read-back after clear_refs "4"
// abi_guest tlb N      N spinning threads, mprotect shootdowns; prints
//                      /proc/interrupts before and after, then SIGKILLs
//                      itself (so nothing after the read changes counters)
// abi_guest abort      glibc's abort/raise sequence: block all, tgkill
//                      SIGABRT, unblock
// abi_guest handlers   SIGUSR1/SIGSEGV/SIGUSR2 handlers: rt_sigframe,
//                      siginfo, mask, SA_ONSTACK, rt_sigreturn
// abi_guest sigchld    a SIGCHLD handler runs when a forked child exits
// abi_guest suspend    rt_sigsuspend woken by a signal from another thread
// abi_guest pipe       pipe2 between a parent and a forked child
// abi_guest sleep      a spinner waits for a nanosleeping thread (one CPU)
// abi_guest files      /dev/zero, lseek/pread on /proc/self/maps, dup2,
//                      readlink /proc/self/exe, getcwd
#include "rt.h"

#define SYS_lseek 8
#define SYS_pread64 17
#define SYS_rt_sigprocmask 14
#define SYS_dup2 33
#define SYS_getcwd 79
#define SYS_readlink 89
#define SYS_tgkill 234
#define SYS_kill 62
#define PROT_READ 1
#define PROT_WRITE 2

static long xopen(const char *p, int flags)
{
	return check_sys(sys_openat(-100, p, flags, 0), p);
}

static void put(const char *s) { sys_write(1, s, rt_strlen(s)); }

static void putu(u64 v)
{
	char b[24];
	int i = 23;
	b[i] = 0;
	do {
		b[--i] = '0' + v % 10;
		v /= 10;
	} while (v);
	put(b + i);
}

static void puthex(u64 v)
{
	char b[17];
	int i;
	for (i = 15; i >= 0; i--) {
		b[i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	}
	b[16] = 0;
	put(b);
}

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static char buf[65536];

/* read_all reads a generated file from offset 0 with small reads. */
static long read_all(const char *path)
{
	long fd = xopen(path, O_RDONLY), n = 0, r;
	while ((r = sys_read(fd, buf + n, 100)) > 0)
		n += r;
	check_sys(r, "read");
	buf[n] = 0;
	sys_close(fd);
	return n;
}

/* tlb_row prints the "TLB:" line of /proc/interrupts. */
static void tlb_row(void)
{
	long n = read_all("/proc/interrupts"), i;
	for (i = 0; i < n; i++) {
		if ((i == 0 || buf[i - 1] == '\n') && buf[i] == 'T' && buf[i + 1] == 'L' && buf[i + 2] == 'B') {
			long j = i;
			while (j < n && buf[j] != '\n')
				j++;
			sys_write(1, buf + i, j - i + 1);
			return;
		}
	}
	die("no TLB row", 0);
}

static void do_pagemap(void)
{
	u64 *p = (u64 *)map_anon(4), e[4];
	long cr, pm, i;
	touch_pages(p, 4);
	cr = xopen("/proc/self/clear_refs", O_WRONLY);
	check_sys(sys_write(cr, "4", 1), "clear_refs");
	p[512 * 1] = 1;
	p[512 * 3] = 1;
	pm = xopen("/proc/self/pagemap", O_RDONLY);
	check_sys(syscall4(SYS_pread64, pm, (long)e, sizeof e, (long)((u64)p / 4096 * 8)), "pread pagemap");
	for (i = 0; i < 4; i++) {
		puthex(e[i]);
		put("\n");
	}
	/* unaligned offset: -EINVAL */
	putu(-syscall4(SYS_pread64, pm, (long)e, 8, 4));
	put("\n");
}

static u64 stop;

static void spin(void *arg)
{
	volatile u64 *page = (u64 *)arg;
	u64 sum = 0;
	while (!atomic_load_u64(&stop))
		sum += page[0]; /* reads: the page is read-only half of the time */
	(void)sum;
}

static void do_tlb(u64 n)
{
	u64 *page = (u64 *)map_anon(1), i;
	struct thread *t[8];
	touch_pages(page, 1);
	for (i = 0; i < n; i++)
		t[i] = thread_create(spin, page);
	busy_loop(20000);
	tlb_row();
	for (i = 0; i < 10; i++) {
		check_sys(sys_mprotect(page, 4096, PROT_READ), "mprotect");
		check_sys(sys_mprotect(page, 4096, PROT_READ | PROT_WRITE), "mprotect");
	}
	atomic_store_u64(&stop, 1);
	for (i = 0; i < n; i++)
		thread_join(t[i]);
	tlb_row();
	syscall2(SYS_kill, sys_getpid(), 9);
	die("survived SIGKILL", 0);
}

static u64 flag;

static void sleeper(void *arg)
{
	long ts[2] = {0, 1000000}; /* 1 ms */
	(void)arg;
	check_sys(sys_nanosleep(ts, 0), "nanosleep");
	atomic_store_u64(&flag, 1);
}

/* do_sleep: the main thread spins (no syscalls) until a thread that
 * sleeps 1 ms sets a flag: on one CPU the sleeper's timeout must preempt
 * the spinner. */
static void do_sleep(void)
{
	struct thread *t = thread_create(sleeper, 0);
	while (!atomic_load_u64(&flag))
		;
	thread_join(t);
	put("woke\n");
}

static void do_abort(void)
{
	u64 all = ~0UL, old = 0, unblock = 1UL << 5;
	check_sys(syscall4(SYS_rt_sigprocmask, 0, (long)&all, (long)&old, 8), "block");
	check_sys(syscall3(SYS_tgkill, sys_getpid(), sys_gettid(), 6), "tgkill");
	put("still alive while blocked\n");
	syscall4(SYS_rt_sigprocmask, 1, (long)&unblock, 0, 8);
	die("survived SIGABRT", 0);
}

static void do_files(void)
{
	long fd = xopen("/dev/zero", O_RDONLY), n, m;
	u64 w = 7;
	check_sys(sys_read(fd, &w, 8), "read zero");
	putu(w);
	put("\n");
	n = read_all("/proc/self/maps");
	fd = xopen("/proc/self/maps", O_RDONLY);
	putu(check_sys(syscall3(SYS_lseek, fd, 9, 0), "lseek"));
	put("\n");
	m = check_sys(sys_read(fd, buf + 32768, 8), "read at 9");
	sys_write(1, buf + 32768, m);
	put("\n");
	m = check_sys(syscall4(SYS_pread64, fd, (long)(buf + 32768), 8, 0), "pread at 0");
	sys_write(1, buf + 32768, m);
	put("\n");
	putu(n > 0);
	put("\n");
	/* dup2 fd 1 to 5 and write through it */
	check_sys(syscall2(SYS_dup2, 1, 5), "dup2");
	sys_write(5, "via5\n", 5);
	m = check_sys(syscall3(SYS_readlink, (long)"/proc/self/exe", (long)buf, 100), "readlink");
	sys_write(1, buf, m);
	put("\n");
	m = check_sys(syscall2(SYS_getcwd, (long)buf, 100), "getcwd");
	putu(m);
	put(buf);
	put("\n");
}

/* Signal handlers: struct kernel_sigaction and a restorer calling
 * rt_sigreturn, as the C libraries install them. */
#define SYS_rt_sigaction 13
#define SYS_sigaltstack 131
#define SA_SIGINFO 4
#define SA_ONSTACK 0x08000000
#define SA_RESTORER 0x04000000
struct ksa {
	void (*h)(int, void *, void *);
	unsigned long flags;
	void (*restorer)(void);
	u64 mask;
};
void restorer(void);
__asm__(".text\n.globl restorer\nrestorer:\n\tmov $15, %eax\n\tsyscall\n\thlt\n");

static volatile int got_sig;
static volatile u64 got_addr, got_code, got_sp, got_mask;
static u64 *ro_page;
static char altstack[16384];

static void handler(int sig, void *info, void *uc)
{
	u64 sp = (u64)__builtin_frame_address(0);
	u64 mask;
	got_sig = sig;
	got_code = (u64)(long)((int *)info)[2];
	got_addr = ((u64 *)info)[2];
	got_sp = sp;
	syscall4(SYS_rt_sigprocmask, 0, 0, (long)&mask, 8);
	got_mask = mask;
	(void)uc;
	if (sig == 11)
		check_sys(sys_mprotect(ro_page, 4096, PROT_READ | PROT_WRITE), "mprotect in handler");
}

static void install(int sig, unsigned long flags)
{
	struct ksa sa = {handler, SA_SIGINFO | SA_RESTORER | flags, restorer, 0};
	check_sys(syscall4(SYS_rt_sigaction, sig, (long)&sa, 0, 8), "rt_sigaction");
}

static void do_handlers(void)
{
	u64 keep = 0x1234567887654321UL, mask;
	long ss[3] = {(long)altstack, 0, sizeof altstack};
	install(10, 0);
	check_sys(syscall3(SYS_tgkill, sys_getpid(), sys_gettid(), 10), "tgkill");
	put("usr1 ");
	putu(got_sig);
	put(" code ");
	puthex(got_code);
	put(" mask ");
	puthex(got_mask);
	syscall4(SYS_rt_sigprocmask, 0, 0, (long)&mask, 8);
	put(" after ");
	puthex(mask);
	put("\n");
	/* a write to a read-only page: the handler makes it writable, the
	 * store is retried and lands */
	ro_page = (u64 *)map_anon(1);
	check_sys(sys_mprotect(ro_page, 4096, PROT_READ), "mprotect");
	install(11, 0);
	*(volatile u64 *)(ro_page + 3) = keep;
	put("segv ");
	putu(got_sig);
	put(" code ");
	putu(got_code);
	put(got_addr == (u64)(ro_page + 3) ? " addr ok" : " addr bad");
	put(ro_page[3] == keep ? " stored\n" : " lost\n");
	/* SA_ONSTACK: the handler runs on the alternate stack */
	check_sys(syscall2(SYS_sigaltstack, (long)ss, 0), "sigaltstack");
	install(12, SA_ONSTACK);
	check_sys(syscall2(SYS_kill, sys_getpid(), 12), "kill");
	put("usr2 ");
	putu(got_sig);
	put(got_sp >= (u64)altstack && got_sp < (u64)altstack + sizeof altstack ? " on altstack" : " not on altstack");
	put(" code ");
	puthex(got_code);
	put(keep == 0x1234567887654321UL ? " regs kept\n" : " regs lost\n");
}

/* do_pipe: a child writes into a pipe after 1 ms while the parent sleeps
 * in read; EOF once the child is gone; -EPIPE with SIGPIPE ignored. */
#define SYS_pipe2 293
static void do_pipe(void)
{
	int fds[2], st = 0;
	char b[8];
	long pid, n;
	struct ksa ign = {(void (*)(int, void *, void *))1, SA_RESTORER, restorer, 0};
	check_sys(syscall2(SYS_pipe2, (long)fds, O_CLOEXEC), "pipe2");
	pid = check_sys(sys_fork(), "fork");
	if (pid == 0) {
		long ts[2] = {0, 1000000};
		sys_close(fds[0]);
		sys_nanosleep(ts, 0);
		sys_write(fds[1], "ping", 4);
		syscall1(60, 7);
	}
	sys_close(fds[1]);
	n = check_sys(sys_read(fds[0], b, sizeof b), "read");
	sys_write(1, b, n);
	put(" ");
	putu(check_sys(sys_read(fds[0], b, sizeof b), "read EOF"));
	check_sys(sys_wait4(pid, &st, 0, 0), "wait4");
	put(" status ");
	puthex(st);
	check_sys(syscall2(SYS_pipe2, (long)fds, 0), "pipe2");
	sys_close(fds[0]);
	check_sys(syscall4(SYS_rt_sigaction, 13, (long)&ign, 0, 8), "ignore SIGPIPE");
	put(" write ");
	putu(-sys_write(fds[1], "x", 1));
	/* a child in pause(2) killed by SIGTERM: wait status 15 */
	pid = check_sys(sys_fork(), "fork");
	if (pid == 0) {
		syscall0(34);
		syscall1(60, 1);
	}
	{
		long ts[2] = {0, 100000};
		sys_nanosleep(ts, 0);
	}
	check_sys(syscall2(SYS_kill, pid, 15), "kill");
	check_sys(sys_wait4(pid, &st, 0, 0), "wait4");
	put(" paused child ");
	puthex(st);
	put("\n");
}

/* do_suspend: SIGUSR1 blocked, a thread kill()s the process after 1 ms
 * while main waits in rt_sigsuspend with an empty mask: the handler runs,
 * the call returns -EINTR, SIGUSR1 is blocked again. */
static void killer(void *arg)
{
	long ts[2] = {0, 1000000};
	(void)arg;
	sys_nanosleep(ts, 0);
	syscall2(SYS_kill, sys_getpid(), 10);
}

static void do_suspend(void)
{
	u64 blk = 1UL << 9, empty = 0, now = 0;
	struct thread *t;
	long r;
	install(10, 0);
	check_sys(syscall4(SYS_rt_sigprocmask, 0, (long)&blk, 0, 8), "block");
	t = thread_create(killer, 0);
	r = syscall2(130, (long)&empty, 8);
	syscall4(SYS_rt_sigprocmask, 0, 0, (long)&now, 8);
	put("sigsuspend ");
	putu(-r);
	put(" got ");
	putu(got_sig);
	put(" mask ");
	puthex(now);
	put("\n");
	thread_join(t);
}

/* do_sigchld: SIGCHLD blocked, a forked child exits, the parent waits in
 * rt_sigsuspend: its SIGCHLD handler runs. */
static void do_sigchld(void)
{
	u64 blk = 1UL << 16, empty = 0;
	long pid, r;
	int st;
	install(17, 0);
	check_sys(syscall4(SYS_rt_sigprocmask, 0, (long)&blk, 0, 8), "block");
	pid = check_sys(sys_fork(), "fork");
	if (pid == 0)
		syscall1(60, 0);
	r = syscall2(130, (long)&empty, 8);
	put("sigchld ");
	putu(-r);
	put(" got ");
	putu(got_sig);
	put(" code ");
	putu(got_code);
	check_sys(sys_wait4(pid, &st, 0, 0), "wait4");
	put("\n");
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	if (streq(argv[1], "pagemap"))
		do_pagemap();
	else if (streq(argv[1], "tlb"))
		do_tlb(argc > 2 ? (u64)(argv[2][0] - '0') : 2);
	else if (streq(argv[1], "abort"))
		do_abort();
	else if (streq(argv[1], "handlers"))
		do_handlers();
	else if (streq(argv[1], "sigchld"))
		do_sigchld();
	else if (streq(argv[1], "suspend"))
		do_suspend();
	else if (streq(argv[1], "pipe"))
		do_pipe();
	else if (streq(argv[1], "sleep"))
		do_sleep();
	else if (streq(argv[1], "files"))
		do_files();
	else
		return 2;
	return 0;
}
