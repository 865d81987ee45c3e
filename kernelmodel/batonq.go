package kernelmodel

import (
	"slices"

	"github.com/tlbemu/emu/ipi"
)

// The baton scheduler's queues. pick needs the vCPU with the lowest (eff,
// id) but the baton holder, and a parallel phase needs the parked vCPUs
// behind its barrier; a scan over every vCPU for each (O(N), 256 vCPUs) was
// most of page_fault's host time at 256 vCPUs. Two binary min-heaps keep
// the answers instead:
//
//   - run: every vCPU, keyed by (eff, id). Its invariant: every vCPU but
//     the baton holder has its current eff as its key. The holder's own
//     clock moves all the time (every charge of kernel work) and nobody
//     looks at it until it hands the baton on, so its key is refreshed
//     then (passBaton), and pick(holder) skips the holder wherever it is
//     in the heap. Another vCPU's eff changes only through kick (its
//     wake-up time), a parallel phase (the participants' clocks, and the
//     stall of the broadcast invalidations it completes on a parked vCPU)
//     or a spin-wait turn run in passing (spinPass: the waiter acts as the
//     holder meanwhile), and each of those refreshes its key.
//   - parked: the parked vCPUs, keyed by (clock, id). A parked vCPU's clock
//     moves only in a parallel phase, which refreshes it.
//
// Ties go to the lower CPU id, as the scan in id order did.

// heapEntry is a vCPU in a heap with its key. The key and id are kept in
// the heap's array, so that sifting compares without touching the vCPUs.
type heapEntry struct {
	key uint64
	id  int
	v   *VCPU
}

func (a *heapEntry) less(b *heapEntry) bool {
	return a.key < b.key || a.key == b.key && a.id < b.id
}

// vcpuHeap is a binary min-heap of vCPUs keyed by (key, id).
type vcpuHeap struct {
	h   []heapEntry
	pos []int // by CPU id: the index in h, -1 when not in the heap
}

func newVCPUHeap(n int) vcpuHeap {
	h := vcpuHeap{h: make([]heapEntry, 0, n), pos: make([]int, n)}
	for i := range h.pos {
		h.pos[i] = -1
	}
	return h
}

func (h *vcpuHeap) swap(i, j int) {
	a, b := &h.h[i], &h.h[j]
	*a, *b = *b, *a
	h.pos[a.id] = i
	h.pos[b.id] = j
}

func (h *vcpuHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.h[i].less(&h.h[p]) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *vcpuHeap) down(i int) {
	n := len(h.h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && h.h[r].less(&h.h[l]) {
			c = r
		}
		if !h.h[c].less(&h.h[i]) {
			return
		}
		h.swap(i, c)
		i = c
	}
}

// set gives v the key k, inserting it if it is not in the heap.
func (h *vcpuHeap) set(v *VCPU, k uint64) {
	i := h.pos[v.id]
	if i < 0 {
		i = len(h.h)
		h.pos[v.id] = i
		h.h = append(h.h, heapEntry{key: k, id: v.id, v: v})
		h.up(i)
		return
	}
	old := h.h[i].key
	h.h[i].key = k
	if k < old {
		h.up(i)
	} else if k > old {
		h.down(i)
	}
}

// remove takes v out of the heap (a no-op if it is not in it).
func (h *vcpuHeap) remove(v *VCPU) {
	i := h.pos[v.id]
	if i < 0 {
		return
	}
	last := len(h.h) - 1
	if i != last {
		h.swap(i, last)
	}
	h.h[last] = heapEntry{}
	h.h = h.h[:last]
	h.pos[v.id] = -1
	if i != last {
		h.down(i)
		h.up(i)
	}
}

// minBut returns the heap's lowest vCPU other than except (nil: none).
// Only except's key may be stale: the heap is ordered by the stored keys,
// so if except is the root, the lowest of the others is one of its
// children, and otherwise the root is.
func (h *vcpuHeap) minBut(except *VCPU) *VCPU {
	switch n := len(h.h); {
	case n == 0:
		return nil
	case h.h[0].v != except:
		return h.h[0].v
	case n == 1:
		return nil
	case n == 2 || h.h[1].less(&h.h[2]):
		return h.h[1].v
	}
	return h.h[2].v
}

