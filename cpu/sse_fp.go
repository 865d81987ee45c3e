package cpu

import (
	"math"

	"golang.org/x/arch/x86/x86asm"
)

// The SSE/SSE2/SSE3/SSE4.1 floating-point instructions (SDM Vol. 1 ch. 10,
// 11, 12; Vol. 2 for each instruction): arithmetic, logic, comparisons,
// conversions (also to and from MMX registers), shuffles, rounding, blends
// and dot products on XMM registers, plus LDMXCSR/STMXCSR. Results are the
// hardware's bit for bit, flags included (sse_fp_soft.go), except for the
// RCP/RSQRT approximations (fpRcpOp). All
// exceptions are expected to be masked: an exception whose MXCSR mask bit is
// clear would raise #XM, which the interpreter reports as an ExitUD error
// without changing any state.

// SSE float opcodes (family.go: 0x200-0x2ff).
const (
	opFPArith   = famSSEFP + iota // sub fpAdd…; size = element size, ssize = lanes
	opFPLogic                     // sub fpAnd…: 128-bit bitwise
	opFPCmp                       // CMPccSS/SD/PS/PD: imm predicate
	opFPComi                      // sub 1 = COMISS/COMISD, 0 = UCOMISS/UCOMISD
	opFPMxcsr                     // sub 0 = LDMXCSR, 1 = STMXCSR
	opFPCvtI2F                    // CVTSI2SS/SD: size = float size, ssize = integer size
	opFPCvtF2I                    // CVT(T)SS/SD2SI: size = float size, ssize = integer size, sub 1 = truncate
	opFPCvt                       // sub cvt…: the XMM-to-XMM conversions
	opFPShuf                      // sub shuf…: shuffles, unpacks, duplications, blends, INSERTPS
	opFPMovmsk                    // MOVMSKPS/PD: size = element size
	opFPExtract                   // EXTRACTPS
	opFPHorz                      // sub fpHadd/fpHsub/fpAddsub: size = element size
	opFPRound                     // ROUNDSS/SD/PS/PD: size, ssize, imm
	opFPDot                       // DPPS/DPPD: size, imm
	opFPRcp                       // sub 0 = RCP, 1 = RSQRT; ssize = lanes
	opFPCvtMMX                    // sub cvt…: the conversions to and from MMX registers
)

// Arithmetic kinds (opFPArith sub).
const (
	fpAdd uint8 = iota
	fpSub
	fpMul
	fpDiv
	fpSqrt
	fpMin
	fpMax
)

// Logic kinds (opFPLogic sub).
const (
	fpAnd uint8 = iota
	fpAndn
	fpOr
	fpXor
)

// Horizontal kinds (opFPHorz sub).
const (
	fpHadd uint8 = iota
	fpHsub
	fpAddsub
)

// Conversion kinds (opFPCvt sub).
const (
	cvtSS2SD uint8 = iota
	cvtSD2SS
	cvtDQ2PS
	cvtPS2DQ
	cvtTPS2DQ
	cvtDQ2PD
	cvtPD2DQ
	cvtTPD2DQ
	cvtPS2PD
	cvtPD2PS
	cvtPI2PS
	cvtPS2PI
	cvtTPS2PI
	cvtPI2PD
	cvtPD2PI
	cvtTPD2PI
)

// Shuffle kinds (opFPShuf sub).
const (
	shufPS uint8 = iota
	shufPD
	shufUnpckLPS
	shufUnpckHPS
	shufUnpckLPD
	shufUnpckHPD
	shufMovSHDup
	shufMovSLDup
	shufMovDDup
	shufBlendPS
	shufBlendPD
	shufBlendVPS
	shufBlendVPD
	shufInsertPS
)

// fpForm is how one x86asm.Op translates: its uop opcode and fields, the
// size of its memory operand in bytes (16 = an m128 that must be 16-byte
// aligned), and its operand shape.
type fpForm struct {
	op    opcode
	sub   uint8
	esz   uint8 // element size: 4 or 8
	lanes uint8
	mem   uint8
	shape uint8
}

// Operand shapes.
const (
	shXX   uint8 = iota // xmm, xmm/m [, imm8]
	shRX                // r32/r64, xmm/m (conversions to integer, MOVMSK: register only)
	shXR                // xmm, r/m32/64
	shM                 // m32 (LDMXCSR/STMXCSR)
	shRMXI              // r/m32, xmm, imm8 (EXTRACTPS)
	shMMX               // xmm or mm, xmm or mm or m (CVTPI2PS …)
)

var fpForms = map[x86asm.Op]fpForm{}

