package kernelmodel

import (
	"testing"

	"github.com/tlbemu/emu/tlb"
)

// mapFixedAnon maps n private anonymous read-write pages at addr.
func mapFixedAnon(t *testing.T, v *VCPU, addr uint64, n int) {
	t.Helper()
	if r := v.sysMmap(addr, uint64(n)*4096, protRead|protWrite, mapPrivate|mapAnonymous|mapFixed, -1); r != int64(addr) {
		t.Fatalf("mmap(%#x) = %#x", addr, r)
	}
}

// TestMremapAnon: grow in place, move (data preserved, old range
// unmapped, PTEs moved soft-dirty, one flush of the old range by
// move_ptes — plus free_pgtables' freed-tables flush when the old PTE
// table goes), fixed move, and shrink.
func TestMremapAnon(t *testing.T) {
	const base = 0x10000000
	cases := []struct {
		name       string
		guard      bool   // keep another VMA in the old range's 2 MiB span
		flags      uint64 // mremap flags
		newAddr    uint64
		oldPages   int
		newPages   int
		wantAt     uint64 // 0: anywhere else (moved by get_unmapped_area)
		wantFlush  uint64 // tlb_gen increments
		wantINVLPG uint64 // local single-page flushes
	}{
		{"grow in place", false, 0, 0, 4, 8, base, 0, 0},
		{"move", true, mremapMaymove, 0, 4, 8, 0, 1, 4},
		// The old range's unmap frees its PTE table: pte_free_tlb widens
		// the empty gather to the table's first page, one more INVLPG.
		{"fixed move frees table", false, mremapMaymove | mremapFixed, base + 0x400000, 4, 4, base + 0x400000, 2, 5},
		{"fixed move", true, mremapMaymove | mremapFixed, base + 0x400000, 4, 4, base + 0x400000, 1, 4},
		{"fixed move and shrink", true, mremapMaymove | mremapFixed, base + 0x400000, 4, 2, base + 0x400000, 2, 4},
		{"shrink", false, 0, 0, 4, 1, base, 1, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, mm := newMachineWith(t, 1, "5.10")
			runScripts(t, m, map[int]func(*VCPU){
				0: func(v *VCPU) {
					attach(v, mm, 0)
					mapFixedAnon(t, v, base, c.oldPages)
					if c.guard {
						// A VMA right after the range: blocks growth in place,
						// and keeps the PTE table when the range moves away.
						mapFixedAnon(t, v, base+uint64(c.oldPages)*4096, 1)
					}
					for i := 0; i < c.oldPages; i++ {
						putWords(t, v, base+uint64(i)*4096, uint64(100+i))
					}
					gen, one := mm.tlbGen, m.nrTLBLocalFlushOne
					r := v.sysMremap(base, uint64(c.oldPages)*4096, uint64(c.newPages)*4096, c.flags, c.newAddr)
					if r < 0 {
						t.Fatalf("mremap = %d", r)
					}
					na := uint64(r)
					if c.wantAt != 0 && na != c.wantAt || c.wantAt == 0 && na == base {
						t.Errorf("mremap = %#x, want %#x (0: moved)", na, c.wantAt)
					}
					if got := mm.tlbGen - gen; got != c.wantFlush {
						t.Errorf("flushes %d, want %d", got, c.wantFlush)
					}
					if got := m.nrTLBLocalFlushOne - one; got != c.wantINVLPG {
						t.Errorf("INVLPGs %d, want %d", got, c.wantINVLPG)
					}
					vma := mm.findVMA(na)
					if vma == nil || vma.start != na || vma.end != na+uint64(c.newPages)*4096 {
						t.Fatalf("VMA at %#x: %+v, want [%#x, +%d pages)", na, vma, na, c.newPages)
					}
					keep := min(c.oldPages, c.newPages)
					for i := 0; i < keep; i++ {
						a := na + uint64(i)*4096
						if na != base {
							if e := pte(m, mm, a); e&tlb.PteSoftDirty == 0 || m.pages[ptePFN(e)].mapcount != 1 {
								t.Errorf("moved PTE %#x: want soft-dirty, mapcount 1", e)
							}
						}
						if got := getWord(t, v, a); got != uint64(100+i) {
							t.Errorf("page %d reads %d, want %d", i, got, 100+i)
						}
					}
					if na != base {
						for i := 0; i < c.oldPages; i++ {
							a := base + uint64(i)*4096
							if mm.findVMA(a) != nil || !pteNone(pte(m, mm, a)) {
								t.Errorf("old page %d still mapped (PTE %#x)", i, pte(m, mm, a))
							}
						}
					}
					for i := keep; i < c.newPages; i++ { // grown part: fresh zero pages
						if got := getWord(t, v, na+uint64(i)*4096); got != 0 {
							t.Errorf("grown page %d reads %d, want 0", i, got)
						}
					}
					if c.newPages < c.oldPages && na == base {
						if mm.findVMA(base+uint64(c.newPages)*4096) != nil {
							t.Errorf("shrunk tail still mapped")
						}
					}
					detach(v)
				},
			})
		})
	}
}

