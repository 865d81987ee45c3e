package kernelmodel

// VMA bookkeeping shared by mprotect, madvise and userfaultfd: the parts of
// mm/mmap.c (v5.10) that change the attributes of part of a VMA —
// vma_merge, __split_vma and find_vma. Callers hold mmap_lock for write.

// More vm_flags bits (include/linux/mm.h, v5.10).
const (
	VM_MAYREAD    uint64 = 0x10
	VM_MAYEXEC    uint64 = 0x40
	VM_MAYSHARE   uint64 = 0x80
	VM_PFNMAP     uint64 = 0x400
	VM_LOCKED     uint64 = 0x2000
	VM_IO         uint64 = 0x4000
	VM_SEQ_READ   uint64 = 0x8000
	VM_RAND_READ  uint64 = 0x10000
	VM_DONTCOPY   uint64 = 0x20000
	VM_DONTEXPAND uint64 = 0x40000
	VM_ACCOUNT    uint64 = 0x100000
	VM_NORESERVE  uint64 = 0x200000
	VM_HUGETLB    uint64 = 0x400000
	VM_WIPEONFORK uint64 = 0x2000000
	VM_DONTDUMP   uint64 = 0x4000000
	VM_MIXEDMAP   uint64 = 0x10000000
	VM_HUGEPAGE   uint64 = 0x20000000
	VM_NOHUGEPAGE uint64 = 0x40000000
	VM_MERGEABLE  uint64 = 0x80000000

	// VM_SPECIAL: mappings that are never merged (include/linux/mm.h).
	VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP
	// vmAccessFlags is VM_ACCESS_FLAGS.
	vmAccessFlags = VM_READ | VM_WRITE | VM_EXEC
)

// sysctlMaxMapCount is the default vm.max_map_count (DEFAULT_MAX_MAP_COUNT).
const sysctlMaxMapCount = 65530

// mmapMinAddr is the default vm.mmap_min_addr on x86-64 distributions.
const mmapMinAddr = 0x10000

// isCOWMapping models is_cow_mapping: private and may be written.
func isCOWMapping(flags uint64) bool { return flags&(VM_SHARED|VM_MAYWRITE) == VM_MAYWRITE }

// vmaIsAnonymous models vma_is_anonymous: the model's anonymous VMAs, except
// the ELF segments exec maps (file-backed in Linux, vm_file set) and shared
// anonymous mappings (shmem in Linux).
func vmaIsAnonymous(vma *VMA) bool { return vma.anon && vma.name != "elf" && vma.flags&VM_SHARED == 0 }

// vmaFileBacked reports whether Linux would have vma->vm_file set: the ELF
// segments (the model populates them eagerly as anonymous pages), shared
// anonymous mappings (shmem files) and memfd mappings (filemap.go).
func vmaFileBacked(vma *VMA) bool {
	return vma.name == "elf" || vma.flags&VM_SHARED != 0 || vma.file != nil
}

// findVMAAbove models find_vma: the first VMA that ends above addr, which may
// start above it. nil if there is none.
func (mm *MM) findVMAAbove(addr uint64) *VMA {
	for _, v := range mm.vmas {
		if v.end > addr {
			return v
		}
	}
	return nil
}

// vmaIndex returns the index of vma in mm.vmas, or -1.
func (mm *MM) vmaIndex(vma *VMA) int {
	for i, v := range mm.vmas {
		if v == vma {
			return i
		}
	}
	return -1
}

// vmaMergeable models is_mergeable_vma + is_mergeable_anon_vma for two
// VMAs that would become one: vm_flags equal but for VM_SOFTDIRTY, the same
// userfaultfd context, the same backing. anon_vma compatibility is not
// modelled: adjacent anonymous VMAs are always anon_vma-compatible here
// (the model's mmap never merges, so two neighbours usually come from one
// mapping, whose pieces share one anon_vma in Linux).
func vmaMergeable(a *VMA, flags uint64, uffd *userfaultCtx, b *VMA) bool {
	return (a.flags^flags)&^VM_SOFTDIRTY == 0 && flags&VM_SPECIAL == 0 &&
		a.uffd == uffd && a.anon == b.anon && a.name == b.name &&
		a.file == b.file && a.fileBias == b.fileBias
}

// vmaModify gives the part [start, end) of vma (which must lie inside it)
// the attributes flags and uffd, as mprotect_fixup, madvise_behavior and
// userfaultfd_register/unregister do: vma_merge with the neighbour that
// ends at start or begins at end when compatible (mm/mmap.c vma_merge, cases
// 1-8), otherwise __split_vma at start and end. It returns the VMA that now
// covers [start, end), or -ENOMEM when a split would pass vm.max_map_count
// (split_vma's check).
//
// Preconditions:
//   - mmap_lock held for write.
func (mm *MM) vmaModify(vma *VMA, start, end, flags uint64, uffd *userfaultCtx) (*VMA, int64) {
	i := mm.vmaIndex(vma)
	var prev, next *VMA
	if i > 0 && mm.vmas[i-1].end == start && start == vma.start {
		prev = mm.vmas[i-1]
	}
	if i+1 < len(mm.vmas) && mm.vmas[i+1].start == end && end == vma.end {
		next = mm.vmas[i+1]
	}
	mergePrev := prev != nil && vmaMergeable(prev, flags, uffd, vma)
	mergeNext := next != nil && vmaMergeable(next, flags, uffd, vma)
	switch {
	case mergePrev && mergeNext && start == vma.start && end == vma.end:
		// case 1/6: prev, vma and next become one.
		prev.end = next.end
		prev.anonVMA = prev.anonVMA || vma.anonVMA || next.anonVMA
		mm.vmas = append(mm.vmas[:i], mm.vmas[i+2:]...)
		prev.flags = flags
		return prev, 0
	case mergePrev:
		// cases 2/5/7: prev grows over [start, end).
		prev.end = end
		prev.anonVMA = prev.anonVMA || vma.anonVMA
		if end == vma.end {
			mm.vmas = append(mm.vmas[:i], mm.vmas[i+1:]...)
		} else {
			vma.start = end
		}
		prev.flags = flags
		return prev, 0
	case mergeNext:
		// cases 3/4/8: next grows back over [start, end).
		next.start = start
		next.anonVMA = next.anonVMA || vma.anonVMA
		if start == vma.start {
			mm.vmas = append(mm.vmas[:i], mm.vmas[i+1:]...)
		} else {
			vma.end = start
		}
		next.flags = flags
		return next, 0
	}
	if start != vma.start {
		if len(mm.vmas) >= sysctlMaxMapCount {
			return nil, -ENOMEM
		}
		vma = mm.splitVMA(vma, start)
	}
	if end != vma.end {
		if len(mm.vmas) >= sysctlMaxMapCount {
			return nil, -ENOMEM
		}
		mm.splitVMA(vma, end)
	}
	vma.flags = flags
	vma.uffd = uffd
	return vma, 0
}

// splitVMA models __split_vma: vma keeps [vma.start, addr) and a copy
// covering [addr, vma.end) is inserted after it, which is returned.
func (mm *MM) splitVMA(vma *VMA, addr uint64) *VMA {
	n := *vma
	n.start = addr
	vma.end = addr
	mm.insertVMA(&n)
	return &n
}
