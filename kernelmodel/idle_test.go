package kernelmodel

import (
	"math"
	"testing"
)

// newIdleMachine is newMachine618 with the -idle mode and the sleeping
// mmap_lock readers switch set.
func newIdleMachine(t *testing.T, idle IdleMode, sleep bool, patches ...Patch) (*Machine, *MM, *MM) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.CPUs, cfg.MemBytes, cfg.Kernel, cfg.Patches, cfg.NoJitter = 2, 64<<20, "5.10", patches, true
	cfg.Idle, cfg.MmapLockSleep = idle, sleep
	m, a, b := newMachineTwoMMs(t, cfg)
	for _, v := range m.cpus {
		v.c.Clock, v.idleSince, v.idleCycles = 0, 0, 0
	}
	return m, a, b
}

// TestIdleC6LeavesMM: CPU 1 runs mm A, goes idle (the idle task: lazy on
// A) and stays idle until CPU 0, after flushing a page of A, wakes it.
//
//   - poll: CPU 1 stays lazy on A, so the flush sends no IPI (tlb_is_not_lazy);
//     the wake-up costs no exit latency.
//   - c6 on v5.10: no timer pending, so the governor picks C6 and leave_mm
//     switches CPU 1 to init_mm, which clears its bit in A's mm_cpumask: no
//     IPI either; the wake-up is followed by C6's exit latency.
//   - c6 with lazy-cpumask (209954cbc7d0): the bit stays and CPU 1 is not
//     lazy, so the flush IPIs it, and CPU 0 waits for C6's exit latency
//     before the handler runs (which clears the stale bit).
func TestIdleC6LeavesMM(t *testing.T) {
	exit := DefaultCostModel().C6ExitCycles
	cases := []struct {
		name       string
		idle       IdleMode
		patches    []Patch
		ipis       uint64
		initMM     bool // CPU 1 left A for init_mm while idle
		slowFlush  bool // the flush took at least the exit latency
		exitOnWake bool // the wake-up took at least the exit latency
	}{
		{"poll", IdlePoll, nil, 0, false, false, false},
		{"poll+lazy-cpumask", IdlePoll, []Patch{PatchLazyCPUMask}, 0, false, false, false},
		{"c6", IdleC6, nil, 0, true, false, true},
		{"c6+lazy-cpumask", IdleC6, []Patch{PatchLazyCPUMask}, 1, true, true, true},
	}
	for _, c := range cases {
		m, a, _ := newIdleMachine(t, c.idle, false, c.patches...)
		var flushCycles, kickAt, wokeAt uint64
		var bitBefore, done, leftMM bool
		runScripts(t, m, map[int]func(*VCPU){
			0: func(v *VCPU) {
				v.switchMMIrqsOff(a)
				busy(v, 20_000) // CPU 1 is idle by now
				bitBefore = a.cpumask[1]
				start := v.c.Clock
				v.flushTLBPage(a, 0x400000)
				flushCycles = v.c.Clock - start
				busy(v, 2_000)
				done = true
				kickAt = v.c.Clock + v.m.cfg.Costs.Wakeup
				m.cpus[1].kick(kickAt) // try_to_wake_up of a task for CPU 1
				for wokeAt == 0 {
					busy(v, 1_000) // CPU 0 does not go idle itself
				}
			},
			1: func(v *VCPU) {
				v.switchMMIrqsOff(a)
				busy(v, 2_000)
				v.enterLazyTLB() // switch to the idle task
				for !done {
					v.idleWait(false)
					leftMM = leftMM || v.tlbs.loadedMM == m.initMM
				}
				wokeAt = v.c.Clock
			},
		})
		if m.ipisSent != c.ipis || leftMM != c.initMM {
			t.Errorf("%s: IPIs %d, CPU 1 in init_mm %v; want %d, %v", c.name, m.ipisSent, leftMM, c.ipis, c.initMM)
		}
		if slow := flushCycles >= exit; slow != c.slowFlush {
			t.Errorf("%s: flush took %d cycles (exit latency %d); want slow %v", c.name, flushCycles, exit, c.slowFlush)
		}
		if late := wokeAt >= kickAt+exit; late != c.exitOnWake {
			t.Errorf("%s: woken at %d for a wake-up at %d (exit latency %d); want exit paid %v", c.name, wokeAt, kickAt, exit, c.exitOnWake)
		}
		if lazy := m.k6.lazyCPUMask; c.idle == IdleC6 && bitBefore != lazy {
			t.Errorf("%s: CPU 1 in A's mm_cpumask while in C6 = %v, want %v", c.name, bitBefore, lazy)
		}
		if c.idle == IdleC6 && (m.idle.c6Entries == 0 || m.idle.leaveMMs != 1) {
			t.Errorf("%s: %d C6 entries, %d leave_mm; want some and 1", c.name, m.idle.c6Entries, m.idle.leaveMMs)
		}
		if c.idle == IdlePoll && (m.idle.c6Entries != 0 || m.idle.c6ExitCycles != 0) {
			t.Errorf("%s: poll entered C6 (%d entries)", c.name, m.idle.c6Entries)
		}
	}
}

