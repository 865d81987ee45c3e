package cpu

// The integer ALU family: ADD … CMP/TEST, INC/DEC/NEG/NOT, shifts and
// rotates, SHLD/SHRD, bit tests and scans, MUL/IMUL/DIV/IDIV, CBW/CWD…,
// XCHG/XADD/CMPXCHG/CMPXCHG8B/16B (SDM Vol. 2).

import (
	"math/bits"

	"golang.org/x/arch/x86/x86asm"
)

// alu computes a (kind) b at size bytes, records the flags and returns the
// masked result (SDM Vol. 2 ADD … XOR, CMP, TEST).
func (c *CPU) alu(kind, size uint8, a, b uint64) uint64 {
	m := sizeMask(size)
	a, b = a&m, b&m
	var r uint64
	switch kind {
	case aluAdd:
		r = (a + b) & m
		c.fl.setLazy(lazyAdd, size, a, b, r, 0)
	case aluAdc:
		cin := b2u(c.fl.cf())
		r = (a + b + cin) & m
		c.fl.setLazy(lazyAdd, size, a, b, r, cin)
	case aluSub, aluCmp:
		r = (a - b) & m
		c.fl.setLazy(lazySub, size, a, b, r, 0)
	case aluSbb:
		cin := b2u(c.fl.cf())
		r = (a - b - cin) & m
		c.fl.setLazy(lazySub, size, a, b, r, cin)
	case aluAnd, aluTest:
		r = a & b
		c.fl.setLazy(lazyLogic, size, 0, 0, r, 0)
	case aluOr:
		r = a | b
		c.fl.setLazy(lazyLogic, size, 0, 0, r, 0)
	case aluXor:
		r = a ^ b
		c.fl.setLazy(lazyLogic, size, 0, 0, r, 0)
	}
	return r
}

// compute is the modify step of a read-modify-write instruction: given the
// current destination value cur and the source, it returns the new value,
// whether to write it, and records flags. It may run several times for one
// instruction (a locked CAS retry), so its only side effect is the flags.
func (c *CPU) compute(u *uop, cur, src uint64) (uint64, bool) {
	m := sizeMask(u.size)
	switch u.op {
	case opAlu:
		return c.alu(u.sub, u.size, cur, src), u.sub < aluCmp
	case opInc:
		r := (cur + 1) & m
		c.fl.setLazy(lazyInc, u.size, cur&m, 1, r, b2u(c.fl.cf()))
		return r, true
	case opDec:
		r := (cur - 1) & m
		c.fl.setLazy(lazyDec, u.size, cur&m, 1, r, b2u(c.fl.cf()))
		return r, true
	case opNeg:
		return c.alu(aluSub, u.size, 0, cur), true
	case opNot:
		return ^cur & m, true
	case opShift:
		return c.shift(u.sub, u.size, cur, c.count(u))
	case opShld, opShrd:
		return c.shiftDouble(u.op == opShld, u.size, cur, src, c.count(u))
	case opBt:
		bit := uint64(1) << (src & (uint64(u.size)*8 - 1))
		c.fl.setArith(FlagCF, b2u(cur&bit != 0))
		switch u.sub {
		case btSet:
			return cur | bit, true
		case btReset:
			return cur &^ bit, true
		case btComplement:
			return cur ^ bit, true
		}
		return cur, false
	case opXchg:
		return src, true
	case opXadd:
		return c.alu(aluAdd, u.size, cur, src), true
	case opCmpxchg:
		acc := c.reg(RAX, u.size)
		c.alu(aluCmp, u.size, acc, cur)
		if acc == cur&m {
			return src, true
		}
		return cur, false
	}
	panic("cpu: compute called for a non-RMW uop")
}

// count returns the raw shift count of u (CL or imm8).
func (c *CPU) count(u *uop) uint64 {
	if u.flags&uopCL != 0 {
		return c.Regs.GPR[RCX] & 0xFF
	}
	return u.imm
}

