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
	if va&15 != 0 {
		c.gp(0)
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
	x := &c.Regs.X87
	le := binary.LittleEndian
	le.PutUint16(b[0:], x.FCW)
	le.PutUint16(b[2:], x.FSW)
	b[4], b[5] = x.FTW, 0
	le.PutUint16(b[6:], x.FOP&0x7FF)
	if u.ssize == 8 {
		le.PutUint64(b[8:], x.FIP)
		le.PutUint64(b[16:], x.FDP)
	} else {
		le.PutUint32(b[8:], uint32(x.FIP))
		le.PutUint32(b[12:], 0)
		le.PutUint32(b[16:], uint32(x.FDP))
		le.PutUint32(b[20:], 0)
	}
	le.PutUint32(b[24:], c.Regs.MXCSR)
	le.PutUint32(b[28:], MXCSRMask)
	for i := uint8(0); i < 8; i++ {
		v := x.st(i)
		o := 32 + 16*int(i)
		le.PutUint64(b[o:], v.Mant)
		le.PutUint16(b[o+8:], v.SExp)
		clear(b[o+10 : o+16])
	}
	for i := range 16 {
		le.PutUint64(b[160+16*i:], c.Regs.XMM[i].Lo)
		le.PutUint64(b[168+16*i:], c.Regs.XMM[i].Hi)
	}
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
	le := binary.LittleEndian
	mxcsr := le.Uint32(b[24:])
	if mxcsr&^MXCSRMask != 0 {
		c.gp(0)
		return stepFault
	}
	x := &c.Regs.X87
	x.FCW = le.Uint16(b[0:])
	x.FSW = le.Uint16(b[2:])
	x.FTW = b[4]
	x.FOP = le.Uint16(b[6:]) & 0x7FF
	if u.ssize == 8 {
		x.FIP = le.Uint64(b[8:])
		x.FDP = le.Uint64(b[16:])
	} else {
		x.FIP = uint64(le.Uint32(b[8:]))
		x.FDP = uint64(le.Uint32(b[16:]))
	}
	c.Regs.MXCSR = mxcsr
	for i := uint8(0); i < 8; i++ {
		o := 32 + 16*int(i)
		x.ST[x.phys(i)] = F80{le.Uint64(b[o:]), le.Uint16(b[o+8:])}
	}
	for i := range 16 {
		c.Regs.XMM[i] = XMM{le.Uint64(b[160+16*i:]), le.Uint64(b[168+16*i:])}
	}
	return stepOK
}
