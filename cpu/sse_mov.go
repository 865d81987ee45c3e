package cpu

import (
	"golang.org/x/arch/x86/x86asm"

	"github.com/tlbemu/emu/tlb"
)

// XMM and MMX data moves (SDM Vol. 2 MOVD/MOVQ, MOVDQA, MOVDQU, MOVAPS,
// MOVUPS, MOVAPD, MOVUPD, LDDQU, MOVNTDQ, MOVNTPS, MOVNTPD, MOVNTI, MOVNTQ,
// MOVNTDQA, MOVSS, MOVSD, MOVLPS/MOVLPD, MOVHPS/MOVHPD, MOVHLPS, MOVLHPS,
// MOVQ2DQ, MOVDQ2Q, MASKMOVDQU, MASKMOVQ), and CLFLUSH. Non-temporal hints
// have no architectural effect: the stores are ordinary stores.

// MovHalf sub bits: which 64-bit half is read and written, or a 32-bit
// merge (MOVSS register form).
const (
	halfSrcHi uint8 = 1 << iota // source is the high quadword of an XMM register
	halfDstHi                   // destination is the high quadword
	half32                      // merge only bits 31:0 (MOVSS xmm, xmm)
)

// hMov128 moves 16 bytes between XMM registers and memory; sseAlign marks
// the forms that raise #GP(0) on a misaligned address.
func hMov128(c *CPU, u *uop) stepResult {
	if u.dk == kindMem {
		va := c.ea(u)
		if u.flags&sseAlign != 0 && !c.aligned16(va) {
			return stepFault
		}
		if !c.store128(va, c.Regs.XMM[u.r1&15]) {
			return stepFault
		}
		return stepOK
	}
	s, ok := c.sseSrc(u)
	if !ok {
		return stepFault
	}
	c.Regs.XMM[u.r0&15] = s
	return stepOK
}

// hMovLo moves the low u.ssize bytes (4 or 8) of the source to the
// destination, zero-extended into an XMM, MMX or general register:
// MOVD/MOVQ, MOVSS/MOVSD with memory, MOVQ2DQ/MOVDQ2Q, MOVNTI, MOVNTQ.
func hMovLo(c *CPU, u *uop) stepResult {
	if u.dk == kindMem {
		var v uint64
		switch u.sk {
		case kindXMM:
			v = c.Regs.XMM[u.r1&15].Lo
		case kindMMX:
			v = c.mmx(u.r1)
		default:
			v = c.reg(u.r1, u.ssize)
		}
		if !c.store(c.ea(u), u.ssize, v&sizeMask(u.ssize)) {
			return stepFault
		}
		if u.sk == kindMMX {
			c.mmxEnter()
		}
		return stepOK
	}
	s, ok := c.sseSrc(u)
	if !ok {
		return stepFault
	}
	v := s.Lo & sizeMask(u.ssize)
	switch u.dk {
	case kindXMM:
		c.Regs.XMM[u.r0&15] = XMM{Lo: v}
	case kindMMX:
		c.setMMX(u.r0, v)
	default:
		c.setReg(u.r0, 8, v)
	}
	return stepOK
}

// hMovHalf moves a quadword (or, with half32, a doubleword) between halves
// of XMM registers and memory, leaving the rest of the destination alone.
func hMovHalf(c *CPU, u *uop) stepResult {
	var v uint64
	switch u.sk {
	case kindXMM:
		x := c.Regs.XMM[u.r1&15]
		v = x.Lo
		if u.sub&halfSrcHi != 0 {
			v = x.Hi
		}
	default:
		var ok bool
		if v, ok = c.load(c.ea(u), 8); !ok {
			return stepFault
		}
	}
	if u.dk == kindMem {
		if !c.store(c.ea(u), 8, v) {
			return stepFault
		}
		return stepOK
	}
	d := &c.Regs.XMM[u.r0&15]
	switch {
	case u.sub&half32 != 0:
		d.Lo = d.Lo&^0xFFFFFFFF | v&0xFFFFFFFF
	case u.sub&halfDstHi != 0:
		d.Hi = v
	default:
		d.Lo = v
	}
	return stepOK
}

