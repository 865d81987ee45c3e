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
	return unsafe.Slice((*Frame)(unsafe.Pointer(&b[0])), n), func() { _ = syscall.Munmap(b) }
}
