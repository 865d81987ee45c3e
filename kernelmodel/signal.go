package kernelmodel

import (
	"encoding/binary"

	"github.com/tlbemu/emu/cpu"
)

// Signals (kernel/signal.c, arch/x86/kernel/signal.c, v5.10): dispositions,
// masks, alternate stacks and pending sets. A signal is acted on when a
// thread that does not block it returns to user mode: ignored (SIGCHLD,
// SIGURG, SIGWINCH, SIGCONT; the stop signals too, as the model has no job
// control), the end of the thread group ("killed by signal N") for the
// default action, or the user handler on an rt_sigframe that rt_sigreturn
// unwinds. A blocked signal stays pending until it is unblocked, so
// glibc's raise (which blocks every signal around tgkill) and abort work as
// on Linux. Faults (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP) go to a
// handler that is installed and not blocked, and otherwise kill.

// Signal numbers (arch/x86/include/uapi/asm/signal.h).
const (
	SIGHUP    = 1
	SIGINT    = 2
	SIGQUIT   = 3
	SIGABRT   = 6
	SIGUSR1   = 10
	SIGUSR2   = 12
	SIGPIPE   = 13
	SIGALRM   = 14
	SIGTERM   = 15
	SIGSTKFLT = 16
	SIGCHLD   = 17
	SIGCONT   = 18
	SIGSTOP   = 19
	SIGTSTP   = 20
	SIGTTIN   = 21
	SIGTTOU   = 22
	SIGURG    = 23
	SIGXCPU   = 24
	SIGXFSZ   = 25
	SIGVTALRM = 26
	SIGPROF   = 27
	SIGWINCH  = 28
	SIGIO     = 29
	SIGPWR    = 30
	SIGSYS    = 31
	nSig      = 64 // _NSIG
)

var signalNames = map[int]string{
	SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
	SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1",
	SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
	SIGSTKFLT: "SIGSTKFLT", SIGCHLD: "SIGCHLD", SIGCONT: "SIGCONT", SIGSTOP: "SIGSTOP", SIGTSTP: "SIGTSTP",
	SIGTTIN: "SIGTTIN", SIGTTOU: "SIGTTOU", SIGURG: "SIGURG", SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ",
	SIGVTALRM: "SIGVTALRM", SIGPROF: "SIGPROF", SIGWINCH: "SIGWINCH", SIGIO: "SIGIO", SIGPWR: "SIGPWR",
	SIGSYS: "SIGSYS",
}