func init() {
	defOp(opFPArith, "sse-fp-arith", fpArithOp)
	defOp(opFPLogic, "sse-fp-logic", fpLogicOp)
	defOp(opFPCmp, "sse-fp-cmp", fpCmpOp)
	defOp(opFPComi, "sse-fp-comi", fpComiOp)
	defOp(opFPMxcsr, "ldmxcsr/stmxcsr", fpMxcsrOp)
	defOp(opFPCvtI2F, "cvtsi2sx", fpCvtI2FOp)
	defOp(opFPCvtF2I, "cvtsx2si", fpCvtF2IOp)
	defOp(opFPCvt, "sse-fp-cvt", fpCvtOp)
	defOp(opFPShuf, "sse-fp-shuf", fpShufOp)
	defOp(opFPMovmsk, "movmskps/pd", fpMovmskOp)
	defOp(opFPExtract, "extractps", fpExtractOp)
	defOp(opFPHorz, "sse-fp-horizontal", fpHorzOp)
	defOp(opFPRound, "sse-fp-round", fpRoundOp)
	defOp(opFPDot, "dpps/dppd", fpDotOp)
	defOp(opFPRcp, "rcp/rsqrt", fpRcpOp)
	defOp(opFPCvtMMX, "sse-fp-cvt-mmx", fpCvtMMXOp)

	arith := func(ss, sd, ps, pd x86asm.Op, k uint8) {
		fpForms[ss] = fpForm{op: opFPArith, sub: k, esz: 4, lanes: 1, mem: 4}
		fpForms[sd] = fpForm{op: opFPArith, sub: k, esz: 8, lanes: 1, mem: 8}
		fpForms[ps] = fpForm{op: opFPArith, sub: k, esz: 4, lanes: 4, mem: 16}
		fpForms[pd] = fpForm{op: opFPArith, sub: k, esz: 8, lanes: 2, mem: 16}
	}
	arith(x86asm.ADDSS, x86asm.ADDSD, x86asm.ADDPS, x86asm.ADDPD, fpAdd)
	arith(x86asm.SUBSS, x86asm.SUBSD, x86asm.SUBPS, x86asm.SUBPD, fpSub)
	arith(x86asm.MULSS, x86asm.MULSD, x86asm.MULPS, x86asm.MULPD, fpMul)
	arith(x86asm.DIVSS, x86asm.DIVSD, x86asm.DIVPS, x86asm.DIVPD, fpDiv)
	arith(x86asm.SQRTSS, x86asm.SQRTSD, x86asm.SQRTPS, x86asm.SQRTPD, fpSqrt)
	arith(x86asm.MINSS, x86asm.MINSD, x86asm.MINPS, x86asm.MINPD, fpMin)
	arith(x86asm.MAXSS, x86asm.MAXSD, x86asm.MAXPS, x86asm.MAXPD, fpMax)
	arith(x86asm.CMPSS, x86asm.CMPSD_XMM, x86asm.CMPPS, x86asm.CMPPD, 0)
	for _, o := range []x86asm.Op{x86asm.CMPSS, x86asm.CMPSD_XMM, x86asm.CMPPS, x86asm.CMPPD} {
		f := fpForms[o]
		f.op = opFPCmp
		fpForms[o] = f
	}
	logic := map[x86asm.Op]uint8{
		x86asm.ANDPS: fpAnd, x86asm.ANDPD: fpAnd, x86asm.ANDNPS: fpAndn, x86asm.ANDNPD: fpAndn,
		x86asm.ORPS: fpOr, x86asm.ORPD: fpOr, x86asm.XORPS: fpXor, x86asm.XORPD: fpXor,
	}
	for o, k := range logic {
		fpForms[o] = fpForm{op: opFPLogic, sub: k, mem: 16}
	}
	fpForms[x86asm.COMISS] = fpForm{op: opFPComi, sub: 1, esz: 4, mem: 4}
	fpForms[x86asm.COMISD] = fpForm{op: opFPComi, sub: 1, esz: 8, mem: 8}
	fpForms[x86asm.UCOMISS] = fpForm{op: opFPComi, sub: 0, esz: 4, mem: 4}
	fpForms[x86asm.UCOMISD] = fpForm{op: opFPComi, sub: 0, esz: 8, mem: 8}
	fpForms[x86asm.LDMXCSR] = fpForm{op: opFPMxcsr, sub: 0, mem: 4, shape: shM}
	fpForms[x86asm.STMXCSR] = fpForm{op: opFPMxcsr, sub: 1, mem: 4, shape: shM}
	fpForms[x86asm.CVTSI2SS] = fpForm{op: opFPCvtI2F, esz: 4, shape: shXR}
	fpForms[x86asm.CVTSI2SD] = fpForm{op: opFPCvtI2F, esz: 8, shape: shXR}
	fpForms[x86asm.CVTSS2SI] = fpForm{op: opFPCvtF2I, esz: 4, mem: 4, shape: shRX}
	fpForms[x86asm.CVTSD2SI] = fpForm{op: opFPCvtF2I, esz: 8, mem: 8, shape: shRX}
	fpForms[x86asm.CVTTSS2SI] = fpForm{op: opFPCvtF2I, sub: 1, esz: 4, mem: 4, shape: shRX}
	fpForms[x86asm.CVTTSD2SI] = fpForm{op: opFPCvtF2I, sub: 1, esz: 8, mem: 8, shape: shRX}
	cvt := func(o x86asm.Op, k, mem uint8) { fpForms[o] = fpForm{op: opFPCvt, sub: k, mem: mem} }
	cvt(x86asm.CVTSS2SD, cvtSS2SD, 4)
	cvt(x86asm.CVTSD2SS, cvtSD2SS, 8)
	cvt(x86asm.CVTDQ2PS, cvtDQ2PS, 16)
	cvt(x86asm.CVTPS2DQ, cvtPS2DQ, 16)
	cvt(x86asm.CVTTPS2DQ, cvtTPS2DQ, 16)
	cvt(x86asm.CVTDQ2PD, cvtDQ2PD, 8)
	cvt(x86asm.CVTPD2DQ, cvtPD2DQ, 16)
	cvt(x86asm.CVTTPD2DQ, cvtTPD2DQ, 16)
	cvt(x86asm.CVTPS2PD, cvtPS2PD, 8)
	cvt(x86asm.CVTPD2PS, cvtPD2PS, 16)
	mmx := func(o x86asm.Op, k, mem uint8) { fpForms[o] = fpForm{op: opFPCvtMMX, sub: k, mem: mem, shape: shMMX} }
	mmx(x86asm.CVTPI2PS, cvtPI2PS, 8)
	mmx(x86asm.CVTPS2PI, cvtPS2PI, 8)
	mmx(x86asm.CVTTPS2PI, cvtTPS2PI, 8)
	mmx(x86asm.CVTPI2PD, cvtPI2PD, 8)
	mmx(x86asm.CVTPD2PI, cvtPD2PI, 16)
	mmx(x86asm.CVTTPD2PI, cvtTPD2PI, 16)
	shuf := func(o x86asm.Op, k, mem uint8) { fpForms[o] = fpForm{op: opFPShuf, sub: k, mem: mem} }
	shuf(x86asm.SHUFPS, shufPS, 16)
	shuf(x86asm.SHUFPD, shufPD, 16)
	shuf(x86asm.UNPCKLPS, shufUnpckLPS, 16)
	shuf(x86asm.UNPCKHPS, shufUnpckHPS, 16)
	shuf(x86asm.UNPCKLPD, shufUnpckLPD, 16)
	shuf(x86asm.UNPCKHPD, shufUnpckHPD, 16)
	shuf(x86asm.MOVSHDUP, shufMovSHDup, 16)
	shuf(x86asm.MOVSLDUP, shufMovSLDup, 16)
	shuf(x86asm.MOVDDUP, shufMovDDup, 8)
	shuf(x86asm.BLENDPS, shufBlendPS, 16)
	shuf(x86asm.BLENDPD, shufBlendPD, 16)
	shuf(x86asm.BLENDVPS, shufBlendVPS, 16)
	shuf(x86asm.BLENDVPD, shufBlendVPD, 16)
	shuf(x86asm.INSERTPS, shufInsertPS, 4)
	fpForms[x86asm.MOVMSKPS] = fpForm{op: opFPMovmsk, esz: 4, shape: shRX}
	fpForms[x86asm.MOVMSKPD] = fpForm{op: opFPMovmsk, esz: 8, shape: shRX}
	fpForms[x86asm.EXTRACTPS] = fpForm{op: opFPExtract, mem: 4, shape: shRMXI}
	fpForms[x86asm.HADDPS] = fpForm{op: opFPHorz, sub: fpHadd, esz: 4, mem: 16}
	fpForms[x86asm.HADDPD] = fpForm{op: opFPHorz, sub: fpHadd, esz: 8, mem: 16}
	fpForms[x86asm.HSUBPS] = fpForm{op: opFPHorz, sub: fpHsub, esz: 4, mem: 16}
	fpForms[x86asm.HSUBPD] = fpForm{op: opFPHorz, sub: fpHsub, esz: 8, mem: 16}
	fpForms[x86asm.ADDSUBPS] = fpForm{op: opFPHorz, sub: fpAddsub, esz: 4, mem: 16}
	fpForms[x86asm.ADDSUBPD] = fpForm{op: opFPHorz, sub: fpAddsub, esz: 8, mem: 16}
	fpForms[x86asm.ROUNDSS] = fpForm{op: opFPRound, esz: 4, lanes: 1, mem: 4}
	fpForms[x86asm.ROUNDSD] = fpForm{op: opFPRound, esz: 8, lanes: 1, mem: 8}
	fpForms[x86asm.ROUNDPS] = fpForm{op: opFPRound, esz: 4, lanes: 4, mem: 16}
	fpForms[x86asm.ROUNDPD] = fpForm{op: opFPRound, esz: 8, lanes: 2, mem: 16}
	fpForms[x86asm.DPPS] = fpForm{op: opFPDot, esz: 4, mem: 16}
	fpForms[x86asm.DPPD] = fpForm{op: opFPDot, esz: 8, mem: 16}
	fpForms[x86asm.RCPSS] = fpForm{op: opFPRcp, sub: 0, esz: 4, lanes: 1, mem: 4}
	fpForms[x86asm.RCPPS] = fpForm{op: opFPRcp, sub: 0, esz: 4, lanes: 4, mem: 16}
	fpForms[x86asm.RSQRTSS] = fpForm{op: opFPRcp, sub: 1, esz: 4, lanes: 1, mem: 4}
	fpForms[x86asm.RSQRTPS] = fpForm{op: opFPRcp, sub: 1, esz: 4, lanes: 4, mem: 16}

	ops := make([]x86asm.Op, 0, len(fpForms))
	for o := range fpForms {
		ops = append(ops, o)
	}
	defTranslator(fpTranslate, ops...)
}