// TestIdleC6Governor: with a task's timeout due on the CPU sooner than
// C6's target residency the governor does not pick C6 (no leave_mm); with
// none pending, or one at least that far away, it does; and never with an
// interrupt already due.
func TestIdleC6Governor(t *testing.T) {
	res := DefaultCostModel().C6Residency
	for _, c := range []struct {
		timer uint64 // cycles from now (0: none)
		due   bool   // a wake-up already due
		c6    bool
	}{{0, false, true}, {res / 2, false, false}, {res - 1, false, false}, {res, false, true}, {2 * res, false, true}, {0, true, false}} {
		m, a, _ := newIdleMachine(t, IdleC6, false)
		var picked bool
		var mm *MM
		runScripts(t, m, map[int]func(*VCPU){0: func(v *VCPU) {
			v.switchMMIrqsOff(a)
			v.enterLazyTLB()
			if c.timer != 0 {
				s := m.newTask(a, 0, "sleeper")
				s.home, s.state, s.sleepUntil = v, taskBlocked, v.c.Clock+c.timer
			}
			if c.due {
				v.kickAt = v.c.Clock
			}
			picked = v.selectIdleState(false)
			mm = v.tlbs.loadedMM
		}})
		if picked != c.c6 || (mm == m.initMM) != c.c6 {
			t.Errorf("timer in %d cycles, wake-up due %v: C6 %v, init_mm loaded %v; want %v", c.timer, c.due, picked, mm == m.initMM, c.c6)
		}
	}
}

// TestMmapLockSleep: CPU 0 holds mmap_lock for write for 50,000 cycles;
// CPU 1's task asks for it for read. Spinning, it gets the lock a line
// hand-off after the release (sooner than a wake-up). Sleeping with -idle c6, its CPU enters C6
// (leaving the mm) and gets the lock only after the wake-up and C6's exit
// latency, then switches back to the task's mm; with poll, after the
// wake-up alone.
func TestMmapLockSleep(t *testing.T) {
	costs := DefaultCostModel()
	for _, c := range []struct {
		name       string
		idle       IdleMode
		sleep      bool
		lo, hi     uint64 // acquisition, cycles after the release
		sleeps, c6 uint64
	}{
		{"spin", IdleC6, false, 0, costs.Wakeup, 0, 0},
		{"sleep+poll", IdlePoll, true, costs.Wakeup, costs.Wakeup + 3*costs.ContextSwitch, 1, 0},
		{"sleep+c6", IdleC6, true, costs.Wakeup + costs.C6ExitCycles, costs.Wakeup + costs.C6ExitCycles + 3*costs.ContextSwitch, 1, 1},
	} {
		m, a, _ := newIdleMachine(t, c.idle, c.sleep)
		var released, got, c6 uint64
		var mmAfter *MM
		runScripts(t, m, map[int]func(*VCPU){
			0: func(v *VCPU) {
				v.switchMMIrqsOff(a)
				v.mmapWriteLock(a)
				busy(v, 50_000)
				released = v.c.Clock
				v.mmapWriteUnlock(a)
				for got == 0 {
					busy(v, 1_000) // CPU 0 does not go idle itself
				}
			},
			1: func(v *VCPU) {
				attach(v, a, 0)
				busy(v, 5_000)
				v.mmapReadLock(a)
				got = v.c.Clock
				c6 = m.idle.c6Entries
				mmAfter = v.tlbs.loadedMM
				v.mmapReadUnlock(a)
				detach(v)
			},
		})
		d := got - released
		if got < released || d < c.lo || d > c.hi {
			t.Errorf("%s: read lock %d cycles after the release, want %d..%d", c.name, int64(got)-int64(released), c.lo, c.hi)
		}
		if m.idle.lockSleeps != c.sleeps || c6 != c.c6 {
			t.Errorf("%s: %d sleeps, %d C6 entries during the wait; want %d, %d", c.name, m.idle.lockSleeps, c6, c.sleeps, c.c6)
		}
		if mmAfter != a {
			t.Errorf("%s: the reader runs with another mm loaded after the wait", c.name)
		}
	}
}

