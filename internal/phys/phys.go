// Package phys owns guest-physical memory: 4 KiB frames, 8-byte atomic
// page-table-entry access, and the frame allocator.
//
// All frames live in one contiguous host arena, an anonymous private
// mapping of the whole guest-physical size (mmap(2) with MAP_NORESERVE on
// Linux): the host kernel backs a page only when it is first written, so a
// guest with a large physical address space costs host memory only for the
// frames it uses, and a never-touched frame reads as zeros. Frame p is
// arena[p], so a frame's backing store never moves, the frame of a PFN is
// one index (no atomic load) and the PFN of a *Frame is one subtraction
// (PFNOf), the same in every run. All vCPU goroutines share one Memory;
// entries that the hardware walker and the kernel model race on (PTEs) are
// accessed with LoadPTE/StorePTE/CompareAndSwapPTE, which are atomic, as the
// SDM requires for A/D updates (SDM Vol. 3A 4.8).
//
// Concurrency: the allocator (Alloc, Free) and the functional accessors
// (Read, Write) are called by one goroutine at a time (the kernel model's
// baton holder). Frame, PFNOf, Valid, the PTE accessors and the
// code-generation counters (MarkCode, HasCode, CodeGen, NoteCodeWrite) may
// be called by several vCPU goroutines at once, as they are in the kernel
// model's parallel phases: the first two only read the arena's bounds and
// the counters are atomic.
//
// Lifetime: a *Frame is valid while its Memory is reachable; once the
// Memory is not, a cleanup returns the arena to hostmem, which keeps it
// mapped for the next Memory of the same size.
package phys

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/tlbemu/emu/internal/hostmem"
)

// PageSize is the size of a frame in bytes.
const PageSize = 4096

// PageShift is log2(PageSize).
const PageShift = 12

// Addr is a guest-physical address.
type Addr uint64

// PFN is a guest-physical frame number (Addr >> PageShift).
type PFN uint64

// Addr returns the physical address of the first byte of the frame.
func (p PFN) Addr() Addr { return Addr(p) << PageShift }

// PFN returns the frame number holding a.
func (a Addr) PFN() PFN { return PFN(a >> PageShift) }

// Offset returns a's byte offset inside its frame.
func (a Addr) Offset() uint64 { return uint64(a) & (PageSize - 1) }

// Frame is the backing store of one 4 KiB guest-physical page. It is 4 KiB
// aligned (the arena is page aligned) so PTE words can be accessed
// atomically.
type Frame [PageSize]byte

// ErrOutOfMemory is returned when the frame allocator is exhausted.
var ErrOutOfMemory = errors.New("phys: out of guest-physical memory")

// ErrBadAddress is returned for a physical address past the end of memory.
var ErrBadAddress = errors.New("phys: address past the end of guest memory")

// Memory is guest-physical memory.
type Memory struct {
	frames []Frame // indexed by PFN: the arena
	base   uintptr // &frames[0]
	free   []PFN   // free list (LIFO), protected by the caller (kernel model runs one vCPU at a time)
	next   PFN     // next never-used frame
	inUse  int
	// Huge (2 MiB, 512-frame) blocks come from a separate region bumped
	// down from the top of memory; hugeLow is its lowest frame (len(frames)
	// until the first AllocHuge, so the small allocator is unchanged when
	// no huge page is ever allocated). hugeFree holds freed blocks.
	hugeLow  PFN
	hugeFree []PFN
	// codeGen counts stores to frames that hold decoded code, per frame, so
	// decode caches keyed by physical address can be invalidated (QEMU-style).
	// Both are atomic: vCPUs fetching from the same frame in a parallel phase
	// mark it concurrently. (Determinism does not rest on the atomics: in a
	// parallel phase only the vCPU that privately owns a frame writes to it,
	// so only it bumps the frame's generation, and nobody else reads it.)
	codeGen []atomic.Uint32
	hasCode []atomic.Bool
}