// TestMremapErrors: the argument and VMA checks of mremap, in the order
// Linux makes them.
func TestMremapErrors(t *testing.T) {
	const base = 0x10000000
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			mapFixedAnon(t, v, base, 2)
			mapFixedAnon(t, v, base+2*4096, 1) // blocks growth in place
			cases := []struct {
				name                              string
				addr, oldLen, newLen, flags, newA uint64
				want                              int64
			}{
				{"unknown flag", base, 4096, 4096, 8, 0, -EINVAL},
				{"fixed without maymove", base, 4096, 4096, mremapFixed, base + 0x100000, -EINVAL},
				{"dontunmap", base, 4096, 4096, mremapMaymove | mremapDontunmap, 0, -EINVAL},
				{"unaligned addr", base + 1, 4096, 8192, 0, 0, -EINVAL},
				{"zero new_len", base, 4096, 0, 0, 0, -EINVAL},
				{"grow unmapped", base + 0x100000, 4096, 8192, mremapMaymove, 0, -EFAULT},
				{"grow across VMAs", base, 3 * 4096, 4 * 4096, mremapMaymove, 0, -EFAULT},
				{"grow blocked", base, 2 * 4096, 3 * 4096, 0, 0, -ENOMEM},
				{"fixed unaligned new", base, 4096, 4096, mremapMaymove | mremapFixed, base + 0x100001, -EINVAL},
				{"fixed overlap", base, 2 * 4096, 2 * 4096, mremapMaymove | mremapFixed, base + 4096, -EINVAL},
				{"fixed beyond TASK_SIZE", base, 4096, 8192, mremapMaymove | mremapFixed, taskSize - 4096, -EINVAL},
				{"shrink of nothing", base + 0x200000, 8192, 4096, 0, 0, base + 0x200000},
				{"same size", base, 4096, 4096, 0, 0, base},
			}
			for _, c := range cases {
				if got := v.sysMremap(c.addr, c.oldLen, c.newLen, c.flags, c.newA); got != c.want {
					t.Errorf("%s: mremap = %d, want %d", c.name, got, c.want)
				}
			}
			if len(mm.vmas) != 2 || mm.vmas[0].end != base+2*4096 {
				t.Errorf("failed mremaps changed the VMAs: %d VMAs", len(mm.vmas))
			}
			detach(v)
		},
	})
}