// TestIdleC6GovernorHistory: the menu governor's typical interval caps the
// prediction. CPU 1 passes idle periods that CPU 0 ends with a wake-up
// after period cycles, then runs the governor with no timer pending: after
// a run of periods shorter than C6's target residency it does not pick C6;
// after periods longer than that it does.
func TestIdleC6GovernorHistory(t *testing.T) {
	res := DefaultCostModel().C6Residency
	for _, c := range []struct {
		period uint64
		c6     bool
	}{{res / 12, false}, {res / 3, false}, {3 * res, true}, {10 * res, true}} {
		m, a, _ := newIdleMachine(t, IdleC6, false)
		const rounds = 12
		woken := 0
		var picked bool
		var typ uint32
		runScripts(t, m, map[int]func(*VCPU){
			0: func(v *VCPU) {
				for i := 0; i < rounds; i++ {
					for !m.cpus[1].idle {
						busy(v, 1_000)
					}
					busy(v, c.period)
					m.cpus[1].kick(v.c.Clock)
					for woken <= i {
						busy(v, 1_000)
					}
				}
			},
			1: func(v *VCPU) {
				v.switchMMIrqsOff(a)
				v.enterLazyTLB()
				for woken < rounds {
					v.idleWait(false)
					woken++
				}
				typ = v.gov.typicalInterval()
				picked = v.selectIdleState(false)
			},
		})
		if picked != c.c6 {
			t.Errorf("idle periods of %d cycles (C6 residency %d): typical interval %d µs, C6 %v; want %v", c.period, res, typ, picked, c.c6)
		}
		if !c.c6 && (typ == math.MaxUint32 || uint64(typ)*usCycles >= res) {
			t.Errorf("idle periods of %d cycles: typical interval %d µs, want one below C6's residency", c.period, typ)
		}
	}
}

