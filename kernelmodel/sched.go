package kernelmodel

import (
	"github.com/tlbemu/emu/cpu"
	"github.com/tlbemu/emu/ipi"
)

type taskState int

const (
	taskRunnable taskState = iota
	taskRunning
	taskBlocked
	taskDead
)

// Task is a thread (task_struct).
type Task struct {
	tid, tgid int
	comm      string
	mm        *MM
	regs      cpu.Regs
	state     taskState
	home      *VCPU // CPU whose run queue the task belongs to

	clearChildTID uint64 // set_child_tid/clear_child_tid (CLONE_CHILD_CLEARTID)
	futexKey      futexKey
	sleepUntil    uint64 // nanosleep wake-up, emulated cycles
	parent        *Task
	exitStatus    int
	waitingChild  bool // blocked in wait4

	futexBitset uint32          // FUTEX_WAIT_BITSET mask while in futexWait
	pipeWait    bool            // asleep in a pipe read or write (interruptible)
	sigCode     [nSig + 1]int32 // si_code of each thread-directed pending signal
	sigBlocked  uint64          // blocked signal mask
	sigPending  uint64          // thread-directed pending signals
	savedMask   uint64          // saved_sigmask of rt_sigsuspend, while hasSaved
	pdeathSig   int             // PR_SET_PDEATHSIG (kept, not sent: parents outlive children in the model's runs)
	hasSaved    bool
	altStack    altStack
	termSig     int    // the signal that ended the thread group (wait status)
	robustList  uint64 // set_robust_list head
	runtime     uint64 // cycles on a CPU before the current stint (sum_exec_runtime)
}

// SIGCHLD si_code values (include/uapi/asm-generic/siginfo.h).
const (
	cldExited = 1
	cldKilled = 2
)

type futexKey struct {
	mm   *MM
	addr uint64
}

// newTask creates a task on the least loaded CPU (lowest id on ties), the
// deterministic stand-in for select_task_rq_fair's idle-CPU search.
func (m *Machine) newTask(mm *MM, tgid int, comm string) *Task {
	t := &Task{tid: m.nextTID, tgid: tgid, comm: comm, mm: mm, state: taskRunnable}
	if tgid == 0 {
		t.tgid = t.tid
	}
	m.nextTID++
	m.tasks = append(m.tasks, t)
	best := m.cpus[0]
	load := func(v *VCPU) int {
		n := len(v.runq)
		if v.curr != nil {
			n++
		}
		return n
	}
	for _, v := range m.cpus[1:] {
		if load(v) < load(best) {
			best = v
		}
	}
	t.home = best
	mm.users++
	return t
}

// wakeUpTask makes t runnable at time now (try_to_wake_up). If its home CPU
// is busy and another CPU is idle with nothing queued, the task moves there,
// the deterministic stand-in for select_task_rq_fair's idle-sibling search
// (lowest CPU id wins).
func (v *VCPU) wakeUpTask(t *Task) { v.wakeUp(t, 0) }

// wakeUpNewTask is wake_up_new_task: wakeUpTask for a task's first run,
// whose wake-up of an idle CPU arrives the seed's start skew later
// (jitter.go: startSkew). A task queued behind a running one on its home
// CPU first runs when that one's slice ends, skew or not.
func (v *VCPU) wakeUpNewTask(t *Task) { v.wakeUp(t, v.jitter(startSkew)) }

// wakeUp is wakeUpTask with skew cycles added to the wake-up of t's home
// CPU when that is another, idle CPU.
func (v *VCPU) wakeUp(t *Task, skew uint64) {
	t.state = taskRunnable
	if h := t.home; h.curr != nil && h.curr != t {
		for _, u := range v.m.cpus {
			if u.curr == nil && len(u.runq) == 0 && u.script == nil {
				t.home = u
				break
			}
		}
	}
	h := t.home
	h.runq = append(h.runq, t)
	if h != v {
		h.kick(v.c.Clock + v.m.cfg.Costs.Wakeup + skew)
	}
}

