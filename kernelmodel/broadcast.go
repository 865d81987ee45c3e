package kernelmodel

import (
	"fmt"
	"strings"

	"github.com/tlbemu/emu/tlb"
)

// FlushMech is the remote TLB invalidation mechanism for processes with a
// global ASID (-flush): IPIs (every kernel), AMD INVLPGB/TLBSYNC (Linux
// v6.15+), or Intel RAR (Rik van Riel's RFC v1-v4, 2025, not merged).
// Processes without a global ASID always use IPIs.
type FlushMech string

// The mechanisms.
const (
	FlushIPI     FlushMech = "ipi"
	FlushINVLPGB FlushMech = "invlpgb"
	FlushRAR     FlushMech = "rar"
)

// FlushMechs lists the -flush values. Config.Flush "" is FlushIPI without
// the broadcast counters in Stats (the default run's counter set).
var FlushMechs = []FlushMech{FlushIPI, FlushINVLPGB, FlushRAR}

// FlushMechNames returns the -flush values as strings.
func FlushMechNames() []string {
	var n []string
	for _, f := range FlushMechs {
		n = append(n, string(f))
	}
	return n
}

// CheckFlush reports whether the CPU of cfg (its TLB preset) offers
// cfg.Flush: INVLPGB on the Zen presets (CPUID Fn8000_0008_EBX[3]), RAR on
// Sapphire Rapids and newer ("RAR functionality is present on Sapphire
// Rapids and newer CPUs": Rik van Riel, "[RFC PATCH v3 0/7] Intel RAR TLB
// invalidation", 5 Jun 2025, Msg-Id 20250605163544.3852565-1-riel@surriel.com).
// The error names what is valid.
func CheckFlush(cfg *Config) error {
	var offered []string
	offered = append(offered, string(FlushIPI))
	if cfg.TLB.InvlpgbCountMax > 0 {
		offered = append(offered, string(FlushINVLPGB))
	}
	if cfg.TLB.RARPayloads > 0 {
		offered = append(offered, string(FlushRAR))
	}
	f := cfg.Flush
	if f == "" {
		f = FlushIPI
	}
	for _, o := range offered {
		if string(f) == o {
			return nil
		}
	}
	known := false
	for _, k := range FlushMechs {
		known = known || k == f
	}
	if !known {
		return fmt.Errorf("unknown -flush %q (valid: %s)", f, strings.Join(FlushMechNames(), ", "))
	}
	return fmt.Errorf("-flush %s needs a CPU that offers it (invlpgb: -cpu-model zen3 or zen4; rar: -cpu-model sapphire-rapids); -cpu-model %s offers: %s", f, cfg.CPUModel, strings.Join(offered, ", "))
}

// bcastState is the machine's broadcast-invalidation state.
type bcastState struct {
	on     bool // cfg.Flush is invlpgb or rar
	fabric *tlb.Fabric
	gasid  globalASIDs
	rar    rarState

	invlpgbs     uint64 // INVLPGB instructions issued
	tlbsyncWait  uint64 // cycles spent in TLBSYNC beyond its own cost
	bcastFlushes uint64 // broadcast_tlb_flush calls
	stallCycles  uint64 // cycles target CPUs spent performing RAR actions
	// invalCycles is the CPU time of TLB invalidation as a profile sees
	// it: flush_tlb_mm_range on the initiators (their IPI or TLBSYNC
	// waits included) and the flush interrupts on the targets; with the
	// RAR stalls, emu_tlb_invalidation_cycles.
	invalCycles uint64
}

func (m *Machine) initBroadcast() {
	f := m.cfg.Flush
	m.bc.on = f == FlushINVLPGB || f == FlushRAR
	if !m.bc.on {
		return
	}
	mmus := make([]*tlb.MMU, len(m.cpus))
	for i, v := range m.cpus {
		mmus[i] = v.c.MMU
	}
	m.bc.fabric = tlb.NewFabric(mmus)
	m.bc.gasid.init(m.maxASIDAvailable())
	m.bc.rar.init(m)
}

