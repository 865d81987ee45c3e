package kernelmodel

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tlbemu/emu/ipi"
	"github.com/tlbemu/emu/tlb"
)

// readUser reads n bytes of mm's memory at addr through its page tables
// (the pages must be present).
func readUser(t *testing.T, m *Machine, mm *MM, addr uint64, n int) []byte {
	t.Helper()
	out := make([]byte, 0, n)
	for len(out) < n {
		r, code := tlb.Walk(m.mem, mm.pgdCR3(), tlb.VirtAddr(addr), tlb.Read)
		if code != 0 {
			t.Fatalf("%#x not mapped", addr)
		}
		f := m.mem.Frame(r.PFN)[addr&0xfff:]
		k := min(len(f), n-len(out))
		out = append(out, f[:k]...)
		addr += uint64(k)
	}
	return out
}

func cString(t *testing.T, m *Machine, mm *MM, addr uint64) string {
	t.Helper()
	var s []byte
	for {
		b := readUser(t, m, mm, addr, 1)[0]
		if b == 0 {
			return string(s)
		}
		s = append(s, b)
		addr++
	}
}

// TestAuxvLayout checks the initial stack against create_elf_tables: argc,
// argv, envp, the auxiliary vector in the kernel's order with its values,
// the strings above it, 16-byte alignment, and AT_RANDOM from the seed.
func TestAuxvLayout(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		cfg := DefaultConfig()
		cfg.MemBytes = 64 << 20
		cfg.Seed = seed
		m, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		var a asm
		a.exitGroup(0)
		prog := guestELF(a.b)
		argv := []string{"prog", "arg one"}
		envp := []string{"HOME=/root", "X="}
		if err := m.Exec(prog, "/usr/bin/prog", argv, envp); err != nil {
			t.Fatal(err)
		}
		task := m.tasks[0]
		mm := task.mm
		sp := task.regs.GPR[4]
		if sp%16 != 0 {
			t.Errorf("rsp %#x not 16-byte aligned", sp)
		}
		word := func(i int) uint64 { return binary.LittleEndian.Uint64(readUser(t, m, mm, sp+uint64(i)*8, 8)) }
		if word(0) != 2 {
			t.Fatalf("argc %d", word(0))
		}
		for i, s := range argv {
			if got := cString(t, m, mm, word(1+i)); got != s {
				t.Errorf("argv[%d] = %q, want %q", i, got, s)
			}
		}
		if word(3) != 0 {
			t.Errorf("argv not NULL-terminated")
		}
		for i, s := range envp {
			if got := cString(t, m, mm, word(4+i)); got != s {
				t.Errorf("envp[%d] = %q, want %q", i, got, s)
			}
		}
		if word(6) != 0 {
			t.Errorf("envp not NULL-terminated")
		}
		// strings read upwards: argv, envp, then the filename and a NULL word at the top
		if word(1)+uint64(len("prog")+1) != word(2) || word(4) != word(2)+uint64(len("arg one")+1) {
			t.Errorf("strings not contiguous in order: %#x %#x %#x", word(1), word(2), word(4))
		}
		execfn := stackTop - 8 - uint64(len("/usr/bin/prog")+1)
		type kv struct{ k, v uint64 }
		var auxv []kv
		for i := 7; ; i += 2 {
			auxv = append(auxv, kv{word(i), word(i + 1)})
			if word(i) == atNull {
				break
			}
		}
		var random, platform uint64
		want := []kv{
			{atMinSigStkSz, minSigStkSz}, {atHwcap, hwcap}, {atPagesz, 4096}, {atClktck, 100},
			{atPhdr, guestText + 64}, {atPhent, 56}, {atPhnum, 2}, {atBase, 0}, {atFlags, 0},
			{atEntry, guestText + 64 + 2*56}, {atUID, 0}, {atEUID, 0}, {atGID, 0}, {atEGID, 0},
			{atSecure, 0}, {atRandom, 0}, {atHwcap2, 0}, {atExecfn, execfn}, {atPlatform, 0}, {atNull, 0},
		}
		if len(auxv) != len(want) {
			t.Fatalf("auxv %v, want %d entries", auxv, len(want))
		}
		for i, w := range want {
			g := auxv[i]
			if g.k != w.k {
				t.Fatalf("auxv[%d] type %d, want %d", i, g.k, w.k)
			}
			switch w.k {
			case atRandom:
				random = g.v
			case atPlatform:
				platform = g.v
			default:
				if g.v != w.v {
					t.Errorf("auxv type %d = %#x, want %#x", w.k, g.v, w.v)
				}
			}
		}
		if got := cString(t, m, mm, execfn); got != "/usr/bin/prog" {
			t.Errorf("AT_EXECFN string %q", got)
		}
		if got := cString(t, m, mm, platform); got != "x86_64" {
			t.Errorf("AT_PLATFORM string %q", got)
		}
		if random+16 != platform || platform+7 > word(1) {
			t.Errorf("AT_RANDOM %#x, AT_PLATFORM %#x, strings at %#x: not create_elf_tables' order", random, platform, word(1))
		}
		var key [32]byte
		binary.LittleEndian.PutUint64(key[:], seed)
		copy(key[8:], "emu AT_RANDOM/getrandom")
		wantRand := make([]byte, 16)
		rand.NewChaCha8(key).Read(wantRand)
		if got := readUser(t, m, mm, random, 16); !bytes.Equal(got, wantRand) {
			t.Errorf("seed %d: AT_RANDOM bytes %x, want %x", seed, got, wantRand)
		}
		if absPath("./a/../b//c") != "/b/c" {
			t.Errorf("absPath = %q", absPath("./a/../b//c"))
		}
		if mm.argStart != word(1) || mm.argEnd != word(4) || mm.envStart != word(4) || mm.envEnd != execfn || mm.startStack != sp {
			t.Errorf("arg %#x-%#x env %#x-%#x start_stack %#x", mm.argStart, mm.argEnd, mm.envStart, mm.envEnd, mm.startStack)
		}
		if mm.startCode != guestText || mm.endCode != guestText+uint64(len(prog)) || mm.startData != guestData || mm.endData != guestData {
			t.Errorf("code %#x-%#x data %#x-%#x", mm.startCode, mm.endCode, mm.startData, mm.endData)
		}
		if mm.exe != "/usr/bin/prog" || task.comm != "prog" {
			t.Errorf("exe %q comm %q", mm.exe, task.comm)
		}
	}
}

// TestAuxvHWCAPMatchesCPUID runs CPUID leaf 1 in a guest: EDX must be the
// AT_HWCAP the model passes.
func TestAuxvHWCAPMatchesCPUID(t *testing.T) {
	var a asm
	a.mov(rAX, 1)
	a.mov(rCX, 0)
	a.b = append(a.b, 0x0f, 0xa2)       // cpuid
	a.b = append(a.b, 0x48, 0x89, 0xd0) // mov rax, rdx
	a.storeRAX(guestData)
	a.dump()
	a.exitGroup(0)
	cfg := DefaultConfig()
	cfg.MemBytes = 64 << 20
	m, err := runGuest(t, cfg, a.b)
	if err != nil {
		t.Fatal(err)
	}
	if got := guestWord(t, m, guestData) & 0xffffffff; got != hwcap {
		t.Errorf("CPUID.1:EDX = %#x, AT_HWCAP = %#x", got, hwcap)
	}
}

// withUser runs f as a task of a fresh process on CPU 0 of a machine with
// the given CPUs, with one scratch page at the returned address.
func withUser(t *testing.T, cpus int, f func(v *VCPU, scratch uint64)) *Machine {
	t.Helper()
	m, mm := newTestMachine(t, cpus)
	mm.files = []*file{{kind: fileStdio, stdio: 0}, {kind: fileStdio, stdio: 1, flags: oWronly}, {kind: fileStdio, stdio: 2, flags: oWronly}}
	mm.exe = "/bin/test"
	runScripts(t, m, map[int]func(*VCPU){0: func(v *VCPU) {
		attach(v, mm, 0)
		f(v, mmapAnon(t, v, 4))
		detach(v)
	}})
	return m
}

// putStr writes a NUL-terminated string at addr.
func putStr(t *testing.T, v *VCPU, addr uint64, s string) uint64 {
	t.Helper()
	if err := v.copyToUser(addr, append([]byte(s), 0)); err != 0 {
		t.Fatal(err)
	}
	return addr
}

