package kernelmodel

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tlbemu/emu/cpu"
	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/ipi"
	"github.com/tlbemu/emu/tlb"
)

// Deterministic parallel execution of guest user code (CoreDet/DMP-O,
// Bergan et al., ASPLOS'10).
//
// The baton scheduler (machine.go) runs one goroutine at a time. That stays
// true for everything except guest user code: a vCPU that is about to enter
// user mode parks instead of running it, and before the baton holder hands
// the baton on (or after it has parked itself) it runs a parallel phase if
// some parked vCPU is behind the barrier:
//
//  1. The barrier is B = (lowest emulated time of any vCPU) + Quantum, the
//     horizon the baton gives every vCPU but the lowest (parked or not).
//     Every parked vCPU whose clock is below B takes part: each runs its
//     user code, concurrently with the others, until B or its own earlier
//     deadline (a due IPI, the end of its time slice, --max-cycles), with
//     its cpu.CPU in cpu.OwnParallel mode.
//     The participants are shared out among min(GOMAXPROCS, CPUs) worker
//     goroutines (the holder and helpers that spin briefly between phases,
//     since a phase is only Quantum cycles of guest code).
//  2. In that mode a vCPU may read frames that are shared or private to it
//     and write frames private to it (cpu/owner.go). Anything else (an
//     access that needs an ownership change, a page walk that would set an
//     A/D bit, an access through a stale TLB entry) and every trap (syscall,
//     #PF, ...) ends its run BEFORE the instruction has any architectural
//     effect, with RIP still at it (ExitSerialize for the former, the trap's
//     own exit for the latter, as precise as a #PF).
//  3. The holder waits for every participant. A participant that reached B
//     with nothing due stays parked; any other gets the exit as pending work
//     and waits for the baton like a vCPU in the kernel.
//  4. The serial phase is the baton protocol unchanged: the vCPU with the
//     lowest (time, id) runs; a vCPU handles its pending exit with the
//     baton (the kernel model runs only here), then runs user code serially
//     (cpu.OwnAcquire: a write makes the frame private to it, a read of a
//     frame private to another makes it shared) up to the B of the phase it
//     stopped in, as DMP finishes a quantum serially, and parks again.
//
// Why the result does not depend on GOMAXPROCS or host timing:
//
//   - During a parallel phase no kernel code runs, and no guest store is
//     visible to another participant: a frame written in the phase is
//     private to its writer, so no other participant reads or writes it.
//     Page tables are not written at all: the kernel is stopped, and a walk
//     that would set A or D is refused before it starts (cpu/owner.go
//     explains why A/D updates, commutative as they are, would otherwise
//     leak the order in which vCPUs walked into costs and TLB contents).
//     So each participant's run is a function of the state at the phase's
//     start, whatever the interleaving, and with GOMAXPROCS=1 the same
//     protocol runs the participants one after another with the same
//     outcome.
//   - What a run may touch besides its own vCPU is made safe for
//     concurrency: page-table entries are read atomically, guest frames are
//     materialised with a compare-and-swap and the decode caches' code
//     generation counters are atomic (internal/phys); the stale-TLB hazard
//     hook, which updates machine counters, only aborts the access in
//     parallel mode (staleWriteHook), so hazards are classified serially.
//   - Everything else (ownership changes, the choice of participants, B,
//     epochs, the post-processing) is decided by the baton holder alone, in
//     vCPU id order, from deterministic state.
//
// Why the model's semantics hold: a participant runs no further than B =
// lowest + Quantum, no further than the baton protocol would let it run,
// and a vCPU that stops early resumes, serially, at its own (lower) time,
// so no vCPU runs more than Quantum ahead of another that could still
// affect it. An IPI sent by any vCPU at or after its current time is due no
// earlier than lowest + DeliveryCycles ≥ B (Quantum ≤ IPI latency), so no
// participant runs past a delivery; kernel code, lock hand-offs and
// wake-ups are serial as before. The results differ from pure baton
// scheduling only where the baton let a vCPU run up to Quantum ahead: which
// of two vCPUs within a quantum of each other touches shared memory first.
//
// Ownership is a policy, deterministic like the rest: where it stops a vCPU
// decides how much runs in parallel and which of the interleavings the
// Quantum permits is taken (as where the baton changes hands does in pure
// baton scheduling), never whether the run is reproducible. Frames start
// shared and keep their owner when freed and reallocated.