// New returns a guest-physical memory of size bytes (rounded down to frames).
// Frame 0 is reserved and never allocated, so PFN 0 can mean "none".
func New(size uint64) *Memory {
	n := size >> PageShift
	if n < 2 {
		n = 2
	}
	m := &Memory{next: 1, hugeLow: PFN(n)}
	// The arena and the per-frame tables are touched only where frames
	// are used (hostmem).
	m.frames = hostmem.Table[Frame](m, int(n), PageSize)
	m.base = uintptr(unsafe.Pointer(&m.frames[0]))
	m.codeGen = hostmem.Table[atomic.Uint32](m, int(n), 0)
	m.hasCode = hostmem.Table[atomic.Bool](m, int(n), 0)
	return m
}

// PFNOf returns the PFN of f, a frame of m (ok false for any other
// pointer).
func (m *Memory) PFNOf(f *Frame) (PFN, bool) {
	d := uintptr(unsafe.Pointer(f)) - m.base
	if f == nil || d >= uintptr(len(m.frames))*PageSize {
		return 0, false
	}
	return PFN(d >> PageShift), true
}

// Frames returns the number of frames of guest-physical memory.
func (m *Memory) Frames() uint64 { return uint64(len(m.frames)) }

// InUse returns the number of allocated frames.
func (m *Memory) InUse() int { return m.inUse }

// Alloc returns a zeroed frame.
func (m *Memory) Alloc() (PFN, error) {
	var p PFN
	if n := len(m.free); n > 0 {
		p = m.free[n-1]
		m.free = m.free[:n-1]
	} else {
		if m.next >= m.hugeLow {
			return 0, ErrOutOfMemory
		}
		p = m.next
		m.next++
	}
	m.frames[p] = Frame{} // a never-used frame may have been written functionally
	m.inUse++
	if m.hasCode[p].Load() {
		m.hasCode[p].Store(false)
		m.codeGen[p].Add(1)
	}
	return p, nil
}

// HugeFrames is the number of frames of a huge (2 MiB) block.
const HugeFrames = 512

// AllocHuge returns the first frame of 512 zeroed, contiguous frames
// aligned to 512 (a 2 MiB page). Blocks are taken from a region bumped down
// from the top of memory, never overlapping the small allocator's frames;
// freed blocks (FreeHuge) are reused first.
func (m *Memory) AllocHuge() (PFN, error) {
	var p PFN
	if n := len(m.hugeFree); n > 0 {
		p = m.hugeFree[n-1]
		m.hugeFree = m.hugeFree[:n-1]
	} else {
		low := m.hugeLow &^ (HugeFrames - 1)
		if low < HugeFrames || low-HugeFrames < m.next {
			return 0, ErrOutOfMemory
		}
		p = low - HugeFrames
		m.hugeLow = p
	}
	for i := PFN(0); i < HugeFrames; i++ {
		q := p + i
		m.frames[q] = Frame{}
		if m.hasCode[q].Load() {
			m.hasCode[q].Store(false)
			m.codeGen[q].Add(1)
		}
	}
	m.inUse += HugeFrames
	return p, nil
}

// FreeHuge returns a whole block from AllocHuge. (Frames of a block may
// instead be freed one by one with Free, after the block was split; they
// then join the small free list.)
func (m *Memory) FreeHuge(p PFN) {
	if p == 0 || p%HugeFrames != 0 || uint64(p)+HugeFrames > uint64(len(m.frames)) {
		panic(fmt.Sprintf("phys: free of bad huge block %#x", uint64(p)))
	}
	m.hugeFree = append(m.hugeFree, p)
	m.inUse -= HugeFrames
}

// Free returns a frame to the allocator.
func (m *Memory) Free(p PFN) {
	if p == 0 || uint64(p) >= uint64(len(m.frames)) {
		panic(fmt.Sprintf("phys: free of unallocated frame %#x", uint64(p)))
	}
	m.free = append(m.free, p)
	m.inUse--
}