// TestSyscallErrnos checks the Linux errno of each call's error cases,
// and the success values of the simple ones.
func TestSyscallErrnos(t *testing.T) {
	withUser(t, 2, func(v *VCPU, s uint64) {
		p := func(str string) uint64 { return putStr(t, v, s+2048, str) }
		open := func(path string, flags uint64) int64 { return v.sysOpenat(atFDCWD, p(path), flags, 0) }
		set := func(w ...uint64) uint64 { putWords(t, v, s+3072, w...); return s + 3072 }
		cases := []struct {
			name string
			got  func() int64
			want int64
		}{
			{"arch_prctl SET_FS kernel address", func() int64 { return v.sysArchPrctl(archSetFS, 1<<63) }, -EPERM},
			{"arch_prctl SET_FS", func() int64 { return v.sysArchPrctl(archSetFS, 0x1234000) }, 0},
			{"arch_prctl GET_FS", func() int64 { v.sysArchPrctl(archGetFS, s); return int64(getWord(t, v, s)) }, 0x1234000},
			{"arch_prctl bad code", func() int64 { return v.sysArchPrctl(0x1011+0x100, 0) }, -EINVAL},
			{"arch_prctl GET_GS bad address", func() int64 { return v.sysArchPrctl(archGetGS, 0x10) }, -EFAULT},
			{"set_robust_list bad len", func() int64 { return v.sysSetRobustList(s, 23) }, -EINVAL},
			{"set_robust_list", func() int64 { return v.sysSetRobustList(s, 24) }, 0},
			{"prlimit64 bad resource", func() int64 { return v.sysPrlimit64(0, 16, 0, s) }, -EINVAL},
			{"prlimit64 no such pid", func() int64 { return v.sysPrlimit64(999, rlimitStack, 0, s) }, -ESRCH},
			{"prlimit64 STACK", func() int64 { v.sysPrlimit64(0, rlimitStack, 0, s); return int64(getWord(t, v, s)) }, 8 << 20},
			{"prlimit64 cur > max", func() int64 { return v.sysPrlimit64(0, rlimitStack, set(2, 1), 0) }, -EINVAL},
			{"prlimit64 NOFILE > nr_open", func() int64 { return v.sysPrlimit64(0, rlimitNofile, set(1, nrOpen+1), 0) }, -EPERM},
			{"prlimit64 set", func() int64 {
				v.sysPrlimit64(0, rlimitStack, set(1<<20, 1<<30), 0)
				v.sysPrlimit64(0, rlimitStack, 0, s)
				return int64(getWord(t, v, s+8))
			}, 1 << 30},
			{"getrandom bad flags", func() int64 { return v.sysGetrandom(s, 8, 8) }, -EINVAL},
			{"getrandom insecure|random", func() int64 { return v.sysGetrandom(s, 8, grndInsecure|grndRandom) }, -EINVAL},
			{"getrandom", func() int64 { return v.sysGetrandom(s, 16, 0) }, 16},
			{"getrandom bad buffer", func() int64 { return v.sysGetrandom(0x1000, 16, 0) }, -EFAULT},
			{"clock_gettime bad clock", func() int64 { return v.sysClockGettime(99, s) }, -EINVAL},
			{"clock_gettime bad buffer", func() int64 { return v.sysClockGettime(clockMonotonic, 0x1000) }, -EFAULT},
			{"clock_getres coarse", func() int64 { v.sysClockGetres(clockMonotonicCoarse, s); return int64(getWord(t, v, s+8)) }, 4_000_000},
			{"clock_getres NULL", func() int64 { return v.sysClockGetres(clockRealtime, 0) }, 0},
			{"clock_nanosleep cputime", func() int64 { _, e := v.sleepNS(clockThreadCPUTime, 0, s); return e }, -EINVAL},
			{"nanosleep bad nsec", func() int64 { _, e := v.getTimespec(set(0, 1e9)); return e }, -EINVAL},
			{"uname", func() int64 { return v.sysUname(s) }, 0},
			{"sched_getaffinity short", func() int64 { return v.sysSchedGetaffinity(0, 0, s) }, -EINVAL},
			{"sched_getaffinity odd", func() int64 { return v.sysSchedGetaffinity(0, 12, s) }, -EINVAL},
			{"sched_getaffinity", func() int64 { return v.sysSchedGetaffinity(0, 128, s) }, 8},
			{"sched_getaffinity mask", func() int64 { return int64(getWord(t, v, s)) }, 3},
			{"sched_getaffinity no pid", func() int64 { return v.sysSchedGetaffinity(999, 128, s) }, -ESRCH},
			{"sched_setaffinity", func() int64 { return v.sysSchedSetaffinity(0, 8, set(2)) }, 0},
			{"sched_setaffinity no online CPU", func() int64 { return v.sysSchedSetaffinity(0, 8, set(4)) }, -EINVAL},
			{"getuid", func() int64 { return v.getID(sysGetuid) }, 0},
			{"getppid of the first process", func() int64 { return v.getID(sysGetppid) }, 0},
			{"rt_sigaction bad sigsetsize", func() int64 { return v.sysRtSigaction(SIGINT, 0, s, 4) }, -EINVAL},
			{"rt_sigaction SIGKILL", func() int64 { return v.sysRtSigaction(SIGKILL, set(1, 0, 0, 0), 0, 8) }, -EINVAL},
			{"rt_sigaction 65", func() int64 { return v.sysRtSigaction(65, 0, s, 8) }, -EINVAL},
			{"rt_sigaction install", func() int64 { return v.sysRtSigaction(SIGUSR1, set(0x401000, 0x04000000, 0x401100, 0), 0, 8) }, 0},
			{"rt_sigaction read back", func() int64 { v.sysRtSigaction(SIGUSR1, 0, s, 8); return int64(getWord(t, v, s)) }, 0x401000},
			{"rt_sigprocmask bad how", func() int64 { return v.sysRtSigprocmask(3, set(0), 0, 8) }, -EINVAL},
			{"rt_sigprocmask bad sigsetsize", func() int64 { return v.sysRtSigprocmask(sigBlock, 0, s, 16) }, -EINVAL},
			{"rt_sigprocmask SIGKILL unblockable", func() int64 {
				v.sysRtSigprocmask(sigSetmask, set(^uint64(0)), 0, 8)
				v.sysRtSigprocmask(sigSetmask, set(0), s, 8)
				return int64(getWord(t, v, s))
			}, ^int64(sigUnblockable)},
			{"sigaltstack too small", func() int64 { return v.sysSigaltstack(set(s, 0, 1024), 0) }, -ENOMEM},
			{"sigaltstack bad flags", func() int64 { return v.sysSigaltstack(set(s, 8, 8192), 0) }, -EINVAL},
			{"sigaltstack none", func() int64 { v.sysSigaltstack(0, s); return int64(getWord(t, v, s+8)) }, ssDisable},
			{"kill bad signal", func() int64 { return v.sysKill(1, 65) }, -EINVAL},
			{"kill no such process", func() int64 { return v.sysKill(999, 0) }, -ESRCH},
			{"kill 0 probes", func() int64 { return v.sysKill(int64(v.curr.tgid), 0) }, 0},
			{"kill ignored SIGCHLD", func() int64 { return v.sysKill(int64(v.curr.tgid), SIGCHLD) }, 0},
			{"tgkill bad tid", func() int64 { return v.sysTgkill(1, 0, SIGTERM) }, -EINVAL},
			{"tgkill wrong group", func() int64 { return v.sysTgkill(999, int64(v.curr.tid), 0) }, -ESRCH},
			{"ioctl TCGETS", func() int64 { return v.sysIoctl(1, 0x5401, s) }, -ENOTTY},
			{"ioctl TIOCGWINSZ", func() int64 { return v.sysIoctl(0, 0x5413, s) }, -ENOTTY},
			{"ioctl unknown command", func() int64 { return v.sysIoctl(1, 0x1234abcd, s) }, -ENOTTY},
			{"ioctl bad fd", func() int64 { return v.sysIoctl(77, 0x5401, s) }, -EBADF},
			{"open missing", func() int64 { return open("/etc/passwd", oRdonly) }, -ENOENT},
			{"open O_CREAT", func() int64 { return open("/proc/x", oCreat|oWronly) }, -EROFS},
			{"open directory for writing", func() int64 { return open("/proc", oWronly) }, -EISDIR},
			{"open maps for write", func() int64 { return open("/proc/self/maps", oWronly) }, -EACCES},
			{"open clear_refs for read", func() int64 { return open("/proc/self/clear_refs", oRdonly) }, -EACCES},
			{"open O_DIRECTORY file", func() int64 { return open("/dev/null", oDirectory) }, -ENOTDIR},
			{"open relative to a file", func() int64 { return v.sysOpenat(1, p("x"), 0, 0) }, -ENOTDIR},
			{"open /dev/null", func() int64 { return open("/dev/null", oRdwr) }, 3},
			{"read /dev/null", func() int64 { return v.sysRead(3, s, 8) }, 0},
			{"write /dev/null", func() int64 { return v.sysWrite(3, s, 8) }, 8},
			{"read stdout", func() int64 { return v.sysRead(1, s, 8) }, -EBADF},
			{"read nil stdin", func() int64 { return v.sysRead(0, s, 8) }, 0},
			{"lseek stdout", func() int64 { return v.sysLseek(1, 0, seekSet) }, -ESPIPE},
			{"lseek bad whence", func() int64 { return v.sysLseek(3, 0, 7) }, -EINVAL},
			{"pread stdout", func() int64 { return v.sysPread(1, s, 8, 0, false) }, -EBADF},
			{"pread stdin", func() int64 { return v.sysPread(0, s, 8, 0, false) }, -ESPIPE},
			{"fcntl GETFL", func() int64 { return v.sysFcntl(3, fGetFL, 0) }, oRdwr},
			{"fcntl SETFL", func() int64 { v.sysFcntl(3, fSetFL, oNonblock|oWronly); return v.sysFcntl(3, fGetFL, 0) }, oRdwr | oNonblock},
			{"fcntl DUPFD_CLOEXEC", func() int64 { return v.sysFcntl(3, fDupFDCloexec, 10) }, 10},
			{"fcntl GETFD", func() int64 { return v.sysFcntl(10, fGetFD, 0) }, fdCloexecFlag},
			{"fcntl SETFD", func() int64 { v.sysFcntl(10, fSetFD, 0); return v.sysFcntl(10, fGetFD, 0) }, 0},
			{"fcntl lock", func() int64 { return v.sysFcntl(3, 5, 0) }, -EINVAL},
			{"fcntl bad fd", func() int64 { return v.sysFcntl(50, fGetFD, 0) }, -EBADF},
			{"dup", func() int64 { return v.sysDup(3) }, 4},
			{"dup3 negative newfd", func() int64 { return v.sysDup3(3, -1, 0) }, -EBADF},
			{"dup2 same", func() int64 { return v.sysDup3(3, 3, -1) }, 3},
			{"dup2 bad", func() int64 { return v.sysDup3(40, 3, -1) }, -EBADF},
			{"dup3 same", func() int64 { return v.sysDup3(3, 3, oCloexec) }, -EINVAL},
			{"dup3 bad flags", func() int64 { return v.sysDup3(3, 6, 1) }, -EINVAL},
			{"dup3", func() int64 { return v.sysDup3(3, 6, oCloexec) }, 6},
			{"close", func() int64 { return v.sysClose(6) }, 0},
			{"close again", func() int64 { return v.sysClose(6) }, -EBADF},
			{"fstat /dev/null mode", func() int64 { v.sysFstat(3, s); return int64(binary.LittleEndian.Uint32(readBytes(t, v, s+24, 4))) }, sIFCHR | 0o666},
			{"fstat rdev", func() int64 { return int64(getWord(t, v, s+40)) }, int64(mkdev(1, 3))},
			{"newfstatat AT_EMPTY_PATH", func() int64 { return v.sysNewfstatat(3, p(""), s, atEmptyPath) }, 0},
			{"newfstatat empty", func() int64 { return v.sysNewfstatat(3, p(""), s, 0) }, -ENOENT},
			{"newfstatat bad flags", func() int64 { return v.sysNewfstatat(atFDCWD, p("/dev/null"), s, 1) }, -EINVAL},
			{"stat missing", func() int64 { return v.sysNewfstatat(atFDCWD, p("/nope"), s, 0) }, -ENOENT},
			{"stat /proc dir", func() int64 {
				v.sysNewfstatat(atFDCWD, p("/proc"), s, 0)
				return int64(binary.LittleEndian.Uint32(readBytes(t, v, s+24, 4)) & 0o170000)
			}, sIFDIR},
			{"readlink bad size", func() int64 { return v.sysReadlinkat(atFDCWD, p("/proc/self/exe"), s, 0) }, -EINVAL},
			{"readlink not a link", func() int64 { return v.sysReadlinkat(atFDCWD, p("/dev/null"), s, 64) }, -EINVAL},
			{"readlink missing", func() int64 { return v.sysReadlinkat(atFDCWD, p("/x"), s, 64) }, -ENOENT},
			{"readlink truncated", func() int64 { return v.sysReadlinkat(atFDCWD, p("/proc/self/exe"), s, 4) }, 4},
			{"readlink /proc/<pid>/exe", func() int64 {
				return v.sysReadlinkat(atFDCWD, p("/proc/"+strconv.Itoa(v.curr.tgid)+"/exe"), s, 64)
			}, int64(len("/bin/test"))},
			{"access missing", func() int64 { return v.sysFaccessat(atFDCWD, p("/etc/ld.so.preload"), rOK, 0) }, -ENOENT},
			{"access maps W_OK", func() int64 { return v.sysFaccessat(atFDCWD, p("/proc/self/maps"), wOK, 0) }, -EACCES},
			{"access maps R_OK", func() int64 { return v.sysFaccessat(atFDCWD, p("/proc/self/maps"), rOK, 0) }, 0},
			{"access bad mode", func() int64 { return v.sysFaccessat(atFDCWD, p("/"), 8, 0) }, -EINVAL},
			{"mmap hint taken", func() int64 { return v.sysMmap(0x10000000, 8192, protRead, mapPrivate|mapAnonymous, -1) }, 0x10000000},
			{"mmap hint taken rounded", func() int64 { return v.sysMmap(0x20000001, 4096, protRead, mapPrivate|mapAnonymous, -1) }, 0x20001000},
			{"mmap hint below mmap_min_addr", func() int64 {
				return map[bool]int64{true: 1}[v.sysMmap(0x1000, 4096, protRead, mapPrivate|mapAnonymous, -1) != 0x1000]
			}, 1},
			{"mmap FIXED_NOREPLACE over a mapping", func() int64 {
				return v.sysMmap(0x10001000, 4096, protRead, mapPrivate|mapAnonymous|mapFixedNoreplace, -1)
			}, -EEXIST},
			{"mmap FIXED_NOREPLACE", func() int64 {
				return v.sysMmap(0x10002000, 4096, protRead, mapPrivate|mapAnonymous|mapFixedNoreplace, -1)
			}, 0x10002000},
			{"prctl SET_NAME", func() int64 { return v.sysPrctl(prSetName, p("a-very-long-thread-name")) }, 0},
			{"prctl GET_NAME", func() int64 {
				v.sysPrctl(prGetName, s)
				return map[bool]int64{true: 1}[string(readBytes(t, v, s, 16)) == "a-very-long-thr\x00"]
			}, 1},
			{"prctl unknown", func() int64 { return v.sysPrctl(9999, 0) }, -EINVAL},
			{"prctl dumpable", func() int64 { v.sysPrctl(prSetDumpable, 0); return v.sysPrctl(prGetDumpable, 0) }, 0},
			{"mincore unaligned", func() int64 { return v.sysMincore(s+1, 4096, s+1024) }, -EINVAL},
			{"mincore hole", func() int64 { return v.sysMincore(0x50000000, 4096, s+1024) }, -ENOMEM},
			{"mincore", func() int64 {
				putWords(t, v, s, 1) // page 0 present; pages 1-3 not touched
				v.sysMincore(s, 4*4096, s+1024)
				return int64(binary.LittleEndian.Uint32(readBytes(t, v, s+1024, 4)))
			}, 1},
			{"getrusage bad who", func() int64 { return v.sysGetrusage(2, s) }, -EINVAL},
			{"getrusage", func() int64 { return v.sysGetrusage(0, s) }, 0},
			{"sysinfo", func() int64 { return v.sysSysinfo(s) }, 0},
			{"sysinfo totalram", func() int64 { return int64(getWord(t, v, s+32)) }, 64 << 20},
			{"getcwd small", func() int64 { return v.sysGetcwd(s, 1) }, -ERANGE},
			{"getcwd", func() int64 { return v.sysGetcwd(s, 64) }, 2},
			{"brk below start", func() int64 { return v.sysBrk(0) }, int64(v.curr.mm.brk)},
			{"futex unaligned", func() int64 { return v.sysFutex(s+1, futexWake, 1, 0, 0, 0) }, -EINVAL},
			{"futex wait bitset 0", func() int64 { return v.sysFutex(s, futexWaitBitset, 0, 0, 0, 0) }, -EINVAL},
			{"futex wait value changed", func() int64 { putWords(t, v, s, 5); return v.sysFutex(s, futexWait|futexPrivateFlag, 4, 0, 0, 0) }, -EAGAIN},
			{"futex wait expired timeout", func() int64 { putWords(t, v, s, 0); return v.sysFutex(s, futexWait, 0, set(0, 0), 0, 0) }, -ETIMEDOUT},
			{"futex wait_bitset past deadline", func() int64 {
				return v.sysFutex(s, futexWaitBitset|futexClockRealtime, 0, set(realtimeEpoch-1, 0), 0, 1)
			}, -ETIMEDOUT},
			{"futex clock_realtime on wake", func() int64 { return v.sysFutex(s, futexWake|futexClockRealtime, 1, 0, 0, 0) }, -ENOSYS},
			{"futex wake nobody", func() int64 { return v.sysFutex(s, futexWakeBitset, 1, 0, 0, 1) }, 0},
			{"futex cmp_requeue mismatch", func() int64 { return v.sysFutex(s, futexCmpRequeue, 1, 1, s+8, 9) }, -EAGAIN},
			{"poll zero timeout", func() int64 {
				putWords(t, v, s, 1|pollOut<<32, 77|(pollIn)<<32)
				r, _ := v.sysPoll(s, 2, 0)
				return r
			}, 2},
			{"poll revents", func() int64 { return int64(getWord(t, v, s)>>48) | int64(getWord(t, v, s+8)>>48)<<16 }, pollOut | pollNval<<16},
		}
		for _, c := range cases {
			if got := c.got(); got != c.want {
				t.Errorf("%s = %d, want %d", c.name, got, c.want)
			}
		}
		v.sysUname(s)
		u := readBytes(t, v, s, 6*65)
		for i, w := range []string{"Linux", "", "5.10.0-emu", "", "x86_64"} {
			if w != "" && string(bytes.TrimRight(u[i*65:(i+1)*65], "\x00")) != w {
				t.Errorf("uname field %d = %q, want %q", i, u[i*65:(i+1)*65], w)
			}
		}
	})
}