// parallel is the machine's parallel-execution state. Apart from the
// atomics and channels that run a phase on the workers, it is touched only
// by the baton holder.
type parallel struct {
	enabled bool        // more than one vCPU
	owners  *cpu.Owners // frame ownership, shared by the vCPUs' interpreters
	// dirty records that something ran serially since the last parallel
	// phase, so page tables or ownership may have changed and the vCPUs'
	// caches of verified pages must be dropped (cpu.Owners.NewEpoch).
	dirty bool

	// A phase's participants are run by the coordinator (the baton holder)
	// and workers-1 helper goroutines, which claim them one at a time.
	// Which goroutine runs which vCPU does not matter: a parked vCPU's own
	// coroutine is suspended in a hand-off and touches none of its state.
	workers int
	list    []*VCPU       // participants of the current phase, in id order
	seq     atomic.Uint64 // number of the current phase (published last)
	claim   atomic.Uint64 // seq<<claimSeq | participants<<claimN | index of the next one to claim
	left    atomic.Int64  // participants of the phase not finished yet
	done    chan struct{} // the worker that finishes a phase's last participant signals here
	wakeup  chan struct{} // tokens for sleeping helpers
	asleep  atomic.Int32  // helpers blocked on wakeup
	shared  atomic.Bool   // the last phase was worth sharing (helpers spin longer; see run)
	start   time.Time     // the run's start, for lastEnd (coordinator only)
	lastEnd time.Duration // host time when the last small phase ended (coordinator only)
	backoff int           // small phases not shared after the last one that gained nothing …
	skip    int           // … and of them, those still to come (coordinator only)
	waits   int           // small phases in a row that began with helpers asleep (coordinator only)

	phases uint64 // parallel phases run
	stops  uint64 // participant runs that ended before B (exit to handle serially)
	lone   uint64 // of the phases, those a lone participant ran on its own (runParallel)
	// loneOff (tests) makes every phase go through the coordinator.
	loneOff bool

	grp     phaseGroup // the participants of the current phase, chaining phases (arrive)
	grouped uint64     // of the phases, those a group chained without the coordinator
	// groupOff (tests) makes every phase with several participants go
	// through the coordinator.
	groupOff bool
}

// phaseGroup lets the participants of a phase, each on its own worker, go
// on to the phases that would follow with the same participants, meeting
// at a barrier between two phases instead of returning to the coordinator
// (arrive). It is the lone participant's shortcut (runParallel) for two or
// more: with two vCPUs running private work, phase follows phase with the
// same two participants, and the coordinator's round between them (B, the
// candidates, the claims, the post-processing, each participant's hand-off
// between goroutines) took longer than the phase itself.
type phaseGroup struct {
	// on: the current phase may chain (phase sets it before run publishes
	// the phase, and the fields below).
	on bool
	// outside is the lowest eff of the vCPUs that are not participants, and
	// parkedOutside the lowest clock of those that are parked: while only
	// user code runs, neither moves (every other vCPU is frozen as it is
	// during any phase), so the barriers compute B from them.
	outside, parkedOutside uint64

	arrived atomic.Int32  // participants at the barrier of the current phase
	stop    atomic.Bool   // some participant ends the chain with this phase
	cont    atomic.Bool   // the decision of the last barrier …
	gen     atomic.Uint64 // … published by counting barriers
}

// parVCPU is a vCPU's parallel-execution state.
type parVCPU struct {
	parked      bool     // at the user-mode entry, running only in parallel phases
	pending     cpu.Exit // exit of the last parallel run, to handle with the baton …
	pendingTask *Task    // … for this task
	hasPending  bool
	serialUntil uint64        // run user code serially up to this clock before parking again
	parDL       uint64        // deadline of the current parallel run
	parB        uint64        // the barrier B of the (last) phase the current run is in
	parLone     bool          // the current run goes on phase after phase while it is alone (phase)
	parExit     cpu.Exit      // result of the current parallel run
	parPanic    any           // a panic in the current parallel run
	parInstr    uint64        // user instructions retired in parallel phases
	parTimed    bool          // the current parallel run measures its host time …
	parHost     time.Duration // … here (parallel.run's sharing policy)
	parIn       bool          // a participant of the current phase (phase, for groupBounds)
	parArrived  bool          // at the current phase's barrier (arrive)
}

