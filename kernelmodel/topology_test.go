package kernelmodel

import (
	"fmt"
	"testing"
)

// newZen3Machine is newTestMachine on the zen3 preset (eight CPUs per CCX)
// without jitter, so charges are exact.
func newZen3Machine(t *testing.T, cpus int) *Machine {
	t.Helper()
	cfg := DefaultConfig()
	if _, err := ApplyPreset(&cfg, "zen3", ""); err != nil {
		t.Fatal(err)
	}
	cfg.CPUs = cpus
	cfg.MemBytes = 64 << 20
	cfg.NoJitter = true
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range m.cpus {
		v.c.Clock, v.idleSince, v.idleCycles = 0, 0, 0
	}
	return m
}

// TestLineHandoffTopology: on zen3 a line between CPUs 0-7 is a
// within-CCX hand-off and between CPU 0 and CPU 8 a cross-CCX one; with
// kernel.ccx_cores 0 (the Intel presets) every hand-off is
// kernel.line_handoff.
func TestLineHandoffTopology(t *testing.T) {
	m := newZen3Machine(t, 16)
	c := m.cfg.Costs
	if c.CCXCores != 8 || c.LineHandoffCrossCCX <= c.LineHandoff {
		t.Fatalf("zen3: ccx_cores %d, cross-CCX %d, within %d: want 8 and cross above within", c.CCXCores, c.LineHandoffCrossCCX, c.LineHandoff)
	}
	v0 := m.cpus[0]
	for _, tc := range []struct {
		from *VCPU
		want uint64
	}{
		{nil, c.LineHandoff},
		{m.cpus[1], c.LineHandoff},
		{m.cpus[7], c.LineHandoff},
		{m.cpus[8], c.LineHandoffCrossCCX},
		{m.cpus[15], c.LineHandoffCrossCCX},
	} {
		name := "none"
		if tc.from != nil {
			name = fmt.Sprint("CPU ", tc.from.id)
		}
		if got := v0.lineHandoff(tc.from); got != tc.want {
			t.Errorf("CPU 0 from %s: %d cycles, want %d", name, got, tc.want)
		}
	}
	if got := m.cpus[9].lineHandoff(m.cpus[15]); got != c.LineHandoff {
		t.Errorf("CPU 9 from CPU 15 (both CCX 1): %d cycles, want %d", got, c.LineHandoff)
	}
	m.cfg.Costs.CCXCores = 0
	if got := v0.lineHandoff(m.cpus[8]); got != c.LineHandoff {
		t.Errorf("ccx_cores 0: CPU 0 from CPU 8 %d cycles, want %d", got, c.LineHandoff)
	}
}

// TestLRULockHandoffAcrossCCX: the LRU lock taken without waiting after
// another CPU's hold costs a locked RMW plus a hand-off: within a CCX on
// CPU 1 after CPU 0, across on CPU 8 after CPU 1. A contended wait ends
// with the hand-off from the CPU that released the lock, of
// kernel.contended_handoff_lines transfers (the waiter was spinning on
// the line).
func TestLRULockHandoffAcrossCCX(t *testing.T) {
	m := newZen3Machine(t, 16)
	c := m.cfg.Costs
	take := func(v *VCPU) uint64 {
		before := v.c.Clock
		v.lruLockIRQSave()
		d := v.c.Clock - before
		v.lruUnlockIRQRestore()
		return d
	}
	var same, cross uint64
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) { take(v) },
		1: func(v *VCPU) {
			waitUntil(v, 10000)
			same = take(v)
		},
		8: func(v *VCPU) {
			waitUntil(v, 20000)
			cross = take(v)
		},
	})
	if want := c.LockedRMW + c.LineHandoff; same != want {
		t.Errorf("CPU 1 after CPU 0: %d cycles, want %d (locked RMW + within-CCX hand-off)", same, want)
	}
	if want := c.LockedRMW + c.LineHandoffCrossCCX; cross != want {
		t.Errorf("CPU 8 after CPU 1: %d cycles, want %d (locked RMW + cross-CCX hand-off)", cross, want)
	}

	// Contended: CPU 0 holds the lock; CPU 1, then (in a run of its own)
	// CPU 8, waits for its release. The runs differ only in the waiter's
	// CCX, so the times they get the lock differ by the hand-offs'.
	var at [2]uint64
	for i, waiter := range []int{1, 8} {
		m := newZen3Machine(t, 16)
		const hold = 20000
		runScripts(t, m, map[int]func(*VCPU){
			0: func(v *VCPU) {
				v.lruLockIRQSave()
				v.spend(hold)
				v.lruUnlockIRQRestore()
			},
			waiter: func(v *VCPU) {
				waitUntil(v, hold/4)
				v.lruLockIRQSave()
				at[i] = v.c.Clock
				v.lruUnlockIRQRestore()
			},
		})
		if at[i] < hold+c.ContendedHandoffLines*c.LineHandoff {
			t.Errorf("CPU %d got the lock at %d, before CPU 0's release (%d) plus a contended hand-off", waiter, at[i], hold)
		}
	}
	if c.ContendedHandoffLines < 2 {
		t.Fatalf("kernel.contended_handoff_lines %d: the test wants the contended hand-off longer than one transfer", c.ContendedHandoffLines)
	}
	if got, want := at[1]-at[0], c.ContendedHandoffLines*(c.LineHandoffCrossCCX-c.LineHandoff); got != want {
		t.Errorf("CPU 8 got the lock %d cycles after CPU 1 did, want %d (%d transfers: cross-CCX minus within-CCX hand-offs)", got, want, c.ContendedHandoffLines)
	}
}

