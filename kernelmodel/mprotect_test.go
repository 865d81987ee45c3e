package kernelmodel

import (
	"testing"

	"github.com/tlbemu/emu/tlb"
)

// vmaLayout returns the VMAs of mm overlapping [lo, hi) as (start, end,
// access flags) triples relative to lo, in pages.
func vmaLayout(mm *MM, lo, hi uint64) [][3]uint64 {
	var out [][3]uint64
	for _, v := range mm.vmas {
		if v.end <= lo || v.start >= hi {
			continue
		}
		out = append(out, [3]uint64{(v.start - lo) / 4096, (v.end - lo) / 4096, v.flags & vmAccessFlags})
	}
	return out
}

func sameLayout(a, b [][3]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestMprotectSplitMergeAndFlush: mprotect(PROT_READ) of the middle of a
// mapping splits it in three and write-protects the two PTEs with one
// flush_tlb_range of two pages (deferred to the end of the range, with
// tlb_flush_pending raised meanwhile); mprotect(PROT_READ|PROT_WRITE) merges
// the VMAs back but leaves the private anonymous PTEs read-only, so the
// next store takes do_wp_page → wp_page_reuse.
func TestMprotectSplitMergeAndFlush(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			base := mmapAnon(t, v, 8)
			for i := uint64(0); i < 8; i++ {
				userAccess(v, base+i*4096, true)
			}
			v.lruAddDrain()
			one := m.nrTLBLocalFlushOne
			if r := v.sysMprotect(base+2*4096, 2*4096, protRead); r != 0 {
				t.Fatalf("mprotect R = %d", r)
			}
			if got, want := vmaLayout(mm, base, base+8*4096), [][3]uint64{{0, 2, VM_READ | VM_WRITE}, {2, 4, VM_READ}, {4, 8, VM_READ | VM_WRITE}}; !sameLayout(got, want) {
				t.Errorf("VMAs after mprotect R: %v, want %v", got, want)
			}
			for i := uint64(0); i < 8; i++ {
				e := pte(m, mm, base+i*4096)
				if ro := i == 2 || i == 3; pteWrite(e) == ro || e&tlb.PteD == 0 {
					t.Errorf("page %d: PTE %#x, read-only=%v wanted, D kept", i, e, ro)
				}
			}
			if got := m.nrTLBLocalFlushOne - one; got != 2 {
				t.Errorf("INVLPGs = %d, want 2 (flush_tlb_range of the two pages)", got)
			}
			if mm.tlbFlushPending != 0 || mm.revokeOps != 0 {
				t.Errorf("pending %d revokeOps %d after mprotect", mm.tlbFlushPending, mm.revokeOps)
			}
			if r := v.sysMprotect(base+2*4096, 2*4096, protRead|protWrite); r != 0 {
				t.Fatalf("mprotect RW = %d", r)
			}
			if got, want := vmaLayout(mm, base, base+8*4096), [][3]uint64{{0, 8, VM_READ | VM_WRITE}}; !sameLayout(got, want) {
				t.Errorf("VMAs after mprotect RW: %v, want %v (merged)", got, want)
			}
			if pteWrite(pte(m, mm, base+2*4096)) {
				t.Errorf("private anonymous PTE writable after mprotect RW; v5.10 keeps it read-only")
			}
			reuse := m.wpReuse
			userAccess(v, base+2*4096, true)
			if m.wpReuse != reuse+1 || !pteWrite(pte(m, mm, base+2*4096)) {
				t.Errorf("store after mprotect RW: wp_reuse += %d, PTE %#x", m.wpReuse-reuse, pte(m, mm, base+2*4096))
			}
			// An mprotect that changes nothing changes no PTE and flushes nothing.
			flushes := m.nrTLBLocalFlushOne + m.nrTLBLocalFlushAll
			if r := v.sysMprotect(base, 8*4096, protRead|protWrite); r != 0 || m.nrTLBLocalFlushOne+m.nrTLBLocalFlushAll != flushes {
				t.Errorf("no-op mprotect = %d, flushed %d", r, m.nrTLBLocalFlushOne+m.nrTLBLocalFlushAll-flushes)
			}
			detach(v)
		},
	})
}