func (p *parallel) init(m *Machine) {
	p.enabled = m.cfg.CPUs > 1
	if p.enabled {
		p.owners = cpu.NewOwners(m.mem.Frames())
	}
	p.dirty = true
	p.done = make(chan struct{}, 1)
}

// startWorkers starts the helper goroutines of the run: one fewer than the
// number of vCPUs that can usefully run at once, min(GOMAXPROCS, CPUs).
// With GOMAXPROCS=1 there is none and the coordinator runs every
// participant itself, one after another.
func (p *parallel) startWorkers(m *Machine, wg *sync.WaitGroup) {
	p.workers = 1
	if !p.enabled {
		return
	}
	p.workers = min(runtime.GOMAXPROCS(0), m.cfg.CPUs)
	p.start = time.Now()
	p.wakeup = make(chan struct{}, p.workers)
	for range p.workers - 1 {
		wg.Go(func() { p.helper(m.quit) })
	}
}

// parallelInstructions returns the user instructions retired in parallel
// phases (emu_parallel_instructions).
func (m *Machine) parallelInstructions() uint64 {
	var n uint64
	for _, v := range m.cpus {
		n += v.parInstr
	}
	return n
}

// staleWriteHook is the tlb.MMU stale-write hook. In a parallel phase the
// hazard detector must not run (it reads and counts machine state, and the
// store might be only an attempt): the access is serialized instead and
// judged again, with the baton, when the instruction re-executes.
func (v *VCPU) staleWriteHook(va tlb.VirtAddr, pfn phys.PFN, cur uint64, moved bool) {
	if v.c.Own == cpu.OwnParallel {
		v.c.AbortParallel()
		return
	}
	v.onStaleWrite(va, pfn, cur, moved)
}

// park parks v, which holds the baton and is about to enter user mode, and
// runs the machine until v has something to do with the baton: a phase
// stopped it early (v.hasPending), or its task was taken away. It returns
// holding the baton, unparked.
func (v *VCPU) park() {
	m := v.m
	m.setParked(v, true)
	for v.parked {
		if m.phase(v) {
			continue
		}
		// Every parked vCPU is at least Quantum ahead of the lowest, which
		// is therefore not parked: it gets the baton.
		m.requeue(v)
		m.passBaton(v, m.pick(nil))
	}
}

// parDeadline is the deadline of a parallel run of v bounded by b: the
// earliest of b, v's next interrupt, the end of its time slice (if a task
// waits) and --max-cycles, as in runUser.
func (v *VCPU) parDeadline(b uint64) uint64 {
	dl := min(b, v.mbox.Earliest(), v.nextBroadcast())
	if len(v.runq) > 0 {
		dl = min(dl, v.sliceAt)
	}
	if mc := v.m.cfg.MaxCycles; mc != 0 && mc != ^uint64(0) { // 2^64-1: no clock passes it
		dl = min(dl, mc+1)
	}
	return dl
}

// unpark hands u back to the baton protocol with exit ex to handle (nil:
// none), finishing its quantum serially up to b.
func (u *VCPU) unpark(ex *cpu.Exit, b uint64) {
	u.m.setParked(u, false)
	if ex != nil {
		u.pending, u.pendingTask, u.hasPending = *ex, u.curr, true
	}
	u.serialUntil = b
	u.m.par.dirty = true
}