// TestTypicalInterval: get_typical_interval (menu.c, v6.18) on hand-computed
// rings, in µs.
func TestTypicalInterval(t *testing.T) {
	const none = math.MaxUint32
	for _, c := range []struct {
		ring [menuIntervals]uint32
		want uint32
	}{
		// no period yet: UINT_MAX
		{[menuIntervals]uint32{}, none},
		// all equal: variance 0
		{[menuIntervals]uint32{100, 100, 100, 100, 100, 100, 100, 100}, 100},
		// one long outlier: avg 10700>>3 = 1337, variance 12508750-1337² =
		// 10721181, so no pattern; max-avg 8663 > avg-min 1237, drop >= 10000;
		// the other seven: 100, variance 0
		{[menuIntervals]uint32{100, 100, 100, 10000, 100, 100, 100, 100}, 100},
		// one short outlier: avg 875, variance 875000-765625 = 109375 > 875²/36;
		// avg-min 875 > max-avg 125, drop <= 0; then 1000
		{[menuIntervals]uint32{1000, 1000, 0, 1000, 1000, 1000, 1000, 1000}, 1000},
		// two clusters: avg 550, variance 505000-302500 = 202500; tie
		// (450, 450) drops the top; four 100s: variance 0 <= 400, returned
		// although only half the periods remain
		{[menuIntervals]uint32{100, 1000, 100, 1000, 100, 1000, 100, 1000}, 100},
		// small spread: avg 105, variance 11045-11025 = 20 <= 400
		{[menuIntervals]uint32{100, 110, 100, 110, 100, 110, 100, 110}, 105},
		// a doubling series: drop 12800 (avg 3187), then 6400 (avg 1814),
		// then six remain (avg 1050, variance 2275000-1102500 = 1172500 >
		// 1050²/36): no pattern
		{[menuIntervals]uint32{100, 200, 400, 800, 1600, 3200, 6400, 12800}, none},
		// six short periods after two zeros (a fresh ring): avg 68, variance
		// 6210-4624 = 1586; avg-min 68 > max-avg 23, drop the zeros; 91
		{[menuIntervals]uint32{91, 91, 91, 91, 91, 91, 0, 0}, 91},
		// five: avg 56, variance 5175-3136 = 2039; max-avg 35 <= avg-min 56,
		// drop the zeros; five of 8 left (5*4 <= 24) but variance 0: 91
		{[menuIntervals]uint32{91, 91, 91, 91, 91, 0, 0, 0}, 91},
		// one: avg 11, variance 1035-121 = 914; max-avg 80 > 11, drop 91;
		// the zeros leave max 0: UINT_MAX
		{[menuIntervals]uint32{91, 0, 0, 0, 0, 0, 0, 0}, none},
	} {
		g := idleGov{intervals: c.ring}
		if got := g.typicalInterval(); got != c.want {
			t.Errorf("typicalInterval(%v) = %d, want %d", c.ring, got, c.want)
		}
	}
	// menu_update: the exit latency is deducted from a period over twice
	// as long, a shorter one is halved.
	var g idleGov
	exit := uint64(133 * usCycles)
	for i, d := range []uint64{1000 * usCycles, 200 * usCycles, 266 * usCycles, 50 * usCycles} {
		g.menuUpdate(d, exit)
		if want := []uint32{867, 100, 133, 25}[i]; g.intervals[i] != want {
			t.Errorf("menu_update of %d µs with a 133 µs exit latency: %d µs, want %d", d/usCycles, g.intervals[i], want)
		}
	}
}

// TestMmapLockWriterSleeps: a writer waiting on a reader-owned mmap_lock
// spins until rwsem_rspin_threshold ((20 + 1 reader) / 2 µs = 31,500
// cycles) and then sleeps with -mmap-lock sleep; it spins throughout with
// the default. Either way it gets the lock only after the reader's
// release.
func TestMmapLockWriterSleeps(t *testing.T) {
	costs := DefaultCostModel()
	for _, c := range []struct {
		name   string
		sleep  bool
		sleeps uint64
		hi     uint64 // acquisition, at most this many cycles after the release
	}{
		{"spin", false, 0, costs.Wakeup},
		{"sleep", true, 1, costs.Wakeup + 3*costs.ContextSwitch},
	} {
		m, a, _ := newIdleMachine(t, IdlePoll, c.sleep)
		var released, asked, got uint64
		runScripts(t, m, map[int]func(*VCPU){
			0: func(v *VCPU) {
				attach(v, a, 0)
				v.mmapReadLock(a)
				busy(v, 100_000)
				released = v.c.Clock
				v.mmapReadUnlock(a)
				for got == 0 {
					busy(v, 1_000)
				}
				detach(v)
			},
			1: func(v *VCPU) {
				attach(v, a, 0)
				busy(v, 5_000)
				asked = v.c.Clock
				v.mmapWriteLock(a)
				got = v.c.Clock
				v.mmapWriteUnlock(a)
				detach(v)
			},
		})
		if got < released || got-released > c.hi {
			t.Errorf("%s: write lock %d cycles after the release, want 0..%d", c.name, int64(got)-int64(released), c.hi)
		}
		if m.idle.lockSleeps != c.sleeps {
			t.Errorf("%s: %d sleeps, want %d (asked at %d, released at %d)", c.name, m.idle.lockSleeps, c.sleeps, asked, released)
		}
	}
}
