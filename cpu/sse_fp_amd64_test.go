//go:build amd64

package cpu

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// Differential tests of the SSE floating-point instructions against this
// machine's CPU: every form in fpInsns runs natively and in the interpreter
// from the same random state (operands drawn half from a pool of special
// values), in all four rounding modes with DAZ and FTZ on and off, with
// register and memory operands; all XMM registers, MXCSR, the GPRs, the
// status flags and the memory buffer must agree.

// Operand roles in an fpInsn.
const (
	foX   uint8 = iota // XMM register
	foR                // 32-bit GPR
	foR64              // 64-bit GPR (REX.W)
	foNone
	foM // MMX register
)

// fpInsn is one instruction form: legacy prefix, escape bytes, opcode, and
// what ModRM.reg and ModRM.rm name.
type fpInsn struct {
	name   string
	op     x86asm.Op // what x86asm must decode it as
	pfx    byte      // 0, 0x66, 0xF2 or 0xF3
	esc    []byte    // 0F, 0F 38 or 0F 3A
	opc    byte
	imm    bool
	mem    uint8 // memory operand size (0: register form only)
	reg    uint8 // role of ModRM.reg
	rm     uint8 // role of ModRM.rm (register form)
	esz    uint8 // lane size of the operands, for the value generator
	approx bool  // RCP/RSQRT: compared with tolerance
	rmDst  bool  // ModRM.rm is the destination (EXTRACTPS)
	modReg uint8 // fixed ModRM.reg (LDMXCSR /2, STMXCSR /3) when reg == foNone
}

var (
	esc0F   = []byte{0x0F}
	esc0F38 = []byte{0x0F, 0x38}
	esc0F3A = []byte{0x0F, 0x3A}
)

