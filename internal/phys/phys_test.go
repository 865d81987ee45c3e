package phys

import (
	"sync"
	"testing"
	"unsafe"
)

// TestConcurrentFrameAndCodeGen: vCPU goroutines may ask for the same
// never-touched frame and mark and read code generations at the same time
// (run with -race).
func TestConcurrentFrameAndCodeGen(t *testing.T) {
	m := New(1 << 20)
	const workers = 8
	frames := make([]*Frame, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			frames[i] = m.Frame(7)
			m.MarkCode(3)
			if !m.HasCode(3) {
				t.Error("HasCode false after MarkCode")
			}
			_ = m.CodeGen(3)
			m.NoteCodeWrite(PFN(10 + i)) // private frames: one writer each
		})
	}
	wg.Wait()
	for i, f := range frames {
		if f == nil || f != frames[0] {
			t.Fatalf("worker %d got frame %p, worker 0 %p: racing readers disagree", i, f, frames[0])
		}
	}
	for i := range workers {
		if g := m.CodeGen(PFN(10 + i)); g != 1 {
			t.Errorf("frame %d: code generation %d, want 1", 10+i, g)
		}
	}
	if m.Frame(PFN(m.Frames())) != nil {
		t.Error("Frame past the end of memory is not nil")
	}
}

// TestPFNOf: the PFN of every frame is recovered from its pointer, the
// frames are 4 KiB aligned and read as zeros until written, and a pointer
// that is not a frame of the memory is refused.
func TestPFNOf(t *testing.T) {
	m := New(1 << 20)
	for p := PFN(0); uint64(p) < m.Frames(); p++ {
		f := m.Frame(p)
		if got, ok := m.PFNOf(f); !ok || got != p {
			t.Fatalf("PFNOf(Frame(%d)) = %d, %v", p, got, ok)
		}
		if uintptr(unsafe.Pointer(f))%PageSize != 0 {
			t.Fatalf("frame %d at %p: not 4 KiB aligned", p, f)
		}
		if *f != (Frame{}) {
			t.Fatalf("never-written frame %d is not zero", p)
		}
	}
	other := New(1 << 20)
	if _, ok := m.PFNOf(other.Frame(1)); ok {
		t.Error("PFNOf accepted another memory's frame")
	}
	if _, ok := m.PFNOf(nil); ok {
		t.Error("PFNOf accepted nil")
	}
}

// TestAllocResetsCode: a reallocated frame that held code gets a new code
// generation, so stale decoded instructions are never reused.
func TestAllocResetsCode(t *testing.T) {
	m := New(1 << 20)
	p, err := m.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	m.MarkCode(p)
	g := m.CodeGen(p)
	m.Free(p)
	q, err := m.Alloc()
	if err != nil || q != p {
		t.Fatalf("realloc got %d, %v; want %d", q, err, p)
	}
	if m.HasCode(q) || m.CodeGen(q) == g {
		t.Errorf("reallocated frame: hasCode %v, gen %d (was %d)", m.HasCode(q), m.CodeGen(q), g)
	}
}

func TestAllocHuge(t *testing.T) {
	m := New(8 << 20) // 2048 frames
	small, err := m.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	h, err := m.AllocHuge()
	if err != nil {
		t.Fatal(err)
	}
	if h%HugeFrames != 0 || h <= small || m.InUse() != 1+HugeFrames {
		t.Fatalf("AllocHuge = %#x (InUse %d)", h, m.InUse())
	}
	m.Frame(h + 7)[0] = 1
	m.FreeHuge(h)
	if m.InUse() != 1 {
		t.Fatalf("InUse after FreeHuge = %d", m.InUse())
	}
	h2, err := m.AllocHuge()
	if err != nil || h2 != h || m.Frame(h + 7)[0] != 0 {
		t.Fatalf("reuse: %#x %v, frame not zeroed", h2, err)
	}
	// Small allocations never enter the huge region.
	for {
		p, err := m.Alloc()
		if err != nil {
			break
		}
		if p >= h {
			t.Fatalf("small frame %#x inside the huge region %#x", p, h)
		}
	}
}
