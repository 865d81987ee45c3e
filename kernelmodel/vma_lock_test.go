package kernelmodel

import "testing"

// mmapWriteHolder is a CPU script that waits for *ready, takes mm's
// mmap_lock for write, runs during (if any), holds the lock 50,000 cycles
// more and records its clock at the release in *released.
func mmapWriteHolder(mm *MM, ready *bool, released *uint64, during func(*VCPU)) func(*VCPU) {
	return func(v *VCPU) {
		attach(v, mm, 1)
		for !*ready {
			busy(v, 100)
		}
		v.mmapWriteLock(mm)
		if during != nil {
			during(v)
		}
		busy(v, 50_000)
		*released = v.c.Clock
		v.mmapWriteUnlock(mm)
		detach(v)
	}
}

// TestPerVMALockFault: while CPU 0 holds mmap_lock for write (as mmap of
// another range would), CPU 1's write fault on a page of its own VMA, which
// already has an anon_vma, completes under the VMA's lock without waiting
// for the release with per-vma-lock, and after it without. With the VMA
// write-locked by CPU 0 (vma_start_write, as mprotect of it would), or on a
// VMA with no anon_vma yet (vmf_anon_prepare), the fault falls back to
// mmap_lock and waits.
func TestPerVMALockFault(t *testing.T) {
	for _, c := range []struct {
		name                   string
		patches                []Patch
		writeLockVMA, freshVMA bool
		beforeRelease          bool
		success, abort, retry  uint64
	}{
		{"5.10", nil, false, false, false, 0, 0, 0},
		// The first write fault of a VMA finds no anon_vma: a retry.
		{"per-vma", []Patch{PatchPerVMALock}, false, false, true, 1, 0, 1},
		{"per-vma, VMA write-locked", []Patch{PatchPerVMALock}, true, false, false, 0, 1, 1},
		{"per-vma, no anon_vma", []Patch{PatchPerVMALock}, false, true, false, 0, 0, 1},
	} {
		m, mm := newMachineWith(t, 2, "5.10-stable", c.patches...)
		var vmaB *VMA
		var b, released, faulted uint64
		ready := false
		runScripts(t, m, map[int]func(*VCPU){
			0: mmapWriteHolder(mm, &ready, &released, func(v *VCPU) {
				if c.writeLockVMA {
					v.vmaStartWrite(mm, vmaB)
				}
			}),
			1: func(v *VCPU) {
				attach(v, mm, 1)
				b = mmapAnon(t, v, 4)
				vmaB = mm.findVMA(b)
				if !c.freshVMA && !userAccess(v, b, true) { // the first write fault: anon_vma_prepare
					t.Fatal("first fault failed")
				}
				ready = true
				busy(v, 5_000)
				if !userAccess(v, b+4096, true) {
					t.Fatal("fault failed")
				}
				faulted = v.c.Clock
				detach(v)
			},
		})
		if got := faulted < released; got != c.beforeRelease {
			t.Errorf("%s: fault done at %d, release at %d: before the release %v, want %v", c.name, faulted, released, got, c.beforeRelease)
		}
		if m.vmaLockSuccess != c.success || m.vmaLockAbort != c.abort || m.vmaLockRetry != c.retry {
			t.Errorf("%s: vma_lock success/abort/retry %d/%d/%d, want %d/%d/%d", c.name,
				m.vmaLockSuccess, m.vmaLockAbort, m.vmaLockRetry, c.success, c.abort, c.retry)
		}
	}
}

// TestVMAStartWriteWaitsForReaders: vma_start_write waits until the
// readers already in the VMA leave, and the wait is counted as
// emu_vma_lock_wait_cycles, not as mmap_lock's.
func TestVMAStartWriteWaitsForReaders(t *testing.T) {
	m, mm := newMachineWith(t, 2, "5.10-stable", PatchPerVMALock)
	var vma *VMA
	var left, locked uint64
	in := false
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 1)
			vma = mm.findVMA(mmapAnon(t, v, 1))
			if !v.vmaStartRead(mm, vma) {
				t.Error("vma_start_read failed on an unlocked VMA")
			}
			in = true
			busy(v, 40_000)
			left = v.c.Clock
			v.vmaEndRead(vma)
			detach(v)
		},
		1: func(v *VCPU) {
			attach(v, mm, 1)
			for !in {
				busy(v, 100)
			}
			v.mmapWriteLock(mm)
			v.vmaStartWrite(mm, vma)
			locked = v.c.Clock
			if v.vmaStartRead(mm, vma) {
				t.Error("vma_start_read succeeded on a write-locked VMA")
			}
			v.mmapWriteUnlock(mm)
			if !v.vmaStartRead(mm, vma) {
				t.Error("vma_start_read failed after mmap_write_unlock")
			}
			v.vmaEndRead(vma)
			detach(v)
		},
	})
	if locked < left {
		t.Errorf("vma_start_write returned at %d, before the reader left at %d", locked, left)
	}
	if m.vmaLockWaitCycles < 30_000 || m.mmapLockWaitCycles != 0 {
		t.Errorf("VMA lock wait %d cycles, mmap_lock wait %d; want >= 30000 and 0", m.vmaLockWaitCycles, m.mmapLockWaitCycles)
	}
}

// TestMadviseVMALock: MADV_DONTNEED of a range inside one VMA runs while
// another CPU holds mmap_lock for write with madvise-vma-lock, and waits
// for it without; a range that leaves the VMA takes mmap_lock either way.
func TestMadviseVMALock(t *testing.T) {
	for _, c := range []struct {
		name          string
		patches       []Patch
		pages         uint64 // the madvise length, of a 2-page VMA
		beforeRelease bool
	}{
		{"mmap_lock", nil, 1, false},
		{"vma lock", []Patch{PatchMadviseVMALock}, 1, true},
		{"vma lock, range leaves the VMA", []Patch{PatchMadviseVMALock}, 3, false},
	} {
		m, mm := newMachineWith(t, 2, "5.10-stable", c.patches...)
		var released, done uint64
		var ret int64
		ready := false
		runScripts(t, m, map[int]func(*VCPU){
			0: mmapWriteHolder(mm, &ready, &released, nil),
			1: func(v *VCPU) {
				attach(v, mm, 1)
				a := mmapAnon(t, v, 2)
				userAccess(v, a, true)
				ready = true
				busy(v, 5_000)
				ret = v.sysMadvise(a, c.pages*4096, madvDontneed)
				done = v.c.Clock
				if pte(m, mm, a) != 0 {
					t.Errorf("%s: the page is still mapped after MADV_DONTNEED", c.name)
				}
				detach(v)
			},
		})
		if got := done < released; got != c.beforeRelease {
			t.Errorf("%s: madvise done at %d, release at %d: before the release %v, want %v (ret %d)", c.name, done, released, got, c.beforeRelease, ret)
		}
	}
}