// hMaskmov stores the bytes of the first operand whose mask byte (second
// operand) has its top bit set at DS:rDI (MASKMOVDQU, MASKMOVQ). The whole
// range is translated for writing first, so a fault leaves memory
// unchanged; unselected bytes are not written.
func hMaskmov(c *CPU, u *uop) stepResult {
	var d, m XMM
	n := uint64(16)
	if u.dk == kindMMX {
		d, m, n = XMM{Lo: c.mmx(u.r0)}, XMM{Lo: c.mmx(u.r1)}, 8
	} else {
		d, m = c.Regs.XMM[u.r0&15], c.Regs.XMM[u.r1&15]
	}
	va := c.Regs.GPR[RDI]
	if u.flags&uopAddr32 != 0 {
		va = uint64(uint32(va))
	}
	s, ok := c.translateSpan(va, n, tlb.Write)
	if !ok {
		return stepFault
	}
	off := s.va & pageMask
	for i := range n {
		if elem(m, 1, int(i))&0x80 == 0 {
			continue
		}
		v := byte(elem(d, 1, int(i)))
		if i < s.n1 {
			s.f1[off+i] = v
		} else {
			s.f2[i-s.n1] = v
		}
	}
	c.noteWrite(s.f1, s.va)
	if s.f2 != nil {
		c.noteWrite(s.f2, (s.va+pageSize)&^pageMask)
	}
	if u.dk == kindMMX {
		c.mmxEnter()
	}
	return stepOK
}

// hClflush: the line flush has no architectural effect on data; the
// address is checked (and translated) like a one-byte read, so an
// unmapped line faults as it does on hardware (SDM Vol. 2 CLFLUSH).
func hClflush(c *CPU, u *uop) stepResult {
	if _, ok := c.load(c.ea(u), 1); !ok {
		return stepFault
	}
	return stepOK
}

// alignedMov are the 16-byte moves that require an aligned memory operand.
var alignedMov = map[x86asm.Op]bool{
	x86asm.MOVDQA: true, x86asm.MOVAPS: true, x86asm.MOVAPD: true, x86asm.MOVNTDQ: true,
	x86asm.MOVNTPS: true, x86asm.MOVNTPD: true, x86asm.MOVNTDQA: true,
}

// movOperands sets u's destination and source for a two-operand move,
// rejecting memory-to-memory.
func movOperands(u *uop, inst *x86asm.Inst) bool {
	if nargs(inst) != 2 {
		return false
	}
	if _, ok := setDstOp(u, inst, inst.Args[0]); !ok {
		return false
	}
	_, ok := setSrcOp(u, inst, inst.Args[1])
	return ok && u.dk != kindST && u.sk != kindST
}

func trMov128(u *uop, inst *x86asm.Inst) bool {
	if !movOperands(u, inst) {
		return false
	}
	u.op, u.ssize = opMov128, 16
	if (u.dk != kindXMM && u.dk != kindMem) || (u.sk != kindXMM && u.sk != kindMem) {
		return false
	}
	if (u.dk == kindMem || u.sk == kindMem) && inst.MemBytes != 16 {
		return false
	}
	if alignedMov[inst.Op] {
		u.flags |= sseAlign
	}
	return true
}

// trMovLo translates MOVD, MOVQ, MOVQ2DQ, MOVDQ2Q, MOVNTI, MOVNTQ and
// the memory forms of MOVSS and MOVSD.
func trMovLo(u *uop, inst *x86asm.Inst) bool {
	if !movOperands(u, inst) {
		return false
	}
	u.op = opMovLo
	switch inst.Op {
	case x86asm.MOVSS, x86asm.MOVSD_XMM:
		if u.dk == kindXMM && u.sk == kindXMM {
			u.op, u.sub = opMovHalf, 0
			if inst.Op == x86asm.MOVSS {
				u.sub = half32
			}
			return true
		}
	}
	var sz uint8 = 8
	for _, a := range inst.Args[:2] {
		if _, rsz, ok := gpr(a); ok {
			sz = rsz
		}
		if _, ok := a.(x86asm.Mem); ok {
			sz = uint8(inst.MemBytes)
		}
	}
	if sz != 4 && sz != 8 {
		return false
	}
	u.ssize = sz
	if inst.Op == x86asm.MOVNTI {
		return u.dk == kindMem && u.sk == kindReg
	}
	vec := func(k uint8) bool { return k == kindXMM || k == kindMMX }
	return vec(u.dk) || vec(u.sk)
}