// scheduleNext switches v from its current task (which the caller has
// already queued, blocked or killed) to the next runnable task, or to idle.
// It models __schedule → context_switch: switch_mm_irqs_off for a user task,
// enter_lazy_tlb for the idle task.
func (v *VCPU) scheduleNext() {
	prev := v.curr
	if prev != nil {
		prev.runtime += v.c.Clock - v.switchedAt
		prev.regs = v.c.Regs
		if prev.state == taskRunning {
			prev.state = taskRunnable
		}
	}
	v.curr = nil
	for len(v.runq) > 0 {
		next := v.runq[0]
		v.runq = v.runq[1:]
		if next.state == taskDead {
			continue
		}
		if next != prev {
			v.m.contextSwitches++
			v.c.Clock += v.m.cfg.Costs.ContextSwitch
		}
		next.state = taskRunning
		v.curr = next
		v.switchedAt = v.c.Clock
		v.c.Regs = next.regs
		v.sliceAt = v.c.Clock + v.m.cfg.Timeslice
		v.switchMMIrqsOff(next.mm)
		return
	}
	// Newly idle: pull a task that waits on a busy CPU (the deterministic
	// stand-in for newidle_balance: the lowest CPU id with a queue).
	for _, u := range v.m.cpus {
		if u != v && u.curr != nil && len(u.runq) > 0 {
			t := u.runq[0]
			u.runq = u.runq[1:]
			t.home = v
			v.runq = append(v.runq, t)
			v.scheduleNext()
			return
		}
	}
	// Nothing to run: the idle task, a kernel thread, keeps the user mm
	// loaded in lazy TLB mode.
	v.enterLazyTLB()
}

// block takes the current task off the CPU until it is woken.
func (v *VCPU) block() {
	v.curr.state = taskBlocked
	v.scheduleNext()
}

// futexWait models futex_wait: sleep if *uaddr == val, until a wake
// whose bitset intersects bitset or, if d > 0, for at most d cycles
// (-ETIMEDOUT; wakeSleepers ends the wait).
func (v *VCPU) futexWait(addr uint64, val, bitset uint32, d uint64) int64 {
	cur, err := v.getUser32(addr)
	if err != 0 {
		return err
	}
	if cur != val {
		return -EAGAIN
	}
	if d == 1 {
		return -ETIMEDOUT // the timeout has already passed
	}
	t := v.curr
	t.futexKey = futexKey{t.mm, addr}
	t.futexBitset = bitset
	if d > 0 {
		t.sleepUntil = v.c.Clock + d
		v.nextSleeper = min(v.nextSleeper, t.sleepUntil)
	}
	v.c.Regs.GPR[cpu.RAX] = 0 // the return value when woken; scheduleNext saves v.c.Regs
	v.block()
	return 0
}

// futexWake models FUTEX_WAKE: wake up to n waiters on (mm, addr), in the
// order they started waiting.
func (v *VCPU) futexWake(mm *MM, addr uint64, n int) int64 {
	return v.futexWakeBits(mm, addr, n, futexBitsetAll)
}

// futexWakeBits models futex_wake with a bitset (FUTEX_WAKE_BITSET).
func (v *VCPU) futexWakeBits(mm *MM, addr uint64, n int, bitset uint32) int64 {
	woken := 0
	for _, t := range v.m.tasks {
		if woken >= n {
			break
		}
		if t.state == taskBlocked && t.futexKey == (futexKey{mm, addr}) && t.futexBitset&bitset != 0 {
			t.futexKey = futexKey{}
			t.sleepUntil = 0
			v.wakeUpTask(t)
			woken++
		}
	}
	return int64(woken)
}

// futexRequeue models futex_requeue without PI: wake up to nrWake waiters
// of addr, move up to nrRequeue of the others to addr2. It returns the
// number woken plus requeued.
func (v *VCPU) futexRequeue(mm *MM, addr, addr2 uint64, nrWake, nrRequeue int) int64 {
	woken := int(v.futexWake(mm, addr, nrWake))
	moved := 0
	for _, t := range v.m.tasks {
		if moved >= nrRequeue {
			break
		}
		if t.state == taskBlocked && t.futexKey == (futexKey{mm, addr}) {
			t.futexKey.addr = addr2
			moved++
		}
	}
	return int64(woken + moved)
}

