package kernelmodel

import (
	"fmt"
	"slices"
	"testing"
)

// TestAnonExclusiveReuse checks do_wp_page's reuse rule on both kernels
// for a fresh anonymous page still in this CPU's LRU pagevec (refcount 2:
// the mapping and the pagevec) that clear_refs write-protected: 5.10-stable
// reuses only at page_count 1 (09854ba94c6a), so it copies; v6.18 reuses
// it, the page being PageAnonExclusive (6c287605fd56). After a fork the
// page is shared and no longer exclusive, and v6.18 copies too.
func TestAnonExclusiveReuse(t *testing.T) {
	for _, tc := range []struct {
		kernel         string
		copies, reuses uint64 // of the write fault after clear_refs
		forkCopies     uint64 // of the parent's write fault after fork
	}{
		{"5.10-stable", 1, 0, 1}, // 5.10's clear_refs leaves the writable entry cached: no fault at all
		{"6.18", 0, 1, 1},
	} {
		t.Run(tc.kernel, func(t *testing.T) {
			m, mm := newMachineWith(t, 1, tc.kernel)
			runScripts(t, m, map[int]func(*VCPU){
				0: func(v *VCPU) {
					attach(v, mm, 0)
					a := mmapAnon(t, v, 1)
					userAccess(v, a, true)
					if pg := pageOf(m, mm, a); pg.refcount != 2 || !pg.exclusive {
						t.Fatalf("fresh page: refcount %d exclusive %v, want 2 (pagevec) and exclusive", pg.refcount, pg.exclusive)
					}
					if r := v.clearRefsWrite([]byte("4")); r != 1 {
						t.Fatalf("clear_refs: %d", r)
					}
					copies, reuses := m.wpCopy, m.wpReuse
					userAccess(v, a, true)
					if got := [2]uint64{m.wpCopy - copies, m.wpReuse - reuses}; got != [2]uint64{tc.copies, tc.reuses} {
						t.Errorf("write fault after clear_refs: copies, reuses = %v, want %d, %d", got, tc.copies, tc.reuses)
					}
					v.lruAddDrain()
					v.sysFork()
					c := m.tasks[len(m.tasks)-1]
					c.home.runq = slices.DeleteFunc(c.home.runq, func(x *Task) bool { return x == c }) // the child never runs
					if pg := pageOf(m, mm, a); pg.exclusive {
						t.Error("page still exclusive after fork shared it")
					}
					copies = m.wpCopy
					userAccess(v, a, true)
					if got := m.wpCopy - copies; got != tc.forkCopies {
						t.Errorf("write fault after fork: copies %d, want %d", got, tc.forkCopies)
					}
					detach(v)
				},
			})
		})
	}
}

// TestMprotectWritable checks 64fe24a3e05e (v6.0, in 6.18): after
// mprotect(PROT_READ) and mprotect(PROT_READ|PROT_WRITE) an exclusive
// anonymous page is writable at once, so the next store takes no fault;
// v5.10 leaves it read-only (vm_page_prot is the COW protection) and the
// store takes do_wp_page. With soft-dirty tracking armed (clear_refs
// cleared VM_SOFTDIRTY and the PTE's soft-dirty bit) v6.18 keeps it
// read-only too: the write fault is what sets soft-dirty.
func TestMprotectWritable(t *testing.T) {
	for _, tc := range []struct {
		kernel    string
		softDirty bool
		faults    uint64
	}{
		{"5.10", false, 1},
		{"6.18", false, 0},
		{"6.18", true, 1},
	} {
		t.Run(fmt.Sprintf("%s/softdirty=%v", tc.kernel, tc.softDirty), func(t *testing.T) {
			m, mm := newMachineWith(t, 1, tc.kernel)
			runScripts(t, m, map[int]func(*VCPU){
				0: func(v *VCPU) {
					attach(v, mm, 0)
					a := mmapAnon(t, v, 1)
					userAccess(v, a, true)
					if tc.softDirty {
						v.clearRefsWrite([]byte("4"))
						userAccess(v, a, false)
					}
					if r := v.sysMprotect(a, 4096, protRead); r != 0 {
						t.Fatalf("mprotect RO: %d", r)
					}
					if r := v.sysMprotect(a, 4096, protRead|protWrite); r != 0 {
						t.Fatalf("mprotect RW: %d", r)
					}
					if got := pteWrite(pte(m, mm, a)); got != (tc.faults == 0) {
						t.Errorf("PTE writable after mprotect RW: %v, want %v", got, tc.faults == 0)
					}
					faults := m.pgfault
					userAccess(v, a, true)
					if got := m.pgfault - faults; got != tc.faults {
						t.Errorf("faults of the store after mprotect RW: %d, want %d", got, tc.faults)
					}
					detach(v)
				},
			})
		})
	}
}
