package kernelmodel

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/tlbemu/emu/cpu"
	"github.com/tlbemu/emu/internal/hostmem"
	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/ipi"
	"github.com/tlbemu/emu/tlb"
)

// Sentinel errors of a run.
var (
	ErrMaxCycles   = errors.New("kernelmodel: --max-cycles reached")
	ErrInterrupted = errors.New("kernelmodel: interrupted")
	ErrDeadlock    = errors.New("kernelmodel: guest deadlock: every thread is blocked")
	ErrHazard      = errors.New("kernelmodel: stale-TLB hazard")
)

// Machine is the emulated multicore system and the Linux model running on
// it. One goroutine per vCPU runs the guest and, on a trap, the kernel model
// on that vCPU. Exactly one goroutine holds the baton at any moment: the
// vCPU with the lowest (emulated time, CPU id) runs, for at most Quantum
// cycles beyond the next-slowest vCPU, then hands the baton on. So every
// cross-CPU effect (stores, IPIs, lock hand-offs, wake-ups) is ordered by
// emulated time and CPU id, and the output is the same whatever GOMAXPROCS
// is. Machine state is touched only by the baton holder. The exception is
// guest user code, which the baton holder may run on several vCPUs at once
// in a parallel phase, under frame-ownership rules that make the result
// independent of the interleaving (parallel.go).
type Machine struct {
	cfg Config
	log *zap.Logger
	mem *phys.Memory

	pages    []Page // struct page for every frame (mem_map)
	zeroPage phys.PFN
	initMM   *MM // init_mm: kernel-only page tables, ctx_id 1
	// lruLock is pgdat->lru_lock of the one node (v5.10; the lruvec's
	// lru_lock from v5.11, 6168d0da2b47, one per memcg and node: the
	// model has no memcgs, so still one): lru.go.
	lruLock spinlock
	// on is which patches the run has, read once from cfg (Config.Has
	// looks the kernel's list up in a map: too slow for a fault or a page).
	on patchesOn

	lru   lruLists // the lruvec's LRU lists and its shared lines (lru.go)
	memcg memcg    // the workload's memory cgroup's page_counters (memcg.go)

	cpus    []*VCPU
	q       batonQueues // the vCPUs by (eff, id), the parked ones by clock (batonq.go)
	tasks   []*Task
	nextTID int
	nextCtx uint64 // last_mm_ctx_id
	mms     []*MM

	counters
	tracing tracing // the -trace timeline's bookkeeping (trace.go)
	hazard  *Hazard

	stopped  bool
	err      error
	exitCode int
	// exitSignal is the signal that killed the first process (0: none).
	exitSignal    int
	rng           *rand.ChaCha8     // AT_RANDOM, getrandom, /dev/urandom (abi.go)
	unimplemented map[string]uint64 // -ENOSYS answers by syscall name
	vfsState      *vfs              // the guest's name space and page-cache counters (vfs.go)
	lastMonoNS    uint64            // the largest CLOCK_MONOTONIC value returned
	quit          chan struct{}
	ctx           context.Context
	stdout        []byte        // what the guest wrote to fds 0-2 (read by tests)
	scripts       int           // tests: scripts still running
	progress      atomic.Uint64 // largest vCPU clock seen, readable from any goroutine

	par parallel // deterministic parallel execution of user code (parallel.go)

	spinPasses  uint64 // spin-wait turns run by spinPass (spinwait.go)
	spinPassOff bool   // tests: every spin-wait turn on the waiter's goroutine

	bc bcastState // global ASIDs, INVLPGB, RAR (broadcast.go)
	k6 kernel618  // the post-5.10 flush-path patches (tlbflush618.go)

	idle idleCounters // -idle c6 and sleeping mmap_lock readers (idle.go)
}

// Progress returns the largest emulated clock reached so far (cycles). It
// is safe to call from any goroutine while Run is in progress.
func (m *Machine) Progress() uint64 { return m.progress.Load() }