// TestMprotectProtNone: PROT_NONE keeps the frame in a non-present
// _PAGE_PROTNONE PTE; an access is SIGSEGV-worthy (access_error); PROT_READ
// brings the same frame back, read-only.
func TestMprotectProtNone(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			base := mmapAnon(t, v, 1)
			userAccess(v, base, true)
			pfn := ptePFN(pte(m, mm, base))
			if r := v.sysMprotect(base, 4096, 0); r != 0 {
				t.Fatalf("mprotect NONE = %d", r)
			}
			e := pte(m, mm, base)
			if ptePresent(e) || !pteProtPresent(e) || ptePFN(e) != pfn {
				t.Errorf("PROT_NONE PTE %#x: want not present, PROTNONE, frame %#x", e, pfn)
			}
			if _, _, pf := v.c.MMU.Translate(tlb.VirtAddr(base), tlb.Read); pf == 0 {
				t.Errorf("read of a PROT_NONE page did not fault")
			}
			if r := v.sysMprotect(base, 4096, protRead); r != 0 {
				t.Fatalf("mprotect R = %d", r)
			}
			e = pte(m, mm, base)
			if !ptePresent(e) || pteWrite(e) || ptePFN(e) != pfn {
				t.Errorf("PTE after PROT_READ %#x: want present read-only frame %#x", e, pfn)
			}
			detach(v)
		},
	})
}

// TestMprotectErrors checks do_mprotect_pkey's errno for malformed calls;
// a hole stops the walk with ENOMEM after the VMAs before it changed.
func TestMprotectErrors(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			base := mmapAnon(t, v, 4)
			if v.sysMunmap(base+2*4096, 4096) != 0 {
				t.Fatal("munmap")
			}
			for _, c := range []struct {
				addr, len, prot uint64
				want            int64
			}{
				{base + 1, 4096, protRead, -EINVAL},
				{base, 0, protRead, 0},
				{base, 4096, 0x10, -EINVAL},
				{base, 4096, protGrowsdown | protGrowsup, -EINVAL},
				{base, 4096, protRead | protGrowsup, -EINVAL},
				{base, 4096, protRead | protGrowsdown, -EINVAL}, // not a VM_GROWSDOWN VMA
				{base, ^uint64(0) - base, protRead, -ENOMEM},    // wraps
				{0x1000, 4096, protRead, -ENOMEM},               // below every VMA
				{1 << 46, 4096, protRead, -ENOMEM},              // no VMA there
				{base, 4 * 4096, protRead, -ENOMEM},             // hole at page 2
				{base, 4096, protRead | protSem, 0},
			} {
				if got := v.sysMprotect(c.addr, c.len, c.prot); got != c.want {
					t.Errorf("mprotect(%#x, %#x, %#x) = %d, want %d", c.addr, c.len, c.prot, got, c.want)
				}
			}
			// The hole case changed pages 0-1 before failing.
			if vma := mm.findVMA(base + 4096); vma == nil || vma.flags&VM_WRITE != 0 {
				t.Errorf("pages before the hole not made read-only")
			}
			// A VMA that may not be written: EACCES for PROT_WRITE.
			vma := mm.findVMA(base + 3*4096)
			vma.flags &^= VM_MAYWRITE
			if got := v.sysMprotect(base+3*4096, 4096, protRead|protWrite); got != -EACCES {
				t.Errorf("mprotect(W) of a !VM_MAYWRITE VMA = %d, want -EACCES", got)
			}
			detach(v)
		},
	})
}

// TestProtectionMap checks vm_get_page_prot against x86-64's protection_map
// (arch/x86/include/asm/pgtable_types.h v5.10, __P000..__S111): every value,
// PAGE_NONE included, carries _PAGE_ACCESSED; private writable maps are
// PAGE_COPY (read-only until the write fault); NX unless VM_EXEC.
func TestProtectionMap(t *testing.T) {
	const (
		p, rw, us, a, nx = tlb.PteP, tlb.PteRW, tlb.PteUS, tlb.PteA, tlb.PteNX
	)
	none := pteProtNone | a
	readonly := p | us | a | nx
	readonlyExec := p | us | a
	copyNoexec := p | us | a | nx
	copyExec := p | us | a
	shared := p | rw | us | a | nx
	sharedExec := p | rw | us | a
	want := [16]uint64{
		// __P000..__P111 (index bits: VM_READ=1, VM_WRITE=2, VM_EXEC=4)
		none, readonly, copyNoexec, copyNoexec, readonlyExec, readonlyExec, copyExec, copyExec,
		// __S000..__S111
		none, readonly, shared, shared, readonlyExec, readonlyExec, sharedExec, sharedExec,
	}
	for i, w := range want {
		var flags uint64
		if i&1 != 0 {
			flags |= VM_READ
		}
		if i&2 != 0 {
			flags |= VM_WRITE
		}
		if i&4 != 0 {
			flags |= VM_EXEC
		}
		if i&8 != 0 {
			flags |= VM_SHARED
		}
		if got := vmGetPageProt(flags); got != w {
			t.Errorf("protection_map[%#x] (flags %#x) = %#x, want %#x", i, flags, got, w)
		}
	}
}