// phase runs a parallel phase if some parked vCPU is behind the barrier B
// = lowest time + Quantum, coordinated by the baton holder h (which may be
// parked itself), and reports whether it did anything (ran the phase or
// unparked a vCPU). The lowest vCPU need not be parked: B is its horizon
// whether it runs user or kernel code, and vCPUs that are not parked stay
// frozen during the phase as they would while another vCPU holds the baton.
func (m *Machine) phase(h *VCPU) bool {
	if !m.par.enabled {
		return false
	}
	p := &m.par
	lo := m.lowestEff(h)
	if lo == ipi.Never {
		return false
	}
	b := lo + m.cfg.Quantum
	acted := false
	cand := m.parkedBelow(b)
	list := cand[:0] // the participants, a subsequence of cand in the same storage
	for _, u := range cand {
		if u.curr == nil || u.curr.state != taskRunning {
			u.unpark(nil, b) // exit_group took the task off this CPU while it was parked
			acted = true
			continue
		}
		u.completeBroadcasts()
		m.requeue(u) // the broadcasts' stall moved u's clock
		dl := u.parDeadline(b)
		if dl <= u.c.Clock {
			u.unpark(&cpu.Exit{Kind: cpu.ExitDeadline}, b) // an interrupt is due
			acted = true
			continue
		}
		u.parDL = dl
		list = append(list, u)
	}
	p.list = list
	if len(list) == 0 {
		return acted
	}
	if p.dirty {
		p.owners.NewEpoch()
		p.dirty = false
	}
	for _, u := range list {
		u.parB, u.parLone = b, false
	}
	if len(list) == 1 && list[0] == h && !m.bc.on && !p.loneOff {
		if o := m.pick(h); o == nil || o.eff() == ipi.Never {
			h.parLone = true
		}
	}
	// A group may chain phases only if nothing but user code can run
	// between them: h is parked (it does not go on with kernel code), and no
	// broadcast invalidation is in flight (completeBroadcasts would stall a
	// participant between two phases).
	p.grp.on = len(list) > 1 && len(list) <= p.workers && h.parked && !m.bc.on && !p.groupOff
	if p.grp.on {
		m.groupBounds(h, list)
	}
	p.phases++
	p.run(list)
	p.grp.on = false
	for _, u := range list {
		m.requeue(u) // the participants' clocks moved
	}

	// Serial again: post-process in id order.
	for _, u := range list {
		if r := u.parPanic; r != nil {
			u.parPanic = nil
			m.stop(fmt.Errorf("kernelmodel: internal error on cpu %d: %v", u.id, r))
			panic(errStop{})
		}
		if c := u.c.Clock; c > m.progress.Load() {
			m.progress.Store(c)
		}
		ex := u.parExit
		if ex.Kind == cpu.ExitDeadline && u.parDeadline(ipi.Never) > u.c.Clock {
			continue // reached B with nothing due: stays parked
		}
		p.stops++
		u.unpark(&ex, u.parB)
	}
	if !h.parked {
		p.dirty = true // h goes on running kernel code
	}
	if m.ctx.Err() != nil {
		m.stop(ErrInterrupted)
		panic(errStop{})
	}
	return true
}