// TestSpinLockAndRwsemHandoffAcrossCCX: a spinlock waiter and an mmap_lock
// waiter pay the hand-off from the CPU whose release let them in: within a
// CCX for CPU 1, across for CPU 8, and nothing else differs.
func TestSpinLockAndRwsemHandoffAcrossCCX(t *testing.T) {
	const hold = 20000
	for _, kind := range []string{"spinlock", "mmap_lock"} {
		var at [2]uint64
		var c CostModel
		for i, waiter := range []int{1, 8} {
			m := newZen3Machine(t, 16)
			c = m.cfg.Costs
			mm, err := m.newMM()
			if err != nil {
				t.Fatal(err)
			}
			l := &spinlock{name: lockTest}
			lock := func(v *VCPU) {
				if kind == "spinlock" {
					v.spinLock(l)
				} else {
					v.mmapWriteLock(mm)
				}
			}
			unlock := func(v *VCPU) {
				if kind == "spinlock" {
					v.spinUnlock(l)
				} else {
					v.mmapWriteUnlock(mm)
				}
			}
			runScripts(t, m, map[int]func(*VCPU){
				0: func(v *VCPU) {
					lock(v)
					v.spend(hold)
					unlock(v)
				},
				waiter: func(v *VCPU) {
					waitUntil(v, hold/4)
					lock(v)
					at[i] = v.c.Clock
					unlock(v)
				},
			})
			if at[i] < hold+c.LineHandoff {
				t.Errorf("%s: CPU %d got it at %d, before CPU 0's release (%d) plus a hand-off", kind, waiter, at[i], hold)
			}
		}
		if got, want := at[1]-at[0], c.LineHandoffCrossCCX-c.LineHandoff; got != want {
			t.Errorf("%s: CPU 8 got it %d cycles after CPU 1 did, want %d (cross-CCX minus within-CCX hand-off)", kind, got, want)
		}
	}
}

// TestIPIHandoffAcrossCCX: an IPI's queue and acknowledgement hand-offs
// cost the preset's figure within a CCX and scale by
// line_handoff_cross_ccx / line_handoff across; without a CCX size every
// target costs the figure.
func TestIPIHandoffAcrossCCX(t *testing.T) {
	m := newZen3Machine(t, 16)
	c := m.cfg.Costs
	v0, q := m.cpus[0], m.cfg.IPICosts.QueueCycles
	if got := v0.ipiHandoff(q, m.cpus[7]); got != q {
		t.Errorf("CPU 0 to CPU 7 (one CCX): %d cycles, want %d", got, q)
	}
	if got, want := v0.ipiHandoff(q, m.cpus[8]), q*c.LineHandoffCrossCCX/c.LineHandoff; got != want || got <= q {
		t.Errorf("CPU 0 to CPU 8 (across): %d cycles, want %d, above %d", got, want, q)
	}
	if got := v0.ipiHandoff(q, nil); got != q {
		t.Errorf("unknown target: %d cycles, want %d", got, q)
	}
	m.cfg.Costs.CCXCores = 0
	if got := v0.ipiHandoff(q, m.cpus[8]); got != q {
		t.Errorf("ccx_cores 0: %d cycles, want %d", got, q)
	}
}
