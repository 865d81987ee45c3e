package kernelmodel

import (
	"fmt"

	"github.com/tlbemu/emu/cpu"
	"github.com/tlbemu/emu/ipi"
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
	sysOpen          = 2
	sysOpenat        = 257
	sysUserfaultfd   = 323
)

func syscallName(nr uint64) string {
	if n, ok := syscallTable[nr]; ok {
		return n
	}
	return "syscall_" + itoa(int(nr))
}

// GuestSignal is a fatal signal that killed the guest: a fault, reported
// the way the kernel's show_signal_msg logs it, or (Sent) a signal the
// guest sent with kill/tgkill/tkill, such as abort's SIGABRT.
type GuestSignal struct {
	Comm string
	PID  int
	Sig  int
	Addr uint64
	RIP  uint64
	RSP  uint64
	What string
	CPU  int
	Sent bool
}

func (g *GuestSignal) Error() string {
	if g.Sent {
		return fmt.Sprintf("guest killed by %s: %s[%d] on cpu %d", SignalName(g.Sig), g.Comm, g.PID, g.CPU)
	}
	return fmt.Sprintf("guest killed by %s: %s[%d]: %s at %x ip %016x sp %016x on cpu %d",
		SignalName(g.Sig), g.Comm, g.PID, g.What, g.Addr, g.RIP, g.RSP, g.CPU)
}