// run runs the participants of a phase on the workers and returns when all
// have finished. Only the coordinator calls it.
//
// A phase is short (each participant runs at most Quantum cycles, about a
// thousand guest instructions, some microseconds of host time), and waking
// a sleeping thread costs about as much (a futex wake-up, a cache line
// moving between cores), so a woken helper would come too late for the
// phase that woke it. What pays is a helper already spinning when the
// phase is published. So helpers spin long after a phase worth sharing and
// briefly after any other, and the coordinator wakes sleeping helpers only
// for a phase it expects to be worth it: one with at least shareMin
// participants, or one with two or more after a phase worth sharing. A
// phase was worth sharing if it had shareMin participants, or if at least
// two of them ran shareWork instructions or more (so a helper could have
// taken a participant's worth of work off the coordinator) and it began
// within shareGap of the host time the phase before ended (so a helper
// spinning meanwhile had not spun for long): with two vCPUs running
// private work, phase follows phase, each participant runs its whole
// quantum and the helper runs one of them, while phases between long
// stretches of kernel work leave the helper asleep. Sharing must also pay:
// a small phase that took 3/4 or more of its participants' host time
// (helpers awake when it began, so they could have claimed one), or the
// maxWaits-th in a row to begin with the helpers still asleep, makes the
// coordinator run the next 1, 3, 7, … maxBackoff small phases alone, as it
// does under GOMAXPROCS=1 (on a host whose other cores are busy, a helper
// that claims a participant and loses its thread makes the coordinator
// wait). Which goroutine runs a participant never changes the result (see
// the package comment), so this policy, which depends on host timing, is
// free to change.
func (p *parallel) run(list []*VCPU) {
	if len(list) == 1 {
		// Nothing to share: the coordinator runs it, and helpers never
		// see the phase (a lone participant may run for long: runParallel).
		list[0].runParallel()
		p.shared.Store(false)
		return
	}
	seq := p.seq.Load() + 1
	p.list = list
	p.left.Store(int64(len(list)))
	p.claim.Store(seq<<claimSeq | uint64(len(list))<<claimN)
	share := len(list) >= shareMin || p.shared.Load()
	// A small phase with helpers to share it is judged below: its host
	// time and its first two participants' work, read before the helpers
	// may start.
	small := len(list) < shareMin && p.workers > 1
	var began time.Duration
	var before [2]uint64
	if small {
		began = time.Since(p.start)
		for i, u := range list[:2] {
			before[i], u.parTimed = u.c.Instructions, true
		}
	}
	p.seq.Store(seq) // publish: helpers spinning on seq start claiming
	n := p.asleep.Load()
	if n > 0 && share {
		woken := false
		for range min(int(n), len(list)-1) {
			select {
			case p.wakeup <- struct{}{}:
				woken = true
			default:
			}
		}
		if woken {
			// A woken helper is queued on this thread's P, where no other
			// thread takes it for some microseconds (the runtime's runnext):
			// yield, so that it runs now and claims work, and this
			// goroutine continues on the thread the wake-up started.
			runtime.Gosched()
		}
	}
	p.work(seq)
	for i := 0; p.left.Load() != 0; i++ {
		if i%64 == 63 {
			runtime.Gosched()
		}
	}
	<-p.done
	worth := len(list) >= shareMin
	if small {
		end := time.Since(p.start)
		worth = began-p.lastEnd < shareGap
		for i, u := range list[:2] {
			worth = worth && u.c.Instructions-before[i] >= shareWork
			u.parTimed = false
		}
		work := list[0].parHost + list[1].parHost
		switch {
		case !worth:
		case p.skip > 0:
			p.skip--
			worth = false
		case n > 0 && p.waits < maxWaits:
			// Helpers were asleep when it began (and are being woken):
			// judge a later one. If they still sleep after maxWaits
			// phases, they come too late: no gain.
			p.waits++
		case n == 0 && (end-began)*4 < work*3:
			p.backoff, p.waits = 0, 0 // sharing gained
		default:
			// The phase took as long as running its participants one after
			// another (a helper came late, or the host took its thread
			// away): leave the next ones to the coordinator for a while.
			p.backoff, p.waits = min(2*p.backoff+1, maxBackoff), 0
			p.skip = p.backoff
			worth = false
		}
		p.lastEnd = end
	}
	p.shared.Store(worth)
}

// shareMin is the smallest phase (in participants) for which the
// coordinator wakes sleeping helpers.
const shareMin = 4

// shareWork is the guest instructions that two participants of a smaller
// phase must each retire for the phase to count as worth sharing: most of
// a 1000-cycle quantum, so only participants that ran their quantum out
// (private work: bench/parallel, about 920 per phase) count, not those of
// kernel-heavy workloads that stop at faults and system calls (with 250,
// mprotect's two vCPUs tried sharing 1,900 times in 12,400 phases, and
// GOMAXPROCS=2 took 20 % more CPU time than GOMAXPROCS=1).
const shareWork = 600

// shareGap is the longest host time between two small phases for which the
// second can count as worth sharing: a few phases' worth.
const shareGap = 20 * time.Microsecond

// maxBackoff bounds the small phases run without helpers after sharing
// did not pay.
const maxBackoff = 1023

// maxWaits is how many small phases in a row may begin with the helpers
// still asleep, woken for them, before sharing counts as not paying.
const maxWaits = 8

// The fields of parallel.claim: a phase has at most 256 participants.
const (
	claimN   = 10
	claimSeq = 20
	claimIdx = 1<<claimN - 1
)