func fpInsnTable() []fpInsn {
	var t []fpInsn
	xx := func(name string, op x86asm.Op, pfx byte, esc []byte, opc byte, imm bool, mem, esz uint8) {
		t = append(t, fpInsn{name: name, op: op, pfx: pfx, esc: esc, opc: opc, imm: imm, mem: mem, reg: foX, rm: foX, esz: esz})
	}
	type ar struct {
		base string
		opc  byte
		ops  [4]x86asm.Op
	}
	for _, a := range []ar{
		{"add", 0x58, [4]x86asm.Op{x86asm.ADDPS, x86asm.ADDPD, x86asm.ADDSS, x86asm.ADDSD}},
		{"mul", 0x59, [4]x86asm.Op{x86asm.MULPS, x86asm.MULPD, x86asm.MULSS, x86asm.MULSD}},
		{"sub", 0x5C, [4]x86asm.Op{x86asm.SUBPS, x86asm.SUBPD, x86asm.SUBSS, x86asm.SUBSD}},
		{"min", 0x5D, [4]x86asm.Op{x86asm.MINPS, x86asm.MINPD, x86asm.MINSS, x86asm.MINSD}},
		{"div", 0x5E, [4]x86asm.Op{x86asm.DIVPS, x86asm.DIVPD, x86asm.DIVSS, x86asm.DIVSD}},
		{"max", 0x5F, [4]x86asm.Op{x86asm.MAXPS, x86asm.MAXPD, x86asm.MAXSS, x86asm.MAXSD}},
		{"sqrt", 0x51, [4]x86asm.Op{x86asm.SQRTPS, x86asm.SQRTPD, x86asm.SQRTSS, x86asm.SQRTSD}},
		{"cmp", 0xC2, [4]x86asm.Op{x86asm.CMPPS, x86asm.CMPPD, x86asm.CMPSS, x86asm.CMPSD_XMM}},
	} {
		imm := a.opc == 0xC2
		xx(a.base+"ps", a.ops[0], 0, esc0F, a.opc, imm, 16, 4)
		xx(a.base+"pd", a.ops[1], 0x66, esc0F, a.opc, imm, 16, 8)
		xx(a.base+"ss", a.ops[2], 0xF3, esc0F, a.opc, imm, 4, 4)
		xx(a.base+"sd", a.ops[3], 0xF2, esc0F, a.opc, imm, 8, 8)
	}
	for _, l := range []struct {
		opc    byte
		ps, pd x86asm.Op
	}{{0x54, x86asm.ANDPS, x86asm.ANDPD}, {0x55, x86asm.ANDNPS, x86asm.ANDNPD}, {0x56, x86asm.ORPS, x86asm.ORPD}, {0x57, x86asm.XORPS, x86asm.XORPD}} {
		xx(l.ps.String(), l.ps, 0, esc0F, l.opc, false, 16, 4)
		xx(l.pd.String(), l.pd, 0x66, esc0F, l.opc, false, 16, 8)
	}
	xx("ucomiss", x86asm.UCOMISS, 0, esc0F, 0x2E, false, 4, 4)
	xx("ucomisd", x86asm.UCOMISD, 0x66, esc0F, 0x2E, false, 8, 8)
	xx("comiss", x86asm.COMISS, 0, esc0F, 0x2F, false, 4, 4)
	xx("comisd", x86asm.COMISD, 0x66, esc0F, 0x2F, false, 8, 8)
	// Conversions.
	xx("cvtss2sd", x86asm.CVTSS2SD, 0xF3, esc0F, 0x5A, false, 4, 4)
	xx("cvtsd2ss", x86asm.CVTSD2SS, 0xF2, esc0F, 0x5A, false, 8, 8)
	xx("cvtps2pd", x86asm.CVTPS2PD, 0, esc0F, 0x5A, false, 8, 4)
	xx("cvtpd2ps", x86asm.CVTPD2PS, 0x66, esc0F, 0x5A, false, 16, 8)
	xx("cvtdq2ps", x86asm.CVTDQ2PS, 0, esc0F, 0x5B, false, 16, 0)
	xx("cvtps2dq", x86asm.CVTPS2DQ, 0x66, esc0F, 0x5B, false, 16, 4)
	xx("cvttps2dq", x86asm.CVTTPS2DQ, 0xF3, esc0F, 0x5B, false, 16, 4)
	xx("cvtdq2pd", x86asm.CVTDQ2PD, 0xF3, esc0F, 0xE6, false, 8, 0)
	xx("cvtpd2dq", x86asm.CVTPD2DQ, 0xF2, esc0F, 0xE6, false, 16, 8)
	xx("cvttpd2dq", x86asm.CVTTPD2DQ, 0x66, esc0F, 0xE6, false, 16, 8)
	for _, c := range []struct {
		name string
		op   x86asm.Op
		pfx  byte
		opc  byte
		esz  uint8
	}{
		{"cvtss2si", x86asm.CVTSS2SI, 0xF3, 0x2D, 4}, {"cvttss2si", x86asm.CVTTSS2SI, 0xF3, 0x2C, 4},
		{"cvtsd2si", x86asm.CVTSD2SI, 0xF2, 0x2D, 8}, {"cvttsd2si", x86asm.CVTTSD2SI, 0xF2, 0x2C, 8},
	} {
		t = append(t, fpInsn{name: c.name, op: c.op, pfx: c.pfx, esc: esc0F, opc: c.opc, mem: c.esz, reg: foR, rm: foX, esz: c.esz})
		t = append(t, fpInsn{name: c.name + "64", op: c.op, pfx: c.pfx, esc: esc0F, opc: c.opc, mem: c.esz, reg: foR64, rm: foX, esz: c.esz})
	}
	t = append(t,
		fpInsn{name: "cvtsi2ss", op: x86asm.CVTSI2SS, pfx: 0xF3, esc: esc0F, opc: 0x2A, mem: 4, reg: foX, rm: foR, esz: 4},
		fpInsn{name: "cvtsi2ss64", op: x86asm.CVTSI2SS, pfx: 0xF3, esc: esc0F, opc: 0x2A, mem: 8, reg: foX, rm: foR64, esz: 4},
		fpInsn{name: "cvtsi2sd", op: x86asm.CVTSI2SD, pfx: 0xF2, esc: esc0F, opc: 0x2A, mem: 4, reg: foX, rm: foR, esz: 8},
		fpInsn{name: "cvtsi2sd64", op: x86asm.CVTSI2SD, pfx: 0xF2, esc: esc0F, opc: 0x2A, mem: 8, reg: foX, rm: foR64, esz: 8},
		fpInsn{name: "movmskps", op: x86asm.MOVMSKPS, esc: esc0F, opc: 0x50, reg: foR, rm: foX, esz: 4},
		fpInsn{name: "movmskpd", op: x86asm.MOVMSKPD, pfx: 0x66, esc: esc0F, opc: 0x50, reg: foR, rm: foX, esz: 8},
		fpInsn{name: "extractps", op: x86asm.EXTRACTPS, pfx: 0x66, esc: esc0F3A, opc: 0x17, imm: true, mem: 4, reg: foX, rm: foR, esz: 4, rmDst: true},
		fpInsn{name: "ldmxcsr", op: x86asm.LDMXCSR, esc: esc0F, opc: 0xAE, mem: 4, reg: foNone, rm: foNone, modReg: 2},
		fpInsn{name: "stmxcsr", op: x86asm.STMXCSR, esc: esc0F, opc: 0xAE, mem: 4, reg: foNone, rm: foNone, modReg: 3},
	)
	for _, c := range []struct {
		name     string
		op       x86asm.Op
		pfx, opc byte
		reg, rm  uint8
		mem, esz uint8
	}{
		{"cvtpi2ps", x86asm.CVTPI2PS, 0, 0x2A, foX, foM, 8, 0},
		{"cvtps2pi", x86asm.CVTPS2PI, 0, 0x2D, foM, foX, 8, 4},
		{"cvttps2pi", x86asm.CVTTPS2PI, 0, 0x2C, foM, foX, 8, 4},
		{"cvtpi2pd", x86asm.CVTPI2PD, 0x66, 0x2A, foX, foM, 8, 0},
		{"cvtpd2pi", x86asm.CVTPD2PI, 0x66, 0x2D, foM, foX, 16, 8},
		{"cvttpd2pi", x86asm.CVTTPD2PI, 0x66, 0x2C, foM, foX, 16, 8},
	} {
		t = append(t, fpInsn{name: c.name, op: c.op, pfx: c.pfx, esc: esc0F, opc: c.opc, mem: c.mem, reg: c.reg, rm: c.rm, esz: c.esz})
	}
	// Shuffles and SSE3/SSE4.1.
	xx("shufps", x86asm.SHUFPS, 0, esc0F, 0xC6, true, 16, 4)
	xx("shufpd", x86asm.SHUFPD, 0x66, esc0F, 0xC6, true, 16, 8)
	xx("unpcklps", x86asm.UNPCKLPS, 0, esc0F, 0x14, false, 16, 4)
	xx("unpckhps", x86asm.UNPCKHPS, 0, esc0F, 0x15, false, 16, 4)
	xx("unpcklpd", x86asm.UNPCKLPD, 0x66, esc0F, 0x14, false, 16, 8)
	xx("unpckhpd", x86asm.UNPCKHPD, 0x66, esc0F, 0x15, false, 16, 8)
	xx("movsldup", x86asm.MOVSLDUP, 0xF3, esc0F, 0x12, false, 16, 4)
	xx("movshdup", x86asm.MOVSHDUP, 0xF3, esc0F, 0x16, false, 16, 4)
	xx("movddup", x86asm.MOVDDUP, 0xF2, esc0F, 0x12, false, 8, 8)
	xx("haddps", x86asm.HADDPS, 0xF2, esc0F, 0x7C, false, 16, 4)
	xx("haddpd", x86asm.HADDPD, 0x66, esc0F, 0x7C, false, 16, 8)
	xx("hsubps", x86asm.HSUBPS, 0xF2, esc0F, 0x7D, false, 16, 4)
	xx("hsubpd", x86asm.HSUBPD, 0x66, esc0F, 0x7D, false, 16, 8)
	xx("addsubps", x86asm.ADDSUBPS, 0xF2, esc0F, 0xD0, false, 16, 4)
	xx("addsubpd", x86asm.ADDSUBPD, 0x66, esc0F, 0xD0, false, 16, 8)
	xx("roundps", x86asm.ROUNDPS, 0x66, esc0F3A, 0x08, true, 16, 4)
	xx("roundpd", x86asm.ROUNDPD, 0x66, esc0F3A, 0x09, true, 16, 8)
	xx("roundss", x86asm.ROUNDSS, 0x66, esc0F3A, 0x0A, true, 4, 4)
	xx("roundsd", x86asm.ROUNDSD, 0x66, esc0F3A, 0x0B, true, 8, 8)
	xx("blendps", x86asm.BLENDPS, 0x66, esc0F3A, 0x0C, true, 16, 4)
	xx("blendpd", x86asm.BLENDPD, 0x66, esc0F3A, 0x0D, true, 16, 8)
	xx("blendvps", x86asm.BLENDVPS, 0x66, esc0F38, 0x14, false, 16, 4)
	xx("blendvpd", x86asm.BLENDVPD, 0x66, esc0F38, 0x15, false, 16, 8)
	xx("insertps", x86asm.INSERTPS, 0x66, esc0F3A, 0x21, true, 4, 4)
	xx("dpps", x86asm.DPPS, 0x66, esc0F3A, 0x40, true, 16, 4)
	xx("dppd", x86asm.DPPD, 0x66, esc0F3A, 0x41, true, 16, 8)
	for _, r := range []struct {
		name string
		op   x86asm.Op
		pfx  byte
		opc  byte
		mem  uint8
	}{
		{"rcpps", x86asm.RCPPS, 0, 0x53, 16}, {"rcpss", x86asm.RCPSS, 0xF3, 0x53, 4},
		{"rsqrtps", x86asm.RSQRTPS, 0, 0x52, 16}, {"rsqrtss", x86asm.RSQRTSS, 0xF3, 0x52, 4},
	} {
		t = append(t, fpInsn{name: r.name, op: r.op, pfx: r.pfx, esc: esc0F, opc: r.opc, mem: r.mem, reg: foX, rm: foX, esz: 4, approx: true})
	}
	return t
}