// fpTranslate translates the instructions in fpForms. The memory operand's
// size goes in imm bits 8-15, an imm8 in bits 0-7.
func fpTranslate(u *uop, inst *x86asm.Inst) bool {
	f, ok := fpForms[inst.Op]
	if !ok {
		return false
	}
	u.op, u.sub, u.size, u.ssize = f.op, f.sub, f.esz, f.lanes
	mem := f.mem
	a := inst.Args
	n := nargs(inst)
	if n > 0 {
		if imm, isImm := a[n-1].(x86asm.Imm); isImm {
			u.imm = uint64(imm) & 0xFF
			n--
		}
	}
	switch f.shape {
	case shXX:
		if f.op == opFPShuf && (f.sub == shufBlendVPS || f.sub == shufBlendVPD) {
			n = 2 // the implicit XMM0
		}
		if n != 2 {
			return false
		}
		if _, ok := setDstOp(u, inst, a[0]); !ok || u.dk != kindXMM {
			return false
		}
		if _, ok := setSrcOp(u, inst, a[1]); !ok || (u.sk != kindXMM && u.sk != kindMem) {
			return false
		}
	case shRX:
		if n != 2 || !setRegDst(u, a[0]) {
			return false
		}
		if u.size != 4 && u.size != 8 {
			return false
		}
		u.ssize, u.size = u.size, f.esz // integer size, float size
		if _, ok := setSrcOp(u, inst, a[1]); !ok || (u.sk != kindXMM && u.sk != kindMem) {
			return false
		}
		if f.op == opFPMovmsk && u.sk != kindXMM {
			return false
		}
	case shXR:
		if n != 2 {
			return false
		}
		if _, ok := setDstOp(u, inst, a[0]); !ok || u.dk != kindXMM {
			return false
		}
		sz, ok := setSrcOp(u, inst, a[1])
		if !ok || (u.sk != kindReg && u.sk != kindMem) {
			return false
		}
		if u.sk == kindMem {
			sz = 4
			if inst.DataSize == 64 {
				sz = 8
			}
		}
		if sz != 4 && sz != 8 {
			return false
		}
		u.ssize, mem = sz, sz
	case shM:
		m, isMem := a[0].(x86asm.Mem)
		if n != 1 || !isMem || !setMem(u, m) {
			return false
		}
		u.dk, u.sk = kindMem, kindMem
	case shMMX:
		if n != 2 {
			return false
		}
		if _, ok := setDstOp(u, inst, a[0]); !ok || (u.dk != kindXMM && u.dk != kindMMX) {
			return false
		}
		if _, ok := setSrcOp(u, inst, a[1]); !ok || (u.sk != kindXMM && u.sk != kindMMX && u.sk != kindMem) {
			return false
		}
	case shRMXI:
		if n != 2 {
			return false
		}
		if _, ok := setDstOp(u, inst, a[0]); !ok || (u.dk != kindReg && u.dk != kindMem) {
			return false
		}
		r, ok := xmmArg(a[1])
		if !ok {
			return false
		}
		u.sk, u.r1 = kindXMM, r
	}
	u.imm |= uint64(mem) << 8
	return true
}