// forceSig delivers a fatal signal for a fault to the current task's
// thread group (force_sig_fault: the default action, whatever the
// handler, as the model runs no handlers).
func (v *VCPU) forceSig(sig int, addr uint64, what string) {
	t := v.curr
	if h := t.mm.sigHand().action[sig].handler; h > sigIgn && t.sigBlocked&sigmask(sig) == 0 && sig != SIGKILL {
		// force_sig_fault with a handler: the handler runs, with the fault
		// in siginfo and sigcontext (a handler that returns retries the
		// instruction).
		f := signalFault{fault: true, code: siKernel, addr: addr}
		switch sig {
		case SIGSEGV:
			f.code, f.trapno = segvMapErr, 14
			if t.mm.findVMA(addr) != nil {
				f.code = segvAccErr
			}
			if what == "general protection fault" {
				f.code, f.trapno = siKernel, 13
			}
		case SIGBUS:
			f.code, f.trapno = 2, 14 // BUS_ADRERR
		case SIGILL:
			f.code, f.trapno = 2, 6 // ILL_ILLOPN, #UD
		case SIGFPE:
			f.code, f.trapno = 1, 0 // FPE_INTDIV, #DE
		case SIGTRAP:
			f.code, f.trapno = siKernel, 3
		}
		v.setupRtFrame(sig, f)
		return
	}
	if t.tgid == 1 {
		v.m.exitSignal = sig
		v.m.stop(&GuestSignal{Comm: t.comm, PID: t.tgid, Sig: sig, Addr: addr, RIP: v.c.Regs.RIP, RSP: v.c.Regs.GPR[cpu.RSP], What: what, CPU: v.id})
		panic(errStop{})
	}
	v.killGroup(sig, what)
}

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
	a5 := r.GPR[cpu.R9]
	switch nr {
	case sysRead:
		ret = v.sysRead(int(a0), a1, a2)
	case sysWrite:
		ret = v.sysWrite(int(a0), a1, a2)
	case sysReadv, sysWritev:
		ret = v.sysReadvWritev(int(a0), a1, a2, -1, nr == sysWritev)
	case sysPreadv, sysPwritev:
		if int64(a3) < 0 {
			ret = -EINVAL
			break
		}
		ret = v.sysReadvWritev(int(a0), a1, a2, int64(a3), nr == sysPwritev)
	case sysClose:
		ret = v.sysClose(int(a0))
	case sysLseek:
		ret = v.sysLseek(int(a0), int64(a1), a2)
	case sysFstat:
		ret = v.sysFstat(int(a0), a1)
	case sysStat, sysLstat:
		fl := uint64(0)
		if nr == sysLstat {
			fl = atSymlinkNofoll
		}
		ret = v.sysNewfstatat(atFDCWD, a0, a1, fl)
	case sysNewfstatat:
		ret = v.sysNewfstatat(int64(a0), a1, a2, a3)
	case sysStatx:
		ret = v.sysStatx(int64(a0), a1, a2, a3, a4)
	case sysReadlink:
		ret = v.sysReadlinkat(atFDCWD, a0, a1, int64(int32(a2)))
	case sysReadlinkat:
		ret = v.sysReadlinkat(int64(a0), a1, a2, int64(int32(a3)))
	case sysAccess:
		ret = v.sysFaccessat(atFDCWD, a0, a1, 0)
	case sysFaccessat, sysFaccessat2:
		if nr == sysFaccessat2 && a3&^uint64(0x200|atSymlinkNofoll|atEmptyPath) != 0 { // AT_EACCESS
			ret = -EINVAL
			break
		}
		if nr == sysFaccessat {
			a3 = 0
		}
		ret = v.sysFaccessat(int64(a0), a1, a2, a3)
	case sysGetcwd:
		ret = v.sysGetcwd(a0, a1)
	case sysFcntl:
		ret = v.sysFcntl(int(a0), a1, a2)
	case sysDup:
		ret = v.sysDup(int(int32(a0)))
	case sysDup2:
		ret = v.sysDup3(int(int32(a0)), int(int32(a1)), -1)
	case sysDup3:
		if a2&^uint64(oCloexec) != 0 {
			ret = -EINVAL
			break
		}
		ret = v.sysDup3(int(int32(a0)), int(int32(a1)), int64(a2))
	case sysPoll:
		var sleep uint64
		ret, sleep = v.sysPoll(a0, a1, int64(int32(a2)))
		if ret == 0 && sleep > 0 {
			v.nanosleep(timeoutCycles(sleep))
			return
		}
	case sysMmap:
		if a3&mapAnonymous == 0 {
			ret = v.mmapFile(a0, a1, a2, a3, int64(a4), a5)
		} else {
			ret = v.sysMmap(a0, a1, a2, a3, int64(a4))
		}
	case sysMremap:
		ret = v.sysMremap(a0, a1, a2, a3, a4)
	case sysPread64, sysPwrite64:
		ret = v.sysPread(int(a0), a1, a2, a3, nr == sysPwrite64)
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
		ret = v.sysBrk(a0)
	case sysRtSigreturn:
		v.sysRtSigreturn()
		return
	case sysRtSigaction:
		ret = v.sysRtSigaction(int64(int32(a0)), a1, a2, a3)
	case sysRtSigprocmask:
		ret = v.sysRtSigprocmask(int64(int32(a0)), a1, a2, a3)
	case sysSigaltstack:
		ret = v.sysSigaltstack(a0, a1)
	case sysKill:
		ret = v.sysKill(int64(a0), int64(int32(a1)))
	case sysTkill:
		ret = v.sysTgkill(-1, int64(a0), int64(int32(a1)))
	case sysTgkill:
		ret = v.sysTgkill(int64(int32(a0)), int64(a1), int64(int32(a2)))
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
	case sysNanosleep, sysClockNanosleep:
		var d uint64
		var err int64
		if nr == sysNanosleep {
			d, err = v.getTimespec(a0)
		} else {
			d, err = v.sleepNS(int64(int32(a0)), a1, a2)
		}
		if err != 0 {
			ret = err
			break
		}
		v.nanosleep(timeoutCycles(d))
		return
	case sysRtSigsuspend:
		var sleep bool
		if ret, sleep = v.sysRtSigsuspend(a0, a1); sleep {
			v.nanosleep(ipi.Never - v.c.Clock)
			return
		}
	case sysPause:
		v.nanosleep(ipi.Never - v.c.Clock) // until a signal interrupts it: -EINTR
		return
	case sysClockGettime:
		ret = v.sysClockGettime(int64(int32(a0)), a1)
	case sysClockGetres:
		ret = v.sysClockGetres(int64(int32(a0)), a1)
	case sysGettimeofday:
		ret = v.sysGettimeofday(a0, a1)
	case sysTime:
		ret = v.sysTime(a0)
	case sysPipe:
		ret = v.sysPipe2(a0, 0)
	case sysPipe2:
		ret = v.sysPipe2(a0, a1)
	case sysPrctl:
		ret = v.sysPrctl(a0, a1)
	case sysMincore:
		ret = v.sysMincore(a0, a1, a2)
	case sysGetrusage:
		ret = v.sysGetrusage(int64(int32(a0)), a1)
	case sysSysinfo:
		ret = v.sysSysinfo(a0)
	case sysUname:
		ret = v.sysUname(a0)
	case sysGetrandom:
		ret = v.sysGetrandom(a0, a1, a2)
	case sysPrlimit64:
		ret = v.sysPrlimit64(int64(a0), a1, a2, a3)
	case sysGetrlimit:
		ret = v.sysPrlimit64(0, a0, 0, a1)
	case sysSetrlimit:
		ret = v.sysPrlimit64(0, a0, a1, 0)
	case sysSchedGetaffin:
		ret = v.sysSchedGetaffinity(int64(a0), a1, a2)
	case sysSchedSetaffin:
		ret = v.sysSchedSetaffinity(int64(a0), a1, a2)
	case sysSetRobustList:
		ret = v.sysSetRobustList(a0, a1)
	case sysRseq, sysClone3:
		ret = -ENOSYS // as a kernel without them: the C library falls back
	case sysGetpid:
		ret = int64(t.tgid)
	case sysGettid:
		ret = int64(t.tid)
	case sysGetuid, sysGeteuid, sysGetgid, sysGetegid, sysGetppid:
		ret = v.getID(nr)
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
		ret = v.sysArchPrctl(a0, a1)
	case sysSetTidAddress:
		t.clearChildTID = a0
		ret = int64(t.tid)
	case sysFutex:
		ret = v.sysFutex(a0, int(a1), uint32(a2), a3, a4, uint32(a5))
		if v.curr != t {
			return // blocked: RAX was set in the saved registers
		}
	case sysExit:
		v.exitTask(int(a0 & 0xff))
		return
	case sysExitGroup:
		v.exitGroup(int(a0 & 0xff))
		return
	case sysOpen:
		ret = v.sysOpenat(atFDCWD, a0, a1, a2)
	case sysOpenat:
		ret = v.sysOpenat(int64(a0), a1, a2, a3)
	case sysCreat, sysMkdir, sysUnlink, sysRmdir, sysRename, sysGetdents64, sysMkdirat, sysUnlinkat, sysRenameat, sysRenameat2, sysFallocate, sysMsync, sysFadvise64, sysChdir, sysFchdir,
		sysStatfs, sysFstatfs, sysGetxattr, sysLgetxattr, sysFgetxattr, sysListxattr, sysLlistxattr, sysFlistxattr:
		ret = v.pathSyscall(nr, a0, a1, a2, a3, a4) // path.go
	case sysUserfaultfd:
		ret = v.sysUserfaultfd(a0)
	default:
		if ce := m.log.Check(zap.DebugLevel, "unimplemented syscall"); ce != nil {
			ce.Write(zap.Uint64("nr", nr), zap.Int("cpu", v.id))
		}
		ret = v.countUnimplemented(syscallName(nr))
	}
	if ce := m.log.Check(zap.DebugLevel, "syscall"); ce != nil {
		ce.Write(zap.Int("cpu", v.id), zap.Int("tid", t.tid), zap.Uint64("nr", nr), zap.Uint64("a0", a0), zap.Uint64("a1", a1), zap.Uint64("a2", a2), zap.Int64("ret", ret), zap.Uint64("clock", v.c.Clock))
	}
	if v.curr == t && t.state == taskRunning {
		v.c.Regs.GPR[cpu.RAX] = uint64(ret)
		v.doSignals() // exit_to_user_mode: pending signals
	}
}