// encode assembles ins with ModRM.reg = reg and ModRM.rm = rm (a register)
// or [rsi] (mem).
func (ins *fpInsn) encode(reg, rm uint8, mem bool, imm byte) []byte {
	var b []byte
	if ins.pfx != 0 {
		b = append(b, ins.pfx)
	}
	if ins.reg == foNone {
		reg = ins.modReg
	}
	rex := byte(0)
	if ins.reg == foR64 || ins.rm == foR64 {
		rex |= 8
	}
	if reg >= 8 {
		rex |= 4
	}
	if !mem && rm >= 8 {
		rex |= 1
	}
	if rex != 0 {
		b = append(b, 0x40|rex)
	}
	b = append(b, ins.esc...)
	b = append(b, ins.opc)
	if mem {
		b = append(b, (reg&7)<<3|RSI)
	} else {
		b = append(b, 0xC0|(reg&7)<<3|rm&7)
	}
	if ins.imm {
		b = append(b, imm)
	}
	return b
}

// Special operand values.
var fpSpecial32 = []uint32{
	0x00000000, 0x80000000, 0x7F800000, 0xFF800000, // ±0, ±inf
	0x7FC00000, 0xFFC00000, 0x7FC12345, 0xFFE00001, // QNaNs
	0x7F800001, 0xFF812345, 0x7FA00000, 0x7FBFFFFF, // SNaNs
	0x00000001, 0x80000001, 0x007FFFFF, 0x00400000, 0x80234567, // denormals
	0x00800000, 0x80800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x00800001, // min/max normal
	0x3F800000, 0xBF800000, 0x3F800001, 0x3F7FFFFF, 0x3FC00000, 0x40400000, 0x3F000000, 0xBF000000,
	0x40200000, 0xC0200000, 0x3FA00000, 0x4B800000, 0x4B000001, 0x4B7FFFFF, 0x33800000, 0x34000000,
	0x4F000000, 0xCF000000, 0x4EFFFFFF, 0xCF000001, 0x5F000000, 0xDF000000, 0x5EFFFFFF,
	0x7F000000, 0x0C000000, 0x1F800000, 0x20000000, 0x00FFFFFF, 0x01000000, 0x3EAAAAAB,
}

