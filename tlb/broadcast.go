package tlb

// AMD broadcast invalidation: INVLPGB and TLBSYNC (AMD64 Architecture
// Programmer's Manual Vol. 3, "INVLPGB" and "TLBSYNC"; operand layout as
// Linux encodes it in arch/x86/include/asm/tlb.h __invlpgb, v6.15+).
//
//	rAX[0]      VA valid: only translations of the pages at rAX[63:12]
//	rAX[1]      PCID valid: only translations of the PCID in EDX[27:16]
//	rAX[2]      ASID valid: only translations of the ASID in EDX[15:0]
//	rAX[3]      include global translations
//	rAX[4]      final (leaf) translations only: paging-structure caches kept
//	rAX[5]      include nested translations (not modelled: no nested paging)
//	ECX[15:0]   number of pages beyond the first (at most invlpgb_count_max-1)
//	ECX[31]     2 MiB stride between the pages instead of 4 KiB
//
// A component whose valid bit is clear matches every value ("If neither
// bits are set, *any* address in the specified range matches", tlb.h). The
// invalidation reaches every processor's TLBs, the issuing one's included,
// but is weakly ordered: on another processor it is guaranteed complete only
// once the issuer's TLBSYNC has returned, so until then that processor may
// keep using the old translations. The model makes that window explicit: a
// Fabric posts the invalidation to every other MMU with a completion time
// (now + Costs.InvlpgbLatency); an MMU applies it when its owner reaches that
// time (CompleteBroadcasts), and the issuer's TLBSYNC waits until the latest
// completion time of what it issued.

// INVLPGB rAX flags.
const (
	InvlpgbVA          = 1 << 0
	InvlpgbPCID        = 1 << 1
	InvlpgbASID        = 1 << 2
	InvlpgbGlobal      = 1 << 3
	InvlpgbFinalOnly   = 1 << 4
	InvlpgbNested      = 1 << 5
	invlpgbStride2MECX = 1 << 31
)

// HostASID is the SVM ASID of the host (the model runs no guests, so every
// translation belongs to it): Linux always sets ASID valid with ASID 0
// (634ab76159a8 "x86/mm: Always set the ASID valid bit for the INVLPGB
// instruction").
const HostASID = 0

// Invlpgb is one decoded INVLPGB.
type Invlpgb struct {
	VA       VirtAddr // page-aligned
	Flags    uint8    // Invlpgb* bits of rAX
	PCID     uint16
	ASID     uint16
	Extra    uint16 // pages beyond the first
	Stride2M bool
}

// DecodeInvlpgb decodes INVLPGB's register operands.
func DecodeInvlpgb(rax, ecx, edx uint64) Invlpgb {
	return Invlpgb{
		VA:       VirtAddr(rax &^ 0xfff),
		Flags:    uint8(rax & 0x3f),
		PCID:     uint16(edx>>16) & uint16(tagPCIDMask),
		ASID:     uint16(edx),
		Extra:    uint16(ecx),
		Stride2M: ecx&invlpgbStride2MECX != 0,
	}
}

// Pages returns how many pages the instruction names.
func (op Invlpgb) Pages() int { return int(op.Extra) + 1 }

// selector returns the TLB entries op selects by key.
func (op Invlpgb) selector() selector {
	s := selector{global: op.Flags&InvlpgbGlobal != 0, local: true, anyPCID: op.Flags&InvlpgbPCID == 0, pcid: op.PCID}
	return s
}

// HasInvlpgb reports whether the MMU's processor implements INVLPGB and
// TLBSYNC (CPUID Fn8000_0008_EBX[3]).
func (m *MMU) HasInvlpgb() bool { return m.cfg.InvlpgbCountMax > 0 }

// applyInvlpgb performs op's invalidation on this MMU and returns how many
// TLB entries it dropped.
func (m *MMU) applyInvlpgb(op Invlpgb) int {
	m.Settle()
	m.Stats.InvlpgbApplied++
	if op.Flags&InvlpgbASID != 0 && op.ASID != HostASID {
		return 0 // another guest's translations: none are cached here
	}
	s := op.selector()
	before := m.Stats.EntriesInvalidated
	if op.Flags&InvlpgbVA == 0 {
		m.invalidateAll(s)
	} else {
		stride := uint64(1) << 12
		if op.Stride2M {
			stride = 1 << 21
		}
		va := op.VA
		for i := 0; i < op.Pages(); i++ {
			if va.Canonical() {
				m.invalidatePage(va, s)
			}
			va += VirtAddr(stride)
		}
	}
	if op.Flags&InvlpgbFinalOnly == 0 {
		// The paging-structure caches of the selected PCIDs, for any
		// address (as INVLPG drops all of the current PCID's, SDM
		// 4.10.4.1): more than the instruction requires, never less.
		ps := s
		ps.global = false
		m.invalidatePSC(ps)
	}
	return int(m.Stats.EntriesInvalidated - before)
}

// maxPendingBroadcasts bounds an MMU's queue of pending broadcast
// invalidations.
const maxPendingBroadcasts = 1024

// pendingInvlpgb is a broadcast invalidation posted to an MMU and not yet
// performed there.
type pendingInvlpgb struct {
	op     Invlpgb
	doneAt uint64 // emulated cycle at which it is complete on this MMU
	stall  uint32 // cycles the CPU spends performing it (0: done by the fabric)
}