func readBytes(t *testing.T, v *VCPU, addr uint64, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if err := v.copyFromUser(b, addr); err != 0 {
		t.Fatalf("copy_from_user(%#x): %d", addr, err)
	}
	return b
}

// TestClocksFromCycles: CLOCK_MONOTONIC is the vCPU's cycles at 3 GHz,
// CLOCK_REALTIME the same from the fixed epoch, and neither goes back
// when another CPU's clock is behind.
func TestClocksFromCycles(t *testing.T) {
	withUser(t, 1, func(v *VCPU, s uint64) {
		v.c.Clock = 3_000_000_123 * 3 // 3,000,000,123 ns
		v.sysClockGettime(clockMonotonic, s)
		if sec, ns := getWord(t, v, s), getWord(t, v, s+8); sec != 3 || ns != 123 {
			t.Errorf("monotonic %d.%09d, want 3.000000123", sec, ns)
		}
		v.sysClockGettime(clockRealtime, s)
		if sec := getWord(t, v, s); sec != realtimeEpoch+3 {
			t.Errorf("realtime %d, want %d", sec, realtimeEpoch+3)
		}
		if got := v.sysTime(0); got != realtimeEpoch+3 {
			t.Errorf("time() = %d", got)
		}
		v.sysGettimeofday(s, 0)
		if usec := getWord(t, v, s+8); usec != 0 {
			t.Errorf("gettimeofday usec %d, want 0", usec)
		}
		v.sysClockGettime(clockMonotonic, s)
		before := getWord(t, v, s)*1e9 + getWord(t, v, s+8)
		v.c.Clock -= 3000 // as if on a CPU 1 µs behind
		v.sysClockGettime(clockMonotonic, s)
		if after := getWord(t, v, s)*1e9 + getWord(t, v, s+8); after < before {
			t.Errorf("monotonic went back from %d to %d", before, after)
		}
	})
}

