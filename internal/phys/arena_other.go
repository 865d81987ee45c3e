//go:build !linux

package phys

// mapArena returns n zero frames from the Go heap (makeArena); only the
// Linux build maps them lazily.
func mapArena(n uint64) ([]Frame, func()) { return makeArena(n), nil }