// CompleteBroadcasts performs, in posting order, the broadcast invalidations
// posted to m that are complete by now (their completion time is at or
// before now), and returns the cycles the CPU spent performing them (the
// stall of the ones posted with one, e.g. Intel RAR actions, which the
// target's microcode performs). The MMU's owner calls it before it uses its
// TLBs at a new time. It does not allocate.
func (m *MMU) CompleteBroadcasts(now uint64) (stall uint64) {
	stall, m.earlyStall = m.earlyStall, 0
	for m.bhead < len(m.bcast) && m.bcast[m.bhead].doneAt <= now {
		m.applyInvlpgb(m.bcast[m.bhead].op)
		stall += uint64(m.bcast[m.bhead].stall)
		m.bhead++
	}
	if m.bhead == len(m.bcast) {
		m.bcast, m.bhead = m.bcast[:0], 0
	}
	return stall
}

// NextBroadcast returns the completion time of the earliest broadcast
// invalidation posted to m and not yet performed, or ^uint64(0).
func (m *MMU) NextBroadcast() uint64 {
	if m.bhead == len(m.bcast) {
		return ^uint64(0)
	}
	return m.bcast[m.bhead].doneAt
}

// Fabric is the coherence fabric that carries INVLPGB to every processor.
// It is used by one goroutine at a time (the kernel model's baton holder,
// which alone issues INVLPGB and posts to the other MMUs).
type Fabric struct {
	mmus []*MMU
}

// NewFabric returns the fabric joining mmus (mmus[i] is CPU i's).
func NewFabric(mmus []*MMU) *Fabric { return &Fabric{mmus: mmus} }

// Invlpgb executes INVLPGB with operands op on CPU from at emulated time now.
// It returns the instruction's cycles on the issuer, or ok=false when the
// instruction faults: #UD where INVLPGB is not implemented, #GP(0) when
// ECX[15:0] exceeds invlpgb_count_max-1 (CPUID Fn8000_0008_EDX[15:0]; Linux
// clamps every request to invlpgb_count_max, broadcast_tlb_flush,
// arch/x86/mm/tlb.c, v6.15+). The issuer's own TLBs are invalidated at once;
// every other CPU's are invalidated at now + Costs.InvlpgbLatency.
func (f *Fabric) Invlpgb(from int, op Invlpgb, now uint64) (cycles uint32, ok bool) {
	src := f.mmus[from]
	if !src.HasInvlpgb() || int(op.Extra) >= src.cfg.InvlpgbCountMax {
		return 0, false
	}
	src.Stats.Invlpgb++
	src.applyInvlpgb(op)
	done := now + uint64(src.cfg.Costs.InvlpgbLatency)
	for i, m := range f.mmus {
		if i == from {
			continue
		}
		m.post(pendingInvlpgb{op: op, doneAt: done})
	}
	src.syncAt = max(src.syncAt, done)
	return src.cfg.Costs.Invlpgb, true
}

// post queues p, keeping the queue ordered by completion time, then posting
// order (completion times from one issuer never decrease; from several they
// may).
func (m *MMU) post(p pendingInvlpgb) {
	if m.bhead > 0 && m.bhead >= len(m.bcast)/2 {
		// Compact: the performed head is dropped.
		n := copy(m.bcast, m.bcast[m.bhead:])
		m.bcast, m.bhead = m.bcast[:n], 0
	}
	if len(m.bcast)-m.bhead >= maxPendingBroadcasts {
		// Bound the queue of a CPU that does not reach the completion
		// times (idle for long): perform the oldest now. Architecturally
		// an invalidation may take effect any time before the issuer's
		// TLBSYNC returns; the model otherwise waits for the latest.
		h := m.bcast[m.bhead]
		m.applyInvlpgb(h.op)
		m.earlyStall += uint64(h.stall)
		m.bhead++
	}
	m.bcast = append(m.bcast, p)
	for j := len(m.bcast) - 1; j > m.bhead && m.bcast[j].doneAt < m.bcast[j-1].doneAt; j-- {
		m.bcast[j], m.bcast[j-1] = m.bcast[j-1], m.bcast[j]
	}
}

// Post queues an invalidation with INVLPGB's selection semantics for CPU
// to, to be performed when that CPU reaches doneAt, stalling it for stall
// cycles: the target side of a directed remote invalidation such as an
// Intel RAR action (RAR_TYPE_INVPCID: address range or whole PCID of one
// PCID, or everything; Intel "Remote Action Request" white paper 341431).
// It needs no INVLPGB support.
func (f *Fabric) Post(to int, op Invlpgb, doneAt uint64, stall uint32) {
	f.mmus[to].post(pendingInvlpgb{op: op, doneAt: doneAt, stall: stall})
}

// Tlbsync executes TLBSYNC on CPU from at emulated time now: it waits until
// every INVLPGB that CPU issued is complete on every processor. It returns
// the cycles it takes (its own cost plus the wait), or ok=false (#UD) where
// TLBSYNC is not implemented.
func (f *Fabric) Tlbsync(from int, now uint64) (cycles uint64, ok bool) {
	src := f.mmus[from]
	if !src.HasInvlpgb() {
		return 0, false
	}
	src.Stats.Tlbsync++
	c := uint64(src.cfg.Costs.Tlbsync)
	if src.syncAt > now+c {
		c = src.syncAt - now
	}
	return c, true
}