// shift executes a group-2 shift or rotate (SDM Vol. 2 SAL/SAR/SHL/SHR,
// RCL/RCR/ROL/ROR). A masked count of 0 changes no flags.
// Undefined flags follow the processor the differential tests run on: for
// SHL/SHR/SAR, OF is computed as for a 1-bit shift and AF is cleared.
func (c *CPU) shift(kind, size uint8, v, count uint64) (uint64, bool) {
	n := count & 0x1F
	if size == 8 {
		n = count & 0x3F
	}
	if n == 0 {
		// Flags are untouched, but the destination is still written: a
		// 32-bit register is zero-extended (observed on the host CPU).
		return v & sizeMask(size), true
	}
	w := uint64(size) * 8
	m := sizeMask(size)
	sign := signBit(size)
	v &= m
	var r uint64
	var cf, of bool
	switch kind {
	case shShl, shSal:
		r = (v << n) & m
		cf = n <= w && (v<<(n-1))&sign != 0
		of = (r&sign != 0) != cf
	case shShr:
		r = v >> n
		cf = (v>>(n-1))&1 != 0
		of = v&sign != 0
	case shSar:
		sv := int64(v^sign) - int64(sign)
		r = uint64(sv>>n) & m
		cf = (sv>>(n-1))&1 != 0
	case shRol:
		rn := n % w
		r = (v<<rn | v>>((w-rn)%w)) & m
		cf = r&1 != 0
		of = (r&sign != 0) != cf
		c.fl.setArith(FlagCF|FlagOF, b2u(cf)|b2u(of)<<11)
		return r, true
	case shRor:
		rn := n % w
		r = (v>>rn | v<<((w-rn)%w)) & m
		cf = r&sign != 0
		of = cf != (r&(sign>>1) != 0)
		c.fl.setArith(FlagCF|FlagOF, b2u(cf)|b2u(of)<<11)
		return r, true
	case shRcl, shRcr:
		rn := n
		if size < 4 {
			rn = n % (w + 1)
		}
		cin := b2u(c.fl.cf())
		if rn == 0 {
			// The count is a multiple of the rotation width: nothing moves;
			// OF is set as for a 1-bit rotate of the unchanged value.
			if kind == shRcl {
				of = (v&sign != 0) != (cin != 0)
			} else {
				of = (v&sign != 0) != (v&(sign>>1) != 0)
			}
			c.fl.setArith(FlagOF, b2u(of)<<11)
			return v, true
		}
		if kind == shRcl {
			r = (v<<rn | cin<<(rn-1) | v>>(w+1-rn)) & m
			cf = (v>>(w-rn))&1 != 0
			of = (r&sign != 0) != cf
		} else {
			r = (v>>rn | cin<<(w-rn) | v<<(w+1-rn)) & m
			cf = (v>>(rn-1))&1 != 0
			of = (r&sign != 0) != (r&(sign>>1) != 0)
		}
		c.fl.setArith(FlagCF|FlagOF, b2u(cf)|b2u(of)<<11)
		return r, true
	}
	c.fl.setLazy(lazyShift, size, 0, 0, r, b2u(cf)|b2u(of)<<1) // SF, ZF, PF from r; AF = 0
	return r, true
}

// shiftDouble executes SHLD (left) or SHRD (SDM Vol. 2 SHLD, SHRD). For a
// 16-bit operand and a count above 16 the result is undefined; the model
// shifts through dst:src:dst as Intel processors do.
func (c *CPU) shiftDouble(left bool, size uint8, dst, src, count uint64) (uint64, bool) {
	n := count & 0x1F
	if size == 8 {
		n = count & 0x3F
	}
	if n == 0 {
		return dst & sizeMask(size), true // written (zero-extended) as for shifts
	}
	m := sizeMask(size)
	sign := signBit(size)
	dst, src = dst&m, src&m
	var r uint64
	var cf bool
	switch {
	case size == 8 && left:
		r = dst<<n | src>>(64-n)
		cf = (dst>>(64-n))&1 != 0
	case size == 8:
		r = dst>>n | src<<(64-n)
		cf = (dst>>(n-1))&1 != 0
	case size == 4 && left:
		t := dst<<32 | src
		r = (t << n >> 32) & m
		cf = (t>>(64-n))&1 != 0
	case size == 4:
		t := src<<32 | dst
		r = (t >> n) & m
		cf = (t>>(n-1))&1 != 0
	case left: // 16-bit: dst:src:dst
		t := dst<<32 | src<<16 | dst
		r = (t << n >> 32) & m
		cf = (t>>(48-n))&1 != 0
	default:
		t := dst<<32 | src<<16 | dst
		r = (t >> n) & m
		cf = (t>>(n-1))&1 != 0
	}
	of := (r^dst)&sign != 0
	c.fl.setLazy(lazyShift, size, 0, 0, r, b2u(cf)|b2u(of)<<1) // SF, ZF, PF from r; AF = 0
	return r, true
}

