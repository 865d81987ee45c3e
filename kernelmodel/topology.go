package kernelmodel

// Cache topology of a lock line's hand-off. On Zen 3 and Zen 4 eight cores
// share one L3 (a CCX); a line that moves between two of them is a hit in
// the shared L3, one that moves to another CCX crosses the I/O die. CAS
// ping-pong medians on a Milan EPYC 7R13 are 23 ns within a CCX and 107 ns
// across ("6 groups of 8", numbered contiguously: nviennot/core-to-core-
// latency README). Costs.CCXCores says how many vCPUs form one CCX
// (0: one cache domain, every hand-off costs LineHandoff).

// ccx returns the CCX of v: vCPUs are numbered CCX by CCX, as Linux
// numbers a Zen socket's cores.
func (v *VCPU) ccx() int {
	n := v.m.cfg.Costs.CCXCores
	if n == 0 {
		return 0
	}
	return v.id / int(n)
}

// lineHandoff returns the cost of one contended line hand-off to v from
// from, the CPU that last wrote the line (nil: unknown, charged as within
// a CCX): Costs.LineHandoff within a CCX, Costs.LineHandoffCrossCCX across.
func (v *VCPU) lineHandoff(from *VCPU) uint64 {
	c := &v.m.cfg.Costs
	if c.CCXCores == 0 || from == nil || from.ccx() == v.ccx() {
		return c.LineHandoff
	}
	return c.LineHandoffCrossCCX
}

// lineWriter is the CPU that last wrote a shared line, as 1 + its id (0:
// none yet): four bytes, so that every struct page can hold one.
type lineWriter int32

// handoffFrom returns the hand-off of a line last written by w to v, and
// whether there is one (w is another CPU).
func (v *VCPU) handoffFrom(w lineWriter) (uint64, bool) {
	if w == 0 || int(w-1) == v.id {
		return 0, false
	}
	return v.lineHandoff(v.m.cpus[w-1]), true
}

// wrote makes v the last writer of the line.
func (w *lineWriter) wrote(v *VCPU) { *w = lineWriter(v.id + 1) }

// is reports whether v wrote the line last.
func (w lineWriter) is(v *VCPU) bool { return int(w) == v.id+1 }

// cpu returns the CPU that wrote the line w last (nil: none).
func (m *Machine) cpu(w lineWriter) *VCPU {
	if w == 0 {
		return nil
	}
	return m.cpus[w-1]
}

// ipiHandoff returns an IPI hand-off cost of the initiator v with target
// t: ipi.queue_cycles (csd_lock on the target's csd and llist_add to its
// call_single_queue, kernel/smp.c) and ipi.ack_cycles (csd_lock_wait
// reading the flags the target's csd_unlock wrote) are each one line
// hand-off, the presets' within-CCX figure (handoff, costs_presets.go).
// Across CCXs the lines cross the I/O die, so base is scaled by
// kernel.line_handoff_cross_ccx / kernel.line_handoff (zen3: 69 → 321
// cycles). t nil (unknown) is charged as within a CCX.
func (v *VCPU) ipiHandoff(base uint64, t *VCPU) uint64 {
	c := &v.m.cfg.Costs
	if c.CCXCores == 0 || t == nil || t.ccx() == v.ccx() || c.LineHandoff == 0 {
		return base
	}
	return base * c.LineHandoffCrossCCX / c.LineHandoff
}
