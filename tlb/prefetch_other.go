//go:build !amd64

package tlb

import "unsafe"

// prefetch does nothing where no prefetch instruction is written for the
// host (prefetch_amd64.s).
func prefetch(p unsafe.Pointer) {}