// bitScan executes BSF/BSR/TZCNT/LZCNT/POPCNT on src; ok is false when the
// destination is left unchanged (BSF/BSR of 0). TZCNT/LZCNT leave OF, SF, PF
// and AF undefined; like the host CPU the model clears them.
func (c *CPU) bitScan(op opcode, size uint8, src uint64) (uint64, bool) {
	w := uint64(size) * 8
	src &= sizeMask(size)
	switch op {
	case opBsf, opBsr:
		// ZF = (src == 0); CF, OF, SF, AF, PF are undefined: this processor
		// computes them as for a logic result (cleared, SF/PF of the result).
		if src == 0 {
			c.fl.setArith(FlagsArith, FlagZF|FlagPF)
			return 0, false
		}
		var r uint64
		if op == opBsf {
			r = uint64(bits.TrailingZeros64(src))
		} else {
			r = uint64(63 - bits.LeadingZeros64(src))
		}
		c.fl.setArith(FlagsArith, szp(r, size)&^FlagZF)
		return r, true
	case opTzcnt:
		r := w
		if src != 0 {
			r = uint64(bits.TrailingZeros64(src))
		}
		c.fl.setArith(FlagsArith, b2u(src == 0)|b2u(r == 0)<<6)
		return r, true
	case opLzcnt:
		r := uint64(bits.LeadingZeros64(src)) - (64 - w)
		c.fl.setArith(FlagsArith, b2u(src == 0)|b2u(r == 0)<<6)
		return r, true
	}
	r := uint64(bits.OnesCount64(src))
	c.fl.setArith(FlagsArith, b2u(src == 0)<<6)
	return r, true
}

// sext sign-extends the low size bytes of v.
func sext(v uint64, size uint8) uint64 {
	s := 64 - uint(size)*8
	return uint64(int64(v<<s) >> s)
}

// mulFlags sets CF = OF = overflow. SF, ZF, AF and PF are undefined; the
// model matches the host CPU of the differential tests: SF and PF from the
// low half of the result, ZF and AF cleared.
// They are recorded lazily (lazyMul).
func (c *CPU) mulFlags(overflow bool, lo uint64, size uint8) {
	o := b2u(overflow)
	c.fl.setLazy(lazyMul, size, 0, 0, lo&sizeMask(size), o|o<<1)
}

// mul1 executes one-operand MUL/IMUL: rDX:rAX = rAX * src.
func (c *CPU) mul1(signed bool, size uint8, src uint64) {
	m := sizeMask(size)
	a := c.reg(RAX, size)
	src &= m
	var lo, hi uint64
	var overflow bool
	switch {
	case size == 8:
		hi, lo = bits.Mul64(a, src)
		if signed {
			if int64(a) < 0 {
				hi -= src
			}
			if int64(src) < 0 {
				hi -= a
			}
			overflow = hi != uint64(int64(lo)>>63)
		} else {
			overflow = hi != 0
		}
	case signed:
		p := int64(sext(a, size)) * int64(sext(src, size))
		lo, hi = uint64(p)&m, uint64(p>>(uint(size)*8))&m
		overflow = p != int64(sext(uint64(p), size))
	default:
		p := a * src
		lo, hi = p&m, p>>(uint(size)*8)
		overflow = hi != 0
	}
	if size == 1 {
		c.setReg(RAX, 2, hi<<8|lo)
	} else {
		c.setReg(RAX, size, lo)
		c.setReg(RDX, size, hi)
	}
	c.mulFlags(overflow, lo, size)
}

// imul executes two- and three-operand IMUL: a * b truncated to size.
func (c *CPU) imul(size uint8, a, b uint64) uint64 {
	m := sizeMask(size)
	var lo uint64
	var overflow bool
	if size == 8 {
		hi, l := bits.Mul64(a, b)
		if int64(a) < 0 {
			hi -= b
		}
		if int64(b) < 0 {
			hi -= a
		}
		lo = l
		overflow = hi != uint64(int64(lo)>>63)
	} else {
		p := int64(sext(a, size)) * int64(sext(b, size))
		lo = uint64(p) & m
		overflow = p != int64(sext(lo, size))
	}
	c.mulFlags(overflow, lo, size)
	return lo
}

