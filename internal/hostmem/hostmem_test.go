package hostmem

import (
	"reflect"
	"runtime"
	"testing"
	"unsafe"
)

type owner struct{ x int }

// TestTable: a table is zero, writable, aligned, of the asked length, on
// both the mapped and the heap path.
func TestTable(t *testing.T) {
	type rec struct {
		a uint64
		b int32
		c [3]bool
	}
	for _, heap := range []bool{false, true} {
		o := &owner{}
		var tab []rec
		if heap {
			tab = heapTable[rec](1000, 4096)
		} else {
			tab = Table[rec](o, 1000, 4096)
		}
		if len(tab) != 1000 || uintptr(unsafe.Pointer(&tab[0]))%4096 != 0 {
			t.Fatalf("heap=%v: len %d, address %p", heap, len(tab), &tab[0])
		}
		for i := range tab {
			if tab[i] != (rec{}) {
				t.Fatalf("heap=%v: entry %d not zero", heap, i)
			}
			tab[i].a = uint64(i)
		}
		if tab[999].a != 999 {
			t.Fatal("write lost")
		}
		runtime.KeepAlive(o)
	}
}

// TestTableRefusesPointers: a type the garbage collector must scan is
// refused, whatever hides the pointer.
func TestTableRefusesPointers(t *testing.T) {
	type inner struct{ s string }
	type outer struct {
		n int
		i [2]inner
	}
	for name, f := range map[string]func(){
		"pointer": func() { Table[*int](&owner{}, 1, 0) },
		"string":  func() { Table[string](&owner{}, 1, 0) },
		"nested":  func() { Table[outer](&owner{}, 1, 0) },
		"slice":   func() { Table[[]byte](&owner{}, 1, 0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	if hasPointers(reflect.TypeOf([0]*int{})) {
		t.Error("a zero-length array of pointers holds none")
	}
}
