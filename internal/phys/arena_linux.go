package phys

import (
	"syscall"
	"unsafe"
)

// mapArena returns n zero frames in an anonymous private mapping that the
// host backs on first write (MAP_NORESERVE: untouched frames are not
// charged against the commit limit), and the function that unmaps it. If
// the mapping fails it falls back to the Go heap (makeArena).
func mapArena(n uint64) ([]Frame, func()) {
	b, err := syscall.Mmap(-1, 0, int(n*PageSize), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return makeArena(n), nil
	}
	// Back the arena with the host's transparent huge pages where it
	// allows them (THP "madvise" mode is common): a guest that touches
	// memory at random — a TLB study's usual workload — otherwise spends a
	// good part of the host's time on host TLB misses. The allocator hands
	// out frames densely from the bottom (Alloc) and the top (AllocHuge),
	// so this costs at most one partly used 2 MiB page at each end. Advice
	// only: an error leaves the small pages.
	_ = syscall.Madvise(b, syscall.MADV_HUGEPAGE)
	return unsafe.Slice((*Frame)(unsafe.Pointer(&b[0])), n), func() { _ = syscall.Munmap(b) }
}