// Frame returns the backing store of frame p, or nil if p is past the end of
// memory. A never-allocated frame inside memory reads as zeros.
func (m *Memory) Frame(p PFN) *Frame {
	if uint64(p) < uint64(len(m.frames)) {
		return &m.frames[p]
	}
	return nil
}

// Valid reports whether a lies inside guest-physical memory.
func (m *Memory) Valid(a Addr) bool { return uint64(a.PFN()) < uint64(len(m.frames)) }

func (m *Memory) word(a Addr) *uint64 {
	f := m.Frame(a.PFN())
	if f == nil {
		return nil
	}
	return (*uint64)(unsafe.Pointer(&f[a.Offset()&^7]))
}

// LoadPTE atomically reads the 8-byte entry at a (a must be 8-byte aligned and
// valid; an invalid a reads as 0, a non-present entry).
func (m *Memory) LoadPTE(a Addr) uint64 {
	w := m.word(a)
	if w == nil {
		return 0
	}
	return atomic.LoadUint64(w)
}

// StorePTE atomically writes the 8-byte entry at a.
func (m *Memory) StorePTE(a Addr, v uint64) error {
	w := m.word(a)
	if w == nil {
		return ErrBadAddress
	}
	atomic.StoreUint64(w, v)
	return nil
}

// SwapPTE atomically exchanges the entry at a (x86 xchg, as
// ptep_get_and_clear / ptep_modify_prot_start do).
func (m *Memory) SwapPTE(a Addr, v uint64) uint64 {
	w := m.word(a)
	if w == nil {
		return 0
	}
	return atomic.SwapUint64(w, v)
}

// CompareAndSwapPTE atomically replaces old by new at a (the hardware's locked
// A/D update).
func (m *Memory) CompareAndSwapPTE(a Addr, old, new uint64) bool {
	w := m.word(a)
	if w == nil {
		return false
	}
	return atomic.CompareAndSwapUint64(w, old, new)
}

// MarkCode records that frame p holds decoded instructions, so that a store to
// it bumps its code generation.
func (m *Memory) MarkCode(p PFN) {
	if uint64(p) < uint64(len(m.hasCode)) && !m.hasCode[p].Load() {
		m.hasCode[p].Store(true)
	}
}

// HasCode reports whether frame p holds decoded instructions.
func (m *Memory) HasCode(p PFN) bool {
	return uint64(p) < uint64(len(m.hasCode)) && m.hasCode[p].Load()
}

// CodeGen returns frame p's code generation.
func (m *Memory) CodeGen(p PFN) uint32 {
	if uint64(p) < uint64(len(m.codeGen)) {
		return m.codeGen[p].Load()
	}
	return 0
}

// NoteCodeWrite bumps frame p's code generation after a store to it.
func (m *Memory) NoteCodeWrite(p PFN) {
	if uint64(p) < uint64(len(m.codeGen)) {
		m.codeGen[p].Add(1)
	}
}

// Read copies len(b) bytes at a into b (functional access for the kernel model
// and loaders; it does not go through any TLB).
func (m *Memory) Read(a Addr, b []byte) error {
	for len(b) > 0 {
		f := m.Frame(a.PFN())
		if f == nil {
			return ErrBadAddress
		}
		n := copy(b, f[a.Offset():])
		b = b[n:]
		a += Addr(n)
	}
	return nil
}

// Write copies b to guest-physical memory at a (functional access).
func (m *Memory) Write(a Addr, b []byte) error {
	for len(b) > 0 {
		p := a.PFN()
		f := m.Frame(p)
		if f == nil {
			return ErrBadAddress
		}
		n := copy(f[a.Offset():], b)
		if m.hasCode[p].Load() {
			m.codeGen[p].Add(1)
		}
		b = b[n:]
		a += Addr(n)
	}
	return nil
}