// fpLane returns lane i of x for element size esz.
func fpLane(x *XMM, esz uint8, i int) uint64 {
	if esz == 8 {
		if i == 0 {
			return x.Lo
		}
		return x.Hi
	}
	w := x.Lo
	if i >= 2 {
		w = x.Hi
	}
	return uint64(uint32(w >> (32 * uint(i&1))))
}

// fpSetLane sets lane i of x.
func fpSetLane(x *XMM, esz uint8, i int, v uint64) {
	if esz == 8 {
		if i == 0 {
			x.Lo = v
		} else {
			x.Hi = v
		}
		return
	}
	p := &x.Lo
	if i >= 2 {
		p = &x.Hi
	}
	sh := 32 * uint(i&1)
	*p = *p&^(0xFFFFFFFF<<sh) | uint64(uint32(v))<<sh
}

// fpSrc reads u's XMM or memory source; a 16-byte memory operand must be
// 16-byte aligned (#GP(0), SDM Vol. 1 11.4.1.1), a smaller one fills the low
// lane.
func (c *CPU) fpSrc(u *uop) (XMM, bool) {
	if u.sk == kindXMM {
		return c.Regs.XMM[u.r1&15], true
	}
	return c.sseMem(c.ea(u), uint8(u.imm>>8), true)
}

func (c *CPU) fpEnv() fpEnv {
	m := c.Regs.MXCSR
	return fpEnv{rc: uint8(m>>mxRCSh) & 3, daz: m&mxDAZ != 0, ftz: m&mxFTZ != 0}
}