// exitTask models do_exit for the current task: mm_release clears and wakes
// clear_child_tid, then the task is gone.
func (v *VCPU) exitTask(status int) {
	t := v.curr
	if t.clearChildTID != 0 {
		if v.putUser32(t.clearChildTID, 0) == 0 {
			v.futexWake(t.mm, t.clearChildTID, 1)
		}
	}
	t.state = taskDead
	t.exitStatus = status
	// exit_mm (kernel/exit.c, v5.10): after mm_release, current->mm =
	// NULL and enter_lazy_tlb(mm, current), then mmput: the last user's
	// exit_mmap runs on a CPU that is lazy on the dying mm, so its own
	// flush (freed_tables) switches it to init_mm.
	v.enterLazyTLB()
	t.mm.users--
	if t.mm.users == 0 {
		v.exitMMap(t.mm)
		v.putPipes(t.mm)
		if t.parent != nil {
			for _, p := range v.m.tasks {
				if p.tgid == t.parent.tgid && p.waitingChild && p.state == taskBlocked {
					p.waitingChild = false
					v.wakeUpTask(p)
				}
			}
			if t.parent.state != taskDead {
				code := int32(cldExited)
				if t.termSig != 0 {
					code = cldKilled
				}
				v.sendSignalCode(t.parent, SIGCHLD, false, code) // do_notify_parent (dropped unless handled)
			}
		}
	}
	if t.tgid == 1 && t.mm.users == 0 {
		v.m.exitCode = status
		v.m.stop(nil)
		panic(errStop{})
	}
	v.scheduleNext()
}

// exitGroup kills every thread of the current thread group
// (do_group_exit). The other threads are marked dead here; a thread that is
// running on another CPU, even inside a kernel path (spinning on a lock,
// waiting for IPI acknowledgements), finishes that path and is taken off
// its CPU at its next return to user mode (reapIfKilled), as a SIGKILL is
// acted on at exit_to_user_mode.
func (v *VCPU) exitGroup(status int) {
	t := v.curr
	for _, o := range v.m.tasks {
		if o != t && o.tgid == t.tgid && o.state != taskDead {
			o.state = taskDead
			o.exitStatus = status
			o.mm.users--
		}
	}
	v.exitTask(status)
}

// reapIfKilled takes the current task off v if exit_group killed it, and
// reports whether it did.
func (v *VCPU) reapIfKilled() bool {
	if v.curr == nil || v.curr.state != taskDead {
		return false
	}
	v.curr = nil
	v.scheduleNext()
	return true
}

// nanosleep blocks the current task for d cycles.
func (v *VCPU) nanosleep(d uint64) {
	t := v.curr
	// A deadline past the end of the cycle clock (nanosleep of INT64_MAX
	// seconds is 2^94 cycles) is never: the task sleeps until a signal,
	// and the run ends as a deadlock if nothing else can wake it.
	t.sleepUntil = ipi.Never
	if d < ipi.Never-v.c.Clock {
		t.sleepUntil = v.c.Clock + d
	}
	v.nextSleeper = min(v.nextSleeper, t.sleepUntil)
	v.c.Regs.GPR[cpu.RAX] = 0
	v.block()
}

// wakeSleepers makes tasks whose nanosleep or futex timeout expired
// runnable, and returns the earliest pending expiry (also kept in
// v.nextSleeper, so that a busy CPU comes back to the kernel for it: the
// hrtimer interrupt).
func (v *VCPU) wakeSleepers() uint64 {
	next := uint64(ipi.Never)
	for _, t := range v.m.tasks {
		if t.home != v || t.state != taskBlocked || t.sleepUntil == 0 {
			continue
		}
		if t.sleepUntil <= v.c.Clock {
			t.sleepUntil = 0
			if t.futexKey.mm != nil { // a futex wait timed out
				t.futexKey = futexKey{}
				t.regs.GPR[cpu.RAX] = negErrno(ETIMEDOUT)
			}
			v.wakeUpTask(t)
		} else if t.sleepUntil < next {
			next = t.sleepUntil
		}
	}
	v.nextSleeper = next
	return next
}