// completeBroadcasts performs the broadcast invalidations (INVLPGB, RAR
// actions) that are complete on v by its clock; a RAR action stalls v for
// its handling time.
func (v *VCPU) completeBroadcasts() {
	if !v.m.bc.on {
		return
	}
	if st := v.c.MMU.CompleteBroadcasts(v.c.Clock); st > 0 {
		v.c.Clock += st
		v.m.bc.stallCycles += st
	}
}

// nextBroadcast is when the next broadcast invalidation completes on v.
func (v *VCPU) nextBroadcast() uint64 { return v.c.MMU.NextBroadcast() }

// invlpgb issues one INVLPGB from v.
func (v *VCPU) invlpgb(op tlb.Invlpgb) {
	c, ok := v.m.bc.fabric.Invlpgb(v.id, op, v.c.Clock)
	if !ok {
		panic(fmt.Sprintf("kernelmodel: INVLPGB %+v faulted on cpu %d", op, v.id)) // the callers clamp to invlpgb_count_max
	}
	v.c.Clock += uint64(c)
	v.m.bc.invlpgbs++
}

// tlbsync executes TLBSYNC on v: it waits, uninterruptible, until every
// INVLPGB v issued is complete everywhere (waitInvalidated).
func (v *VCPU) tlbsync() {
	start := v.c.Clock
	c, _ := v.m.bc.fabric.Tlbsync(v.id, start)
	v.waitInvalidated(start+c, true)
	if own := uint64(v.m.cfg.TLB.Costs.Tlbsync); v.c.Clock-start > own {
		v.m.bc.tlbsyncWait += v.c.Clock - start - own
	}
}

// waitInvalidated spins until v's clock reaches until and every other CPU
// has performed the broadcast invalidations complete by then. A running
// CPU performs them when its own clock gets there, which it reaches while
// v hands the baton on; an idle one (it uses no translation until it
// wakes) performs them now. Waiting for the others, not only for the time,
// keeps what v does next (freeing the pages, returning to user mode) after
// their last use of the old translations in emulated-time order, as the
// acknowledgements of an IPI flush do. uninterruptible: TLBSYNC is one
// instruction (no interrupts during the wait); a RAR initiator spins with
// interrupts enabled.
func (v *VCPU) waitInvalidated(until uint64, uninterruptible bool) {
	m := v.m
	if uninterruptible {
		v.irqOff++
		defer func() { v.irqOff-- }()
	}
	for {
		pending := false
		for _, u := range m.cpus {
			if u == v || u.nextBroadcast() > until {
				continue
			}
			if u.idle {
				m.bc.stallCycles += u.c.MMU.CompleteBroadcasts(until) // not charged: the CPU sleeps
				continue
			}
			pending = true
		}
		if !pending && v.c.Clock >= until {
			return
		}
		step := m.cfg.Costs.SpinPoll
		if v.c.Clock < until {
			step = min(step, until-v.c.Clock)
		}
		v.c.Clock += step
		v.preempt()
	}
}

// invlpgbFlushUserNrNosync models invlpgb_flush_user_nr_nosync(pcid, addr,
// nr, pmd_stride) (arch/x86/include/asm/tlb.h, v6.15+).
func (v *VCPU) invlpgbFlushUserNrNosync(pcid uint16, addr uint64, nr int, pmd bool) {
	rax := addr | tlb.InvlpgbPCID | tlb.InvlpgbVA | tlb.InvlpgbASID
	ecx := uint64(nr - 1)
	if pmd {
		ecx |= 1 << 31
	}
	v.invlpgb(tlb.DecodeInvlpgb(rax, ecx, uint64(pcid)<<16|tlb.HostASID))
}

// invlpgbFlushSinglePCIDNosync models invlpgb_flush_single_pcid_nosync.
func (v *VCPU) invlpgbFlushSinglePCIDNosync(pcid uint16) {
	v.invlpgb(tlb.DecodeInvlpgb(tlb.InvlpgbPCID|tlb.InvlpgbASID, 0, uint64(pcid)<<16|tlb.HostASID))
}

