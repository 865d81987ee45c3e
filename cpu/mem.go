package cpu

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

const (
	pageSize = phys.PageSize
	pageMask = pageSize - 1
)

// canonical reports whether va is canonical for 4-level paging.
func canonical(va uint64) bool { return tlb.VirtAddr(va).Canonical() }

// ea returns the linear address of u's memory operand (SDM Vol. 1 3.7.5):
// base + index<<scale + disp, truncated to 32 bits with an address-size
// prefix, plus the FS/GS base. RIP-relative addresses are relative to the
// next instruction.
func (c *CPU) ea(u *uop) uint64 {
	switch u.eak { // the common shapes, classified when cached (fast.go)
	case eaBaseDisp:
		return c.Regs.GPR[u.base&15] + uint64(u.disp)
	case eaBaseIndexDisp:
		return c.Regs.GPR[u.base&15] + c.Regs.GPR[u.index&15]<<u.scale + uint64(u.disp)
	case eaRIPDisp:
		return c.Regs.RIP + uint64(u.len) + uint64(u.disp)
	}
	a := uint64(u.disp)
	switch u.base {
	case regNone:
	case regRIP:
		a += c.Regs.RIP + uint64(u.len)
	default:
		a += c.Regs.GPR[u.base&15]
	}
	if u.index != regNone {
		a += c.Regs.GPR[u.index&15] << u.scale
	}
	if u.flags&uopAddr32 != 0 {
		a = uint64(uint32(a))
	}
	switch u.seg {
	case segFS:
		a += c.Regs.FSBase
	case segGS:
		a += c.Regs.GSBase
	}
	return a
}

// gp records a #GP(0) exit; addr is the offending address, if any.
func (c *CPU) gp(addr uint64) {
	c.exit = Exit{Kind: ExitGP, Addr: addr}
}

// xlate translates va for acc, charging the translation's extra cycles. On a
// fault it records the exit and returns nil. (Run, load and store inline it
// by hand on their hot paths.)
func (c *CPU) xlate(va uint64, acc tlb.Access) *phys.Frame {
	var f *phys.Frame
	var extra, pf uint32
	if c.Own == OwnOff {
		if f = c.hit(va, acc); f == nil {
			f, extra, pf = c.MMU.Translate(tlb.VirtAddr(va), acc)
		}
	} else {
		f, extra, pf = c.translateOwned(va, acc)
	}
	c.Clock += uint64(extra)
	if pf != 0 {
		c.xfault(va, pf)
		return nil
	}
	return f
}

// hit is MMU.Hit, or MMU.HitExec for a fetch.
func (c *CPU) hit(va uint64, acc tlb.Access) *phys.Frame {
	if acc == tlb.Exec {
		return c.MMU.HitExec(tlb.VirtAddr(va))
	}
	return c.MMU.Hit(tlb.VirtAddr(va), acc)
}

// xfault records the exit for a failed translation of va.
func (c *CPU) xfault(va uint64, pf uint32) {
	switch pf {
	case tlb.FaultGP: // non-canonical
		c.gp(va)
		return
	case faultSerialize:
		c.exit = Exit{Kind: ExitSerialize, Addr: va}
		return
	}
	c.exit = Exit{Kind: ExitPageFault, Addr: va, ErrCode: pf}
}

// noteWrite bumps the code generation of the frame behind va after a store
// to it, if it holds decoded instructions (self-modifying code).
func (c *CPU) noteWrite(f *phys.Frame, va uint64) {
	pfn := c.dataPFN
	if f != c.dataFrame {
		var ok bool
		if pfn, ok = c.Mem.PFNOf(f); !ok {
			return
		}
		c.dataFrame, c.dataPFN = f, pfn
	}
	if c.Mem.HasCode(pfn) {
		c.Mem.NoteCodeWrite(pfn)
		c.smc = true
		c.limit = 0 // ends the running block (runBlock)
	}
}

// readLE and writeLE access a 1-, 2-, 4- or 8-byte integer within one
// frame. Other sizes (10- and 16-byte operands) go through loadBytes and
// storeBytes; any other size here is an interpreter bug.
func readLE(f *phys.Frame, off uint64, size uint8) uint64 {
	switch size {
	case 1:
		return uint64(f[off&pageMask])
	case 2:
		return uint64(binary.LittleEndian.Uint16(f[off&pageMask:]))
	case 4:
		return uint64(binary.LittleEndian.Uint32(f[off&pageMask:]))
	case 8:
		return binary.LittleEndian.Uint64(f[off&pageMask:])
	}
	panic("cpu: readLE of a size that is not 1, 2, 4 or 8")
}