// below appends to list the vCPUs with a key below b, in heap order.
func (h *vcpuHeap) below(list []*VCPU, b uint64, i int) []*VCPU {
	if i >= len(h.h) || h.h[i].key >= b {
		return list
	}
	list = append(list, h.h[i].v)
	list = h.below(list, b, 2*i+1)
	return h.below(list, b, 2*i+2)
}

// minOutside returns the lowest key in the subtree at i of a vCPU that
// skip does not exclude (ipi.Never: none). Only the excluded vCPUs' keys
// may be stale: below a vCPU that is not excluded, no key is lower, so
// the search descends only through excluded ones.
func (h *vcpuHeap) minOutside(i int, skip func(*VCPU) bool) uint64 {
	if i >= len(h.h) {
		return ipi.Never
	}
	if e := &h.h[i]; !skip(e.v) {
		return e.key
	}
	return min(h.minOutside(2*i+1, skip), h.minOutside(2*i+2, skip))
}

// batonQueues are the machine's queues.
type batonQueues struct {
	run, parked vcpuHeap
}

// initQueues fills the run queue with every vCPU at its current eff (Run,
// before the first hand-off: nobody holds the baton yet).
func (m *Machine) initQueues() {
	q := &m.q
	q.run = newVCPUHeap(len(m.cpus))
	q.parked = newVCPUHeap(len(m.cpus))
	for _, v := range m.cpus {
		q.run.set(v, v.eff())
		if v.parked {
			q.parked.set(v, v.c.Clock)
		}
	}
}

// requeue refreshes v's keys after its eff (or, parked, its clock) changed.
func (m *Machine) requeue(v *VCPU) {
	m.q.run.set(v, v.eff())
	if v.parked {
		m.q.parked.set(v, v.c.Clock)
	}
}

// setParked parks or unparks v, keeping the parked queue.
func (m *Machine) setParked(v *VCPU, parked bool) {
	v.parked = parked
	if parked {
		m.q.parked.set(v, v.c.Clock)
	} else {
		m.q.parked.remove(v)
	}
}

// pick returns the vCPU with the lowest (eff, id), skipping except, which
// is the baton holder or nil. pick(nil) needs every key current, so a
// holder that asks it refreshes its own key first.
func (m *Machine) pick(except *VCPU) *VCPU {
	return m.q.run.minBut(except)
}

// pickEff is pick with the eff of the vCPU it returns (ipi.Never with nil),
// read from the heap: a vCPU other than the holder has its eff as its key,
// so the hot paths need not load it from the vCPU.
func (m *Machine) pickEff(except *VCPU) (*VCPU, uint64) {
	h := &m.q.run
	switch n := len(h.h); {
	case n == 0:
		return nil, ipi.Never
	case h.h[0].v != except:
		return h.h[0].v, h.h[0].key
	case n == 1:
		return nil, ipi.Never
	case n == 2 || h.h[1].less(&h.h[2]):
		return h.h[1].v, h.h[1].key
	}
	return h.h[2].v, h.h[2].key
}

// lowestEff is the lowest eff of any vCPU, h (the baton holder) included.
func (m *Machine) lowestEff(h *VCPU) uint64 {
	_, e := m.pickEff(h)
	return min(h.eff(), e)
}

// parkedBelow returns the parked vCPUs whose clock is below b, in id
// order, in p.list's storage.
func (m *Machine) parkedBelow(b uint64) []*VCPU {
	list := m.q.parked.below(m.par.list[:0], b, 0)
	slices.SortFunc(list, func(a, b *VCPU) int { return a.id - b.id })
	return list
}

// passBaton hands the baton from self (its holder) to u and waits to get
// it back. Before the goroutine switch, vCPUs in a spin wait whose turn
// with the baton would only poll have that turn here (spinPass), as many
// as come in a row, and their goroutines sleep on. If the baton comes back
// to self that way, no switch happens at all.
func (m *Machine) passBaton(self, u *VCPU) {
	m.requeue(self)
	for u != self && u.spin.parked && !m.spinPassOff {
		n := u.spinPass()
		if n == nil {
			break
		}
		u = n
	}
	if u == self {
		m.par.dirty = true // as gotBaton: self goes on running serially
		return
	}
	self.switchTo(u)
}