// div executes DIV/IDIV with source src; false means #DE (divide by zero or
// quotient overflow), with no state changed.
func (c *CPU) div(signed bool, size uint8, src uint64) bool {
	m := sizeMask(size)
	src &= m
	if src == 0 {
		return false
	}
	w := uint(size) * 8
	var hi, lo uint64
	if size == 1 {
		v := c.reg(RAX, 2)
		hi, lo = v>>8, v&0xFF
	} else {
		hi, lo = c.reg(RDX, size), c.reg(RAX, size)
	}
	var q, r uint64
	switch {
	case !signed && size == 8:
		if hi >= src {
			return false
		}
		q, r = bits.Div64(hi, lo, src)
	case !signed:
		n := hi<<w | lo
		q, r = n/src, n%src
		if q > m {
			return false
		}
	case size == 8:
		neg := int64(hi) < 0
		uhi, ulo := hi, lo
		if neg { // 128-bit negate
			ulo = -lo
			uhi = ^hi
			if lo == 0 {
				uhi++
			}
		}
		d := src
		dneg := int64(src) < 0
		if dneg {
			d = -src
		}
		if uhi >= d {
			return false
		}
		uq, ur := bits.Div64(uhi, ulo, d)
		if neg != dneg {
			if uq > 1<<63 {
				return false
			}
			q = -uq
		} else {
			if uq >= 1<<63 {
				return false
			}
			q = uq
		}
		r = ur
		if neg {
			r = -ur
		}
	default:
		n := int64(sext(hi<<w|lo, size*2))
		d := int64(sext(src, size))
		sq := n / d
		if sq != int64(sext(uint64(sq), size)) {
			return false
		}
		q, r = uint64(sq)&m, uint64(n%d)&m
	}
	if size == 1 {
		c.setReg(RAX, 2, r<<8|q&0xFF)
	} else {
		c.setReg(RAX, size, q)
		c.setReg(RDX, size, r)
	}
	return true
}

func init() {
	defLockable(trALU, x86asm.ADD, x86asm.OR, x86asm.ADC, x86asm.SBB, x86asm.AND, x86asm.SUB, x86asm.XOR, x86asm.CMP, x86asm.TEST)
	defLockable(trUnary, x86asm.INC, x86asm.DEC, x86asm.NEG, x86asm.NOT)
	defLockable(trShift, x86asm.ROL, x86asm.ROR, x86asm.RCL, x86asm.RCR, x86asm.SHL, x86asm.SHR, x86asm.SAR)
	defLockable(trShld, x86asm.SHLD, x86asm.SHRD)
	defLockable(trBt, x86asm.BT, x86asm.BTS, x86asm.BTR, x86asm.BTC)
	defLockable(trBitScan, x86asm.BSF, x86asm.BSR, x86asm.TZCNT, x86asm.LZCNT, x86asm.POPCNT)
	defLockable(trMulDiv, x86asm.MUL, x86asm.IMUL, x86asm.DIV, x86asm.IDIV)
	defLockable(trCext, x86asm.CBW, x86asm.CWDE, x86asm.CDQE)
	defLockable(trCdq, x86asm.CWD, x86asm.CDQ, x86asm.CQO)
	defLockable(trExchange, x86asm.XCHG, x86asm.XADD, x86asm.CMPXCHG)
	defLockable(trCmpxchg2, x86asm.CMPXCHG8B, x86asm.CMPXCHG16B)
	defOp(opAlu, "alu", execAlu)
	defOp(opInc, "inc", execModify)
	defOp(opDec, "dec", execModify)
	defOp(opNeg, "neg", execModify)
	defOp(opNot, "not", execModify)
	defOp(opShift, "shift", execModify)
	defOp(opShld, "shld", execShld)
	defOp(opShrd, "shrd", execShld)
	defOp(opBt, "bt", execBt)
	defOp(opBsf, "bsf", execBitScan)
	defOp(opBsr, "bsr", execBitScan)
	defOp(opTzcnt, "tzcnt", execBitScan)
	defOp(opLzcnt, "lzcnt", execBitScan)
	defOp(opPopcnt, "popcnt", execBitScan)
	defOp(opMul1, "mul", execMul1)
	defOp(opImul1, "imul1", execMul1)
	defOp(opImul2, "imul2", execImul2)
	defOp(opImul3, "imul3", execImul3)
	defOp(opDiv, "div", execDiv)
	defOp(opIdiv, "idiv", execDiv)
	defOp(opXchg, "xchg", execXchg)
	defOp(opXadd, "xadd", execXadd)
	defOp(opCmpxchg, "cmpxchg", execCmpxchg)
	defOp(opCmpxchg2, "cmpxchg8b/16b", execCmpxchg2)
	defOp(opCext, "cext", execCext)
	defOp(opCdq, "cdq", execCdq)
}