var cGuest struct {
	once sync.Once
	path string
	err  error
}

// buildCGuest compiles testdata/abi_guest.c with the workloads' runtime
// (freestanding, general registers only, as workloads/build.sh does).
func buildCGuest(t *testing.T) []byte {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc on PATH")
	}
	cGuest.once.Do(func() {
		dir, err := os.MkdirTemp("", "abi-guest")
		if err != nil {
			cGuest.err = err
			return
		}
		cGuest.path = filepath.Join(dir, "abi_guest")
		cmd := exec.Command("gcc", "-static", "-nostdlib", "-ffreestanding", "-fno-pie", "-no-pie", "-O2",
			"-mgeneral-regs-only", "-fno-tree-vectorize", "-fno-tree-loop-distribute-patterns",
			"-fno-stack-protector", "-fno-builtin", "-fcf-protection=none", "-I", "../workloads",
			"-o", cGuest.path, "testdata/abi_guest.c", "../workloads/rt.c")
		if out, err := cmd.CombinedOutput(); err != nil {
			cGuest.err = errors.New(string(out))
		}
	})
	if cGuest.err != nil {
		t.Fatalf("gcc: %v", cGuest.err)
	}
	b, err := os.ReadFile(cGuest.path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runC runs the C guest with args, its stdout in a buffer.
func runC(t *testing.T, cpus int, kernel string, args ...string) (*Machine, string, error) {
	t.Helper()
	prog := buildCGuest(t)
	cfg := DefaultConfig()
	cfg.Kernel = kernel
	cfg.CPUs = cpus
	cfg.MaxCycles = 1 << 31 // a hang is a failure, not a timeout
	cfg.MemBytes = 64 << 20
	var out bytes.Buffer
	cfg.Stdout = &out
	cfg.Stderr = &out
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Exec(prog, "/bin/abi_guest", append([]string{"abi_guest"}, args...), []string{"PATH=/bin"}); err != nil {
		t.Fatal(err)
	}
	err = m.Run(context.Background())
	return m, out.String(), err
}

// runCOutput runs the C guest's test arg (runC) and checks that it ran to
// its end with exactly the output want.
func runCOutput(t *testing.T, cpus int, arg, want string) *Machine {
	t.Helper()
	m, out, err := runC(t, cpus, "5.10", arg)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out != want {
		t.Errorf("%s: output\n%q, want\n%q", arg, out, want)
	}
	return m
}

// runCKilled runs the C guest's test (runC) and checks that it was killed
// by a sent signal sig, with that wait status; it returns the machine,
// the output and the kill error.
func runCKilled(t *testing.T, cpus int, sig int, args ...string) (*Machine, string, error) {
	t.Helper()
	m, out, err := runC(t, cpus, "5.10", args...)
	var gs *GuestSignal
	if !errors.As(err, &gs) || gs.Sig != sig || !gs.Sent {
		t.Fatalf("run: %v, want killed by signal %d\n%s", err, sig, out)
	}
	if code, s := m.ExitStatus(); code != 0 || s != sig {
		t.Errorf("ExitStatus = %d, %d", code, s)
	}
	return m, out, err
}

// TestPagemapSoftDirtyReadBack: after "4" to clear_refs, only the pages
// written since have bit 55 set; all are present (bit 63), exclusively
// mapped (bit 56) anonymous pages with a PFN; a misaligned pread is
// -EINVAL. On the v5.10 baseline the writes go through the TLB entries
// clear_refs left writable (no flush): pagemap shows them clean, the
// soft-dirty hole the model exists to show.
func TestPagemapSoftDirtyReadBack(t *testing.T) {
	pagemapReadBack(t, "5.10-stable", true)
	pagemapReadBack(t, "5.10", false)
}

func pagemapReadBack(t *testing.T, kernel string, fixed bool) {
	m, out, err := runC(t, 1, kernel, "pagemap")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("output %q", out)
	}
	for i, l := range lines[:4] {
		e, err := strconv.ParseUint(l, 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		dirty := (i == 1 || i == 3) && fixed
		if got := e&pmSoftDirty != 0; got != dirty {
			t.Errorf("%s: page %d: entry %#x soft-dirty %v, want %v", kernel, i, e, got, dirty)
		}
		if e&(pmPresent|pmMMapExclusive) != pmPresent|pmMMapExclusive || e&(pmFile|pmSwap|pmUffdWP) != 0 {
			t.Errorf("page %d: entry %#x, want present, exclusive, anonymous", i, e)
		}
		if pfn := e & pmPFrameMask; pfn == 0 || pfn >= m.mem.Frames() {
			t.Errorf("page %d: PFN %#x", i, pfn)
		}
	}
	if lines[4] != strconv.Itoa(EINVAL) {
		t.Errorf("misaligned pread = -%s, want -EINVAL", lines[4])
	}
}

// TestProcInterruptsTLBRow: a guest that measures its own shootdowns reads
// the TLB row of /proc/interrupts; its last read (just before it SIGKILLs
// itself) equals the machine's per-CPU interrupts.TLB counts, and the
// row grew across the mprotects.
func TestProcInterruptsTLBRow(t *testing.T) {
	m, out, _ := runCKilled(t, 3, SIGKILL, "tlb", "2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("output %q", out)
	}
	parse := func(l string) []uint64 {
		f := strings.Fields(l)
		if f[0] != "TLB:" || strings.Join(f[len(f)-2:], " ") != "TLB shootdowns" {
			t.Fatalf("row %q", l)
		}
		var n []uint64
		for _, x := range f[1 : len(f)-2] {
			v, err := strconv.ParseUint(x, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			n = append(n, v)
		}
		return n
	}
	before, after := parse(lines[0]), parse(lines[1])
	st := m.Stats()
	if len(after) != 3 || len(st.TLBIRQs) != 3 {
		t.Fatalf("row %v, stats %v", after, st.TLBIRQs)
	}
	var sumB, sumA uint64
	for i := range after {
		if after[i] != st.TLBIRQs[i] {
			t.Errorf("cpu %d: /proc/interrupts TLB %d, interrupts.TLB %d", i, after[i], st.TLBIRQs[i])
		}
		sumB, sumA = sumB+before[i], sumA+after[i]
	}
	if sumA < sumB+20 {
		t.Errorf("TLB row grew from %v to %v over 20 mprotects of a page two other threads use", before, after)
	}
	// the row's format: "TLB:" right-aligned in 3 columns, %10u per CPU
	if !strings.HasPrefix(lines[1], "TLB: ") || len(lines[1]) != len("TLB: ")+3*11+len("  TLB shootdowns") {
		t.Errorf("row format %q", lines[1])
	}
}

// TestAbortSignal: glibc's abort raises SIGABRT with every signal blocked,
// then unblocks it: the process dies by SIGABRT at the unblock.
func TestAbortSignal(t *testing.T) {
	_, out, err := runCKilled(t, 1, SIGABRT, "abort")
	if out != "still alive while blocked\n" {
		t.Errorf("output %q", out)
	}
	if !strings.Contains(err.Error(), "SIGABRT") {
		t.Errorf("error %q", err)
	}
}

// TestGuestFiles: /dev/zero, lseek and pread on a generated file, dup2,
// readlink("/proc/self/exe"), getcwd, through the syscall entry.
func TestGuestFiles(t *testing.T) {
	m := runCOutput(t, 1, "files", "0\n9\n00401000\n00400000\n1\nvia5\n/bin/abi_guest\n2/\n")
	if code, s := m.ExitStatus(); code != 0 || s != 0 {
		t.Errorf("ExitStatus = %d, %d", code, s)
	}
}

// TestProcMapsFormat renders /proc/self/maps for a process with an ELF
// segment, a heap, an anonymous mapping and the stack.
func TestProcMapsFormat(t *testing.T) {
	withUser(t, 1, func(v *VCPU, s uint64) {
		mm := v.curr.mm
		mm.insertVMA(&VMA{start: 0x400000, end: 0x402000, flags: VM_READ | VM_EXEC | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC, anon: true, name: "elf", exeBias: -0x400})
		mm.startBrk, mm.brk = 0x403000, 0x403000
		if got := v.sysBrk(0x404800); got != 0x404800 {
			t.Fatalf("brk = %#x", got)
		}
		if got := v.sysBrk(0x406000); got != 0x406000 {
			t.Fatalf("brk = %#x", got)
		}
		mm.insertVMA(&VMA{start: stackTop - 0x21000, end: stackTop, flags: VM_READ | VM_WRITE | VM_GROWSDOWN, anon: true, name: "[stack]"})
		got := string(v.procMaps())
		want := "00400000-00402000 r-xp 00000000 00:00 0                                  /bin/test\n" +
			"00403000-00406000 rw-p 00000000 00:00 0                                  [heap]\n" +
			strconv.FormatUint(s, 16) + "-" + strconv.FormatUint(s+4*4096, 16) + " rw-p 00000000 00:00 0 \n" +
			"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]\n"
		if got != want {
			t.Errorf("maps\n%s\nwant\n%s", got, want)
		}
		if v.sysBrk(0x404000) != 0x404000 || mm.findVMA(0x405000) != nil {
			t.Errorf("brk shrink did not unmap")
		}
		stat := strings.Fields(string(v.procStat()))
		if len(stat) != 52 || stat[1] != "(test)" || stat[2] != "R" || stat[19] != "1" || stat[50] != strconv.FormatUint(mm.envEnd, 10) {
			t.Errorf("stat %d fields: %q", len(stat), stat)
		}
		status := string(v.procStatus())
		for _, l := range []string{"Name:\ttest\n", "Pid:\t", "Threads:\t1\n", "VmRSS:\t", "Cpus_allowed_list:\t0\n"} {
			if !strings.Contains(status, l) {
				t.Errorf("status lacks %q:\n%s", l, status)
			}
		}
	})
}

// TestStdoutStreaming: fd 1 and fd 2 reach Config.Stdout and Stderr as the
// guest writes, and nothing is captured; fd 0 reads Config.Stdin.
func TestStdoutStreaming(t *testing.T) {
	var a asm
	a.store(guestData, 0x0a6f6c6c6568) // "hello\n"
	a.store(guestData+8, 0x0a727265)   // "err\n"
	a.syscall(sysWrite, 1, guestData, 6)
	a.syscall(sysWrite, 2, guestData+8, 4)
	a.syscall(sysRead, 0, guestData+16, 3)
	a.syscall(sysWrite, 1, guestData+16, 3)
	a.exitGroup(0)
	cfg := DefaultConfig()
	cfg.MemBytes = 64 << 20
	var o, e bytes.Buffer
	cfg.Stdout, cfg.Stderr, cfg.Stdin = &o, &e, strings.NewReader("in!")
	m, err := runGuest(t, cfg, a.b)
	if err != nil {
		t.Fatal(err)
	}
	if o.String() != "hello\nin!" || e.String() != "err\n" {
		t.Errorf("stdout %q stderr %q", o.String(), e.String())
	}
	if len(m.Output()) != 0 {
		t.Errorf("captured %q with writers set", m.Output())
	}
}

// TestOutputCaptureBounded: without writers, the capture keeps the last
// outputCap bytes and never holds more than twice that plus a write.
func TestOutputCaptureBounded(t *testing.T) {
	m, _ := newTestMachine(t, 1)
	chunk := make([]byte, 1<<20)
	for i := 0; i < 20; i++ {
		for j := range chunk {
			chunk[j] = byte(i)
		}
		if n := m.writeStdio(1, chunk); n != int64(len(chunk)) {
			t.Fatalf("write = %d", n)
		}
		if len(m.stdout) > 2*outputCap+len(chunk) {
			t.Fatalf("capture grew to %d bytes", len(m.stdout))
		}
	}
	out := m.Output()
	if len(out) != outputCap || out[len(out)-1] != 19 || out[0] != byte(20-outputCap>>20) {
		t.Errorf("capture %d bytes, first %d last %d", len(out), out[0], out[len(out)-1])
	}
}

// TestUnimplementedSyscallsCounted: unknown calls return -ENOSYS and are
// counted by name, most frequent first; rseq and clone3 are -ENOSYS by
// design and not counted.
func TestUnimplementedSyscallsCounted(t *testing.T) {
	var a asm
	a.syscall(172) // iopl
	a.storeRAX(guestData)
	a.syscall(172)
	a.syscall(999)
	a.syscall(sysRseq)
	a.storeRAX(guestData + 8)
	a.syscall(sysClone3)
	a.syscall(sysFutex, guestData, 5) // FUTEX_WAKE_OP
	a.dump()
	a.exitGroup(0)
	cfg := DefaultConfig()
	cfg.MemBytes = 64 << 20
	m, err := runGuest(t, cfg, a.b)
	if err != nil {
		t.Fatal(err)
	}
	if got := int64(guestWord(t, m, guestData)); got != -ENOSYS {
		t.Errorf("iopl = %d", got)
	}
	if got := int64(guestWord(t, m, guestData+8)); got != -ENOSYS {
		t.Errorf("rseq = %d", got)
	}
	got := m.UnimplementedSyscalls()
	want := []UnimplementedSyscall{{"iopl", 2}, {"futex_op_5", 1}, {"syscall_999", 1}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %v, want %v", got, want)
		}
	}
}

// TestSIGILLFromUD2: an architectural #UD kills the process with SIGILL,
// reported like a fault; the exit status says so.
func TestSIGILLFromUD2(t *testing.T) {
	var a asm
	a.b = append(a.b, 0x0f, 0x0b) // ud2
	a.exitGroup(0)
	cfg := DefaultConfig()
	cfg.MemBytes = 64 << 20
	m, err := runGuest(t, cfg, a.b)
	var sig *GuestSignal
	if !errors.As(err, &sig) || sig.Sig != SIGILL || sig.Sent || sig.RIP != guestText+64+2*56 {
		t.Fatalf("run: %v, want SIGILL at the ud2", err)
	}
	if code, s := m.ExitStatus(); code != 0 || s != SIGILL {
		t.Errorf("ExitStatus = %d, %d", code, s)
	}
}

// TestExitStatusCode: a normal exit reports its code and no signal.
func TestExitStatusCode(t *testing.T) {
	var a asm
	a.exitGroup(42)
	cfg := DefaultConfig()
	cfg.MemBytes = 64 << 20
	m, err := runGuest(t, cfg, a.b)
	if err != nil {
		t.Fatal(err)
	}
	if code, s := m.ExitStatus(); code != 42 || s != 0 {
		t.Errorf("ExitStatus = %d, %d", code, s)
	}
}

// TestFutexTimeoutAndBrk: a FUTEX_WAIT with a 1 µs timeout returns
// -ETIMEDOUT after at least 3,000 cycles; brk grows the heap, which can
// then be written.
func TestFutexTimeoutAndBrk(t *testing.T) {
	var a asm
	a.store(guestData+64, 0)    // tv_sec
	a.store(guestData+72, 1000) // tv_nsec
	a.syscall(sysClockGettime, clockMonotonic, guestData+80)
	a.syscall(sysFutex, guestData+128, futexWait|futexPrivateFlag, 0, guestData+64)
	a.storeRAX(guestData)
	a.syscall(sysClockGettime, clockMonotonic, guestData+96)
	a.syscall(sysBrk, 0)
	a.storeRAX(guestData + 8)
	a.syscall(sysBrk, guestData+guestDataSize+3*4096)
	a.storeRAX(guestData + 16)
	a.store(guestData+guestDataSize+2*4096, 77)
	a.load(guestData + guestDataSize + 2*4096)
	a.storeRAX(guestData + 24)
	a.dump()
	a.exitGroup(0)
	cfg := DefaultConfig()
	cfg.MemBytes = 64 << 20
	m, err := runGuest(t, cfg, a.b)
	if err != nil {
		t.Fatal(err)
	}
	if got := int64(guestWord(t, m, guestData)); got != -ETIMEDOUT {
		t.Errorf("futex wait = %d, want -ETIMEDOUT", got)
	}
	t0 := guestWord(t, m, guestData+80)*1e9 + guestWord(t, m, guestData+88)
	t1 := guestWord(t, m, guestData+96)*1e9 + guestWord(t, m, guestData+104)
	if t1-t0 < 1000 {
		t.Errorf("futex timeout took %d ns, want ≥ 1000", t1-t0)
	}
	end := uint64(guestData + guestDataSize)
	if got := guestWord(t, m, guestData+8); got != end {
		t.Errorf("brk(0) = %#x, want %#x", got, end)
	}
	if got := guestWord(t, m, guestData+16); got != end+3*4096 {
		t.Errorf("brk(+3 pages) = %#x", got)
	}
	if got := guestWord(t, m, guestData+24); got != 77 {
		t.Errorf("heap word %d", got)
	}
}

// TestSleeperPreemptsSpinner: on one CPU, a thread's 1 ms nanosleep ends
// while the main thread spins waiting for it; the sleeper then runs at the
// next time-slice boundary and the spinner sees its flag.
func TestSleeperPreemptsSpinner(t *testing.T) {
	m := runCOutput(t, 1, "sleep", "woke\n")
	if e := m.Stats().Elapsed; e < 3_000_000 {
		t.Errorf("elapsed %d cycles, want ≥ 1 ms", e)
	}
}

// TestSignalHandlers: a tgkill'd SIGUSR1 runs its handler with SI_TKILL
// and the signal blocked, and rt_sigreturn restores the mask; a SIGSEGV
// from a store to a read-only page reaches the handler with SEGV_ACCERR
// and the address, and the retried store lands; a SA_ONSTACK handler
// runs on the alternate stack; registers survive. The expected output is
// the native run's on Linux.
func TestSignalHandlers(t *testing.T) {
	runCOutput(t, 2, "handlers", "usr1 10 code fffffffffffffffa mask 0000000000000200 after 0000000000000000\n"+
		"segv 11 code 2 addr ok stored\n"+
		"usr2 12 on altstack code 0000000000000000 regs kept\n")
}

// TestGeneratedFilesThroughFDs reads sysfs and procfs files through the
// fd calls: content generated at read time, lseek/pread positions,
// SEEK_END refused, the counters' current values.
func TestGeneratedFilesThroughFDs(t *testing.T) {
	withUser(t, 2, func(v *VCPU, s uint64) {
		path := putStr(t, v, s+2048, "/sys/devices/system/cpu/online")
		fd := int(v.sysOpenat(atFDCWD, path, oRdonly|oCloexec, 0))
		if fd < 0 {
			t.Fatalf("open: %d", fd)
		}
		if n := v.sysRead(fd, s, 100); n != 4 || string(readBytes(t, v, s, 4)) != "0-1\n" {
			t.Errorf("read %d %q", n, readBytes(t, v, s, 4))
		}
		if n := v.sysRead(fd, s, 100); n != 0 {
			t.Errorf("read at EOF = %d", n)
		}
		if r := v.sysLseek(fd, 0, seekEnd); r != -EINVAL {
			t.Errorf("SEEK_END = %d", r)
		}
		if r := v.sysLseek(fd, 2, seekSet); r != 2 {
			t.Errorf("SEEK_SET = %d", r)
		}
		if n := v.sysRead(fd, s, 100); n != 2 || string(readBytes(t, v, s, 2)) != "1\n" {
			t.Errorf("read at 2: %d", n)
		}
		if n := v.sysPread(fd, s, 1, 0, false); n != 1 || readBytes(t, v, s, 1)[0] != '0' {
			t.Errorf("pread at 0: %d", n)
		}
		if v.sysFcntl(fd, fGetFD, 0) != fdCloexecFlag {
			t.Errorf("O_CLOEXEC not kept")
		}
		v.m.nrTLBRemoteFlush = 5
		vm := string(v.procVmstat())
		if !strings.Contains(vm, "\nnr_tlb_remote_flush 5\n") || !strings.Contains(vm, "\nnr_tlb_local_flush_one 0\n") {
			t.Errorf("vmstat:\n%s", vm)
		}
		ints := string(v.procInterrupts())
		if !strings.HasPrefix(ints, "           CPU0       CPU1       \n") || !strings.Contains(ints, "\nCAL:          0          0   Function call interrupts\n") {
			t.Errorf("interrupts:\n%s", ints)
		}
	})
}

// TestPipeBetweenProcesses: the parent sleeps in read until the forked
// child writes, reads end of file once the child has exited, and a write
// without readers is -EPIPE (SIGPIPE ignored); a child in pause(2) killed
// by SIGTERM has wait status 15. The expected output is the native run's.
func TestPipeBetweenProcesses(t *testing.T) {
	runCOutput(t, 2, "pipe", "ping 0 status 0000000000000700 write 32 paused child 000000000000000f\n")
}

// TestProcSmaps: the accounting of an anonymous VMA with one written page
// and one page read (the zero page, not counted), in show_smap's format.
func TestProcSmaps(t *testing.T) {
	withUser(t, 1, func(v *VCPU, s uint64) {
		userAccess(v, s, true)
		userAccess(v, s+4096, false)
		out := string(v.procSmaps())
		i := strings.Index(out, strconv.FormatUint(s, 16)+"-")
		if i < 0 {
			t.Fatalf("no VMA at %#x:\n%s", s, out)
		}
		entry := out[i:]
		entry = entry[:strings.Index(entry, "VmFlags:")+len("VmFlags: rd wr mr mw me ac sd \n")]
		for _, l := range []string{
			"\nSize:                 16 kB\n", "\nRss:                   4 kB\n", "\nPss:                   4 kB\n",
			"\nPrivate_Dirty:         4 kB\n", "\nShared_Clean:          0 kB\n", "\nAnonymous:             4 kB\n",
			"\nReferenced:            4 kB\n", "\nAnonHugePages:         0 kB\n", "\nTHPeligible:    0\n",
			"\nVmFlags: rd wr mr mw me ac sd \n",
		} {
			if !strings.Contains(entry, l) {
				t.Errorf("smaps entry lacks %q:\n%s", l, entry)
			}
		}
	})
}

// TestSigsuspend: rt_sigsuspend with an empty mask sleeps until another
// thread's kill; the handler runs, the call returns -EINTR and the old
// mask (SIGUSR1 blocked) is back. The expected output is the native run's.
func TestSigsuspend(t *testing.T) {
	runCOutput(t, 2, "suspend", "sigsuspend 4 got 10 mask 0000000000000200\n")
}

// TestSigchldHandler: a forked child's exit sends its parent SIGCHLD with
// CLD_EXITED; the parent's handler runs in rt_sigsuspend. The expected
// output is the native run's.
func TestSigchldHandler(t *testing.T) {
	runCOutput(t, 2, "sigchld", "sigchld 4 got 17 code 1\n")
}

// TestSyscallsRandomArgumentsNoPanic drives the non-blocking calls of the
// ABI through the syscall entry with random arguments (small numbers,
// -1, huge values, pointers into, across and outside the scratch
// mapping): every call must return, none may panic the model.
func TestSyscallsRandomArgumentsNoPanic(t *testing.T) {
	nrs := []uint64{sysRead, sysWrite, sysClose, sysStat, sysFstat, sysLstat, sysLseek, sysIoctl, sysPread64,
		sysPwrite64, sysReadv, sysWritev, sysAccess, sysDup, sysDup2, sysGetpid, sysUname, sysFcntl,
		sysGetcwd, sysReadlink, sysGettimeofday, sysGetrlimit, sysGetrusage, sysSysinfo, sysGetuid, sysGetppid,
		sysMincore, sysMincore,
		sysSigaltstack, sysPrctl, sysArchPrctl, sysSetrlimit, sysGettid, sysTime, sysSchedSetaffin,
		sysSchedGetaffin, sysSetTidAddress, sysClockGettime, sysClockGetres, sysOpen, sysOpenat, sysNewfstatat,
		sysReadlinkat, sysFaccessat, sysSetRobustList, sysDup3, sysPipe2, sysPreadv, sysPwritev, sysPrlimit64,
		sysGetrandom, sysMincore, sysRtSigaction, sysRtSigprocmask, sysStatx, sysRseq, sysClone3, 444, 1 << 40}
	withUser(t, 2, func(v *VCPU, s uint64) {
		putStr(t, v, s+100, "/proc/self/pagemap")
		putStr(t, v, s+200, "/proc/self/maps")
		putStr(t, v, s+300, "/dev/zero")
		v.curr.mm.sigHand().action[SIGPIPE].handler = sigIgn // a write to a reader-less pipe would end the task
		rng := rand.New(rand.NewPCG(1, 2))
		args := []uint64{0, 1, 2, 3, 8, 16, 24, 1024, ^uint64(0), 1 << 63, s, s + 100, s + 200, s + 300, s + 4*4096 - 8, 0x1000, 0x400000}
		for i := 0; i < 50000; i++ {
			r := &v.c.Regs
			r.GPR[0] = nrs[rng.IntN(len(nrs))]
			for _, g := range []int{7, 6, 2, 10, 8, 9} {
				if rng.IntN(8) == 0 {
					r.GPR[g] = rng.Uint64()
				} else {
					r.GPR[g] = args[rng.IntN(len(args))]
				}
			}
			if r.GPR[0] == sysRtSigprocmask || r.GPR[0] == sysRtSigaction {
				r.GPR[7] = uint64(rng.IntN(8)) // keep fatal signals away: a delivered one would end the script's task
				r.GPR[6] = 0
			}
			if r.GPR[0] == sysPipe2 {
				r.GPR[6] = oNonblock // a blocking pipe read would (rightly) sleep
			}
			v.syscall()
			if v.curr == nil || v.curr.state != taskRunning {
				t.Errorf("call %d (nr %d) took the task off the CPU", i, r.GPR[0])
				return // not Fatalf: this goroutine holds the baton
			}
		}
	})
}

// TestMmapMaxMapCount: do_mmap refuses a new mapping once map_count is
// above vm.max_map_count (-ENOMEM), as mm/mmap.c does at v5.10.
func TestMmapMaxMapCount(t *testing.T) {
	withUser(t, 1, func(v *VCPU, s uint64) {
		mm := v.curr.mm
		// Alternate protections so that no two neighbours could merge.
		for i := 0; len(mm.vmas) <= sysctlMaxMapCount; i++ {
			prot := uint64(protRead)
			if i&1 == 0 {
				prot |= protWrite
			}
			if r := v.sysMmap(0, 4096, prot, mapPrivate|mapAnonymous, -1); r < 0 {
				t.Fatalf("mmap %d with %d VMAs: %d before the limit", i, len(mm.vmas), r)
			}
		}
		if r := v.sysMmap(0, 4096, protRead, mapPrivate|mapAnonymous, -1); r != -ENOMEM {
			t.Fatalf("mmap with %d VMAs = %d, want -ENOMEM", len(mm.vmas), r)
		}
	})
}

// TestTimeoutSaturates: a timespec of INT64_MAX seconds is KTIME_MAX and
// never expires (it used to wrap the cycle clock and return at once);
// shorter timeouts convert exactly.
func TestTimeoutSaturates(t *testing.T) {
	withUser(t, 1, func(v *VCPU, s uint64) {
		putWords(t, v, s, 1<<63-1, 999_999_999)
		ns, err := v.getTimespec(s)
		if err != 0 || timeoutCycles(ns) != ipi.Never {
			t.Errorf("INT64_MAX s: %d ns (err %d) → %d cycles, want never", ns, err, timeoutCycles(ns))
		}
		putWords(t, v, s, 2, 5)
		if ns, _ := v.getTimespec(s); ns != 2_000_000_005 || timeoutCycles(ns) != 3*2_000_000_005 {
			t.Errorf("2 s 5 ns: %d ns → %d cycles", ns, timeoutCycles(ns))
		}
	})
}

// TestDontneedTextRefaults: MADV_DONTNEED on the page of the running code
// drops it, and the next fetch refaults it from the executable (a private
// file mapping on Linux), not as a zero page: the program goes on to exit
// with its code.
func TestDontneedTextRefaults(t *testing.T) {
	var a asm
	a.syscall(sysMadvise, guestText, 4096, madvDontneed)
	a.exitGroup(42)
	cfg := DefaultConfig()
	cfg.MemBytes = 64 << 20
	m, err := runGuest(t, cfg, a.b)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if code, sig := m.ExitStatus(); code != 42 || sig != 0 {
		t.Errorf("ExitStatus = %d, %d; want 42, 0", code, sig)
	}
}

// TestExecRefusesBadSegments: a PT_LOAD below vm.mmap_min_addr or reaching
// into the stack is refused at exec, not run as a broken image.
func TestExecRefusesBadSegments(t *testing.T) {
	var a asm
	a.exitGroup(0)
	for _, tc := range []struct {
		vaddr uint64
		want  string
	}{
		{0, "below vm.mmap_min_addr"},
		{stackTop - 0x10000, "overlaps the stack"},
	} {
		b := guestELF(a.b)
		p := b[64+56:] // the data segment's program header
		binary.LittleEndian.PutUint64(p[16:], tc.vaddr)
		binary.LittleEndian.PutUint64(p[24:], tc.vaddr)
		cfg := DefaultConfig()
		cfg.MemBytes = 64 << 20
		m, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Exec(b, "/guest", []string{"/guest"}, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("PT_LOAD at %#x: Exec error %v, want %q", tc.vaddr, err, tc.want)
		}
	}
}

// TestExecArgLimits: execve's E2BIG rules of v5.10 (fs/exec.c
// bprm_stack_limits, copy_strings): one string with its NUL at most
// MAX_ARG_STRLEN (128 KiB), and the strings plus one pointer per argv/envp
// entry within RLIMIT_STACK/4 = 2 MiB; up to those edges exec succeeds.
func TestExecArgLimits(t *testing.T) {
	var a asm
	a.exitGroup(0)
	exe := guestELF(a.b)
	many := func(n, size int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = strings.Repeat("a", size-1) // size bytes with the NUL
		}
		return s
	}
	const limit = 2 << 20
	for _, tc := range []struct {
		name       string
		argv, envp []string
		want       string // "" for success
	}{
		{"longest string", []string{"/g", strings.Repeat("x", maxArgStrlen-1)}, nil, ""},
		{"string over MAX_ARG_STRLEN", []string{"/g", strings.Repeat("x", maxArgStrlen)}, nil, "argv[1] is 131073 bytes"},
		{"env string over MAX_ARG_STRLEN", []string{"/g"}, []string{strings.Repeat("x", maxArgStrlen)}, "envp[0] is 131073 bytes"},
		// The filename and argv[0] "/g\0" (3 bytes each), 16 strings of
		// 131072 bytes: 6 + 16·131072 > 2 MiB less 17 pointers.
		{"strings over 2 MiB", append([]string{"/g"}, many(16, maxArgStrlen)...), nil, "exceed the 2097152-byte limit"},
		// 20000 strings of 100 bytes: 2,000,006 bytes of strings fit in
		// 2 MiB, but not with their 160,008 bytes of pointers.
		{"pointers count", append([]string{"/g"}, many(20000, 100)...), nil, "exceed the 2097152-byte limit"},
		// Exactly at the edge: filename + strings + pointers = 2 MiB.
		{"at the limit", append([]string{"/g"}, many(15, maxArgStrlen)...), many(1, limit-6-15*maxArgStrlen-17*8), ""},
		{"one byte over", append([]string{"/g"}, many(15, maxArgStrlen)...), many(1, limit-6-15*maxArgStrlen-17*8+1), "exceed the 2097152-byte limit"},
	} {
		cfg := DefaultConfig()
		cfg.MemBytes = 64 << 20
		m, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = m.Exec(exe, "/g", tc.argv, tc.envp)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "E2BIG")):
			t.Errorf("%s: error %v, want E2BIG with %q", tc.name, err, tc.want)
		}
	}
}