var fpSpecial64 = []uint64{
	0, 1 << 63, 0x7FF0000000000000, 0xFFF0000000000000,
	0x7FF8000000000000, 0xFFF8000000000000, 0x7FF8000012345678, 0xFFFC000000000001,
	0x7FF0000000000001, 0xFFF0000012345678, 0x7FF4000000000000, 0x7FF7FFFFFFFFFFFF,
	1, 0x8000000000000001, 0x000FFFFFFFFFFFFF, 0x0008000000000000, 0x8001234567890ABC,
	0x0010000000000000, 0x8010000000000000, 0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF, 0x0010000000000001,
	0x3FF0000000000000, 0xBFF0000000000000, 0x3FF0000000000001, 0x3FEFFFFFFFFFFFFF, 0x3FF8000000000000,
	0x4008000000000000, 0x3FE0000000000000, 0xBFE0000000000000, 0x4004000000000000, 0xC004000000000000,
	0x4340000000000000, 0x4330000000000001, 0x3CA0000000000000, 0x3CB0000000000000,
	0x41E0000000000000, 0xC1E0000000000000, 0x41DFFFFFFFC00000, 0xC1E0000000200000, 0x41DFFFFFFFFFFFFF,
	0x43E0000000000000, 0xC3E0000000000000, 0x43DFFFFFFFFFFFFF, 0xC3E0000000000001,
	0x7FE0000000000000, 0x0020000000000000, 0x2000000000000000, 0x1FF0000000000000,
	0x3FD5555555555555, 0x47EFFFFFE0000000, 0x47EFFFFFF0000000, 0x36A0000000000000, 0x3690000000000000,
	0x380FFFFFF0000000, 0x3810000000000000, 0xB80FFFFFE0000000,
}

