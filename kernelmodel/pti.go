package kernelmodel

import "github.com/tlbemu/emu/tlb"

// ptiUserPCIDBit is X86_CR3_PTI_PCID_USER_BIT: with PTI the user half of
// each address space runs in kPCID | (1 << 11)
// (arch/x86/include/asm/processor-flags.h, v5.10).
const ptiUserPCIDBit = 11

func userPCID(asid int) uint16 { return uint16(kernPCID(asid)) | 1<<ptiUserPCIDBit }

// enterKernel models the entry code's switch to the kernel (SWITCH_TO_KERNEL_CR3
// with PTI: a CR3 write with NOFLUSH to the kernel PCID). Without PTI user
// and kernel share the PCID and entry changes nothing the model tracks.
func (v *VCPU) enterKernel() {
	if v.inKernel {
		return
	}
	v.inKernel = true
	v.traceUser()
	if v.m.cfg.PTI {
		v.c.Clock += uint64(v.c.MMU.WriteCR3(v.buildCR3(v.tlbs.loadedMM, v.tlbs.loadedASID, true)))
	}
}

// exitToUser models the return to user mode (SWITCH_TO_USER_CR3, entry/calling.h):
// with PTI the user PCID is loaded without NOFLUSH if invalidate_user_asid
// marked it in user_pcid_flush_mask, else with NOFLUSH.
func (v *VCPU) exitToUser() {
	if !v.inKernel {
		return
	}
	v.inKernel = false
	v.userStart = v.c.Clock
	if !v.m.cfg.PTI {
		return
	}
	asid := v.tlbs.loadedASID
	cr3 := uint64(v.tlbs.loadedMM.pgd.Addr())
	if v.m.cfg.PCID {
		cr3 |= uint64(userPCID(asid))
		if !v.testClearUserPCIDFlush(kernPCID(asid)) {
			cr3 |= tlb.CR3NoFlush
		}
	}
	v.c.Clock += uint64(v.c.MMU.WriteCR3(cr3))
}

// invalidateUserASID models invalidate_user_asid: with PTI and PCID, mark the
// user PCID of asid for a full flush at the next return to user mode.
func (v *VCPU) invalidateUserASID(asid int) {
	if v.m.cfg.PTI && v.m.cfg.PCID {
		v.setUserPCIDFlush(kernPCID(asid))
	}
}

// flushTLBOneUser models native_flush_tlb_one_user: INVLPG in the current
// (kernel) PCID and, with PTI, INVPCID type 0 for the user PCID (the CPU has
// INVPCID; ≈350 cycles on top of INVLPG's 200: Dave Hansen, "x86 TLB
// flushing: INVPCID vs. deferred CR3 write", linux-mm, 5 Dec 2017).
func (v *VCPU) flushTLBOneUser(addr uint64) {
	v.c.Clock += uint64(v.c.MMU.Invlpg(tlb.VirtAddr(addr)))
	if v.m.cfg.PTI {
		if v.m.cfg.PCID {
			v.c.Clock += uint64(v.c.MMU.Invpcid(tlb.InvpcidAddr, userPCID(v.tlbs.loadedASID), tlb.VirtAddr(addr)))
		}
	}
}

// flushTLBLocal models native_flush_tlb_local: invalidate_user_asid, then
// CR3 = CR3 (reading CR3 never returns bit 63, so the write flushes).
func (v *VCPU) flushTLBLocal() {
	v.invalidateUserASID(v.tlbs.loadedASID)
	v.c.Clock += uint64(v.c.MMU.WriteCR3(v.c.MMU.CR3()))
}