// VCPU is one CPU: the interpreter state plus the kernel's per-CPU state.
type VCPU struct {
	id  int
	m   *Machine
	c   *cpu.CPU
	jit uint64 // splitmix64 state of this vCPU's timing jitter (jitter.go)
	// yield hands the baton to another vCPU from v's coroutine and
	// returns when v gets it back (false: the run is over); see Run.
	yield func(*VCPU) bool

	curr    *Task   // running task, nil when idle
	runq    []*Task // runnable tasks waiting for this CPU, FIFO
	sliceAt uint64  // clock at which curr's time slice ends
	idle    bool
	wakeAt  uint64 // while idle: when to wake (ipi.Never: not until an event)
	kickAt  uint64 // while idle: earliest wake-up requested by another CPU

	tlbs   tlbState // cpu_tlbstate
	mbox   ipi.Mailbox
	irqOff int // local_irq_disable nesting
	inIRQ  bool
	// inFlush counts the flush_tlb_mm_range calls v is inside, so that a
	// flush interrupt it takes while waiting for its own IPIs is not
	// counted in emu_tlb_invalidation_cycles a second time (the enclosing
	// flush's interval already holds it).
	inFlush int

	inKernel          bool   // between a trap and the return to user mode
	userStart         uint64 // clock at the last return to user mode (tracing)
	userPCIDFlushMask uint16 // cpu_tlbstate.user_pcid_flush_mask (PTI)

	lruAdd     []phys.PFN // per-CPU lru_pvecs.lru_add (PAGEVEC_SIZE 15)
	memcgStock uint64     // pages charged ahead in this CPU's memcg_stock (memcg.go)

	script func(v *VCPU) // tests: kernel code to run on this CPU instead of a task

	tlbIRQs    uint64 // irq_tlb_count
	callIRQs   uint64 // irq_call_count
	switchedAt uint64 // clock when curr was switched in (CPU-time clocks)
	// nextSleeper is no later than the earliest timeout of a task sleeping
	// with v as its home (0: unknown, recomputed by wakeSleepers).
	nextSleeper uint64
	idleCycles  uint64
	idleSince   uint64

	parVCPU // parallel-phase state (parallel.go)

	spin   spinState // the spin wait v is in (spinwait.go)
	rwWait rwWaiter  // v's place in an rwsem's queue while it waits (locks.go)

	bcv bcastVCPU // broadcast invalidation (broadcast.go)
	gov idleGov   // the idle governor (idle.go)
}

// New builds a machine with cfg.CPUs vCPUs.
func New(cfg Config, log *zap.Logger) (*Machine, error) {
	if cfg.CPUs < 1 || cfg.CPUs > 256 {
		return nil, fmt.Errorf("kernelmodel: cpus must be 1..256, got %d", cfg.CPUs)
	}
	if log == nil {
		log = zap.NewNop()
	}
	if _, ok := Kernels[cfg.Kernel]; !ok {
		return nil, fmt.Errorf("kernelmodel: unknown kernel %q", cfg.Kernel)
	}
	if err := CheckCosts(&cfg); err != nil {
		return nil, err
	}
	if err := CheckFlush(&cfg); err != nil {
		return nil, fmt.Errorf("kernelmodel: %w", err)
	}
	if cfg.Quantum == 0 {
		cfg.Quantum = 1000
	}
	m := &Machine{cfg: cfg, log: log, mem: phys.New(cfg.MemBytes), quit: make(chan struct{}), nextTID: 1}
	m.lruLock.name = lockLRU
	m.on = newPatchesOn(&cfg)
	m.lru.first = [2]phys.PFN{lruListHead, lruListHead}
	m.init618()
	m.counters.init()
	m.par.init(m)
	// struct page for every frame, touched only for the frames a run
	// uses: 13 MB for the default 512 MiB, cleared on every run when it
	// came from the Go heap.
	m.pages = hostmem.Table[Page](m, int(m.mem.Frames()), 0)
	var err error
	if m.zeroPage, err = m.allocPage(); err != nil {
		return nil, err
	}
	m.pages[m.zeroPage].refcount = 1 << 30 // never freed
	if m.initMM, err = m.newMM(); err != nil {
		return nil, err
	}
	for i := 0; i < cfg.CPUs; i++ {
		mmu := tlb.New(m.mem, cfg.TLB)
		v := &VCPU{id: i, m: m, c: cpu.New(i, m.mem, mmu, cfg.CPUCosts), idle: true, wakeAt: ipi.Never, kickAt: ipi.Never, inKernel: true}
		v.jit = jitterSeed(cfg.Seed, i)
		v.skewStart()
		mmu.OnStaleWrite = v.staleWriteHook
		if m.par.enabled {
			v.c.Owners, v.c.Own = m.par.owners, cpu.OwnAcquire
		}
		if cfg.PCID {
			mmu.SetCR4(true, true)
		}
		v.initializeTLBState()
		m.cpus = append(m.cpus, v)
	}
	m.initBroadcast()
	return m, nil
}

