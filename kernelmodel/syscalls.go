package kernelmodel

import (
	"fmt"

	"github.com/tlbemu/emu/cpu"
	"go.uber.org/zap"
)

// errno values (include/uapi/asm-generic/errno-base.h).
const (
	EPERM        = 1
	ENOENT       = 2
	ESRCH        = 3
	EINTR        = 4
	EBADF        = 9
	ECHILD       = 10
	EAGAIN       = 11
	ENOMEM       = 12
	EFAULT       = 14
	EBUSY        = 16
	EEXIST       = 17
	EINVAL       = 22
	ENOSPC       = 28
	ENAMETOOLONG = 36
	ENOSYS       = 38
	ENODEV       = 19
)

// Signals.
const (
	SIGILL  = 4
	SIGTRAP = 5
	SIGBUS  = 7
	SIGFPE  = 8
	SIGKILL = 9
	SIGSEGV = 11
)

var signalNames = map[int]string{SIGILL: "SIGILL", SIGTRAP: "SIGTRAP", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV"}

// x86-64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl).
const (
	sysRead          = 0
	sysWrite         = 1
	sysClose         = 3
	sysMmap          = 9
	sysMprotect      = 10
	sysMunmap        = 11
	sysBrk           = 12
	sysRtSigaction   = 13
	sysRtSigprocmask = 14
	sysIoctl         = 16
	sysSchedYield    = 24
	sysMremap        = 25
	sysMadvise       = 28
	sysNanosleep     = 35
	sysGetpid        = 39
	sysClone         = 56
	sysFork          = 57
	sysExit          = 60
	sysWait4         = 61
	sysArchPrctl     = 158
	sysGettid        = 186
	sysFutex         = 202
	sysSetTidAddress = 218
	sysExitGroup     = 231
	sysOpenat        = 257
	sysUserfaultfd   = 323
)

func syscallName(nr uint64) string {
	if n, ok := syscallNames[nr]; ok {
		return n
	}
	return "syscall"
}

var syscallNames = map[uint64]string{
	sysRead: "read", sysWrite: "write", sysClose: "close", sysMmap: "mmap", sysMprotect: "mprotect",
	sysMunmap: "munmap", sysIoctl: "ioctl", sysSchedYield: "sched_yield", sysMadvise: "madvise",
	sysNanosleep: "nanosleep", sysClone: "clone", sysFork: "fork", sysExit: "exit", sysWait4: "wait4",
	sysFutex: "futex", sysExitGroup: "exit_group", sysOpenat: "openat", sysUserfaultfd: "userfaultfd",
	sysPread64: "pread64", sysPwrite64: "pwrite64", sysFtruncate: "ftruncate", sysMemfdCreate: "memfd_create",
	sysMremap: "mremap",
}

// GuestSignal is a fatal signal that killed the guest, reported the way the
// kernel's show_signal_msg logs it.
type GuestSignal struct {
	Comm string
	PID  int
	Sig  int
	Addr uint64
	RIP  uint64
	RSP  uint64
	What string
	CPU  int
}

func (g *GuestSignal) Error() string {
	return fmt.Sprintf("guest killed by %s: %s[%d]: %s at %x ip %016x sp %016x on cpu %d",
		signalNames[g.Sig], g.Comm, g.PID, g.What, g.Addr, g.RIP, g.RSP, g.CPU)
}

// forceSig delivers a fatal signal to the current task's thread group. The
// model has no signal handlers: every such signal kills the process.
func (v *VCPU) forceSig(sig int, addr uint64, what string) {
	t := v.curr
	if t.tgid == 1 {
		v.m.stop(&GuestSignal{Comm: t.comm, PID: t.tgid, Sig: sig, Addr: addr, RIP: v.c.Regs.RIP, RSP: v.c.Regs.GPR[cpu.RSP], What: what, CPU: v.id})
		panic(errStop{})
	}
	v.exitGroup(128 + sig)
}

// file is an open file description.
type file struct {
	kind int
	uffd *userfaultCtx
	shm  *shmemFile // memfd (fileMemfd)
	pos  uint64     // f_pos (memfd)
}

const (
	fileStdout = iota
	fileClearRefs
	fileUffd
	fileMemfd
)

// syscall dispatches the system call in RAX (entry_SYSCALL_64 →
// do_syscall_64), charging the entry/exit cost, and resumes the task with
// the result in RAX.
func (v *VCPU) syscall() {
	m := v.m
	r := &v.c.Regs
	nr := r.GPR[cpu.RAX]
	a0, a1, a2, a3, a4 := r.GPR[cpu.RDI], r.GPR[cpu.RSI], r.GPR[cpu.RDX], r.GPR[cpu.R10], r.GPR[cpu.R8]
	start := v.c.Clock
	v.spend(m.cfg.Costs.SyscallEntryExit)
	t := v.curr
	var ret int64
	defer func() {
		if m.cfg.Trace != nil {
			v.trace("syscall", syscallName(nr), start, "ret", ret)
		}
	}()
	switch nr {
	case sysRead:
		ret = v.sysRead(int(a0), a1, a2)
	case sysWrite:
		ret = v.sysWrite(int(a0), a1, a2)
	case sysClose:
		ret = v.sysClose(int(a0))
	case sysMmap:
		if a3&mapAnonymous == 0 {
			ret = v.mmapFile(a0, a1, a2, a3, int64(a4), r.GPR[cpu.R9])
		} else {
			ret = v.sysMmap(a0, a1, a2, a3, int64(a4))
		}
	case sysMremap:
		ret = v.sysMremap(a0, a1, a2, a3, a4)
	case sysPread64, sysPwrite64:
		ret = v.sysPreadPwrite(int(a0), a1, a2, a3, nr == sysPwrite64)
	case sysFtruncate:
		ret = v.sysFtruncate(int(a0), a1)
	case sysMemfdCreate:
		ret = v.sysMemfdCreate(a0, a1)
	case sysMunmap:
		ret = v.sysMunmap(a0, a1)
	case sysMprotect:
		ret = v.sysMprotect(a0, a1, a2)
	case sysMadvise:
		ret = v.sysMadvise(a0, a1, a2)
	case sysBrk:
		ret = 0
	case sysRtSigaction, sysRtSigprocmask:
		ret = 0
	case sysIoctl:
		ret = v.sysIoctl(int(a0), a1, a2)
	case sysSchedYield:
		if len(v.runq) > 0 {
			r.GPR[cpu.RAX] = 0
			t.state = taskRunnable
			v.runq = append(v.runq, t)
			v.scheduleNext()
			return
		}
	case sysNanosleep:
		sec, e1 := v.getUser64(a0)
		nsec, e2 := v.getUser64(a0 + 8)
		if e1 != 0 || e2 != 0 {
			ret = -EFAULT
			break
		}
		if nsec >= 1e9 || int64(sec) < 0 {
			ret = -EINVAL
			break
		}
		v.nanosleep((sec*1e9 + nsec) * 3) // 3.0 GHz reference clock (calibration.md §3)
		return
	case sysGetpid:
		ret = int64(t.tgid)
	case sysGettid:
		ret = int64(t.tid)
	case sysClone:
		ret = v.sysClone(a0, a1, a2, a3, a4)
	case sysFork:
		ret = v.sysFork()
	case sysWait4:
		ret = v.sysWait4(int64(a0), a1, a2, a3)
		if v.curr != t {
			return // asleep: the call runs again when the task is woken
		}
	case sysArchPrctl:
		if a0 == 0x1002 { // ARCH_SET_FS
			r.FSBase = a1
		} else if a0 == 0x1001 { // ARCH_SET_GS
			r.GSBase = a1
		} else {
			ret = -EINVAL
		}
	case sysSetTidAddress:
		t.clearChildTID = a0
		ret = int64(t.tid)
	case sysFutex:
		ret = v.sysFutex(a0, int(a1), uint32(a2))
		if v.curr != t {
			return // blocked: RAX was set in the saved registers
		}
	case sysExit:
		v.exitTask(int(a0 & 0xff))
		return
	case sysExitGroup:
		v.exitGroup(int(a0 & 0xff))
		return
	case sysOpenat:
		ret = v.sysOpenat(int64(a0), a1, a2)
	case sysUserfaultfd:
		ret = v.sysUserfaultfd(a0)
	default:
		if ce := m.log.Check(zap.DebugLevel, "unimplemented syscall"); ce != nil {
			ce.Write(zap.Uint64("nr", nr), zap.Int("cpu", v.id))
		}
		ret = -ENOSYS
	}
	if ce := m.log.Check(zap.DebugLevel, "syscall"); ce != nil {
		ce.Write(zap.Int("cpu", v.id), zap.Int("tid", t.tid), zap.Uint64("nr", nr), zap.Uint64("a0", a0), zap.Uint64("a1", a1), zap.Uint64("a2", a2), zap.Int64("ret", ret), zap.Uint64("clock", v.c.Clock))
	}
	if v.curr == t && t.state == taskRunning {
		v.c.Regs.GPR[cpu.RAX] = uint64(ret)
	}
}

func (mm *MM) fd(n int) *file {
	if n < 0 || n >= len(mm.files) {
		return nil
	}
	return mm.files[n]
}

func (mm *MM) installFD(f *file) int64 {
	for i, g := range mm.files {
		if g == nil {
			mm.files[i] = f
			return int64(i)
		}
	}
	mm.files = append(mm.files, f)
	return int64(len(mm.files) - 1)
}

func (v *VCPU) sysWrite(fd int, buf, n uint64) int64 {
	f := v.curr.mm.fd(fd)
	if f == nil {
		return -EBADF
	}
	if f.shm != nil {
		return v.fileRW(f, buf, n, -1, true)
	}
	if n > 1<<20 {
		n = 1 << 20
	}
	b := make([]byte, n)
	if err := v.copyFromUser(b, buf); err != 0 {
		return err
	}
	switch f.kind {
	case fileStdout:
		v.m.stdout = append(v.m.stdout, b...)
		return int64(n)
	case fileClearRefs:
		return v.clearRefsWrite(b)
	}
	return -EINVAL
}

func (v *VCPU) sysRead(fd int, buf, n uint64) int64 {
	f := v.curr.mm.fd(fd)
	if f == nil {
		return -EBADF
	}
	if f.kind == fileUffd {
		return v.userfaultfdRead(f.uffd, buf, n)
	}
	if f.shm != nil {
		return v.fileRW(f, buf, n, -1, false)
	}
	return -EINVAL
}

func (v *VCPU) sysClose(fd int) int64 {
	mm := v.curr.mm
	f := mm.fd(fd)
	if f == nil {
		return -EBADF
	}
	mm.files[fd] = nil
	v.fput(f)
	return 0
}

func (v *VCPU) sysOpenat(dirfd int64, path, flags uint64) int64 {
	name, err := v.strncpyFromUser(path, 4096)
	if err != 0 {
		return err
	}
	switch name {
	case "/proc/self/clear_refs":
		if flags&3 == 0 {
			return -EINVAL // the model only supports writing it
		}
		return v.curr.mm.installFD(&file{kind: fileClearRefs})
	case "/dev/null", "/dev/stdout":
		return v.curr.mm.installFD(&file{kind: fileStdout})
	}
	return -ENOENT
}

func (v *VCPU) sysIoctl(fd int, cmd, arg uint64) int64 {
	f := v.curr.mm.fd(fd)
	if f == nil {
		return -EBADF
	}
	if f.kind == fileUffd {
		return v.userfaultfdIoctl(f.uffd, cmd, arg)
	}
	return -EINVAL // -ENOTTY in Linux for non-ioctl files; EINVAL is close enough
}

// Futex operations.
const (
	futexWait        = 0
	futexWake        = 1
	futexPrivateFlag = 128
)

func (v *VCPU) sysFutex(addr uint64, op int, val uint32) int64 {
	if addr&3 != 0 {
		return -EINVAL
	}
	switch op &^ futexPrivateFlag {
	case futexWait:
		return v.futexWait(addr, val)
	case futexWake:
		return v.futexWake(v.curr.mm, addr, int(val))
	}
	return -ENOSYS
}

// Clone flags.
const (
	cloneVM            = 0x100
	cloneFS            = 0x200
	cloneFiles         = 0x400
	cloneSighand       = 0x800
	cloneThread        = 0x10000
	cloneSetTLS        = 0x80000
	cloneParentSetTID  = 0x100000
	cloneChildClearTID = 0x200000
	cloneChildSetTID   = 0x1000000
)

// sysClone models clone(flags, newsp, parent_tid, child_tid, tls) for
// threads (CLONE_VM|CLONE_THREAD); a clone without CLONE_VM is a fork.
func (v *VCPU) sysClone(flags, newsp, parentTID, childTID, tls uint64) int64 {
	if flags&cloneVM == 0 {
		return v.cloneProcess(flags, newsp, parentTID, childTID, tls)
	}
	if flags&cloneThread == 0 || flags&cloneSighand == 0 {
		return -EINVAL
	}
	p := v.curr
	t := v.m.newTask(p.mm, p.tgid, p.comm)
	t.parent = p.parent // a thread's parent is its group leader's
	t.regs = v.c.Regs
	t.regs.GPR[cpu.RAX] = 0
	if newsp != 0 {
		t.regs.GPR[cpu.RSP] = newsp
	}
	if flags&cloneSetTLS != 0 {
		t.regs.FSBase = tls
	}
	if flags&cloneParentSetTID != 0 {
		if err := v.putUser32(parentTID, uint32(t.tid)); err != 0 {
			return err
		}
	}
	if flags&cloneChildSetTID != 0 {
		if err := v.putUser32(childTID, uint32(t.tid)); err != 0 {
			return err
		}
	}
	if flags&cloneChildClearTID != 0 {
		t.clearChildTID = childTID
	}
	v.wakeUpTask(t) // wake_up_new_task
	return int64(t.tid)
}
