package kernelmodel

import "testing"

// A CPU behind the releaser in emulated time (by less than a quantum) finds
// a lock free in host order; it must not hold it before the release, or the
// holds of a contended lock overlap and it can never saturate.
func TestLocksNotTakenBeforeRelease(t *testing.T) {
	const hold = 300 // within one quantum: CPU 0 releases before CPU 1 runs
	for _, kind := range []string{"spinlock", "mmap_lock write→read", "mmap_lock read→write"} {
		t.Run(kind, func(t *testing.T) {
			m, mm := newTestMachine(t, 2)
			if hold >= m.cfg.Quantum {
				t.Fatalf("hold %d is not within the quantum %d", hold, m.cfg.Quantum)
			}
			l := &spinlock{name: lockTest}
			var released, got uint64
			lock := func(v *VCPU, first bool) {
				switch {
				case kind == "spinlock":
					v.spinLock(l)
				case (kind == "mmap_lock write→read") == first:
					v.mmapWriteLock(mm)
				default:
					v.mmapReadLock(mm)
				}
			}
			unlock := func(v *VCPU, first bool) {
				switch {
				case kind == "spinlock":
					v.spinUnlock(l)
				case (kind == "mmap_lock write→read") == first:
					v.mmapWriteUnlock(mm)
				default:
					v.mmapReadUnlock(mm)
				}
			}
			runScripts(t, m, map[int]func(*VCPU){
				0: func(v *VCPU) {
					lock(v, true)
					v.spend(hold)
					released = v.c.Clock
					unlock(v, true)
				},
				1: func(v *VCPU) {
					waitUntil(v, 100)
					lock(v, false)
					got = v.c.Clock
					unlock(v, false)
				},
			})
			if got < released {
				t.Errorf("CPU 1 held the lock from %d, before CPU 0 released it at %d", got, released)
			}
		})
	}
}