var halfSub = map[x86asm.Op]uint8{
	x86asm.MOVLPS: 0, x86asm.MOVLPD: 0, x86asm.MOVHLPS: halfSrcHi, x86asm.MOVLHPS: halfDstHi,
}

// trMovHalf translates MOVLPS/MOVLPD, MOVHPS/MOVHPD, MOVHLPS and MOVLHPS.
func trMovHalf(u *uop, inst *x86asm.Inst) bool {
	if !movOperands(u, inst) {
		return false
	}
	u.op, u.ssize = opMovHalf, 8
	u.sub = halfSub[inst.Op]
	if inst.Op == x86asm.MOVHPS || inst.Op == x86asm.MOVHPD {
		if u.dk == kindMem {
			u.sub = halfSrcHi // MOVHPS m64, xmm
		} else {
			u.sub = halfDstHi // MOVHPS xmm, m64
		}
	}
	if (u.dk != kindXMM && u.dk != kindMem) || (u.sk != kindXMM && u.sk != kindMem) {
		return false
	}
	if (u.dk == kindMem || u.sk == kindMem) && inst.MemBytes != 8 {
		return false
	}
	switch inst.Op {
	case x86asm.MOVHLPS, x86asm.MOVLHPS:
		return u.dk == kindXMM && u.sk == kindXMM
	}
	return u.dk == kindMem || u.sk == kindMem
}

func trMaskmov(u *uop, inst *x86asm.Inst) bool {
	if !movOperands(u, inst) {
		return false
	}
	u.op = opMaskmov
	if inst.Op == x86asm.MASKMOVQ {
		return u.dk == kindMMX && u.sk == kindMMX
	}
	return u.dk == kindXMM && u.sk == kindXMM
}

func trClflush(u *uop, inst *x86asm.Inst) bool {
	m, ok := inst.Args[0].(x86asm.Mem)
	if !ok || !setMem(u, m) {
		return false
	}
	u.op, u.dk = opClflush, kindMem
	return true
}

func init() {
	defOp(opMov128, "mov128", hMov128)
	defOp(opMovLo, "movlo", hMovLo)
	defOp(opMovHalf, "movhalf", hMovHalf)
	defOp(opMaskmov, "maskmov", hMaskmov)
	defOp(opClflush, "clflush", hClflush)
	defTranslator(trMov128, x86asm.MOVDQA, x86asm.MOVDQU, x86asm.MOVAPS, x86asm.MOVUPS, x86asm.MOVAPD,
		x86asm.MOVUPD, x86asm.LDDQU, x86asm.MOVNTDQ, x86asm.MOVNTPS, x86asm.MOVNTPD, x86asm.MOVNTDQA)
	defTranslator(trMovLo, x86asm.MOVD, x86asm.MOVQ, x86asm.MOVQ2DQ, x86asm.MOVDQ2Q, x86asm.MOVNTI,
		x86asm.MOVNTQ, x86asm.MOVSS, x86asm.MOVSD_XMM)
	defTranslator(trMovHalf, x86asm.MOVLPS, x86asm.MOVLPD, x86asm.MOVHPS, x86asm.MOVHPD, x86asm.MOVHLPS,
		x86asm.MOVLHPS)
	defTranslator(trMaskmov, x86asm.MASKMOVDQU, x86asm.MASKMOVQ)
	defTranslator(trClflush, x86asm.CLFLUSH)
}