func trALU(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	n := nargs(inst)
	a := inst.Args
	if n != 2 {
		return false
	}
	u.op, u.sub = opAlu, aluOps[op]
	if !setDst(u, inst, a[0]) || !setSrc(u, inst, a[1]) {
		return false
	}
	if u.sub == aluTest && u.sk == kindMem { // TEST r, r/m is symmetric: keep memory as dst
		u.dk, u.sk, u.r1 = kindMem, kindReg, u.r0
	}
	return setLock(u)
}

func trUnary(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	n := nargs(inst)
	a := inst.Args
	if n != 1 || !setDst(u, inst, a[0]) {
		return false
	}
	u.op = unaryOps[op]
	return setLock(u)
}

func trShift(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	n := nargs(inst)
	a := inst.Args
	if n != 2 || !setDst(u, inst, a[0]) || !setCount(u, a[1]) {
		return false
	}
	u.op, u.sub = opShift, shiftOps[op]
	return true
}

func trShld(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	n := nargs(inst)
	a := inst.Args
	if n != 3 || !setDst(u, inst, a[0]) || !setCount(u, a[2]) {
		return false
	}
	r, sz, ok := gpr(a[1])
	if !ok || sz != u.size || sz == 1 {
		return false
	}
	u.sk, u.r1 = kindReg, r
	u.op = opShld
	if op == x86asm.SHRD {
		u.op = opShrd
	}
	return true
}

func trBt(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	n := nargs(inst)
	a := inst.Args
	if n != 2 || !setDst(u, inst, a[0]) || !setSrc(u, inst, a[1]) || u.size == 1 {
		return false
	}
	u.op, u.sub = opBt, btOps[op]
	return setLock(u)
}

func trBitScan(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	n := nargs(inst)
	a := inst.Args
	if n != 2 || !setRegDst(u, a[0]) || !setSrc(u, inst, a[1]) || u.size == 1 {
		return false
	}
	u.op = scanOps[op]
	return true
}

func trMulDiv(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	n := nargs(inst)
	a := inst.Args
	switch {
	case n == 1:
		// One-operand forms: the operand is the source; rAX/rDX implicit.
		k, r, sz, ok := rm(u, inst, a[0])
		if !ok || !validSize(sz) {
			return false
		}
		u.sk, u.r1, u.size = k, r, sz
		u.op = mulDivOps[op]
	case op == x86asm.IMUL && n == 2:
		if !setRegDst(u, a[0]) || !setSrc(u, inst, a[1]) || u.sk == kindImm {
			return false
		}
		u.op = opImul2
	case op == x86asm.IMUL && n == 3:
		imm, isImm := a[2].(x86asm.Imm)
		if !setRegDst(u, a[0]) || !setSrc(u, inst, a[1]) || !isImm || u.sk == kindImm {
			return false
		}
		u.op, u.imm = opImul3, uint64(int64(imm))&sizeMask(u.size)
	default:
		return false
	}
	return true
}

func trCext(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	u.op, u.size = opCext, extSizes[op]
	return true
}

func trCdq(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	u.op, u.size = opCdq, extSizes[op]
	return true
}

func trExchange(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	n := nargs(inst)
	a := inst.Args
	if n != 2 {
		return false
	}
	first, second := a[0], a[1]
	if _, isMem := second.(x86asm.Mem); isMem && op == x86asm.XCHG {
		first, second = second, first
	}
	if !setDst(u, inst, first) || !setSrc(u, inst, second) || u.sk != kindReg {
		return false
	}
	switch op {
	case x86asm.XCHG:
		u.op = opXchg
		if u.dk == kindMem { // XCHG with memory is always locked (SDM Vol. 2 XCHG)
			u.flags |= uopLockReq
		}
	case x86asm.XADD:
		u.op = opXadd
	default:
		u.op = opCmpxchg
	}
	return setLock(u)
}

func trCmpxchg2(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	n := nargs(inst)
	a := inst.Args
	m, isMem := a[0].(x86asm.Mem)
	if n != 1 || !isMem || !setMem(u, m) {
		return false
	}
	u.op, u.dk, u.size = opCmpxchg2, kindMem, 8
	if op == x86asm.CMPXCHG16B {
		u.size = 16
	}
	return setLock(u)
}