// work claims and runs participants of phase seq until none is left.
func (p *parallel) work(seq uint64) {
	for {
		c := p.claim.Load()
		if c>>claimSeq != seq || c&claimIdx >= c>>claimN&claimIdx {
			return // the phase is over or fully claimed
		}
		if !p.claim.CompareAndSwap(c, c+1) {
			continue
		}
		// A successful claim means the phase is unfinished, so the
		// coordinator has not replaced p.list (it stored it before claim).
		p.list[c&claimIdx].runParallel()
		if p.left.Add(-1) == 0 {
			p.done <- struct{}{}
		}
	}
}

// helperSpins is how many times a helper polls for the next phase before it
// blocks: long enough to catch a phase that follows at once, short enough
// not to take a core from the coordinator's serial work (measured: with
// 20,000 polls, GOMAXPROCS=2 ran mprotect at 2 vCPUs 1.3× slower than
// GOMAXPROCS=1). After a shared phase (many participants, so likely more
// to come soon) a helper polls helperSpinsShared times: blocking and being
// woken for every phase cost 20 % of clear_refs' host time at 256 vCPUs
// (futex), and a helper that fell asleep between two phases of a
// private-work guest on two vCPUs ran none of them.
const (
	helperSpins       = 256
	helperSpinsShared = 20000
)

// helper is a worker goroutine: it runs participants of every phase the
// coordinator publishes until the machine stops.
func (p *parallel) helper(quit chan struct{}) {
	seen := p.seq.Load()
	for {
		spins := helperSpins
		if p.shared.Load() {
			spins = helperSpinsShared
		}
		for i := 0; p.seq.Load() == seen; i++ {
			if i < spins {
				if i%64 == 63 {
					select {
					case <-quit:
						return
					default:
					}
					runtime.Gosched()
				}
				continue
			}
			// Sleep. The coordinator stores seq before it reads asleep, and
			// we increment asleep before we read seq, so one of us sees the
			// other (sync/atomic is sequentially consistent). A token left
			// over from an earlier phase only causes a spurious wake-up.
			p.asleep.Add(1)
			if p.seq.Load() == seen {
				select {
				case <-p.wakeup:
				case <-quit:
					p.asleep.Add(-1)
					return
				}
			}
			p.asleep.Add(-1)
			i = 0
		}
		seen = p.seq.Load()
		p.work(seen)
	}
}

// runParallel is v's part of a parallel phase, on a worker goroutine: user
// code in cpu.OwnParallel mode up to v.parDL.
//
// A lone participant (v.parLone) goes on to the phases that would follow
// while it stays alone, without the coordinator: when v is the baton
// holder parked at the user-mode entry, the only vCPU parked and every
// other vCPU idle with nothing due (eff ipi.Never), nothing can happen
// between two of its phases. The coordinator would find v reached B with
// nothing due and start the next phase with B = v's clock + Quantum, alone
// again, with the same deadline rules (parDeadline: the mailbox, the time
// slice and --max-cycles do not change while only user code runs). So v
// runs that phase here, and the next, and returns when one ends otherwise
// (a stop, an interrupt due), with v.parB the B of the phase it ended in:
// the same runs to the same deadlines, and the same phase count, as the
// coordinator's loop. A single-threaded guest on several vCPUs spends its
// user time this way.
func (v *VCPU) runParallel() {
	c := v.c
	m := v.m
	defer func() {
		c.Own = cpu.OwnAcquire
		if r := recover(); r != nil {
			v.parPanic = r
			v.parExit = cpu.Exit{Kind: cpu.ExitDeadline}
			if m.par.grp.on && !v.parArrived {
				m.par.arrive(v) // the others wait for this one: end the chain
			}
		}
		v.parArrived = false
	}()
	c.Own = cpu.OwnParallel
	if v.parTimed {
		t0 := time.Now()
		defer func() { v.parHost = time.Since(t0) }()
	}
	for {
		c.Deadline = v.parDL
		n := c.Instructions
		v.parExit = c.Run()
		v.parInstr += c.Instructions - n
		if m.par.grp.on {
			if m.par.arrive(v) {
				continue
			}
			return
		}
		if !v.parLone || v.parExit.Kind != cpu.ExitDeadline || v.parDeadline(ipi.Never) <= c.Clock || m.ctx.Err() != nil {
			return
		}
		// phase's post-processing (v stays parked) and the next phase.
		if cl := c.Clock; cl > m.progress.Load() {
			m.progress.Store(cl)
		}
		v.parB = c.Clock + m.cfg.Quantum
		v.parDL = v.parDeadline(v.parB)
		m.par.phases++
		m.par.lone++
	}
}