// invlpgbFlushAllNonglobals models invlpgb_flush_all_nonglobals: every
// PCID's non-global translations on every CPU, then TLBSYNC.
func (v *VCPU) invlpgbFlushAllNonglobals() {
	v.invlpgb(tlb.DecodeInvlpgb(tlb.InvlpgbASID, 0, tlb.HostASID))
	v.tlbsync()
}

// invlpgbTLBFlush models the INVLPGB half of broadcast_tlb_flush
// (arch/x86/mm/tlb.c, v6.18): the kernel PCID (and with PTI the user PCID)
// of mm's global ASID, the whole PCID for a full flush, else the range in
// pieces of at most invlpgb_count_max pages; finish_asid_transition; then
// TLBSYNC waits for all of them.
func (v *VCPU) invlpgbTLBFlush(info *flushTLBInfo) int {
	m := v.m
	asid := m.mmGlobalASID(info.mm)
	pti := m.cfg.PTI
	if info.end == tlbFlushAllEnd {
		v.invlpgbFlushSinglePCIDNosync(uint16(kernPCID(asid)))
		if pti {
			v.invlpgbFlushSinglePCIDNosync(userPCID(asid))
		}
	} else {
		pmd := info.strideShift == 21
		countMax := m.cfg.TLB.InvlpgbCountMax
		for addr := info.start; ; {
			nr := 1
			if info.strideShift <= 21 {
				nr = int(min((info.end-addr)>>info.strideShift, uint64(countMax)))
				nr = max(nr, 1) // clamp_val(nr, 1, invlpgb_count_max)
			}
			v.invlpgbFlushUserNrNosync(uint16(kernPCID(asid)), addr, nr, pmd)
			if pti {
				v.invlpgbFlushUserNrNosync(userPCID(asid), addr, nr, pmd)
			}
			addr += uint64(nr) << info.strideShift
			if addr >= info.end {
				break
			}
		}
	}
	sent := v.finishASIDTransition(info)
	v.tlbsync()
	return sent
}

// broadcastTLBFlush models broadcast_tlb_flush: INVLPGB (v6.18), or with
// -flush rar the RFC's rar_tlb_flush followed by finish_asid_transition
// (RFC v3 7/7). It returns the IPIs sent (only by an ASID transition).
func (v *VCPU) broadcastTLBFlush(info *flushTLBInfo) int {
	v.m.bc.bcastFlushes++
	if v.m.cfg.Flush == FlushRAR {
		v.rarTLBFlush(info)
		return v.finishASIDTransition(info)
	}
	return v.invlpgbTLBFlush(info)
}

// globalASIDChoice is choose_new_asid's global-ASID case: an mm with a
// global ASID uses it, without a flush with INVLPGB (always up to date),
// and with RAR flushed only on a CPU that was not in mm_cpumask (newCPU):
// RAR keeps the TLBs of the CPUs in the mask up to date only (RFC v3 7/7).
func (v *VCPU) globalASIDChoice(next *MM, newCPU bool) (asid int, flush, ok bool) {
	m := v.m
	g := m.mmGlobalASID(next)
	if g == 0 {
		return 0, false, false
	}
	return g, m.cfg.Flush == FlushRAR && newCPU, true
}

// flushAllTargets models the condition under which native_flush_tlb_multi
// sends to every CPU of the mask, lazy ones included: freed page tables
// or an ASID transition (v6.18); with RAR also a trimming flush or an mm
// with a global ASID (RFC v3 7/7 should_flush_all).
func (m *Machine) flushAllTargets(info *flushTLBInfo) bool {
	if info.freedTables {
		return true
	}
	if !m.bc.on {
		return false
	}
	if m.cfg.Flush == FlushRAR && (info.trimCPUMask || m.mmGlobalASID(info.mm) != 0) {
		return true
	}
	return m.mmInASIDTransition(info.mm)
}

