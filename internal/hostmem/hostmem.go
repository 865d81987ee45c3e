// Package hostmem provides large zeroed tables backed by host memory that
// is touched only where it is used: guest-physical memory and the tables
// indexed by every guest frame or decode-cache slot, of which a run uses
// a small part. On Linux a table is an anonymous private mapping
// (MAP_NORESERVE), so the host supplies zero pages on first write and
// nothing is cleared up front; the Go heap would clear the whole table
// whenever it reuses freed memory (runtime.memclrNoHeapPointers: 8 ms of
// every 100 ms benchmark run for struct page alone) and scan it if it held
// pointers.
package hostmem

import (
	"fmt"
	"reflect"
	"runtime"
	"unsafe"
)

// Table returns n zero values of T, aligned to align bytes (a power of
// two, at most the host page size; 0 or 1 for T's own alignment), and
// registers the release of their memory when owner becomes unreachable.
// T must hold no pointers: the garbage collector does not see memory
// outside its heap, so a pointer kept only there would not keep its
// object alive (Table panics for such a T).
func Table[T any, O any](owner *O, n int, align uintptr) []T {
	var zero T
	if t := reflect.TypeOf(zero); hasPointers(t) {
		panic(fmt.Sprintf("hostmem: %v holds pointers", t))
	}
	if n == 0 {
		return nil
	}
	size := uintptr(n) * unsafe.Sizeof(zero)
	if b, release, ok := mapZero(size); ok {
		runtime.AddCleanup(owner, func(f func()) { f() }, release)
		return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)
	}
	return heapTable[T](n, align)
}

// heapTable is Table's fallback: n zero values of T from the Go heap,
// aligned by over-allocating.
func heapTable[T any](n int, align uintptr) []T {
	var zero T
	if align <= unsafe.Alignof(zero) {
		return make([]T, n)
	}
	extra := int((align + unsafe.Sizeof(zero) - 1) / unsafe.Sizeof(zero))
	w := make([]T, n+extra)
	skip := (align - uintptr(unsafe.Pointer(&w[0]))%align) % align
	return unsafe.Slice((*T)(unsafe.Add(unsafe.Pointer(&w[0]), skip)), n)
}

// hasPointers reports whether a value of t holds a pointer the garbage
// collector must see.
func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	case reflect.Pointer, reflect.UnsafePointer, reflect.String, reflect.Slice, reflect.Map,
		reflect.Chan, reflect.Func, reflect.Interface:
		return true
	default:
		return false
	}
}
