package hostmem

import (
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// TestReleasedTableIsReusedZero: a table released by its owner's cleanup
// is handed to the next table of its size, zero again, and never
// unmapped (a stale pointer into it stays readable).
func TestReleasedTableIsReusedZero(t *testing.T) {
	if debugRelease {
		t.Skip("EMU_HOSTMEM_DEBUG: released tables are not reused")
	}
	const n = 3 << 20 // a size no other test uses
	o := &owner{}
	tab := Table[uint64](o, n, 0)
	tab[0], tab[n-1] = 7, 9
	stale := &tab[n-1]
	addr := uintptr(unsafe.Pointer(&tab[0]))
	tab, o = nil, nil
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		spare.Lock()
		ready := len(spare.bySize[n*8]) > 0
		spare.Unlock()
		if ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the owner's cleanup did not release its table")
		}
		time.Sleep(time.Millisecond)
	}
	if *stale != 0 {
		t.Fatalf("a released table reads %d, not zero", *stale)
	}
	o2 := &owner{}
	again := Table[uint64](o2, n, 0)
	if uintptr(unsafe.Pointer(&again[0])) != addr {
		t.Fatalf("the released mapping was not reused")
	}
	if again[0] != 0 || again[n-1] != 0 {
		t.Fatal("a reused table is not zero")
	}
	runtime.KeepAlive(o2)
}