// fpCommit folds the instruction's exception flags into MXCSR. If one of
// them is unmasked the processor would raise #XM (SDM Vol. 1 11.5.4); that
// is not modelled: it records an ExitUD error, leaves everything unchanged
// and returns false.
func (c *CPU) fpCommit(e *fpEnv) bool {
	if e.flags&^(c.Regs.MXCSR>>mxMaskSh)&mxFlags != 0 {
		rip := c.Regs.RIP
		c.exit = Exit{Kind: ExitUD, Err: &UnimplementedError{RIP: rip,
			Disasm: "unmasked SIMD floating-point exception (#XM) in " + c.Disassemble(rip)}}
		return false
	}
	c.Regs.MXCSR |= e.flags
	return true
}

func (e *fpEnv) arith(k uint8, f fpFmt, a, b uint64) uint64 {
	switch k {
	case fpAdd:
		return e.add(f, a, b, false)
	case fpSub:
		return e.add(f, a, b, true)
	case fpMul:
		return e.mul(f, a, b)
	case fpDiv:
		return e.div(f, a, b)
	case fpSqrt:
		return e.sqrt(f, b)
	case fpMin:
		return e.minMax(f, a, b, false)
	}
	return e.minMax(f, a, b, true)
}

func fpArithOp(c *CPU, u *uop) stepResult {
	src, ok := c.fpSrc(u)
	if !ok {
		return stepFault
	}
	dst := c.Regs.XMM[u.r0&15]
	e := c.fpEnv()
	f := fpFmtOf(u.size)
	for i := range int(u.ssize) {
		fpSetLane(&dst, u.size, i, e.arith(u.sub, f, fpLane(&dst, u.size, i), fpLane(&src, u.size, i)))
	}
	if !c.fpCommit(&e) {
		return stepFault
	}
	c.Regs.XMM[u.r0&15] = dst
	return stepOK
}

func fpLogicOp(c *CPU, u *uop) stepResult {
	src, ok := c.fpSrc(u)
	if !ok {
		return stepFault
	}
	d := &c.Regs.XMM[u.r0&15]
	switch u.sub {
	case fpAnd:
		d.Lo, d.Hi = d.Lo&src.Lo, d.Hi&src.Hi
	case fpAndn:
		d.Lo, d.Hi = ^d.Lo&src.Lo, ^d.Hi&src.Hi
	case fpOr:
		d.Lo, d.Hi = d.Lo|src.Lo, d.Hi|src.Hi
	default:
		d.Lo, d.Hi = d.Lo^src.Lo, d.Hi^src.Hi
	}
	return stepOK
}

// fpPredicate evaluates CMPPS predicate p (imm8[2:0]: EQ LT LE UNORD NEQ
// NLT NLE ORD; LT, LE, NLT and NLE signal on a QNaN; SDM Vol. 2 CMPPS).
func (e *fpEnv) fpPredicate(f fpFmt, a, b uint64, p uint8) bool {
	r := e.compare(f, a, b, p&3 == 1 || p&3 == 2)
	var t bool
	switch p & 3 {
	case 0:
		t = r == cmpEQ
	case 1:
		t = r == cmpLT
	case 2:
		t = r == cmpLT || r == cmpEQ
	default:
		t = r == cmpUN
	}
	return t != (p&4 != 0)
}

func fpCmpOp(c *CPU, u *uop) stepResult {
	src, ok := c.fpSrc(u)
	if !ok {
		return stepFault
	}
	dst := c.Regs.XMM[u.r0&15]
	e := c.fpEnv()
	f := fpFmtOf(u.size)
	p := uint8(u.imm) & 7
	for i := range int(u.ssize) {
		var r uint64
		if e.fpPredicate(f, fpLane(&dst, u.size, i), fpLane(&src, u.size, i), p) {
			r = ^uint64(0)
		}
		fpSetLane(&dst, u.size, i, r)
	}
	if !c.fpCommit(&e) {
		return stepFault
	}
	c.Regs.XMM[u.r0&15] = dst
	return stepOK
}

// fpComiOp sets ZF, PF and CF from the comparison (unordered 111, greater
// 000, less 001, equal 100) and clears OF, SF and AF (SDM Vol. 2 COMISS).
func fpComiOp(c *CPU, u *uop) stepResult {
	src, ok := c.fpSrc(u)
	if !ok {
		return stepFault
	}
	e := c.fpEnv()
	f := fpFmtOf(u.size)
	var fl uint64
	switch e.compare(f, fpLane(&c.Regs.XMM[u.r0&15], u.size, 0), fpLane(&src, u.size, 0), u.sub == 1) {
	case cmpUN:
		fl = FlagZF | FlagPF | FlagCF
	case cmpLT:
		fl = FlagCF
	case cmpEQ:
		fl = FlagZF
	}
	if !c.fpCommit(&e) {
		return stepFault
	}
	c.fl.setArith(FlagsArith, fl)
	return stepOK
}