var fpSpecialInt = []uint64{0, 1, ^uint64(0), 1 << 31, 1<<31 - 1, 1 << 63, 1<<63 - 1, 0xFFFFFFFF, 1 << 24, 1<<24 + 1, 1<<53 + 1, 0x8000000000000001, 0x00000000FFFFFF81}

type fpGen struct{ r *rand.Rand }

func (g *fpGen) v32() uint32 {
	switch g.r.IntN(6) {
	case 0, 1, 2:
		return fpSpecial32[g.r.IntN(len(fpSpecial32))]
	case 3:
		return g.r.Uint32()
	case 4: // near 1.0, so additions align and round
		return g.r.Uint32()&0x807FFFFF | uint32(120+g.r.IntN(16))<<23
	}
	// short significand: exact results and ties
	return g.r.Uint32()&0x80000000 | uint32(110+g.r.IntN(36))<<23 | (g.r.Uint32()&0x7)<<20 | g.r.Uint32()&1
}

func (g *fpGen) v64() uint64 {
	switch g.r.IntN(6) {
	case 0, 1, 2:
		return fpSpecial64[g.r.IntN(len(fpSpecial64))]
	case 3:
		return g.r.Uint64()
	case 4:
		return g.r.Uint64()&0x800FFFFFFFFFFFFF | uint64(1015+g.r.IntN(16))<<52
	}
	return g.r.Uint64()&(1<<63) | uint64(990+g.r.IntN(70))<<52 | (g.r.Uint64()&0x7)<<49 | g.r.Uint64()&1
}

func (g *fpGen) int64() uint64 {
	switch g.r.IntN(3) {
	case 0:
		return fpSpecialInt[g.r.IntN(len(fpSpecialInt))]
	case 1:
		return uint64(int64(int32(g.r.Uint32())) >> g.r.IntN(32))
	}
	return g.r.Uint64() >> g.r.IntN(64)
}

// xmm returns a register value with lanes of esz bytes (0: integers).
func (g *fpGen) xmm(esz uint8) XMM {
	switch esz {
	case 8:
		return XMM{g.v64(), g.v64()}
	case 4:
		return XMM{uint64(g.v32()) | uint64(g.v32())<<32, uint64(g.v32()) | uint64(g.v32())<<32}
	}
	return XMM{uint64(uint32(g.int64())) | g.int64()<<32, uint64(uint32(g.int64())) | g.int64()<<32}
}

// mxcsr returns MXCSR with all exceptions masked, rounding mode rc, DAZ and
// FTZ as given, and sometimes some sticky flags already set.
func (g *fpGen) mxcsr(rc uint8, daz, ftz bool) uint32 {
	m := uint32(0x1F80) | uint32(rc)<<13
	if daz {
		m |= mxDAZ
	}
	if ftz {
		m |= mxFTZ
	}
	if g.r.IntN(8) == 0 {
		m |= g.r.Uint32() & mxFlags
	}
	return m
}

// state returns a random starting state for ins.
func (g *fpGen) state(t testing.TB, ins *fpInsn, mxcsr uint32) xstate {
	var s xstate
	for i := range s.XMM {
		s.XMM[i] = g.xmm(ins.esz)
	}
	for i := range s.GPR {
		s.GPR[i] = g.int64()
	}
	s.GPR[RSI] = nativeBufAddr(t)
	s.RFLAGS = g.r.Uint64() & FlagsArith
	s.MXCSR = mxcsr
	s.X87.FCW = FCWDefault
	for i := 0; i < len(s.Mem); i += 16 {
		x := g.xmm(ins.esz)
		binary.LittleEndian.PutUint64(s.Mem[i:], x.Lo)
		binary.LittleEndian.PutUint64(s.Mem[i+8:], x.Hi)
	}
	if ins.reg == foM || ins.rm == foM {
		// Some x87 state for the MMX transition to change.
		for i := range s.X87.ST {
			s.X87.ST[i] = F80{Mant: g.int64()<<32 | g.int64()&0xFFFFFFFF, SExp: uint16(g.r.Uint32())}
		}
		// TOP stays 0: xstate's ST are physical registers but the harness's
		// FXSAVE image holds them in stack order, which agree only then.
		s.X87.FTW = uint8(g.r.Uint32())
	}
	if ins.op == x86asm.LDMXCSR {
		binary.LittleEndian.PutUint32(s.Mem[:], g.mxcsr(uint8(g.r.IntN(4)), g.r.IntN(2) == 0, g.r.IntN(2) == 0))
	}
	return s
}