func writeLE(f *phys.Frame, off uint64, size uint8, v uint64) {
	switch size {
	case 1:
		f[off&pageMask] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(f[off&pageMask:], uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(f[off&pageMask:], uint32(v))
	case 8:
		binary.LittleEndian.PutUint64(f[off&pageMask:], v)
	default:
		panic("cpu: writeLE of a size that is not 1, 2, 4 or 8")
	}
}

// span is a translated memory range of up to one page: its bytes are
// f1[off:off+n1] followed, when it crosses a page boundary, by f2[:n-n1].
type span struct {
	f1, f2 *phys.Frame
	va     uint64
	n, n1  uint64
}

// translateSpan translates the n-byte range at va (1 <= n <= 4096) for acc,
// both pages before anything is accessed, so an instruction that faults on
// either has no architectural effect. A range that is non-canonical at
// either end raises #GP.
func (c *CPU) translateSpan(va, n uint64, acc tlb.Access) (span, bool) {
	off := va & pageMask
	if off+n <= pageSize {
		f := c.xlate(va, acc)
		return span{f1: f, va: va, n: n, n1: n}, f != nil
	}
	if !canonical(va) || !canonical(va+n-1) {
		c.gp(va)
		return span{}, false
	}
	f1 := c.xlate(va, acc)
	if f1 == nil {
		return span{}, false
	}
	f2 := c.xlate((va+pageSize)&^pageMask, acc)
	if f2 == nil {
		return span{}, false
	}
	return span{f1: f1, f2: f2, va: va, n: n, n1: pageSize - off}, true
}

// get copies the span's bytes into dst (len(dst) == s.n).
func (s *span) get(dst []byte) {
	off := s.va & pageMask
	copy(dst, s.f1[off:off+s.n1])
	if s.f2 != nil {
		copy(dst[s.n1:], s.f2[:s.n-s.n1])
	}
}

// put writes src (len(src) == s.n) into the span and notes the writes for
// decode-cache coherence.
func (c *CPU) put(s *span, src []byte) {
	off := s.va & pageMask
	copy(s.f1[off:off+s.n1], src)
	c.noteWrite(s.f1, s.va)
	if s.f2 != nil {
		copy(s.f2[:s.n-s.n1], src[s.n1:])
		c.noteWrite(s.f2, (s.va+pageSize)&^pageMask)
	}
}

// loadBytes reads len(dst) bytes (1-4096) at va: the memory path for
// operands that are not 1, 2, 4 or 8 bytes (m80, m128, FXSAVE areas).
func (c *CPU) loadBytes(va uint64, dst []byte) bool {
	s, ok := c.translateSpan(va, uint64(len(dst)), tlb.Read)
	if ok {
		s.get(dst)
	}
	return ok
}

// storeBytes writes src (1-4096 bytes) at va, translating everything first.
func (c *CPU) storeBytes(va uint64, src []byte) bool {
	s, ok := c.translateSpan(va, uint64(len(src)), tlb.Write)
	if ok {
		c.put(&s, src)
	}
	return ok
}

// load128 reads a 16-byte operand.
func (c *CPU) load128(va uint64) (XMM, bool) {
	var b [16]byte
	if !c.loadBytes(va, b[:]) {
		return XMM{}, false
	}
	return XMM{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}, true
}

// store128 writes a 16-byte operand.
func (c *CPU) store128(va uint64, x XMM) bool {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], x.Lo)
	binary.LittleEndian.PutUint64(b[8:], x.Hi)
	return c.storeBytes(va, b[:])
}

// load80 reads an m80 extended-precision operand.
func (c *CPU) load80(va uint64) (F80, bool) {
	var b [10]byte
	if !c.loadBytes(va, b[:]) {
		return F80{}, false
	}
	return F80{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint16(b[8:])}, true
}

// store80 writes an m80 extended-precision operand.
func (c *CPU) store80(va uint64, v F80) bool {
	var b [10]byte
	binary.LittleEndian.PutUint64(b[:8], v.Mant)
	binary.LittleEndian.PutUint16(b[8:], v.SExp)
	return c.storeBytes(va, b[:])
}

// load reads size bytes at va. On a fault it records the exit and returns
// false; nothing has been modified.
func (c *CPU) load(va uint64, size uint8) (uint64, bool) {
	if va&pageMask+uint64(size) > pageSize {
		return c.loadSplit(va, size)
	}
	// c.xlate, inlined by hand: this is the hottest data path.
	var f *phys.Frame
	var extra, pf uint32
	if c.memoRead(va) { // owner.go
		f = c.MMU.Hit(tlb.VirtAddr(va), tlb.Read)
	}
	if f == nil {
		if c.Own == OwnOff {
			f, extra, pf = c.MMU.Translate(tlb.VirtAddr(va), tlb.Read) // FaultGP for a non-canonical va
		} else {
			f, extra, pf = c.translateOwned(va, tlb.Read)
		}
	}
	c.Clock += uint64(extra)
	if pf != 0 {
		c.xfault(va, pf)
		return 0, false
	}
	return readLE(f, va, size), true
}

// loadSplit reads an operand that crosses a page boundary.
func (c *CPU) loadSplit(va uint64, size uint8) (uint64, bool) {
	sp, ok := c.translateSpan(va, uint64(size), tlb.Read)
	if !ok {
		return 0, false
	}
	r := wref{f1: sp.f1, f2: sp.f2, va: va, size: size}
	return r.read(), true
}

