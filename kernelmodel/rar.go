package kernelmodel

import (
	"math/bits"

	"github.com/tlbemu/emu/tlb"
)

// Intel Remote Action Request (RAR), as Rik van Riel's RFC series (v1-v4,
// May-June 2025, based on Intel's 2019 patches; not merged) drives it:
// arch/x86/mm/rar.c smp_call_rar_many of "[RFC PATCH v3 0/7] Intel RAR TLB
// invalidation" (Msg-Id 20250605163544.3852565-1-riel@surriel.com) and
// rar_tlb_flush of its 7/7 "x86/mm: userspace & pageout flushing using Intel
// RAR" (Msg-Id 20250605163544.3852565-8-riel@surriel.com).
//
// The initiator claims one slot of a 64-entry payload table shared by all
// CPUs (rar_in_use), writes the payload (an INVPCID-type action: a range of
// up to 63 pages of one PCID, or the whole PCID, or everything for a kernel
// flush), marks the slot RAR_PENDING in the per-CPU 64-byte action vector of
// every target in the cpumask except itself, sends one RAR signal through
// the APIC, and spins until every target's microcode has performed the
// action and written RAR_SUCCESS back. No interrupt runs on the target
// (RAR_CTRL_IGNORE_IF: even with interrupts off), so no tlb_gen logic runs
// there either.
//
// No latency of RAR has been published. Its costs are cost-file keys with
// model estimates (CostModel.RAR*, each marked ASSUMPTION).

// rarMaxPayloads is RAR_MAX_PAYLOADS; rarInvlpgMaxPages RAR_INVLPG_MAX_PAGES.
const (
	rarMaxPayloads    = 64
	rarInvlpgMaxPages = 63
)

// RAR action-vector states (rar.c).
const (
	rarSuccess = 0x00
	rarPending = 0x01
)

// rarState is the payload table's allocation bitmap and the per-CPU action
// vectors.
type rarState struct {
	inUse   uint64 // rar_in_use: bit i = payload slot i taken
	max     int    // rar_max_payloads
	action  [][rarMaxPayloads]uint8
	doneAt  [][rarMaxPayloads]uint64 // when each target's microcode writes RAR_SUCCESS (model bookkeeping)
	reqs    uint64                   // smp_call_rar_many calls that signalled a target
	actions uint64                   // actions performed on targets
}

func (r *rarState) init(m *Machine) {
	r.max = min(max(m.cfg.TLB.RARPayloads, 1), rarMaxPayloads)
	if r.max < 64 {
		r.inUse = ^uint64(0) << r.max // slots beyond rar_max_payloads are never free
	}
	r.action = make([][rarMaxPayloads]uint8, m.cfg.CPUs)
	r.doneAt = make([][rarMaxPayloads]uint64, m.cfg.CPUs)
}

// rarPayloadOp is set_payload's action as the invalidation it asks of a
// target: RAR_INVPCID_ADDR (pages < 63) or RAR_INVPCID_PCID for a process,
// RAR_INVPCID_ALL for pcid 0 (kernel flushes: "RAR_INVPCID_ADDR excludes
// global translations").
func rarPayloadOp(pcid uint16, start uint64, pages uint64) tlb.Invlpgb {
	if pcid == 0 {
		return tlb.Invlpgb{Flags: tlb.InvlpgbGlobal}
	}
	if pages < rarInvlpgMaxPages {
		return tlb.Invlpgb{VA: tlb.VirtAddr(start &^ 0xfff), Flags: tlb.InvlpgbVA | tlb.InvlpgbPCID, PCID: pcid, Extra: uint16(pages - 1)}
	}
	return tlb.Invlpgb{Flags: tlb.InvlpgbPCID, PCID: pcid}
}

// smpCallRARMany models smp_call_rar_many(mask, pcid, start, end). It
// returns the number of targets signalled.
func (v *VCPU) smpCallRARMany(mask []bool, pcid uint16, start, end uint64) int {
	m := v.m
	r := &m.bc.rar
	k := &m.cfg.Costs
	pages := (end - start + 4096) / 4096
	if end == tlbFlushAllEnd || pages > rarInvlpgMaxPages {
		pages = rarInvlpgMaxPages
	}
	n := 0
	for i, in := range mask {
		if in && i != v.id { // cpumask_and(dest, mask, online); __cpumask_clear_cpu(this_cpu, dest)
			n++
		}
	}
	if n == 0 {
		return 0
	}
	// get_payload_slot: ffz(rar_in_use) and test_and_set_bit, spinning
	// while every slot is taken.
	for r.inUse == ^uint64(0) {
		v.c.Clock += k.SpinPoll
		v.preempt()
	}
	slot := bits.TrailingZeros64(^r.inUse)
	r.inUse |= 1 << slot
	v.c.Clock += k.LockedRMW + k.RARPayload
	op := rarPayloadOp(pcid, start, pages)
	ic := &m.cfg.IPICosts
	// set_action_entry for every target, then native_send_rar_ipi: the
	// APIC sends one RAR signal per ICR write (as an IPI, per x2APIC
	// cluster).
	for i, in := range mask {
		if in && i != v.id {
			r.action[i][slot] = rarPending
			v.c.Clock += k.RARActionWrite
		}
	}
	v.c.Clock += ic.ICRWrites(uint64(n)) * ic.ICRWrite
	last := uint64(0)
	for i, in := range mask {
		if !in || i == v.id {
			continue
		}
		at := v.c.Clock + v.around(k.RARDelivery, ipiJitter)
		done := at + k.RARHandle
		m.bc.fabric.Post(i, op, done, uint32(k.RARHandle))
		m.cpus[i].kick(done)
		r.doneAt[i][slot] = done
		last = max(last, done)
		r.actions++
	}
	r.reqs++
	// wait_for_action_done, target by target: spin until the last status
	// line arrives, then one line hand-off per further target.
	until := last + ic.AckCycles + uint64(n-1)*ic.AckCycles
	v.waitInvalidated(until, false)
	for i, in := range mask {
		if in && i != v.id {
			r.action[i][slot] = rarSuccess
		}
	}
	r.inUse &^= 1 << slot // free_payload_slot
	v.c.Clock += k.LockedRMW
	return n
}

// rarTLBFlush models rar_tlb_flush (RFC v3 7/7): RAR to the other CPUs of
// mm_cpumask for the kernel PCID of the global ASID (and with PTI the user
// PCID), then the local flush through flush_tlb_func if this CPU is in the
// mask. It returns the targets signalled.
func (v *VCPU) rarTLBFlush(info *flushTLBInfo) int {
	m := v.m
	asid := m.mmGlobalASID(info.mm)
	mask := info.mm.cpumask
	n := v.smpCallRARMany(mask, uint16(kernPCID(asid)), info.start, info.end)
	if m.cfg.PTI {
		n += v.smpCallRARMany(mask, userPCID(asid), info.start, info.end)
	}
	if mask[v.id] {
		v.irqOff++
		v.flushTLBFuncCommon(info, true, TLBLocalMMShootdown)
		v.irqOff--
	}
	return n
}

// rarFlushAll is flush_tlb_all with RAR: a kernel (pcid 0) RAR to every
// other CPU, which RAR_INVPCID_ALL makes a flush of everything, and
// __flush_tlb_all locally (INVPCID type 2).
func (v *VCPU) rarFlushAll() {
	all := make([]bool, len(v.m.cpus))
	for i := range all {
		all[i] = true
	}
	v.smpCallRARMany(all, 0, 0, tlbFlushAllEnd)
	v.c.Clock += uint64(v.c.MMU.Invpcid(tlb.InvpcidAll, 0, 0))
}