// Config returns the machine's configuration.
func (m *Machine) Config() Config { return m.cfg }

// ExitCode returns the guest's exit_group status.
func (m *Machine) ExitCode() int { return m.exitCode }

// errStop unwinds a vCPU goroutine out of kernel code when the run ends.
type errStop struct{}

// stop ends the run with err (nil for a normal end). The first error wins.
func (m *Machine) stop(err error) {
	if !m.stopped {
		m.stopped = true
		m.err = err
		close(m.quit)
	}
}

// Run runs the loaded guest until it exits, fails, or ctx is done.
//
// Each vCPU's goroutine is a coroutine (iter.Pull) and Run's goroutine
// passes the baton between them: it resumes the holder, which runs until it
// yields the vCPU it hands the baton to. A coroutine switch goes straight
// from one goroutine to the next on the same OS thread, without the
// scheduler's run queue, so a hand-off never wakes an idle thread (with
// channels, each one did under GOMAXPROCS > 1: a futex wake-up and a
// thread that found nothing to do) and costs two switches at any
// GOMAXPROCS. Only the helpers of parallel phases are ordinary goroutines.
func (m *Machine) Run(ctx context.Context) error {
	m.ctx = ctx
	if len(m.tasks) == 0 && m.scripts == 0 {
		return errors.New("kernelmodel: no program loaded")
	}
	next := make([]func() (*VCPU, bool), len(m.cpus))
	stop := make([]func(), len(m.cpus))
	for i, v := range m.cpus {
		next[i], stop[i] = iter.Pull(func(yield func(*VCPU) bool) {
			v.yield = yield
			v.loop()
		})
	}
	var wg sync.WaitGroup
	m.par.startWorkers(m, &wg)
	m.initQueues()
	for u, ok := m.pick(nil), true; ok; {
		// A vCPU's coroutine returns only when the run has stopped.
		u, ok = next[u.id]()
	}
	for _, s := range stop {
		s() // the suspended vCPUs unwind (errStop) from their hand-offs
	}
	wg.Wait()
	return m.err
}

// eff is v's emulated time for scheduling: its clock, or its wake-up time
// while idle.
func (v *VCPU) eff() uint64 {
	if v.idle {
		return v.wakeAt
	}
	return v.c.Clock
}

// horizon is the clock v may run to before it must hand the baton on.
func (v *VCPU) horizon() uint64 {
	o, e := v.m.pickEff(v)
	if o == nil || e == ipi.Never {
		return ipi.Never
	}
	return e + v.m.cfg.Quantum
}

// handoff lets u, the vCPU with the lowest (time, id) but v, run and waits
// to get the baton back. First, vCPUs parked at the user-mode entry that
// are behind u's horizon run in a parallel phase, which v coordinates
// (parallel.go); the caller then decides again.
func (v *VCPU) handoff(u *VCPU) {
	if v.m.phase(v) {
		return
	}
	v.m.passBaton(v, u)
}

// switchTo hands the baton from v, its holder, to u and returns when v has
// it again.
func (v *VCPU) switchTo(u *VCPU) {
	if !v.yield(u) {
		panic(errStop{}) // Run ends: unwind v's goroutine
	}
	v.gotBaton()
}

// gotBaton is what a vCPU does first whenever it gets the baton.
func (v *VCPU) gotBaton() {
	if v.m.stopped {
		panic(errStop{})
	}
	v.m.par.dirty = true // v is about to run serially (parallel.go)
}

// checkStop ends the run on cancellation or --max-cycles.
func (v *VCPU) checkStop() {
	m := v.m
	if c := v.c.Clock; c > m.progress.Load() {
		m.progress.Store(c)
	}
	if m.ctx.Err() != nil {
		m.stop(ErrInterrupted)
	} else if m.cfg.MaxCycles != 0 && v.c.Clock > m.cfg.MaxCycles {
		m.stop(fmt.Errorf("%w: cpu %d at cycle %d", ErrMaxCycles, v.id, v.c.Clock))
	}
	if m.stopped {
		panic(errStop{})
	}
}

