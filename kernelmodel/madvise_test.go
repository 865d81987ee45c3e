package kernelmodel

import (
	"testing"

	"github.com/tlbemu/emu/tlb"
)

// TestMadviseDontneedOnePageOneIPI: MADV_DONTNEED of one page on an mm that
// another, non-lazy CPU is running: zap_page_range's mmu_gather raises
// tlb_flush_pending, clears the PTE, and tlb_finish_mmu issues one
// flush_tlb_mm_range of that page — one INVLPG here and exactly one IPI —
// then frees the page. The next read maps the zero page.
func TestMadviseDontneedOnePageOneIPI(t *testing.T) {
	m, mm := newMachineWith(t, 2, "5.10")
	ready, done := false, false
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			base := mmapAnon(t, v, 1)
			userAccess(v, base, true)
			v.lruAddDrain()
			inUse := m.mem.InUse()
			ready = true
			waitUntil(v, v.c.Clock+5000)
			ipis, remote, one := m.ipisSent, m.nrTLBRemoteFlush, m.nrTLBLocalFlushOne
			if r := v.sysMadvise(base, 4096, madvDontneed); r != 0 {
				t.Fatalf("madvise = %d", r)
			}
			if got := m.ipisSent - ipis; got != 1 {
				t.Errorf("IPIs = %d, want 1", got)
			}
			if got := m.nrTLBRemoteFlush - remote; got != 1 {
				t.Errorf("nr_tlb_remote_flush += %d, want 1", got)
			}
			if got := m.nrTLBLocalFlushOne - one; got != 1 {
				t.Errorf("local INVLPGs = %d, want 1", got)
			}
			if !pteNone(pte(m, mm, base)) {
				t.Errorf("PTE %#x after MADV_DONTNEED, want none", pte(m, mm, base))
			}
			if got := m.mem.InUse(); got != inUse-1 {
				t.Errorf("frames in use %d, want %d (the page freed)", got, inUse-1)
			}
			if mm.tlbFlushPending != 0 {
				t.Errorf("tlb_flush_pending %d", mm.tlbFlushPending)
			}
			userAccess(v, base, false)
			if e := pte(m, mm, base); ptePFN(e) != m.zeroPage {
				t.Errorf("read after MADV_DONTNEED mapped %#x, want the zero page", e)
			}
			done = true
			detach(v)
		},
		1: func(v *VCPU) {
			for !ready {
				v.spend(100)
			}
			attach(v, mm, 1)
			for !done {
				v.spend(100)
			}
			detach(v)
		},
	})
}

// TestMadviseFree: MADV_FREE keeps the page mapped and writable but old
// and clean (hardware D cleared; soft-dirty kept), with one flush.
func TestMadviseFree(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			base := mmapAnon(t, v, 2)
			userAccess(v, base, true)
			before := pte(m, mm, base)
			one := m.nrTLBLocalFlushOne
			if r := v.sysMadvise(base, 2*4096, madvFree); r != 0 {
				t.Fatalf("madvise(MADV_FREE) = %d", r)
			}
			e := pte(m, mm, base)
			if e != before&^(tlb.PteA|tlb.PteD) {
				t.Errorf("PTE %#x -> %#x, want A and D cleared only", before, e)
			}
			if got := m.nrTLBLocalFlushOne - one; got != 1 {
				t.Errorf("INVLPGs = %d, want 1 (the one page that was young/dirty)", got)
			}
			detach(v)
		},
	})
}

// TestMadviseErrorsAndBehavior: do_madvise's checks, holes (ENOMEM after
// doing the mapped part) and the vm_flags advice values that split VMAs.
func TestMadviseErrorsAndBehavior(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			base := mmapAnon(t, v, 4)
			for i := uint64(0); i < 4; i++ {
				userAccess(v, base+i*4096, true)
			}
			if v.sysMunmap(base+2*4096, 4096) != 0 {
				t.Fatal("munmap")
			}
			for _, c := range []struct {
				addr, len, advice uint64
				want              int64
			}{
				{base, 4096, 7, -EINVAL},       // not an advice value
				{base, 4096, 100, -EINVAL},     // MADV_HWPOISON without CONFIG_MEMORY_FAILURE
				{base + 1, 4096, 4, -EINVAL},   // unaligned
				{base, ^uint64(0), 4, -EINVAL}, // PAGE_ALIGN overflows to 0
				{base, 0, 4, 0},
				{base, 4096, madvNormal, 0},
				{base, 4096, madvWillneed, 0},
				{base, 4096, madvRemove, -EINVAL}, // anonymous memory has no file
				{1 << 46, 4096, madvDontneed, -ENOMEM},
				{base, 4 * 4096, madvDontneed, -ENOMEM}, // hole at page 2
			} {
				if got := v.sysMadvise(c.addr, c.len, c.advice); got != c.want {
					t.Errorf("madvise(%#x, %#x, %d) = %d, want %d", c.addr, c.len, c.advice, got, c.want)
				}
			}
			for _, i := range []uint64{0, 1, 3} {
				if !pteNone(pte(m, mm, base+i*4096)) {
					t.Errorf("page %d still mapped after MADV_DONTNEED over a hole", i)
				}
			}
			if r := v.sysMadvise(base+4096, 4096, madvDontfork); r != 0 {
				t.Fatalf("MADV_DONTFORK = %d", r)
			}
			if vma := mm.findVMA(base + 4096); vma.start != base+4096 || vma.end != base+2*4096 || vma.flags&VM_DONTCOPY == 0 {
				t.Errorf("MADV_DONTFORK VMA [%#x, %#x) flags %#x", vma.start, vma.end, vma.flags)
			}
			if r := v.sysMadvise(base, 2*4096, madvDofork); r != 0 {
				t.Fatalf("MADV_DOFORK = %d", r)
			}
			if vma := mm.findVMA(base); vma.end != base+2*4096 || vma.flags&VM_DONTCOPY != 0 {
				t.Errorf("MADV_DOFORK did not merge back: [%#x, %#x) flags %#x", vma.start, vma.end, vma.flags)
			}
			detach(v)
		},
	})
}