// gpReg picks a GPR other than RSP (the native thunk's stack) and RSI
// (the memory operand pointer).
func (g *fpGen) gpReg() uint8 {
	for {
		if r := uint8(g.r.IntN(16)); r != RSP && r != RSI {
			return r
		}
	}
}

func (g *fpGen) regFor(role uint8) uint8 {
	switch role {
	case foX:
		return uint8(g.r.IntN(16))
	case foM:
		return uint8(g.r.IntN(8))
	}
	return g.gpReg()
}

// fpEmu is an interpreter reused across runs (a fresh machine per run
// costs far more than the instruction).
type fpEmu struct{ m *machine }

func newFPEmu(t testing.TB) *fpEmu {
	m := newMachine(t)
	m.standardLayout()
	buf := nativeBufAddr(t)
	for va := buf; va < buf+nxBufLen; va += pageSize {
		m.mapPage(va, pteUser)
	}
	return &fpEmu{m: m}
}

func (h *fpEmu) run(insn []byte, s xstate) (xstate, Exit) {
	m := h.m
	buf := nativeBufAddr(m.t)
	m.write(buf, s.Mem[:])
	var code [32]byte
	for i := range code {
		code[i] = 0xCC
	}
	copy(code[:], insn)
	m.write(testCode, code[:])
	c := m.cpu
	c.Regs.RIP = testCode
	setXState(c, s)
	e := c.Run()
	out := getXState(c, s)
	copy(out.Mem[:], m.read(buf, len(out.Mem)))
	return out, e
}

// check runs insn both ways and reports a difference. For RCP/RSQRT the
// destination's lanes are compared with the architectural tolerance.
func (h *fpEmu) check(t testing.TB, ins *fpInsn, insn []byte, dst uint8, s xstate) bool {
	t.Helper()
	want := runNative(t, insn, s)
	got, e := h.run(insn, s)
	if e.Kind != ExitBreakpoint {
		t.Errorf("%s (% x): exit %v (%v), want the INT3 after it", ins.name, insn, e.Kind, e.Err)
		return false
	}
	if ins.approx {
		for i := range 4 {
			w, g := uint32(fpLane(&want.XMM[dst], 4, i)), uint32(fpLane(&got.XMM[dst], 4, i))
			if !approxRecipOK(w, g) {
				t.Errorf("%s (% x): lane %d = %#08x, want %#08x within 1.5*2^-12 (src lanes %v)", ins.name, insn, i, g, w, s.XMM)
				return false
			}
		}
		got.XMM[dst] = want.XMM[dst]
	}
	if (ins.name == "dpps" || ins.name == "dppd") && !hostIntel() {
		sameNaNClass(&want.XMM[dst], &got.XMM[dst], ins.esz)
	}
	if d := xdiff(want, got, FlagsArith); d != "" {
		t.Errorf("%s (% x) mxcsr in %#x:%s\n\tin: %s", ins.name, insn, s.MXCSR, d, fpDescribe(ins, &s))
		return false
	}
	return true
}

// sameNaNClass makes got's NaN lanes equal to want's where both are NaN.
// Which NaN input a dot product propagates is implementation-specific:
// the interpreter follows the SDM's DPPS/DPPD order of additions (and an
// Intel host), an AMD host's adder tree can return another operand's NaN;
// the lanes' being NaN, and every other lane, is still compared.
func sameNaNClass(want, got *XMM, esz uint8) {
	isNaN := func(v uint64) bool {
		if esz == 4 {
			return uint32(v)&0x7F800000 == 0x7F800000 && uint32(v)&0x7FFFFF != 0
		}
		return v&0x7FF0000000000000 == 0x7FF0000000000000 && v&0xFFFFFFFFFFFFF != 0
	}
	lanes := 16 / int(esz)
	for i := range lanes {
		w, g := fpLane(want, esz, i), fpLane(got, esz, i)
		if w != g && isNaN(w) && isNaN(g) {
			fpSetLane(got, esz, i, w)
		}
	}
}

func fpDescribe(ins *fpInsn, s *xstate) string {
	return fmt.Sprintf("xmm=%x mem=% x gpr=%x", s.XMM, s.Mem[:16], s.GPR)
}

// approxRecipOK reports whether the interpreter's RCP/RSQRT lane g is
// acceptable against the hardware's w: special results (NaN, infinity,
// zero) bit for bit, others within relative error 1.5*2^-12 of each other
// (plus the interpreter's own half ulp), and a flush to zero near the
// smallest normal either way.
func approxRecipOK(w, g uint32) bool {
	if w == g {
		return true
	}
	wf, gf := float64(math.Float32frombits(w)), float64(math.Float32frombits(g))
	if w&0x7F800000 == 0x7F800000 || g&0x7F800000 == 0x7F800000 {
		return false
	}
	if wf == 0 || gf == 0 {
		return math.Abs(wf+gf) < 0x1p-125 && (w^g)&0x80000000 == 0
	}
	return math.Abs(gf-wf) <= math.Abs(wf)*(1.5*0x1p-12+0x1p-24)
}