// preempt is called wherever emulated time has advanced: it takes due
// interrupts (when enabled) and, if v has run past its horizon, hands the
// baton to the vCPU with the lowest (time, id).
func (v *VCPU) preempt() { v.preemptFrom(false) }

// preemptFrom is preempt; spinning says it is called from spinWait's loop,
// whose hand-offs spinPass may continue.
func (v *VCPU) preemptFrom(spinning bool) {
	for {
		v.checkStop()
		v.completeBroadcasts()
		if v.irqOff == 0 && !v.inIRQ {
			v.handleIRQs()
		}
		o, e := v.m.pickEff(v)
		if o == nil || e == ipi.Never || v.c.Clock < e+v.m.cfg.Quantum {
			return
		}
		if spinning {
			v.spinHandoff(o)
		} else {
			v.handoff(o)
		}
	}
}

// skipPolls advances v's clock over the polls of a spin-wait loop (for
// !done { Clock += SpinPoll; preempt() }) that would do nothing, so that
// the loop's next poll is the first that can: the first that hands the
// baton on (its clock reaches the lowest other vCPU's eff + Quantum), takes
// an interrupt (reaches the mailbox's earliest delivery, interrupts
// enabled) or stops the run (passes --max-cycles). Until then nothing can
// end the wait: while v holds the baton the other vCPUs are frozen, so no
// lock is released and no acknowledgement arrives, and v's own polls change
// nothing else. The result is the clock the polls one by one would reach,
// exactly; only the host time of a long wait changes (O(1) per hand-off
// instead of O(wait / SpinPoll)). At most 2^20 cycles are skipped at once,
// so cancellation is still noticed.
func (v *VCPU) skipPolls() {
	m := v.m
	sp := m.cfg.Costs.SpinPoll
	c := v.c.Clock
	if sp == 0 || c > ipi.Never-1<<21 {
		return
	}
	lim := c + 1<<20
	if o, e := m.pickEff(v); o != nil && e != ipi.Never {
		lim = min(lim, e+m.cfg.Quantum)
	}
	if v.irqOff == 0 && !v.inIRQ {
		lim = min(lim, v.mbox.Earliest())
	}
	lim = min(lim, v.spinReadyAt()) // a release ahead of v's clock
	if mc := m.cfg.MaxCycles; mc != 0 && mc != ^uint64(0) {
		lim = min(lim, mc+1)
	}
	// Polls j = 1..k (clock c + j·sp) do nothing iff c + k·sp < lim.
	if lim > c {
		v.c.Clock = c + (lim-c-1)/sp*sp
	}
}

// spend charges cycles of kernel work to v and lets time pass.
func (v *VCPU) spend(cycles uint64) {
	v.c.Clock += cycles
	v.preempt()
}

// loop is the vCPU goroutine. It stops when the machine stops.
func (v *VCPU) loop() {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(errStop); !ok {
				v.m.stop(fmt.Errorf("kernelmodel: internal error on cpu %d: %v", v.id, r))
			}
		}
	}()
	v.gotBaton() // Run resumes a vCPU's coroutine first when it gets the baton
	if v.script != nil {
		v.idle = false
		v.script(v)
		v.script = nil
		v.m.scripts--
		if v.m.scripts == 0 {
			v.m.stop(nil)
			panic(errStop{})
		}
	}
	for {
		v.checkStop()
		if v.curr == nil {
			v.idleLoop()
			continue
		}
		// Signals are taken on the way to user mode, but not before a
		// parallel phase's exit (hasPending) has been handled.
		if v.reapIfKilled() || !v.hasPending && !v.doSignals() {
			continue
		}
		v.runUser()
	}
}

// idleLoop models the idle task: the CPU sleeps until an interrupt or a
// wake-up is due, then takes it and runs a queued task (idleWait, idle.go).
// The idle task is a kernel thread, so the CPU entered lazy TLB mode when
// it switched to it.
func (v *VCPU) idleLoop() {
	v.idleWait(true)
	v.wakeSleepers()
	if len(v.runq) > 0 {
		v.scheduleNext()
	}
}