// TestForkedChildUD2: a ud2 in a forked child kills only the child, with
// SIGILL; its parent's wait4 sees WIFSIGNALED with WTERMSIG = SIGILL (no
// core flag: RLIMIT_CORE is 0), and the parent runs on to its own exit.
func TestForkedChildUD2(t *testing.T) {
	for _, cpus := range []int{1, 2} {
		var a asm
		a.syscall(sysFork)
		a.storeRAX(guestData)
		j := a.jnzRAX()
		a.b = append(a.b, 0x0f, 0x0b) // child: ud2
		a.exitGroup(9)
		a.bind(j)
		a.syscall(sysWait4, ^uint64(0), guestData+8, 0, 0)
		a.storeRAX(guestData + 16)
		a.dump()
		a.exitGroup(7)
		cfg := DefaultConfig()
		cfg.CPUs = cpus
		cfg.MemBytes = 64 << 20
		m, err := runGuest(t, cfg, a.b)
		if err != nil {
			t.Fatalf("cpus=%d: run: %v, want the parent's exit", cpus, err)
		}
		if code, s := m.ExitStatus(); code != 7 || s != 0 {
			t.Errorf("cpus=%d: ExitStatus = %d, %d, want the parent's 7", cpus, code, s)
		}
		if pid := guestWord(t, m, guestData); guestWord(t, m, guestData+16) != pid {
			t.Errorf("cpus=%d: wait4 = %d, want the child %d", cpus, int64(guestWord(t, m, guestData+16)), pid)
		}
		if st := guestWord(t, m, guestData+8) & 0xffffffff; st != SIGILL {
			t.Errorf("cpus=%d: wait status %#x, want %#x (killed by SIGILL)", cpus, st, SIGILL)
		}
	}
}