// TestMremapMemfd: moving and growing a shared memfd mapping keeps the
// file offset (vm_pgoff of the new VMA = old pgoff + offset in the VMA):
// the moved pages still are the cache pages, and the grown page maps the
// next file page.
func TestMremapMemfd(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			scratch := mmapAnon(t, v, 1)
			fd := memfd(t, v, scratch, 4*4096)
			pwriteWord(t, v, fd, scratch, 3*4096, 0x33)
			r := v.mmapFile(0x10000000, 2*4096, protRead|protWrite, mapShared|mapFixed, int64(fd), 4096)
			if r != 0x10000000 {
				t.Fatalf("mmap = %#x", r)
			}
			mapFixedAnon(t, v, 0x10000000+2*4096, 1) // blocks growth in place
			putWords(t, v, 0x10000000, 0x11)
			putWords(t, v, 0x10000000+4096, 0x22)
			s := mm.files[fd].shm
			na := v.sysMremap(0x10000000, 2*4096, 3*4096, mremapMaymove|mremapFixed, 0x20000000)
			if na != 0x20000000 {
				t.Fatalf("mremap = %#x", na)
			}
			a := uint64(na)
			for i, want := range []uint64{0x11, 0x22, 0x33} {
				if got := getWord(t, v, a+uint64(i)*4096); got != want {
					t.Errorf("page %d reads %#x, want %#x", i, got, want)
				}
				if e := pte(m, mm, a+uint64(i)*4096); ptePFN(e) != s.cache[uint64(i+1)] {
					t.Errorf("page %d PTE %#x: not cache page %d", i, e, i+1)
				}
			}
			if vma := mm.findVMA(a); vma.pgoff() != 1 || vma.file != s {
				t.Errorf("new VMA pgoff %d, want 1", vma.pgoff())
			}
			if got := preadWord(t, v, fd, scratch, 4096); got != 0x11 {
				t.Errorf("file page 1 = %#x, want 0x11", got)
			}
			// Growing past EOF maps nothing there: SIGBUS on touch.
			if r := v.sysMremap(a, 3*4096, 4*4096, 0, 0); r != int64(a) {
				t.Fatalf("grow in place = %#x", r)
			}
			v.mmapReadLock(mm)
			got := v.handleMMFault(mm.findVMA(a+3*4096), a+3*4096, faultFlagDefault|faultFlagUser)
			v.mmapReadUnlock(mm)
			if got != vmFaultSIGBUS {
				t.Errorf("fault past EOF after grow = %#x, want SIGBUS", got)
			}
			detach(v)
		},
	})
}

// TestMremapMoveShootsDownOtherCPU: a thread on another, non-lazy CPU has
// the old page in its TLB; the move flushes the old range with one IPI
// before mremap returns, so that CPU's next access to the old address
// misses and faults, and the new address reads the data.
func TestMremapMoveShootsDownOtherCPU(t *testing.T) {
	const base = 0x10000000
	m, mm := newMachineWith(t, 2, "5.10")
	ready, moved, done := false, false, false
	var na uint64
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			mapFixedAnon(t, v, base, 1)
			mapFixedAnon(t, v, base+4096, 1) // keeps the PTE table
			putWords(t, v, base, 42)
			ready = true
			waitUntil(v, v.c.Clock+5000)
			ipis := m.ipisSent
			r := v.sysMremap(base, 4096, 4096, mremapMaymove|mremapFixed, base+0x400000)
			if r != base+0x400000 {
				t.Errorf("mremap = %#x", r)
			}
			if got := m.ipisSent - ipis; got != 1 {
				t.Errorf("IPIs = %d, want 1", got)
			}
			na = uint64(r)
			moved = true
			for !done {
				v.spend(100)
			}
			detach(v)
		},
		1: func(v *VCPU) {
			for !ready {
				v.spend(100)
			}
			attach(v, mm, 1)
			if !userAccess(v, base, false) {
				t.Error("read of the old page failed")
			}
			for !moved {
				v.spend(100)
			}
			if _, _, pf := v.c.MMU.Translate(tlb.VirtAddr(base), tlb.Read); pf == 0 {
				t.Error("old address still translates on the other CPU after mremap returned")
			}
			if got := getWord(t, v, na); got != 42 {
				t.Errorf("new address reads %d, want 42", got)
			}
			done = true
			detach(v)
		},
	})
}
