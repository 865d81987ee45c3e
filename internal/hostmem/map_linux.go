package hostmem

import "syscall"

// mapZero maps size bytes of zero memory that the host backs on first
// write (MAP_NORESERVE: untouched pages are not charged against the
// commit limit).
func mapZero(size uintptr) ([]byte, func(), bool) {
	b, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return nil, nil, false
	}
	return b, func() { _ = syscall.Munmap(b) }, true
}
