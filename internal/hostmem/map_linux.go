package hostmem

import (
	"os"
	"sync"
	"syscall"
)

// A released mapping is never unmapped: its pages go back to the host
// (MADV_DONTNEED, so it reads as zero again) and the mapping waits in
// spare for the next table of the same size. Unmapping would let the host
// hand the address range to something else, the Go runtime included,
// while a pointer into the old table may still sit in an object the
// collector scans, or be read by code that raced the cleanup; a kept
// mapping makes both harmless, and the address space in use stays bounded
// by the most tables alive at once.
var spare struct {
	sync.Mutex
	bySize map[uintptr][][]byte
}

// debugRelease (EMU_HOSTMEM_DEBUG=1) makes a released table inaccessible
// and never reused, so a use after release faults at the faulting access
// instead of reading zeros: the way to look for one (with GOGC=1).
var debugRelease = os.Getenv("EMU_HOSTMEM_DEBUG") != ""

// mapZero maps size bytes of zero memory that the host backs on first
// write (MAP_NORESERVE: untouched pages are not charged against the
// commit limit), reusing a released mapping of the same size.
func mapZero(size uintptr) ([]byte, func(), bool) {
	spare.Lock()
	var b []byte
	if l := spare.bySize[size]; len(l) > 0 {
		b = l[len(l)-1]
		spare.bySize[size] = l[:len(l)-1]
	}
	spare.Unlock()
	if b == nil {
		var err error
		b, err = syscall.Mmap(-1, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE,
			syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
		if err != nil {
			return nil, nil, false
		}
	}
	return b, func() { release(b) }, true
}

// release returns b's pages to the host and b to spare.
func release(b []byte) {
	if debugRelease {
		_ = syscall.Mprotect(b, syscall.PROT_NONE)
		_ = syscall.Madvise(b, syscall.MADV_DONTNEED)
		return
	}
	if syscall.Madvise(b, syscall.MADV_DONTNEED) != nil {
		return // cannot be made zero again: keep it out of use, mapped
	}
	spare.Lock()
	if spare.bySize == nil {
		spare.bySize = map[uintptr][][]byte{}
	}
	spare.bySize[uintptr(len(b))] = append(spare.bySize[uintptr(len(b))], b)
	spare.Unlock()
}