// runForm runs n random cases of ins for each rounding mode and DAZ/FTZ
// combination, in register and memory form.
func runFPForm(t *testing.T, h *fpEmu, g *fpGen, ins *fpInsn, n int) {
	for rc := range uint8(4) {
		for dz := range 4 {
			for k := range n {
				mx := g.mxcsr(rc, dz&1 != 0, dz&2 != 0)
				s := g.state(t, ins, mx)
				reg, rm := g.regFor(ins.reg), g.regFor(ins.rm)
				imm := byte(g.r.Uint32())
				if g.r.IntN(2) == 0 {
					imm &= 0x0F // ROUND: a mode in imm8; CMP: a predicate 0-7
				}
				mem := ins.mem != 0 && (k&1 == 1 || ins.rm == foNone)
				insn := ins.encode(reg, rm, mem, imm)
				dst := reg
				if ins.rmDst {
					dst = rm
				}
				if !h.check(t, ins, insn, dst, s) {
					return
				}
			}
		}
	}
}

func TestSSEFPEncodings(t *testing.T) {
	for _, ins := range fpInsnTable() {
		for _, mem := range []bool{false, true} {
			if mem && ins.mem == 0 || !mem && ins.rm == foNone {
				continue
			}
			b := ins.encode(1, 2, mem, 0x10)
			inst, err := x86asm.Decode(b, 64)
			if err != nil || inst.Op != ins.op || inst.Len != len(b) {
				t.Errorf("%s: % x decodes as %v (%v), want %v", ins.name, b, inst, err, ins.op)
			}
			if u, ok := translate(&inst); !ok || u.op < famSSEFP || u.op >= famX87 {
				t.Errorf("%s: % x not translated (%v)", ins.name, b, u)
			}
		}
	}
}

// fpIters overrides TestSSEFPNative's cases per form and mode, for long
// runs (go test ./cpu -run TestSSEFPNative -ssefp.iters=500).
var fpIters = flag.Int("ssefp.iters", 0, "TestSSEFPNative: random cases per form, mode and DAZ/FTZ setting")

func TestSSEFPNative(t *testing.T) {
	h := newFPEmu(t)
	g := &fpGen{r: rand.New(rand.NewPCG(1, 2))}
	n := 40
	if testing.Short() {
		n = 5
	}
	if *fpIters > 0 {
		n = *fpIters
		g = &fpGen{r: rand.New(rand.NewPCG(rand.Uint64(), 2))}
	}
	for _, ins := range fpInsnTable() {
		t.Run(ins.name, func(t *testing.T) { runFPForm(t, h, g, &ins, n) })
	}
}

// TestSSEFPNativeSpecialPairs runs every pair of special values through the
// scalar arithmetic, comparison and conversion forms.
func TestSSEFPNativeSpecialPairs(t *testing.T) {
	h := newFPEmu(t)
	g := &fpGen{r: rand.New(rand.NewPCG(3, 4))}
	// Pair (i, j) runs in the rounding modes rc with (i+j+rc) % step == 0
	// (with step 2: two of the four), under every DAZ/FTZ setting.
	step := 2
	if testing.Short() {
		step = 4
	}
	for _, ins := range fpInsnTable() {
		if ins.mem != 4 && ins.mem != 8 || ins.reg != foX || ins.rm != foX || ins.approx {
			continue
		}
		t.Run(ins.name, func(t *testing.T) {
			for rc := range uint8(4) {
				for dz := range 4 {
					mx := uint32(0x1F80) | uint32(rc)<<13 | uint32(dz&1)*mxDAZ | uint32(dz>>1)*mxFTZ
					var n int
					if ins.esz == 4 {
						n = len(fpSpecial32)
					} else {
						n = len(fpSpecial64)
					}
					for i := range n {
						for j := (i + int(rc)) % step; j < n; j += step {
							s := g.state(t, &ins, mx)
							if ins.esz == 4 {
								s.XMM[1].Lo = s.XMM[1].Lo&^0xFFFFFFFF | uint64(fpSpecial32[i])
								s.XMM[2].Lo = s.XMM[2].Lo&^0xFFFFFFFF | uint64(fpSpecial32[j])
							} else {
								s.XMM[1].Lo, s.XMM[2].Lo = fpSpecial64[i], fpSpecial64[j]
							}
							if !h.check(t, &ins, ins.encode(1, 2, false, byte(i+j)&7), 1, s) {
								return
							}
						}
					}
				}
			}
		})
	}
}