// wref is a translated, writable memory operand: both pages are translated
// (tlb.Write) before anything is written, so an instruction faults with no
// architectural effect.
type wref struct {
	f1, f2 *phys.Frame // f2 is nil unless the operand crosses a page boundary
	va     uint64
	size   uint8
}

// prepWrite translates the size-byte operand at va for writing.
func (c *CPU) prepWrite(va uint64, size uint8) (wref, bool) {
	sp, ok := c.translateSpan(va, uint64(size), tlb.Write)
	return wref{f1: sp.f1, f2: sp.f2, va: va, size: size}, ok
}

func (r *wref) read() uint64 {
	off := r.va & pageMask
	if r.f2 == nil {
		return readLE(r.f1, off, r.size)
	}
	var v uint64
	n := pageSize - off
	for i := uint64(0); i < uint64(r.size); i++ {
		var b byte
		if i < n {
			b = r.f1[off+i]
		} else {
			b = r.f2[i-n]
		}
		v |= uint64(b) << (8 * i)
	}
	return v
}

// commit writes v through r and notes the write for decode-cache coherence.
func (c *CPU) commit(r *wref, v uint64) {
	off := r.va & pageMask
	if r.f2 == nil {
		writeLE(r.f1, off, r.size, v)
		c.noteWrite(r.f1, r.va)
		return
	}
	n := pageSize - off
	for i := uint64(0); i < uint64(r.size); i++ {
		b := byte(v >> (8 * i))
		if i < n {
			r.f1[off+i] = b
		} else {
			r.f2[i-n] = b
		}
	}
	c.noteWrite(r.f1, r.va)
	c.noteWrite(r.f2, (r.va+pageSize)&^pageMask)
}

// store writes size bytes of v at va.
func (c *CPU) store(va uint64, size uint8, v uint64) bool {
	if va&pageMask+uint64(size) > pageSize {
		r, ok := c.prepWrite(va, size)
		if ok {
			c.commit(&r, v)
		}
		return ok
	}
	var f *phys.Frame // c.xlate, inlined by hand
	var extra, pf uint32
	if c.Own == OwnOff {
		if f = c.MMU.Hit(tlb.VirtAddr(va), tlb.Write); f == nil {
			f, extra, pf = c.MMU.Translate(tlb.VirtAddr(va), tlb.Write)
		}
	} else {
		f, extra, pf = c.translateOwned(va, tlb.Write)
	}
	c.Clock += uint64(extra)
	if pf != 0 {
		c.xfault(va, pf)
		return false
	}
	writeLE(f, va, size, v)
	c.noteWrite(f, va)
	return true
}

// splitLock serialises locked read-modify-writes that cannot be done with
// one host compare-and-swap (operands crossing an 8-byte word, CMPXCHG16B).
// Such an operation is atomic with respect to other split locks only.
var splitLock sync.Mutex

// word returns the aligned 8-byte word holding r's operand and the operand's
// bit offset in it, or nil if the operand crosses a word boundary.
func (r *wref) word() (*uint64, uint) {
	off := r.va & pageMask
	if r.f2 != nil || off&7+uint64(r.size) > 8 {
		return nil, 0
	}
	// Frames are allocated as []uint64 (phys.newFrame), so they are 8-byte
	// aligned and the word may be accessed atomically.
	return (*uint64)(unsafe.Pointer(&r.f1[off&^7])), uint(off&7) * 8
}

// rmw performs the read-modify-write of u on its memory destination at va
// with source src: it translates for writing, then applies c.compute. With
// uopLock it is atomic with respect to other vCPUs (a host CAS loop). It
// returns the old memory value.
func (c *CPU) rmw(u *uop, va, src uint64) (uint64, bool) {
	r, ok := c.prepWrite(va, u.size)
	if !ok {
		return 0, false
	}
	if u.flags&uopLock != 0 {
		if w, shift := r.word(); w != nil {
			m := sizeMask(u.size)
			saved := c.fl // compute reads CF (ADC, INC): retry from the same flags
			for {
				old := atomic.LoadUint64(w)
				cur := old >> shift & m
				nv, write := c.compute(u, cur, src)
				if !write {
					return cur, true
				}
				if atomic.CompareAndSwapUint64(w, old, old&^(m<<shift)|(nv&m)<<shift) {
					c.noteWrite(r.f1, va)
					return cur, true
				}
				c.fl = saved
			}
		}
		splitLock.Lock()
		cur := c.rmwPlain(u, &r, src)
		splitLock.Unlock()
		return cur, true
	}
	return c.rmwPlain(u, &r, src), true
}

func (c *CPU) rmwPlain(u *uop, r *wref, src uint64) uint64 {
	cur := r.read()
	if nv, write := c.compute(u, cur, src); write {
		c.commit(r, nv)
	}
	return cur
}
