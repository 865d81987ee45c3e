package kernelmodel

import (
	"encoding/binary"

	"github.com/tlbemu/emu/cpu"
)

// Signals (kernel/signal.c, arch/x86/kernel/signal.c, v5.10), as far as
// the model takes them: dispositions, masks, alternate stacks and pending
// sets are kept, and a signal acts with its default action: ignored
// (SIGCHLD, SIGURG, SIGWINCH, SIGCONT; the stop signals too, as the model
// has no job control) or the end of the thread group, "killed by signal
// N". The model does not run user handlers: a signal whose default action
// terminates terminates even when a handler is installed (there is no
// rt_sigframe, so rt_sigreturn is not implemented). A blocked signal stays
// pending until it is unblocked, so glibc's raise (which blocks every
// signal around tgkill) and abort work as on Linux.

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
	pending uint64 // shared_pending
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
	sysRtSigreturn = 15
	sysKill        = 62
	sysSigaltstack = 131
	sysTkill       = 200
	sysTgkill      = 234
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
	v.deliverPending()
	return 0
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

// sendSignal models send_signal → complete_signal with default actions:
// an ignored signal is dropped; a blocked one stays pending (on the
// thread, or shared for a process-directed signal); otherwise the
// signal's default action ends t's thread group.
func (v *VCPU) sendSignal(t *Task, sig int, thread bool) {
	s := t.mm.sigHand()
	if s.ignoredSig(sig) {
		return
	}
	if thread {
		t.sigPending |= sigmask(sig)
	} else {
		s.pending |= sigmask(sig)
	}
	if t.tgid == v.curr.tgid {
		v.deliverPending()
		return
	}
	// Another process: each of its threads acts on the signal at its next
	// return to user mode (loop → reapIfKilled); a sleeping one is woken.
	for _, o := range v.m.tasks {
		if o.tgid == t.tgid && o.state != taskDead && o.pendingFatal() != 0 {
			o.killSig = o.pendingFatal()
			if o.state == taskBlocked {
				o.futexKey, o.sleepUntil, o.waitingChild = futexKey{}, 0, false
				v.wakeUpTask(o)
			}
		}
	}
}

// pendingFatal returns the lowest pending signal t does not block, 0 if
// none (next_signal's order: the synchronous signals first, then by
// number; every deliverable signal is fatal in the model).
func (t *Task) pendingFatal() int {
	p := (t.sigPending | t.mm.sigHand().pending) &^ t.sigBlocked
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

// deliverPending acts on a deliverable pending signal of the current
// task: the end of its thread group (get_signal → do_group_exit).
func (v *VCPU) deliverPending() {
	if sig := v.curr.pendingFatal(); sig != 0 {
		v.killGroup(sig, "")
	}
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

// actOnKill is called before a task returns to user mode: a fatal signal
// sent to it from another process ends its group now.
func (v *VCPU) actOnKill() bool {
	t := v.curr
	if t == nil || t.killSig == 0 || t.state == taskDead {
		return false
	}
	v.killGroup(t.killSig, "")
	return true
}