// groupBounds computes the bounds a group's barriers need (phaseGroup) for
// the participants list of a phase coordinated by h, and readies the
// barrier.
func (m *Machine) groupBounds(h *VCPU, list []*VCPU) {
	g := &m.par.grp
	for _, u := range list {
		u.parIn = true
	}
	// Every key in the run queue but h's is its vCPU's eff, and the
	// participants' clocks are current in both queues (phase requeued
	// them), so the lowest of the others is found by descending only
	// through participants and h.
	skip := func(u *VCPU) bool { return u.parIn || u == h }
	g.outside = m.q.run.minOutside(0, skip)
	if !h.parIn {
		g.outside = min(g.outside, h.eff())
	}
	g.parkedOutside = m.q.parked.minOutside(0, func(u *VCPU) bool { return u.parIn })
	for _, u := range list {
		u.parIn = false
	}
	g.arrived.Store(0)
	g.stop.Store(false)
}

// arrive is v's arrival at the barrier after its run in the current phase
// of a group, on its worker. It reports whether v goes on to the next
// phase, whose deadline is then in v.parDL.
//
// The chain goes on only where the coordinator would have run the same
// next phase: every participant reached B with nothing due (it would stay
// parked) and every participant, and no other parked vCPU, is below the
// next barrier B' = lowest eff + Quantum. The last participant to arrive
// decides, from the participants' clocks and the bounds of groupBounds,
// and sets everyone's deadline, as phase would; so the phases, their
// barriers, deadlines and count are the coordinator's, and the result is
// the same whichever goroutines run the participants (TestGroupMatchesPhases).
// A participant that stops (an exit to handle, an interrupt due, a panic)
// ends the chain with this phase, as does one that no worker has claimed
// yet (all the workers may be running others, waiting at this barrier).
func (p *parallel) arrive(v *VCPU) bool {
	g := &p.grp
	switch {
	case v.parPanic != nil, v.parExit.Kind != cpu.ExitDeadline, v.parDeadline(ipi.Never) <= v.c.Clock, v.m.ctx.Err() != nil:
		g.stop.Store(true)
	default:
		if c := p.claim.Load(); c&claimIdx < c>>claimN&claimIdx {
			g.stop.Store(true)
		}
	}
	v.parArrived = true
	gen := g.gen.Load()
	if int(g.arrived.Add(1)) == len(p.list) {
		cont := !g.stop.Load() && p.nextPhase(v.m)
		g.arrived.Store(0)
		g.cont.Store(cont)
		g.gen.Add(1) // publish
		v.parArrived = !cont
		return cont
	}
	if g.stop.Load() {
		return false // the chain ends with this phase: nothing to wait for
	}
	for i := 0; g.gen.Load() == gen; i++ {
		if i%1024 == 1023 {
			runtime.Gosched()
		}
	}
	cont := g.cont.Load()
	v.parArrived = !cont
	return cont
}

// nextPhase sets up the group's next phase, if the coordinator would run
// one with the same participants (arrive), and counts it. Only the last
// participant at the barrier calls it, while the others wait.
func (p *parallel) nextPhase(m *Machine) bool {
	lo := p.grp.outside
	for _, u := range p.list {
		lo = min(lo, u.c.Clock)
	}
	b := lo + m.cfg.Quantum
	if p.grp.parkedOutside < b {
		return false // another parked vCPU would take part
	}
	hi := uint64(0)
	for _, u := range p.list {
		if u.c.Clock >= b {
			return false // this one would not
		}
		hi = max(hi, u.c.Clock)
	}
	for _, u := range p.list {
		u.parB, u.parDL = b, u.parDeadline(b)
	}
	if hi > m.progress.Load() {
		m.progress.Store(hi)
	}
	p.phases++
	p.grouped++
	return true
}