// TestFDLimit: descriptors up to RLIMIT_NOFILE's soft limit (1024) are
// handed out lowest first; the next open or dup is -EMFILE, and closing
// one makes its number the next; prlimit moves the limit every fd
// allocator checks.
func TestFDLimit(t *testing.T) {
	withUser(t, 1, func(v *VCPU, s uint64) {
		last := int64(-1)
		for range maxFDs + 10 {
			fd := v.sysDup(1)
			if fd < 0 {
				if fd != -EMFILE {
					t.Fatalf("dup after fd %d: %d, want -EMFILE", last, fd)
				}
				break
			}
			last = fd
		}
		if last != maxFDs-1 {
			t.Fatalf("last fd %d, want %d", last, maxFDs-1)
		}
		path := putStr(t, v, s+2048, "/dev/zero")
		if got := v.sysOpenat(atFDCWD, path, oRdonly, 0); got != -EMFILE {
			t.Errorf("openat at the limit: %d, want -EMFILE", got)
		}
		if v.sysClose(500) != 0 {
			t.Fatal("close(500)")
		}
		if got := v.sysOpenat(atFDCWD, path, oRdonly, 0); got != 500 {
			t.Errorf("openat after close(500): %d, want 500", got)
		}
		// prlimit raises the soft limit to the hard one (4096): the
		// next dup is fd 1024, dup2 and F_DUPFD reach 4095, not 4096.
		rl := s + 3072
		putWords(t, v, rl, 4096, 4096)
		if r := v.sysPrlimit64(0, rlimitNofile, rl, 0); r != 0 {
			t.Fatalf("prlimit64(RLIMIT_NOFILE, 4096) = %d", r)
		}
		if got := v.sysDup(1); got != maxFDs {
			t.Errorf("dup after raising RLIMIT_NOFILE: %d, want %d", got, maxFDs)
		}
		if got := v.sysDup3(1, 4095, -1); got != 4095 {
			t.Errorf("dup2(1, 4095) = %d, want 4095", got)
		}
		if got := v.sysDup3(1, 4096, -1); got != -EBADF {
			t.Errorf("dup2(1, 4096) = %d, want -EBADF", got)
		}
		if got := v.sysFcntl(1, fDupFD, 4096); got != -EINVAL {
			t.Errorf("fcntl(F_DUPFD, 4096) = %d, want -EINVAL", got)
		}
		// lowering it again: a dup2 beyond the new limit is -EBADF
		if putWords(t, v, rl, 2000); v.sysPrlimit64(0, rlimitNofile, rl, 0) != 0 {
			t.Fatal("prlimit64(RLIMIT_NOFILE, 2000)")
		}
		if got := v.sysDup3(1, 2000, -1); got != -EBADF {
			t.Errorf("dup2(1, 2000) under a 2000 limit = %d, want -EBADF", got)
		}
	})
}