// SignalName returns "SIGSEGV" for 11, "SIG34" for a real-time signal.
func SignalName(sig int) string {
	if n, ok := signalNames[sig]; ok {
		return n
	}
	return "SIG" + itoa(sig)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

func sigmask(sig int) uint64 { return 1 << (sig - 1) }

// sigKernelIgnore is SIG_KERNEL_IGNORE_MASK plus the stop signals (no job
// control in the model).
const sigKernelIgnore = 1<<(SIGCHLD-1) | 1<<(SIGURG-1) | 1<<(SIGWINCH-1) | 1<<(SIGCONT-1) |
	1<<(SIGSTOP-1) | 1<<(SIGTSTP-1) | 1<<(SIGTTIN-1) | 1<<(SIGTTOU-1)

// unblockable signals (sigdelsetmask(&newset, sigmask(SIGKILL)|sigmask(SIGSTOP))).
const sigUnblockable = 1<<(SIGKILL-1) | 1<<(SIGSTOP-1)

const (
	sigDfl = 0
	sigIgn = 1
)

// sigAction is struct kernel_sigaction (x86-64 layout: handler, flags,
// restorer, mask).
type sigAction struct {
	handler, flags, restorer, mask uint64
}

// sigHand is the thread group's signal_struct/sighand_struct: dispositions
// and the shared pending set.
type sigHand struct {
	action  [nSig + 1]sigAction
	pending uint64          // shared_pending
	code    [nSig + 1]int32 // si_code of each shared pending signal
}

func (s *sigHand) ignored() uint64 {
	var m uint64
	for i := 1; i <= nSig; i++ {
		if s.action[i].handler == sigIgn {
			m |= sigmask(i)
		}
	}
	return m
}

func (s *sigHand) caught() uint64 {
	var m uint64
	for i := 1; i <= nSig; i++ {
		if s.action[i].handler > sigIgn {
			m |= sigmask(i)
		}
	}
	return m
}

// ignoredSig is sig_ignored: SIG_IGN, or SIG_DFL with an ignoring default.
func (s *sigHand) ignoredSig(sig int) bool {
	if sig == SIGKILL {
		return false
	}
	h := s.action[sig].handler
	return h == sigIgn || h == sigDfl && sigKernelIgnore&sigmask(sig) != 0
}

// sigState returns the current thread group's signal state.
func (v *VCPU) sigState() *sigHand { return v.curr.mm.sigHand() }

func (mm *MM) sigHand() *sigHand {
	if mm.sig == nil {
		mm.sig = &sigHand{}
	}
	return mm.sig
}

// Syscall numbers of the signal calls.
const (
	sysRtSigreturn  = 15
	sysKill         = 62
	sysSigaltstack  = 131
	sysRtSigsuspend = 130
	sysTkill        = 200
	sysTgkill       = 234
)

// sysRtSigaction models rt_sigaction: the old action is stored to oact,
// then act installed. SIGKILL and SIGSTOP cannot be changed; setting a
// pending signal to be ignored discards it.
func (v *VCPU) sysRtSigaction(sig int64, act, oact, sigsetsize uint64) int64 {
	if sigsetsize != 8 {
		return -EINVAL
	}
	if sig < 1 || sig > nSig || act != 0 && (sig == SIGKILL || sig == SIGSTOP) {
		return -EINVAL
	}
	s := v.sigState()
	var na sigAction
	if act != 0 {
		b := make([]byte, 32)
		if err := v.copyFromUser(b, act); err != 0 {
			return err
		}
		le := binary.LittleEndian
		na = sigAction{le.Uint64(b), le.Uint64(b[8:]), le.Uint64(b[16:]), le.Uint64(b[24:]) &^ sigUnblockable}
	}
	if oact != 0 {
		o := s.action[sig]
		b := make([]byte, 32)
		le := binary.LittleEndian
		le.PutUint64(b, o.handler)
		le.PutUint64(b[8:], o.flags)
		le.PutUint64(b[16:], o.restorer)
		le.PutUint64(b[24:], o.mask)
		if err := v.copyToUser(oact, b); err != 0 {
			return err
		}
	}
	if act != 0 {
		s.action[sig] = na
		if s.ignoredSig(int(sig)) {
			s.pending &^= sigmask(int(sig))
			for _, t := range v.m.tasks {
				if t.mm == v.curr.mm {
					t.sigPending &^= sigmask(int(sig))
				}
			}
		}
	}
	return 0
}

// sigprocmask how values.
const (
	sigBlock   = 0
	sigUnblock = 1
	sigSetmask = 2
)

// sysRtSigprocmask models rt_sigprocmask; unblocking a pending signal acts
// on it before the call returns (as the signal is delivered on the way
// back to user mode).
func (v *VCPU) sysRtSigprocmask(how int64, set, oset, sigsetsize uint64) int64 {
	if sigsetsize != 8 {
		return -EINVAL
	}
	t := v.curr
	old := t.sigBlocked
	if set != 0 {
		ns, err := v.getUser64(set)
		if err != 0 {
			return err
		}
		ns &^= sigUnblockable
		switch how {
		case sigBlock:
			t.sigBlocked |= ns
		case sigUnblock:
			t.sigBlocked &^= ns
		case sigSetmask:
			t.sigBlocked = ns
		default:
			return -EINVAL
		}
	}
	if oset != 0 {
		if err := v.putUser64(oset, old); err != 0 {
			return err
		}
	}
	return 0 // an unblocked pending signal acts on the way out (doSignals)
}

// sigaltstack flags.
const (
	ssOnStack     = 1
	ssDisable     = 2
	ssAutodisarm  = 1 << 31
	sigaltMinSize = 2048 // MINSIGSTKSZ
)

// sysSigaltstack models do_sigaltstack: the old stack_t (SS_DISABLE when
// none) is stored, then the new one checked and kept.
func (v *VCPU) sysSigaltstack(ss, oss uint64) int64 {
	t := v.curr
	var nb []byte
	if ss != 0 {
		nb = make([]byte, 24)
		if err := v.copyFromUser(nb, ss); err != 0 {
			return err
		}
	}
	if oss != 0 {
		b := make([]byte, 24)
		le := binary.LittleEndian
		le.PutUint64(b, t.altStack.sp)
		flags := t.altStack.flags
		if t.altStack.size == 0 {
			flags = ssDisable
		}
		le.PutUint32(b[8:], uint32(flags))
		le.PutUint64(b[16:], t.altStack.size)
		if err := v.copyToUser(oss, b); err != 0 {
			return err
		}
	}
	if nb != nil {
		le := binary.LittleEndian
		sp, flags, size := le.Uint64(nb), le.Uint32(nb[8:]), le.Uint64(nb[16:])
		mode := flags &^ ssAutodisarm
		if mode != 0 && mode != ssDisable && mode != ssOnStack {
			return -EINVAL
		}
		if mode == ssDisable {
			t.altStack = altStack{}
			return 0
		}
		if size < sigaltMinSize {
			return -ENOMEM
		}
		t.altStack = altStack{sp: sp, size: size, flags: flags & ssAutodisarm}
	}
	return 0
}

// altStack is a task's sas_ss_sp, sas_ss_size, sas_ss_flags.
type altStack struct {
	sp, size uint64
	flags    uint32
}

// sysKill models kill(pid, sig): pid > 0 is that process, 0 and -1 every
// process the caller may signal (the model's processes are all in one
// group; -1 excludes the caller, as kill_something_info does). Signal 0
// only checks that the target exists.
func (v *VCPU) sysKill(pid int64, sig int64) int64 {
	if sig < 0 || sig > nSig {
		return -EINVAL
	}
	cur := v.curr
	pid32 := int32(pid)
	var targets []*Task // one thread group leader (or first live thread) each
	seen := map[int]bool{}
	for _, t := range v.m.tasks {
		if t.state == taskDead || seen[t.tgid] {
			continue
		}
		switch {
		case pid32 > 0 && t.tgid != int(pid32):
			continue
		case pid32 == -1 && t.tgid == cur.tgid:
			continue
		case pid32 < -1:
			// process group -pid: every process is in group 1
			if -pid32 != 1 {
				continue
			}
		}
		seen[t.tgid] = true
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		return -ESRCH
	}
	if sig == 0 {
		return 0
	}
	// Signal the caller's own group last: acting on a fatal one ends it.
	for _, t := range targets {
		if t.tgid != cur.tgid {
			v.sendSignal(t, int(sig), false)
		}
	}
	for _, t := range targets {
		if t.tgid == cur.tgid {
			v.sendSignal(t, int(sig), false)
		}
	}
	return 0
}

// sysTgkill models tgkill (tgid > 0) and tkill (tgid < 0): a signal to
// one thread.
func (v *VCPU) sysTgkill(tgid, tid, sig int64) int64 {
	if int32(tid) <= 0 || tgid >= 0 && int32(tgid) <= 0 {
		return -EINVAL
	}
	if sig < 0 || sig > nSig {
		return -EINVAL
	}
	for _, t := range v.m.tasks {
		if t.tid != int(int32(tid)) || t.state == taskDead || tgid >= 0 && t.tgid != int(int32(tgid)) {
			continue
		}
		if sig != 0 {
			v.sendSignal(t, int(sig), true)
		}
		return 0
	}
	return -ESRCH
}

// sendSignal models send_signal → complete_signal: an ignored signal is
// dropped; otherwise it is pending (on the thread, or shared for a
// process-directed signal) until a thread of the group that does not
// block it returns to user mode (doSignals). The caller's own syscall
// return is such a point; another thread sleeping in futex, nanosleep,
// pause, wait4 or a pipe is woken for it (signal_wake_up: futex, nanosleep
// and pause return -EINTR, wait4 and pipe I/O restart).
func (v *VCPU) sendSignal(t *Task, sig int, thread bool) {
	code := int32(siUser)
	if thread {
		code = siTkill
	}
	v.sendSignalCode(t, sig, thread, code)
}

// sendSignalCode is sendSignal with the siginfo code the handler will see
// (a kernel-generated signal such as SIGCHLD's CLD_EXITED).
func (v *VCPU) sendSignalCode(t *Task, sig int, thread bool, code int32) {
	s := t.mm.sigHand()
	if s.ignoredSig(sig) {
		return
	}
	if thread {
		t.sigPending |= sigmask(sig)
		t.sigCode[sig] = code
	} else {
		s.pending |= sigmask(sig)
		s.code[sig] = code
	}
	cur := v.curr
	if cur.tgid == t.tgid && cur.sigBlocked&sigmask(sig) == 0 && (!thread || t == cur) {
		return // the caller takes it on its way back to user mode
	}
	fatal := s.action[sig].handler == sigDfl || sig == SIGKILL
	for _, o := range v.m.tasks {
		if o.tgid != t.tgid || o.state == taskDead || (thread && o != t) || o.sigBlocked&sigmask(sig) != 0 && sig != SIGKILL {
			continue
		}
		v.interrupt(o)
		if !fatal {
			break // one thread takes a handled signal (complete_signal's wants_signal)
		}
	}
}

// interrupt wakes o from an interruptible sleep so that it acts on a
// signal.
func (v *VCPU) interrupt(o *Task) {
	if o.state != taskBlocked {
		return
	}
	switch {
	case o.futexKey.mm != nil || o.sleepUntil != 0:
		o.futexKey, o.sleepUntil = futexKey{}, 0
		o.regs.GPR[cpu.RAX] = negErrno(EINTR)
	case o.waitingChild:
		o.waitingChild = false // wait4 runs again (sleepInSyscall)
	case o.pipeWait:
		o.pipeWait = false // the read or write runs again: restarted, as with SA_RESTART
	default:
		return // not an interruptible sleep the model knows (userfaultfd waits)
	}
	v.wakeUpTask(o)
}

// pendingFatal returns the lowest pending signal t does not block, 0 if
// none (next_signal's order: the synchronous signals first, then by
// number).
func (t *Task) pendingFatal() int {
	p := t.sigPending &^ t.sigBlocked
	if t.mm.sig != nil {
		p |= t.mm.sig.pending &^ t.sigBlocked
	}
	if p == 0 {
		return 0
	}
	for _, sig := range []int{SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGSYS} {
		if p&sigmask(sig) != 0 {
			return sig
		}
	}
	for sig := 1; sig <= nSig; sig++ {
		if p&sigmask(sig) != 0 {
			return sig
		}
	}
	return 0
}

// killGroup ends the current thread group by signal sig. The first
// process's end ends the run with a *GuestSignal (what describes a fault,
// "" a signal sent with kill/tgkill); another process becomes a zombie
// whose wait status is the signal.
func (v *VCPU) killGroup(sig int, what string) {
	t := v.curr
	if t.tgid == 1 {
		g := &GuestSignal{Comm: t.comm, PID: t.tgid, Sig: sig, RIP: v.c.Regs.RIP, RSP: v.c.Regs.GPR[cpu.RSP], What: what, CPU: v.id}
		if what == "" {
			g.Sent = true
		}
		v.m.exitSignal = sig
		v.m.stop(g)
		panic(errStop{})
	}
	for _, o := range v.m.tasks {
		if o.tgid == t.tgid {
			o.termSig = sig
		}
	}
	v.exitGroup(0)
}

// sa_flags (arch/x86/include/uapi/asm/signal.h).
const (
	saOnStack   = 0x08000000
	saRestart   = 0x10000000
	saNoDefer   = 0x40000000
	saResetHand = 0x80000000
	saRestorer  = 0x04000000
	saSiginfo   = 0x00000004
)

// siginfo codes.
const (
	siUser     = 0
	siTkill    = -6
	siKernel   = 0x80
	segvMapErr = 1
	segvAccErr = 2
)

// rt_sigframe layout (arch/x86/include/asm/sigframe.h, uapi/asm/
// sigcontext.h, ucontext.h): pretcode, struct ucontext (uc_flags,
// uc_link, uc_stack, struct sigcontext_64, uc_sigmask), siginfo.
const (
	frameUC        = 8
	frameInfo      = 312
	sizeofSigframe = 440
	ucStack        = 16
	ucMcontext     = 40
	ucSigmask      = 296
	scFlags        = 136
	scCSetc        = 144
	scErr          = 152
	scTrapno       = 160
	scOldmask      = 168
	scCR2          = 176
	scFpstate      = 184
	sizeofFxsave   = 512
	// ucSigcontextSS | ucStrictRestoreSS: what a 64-bit frame's uc_flags
	// carry without XSAVE (no UC_FP_XSTATE).
	ucFlags = 2 | 4
	// fixEflags is FIX_EFLAGS, the RFLAGS bits sigreturn restores.
	fixEflags = 0x40000 | 0x400 | 0x800 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x10000 // AC DF OF TF SF ZF AF PF CF RF
)

// sigcontext register order: r8-r15, rdi, rsi, rbp, rbx, rdx, rax, rcx,
// rsp (GPR indexes of cpu.Regs).
var scRegs = [...]int{8, 9, 10, 11, 12, 13, 14, 15, cpu.RDI, cpu.RSI, cpu.RBP, cpu.RBX, cpu.RDX, cpu.RAX, cpu.RCX, cpu.RSP}

// signalFault describes the fault of a synchronous signal for its
// siginfo and sigcontext.
type signalFault struct {
	fault  bool // a synchronous fault: si_addr, trapno, err, cr2
	code   int32
	addr   uint64
	trapno uint64
	err    uint64
}

// doSignals acts on the current task's deliverable pending signals before
// it returns to user mode (get_signal): an ignored one is dropped, a
// default-action one ends the thread group, one with a handler gets an
// rt_sigframe (handle_signal), after which the others wait for the
// handler's sigreturn or mask changes. It reports whether the task is
// still current.
func (v *VCPU) doSignals() bool {
	t := v.curr
	for t != nil && v.curr == t && t.state == taskRunning {
		sig := t.pendingFatal()
		if sig == 0 {
			if t.hasSaved { // restore_saved_sigmask: no handler ran
				t.sigBlocked, t.hasSaved = t.savedMask, false
			}
			return true
		}
		s := t.mm.sigHand()
		thread := t.sigPending&sigmask(sig) != 0
		if thread {
			t.sigPending &^= sigmask(sig)
		} else {
			s.pending &^= sigmask(sig)
		}
		if s.ignoredSig(sig) {
			continue
		}
		if s.action[sig].handler == sigDfl || sig == SIGKILL {
			v.killGroup(sig, "")
			return false
		}
		code := s.code[sig]
		if thread {
			code = t.sigCode[sig]
		}
		return v.setupRtFrame(sig, signalFault{code: code})
	}
	return v.curr == t
}

// setupRtFrame models __setup_rt_frame (arch/x86/kernel/signal.c, v5.10)
// for a 64-bit task on a CPU without XSAVE: the frame goes below the red
// zone (or on the alternate stack with SA_ONSTACK), the FXSAVE image
// 64-byte aligned above it, the frame itself at 16n-8; the handler starts
// with RDI = sig, RSI = &info, RDX = &uc and the FPU in its initial state.
// A frame that cannot be written, or a handler without SA_RESTORER, is a
// SIGSEGV (signal_setup_done → force_sigsegv).
func (v *VCPU) setupRtFrame(sig int, f signalFault) bool {
	t := v.curr
	r := &v.c.Regs
	ka := t.mm.sigHand().action[sig]
	if ka.flags&saRestorer == 0 {
		v.killGroup(SIGSEGV, "signal handler without SA_RESTORER")
		return false
	}
	sp := r.GPR[cpu.RSP] - 128
	onStack := t.altStack.size != 0 && sp-t.altStack.sp < t.altStack.size
	if ka.flags&saOnStack != 0 && t.altStack.size != 0 && !onStack {
		sp = t.altStack.sp + t.altStack.size
	}
	fx := (sp - sizeofFxsave) &^ 63
	frame := ((fx - sizeofSigframe) &^ 15) - 8
	b := make([]byte, sizeofSigframe)
	le := binary.LittleEndian
	le.PutUint64(b, ka.restorer)
	uc := b[frameUC:]
	le.PutUint64(uc, ucFlags)
	le.PutUint64(uc[ucStack:], t.altStack.sp)
	ssFlags := uint32(0)
	if t.altStack.size == 0 {
		ssFlags = ssDisable
	} else if onStack {
		ssFlags = ssOnStack
	}
	le.PutUint32(uc[ucStack+8:], ssFlags|t.altStack.flags)
	le.PutUint64(uc[ucStack+16:], t.altStack.size)
	sc := uc[ucMcontext:]
	for i, g := range scRegs {
		le.PutUint64(sc[i*8:], r.GPR[g])
	}
	le.PutUint64(sc[128:], r.RIP)
	le.PutUint64(sc[scFlags:], r.RFLAGS)
	le.PutUint16(sc[scCSetc:], 0x33)   // __USER_CS
	le.PutUint16(sc[scCSetc+6:], 0x2b) // __USER_DS as ss
	le.PutUint64(sc[scErr:], f.err)
	le.PutUint64(sc[scTrapno:], f.trapno)
	oldMask := t.sigBlocked
	if t.hasSaved { // rt_sigsuspend: the handler returns to the mask before the call
		oldMask, t.hasSaved = t.savedMask, false
	}
	le.PutUint64(sc[scOldmask:], oldMask)
	le.PutUint64(sc[scCR2:], f.addr)
	le.PutUint64(sc[scFpstate:], fx)
	le.PutUint64(uc[ucSigmask:], oldMask)
	info := b[frameInfo:]
	le.PutUint32(info, uint32(sig))
	le.PutUint32(info[8:], uint32(f.code))
	if f.fault {
		le.PutUint64(info[16:], f.addr) // si_addr
	} else {
		le.PutUint32(info[16:], uint32(t.tgid)) // si_pid of the sender (the model's only sender is the group itself or kin)
		le.PutUint32(info[20:], guestUID)
	}
	if v.copyToUser(fx, fxsave(r)) != 0 || v.copyToUser(frame, b) != 0 {
		v.killGroup(SIGSEGV, "cannot write the signal frame")
		return false
	}
	r.GPR[cpu.RDI] = uint64(sig)
	r.GPR[cpu.RSI] = frame + frameInfo
	r.GPR[cpu.RDX] = frame + frameUC
	r.GPR[cpu.RAX] = 0
	r.GPR[cpu.RSP] = frame
	r.RIP = ka.handler
	r.RFLAGS &^= 0x400 | 0x100 | 0x10000 | 0x40000 // DF TF RF AC
	init := cpu.InitialRegs(0, 0)
	r.X87, r.MXCSR, r.XMM = init.X87, init.MXCSR, init.XMM // fpu__clear_user_states
	// signal_delivered: block sa_mask and (without SA_NODEFER) sig.
	t.sigBlocked |= ka.mask &^ sigUnblockable
	if ka.flags&saNoDefer == 0 {
		t.sigBlocked |= sigmask(sig) &^ sigUnblockable
	}
	if ka.flags&saResetHand != 0 {
		t.mm.sigHand().action[sig].handler = sigDfl
	}
	if ka.flags&saOnStack != 0 && t.altStack.flags&ssAutodisarm != 0 {
		t.altStack = altStack{}
	}
	return true
}

// fxsave returns the FXSAVE image (SDM Vol. 1 10.5.1, Table 10-2) of r's
// x87 and SSE state, the fpstate of a frame without XSAVE (the kernel's
// fxsaveq, copy_fxregs_to_user). Unlike the FXSAVE instruction, it stores
// FOP as the model holds it, not masked to its 11 bits, as this copy always
// has; every path that sets FOP (the interpreter, FXRSTOR, rt_sigreturn)
// keeps it within 11 bits, so the two images agree.
func fxsave(r *cpu.Regs) []byte {
	b := make([]byte, sizeofFxsave)
	cpu.PutFXSave(b, r)
	binary.LittleEndian.PutUint16(b[6:], r.X87.FOP)
	return b
}

// sysRtSigreturn models rt_sigreturn: the frame is at RSP-8 (the handler's
// ret popped pretcode); registers, flags (FIX_EFLAGS), the signal mask,
// the alternate stack and the FPU state come back from it. A bad frame is
// a SIGSEGV. It returns false when the task is gone.
func (v *VCPU) sysRtSigreturn() bool {
	t := v.curr
	r := &v.c.Regs
	frame := r.GPR[cpu.RSP] - 8
	b := make([]byte, sizeofSigframe)
	if v.copyFromUser(b, frame) != 0 {
		v.forceSig(SIGSEGV, frame, "bad frame in rt_sigreturn")
		return false
	}
	le := binary.LittleEndian
	uc := b[frameUC:]
	sc := uc[ucMcontext:]
	n := *r
	for i, g := range scRegs {
		n.GPR[g] = le.Uint64(sc[i*8:])
	}
	n.RIP = le.Uint64(sc[128:])
	n.RFLAGS = r.RFLAGS&^fixEflags | le.Uint64(sc[scFlags:])&fixEflags
	if fx := le.Uint64(sc[scFpstate:]); fx != 0 {
		img := make([]byte, sizeofFxsave)
		if v.copyFromUser(img, fx) != 0 || !cpu.GetFXSave(img, &n) {
			v.forceSig(SIGSEGV, frame, "bad fpstate in rt_sigreturn")
			return false
		}
	} else {
		init := cpu.InitialRegs(0, 0)
		n.X87, n.MXCSR, n.XMM = init.X87, init.MXCSR, init.XMM
	}
	*r = n
	t.sigBlocked = le.Uint64(uc[ucSigmask:]) &^ sigUnblockable
	// restore_altstack: do_sigaltstack(&uc->uc_stack), errors ignored
	ssp, sflags, ssize := le.Uint64(uc[ucStack:]), le.Uint32(uc[ucStack+8:]), le.Uint64(uc[ucStack+16:])
	if mode := sflags &^ ssAutodisarm; mode == ssDisable {
		t.altStack = altStack{}
	} else if (mode == 0 || mode == ssOnStack) && ssize >= sigaltMinSize {
		t.altStack = altStack{sp: ssp, size: ssize, flags: sflags & ssAutodisarm}
	}
	return v.doSignals()
}

// sysRtSigsuspend models rt_sigsuspend: the mask is replaced until a
// signal is taken, then restored (by the handler's sigreturn, as the frame
// carries the old mask, or at once); the call returns -EINTR.
func (v *VCPU) sysRtSigsuspend(set, sigsetsize uint64) (int64, bool) {
	if sigsetsize != 8 {
		return -EINVAL, false
	}
	ns, err := v.getUser64(set)
	if err != 0 {
		return err, false
	}
	t := v.curr
	t.savedMask, t.hasSaved = t.sigBlocked, true
	t.sigBlocked = ns &^ sigUnblockable
	if t.pendingFatal() != 0 {
		return -EINTR, false // taken on the way out
	}
	return 0, true // sleep until interrupted
}
