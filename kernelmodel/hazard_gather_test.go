package kernelmodel

import (
	"testing"

	"github.com/tlbemu/emu/tlb"
)

// TestStaleStoreToGatheredFrame: a store through a stale entry to a frame
// a zap has unmapped but its mmu_gather has not yet flushed and freed is
// ordered before the zap (in window), even when the PTE already maps a new
// frame (a refault by UFFDIO_COPY); once the gather freed it, or when the
// frame left the page table by a COW copy instead, the store is lost.
func TestStaleStoreToGatheredFrame(t *testing.T) {
	m, _ := newTestMachine(t, 1)
	v := m.cpus[0]
	old, err := m.allocPage()
	if err != nil {
		t.Fatal(err)
	}
	repl, err := m.allocPage()
	if err != nil {
		t.Fatal(err)
	}
	cur := uint64(repl)<<12 | tlb.PteP | tlb.PteRW | tlb.PteUS
	va := tlb.VirtAddr(0x7000_0000_0000)

	m.pages[old].gathered = 1 // zapRange put it in the batch
	v.onStaleWrite(va, old, cur)
	if m.staleInWindow != 1 || m.writeAfterCOW != 0 {
		t.Fatalf("gathered frame: in window %d, after COW %d; want 1, 0", m.staleInWindow, m.writeAfterCOW)
	}
	m.pages[old].gathered = 0 // tlb_flush_mmu freed the batch
	v.onStaleWrite(va, old, cur)
	if m.writeAfterCOW != 1 || m.lostCOWPages != 1 {
		t.Fatalf("after the gather: after COW %d, lost pages %d; want 1, 1", m.writeAfterCOW, m.lostCOWPages)
	}
	m.pages[old].gathered, m.pages[old].copying = 1, 1 // a COW copy in progress wins
	v.onStaleWrite(va, old, cur)
	if m.writeAfterCOW != 2 || m.staleInWindow != 1 {
		t.Fatalf("copying frame: after COW %d, in window %d; want 2, 1", m.writeAfterCOW, m.staleInWindow)
	}
}