func execAlu(c *CPU, u *uop) stepResult {
	if u.dk == kindReg {
		b, ok := c.srcVal(u)
		if !ok {
			return stepFault
		}
		r := c.alu(u.sub, u.size, c.reg(u.r0, u.size), b)
		if u.sub < aluCmp {
			c.setReg(u.r0, u.size, r)
		}
		return stepOK
	}
	b, _ := c.srcVal(u) // register or immediate
	va := c.ea(u)
	if u.sub >= aluCmp {
		a, ok := c.load(va, u.size)
		if !ok {
			return stepFault
		}
		c.alu(u.sub, u.size, a, b)
	} else if _, ok := c.rmw(u, va, b); !ok {
		return stepFault
	}
	return stepOK
}

func execModify(c *CPU, u *uop) stepResult {
	if !c.modify(u, 0) {
		return stepFault
	}
	return stepOK
}

func execShld(c *CPU, u *uop) stepResult {
	if !c.modify(u, c.reg(u.r1, u.size)) {
		return stepFault
	}
	return stepOK
}

func execBt(c *CPU, u *uop) stepResult {
	return c.bitTest(u)
}

func execBitScan(c *CPU, u *uop) stepResult {
	v, ok := c.srcVal(u)
	if !ok {
		return stepFault
	}
	if r, write := c.bitScan(u.op, u.size, v); write {
		c.setReg(u.r0, u.size, r)
	}
	return stepOK
}

func execMul1(c *CPU, u *uop) stepResult {
	v, ok := c.srcVal(u)
	if !ok {
		return stepFault
	}
	c.mul1(u.op == opImul1, u.size, v)
	return stepOK
}

func execImul2(c *CPU, u *uop) stepResult {
	v, ok := c.srcVal(u)
	if !ok {
		return stepFault
	}
	c.setReg(u.r0, u.size, c.imul(u.size, c.reg(u.r0, u.size), v))
	return stepOK
}

func execImul3(c *CPU, u *uop) stepResult {
	v, ok := c.srcVal(u)
	if !ok {
		return stepFault
	}
	c.setReg(u.r0, u.size, c.imul(u.size, v, u.imm))
	return stepOK
}

func execDiv(c *CPU, u *uop) stepResult {
	v, ok := c.srcVal(u)
	if !ok {
		return stepFault
	}
	if !c.div(u.op == opIdiv, u.size, v) {
		c.exit = Exit{Kind: ExitDE}
		return stepFault
	}
	return stepOK
}

func execXchg(c *CPU, u *uop) stepResult {
	b := c.reg(u.r1, u.size)
	if u.dk == kindReg {
		c.setReg(u.r1, u.size, c.reg(u.r0, u.size))
		c.setReg(u.r0, u.size, b)
		return stepOK
	}
	old, ok := c.rmw(u, c.ea(u), b)
	if !ok {
		return stepFault
	}
	c.setReg(u.r1, u.size, old)
	return stepOK
}

func execXadd(c *CPU, u *uop) stepResult {
	b := c.reg(u.r1, u.size)
	if u.dk == kindReg {
		a := c.reg(u.r0, u.size)
		sum := c.alu(aluAdd, u.size, a, b)
		c.setReg(u.r1, u.size, a)
		c.setReg(u.r0, u.size, sum)
		return stepOK
	}
	old, ok := c.rmw(u, c.ea(u), b)
	if !ok {
		return stepFault
	}
	c.setReg(u.r1, u.size, old)
	return stepOK
}

func execCmpxchg(c *CPU, u *uop) stepResult {
	src := c.reg(u.r1, u.size)
	acc := c.reg(RAX, u.size)
	if u.dk == kindReg {
		cur := c.reg(u.r0, u.size)
		c.alu(aluCmp, u.size, acc, cur)
		if acc == cur {
			c.setReg(u.r0, u.size, src)
		} else {
			c.setReg(RAX, u.size, cur)
		}
		return stepOK
	}
	old, ok := c.rmw(u, c.ea(u), src)
	if !ok {
		return stepFault
	}
	if old != acc {
		c.setReg(RAX, u.size, old)
	}
	return stepOK
}

func execCmpxchg2(c *CPU, u *uop) stepResult {
	return c.cmpxchg2(u)
}

func execCext(c *CPU, u *uop) stepResult {
	half := u.size / 2
	c.setReg(RAX, u.size, sext(c.reg(RAX, half), half))
	return stepOK
}

func execCdq(c *CPU, u *uop) stepResult {
	c.setReg(RDX, u.size, -(c.reg(RAX, u.size) >> (uint(u.size)*8 - 1)))
	return stepOK
}
