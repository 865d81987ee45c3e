package kernelmodel

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tlbemu/emu/ipi"
)

// scanPick is the linear scan pick replaced (the reference): the lowest
// (eff, id) but except.
func scanPick(m *Machine, except *VCPU) *VCPU {
	var best *VCPU
	for _, u := range m.cpus {
		if u == except {
			continue
		}
		if best == nil || u.eff() < best.eff() {
			best = u
		}
	}
	return best
}

// scanParkedBelow is the scan phase did: parked vCPUs with a clock below b,
// in id order.
func scanParkedBelow(m *Machine, b uint64) []*VCPU {
	var l []*VCPU
	for _, u := range m.cpus {
		if u.parked && u.c.Clock < b {
			l = append(l, u)
		}
	}
	return l
}

// TestQueuesMatchScan drives the queues through random sequences of what
// the scheduler does (the holder's clock moving without a refresh, kicks,
// phases moving other clocks, parking, idling, hand-offs) and checks every
// answer against the linear scans, ties (equal times) included.
func TestQueuesMatchScan(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 64, 256} {
		m, _ := newTestMachine(t, n)
		r := rand.New(rand.NewPCG(uint64(n), 11))
		// Small clock ranges make ties common.
		clk := func() uint64 { return uint64(r.IntN(40)) * 25 }
		for _, v := range m.cpus {
			v.idle = r.IntN(3) == 0
			v.c.Clock = clk()
			v.wakeAt = ipi.Never
			if v.idle && r.IntN(2) == 0 {
				v.wakeAt = v.c.Clock + clk()
			}
		}
		m.initQueues()
		h := m.cpus[r.IntN(n)] // the baton holder
		h.idle = false
		for step := 0; step < 20000; step++ {
			u := m.cpus[r.IntN(n)]
			switch op := r.IntN(8); {
			case op == 0 && !h.parked: // the holder's clock moves; nobody is told
				h.c.Clock += uint64(r.IntN(3)) * 25
			case op == 1 && u != h && u.idle: // kick
				u.kick(u.c.Clock + clk())
			case op == 2 && u != h && !u.idle: // a phase moves a participant
				u.c.Clock += uint64(r.IntN(4)) * 25
				m.requeue(u)
			case op == 3 && u != h && !u.idle: // park or unpark another
				m.setParked(u, !u.parked)
			case op == 4: // the holder idles, with or without a wake-up time
				if h.parked {
					m.setParked(h, false)
				}
				h.idle = true
				h.wakeAt = ipi.Never
				if r.IntN(2) == 0 {
					h.wakeAt = h.c.Clock + clk()
				}
			case op == 5: // the holder parks
				h.idle = false
				m.setParked(h, true)
			default: // hand-off to u
				m.requeue(h)
				h = u
				if h.idle { // it wakes
					h.c.Clock = max(h.c.Clock, min(h.wakeAt, h.c.Clock+1000))
					h.idle = false
					h.wakeAt = ipi.Never
				}
			}
			if got, want := m.pick(h), scanPick(m, h); got != want {
				t.Fatalf("cpus=%d step %d: pick(holder %d) = %v, scan says %v", n, step, h.id, id(got), id(want))
			}
			lo := h.eff()
			if o := scanPick(m, h); o != nil {
				lo = min(lo, o.eff())
			}
			if got := m.lowestEff(h); got != lo {
				t.Fatalf("cpus=%d step %d: lowestEff = %d, scan says %d", n, step, got, lo)
			}
			b := lo + uint64(r.IntN(4))*25
			if got, want := m.parkedBelow(b), scanParkedBelow(m, b); !slices.Equal(got, want) {
				t.Fatalf("cpus=%d step %d: parkedBelow(%d) = %v, scan says %v", n, step, b, ids(got), ids(want))
			}
			if step%16 == 0 { // pick(nil), as park asks it: the holder refreshes first
				m.requeue(h)
				if got, want := m.pick(nil), scanPick(m, nil); got != want {
					t.Fatalf("cpus=%d step %d: pick(nil) = %v, scan says %v", n, step, id(got), id(want))
				}
			}
		}
	}
}

func id(v *VCPU) int {
	if v == nil {
		return -1
	}
	return v.id
}

func ids(l []*VCPU) []int {
	var s []int
	for _, v := range l {
		s = append(s, v.id)
	}
	return s
}
