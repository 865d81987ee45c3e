//go:build amd64

package tlb

import "unsafe"

// prefetch asks the host to bring the cache line at p into its caches
// (PREFETCHT0: a hint with no architectural effect, AMD64 APM Vol. 3,
// PREFETCHlevel) and returns at once.
//
//go:noescape
func prefetch(p unsafe.Pointer)