// Futex operations (include/uapi/linux/futex.h).
const (
	futexWait          = 0
	futexWake          = 1
	futexRequeue       = 3
	futexCmpRequeue    = 4
	futexWaitBitset    = 9
	futexWakeBitset    = 10
	futexPrivateFlag   = 128
	futexClockRealtime = 256
	futexBitsetAll     = 0xffffffff
	ETIMEDOUT          = 110
)

// sysFutex models do_futex for the operations C libraries use for locks,
// condition variables, joins and barriers: WAIT and WAIT_BITSET (with a
// relative, resp. absolute, timeout), WAKE and WAKE_BITSET, REQUEUE and
// CMP_REQUEUE. Every futex is private to its mm in the model, so
// FUTEX_PRIVATE_FLAG changes nothing. Other operations (PI, WAKE_OP):
// -ENOSYS, counted.
func (v *VCPU) sysFutex(addr uint64, op int, val uint32, timeout, addr2 uint64, val3 uint32) int64 {
	cmd := op &^ (futexPrivateFlag | futexClockRealtime)
	if op&futexClockRealtime != 0 && cmd != futexWaitBitset {
		return -ENOSYS
	}
	if addr&3 != 0 {
		return -EINVAL
	}
	mm := v.curr.mm
	switch cmd {
	case futexWait, futexWaitBitset:
		bitset := uint32(futexBitsetAll)
		if cmd == futexWaitBitset {
			if val3 == 0 {
				return -EINVAL
			}
			bitset = val3
		}
		var d uint64 // cycles until the timeout, 0: none
		if timeout != 0 {
			ns, err := v.getTimespec(timeout)
			if err != 0 {
				return err
			}
			if cmd == futexWaitBitset { // absolute on CLOCK_MONOTONIC or _REALTIME
				id := int64(clockMonotonic)
				if op&futexClockRealtime != 0 {
					id = clockRealtime
				}
				now, _ := v.clockNS(id)
				if ns <= now {
					ns = 0
				} else {
					ns -= now
				}
			}
			d = timeoutCycles(ns)
			if d != ipi.Never {
				d++ // a zero timeout expires at once, not never
			}
		}
		return v.futexWait(addr, val, bitset, d)
	case futexWake, futexWakeBitset:
		bitset := uint32(futexBitsetAll)
		if cmd == futexWakeBitset {
			if val3 == 0 {
				return -EINVAL
			}
			bitset = val3
		}
		return v.futexWakeBits(mm, addr, int(int32(val)), bitset)
	case futexRequeue, futexCmpRequeue:
		if addr2&3 != 0 {
			return -EINVAL
		}
		if int32(val) < 0 || int32(timeout) < 0 {
			return -EINVAL
		}
		if cmd == futexCmpRequeue {
			cur, err := v.getUser32(addr)
			if err != 0 {
				return err
			}
			if cur != val3 {
				return -EAGAIN
			}
		}
		return v.futexRequeue(mm, addr, addr2, int(val), int(uint32(timeout)))
	}
	return v.countUnimplemented("futex_op_" + itoa(cmd))
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
	t.sigBlocked = p.sigBlocked // copy_process: the new thread inherits the mask
	t.parent = p.parent         // a thread's parent is its group leader's
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
	v.wakeUpNewTask(t)
	return int64(t.tid)
}