// fpMxcsrOp executes LDMXCSR (#GP(0) if a bit outside MXCSR_MASK is set,
// SDM Vol. 2 LDMXCSR) and STMXCSR.
func fpMxcsrOp(c *CPU, u *uop) stepResult {
	va := c.ea(u)
	if u.sub == 1 {
		if !c.store(va, 4, uint64(c.Regs.MXCSR)) {
			return stepFault
		}
		return stepOK
	}
	v, ok := c.load(va, 4)
	if !ok {
		return stepFault
	}
	if v&^MXCSRMask != 0 {
		c.gp(0)
		return stepFault
	}
	c.Regs.MXCSR = uint32(v)
	return stepOK
}

func fpCvtI2FOp(c *CPU, u *uop) stepResult {
	var v uint64
	if u.sk == kindReg {
		v = c.reg(u.r1, u.ssize)
	} else {
		var ok bool
		if v, ok = c.load(c.ea(u), u.ssize); !ok {
			return stepFault
		}
	}
	e := c.fpEnv()
	r := e.fromInt(fpFmtOf(u.size), int64(sext(v, u.ssize)))
	if !c.fpCommit(&e) {
		return stepFault
	}
	fpSetLane(&c.Regs.XMM[u.r0&15], u.size, 0, r)
	return stepOK
}

func fpCvtF2IOp(c *CPU, u *uop) stepResult {
	src, ok := c.fpSrc(u)
	if !ok {
		return stepFault
	}
	e := c.fpEnv()
	r := e.toInt(fpFmtOf(u.size), fpLane(&src, u.size, 0), u.ssize, u.sub == 1)
	if !c.fpCommit(&e) {
		return stepFault
	}
	c.setReg(u.r0, u.ssize, r)
	return stepOK
}

func fpCvtOp(c *CPU, u *uop) stepResult {
	src, ok := c.fpSrc(u)
	if !ok {
		return stepFault
	}
	dst := c.Regs.XMM[u.r0&15]
	e := c.fpEnv()
	switch u.sub {
	case cvtSS2SD:
		dst.Lo = e.convert(fmt32, fmt64, fpLane(&src, 4, 0))
	case cvtSD2SS:
		fpSetLane(&dst, 4, 0, e.convert(fmt64, fmt32, src.Lo))
	case cvtDQ2PS:
		for i := range 4 {
			fpSetLane(&dst, 4, i, e.fromInt(fmt32, int64(int32(fpLane(&src, 4, i)))))
		}
	case cvtPS2DQ, cvtTPS2DQ:
		for i := range 4 {
			fpSetLane(&dst, 4, i, e.toInt(fmt32, fpLane(&src, 4, i), 4, u.sub == cvtTPS2DQ))
		}
	case cvtDQ2PD:
		dst.Lo = e.fromInt(fmt64, int64(int32(src.Lo)))
		dst.Hi = e.fromInt(fmt64, int64(int32(src.Lo>>32)))
	case cvtPD2DQ, cvtTPD2DQ:
		lo := e.toInt(fmt64, src.Lo, 4, u.sub == cvtTPD2DQ)
		hi := e.toInt(fmt64, src.Hi, 4, u.sub == cvtTPD2DQ)
		dst = XMM{Lo: lo | hi<<32}
	case cvtPS2PD:
		dst.Lo = e.convert(fmt32, fmt64, fpLane(&src, 4, 0))
		dst.Hi = e.convert(fmt32, fmt64, fpLane(&src, 4, 1))
	case cvtPD2PS:
		lo := e.convert(fmt64, fmt32, src.Lo)
		hi := e.convert(fmt64, fmt32, src.Hi)
		dst = XMM{Lo: lo | hi<<32}
	}
	if !c.fpCommit(&e) {
		return stepFault
	}
	c.Regs.XMM[u.r0&15] = dst
	return stepOK
}

