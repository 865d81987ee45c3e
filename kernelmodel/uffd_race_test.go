package kernelmodel

import (
	"testing"

	"github.com/tlbemu/emu/tlb"
)

// TestUffdWPResolveRaceMechanism builds by hand the un-protect race of Nadav
// Amit's "[PATCH v4] mm/userfaultfd: fix memory corruption due to
// writeprotect" (Msg-Id 20210304095423.3825684-1-namit@vmware.com) and
// asserts the study's conclusions for it (Yu Zhao's proposal, LKML 23 Dec
// 2020, Message-ID X+PE38s2Egq4nzKv@google.com): v5.10 loses the
// write, the proposal alone closes the race, so do 6ce64428d620 and
// 5.10-stable; the clear_refs fix alone does not.
//
// CPU 2 holds a writable, dirty TLB entry for X and keeps storing to it;
// CPU 0 un-protects the range with UFFDIO_WRITEPROTECT(mode 0), which
// clears X's RW bit with the flush deferred; CPU 1 write-faults on X in that
// window and COW-copies it (page_count 2: the page is in a pagevec). On
// v5.10 CPU 2's stores during the copy are lost; with the proposal, or with
// 6ce64428d620, the fault flushes first.
func TestUffdWPResolveRaceMechanism(t *testing.T) {
	for _, c := range []struct {
		name    string
		kernel  string
		patches []Patch
		lost    bool
	}{
		{"5.10", "5.10", nil, true},
		{"pte-fault-flush-pending", "5.10", []Patch{PatchPTEFaultFlushPending}, false},
		{"uffd-wp-flush-pending", "5.10", []Patch{PatchUffdWPFlushPending}, false},
		{"5.10-stable", "5.10-stable", nil, false},
		{"pte-fault-flush-pending+clear-refs-flush", "5.10", []Patch{PatchPTEFaultFlushPending, PatchClearRefsFlush}, false},
		{"clear-refs-flush", "5.10", []Patch{PatchClearRefsFlush}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, mm := newMachineWith(t, 3, c.kernel, c.patches...)
			const n = 64
			var base uint64
			var ctx *userfaultCtx
			ready := false
			var end uint64
			runScripts(t, m, map[int]func(*VCPU){
				0: func(v *VCPU) {
					attach(v, mm, 0)
					base = mmapAnon(t, v, n)
					for i := uint64(0); i < n; i++ {
						userAccess(v, base+i*4096, true)
					}
					ctx = &userfaultCtx{mm: mm, running: true, files: 1}
					vma := mm.findVMA(base)
					vma.flags |= VM_UFFD_WP
					vma.uffd = ctx
					ready = true
					end = v.c.Clock + 100_000
					waitUntil(v, v.c.Clock+20_000)
					if v.mwriteprotectRange(mm, base, n*4096, false) != 0 {
						t.Errorf("mwriteprotect_range failed")
					}
					waitUntil(v, end)
					detach(v)
				},
				1: func(v *VCPU) {
					for !ready {
						v.spend(100)
					}
					attach(v, mm, m.tasks[0].tgid)
					x := base + 5*4096
					m.getPage(ptePFN(pte(m, mm, x))) // a pagevec-style extra reference: page_count 2
					// Fault on X once the RESOLVE walk has passed it.
					for pteWrite(pte(m, mm, x)) {
						v.spend(10)
					}
					userAccess(v, x, true)
					waitUntil(v, end)
					detach(v)
				},
				2: func(v *VCPU) {
					for !ready {
						v.spend(100)
					}
					attach(v, mm, m.tasks[0].tgid)
					x := base + 5*4096
					userAccess(v, x, true) // W=1, D=1 entry
					for v.c.Clock < end {
						v.c.MMU.Translate(tlb.VirtAddr(x), tlb.Write) // a store, faults ignored
						v.spend(20)
					}
					detach(v)
				},
			})
			lost := m.writeAfterCOW > 0
			if lost != c.lost {
				t.Errorf("emu_write_after_cow = %d, want lost=%v (wp_copy %d, in-window %d)", m.writeAfterCOW, c.lost, m.wpCopy, m.staleInWindow)
			}
			// One page copy (X's) is made in the race: however many of
			// CPU 2's stores it missed, that is one lost page.
			if want := map[bool]uint64{true: 1, false: 0}[c.lost]; m.lostCOWPages != want {
				t.Errorf("emu_lost_cow_pages = %d, want %d (%d lost stores)", m.lostCOWPages, want, m.writeAfterCOW)
			}
		})
	}
}

// TestLostUffdWPFaultsPerFault: emu_lost_uffd_wp_faults counts missed
// faults, not stores. A CPU keeps a writable entry for X and Y while their
// PTEs become uffd-wp protected with no flush (the state a racing deferred
// flush leaves, see TestUffdWPResolveRaceMechanism): X stored three times
// and Y twice are two missed faults; after the next UFFDIO_WRITEPROTECT
// epoch a store to X is a third. Once the entries are flushed, the store
// faults (handle_userfault would run) and nothing more is counted.
func TestLostUffdWPFaultsPerFault(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			base := mmapAnon(t, v, 2)
			x, y := base, base+4096
			userAccess(v, x, true) // writable, dirty entries
			userAccess(v, y, true)
			for _, a := range []uint64{x, y} {
				slot, _, ok := m.pteOffset(mm, a)
				if !ok {
					t.Fatalf("no PTE for %#x", a)
				}
				m.mem.StorePTE(slot, pteWrprotect(m.mem.LoadPTE(slot))|tlb.PteUffdWP)
			}
			store := func(a uint64, n int) {
				for i := 0; i < n; i++ {
					v.c.MMU.Translate(tlb.VirtAddr(a), tlb.Write)
				}
			}
			store(x, 3)
			store(y, 2)
			if m.lostUffdWPFaults != 2 || m.missedUffdWP != 5 {
				t.Errorf("lost faults %d, missed stores %d; want 2, 5", m.lostUffdWPFaults, m.missedUffdWP)
			}
			mm.wpEpoch++ // the monitor's next UFFDIO_WRITEPROTECT
			store(x, 1)
			if m.lostUffdWPFaults != 3 {
				t.Errorf("after the next epoch: lost faults %d, want 3", m.lostUffdWPFaults)
			}
			v.c.MMU.Invlpg(tlb.VirtAddr(x))
			v.c.MMU.Invlpg(tlb.VirtAddr(y))
			store(x, 1)
			store(y, 1)
			if m.lostUffdWPFaults != 3 || m.missedUffdWP != 6 {
				t.Errorf("after the flush: lost faults %d, missed stores %d; want 3, 6", m.lostUffdWPFaults, m.missedUffdWP)
			}
			detach(v)
		},
	})
}
