package cpu

import (
	"encoding/binary"

	"github.com/tlbemu/emu/tlb"
)

// FXSAVE/FXRSTOR (SDM Vol. 2 FXSAVE, Vol. 1 10.5.1 Tables 10-2 and 10-3):
// the 512-byte legacy area. The 64-bit forms (REX.W) store FIP and FDP as
// 64-bit offsets; the others store their low 32 bits with a zero FCS/FDS
// selector. Bytes 416-511 are left alone; the reserved bytes of each ST slot
// are written as zero.

const fxsaveSize = 512

func (c *CPU) fxArea(u *uop, acc tlb.Access) (span, bool) {
	va := c.ea(u)
	if !c.aligned16(va) {
		return span{}, false
	}
	return c.translateSpan(va, fxsaveSize, acc)
}

func execFxsave(c *CPU, u *uop) stepResult {
	s, ok := c.fxArea(u, tlb.Write)
	if !ok {
		return stepFault
	}
	var b [fxsaveSize]byte
	s.get(b[:]) // keep bytes 416-511
	putFXSave(b[:], &c.Regs, u.ssize == 8)
	c.put(&s, b[:])
	return stepOK
}

func execFxrstor(c *CPU, u *uop) stepResult {
	s, ok := c.fxArea(u, tlb.Read)
	if !ok {
		return stepFault
	}
	var b [fxsaveSize]byte
	s.get(b[:])
	if !getFXSave(b[:], &c.Regs, u.ssize == 8) {
		c.gp(0)
		return stepFault
	}
	return stepOK
}

// FXSaveSize is the size of the FXSAVE image.
const FXSaveSize = fxsaveSize

// PutFXSave writes the FXSAVE image of r's x87 and SSE state to
// buf[:FXSaveSize] in the 64-bit layout (FXSAVE64: 64-bit FIP and FDP), as
// the instruction does; bytes 416-511 are left as they are. (The kernel
// model's signal frames use it for the fpstate.)
func PutFXSave(buf []byte, r *Regs) { putFXSave(buf, r, true) }

// GetFXSave loads r's x87 and SSE state from the FXSAVE image
// buf[:FXSaveSize] in the 64-bit layout, as FXRSTOR64 does. It returns
// false, with r unchanged, when the image's MXCSR sets a bit outside
// MXCSRMask, where FXRSTOR raises #GP(0).
func GetFXSave(buf []byte, r *Regs) bool { return getFXSave(buf, r, true) }

// putFXSave writes the image; wide selects the REX.W layout.
func putFXSave(b []byte, r *Regs, wide bool) {
	b = b[:fxsaveSize]
	x := &r.X87
	le := binary.LittleEndian
	le.PutUint16(b[0:], x.FCW)
	le.PutUint16(b[2:], x.FSW)
	b[4], b[5] = x.FTW, 0
	le.PutUint16(b[6:], x.FOP&0x7FF)
	if wide {
		le.PutUint64(b[8:], x.FIP)
		le.PutUint64(b[16:], x.FDP)
	} else {
		le.PutUint32(b[8:], uint32(x.FIP))
		le.PutUint32(b[12:], 0)
		le.PutUint32(b[16:], uint32(x.FDP))
		le.PutUint32(b[20:], 0)
	}
	le.PutUint32(b[24:], r.MXCSR)
	le.PutUint32(b[28:], MXCSRMask)
	for i := uint8(0); i < 8; i++ {
		v := x.st(i)
		o := 32 + 16*int(i)
		le.PutUint64(b[o:], v.Mant)
		le.PutUint16(b[o+8:], v.SExp)
		clear(b[o+10 : o+16])
	}
	for i := range 16 {
		le.PutUint64(b[160+16*i:], r.XMM[i].Lo)
		le.PutUint64(b[168+16*i:], r.XMM[i].Hi)
	}
}

// getFXSave loads the image; wide selects the REX.W layout. False, with r
// unchanged, for an MXCSR with reserved bits set.
func getFXSave(b []byte, r *Regs, wide bool) bool {
	b = b[:fxsaveSize]
	le := binary.LittleEndian
	mxcsr := le.Uint32(b[24:])
	if mxcsr&^MXCSRMask != 0 {
		return false
	}
	x := &r.X87
	x.FCW = le.Uint16(b[0:])
	x.FSW = le.Uint16(b[2:])
	x.FTW = b[4]
	x.FOP = le.Uint16(b[6:]) & 0x7FF
	if wide {
		x.FIP = le.Uint64(b[8:])
		x.FDP = le.Uint64(b[16:])
	} else {
		x.FIP = uint64(le.Uint32(b[8:]))
		x.FDP = uint64(le.Uint32(b[16:]))
	}
	r.MXCSR = mxcsr
	for i := uint8(0); i < 8; i++ {
		o := 32 + 16*int(i)
		x.ST[x.phys(i)] = F80{le.Uint64(b[o:]), le.Uint16(b[o+8:])}
	}
	for i := range 16 {
		r.XMM[i] = XMM{le.Uint64(b[160+16*i:]), le.Uint64(b[168+16*i:])}
	}
	return true
}
