/*
 * rt.h - a tiny freestanding runtime for emu's guest workloads.
 *
 * No libc: raw Linux x86-64 system calls through the `syscall`
 * instruction, threads made with raw clone(2), atomics from the
 * __atomic builtins (which compile to plain moves, xchg and
 * lock-prefixed integer instructions), and a xorshift64* PRNG.
 *
 * The programs are built with -mgeneral-regs-only, so no SSE/AVX/x87
 * instruction can appear, and they never touch %fs (no TLS).
 */
#ifndef RT_H
#define RT_H

typedef unsigned long u64;
typedef long s64;
typedef unsigned int u32;
typedef int s32;
typedef unsigned char u8;
typedef unsigned long size_t;

#define NULL ((void *)0)

#define PAGE_SIZE 4096UL
#define WORDS_PER_PAGE (PAGE_SIZE / 8)

/* System call numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
#define SYS_read 0
#define SYS_write 1
#define SYS_close 3
#define SYS_mmap 9
#define SYS_mprotect 10
#define SYS_munmap 11
#define SYS_ioctl 16
#define SYS_pread64 17
#define SYS_sched_yield 24
#define SYS_madvise 28
#define SYS_nanosleep 35
#define SYS_getpid 39
#define SYS_clone 56
#define SYS_fork 57
#define SYS_exit 60
#define SYS_wait4 61
#define SYS_gettid 186
#define SYS_futex 202
#define SYS_exit_group 231
#define SYS_openat 257
#define SYS_userfaultfd 323

/* mmap / mprotect / madvise. */
#define PROT_NONE 0
#define PROT_READ 1
#define PROT_WRITE 2
#define MAP_PRIVATE 0x02
#define MAP_ANONYMOUS 0x20
#define MAP_FAILED ((void *)-1)
#define MADV_DONTNEED 4

/* openat. */
#define AT_FDCWD (-100)
#define O_RDONLY 0
#define O_WRONLY 1
#define O_RDWR 2
#define O_NONBLOCK 04000
#define O_CLOEXEC 02000000

/* clone flags (include/uapi/linux/sched.h). */
#define CLONE_VM 0x00000100
#define CLONE_FS 0x00000200
#define CLONE_FILES 0x00000400
#define CLONE_SIGHAND 0x00000800
#define CLONE_THREAD 0x00010000
#define CLONE_SYSVSEM 0x00040000
#define CLONE_PARENT_SETTID 0x00100000
#define CLONE_CHILD_CLEARTID 0x00200000

/* futex ops. */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1

/* errno values the programs look at. */
#define EINTR 4
#define EAGAIN 11
#define EEXIST 17

/* Raw system calls. Return values in [-4095, -1] are -errno. */
static inline long syscall0(long n)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(n) : "rcx", "r11", "memory");
	return ret;
}

static inline long syscall1(long n, long a)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a) : "rcx", "r11", "memory");
	return ret;
}

static inline long syscall2(long n, long a, long b)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b) : "rcx", "r11", "memory");
	return ret;
}

