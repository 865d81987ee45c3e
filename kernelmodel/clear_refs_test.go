package kernelmodel

import (
	"testing"

	"github.com/tlbemu/emu/tlb"
)

// TestClearRefsTypes: "1" ages every mapped page, "2" anonymous VMAs only,
// "3" file-backed ones only (here: the ELF segments), "5" touches no PTE;
// the zero page is never aged (vm_normal_page is NULL); only the first 12
// bytes of a write are read and counted; other values are EINVAL.
func TestClearRefsTypes(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			anon := mmapAnon(t, v, 2)
			elfVMA := &VMA{start: 0x400000, end: 0x401000, flags: VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC, anon: true, name: "elf"}
			mm.insertVMA(elfVMA)
			userAccess(v, anon, true)
			userAccess(v, anon+4096, false) // the zero page
			userAccess(v, 0x400000, true)
			young := func(a uint64) bool { return pte(m, mm, a)&tlb.PteA != 0 }
			set := func() {
				for _, a := range []uint64{anon, anon + 4096, 0x400000} {
					slot, _, _ := m.pteOffset(mm, a)
					m.mem.StorePTE(slot, m.mem.LoadPTE(slot)|tlb.PteA)
				}
			}
			for _, c := range []struct {
				in               string
				ret              int64
				anon, zero, file bool // still young afterwards
			}{
				{"5", 1, true, true, true},
				{"2\n", 2, false, true, true},
				{"3", 1, true, true, false},
				{"1", 1, false, true, false},
				{"   1         \n", 12, false, true, false},
				{"6", -EINVAL, true, true, true},
				{"0x1", -EINVAL, true, true, true},
			} {
				set()
				if got := v.clearRefsWrite([]byte(c.in)); got != c.ret {
					t.Errorf("write %q = %d, want %d", c.in, got, c.ret)
				}
				if young(anon) != c.anon || young(anon+4096) != c.zero || young(0x400000) != c.file {
					t.Errorf("after %q: young anon %v zero %v file %v, want %v %v %v", c.in, young(anon), young(anon+4096), young(0x400000), c.anon, c.zero, c.file)
				}
			}
			detach(v)
		},
	})
}

// TestClearRefsSoftDirtyFlush: writing "4" write-protects every PTE and
// clears soft-dirty (hardware D kept). v5.10 flushes nothing (its
// mmu_gather batched nothing); 912efa17e512 issues one flush_tlb_mm.
func TestClearRefsSoftDirtyFlush(t *testing.T) {
	for _, c := range []struct {
		patches []Patch
		flushes uint64
	}{
		{nil, 0},
		{[]Patch{PatchClearRefsMmapWriteLock}, 0},
		{[]Patch{PatchClearRefsFlush}, 1},
	} {
		m, mm := newMachineWith(t, 1, "5.10", c.patches...)
		runScripts(t, m, map[int]func(*VCPU){
			0: func(v *VCPU) {
				attach(v, mm, 0)
				base := mmapAnon(t, v, 2)
				userAccess(v, base, true)
				full := m.nrTLBLocalFlushAll + m.nrTLBLocalFlushOne
				if r := v.clearRefsWrite([]byte("4")); r != 1 {
					t.Errorf("%v: write 4 = %d", c.patches, r)
				}
				e := pte(m, mm, base)
				if pteWrite(e) || e&tlb.PteSoftDirty != 0 || e&tlb.PteD == 0 {
					t.Errorf("%v: PTE %#x, want read-only, not soft-dirty, D kept", c.patches, e)
				}
				if got := m.nrTLBLocalFlushAll + m.nrTLBLocalFlushOne - full; got != c.flushes {
					t.Errorf("%v: %d local flushes, want %d", c.patches, got, c.flushes)
				}
				if vma := mm.findVMA(base); vma.flags&VM_SOFTDIRTY != 0 {
					t.Errorf("%v: VM_SOFTDIRTY still set", c.patches)
				}
				if mm.tlbFlushPending != 0 || mm.revokeOps != 0 {
					t.Errorf("%v: pending %d revokeOps %d", c.patches, mm.tlbFlushPending, mm.revokeOps)
				}
				// This CPU's TLB still holds the writable entry unless
				// clear_refs flushed: the store then goes through without a
				// fault and the soft-dirty mark is lost (the hole).
				userAccess(v, base, true)
				e = pte(m, mm, base)
				if c.flushes == 0 {
					if pteWrite(e) || m.lostSoftDirty != 1 {
						t.Errorf("%v: store through the stale entry: PTE %#x, lost soft-dirty %d; want untouched PTE, 1", c.patches, e, m.lostSoftDirty)
					}
				} else if !pteWrite(e) || e&tlb.PteSoftDirty == 0 || m.lostSoftDirty != 0 {
					t.Errorf("%v: store after clear_refs left PTE %#x (lost %d), want writable and soft-dirty", c.patches, e, m.lostSoftDirty)
				}
				detach(v)
			},
		})
	}
}