func fpShufOp(c *CPU, u *uop) stepResult {
	src, ok := c.fpSrc(u)
	if !ok {
		return stepFault
	}
	d := c.Regs.XMM[u.r0&15]
	imm := uint8(u.imm)
	var r XMM
	l := func(x *XMM, i uint8) uint64 { return fpLane(x, 4, int(i&3)) }
	ps := func(a, b, c, d uint64) XMM { return XMM{Lo: a | b<<32, Hi: c | d<<32} }
	switch u.sub {
	case shufPS:
		r = ps(l(&d, imm), l(&d, imm>>2), l(&src, imm>>4), l(&src, imm>>6))
	case shufPD:
		r = XMM{Lo: fpLane(&d, 8, int(imm&1)), Hi: fpLane(&src, 8, int(imm>>1&1))}
	case shufUnpckLPS:
		r = ps(l(&d, 0), l(&src, 0), l(&d, 1), l(&src, 1))
	case shufUnpckHPS:
		r = ps(l(&d, 2), l(&src, 2), l(&d, 3), l(&src, 3))
	case shufUnpckLPD:
		r = XMM{Lo: d.Lo, Hi: src.Lo}
	case shufUnpckHPD:
		r = XMM{Lo: d.Hi, Hi: src.Hi}
	case shufMovSHDup:
		r = ps(l(&src, 1), l(&src, 1), l(&src, 3), l(&src, 3))
	case shufMovSLDup:
		r = ps(l(&src, 0), l(&src, 0), l(&src, 2), l(&src, 2))
	case shufMovDDup:
		r = XMM{Lo: src.Lo, Hi: src.Lo}
	case shufBlendPS, shufBlendVPS, shufBlendPD, shufBlendVPD:
		esz, n := uint8(4), 4
		if u.sub == shufBlendPD || u.sub == shufBlendVPD {
			esz, n = 8, 2
		}
		r = d
		for i := range n {
			sel := imm>>uint(i)&1 != 0
			if u.sub == shufBlendVPS || u.sub == shufBlendVPD {
				sel = fpLane(&c.Regs.XMM[0], esz, i)>>(esz*8-1) != 0
			}
			if sel {
				fpSetLane(&r, esz, i, fpLane(&src, esz, i))
			}
		}
	case shufInsertPS:
		v := src.Lo & 0xFFFFFFFF // m32
		if u.sk == kindXMM {
			v = l(&src, imm>>6)
		}
		r = d
		fpSetLane(&r, 4, int(imm>>4&3), v)
		for i := range 4 {
			if imm>>uint(i)&1 != 0 {
				fpSetLane(&r, 4, i, 0)
			}
		}
	}
	c.Regs.XMM[u.r0&15] = r
	return stepOK
}

func fpMovmskOp(c *CPU, u *uop) stepResult {
	x := &c.Regs.XMM[u.r1&15]
	var m uint64
	if u.size == 8 {
		m = x.Lo>>63 | x.Hi>>63<<1
	} else {
		for i := range 4 {
			m |= fpLane(x, 4, i) >> 31 << uint(i)
		}
	}
	c.setReg(u.r0, 4, m)
	return stepOK
}

func fpExtractOp(c *CPU, u *uop) stepResult {
	v := fpLane(&c.Regs.XMM[u.r1&15], 4, int(u.imm&3))
	if u.dk == kindReg {
		c.setReg(u.r0, 4, v)
		return stepOK
	}
	if !c.store(c.ea(u), 4, v) {
		return stepFault
	}
	return stepOK
}

// fpHorzOp executes HADDPS/PD, HSUBPS/PD (each result lane combines two
// adjacent lanes: the destination's into the low half, the source's into
// the high half) and ADDSUBPS/PD (even lanes subtract, odd lanes add).
func fpHorzOp(c *CPU, u *uop) stepResult {
	src, ok := c.fpSrc(u)
	if !ok {
		return stepFault
	}
	d := c.Regs.XMM[u.r0&15]
	e := c.fpEnv()
	f := fpFmtOf(u.size)
	n := 16 / int(u.size)
	var r XMM
	for i := range n {
		if u.sub == fpAddsub {
			fpSetLane(&r, u.size, i, e.add(f, fpLane(&d, u.size, i), fpLane(&src, u.size, i), i&1 == 0))
			continue
		}
		x, j := &d, 2*i
		if i >= n/2 {
			x, j = &src, 2*i-n
		}
		fpSetLane(&r, u.size, i, e.add(f, fpLane(x, u.size, j), fpLane(x, u.size, j+1), u.sub == fpHsub))
	}
	if !c.fpCommit(&e) {
		return stepFault
	}
	c.Regs.XMM[u.r0&15] = r
	return stepOK
}

// fpRoundOp executes ROUNDSS/SD/PS/PD: imm8[1:0] is the rounding mode
// unless imm8[2] selects MXCSR.RC; imm8[3] suppresses PE (SDM Vol. 2
// ROUNDPS).
func fpRoundOp(c *CPU, u *uop) stepResult {
	src, ok := c.fpSrc(u)
	if !ok {
		return stepFault
	}
	dst := c.Regs.XMM[u.r0&15]
	e := c.fpEnv()
	f := fpFmtOf(u.size)
	imm := uint8(u.imm)
	rc := imm & 3
	if imm&4 != 0 {
		rc = e.rc
	}
	for i := range int(u.ssize) {
		fpSetLane(&dst, u.size, i, e.roundInt(f, fpLane(&src, u.size, i), rc, imm&8 != 0))
	}
	if !c.fpCommit(&e) {
		return stepFault
	}
	c.Regs.XMM[u.r0&15] = dst
	return stepOK
}

