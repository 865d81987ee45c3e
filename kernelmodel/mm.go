package kernelmodel

import (
	"sort"

	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// vm_flags bits (include/linux/mm.h, v5.10).
const (
	VM_READ         uint64 = 0x1
	VM_WRITE        uint64 = 0x2
	VM_EXEC         uint64 = 0x4
	VM_SHARED       uint64 = 0x8
	VM_MAYWRITE     uint64 = 0x20
	VM_GROWSDOWN    uint64 = 0x100
	VM_UFFD_MISSING uint64 = 0x200
	VM_UFFD_WP      uint64 = 0x1000
	VM_SOFTDIRTY    uint64 = 0x8000000
)

// VMA is a vm_area_struct: [start, end) with vm_flags.
type VMA struct {
	start, end uint64
	flags      uint64
	anon       bool
	name       string
	uffd       *userfaultCtx // vm_userfaultfd_ctx
	file       *shmemFile    // vm_file (memfd mappings; anon is false)
	// fileBias is vm_pgoff - vm_start>>PAGE_SHIFT: the file page index of
	// address 0, so splits and merges, which copy it, keep
	// linear_page_index right without adjusting it.
	fileBias int64
	// exeBias is p_offset/PAGE_SIZE - vm_start/PAGE_SIZE of an ELF
	// segment's VMA, for the offset /proc/self/maps shows.
	exeBias int64
	// image is the file contents of an ELF segment's VMA: the model maps
	// segments as populated anonymous pages (no page cache), so a page
	// that MADV_DONTNEED or munmap-and-refault dropped is refilled from
	// the image, as a private file mapping refaults from the file; the
	// page of address a holds the image at ((a>>12)+imageBias)<<12.
	image     *segmentImage
	imageBias int64
	heap      bool // created by brk
	// anonVMA reports whether Linux would have set vma->anon_vma:
	// anon_vma_prepare runs when the VMA gets its first anonymous page
	// (do_anonymous_page's write path, wp_page_copy, a private file
	// page's COW, UFFDIO_COPY, a THP fault), not for zero-page read
	// faults or shared mappings. copy_page_range skips VMAs without one.
	// Splits copy it; a merge keeps either's (is_mergeable_anon_vma).
	anonVMA bool
	vmLock  vmaLock // the per-VMA lock (vma_lock.go)
}

// segmentImage is a PT_LOAD segment's file bytes at their virtual address.
type segmentImage struct {
	vaddr uint64
	data  []byte
}

// fill copies the part of the image that falls in the page at va (in the
// segment's own address space) into f; the rest of f stays zero (bss).
func (im *segmentImage) fill(f []byte, va uint64) {
	lo, hi := max(va, im.vaddr), min(va+4096, im.vaddr+uint64(len(im.data)))
	if lo < hi {
		copy(f[lo-va:hi-va], im.data[lo-im.vaddr:hi-im.vaddr])
	}
}

// MM is an mm_struct.
type MM struct {
	id      int
	ctxID   uint64 // mm->context.ctx_id
	tlbGen  uint64 // mm->context.tlb_gen
	wpEpoch uint64 // UFFDIO_WRITEPROTECT calls so far (hazard detector: one missed fault per page per epoch)
	pgd     phys.PFN

	vmas     []*VMA // sorted by start
	mmapBase uint64
	gaps     gapCache // get_unmapped_area's search state (getUnmappedArea)

	mmapLock        rwsem    // mmap_lock
	vmaSeq          uint64   // mm_lock_seq: VMAs whose vmLock.seq equals it are write-locked (vma_lock.go)
	vmaSeqAt        uint64   // the clock of the last vma_end_write_all
	pageTableLock   spinlock // mm->page_table_lock
	tlbFlushPending int      // mm->tlb_flush_pending
	cpumask         []bool   // mm_cpumask
	nextTrimCPUMask uint64   // mm->context.next_trim_cpumask, jiffies (PatchCPUMaskTrim)
	users           int      // live threads
	files           []*file  // files_struct, shared by the threads
	brk, startBrk   uint64
	exe             string                 // the executable's path (/proc/self/exe)
	cwd             string                 // fs_struct's pwd, canonical ("" is "/"; path.go)
	argStart        uint64                 // arg_start, arg_end: the argument strings
	argEnd          uint64                 //
	envStart        uint64                 // env_start, env_end: the environment strings
	envEnd          uint64                 //
	startStack      uint64                 // start_stack: the initial RSP
	startCode       uint64                 // start_code, end_code, start_data, end_data
	endCode         uint64                 //
	startData       uint64                 //
	endData         uint64                 //
	cloexec         map[int]bool           // FD_CLOEXEC of the file-table slots
	sig             *sigHand               // signal dispositions and shared pending set
	rlim            [rlimNlimits][2]uint64 // signal->rlim, once rlimSet
	rlimSet         bool
	notDumpable     bool // PR_SET_DUMPABLE 0
	thpDisable      bool // PR_SET_THP_DISABLE (MMF_DISABLE_THP)

	// revokeOps counts kernel operations in progress that removed a right
	// from a PTE with a deferred flush (clear_refs, uffd-wp, mprotect): a
	// store through a stale entry during one is ordered before it.
	revokeOps int
	// movingPTEs counts mremap move_ptes calls between clearing old PTEs
	// and the flush of the old range: a store through a stale entry of
	// the old range is ordered before the mremap (the page moved intact).
	movingPTEs int
	dead       bool

	bc mmBroadcast // global ASID (global_asid.go)
}

// Page is a struct page.
type Page struct {
	refcount int32
	mapcount int32
	anon     bool
	locked   bool
	lru      bool
	ptl      spinlock // split PTE lock when the frame is a page table
	copying  int      // COW copies of this page in progress (hazard detector)
	copies   uint64   // COW copies of this page begun (hazard detector: which copy a store missed)
	gathered int32    // in a pending mmu_gather's page batch: unmapped, freed after the flush (hazard detector)
	thp      bool     // head of a 2 MiB transparent huge page (huge_memory.go)
	// exclusive is PG_anon_exclusive (6c287605fd56, v5.19): the page is
	// mapped by one process only. Set when a new anonymous page is
	// mapped, cleared when fork shares it (page_try_dup_anon_rmap), set
	// again by a reuse. Tracked on every kernel; only the anon-exclusive
	// and mprotect-writable patches read it.
	exclusive bool
	// The page's links on its LRU list (struct folio's lru list_head,
	// lru.go): lruList is 1 + the list (0: on none), lruPrev and lruNext
	// the neighbours (lruListHead: the list's head), lruWriter the CPU
	// that last wrote the links' cache line.
	lruPrev, lruNext phys.PFN
	lruWriter        lineWriter
	lruList          uint8
}

// pageAddNewAnonRmap models page_add_new_anon_rmap (v5.10; v6.18's
// folio_add_new_anon_rmap with RMAP_EXCLUSIVE): a new anonymous page,
// mapped once and exclusive to this process.
func (m *Machine) pageAddNewAnonRmap(p phys.PFN) {
	pg := &m.pages[p]
	pg.anon, pg.mapcount, pg.exclusive = true, 1, true
}

func (m *Machine) allocPage() (phys.PFN, error) {
	p, err := m.mem.Alloc()
	if err != nil {
		return 0, err
	}
	m.pages[p] = Page{refcount: 1}
	return p, nil
}

func (m *Machine) getPage(p phys.PFN) { m.pages[p].refcount++ }

func (m *Machine) putPage(p phys.PFN) {
	pg := &m.pages[p]
	pg.refcount--
	if pg.refcount == 0 && pg.lruList != 0 {
		m.lru.unlink(m, p) // freed off the LRU outside release_pages (not costed)
	}
	if pg.refcount == 0 && pg.thp {
		pg.thp = false
		m.mem.FreeHuge(p) // free_transhuge_page
	} else if pg.refcount == 0 {
		m.mem.Free(p)
	}
}

func (m *Machine) newMM() (*MM, error) {
	pgd, err := m.allocPage()
	if err != nil {
		return nil, err
	}
	m.nextCtx++
	mm := &MM{id: len(m.mms) + 1, ctxID: m.nextCtx, pgd: pgd, vmaSeq: 1, mmapBase: 0x7f00_0000_0000, cpumask: make([]bool, m.cfg.CPUs)}
	initNextTrimCPUMask(mm, 0) // exec (Load) runs at jiffies 0; dupMM sets its own
	mm.mmapLock.name = "mmap_lock"
	mm.pageTableLock.name = lockPageTable
	m.mms = append(m.mms, mm)
	return mm, nil
}

// findVMA returns the VMA containing addr (find_vma + start check).
func (mm *MM) findVMA(addr uint64) *VMA {
	i := sort.Search(len(mm.vmas), func(i int) bool { return mm.vmas[i].end > addr })
	if i < len(mm.vmas) && mm.vmas[i].start <= addr {
		return mm.vmas[i]
	}
	return nil
}

func (mm *MM) insertVMA(v *VMA) {
	i := sort.Search(len(mm.vmas), func(i int) bool { return mm.vmas[i].start >= v.start })
	mm.vmas = append(mm.vmas, nil)
	copy(mm.vmas[i+1:], mm.vmas[i:])
	mm.vmas[i] = v
}

// free reports whether [start, end) overlaps no VMA.
func (mm *MM) free(start, end uint64) bool {
	for _, v := range mm.vmas {
		if v.start < end && start < v.end {
			return false
		}
	}
	return true
}

// gapCache makes getUnmappedArea's top-down search start where the last
// one ended, as Linux 2.6's free_area_cache/cached_hole_size did, so that
// a process making tens of thousands of mappings costs linear host time.
// Invariant while valid: no gap between addr and mmapBase is larger than
// hole. Adding or growing VMAs only shrinks gaps and keeps it; removing
// or shrinking one (detachVMAs, exit_mmap) invalidates it. The answers are
// those of the full search: it only skips gaps that are too small.
type gapCache struct {
	valid bool
	addr  uint64 // the top of the gap the last search chose
	hole  uint64 // the largest gap above addr (and below mmapBase)
}

// getUnmappedArea finds a free range of length bytes top-down below mmapBase
// (arch_get_unmapped_area_topdown → vm_unmapped_area): the highest gap
// that fits, or 0.
func (mm *MM) getUnmappedArea(length uint64) uint64 {
	hi := mm.mmapBase
	hole := uint64(0)
	top := len(mm.vmas) - 1
	if c := mm.gaps; c.valid && length > c.hole {
		// No gap above c.addr fits: resume the search there.
		hi, hole = c.addr, c.hole
		top = sort.Search(len(mm.vmas), func(i int) bool { return mm.vmas[i].start >= hi }) - 1
	}
	for i := top; i >= -1; i-- {
		lo := uint64(0x10000)
		if i >= 0 {
			lo = mm.vmas[i].end
		}
		if i >= 0 && mm.vmas[i].start >= hi {
			continue
		}
		if hi >= lo+length {
			// Resume at the top of this gap, not at the new mapping: the
			// caller may yet fail before inserting it (mremap's map count).
			mm.gaps = gapCache{valid: true, addr: hi, hole: hole}
			return hi - length
		}
		if hi > lo {
			hole = max(hole, hi-lo)
		}
		if i >= 0 && mm.vmas[i].start < hi {
			hi = mm.vmas[i].start
		}
	}
	mm.gaps = gapCache{}
	return 0
}

// vmPageProt returns the PTE protection bits of a VMA (vm_get_page_prot on
// x86-64 with NX): private writable mappings map read-only until written
// (copy-on-write); user bit always set. Every protection_map value carries
// _PAGE_ACCESSED (PAGE_READONLY, PAGE_COPY, PAGE_SHARED and their _EXEC
// forms, arch/x86/include/asm/pgtable_types.h v5.10, __P000..__S111), so a
// PTE made from it (mk_pte) is born young and the first access through it
// needs no accessed-bit update by the page walker.
func vmPageProt(flags uint64) uint64 {
	prot := tlb.PteP | tlb.PteUS | tlb.PteA
	if flags&(VM_READ|VM_WRITE|VM_EXEC) == 0 {
		return 0 // PROT_NONE: not modelled as a present PTE
	}
	if flags&VM_WRITE != 0 && flags&VM_SHARED != 0 {
		prot |= tlb.PteRW
	}
	if flags&VM_EXEC == 0 {
		prot |= tlb.PteNX
	}
	return prot
}

// Page-table entry helpers named after the kernel's (arch/x86/include/asm/pgtable.h).
func pteNone(e uint64) bool                { return e == 0 }
func ptePresent(e uint64) bool             { return e&tlb.PteP != 0 }
func pteWrite(e uint64) bool               { return e&tlb.PteRW != 0 }
func ptePFN(e uint64) phys.PFN             { return phys.PFN(tlb.PTEPFN(e)) }
func pteMkdirty(e uint64) uint64           { return e | tlb.PteD | tlb.PteSoftDirty }
func pteMkyoung(e uint64) uint64           { return e | tlb.PteA }
func pteMkwrite(e uint64) uint64           { return e | tlb.PteRW }
func pteWrprotect(e uint64) uint64         { return e &^ tlb.PteRW }
func pteUffdWP(e uint64) bool              { return e&tlb.PteUffdWP != 0 }
func mkPTE(p phys.PFN, prot uint64) uint64 { return uint64(p.Addr()) | prot }

// Upper-level entries are always present, writable and user (the leaf decides).
const tableEntry = tlb.PteP | tlb.PteRW | tlb.PteUS | tlb.PteA

// pteOffsetAlloc walks pgd→pud→pmd for addr, allocating missing tables
// (__pud_alloc/__pmd_alloc/__pte_alloc under mm->page_table_lock), and
// returns the physical address of the PTE slot and the frame of the PTE
// table (whose struct page holds the split PTE lock).
func (v *VCPU) pteOffsetAlloc(mm *MM, addr uint64) (phys.Addr, phys.PFN, error) {
	m := v.m
	table := mm.pgd
	for level := 4; level >= 2; level-- {
		ea := table.Addr() + phys.Addr(tlb.VirtAddr(addr).Index(level)*8)
		e := m.mem.LoadPTE(ea)
		if level == 2 && e&tlb.PtePS != 0 {
			v.splitHugePMD(mm, addr) // THP: a huge PMD is not a page table
			e = m.mem.LoadPTE(ea)
		}
		if e&tlb.PteP == 0 {
			p, err := m.allocPage()
			if err != nil {
				return 0, 0, err
			}
			v.spend(m.cfg.Costs.AllocPage)
			v.spinLock(&mm.pageTableLock)
			if e2 := m.mem.LoadPTE(ea); e2&tlb.PteP != 0 {
				m.putPage(p) // raced: someone else populated it
				e = e2
			} else {
				e = uint64(p.Addr()) | tableEntry
				m.mem.StorePTE(ea, e)
			}
			v.spinUnlock(&mm.pageTableLock)
		}
		table = ptePFN(e)
	}
	return table.Addr() + phys.Addr(tlb.VirtAddr(addr).Index(1)*8), table, nil
}

// pteOffset looks up the PTE slot for addr without allocating; ok is false
// if an upper level is missing.
func (m *Machine) pteOffset(mm *MM, addr uint64) (phys.Addr, phys.PFN, bool) {
	table := mm.pgd
	for level := 4; level >= 2; level-- {
		e := m.mem.LoadPTE(table.Addr() + phys.Addr(tlb.VirtAddr(addr).Index(level)*8))
		if e&tlb.PteP == 0 || level == 2 && e&tlb.PtePS != 0 {
			return 0, 0, false
		}
		table = ptePFN(e)
	}
	return table.Addr() + phys.Addr(tlb.VirtAddr(addr).Index(1)*8), table, true
}

// ptlOf returns the split PTE lock of the PTE table in frame pt (pte_lockptr).
func (m *Machine) ptlOf(pt phys.PFN) *spinlock { return &m.pages[pt].ptl }
