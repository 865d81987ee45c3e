//go:build !linux

package hostmem

// mapZero is Linux-only; elsewhere tables come from the Go heap.
func mapZero(uintptr) ([]byte, func(), bool) { return nil, nil, false }