// userPCIDFlushMaskWords is user_pcid_flush_mask after the fix: one bit
// per PCID of the PTI half of the space, 2048 bits.
const userPCIDFlushMaskWords = 1 << (12 - 1) / 64

// setUserPCIDFlush models invalidate_user_asid's __set_bit(kern_pcid(asid),
// user_pcid_flush_mask). v6.18 (tlbflush.h: unsigned short
// user_pcid_flush_mask) holds kPCIDs 0-15 only: a global ASID's kPCID is
// larger, and __set_bit writes the neighbouring fields of cpu_tlbstate
// instead (the cr4 shadow, ctxs[]), where the bit is lost when they are next
// written; the model drops it at once. With PatchUserPCIDFlushMask (Rik van
// Riel, "[PATCH v2 1/3] x86/mm: Fix potential overflow in
// user_pcid_flush_mask", 6 Jun 2025, Msg-Id
// 20250606171112.4013261-2-riel@surriel.com) the mask has a bit for every
// PCID.
func (v *VCPU) setUserPCIDFlush(pcid uint64) {
	if pcid < 16 {
		v.userPCIDFlushMask |= 1 << pcid
		return
	}
	if v.m.on.userPCIDFlushMask {
		v.bcv.userPCIDFlushWide[pcid/64] |= 1 << (pcid % 64)
		return
	}
	v.bcv.lostUserPCIDFlushes++
}

// testClearUserPCIDFlush models SWITCH_TO_USER_CR3's bt/btr of the kPCID
// in user_pcid_flush_mask (arch/x86/entry/calling.h).
func (v *VCPU) testClearUserPCIDFlush(pcid uint64) bool {
	if pcid < 16 {
		if v.userPCIDFlushMask&(1<<pcid) != 0 {
			v.userPCIDFlushMask &^= 1 << pcid
			return true
		}
		return false
	}
	w, b := &v.bcv.userPCIDFlushWide[pcid/64], uint64(1)<<(pcid%64)
	if *w&b != 0 {
		*w &^= b
		return true
	}
	return false
}

// bcastVCPU is a vCPU's broadcast-invalidation state.
type bcastVCPU struct {
	// userPCIDFlushWide holds the bits of PCIDs 16 and up of the enlarged
	// user_pcid_flush_mask (PatchUserPCIDFlushMask).
	userPCIDFlushWide [userPCIDFlushMaskWords]uint64
	// lostUserPCIDFlushes counts invalidate_user_asid calls whose bit the
	// 16-bit mask could not hold.
	lostUserPCIDFlushes uint64
}

// globalASIDFlushFunc is flush_tlb_func's global-ASID part (v6.18): a CPU
// still running loaded under a dynamic ASID while it transitions to a
// global one reloads (switch_mm_irqs_off), and with INVLPGB a global ASID
// is always up to date, so nothing is left to do. It reports whether the
// flush goes on. With RAR (RFC v3 7/7) the lazy check comes first: a lazy
// CPU leaves the mm instead of reloading.
func (v *VCPU) globalASIDFlushFunc(loaded *MM) bool {
	m := v.m
	if m.mmNeedsGlobalASID(loaded, v.tlbs.loadedASID) && !(m.cfg.Flush == FlushRAR && v.tlbs.isLazy) {
		v.switchMMIrqsOff(loaded)
	}
	return !(m.cfg.Flush == FlushINVLPGB && isGlobalASID(v.tlbs.loadedASID))
}

// FlushEstimateKeys returns the cost keys a mechanism's results depend on
// that no measurement backs (each default is an ASSUMPTION: model
// estimate): what `emu ab -flush` names when it labels its comparison a
// model estimate.
func FlushEstimateKeys(f FlushMech) []string {
	switch f {
	case FlushRAR:
		return []string{"kernel.rar_payload", "kernel.rar_action_write", "kernel.rar_delivery", "kernel.rar_handle"}
	case FlushINVLPGB:
		return []string{"tlb.invlpgb", "tlb.tlbsync", "tlb.invlpgb_latency"}
	}
	return nil
}
