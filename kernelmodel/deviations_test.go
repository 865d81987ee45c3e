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

	m.pages[old].gathered = 1          // zapRange put it in the batch
	v.onStaleWrite(va, old, cur, true) // cur maps repl
	if m.staleInWindow != 1 || m.writeAfterCOW != 0 {
		t.Fatalf("gathered frame: in window %d, after COW %d; want 1, 0", m.staleInWindow, m.writeAfterCOW)
	}
	m.pages[old].gathered = 0          // tlb_flush_mmu freed the batch
	v.onStaleWrite(va, old, cur, true) // cur maps repl
	if m.writeAfterCOW != 1 || m.lostCOWPages != 1 {
		t.Fatalf("after the gather: after COW %d, lost pages %d; want 1, 1", m.writeAfterCOW, m.lostCOWPages)
	}
	m.pages[old].gathered, m.pages[old].copying = 1, 1 // a COW copy in progress wins
	v.onStaleWrite(va, old, cur, true)                 // cur maps repl
	if m.writeAfterCOW != 2 || m.staleInWindow != 1 {
		t.Fatalf("copying frame: after COW %d, in window %d; want 2, 1", m.writeAfterCOW, m.staleInWindow)
	}
}

// TestMunmapNextToGrowsdown: __do_munmap (mm/mmap.c, v5.10) keeps
// mmap_lock for write when the VMA after the hole is VM_GROWSDOWN, and
// downgrades otherwise; an empty range returns under the write lock. Each
// munmap leaves the lock free.
func TestMunmapNextToGrowsdown(t *testing.T) {
	withUser(t, 1, func(v *VCPU, s uint64) {
		mm := v.curr.mm
		base := uint64(0x7f00_0000_0000)
		mm.insertVMA(&VMA{start: base, end: base + 0x4000, flags: VM_READ | VM_WRITE, anon: true})
		mm.insertVMA(&VMA{start: base + 0x4000, end: base + 0x8000, flags: VM_READ | VM_WRITE | VM_GROWSDOWN, anon: true, name: "[stack]"})
		mm.insertVMA(&VMA{start: base + 0x10000, end: base + 0x14000, flags: VM_READ | VM_WRITE, anon: true})
		if mm.munmapDowngrades(base + 0x4000) {
			t.Error("below a VM_GROWSDOWN VMA: downgrades, want the write lock kept")
		}
		if !mm.munmapDowngrades(base + 0x8000) {
			t.Error("below an ordinary VMA: keeps the write lock, want a downgrade")
		}
		for _, r := range [][2]uint64{{base, 0x4000}, {base + 0x10000, 0x4000}, {base + 0x20000, 0x1000}} {
			if got := v.sysMunmap(r[0], r[1]); got != 0 {
				t.Errorf("munmap(%#x, %#x) = %d", r[0], r[1], got)
			}
			if l := &mm.mmapLock; l.writer != nil || l.readers != 0 {
				t.Errorf("after munmap(%#x): mmap_lock writer %v readers %d, want free", r[0], l.writer != nil, l.readers)
			}
		}
		if mm.findVMA(base) != nil || mm.findVMA(base+0x10000) != nil || mm.findVMA(base+0x4000) == nil {
			t.Error("munmap removed the wrong VMAs")
		}
	})
}