// fpDotOp executes DPPS and DPPD: the products selected by imm8[7:4] (or
// +0.0), summed pairwise, each step rounded, and written to the lanes
// selected by imm8[3:0] (the others +0.0) (SDM Vol. 2 DPPS).
func fpDotOp(c *CPU, u *uop) stepResult {
	src, ok := c.fpSrc(u)
	if !ok {
		return stepFault
	}
	d := c.Regs.XMM[u.r0&15]
	e := c.fpEnv()
	f := fpFmtOf(u.size)
	imm := uint8(u.imm)
	n := 16 / int(u.size)
	var t [4]uint64
	for i := range n {
		if imm>>(4+uint(i))&1 != 0 {
			t[i] = e.mul(f, fpLane(&d, u.size, i), fpLane(&src, u.size, i))
		}
	}
	// The order of the additions shows only in which NaN propagates; the
	// flags are the same either way. Measured on hardware: DPPD lane i adds
	// t[i] + t[i^1]; DPPS lane i adds each pair with the element of the
	// other parity than i first, and the low pair's sum first in lanes 0-1,
	// the high pair's in lanes 2-3.
	sum := func(e *fpEnv, i int) uint64 {
		if n == 2 {
			return e.add(f, t[i], t[i^1], false)
		}
		p, q := i&1^1, i&1
		lo := e.add(f, t[p], t[q], false)
		hi := e.add(f, t[2+p], t[2+q], false)
		if i >= 2 {
			return e.add(f, hi, lo, false)
		}
		return e.add(f, lo, hi, false)
	}
	sum(&e, 0)
	var r XMM
	for i := range n {
		if imm>>uint(i)&1 != 0 {
			scratch := e
			fpSetLane(&r, u.size, i, sum(&scratch, i))
		}
	}
	if !c.fpCommit(&e) {
		return stepFault
	}
	c.Regs.XMM[u.r0&15] = r
	return stepOK
}

// fpRcpOp executes RCPSS/PS and RSQRTSS/PS. The hardware returns an
// implementation-specific approximation with relative error at most
// 1.5*2^-12 (SDM Vol. 2 RCPPS); this returns the correctly rounded
// reciprocal (reciprocal square root: within half an ulp), which is within
// that bound, so tests compare these with the documented tolerance rather
// than bit for bit. The instructions raise no exceptions and ignore DAZ and
// FTZ: denormal inputs act as zeros and denormal results are flushed.
func fpRcpOp(c *CPU, u *uop) stepResult {
	src, ok := c.fpSrc(u)
	if !ok {
		return stepFault
	}
	dst := c.Regs.XMM[u.r0&15]
	for i := range int(u.ssize) {
		fpSetLane(&dst, 4, i, uint64(fpApproxRecip(uint32(fpLane(&src, 4, i)), u.sub == 1)))
	}
	c.Regs.XMM[u.r0&15] = dst
	return stepOK
}

func fpApproxRecip(x uint32, rsqrt bool) uint32 {
	sign := x & 0x80000000
	abs := x &^ 0x80000000
	switch {
	case abs > 0x7F800000:
		return x | 0x00400000
	case abs < 0x00800000: // ±0 and denormals
		return sign | 0x7F800000
	case abs == 0x7F800000:
		if rsqrt && sign != 0 {
			return uint32(fmt32.defaultNaN())
		}
		return sign
	case rsqrt && sign != 0:
		return uint32(fmt32.defaultNaN())
	}
	v := float64(math.Float32frombits(x))
	var r float32
	if rsqrt {
		r = float32(1 / math.Sqrt(v))
	} else {
		r = float32(1 / v)
	}
	b := math.Float32bits(r)
	if b&0x7F800000 == 0 {
		return sign
	}
	return b
}

// fpCvtMMXOp executes the conversions between MMX registers (two int32
// lanes) and XMM registers. Reading or writing an MMX register is an x87
// to MMX transition (SDM Vol. 2 CVTPI2PS: TOP = 0, all tags valid).
func fpCvtMMXOp(c *CPU, u *uop) stepResult {
	var src XMM
	if u.sk == kindMMX {
		src.Lo = c.mmx(u.r1)
	} else {
		var ok bool
		if src, ok = c.fpSrc(u); !ok {
			return stepFault
		}
	}
	e := c.fpEnv()
	var r uint64 // the two converted lanes
	switch u.sub {
	case cvtPI2PS:
		r = e.fromInt(fmt32, int64(int32(src.Lo))) | e.fromInt(fmt32, int64(int32(src.Lo>>32)))<<32
	case cvtPS2PI, cvtTPS2PI:
		t := u.sub == cvtTPS2PI
		r = e.toInt(fmt32, src.Lo&0xFFFFFFFF, 4, t) | e.toInt(fmt32, src.Lo>>32, 4, t)<<32
	case cvtPD2PI, cvtTPD2PI:
		t := u.sub == cvtTPD2PI
		r = e.toInt(fmt64, src.Lo, 4, t) | e.toInt(fmt64, src.Hi, 4, t)<<32
	}
	if !c.fpCommit(&e) {
		return stepFault
	}
	if u.sk == kindMMX {
		c.mmxEnter()
	}
	switch u.sub {
	case cvtPI2PS:
		c.Regs.XMM[u.r0&15].Lo = r
	case cvtPI2PD:
		c.Regs.XMM[u.r0&15] = XMM{Lo: e.fromInt(fmt64, int64(int32(src.Lo))), Hi: e.fromInt(fmt64, int64(int32(src.Lo>>32)))}
	default:
		c.setMMX(u.r0, r)
	}
	return stepOK
}