// runUser runs the current task in user mode until it traps: by parking
// for the next parallel phase (park), or serially while v finishes a phase's
// quantum after a stop (parallel.go), or always serially when parallel
// execution is off. It returns after the resulting exit has been handled.
func (v *VCPU) runUser() {
	if v.c.Clock >= v.nextSleeper {
		v.wakeSleepers() // a timeout expired while the CPU was busy (hrtimer interrupt)
	}
	if v.hasPending {
		v.hasPending = false
		if v.pendingTask == v.curr { // else exit_group took the task away meanwhile
			v.userExit(v.pending)
			return
		}
	}
	if v.m.par.enabled && v.c.Clock >= v.serialUntil {
		v.exitToUser()
		v.park()
		return
	}
	dl := v.horizon()
	if e := v.mbox.Earliest(); e < dl {
		dl = e
	}
	if v.m.bc.on {
		v.completeBroadcasts()
		dl = min(dl, max(v.nextBroadcast(), v.c.Clock+1))
	}
	if v.nextSleeper < dl {
		dl = v.nextSleeper
	}
	if len(v.runq) > 0 && v.sliceAt < dl {
		dl = v.sliceAt
	}
	if mc := v.m.cfg.MaxCycles; mc != 0 && mc != ^uint64(0) && mc+1 < dl { // 2^64-1: no clock passes it
		dl = mc + 1
	}
	// Come back to the kernel at least every 2^20 cycles so cancellation
	// (Ctrl-C) and --max-cycles are noticed even when no other CPU is busy.
	dl = min(dl, v.c.Clock+1<<20)
	if v.m.par.enabled {
		dl = min(dl, v.serialUntil)
	}
	v.c.Deadline = dl
	v.exitToUser()
	v.userExit(v.c.Run())
}

// userExit handles the exit of a user-mode run.
func (v *VCPU) userExit(ex cpu.Exit) {
	if ex.Kind != cpu.ExitDeadline && ex.Kind != cpu.ExitSerialize {
		v.enterKernel()
	}
	switch ex.Kind {
	case cpu.ExitSerialize:
		// A parallel run stopped before an access that needs an ownership
		// change: run at least that instruction serially (OwnAcquire).
		v.serialUntil = max(v.serialUntil, v.c.Clock+1)
	case cpu.ExitDeadline:
		v.preempt()
		if v.curr != nil && len(v.runq) > 0 && v.c.Clock >= v.sliceAt { // exit_group may have taken the task away
			v.curr.state = taskRunnable
			v.runq = append(v.runq, v.curr)
			v.scheduleNext()
		}
	case cpu.ExitSyscall:
		v.syscall()
	case cpu.ExitPageFault:
		v.doUserAddrFault(tlb.VirtAddr(ex.Addr), ex.ErrCode)
		// Retry the faulting instruction serially, so that it takes
		// ownership of the frame the fault mapped without another stop.
		v.serialUntil = max(v.serialUntil, v.c.Clock+1)
	case cpu.ExitGP:
		v.forceSig(SIGSEGV, 0, "general protection fault")
	case cpu.ExitDE:
		v.forceSig(SIGFPE, v.c.Regs.RIP, "divide error")
	case cpu.ExitBreakpoint:
		v.forceSig(SIGTRAP, v.c.Regs.RIP, "int3")
	case cpu.ExitUD:
		// An architectural #UD (UD2, an instruction of a feature the CPU
		// model does not advertise) is do_error_trap → SIGILL, as on
		// Linux; a gap in the interpreter ends the run with an error
		// naming the instruction.
		var ue *cpu.UnimplementedError
		if ex.Err != nil && !(errors.As(ex.Err, &ue) && ue.Undefined) {
			v.m.stop(fmt.Errorf("cpu %d: %w", v.id, ex.Err))
			panic(errStop{})
		}
		v.forceSig(SIGILL, v.c.Regs.RIP, "invalid opcode")
	}
}

// kick makes an idle v wake no later than t.
func (v *VCPU) kick(t uint64) {
	if v.idle {
		v.kickAt = min(v.kickAt, t)
		v.wakeAt = max(min(v.wakeAt, t+v.gov.exit), v.c.Clock) // gov.exit: C6's exit latency (idle.go)
		v.m.requeue(v)
	}
}