static inline long syscall3(long n, long a, long b, long c)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long syscall4(long n, long a, long b, long c, long d)
{
	long ret;
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long syscall6(long n, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long sys_read(int fd, void *buf, size_t n) { return syscall3(SYS_read, fd, (long)buf, (long)n); }
static inline long sys_write(int fd, const void *buf, size_t n) { return syscall3(SYS_write, fd, (long)buf, (long)n); }
static inline long sys_close(int fd) { return syscall1(SYS_close, fd); }
static inline void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, long off)
{
	return (void *)syscall6(SYS_mmap, (long)addr, (long)len, prot, flags, fd, off);
}
static inline long sys_mprotect(void *addr, size_t len, int prot) { return syscall3(SYS_mprotect, (long)addr, (long)len, prot); }
static inline long sys_munmap(void *addr, size_t len) { return syscall2(SYS_munmap, (long)addr, (long)len); }
static inline long sys_ioctl(int fd, unsigned long req, void *arg) { return syscall3(SYS_ioctl, fd, (long)req, (long)arg); }
static inline long sys_sched_yield(void) { return syscall0(SYS_sched_yield); }
static inline long sys_madvise(void *addr, size_t len, int advice) { return syscall3(SYS_madvise, (long)addr, (long)len, advice); }
static inline long sys_nanosleep(const void *req, void *rem) { return syscall2(SYS_nanosleep, (long)req, (long)rem); }
static inline long sys_getpid(void) { return syscall0(SYS_getpid); }
static inline long sys_fork(void) { return syscall0(SYS_fork); }
static inline long sys_wait4(int pid, int *status, int options, void *rusage)
{
	return syscall4(SYS_wait4, pid, (long)status, options, (long)rusage);
}
static inline long sys_gettid(void) { return syscall0(SYS_gettid); }
static inline long sys_futex(int *uaddr, int op, int val, const void *timeout)
{
	return syscall4(SYS_futex, (long)uaddr, op, val, (long)timeout);
}
static inline long sys_openat(int dirfd, const char *path, int flags, int mode)
{
	return syscall4(SYS_openat, dirfd, (long)path, flags, mode);
}
static inline long sys_userfaultfd(int flags) { return syscall1(SYS_userfaultfd, flags); }

/* sys_exit ends the calling thread; sys_exit_group ends the process. */
__attribute__((noreturn)) void sys_exit(int code);
__attribute__((noreturn)) void sys_exit_group(int code);

/* Atomics. Loads/stores are plain moves on x86; RMW ops are lock-prefixed. */
static inline u64 atomic_load_u64(const u64 *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void atomic_store_u64(u64 *p, u64 v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline int atomic_load_int(const int *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void atomic_store_int(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
/* atomic_xchg_u64 is a sequentially consistent store (xchg, not mov+mfence). */
static inline u64 atomic_xchg_u64(u64 *p, u64 v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
static inline u64 atomic_fetch_add_u64(u64 *p, u64 v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline int atomic_cas_u64(u64 *p, u64 *expected, u64 desired)
{
	return __atomic_compare_exchange_n(p, expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* xorshift64* (Vigna): state must be non-zero. */
static inline u64 rnd_next(u64 *state)
{
	u64 x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DUL;
}

/* rnd_seed derives a non-zero per-thread state from the run's seed. */
static inline u64 rnd_seed(u64 seed, u64 index)
{
	u64 s = (seed * 0x9E3779B97F4A7C15UL) ^ (index + 1);
	return s ? s : 0x9E3779B97F4A7C15UL;
}

/* Memory (gcc may emit calls to these). */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);

/* Output to fd 2, for error messages only: programs are silent on success. */
size_t rt_strlen(const char *s);
void rt_puts(const char *s);
void rt_print_u64(u64 v);
/* die prints "NAME: MSG (ERR)\n" to fd 2 and exits the process with status 1. */
__attribute__((noreturn)) void die(const char *msg, long err);
/* check_sys dies if ret is a -errno value. */
static inline long check_sys(long ret, const char *what)
{
	if ((unsigned long)ret > -4096UL)
		die(what, ret);
	return ret;
}

/* parse_u64 parses a decimal number; returns 0 on success, -1 on bad input. */
int parse_u64(const char *s, u64 *out);

/* Positional arguments shared by all workloads: THREADS PAGES ITERATIONS SEED. */
struct params {
	u64 threads;
	u64 pages;
	u64 iterations;
	u64 seed;
};
#define MAX_THREADS 1024
/* parse_params fills p from argv[1..4] (defaults 1, 4096, 20, 1); dies on bad input. */
void parse_params(int argc, char **argv, struct params *p);

/* map_anon mmaps npages private anonymous RW pages or dies. */
void *map_anon(u64 npages);
/* touch_pages writes one word into each page so every PTE is present. */
void touch_pages(void *base, u64 npages);
/* busy_loop runs n iterations of a volatile counter loop (no syscalls, no pause). */
void busy_loop(u64 n);

/* Threads: raw clone with a 64 KiB mmapped stack. */
struct thread {
	int tid; /* set by CLONE_PARENT_SETTID, cleared + futex-woken by CLONE_CHILD_CLEARTID */
	int pad;
	void (*fn)(void *);
	void *arg;
};
/* thread_create starts fn(arg) on a new thread; dies on failure. */
struct thread *thread_create(void (*fn)(void *), void *arg);
/* thread_join waits until the thread has exited. */
void thread_join(struct thread *t);

/* Shared random-writer loop used by several workloads. */
struct writer_args {
	u64 *base;     /* first page of the range */
	u64 pages;     /* range length in pages */
	u64 seed;      /* run seed */
	u64 index;     /* thread index */
	u64 *stop;     /* non-zero: return */
	u64 writes;    /* out: number of stores done */
};
/* random_writer stores a running counter into random words of random pages
 * until *stop; it checks the flag every 64 stores. */
void random_writer(void *arg);

#endif