// FuzzSSEFPNative builds an instruction from the supported forms with
// random ModRM registers (or a memory operand), a random imm8, random MXCSR
// control bits (all exceptions masked) and operands drawn half from the
// special-value pool (or, if a or b is nonzero, the low lanes straight from the
// fuzzer), and compares the hardware with the interpreter.
func FuzzSSEFPNative(f *testing.F) {
	table := fpInsnTable()
	for i := range table {
		f.Add(uint16(i), uint8(0x12), uint8(0x04), uint8(i), uint64(i)*0x9E3779B97F4A7C15, uint64(0), uint64(0))
	}
	h := newFPEmu(f)
	f.Fuzz(func(t *testing.T, op uint16, regs, imm, ctl uint8, seed, a, b uint64) {
		ins := &table[int(op)%len(table)]
		g := &fpGen{r: rand.New(rand.NewPCG(seed, uint64(op)<<16|uint64(ctl)))}
		s := g.state(t, ins, g.mxcsr(ctl&3, ctl&4 != 0, ctl&8 != 0))
		reg, rm := regs>>4, regs&15
		if ins.reg != foX && (reg == RSP || reg == RSI) {
			reg = RAX
		}
		if ins.rm != foX && (rm == RSP || rm == RSI) {
			rm = RDX
		}
		if ins.reg == foM {
			reg &= 7
		}
		if ins.rm == foM {
			rm &= 7
		}
		mem := ins.mem != 0 && (ctl&16 != 0 || ins.rm == foNone)
		if a|b != 0 {
			// Operand bits straight from the fuzzer, in the low lanes.
			s.XMM[reg&15].Lo, s.XMM[rm&15].Lo = a, b
			binary.LittleEndian.PutUint64(s.Mem[:], b)
		}
		dst := reg
		if ins.rmDst {
			dst = rm
		}
		h.check(t, ins, ins.encode(reg, rm, mem, imm), dst, s)
	})
}

// TestSSEFPSoftTableNative checks the soft-float table's expectations
// against the hardware: each case runs as the scalar instruction on
// xmm1 (a) and xmm2 (b).
func TestSSEFPSoftTableNative(t *testing.T) {
	ops := map[string][]byte{
		"add": {0x58, 0xCA}, "sub": {0x5C, 0xCA}, "mul": {0x59, 0xCA}, "div": {0x5E, 0xCA},
		"sqrt": {0x51, 0xCA}, "min": {0x5D, 0xCA}, "max": {0x5F, 0xCA},
	}
	for _, tc := range fpSoftCases() {
		pfx := byte(0xF3)
		if tc.esz == 8 {
			pfx = 0xF2
		}
		var insn []byte
		out := func(s *xstate) uint64 { return fpLane(&s.XMM[1], tc.esz, 0) }
		switch tc.op {
		case "cvtss2si", "cvttss2si":
			insn = []byte{0xF3, 0x0F, 0x2D, 0xC2} // cvtss2si eax, xmm2
			if tc.op == "cvttss2si" {
				insn[2] = 0x2C
			}
			out = func(s *xstate) uint64 { return s.GPR[RAX] }
		case "cvtsd2ss":
			insn = []byte{0xF2, 0x0F, 0x5A, 0xCA}
			out = func(s *xstate) uint64 { return s.XMM[1].Lo & 0xFFFFFFFF }
		case "round0", "round1", "round2", "round4", "round8":
			insn = []byte{0x66, 0x0F, 0x3A, 0x0A, 0xCA, tc.op[5] - '0'} // roundss xmm1, xmm2, imm
		default:
			insn = append([]byte{pfx, 0x0F}, ops[tc.op]...)
		}
		var s xstate
		s.XMM[1].Lo, s.XMM[2].Lo = tc.a, tc.b
		s.MXCSR = 0x1F80 | uint32(tc.rc)<<mxRCSh
		if tc.daz {
			s.MXCSR |= mxDAZ
		}
		if tc.ftz {
			s.MXCSR |= mxFTZ
		}
		s.X87.FCW = FCWDefault
		n := runNative(t, insn, s)
		if got, fl := out(&n), n.MXCSR&mxFlags; got != tc.want || fl != tc.flags {
			t.Errorf("%s (% x): hardware gives %#x flags %#x, table says %#x flags %#x", tc.name, insn, got, fl, tc.want, tc.flags)
		}
	}
}
