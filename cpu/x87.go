package cpu

// The x87 FPU (SDM Vol. 1 chapter 8, Vol. 2 F* instructions): translation
// of the D8-DF escape opcodes and FWAIT into uops and their execution on
// the software extended-precision arithmetic of x87float.go.
//
// Exceptions: with every exception masked (the only configuration Linux
// user programs run in, and the psABI default) the masked responses of SDM
// Vol. 1 4.9.1 / 8.5 are produced and the flags accumulate in FSW. An
// instruction that would raise an unmasked exception is not executed; it
// ends the run with ExitUD naming "unmasked x87 floating-point exception
// (#MF)" (delivering #MF to the guest is not modelled), as does a waiting
// x87 instruction or FWAIT that finds an unmasked exception already pending.
//
// FOP, FIP and FDP (SDM Vol. 1 8.1.8, 8.1.9) behave as on current Intel
// processors (and this machine's): every non-control x87 instruction sets
// FIP to its address, while FOP and FDP are updated only when an x87
// instruction raises an unmasked exception (FOP compatibility mode off;
// CPUID.(EAX=7,ECX=0):EBX[6] FDP_EXCPTN_ONLY). Since an unmasked exception
// here ends the run without executing the instruction, FOP and FDP keep
// whatever FXRSTOR/FRSTOR/FLDENV loaded (FNINIT clears them).

import (
	"golang.org/x/arch/x86/x86asm"
)

// x87 and FPU-state opcodes (the x87 family range, family.go).
const (
	opX87     = famX87 + iota // any D8-DF instruction: imm = FOP (11 bits)
	opFwait                   // FWAIT/WAIT
	opEmms                    // EMMS
	opFxsave                  // FXSAVE/FXSAVE64 (ssize 8 for the 64-bit form)
	opFxrstor                 // FXRSTOR/FXRSTOR64
)

func init() {
	defOp(opX87, "x87", execX87)
	defOp(opFwait, "fwait", execFwait)
	defOp(opEmms, "emms", execEmms)
	defOp(opFxsave, "fxsave", execFxsave)
	defOp(opFxrstor, "fxrstor", execFxrstor)
	defTranslator(translateX87,
		x86asm.F2XM1, x86asm.FABS, x86asm.FADD, x86asm.FADDP, x86asm.FBLD, x86asm.FBSTP, x86asm.FCHS,
		x86asm.FCMOVB, x86asm.FCMOVBE, x86asm.FCMOVE, x86asm.FCMOVNB, x86asm.FCMOVNBE,
		x86asm.FCMOVNE, x86asm.FCMOVNU, x86asm.FCMOVU, x86asm.FCOM, x86asm.FCOMI,
		x86asm.FCOMIP, x86asm.FCOMP, x86asm.FCOMPP, x86asm.FCOS, x86asm.FDECSTP,
		x86asm.FDIV, x86asm.FDIVP, x86asm.FDIVR, x86asm.FDIVRP, x86asm.FFREE,
		x86asm.FFREEP, x86asm.FIADD, x86asm.FICOM, x86asm.FICOMP, x86asm.FIDIV,
		x86asm.FIDIVR, x86asm.FILD, x86asm.FIMUL, x86asm.FINCSTP, x86asm.FIST,
		x86asm.FISTP, x86asm.FISTTP, x86asm.FISUB, x86asm.FISUBR, x86asm.FLD,
		x86asm.FLD1, x86asm.FLDCW, x86asm.FLDENV, x86asm.FLDL2E, x86asm.FLDL2T,
		x86asm.FLDLG2, x86asm.FLDLN2, x86asm.FLDPI, x86asm.FLDZ, x86asm.FMUL,
		x86asm.FMULP, x86asm.FNCLEX, x86asm.FNINIT, x86asm.FNOP, x86asm.FNSAVE,
		x86asm.FNSTCW, x86asm.FNSTENV, x86asm.FNSTSW, x86asm.FPATAN, x86asm.FPREM,
		x86asm.FPREM1, x86asm.FPTAN, x86asm.FRNDINT, x86asm.FRSTOR, x86asm.FSCALE,
		x86asm.FSIN, x86asm.FSINCOS, x86asm.FSQRT, x86asm.FST, x86asm.FSTP,
		x86asm.FSUB, x86asm.FSUBP, x86asm.FSUBR, x86asm.FSUBRP, x86asm.FTST,
		x86asm.FUCOM, x86asm.FUCOMI, x86asm.FUCOMIP, x86asm.FUCOMP, x86asm.FUCOMPP,
		x86asm.FXAM, x86asm.FXCH, x86asm.FXTRACT, x86asm.FYL2X, x86asm.FYL2XP1)
	defTranslator(translateFPUState, x86asm.FWAIT, x86asm.EMMS,
		x86asm.FXSAVE, x86asm.FXSAVE64, x86asm.FXRSTOR, x86asm.FXRSTOR64)
}

// memArg fills u's memory operand from the first memory argument of inst.
func memArg(u *uop, inst *x86asm.Inst) bool {
	for _, a := range inst.Args {
		if m, ok := a.(x86asm.Mem); ok {
			u.dk = kindMem
			return setMem(u, m)
		}
	}
	return false
}

// translateX87 encodes a D8-DF instruction as opX87 with its FOP (the low
// three bits of the escape byte and the ModRM byte, SDM Vol. 1 8.1.8) in
// imm; execX87 decodes the rest from it.
func translateX87(u *uop, inst *x86asm.Inst) bool {
	esc := byte(inst.Opcode >> 24)
	modrm := byte(inst.Opcode >> 16)
	if esc < 0xD8 || esc > 0xDF {
		return false
	}
	fop := uint16(esc&7)<<8 | uint16(modrm)
	if modrm < 0xC0 {
		if !memArg(u, inst) {
			return false
		}
		switch fop & 0x738 {
		case 0x120, 0x130, 0x520, 0x530: // FLDENV, FNSTENV, FRSTOR, FNSAVE
			if inst.DataSize == 16 {
				return false // the 16-bit (14/94-byte) image is not implemented
			}
		}
	} else if fop == 0x7E0 { // FNSTSW AX
		u.dk, u.r0 = kindReg, RAX
	}
	u.op, u.imm = opX87, uint64(fop)
	switch fop & 0x738 {
	case 0x030, 0x038, 0x430, 0x438, 0x630, 0x638: // FDIV/FDIVR m32/m64/m16int
		u.cost = costIndex(clsX87Div, 0) // classify keeps it
	}
	if modrm >= 0xC0 {
		switch {
		case fop&0x6F0 == 0x0F0 || fop == 0x1FA: // FDIV(R) ST forms, FSQRT
			u.cost = costIndex(clsX87Div, 0) // classify keeps it
		}
	}
	return true
}

func translateFPUState(u *uop, inst *x86asm.Inst) bool {
	switch inst.Op {
	case x86asm.FWAIT:
		u.op = opFwait
	case x86asm.EMMS:
		u.op = opEmms
	case x86asm.FXSAVE, x86asm.FXSAVE64, x86asm.FXRSTOR, x86asm.FXRSTOR64:
		if !memArg(u, inst) {
			return false
		}
		u.op = opFxsave
		if inst.Op == x86asm.FXRSTOR || inst.Op == x86asm.FXRSTOR64 {
			u.op = opFxrstor
		}
		if inst.Op == x86asm.FXSAVE64 || inst.Op == x86asm.FXRSTOR64 {
			u.ssize = 8
		}
	default:
		return false
	}
	return true
}

// Stack access. TOP, tags and registers follow SDM Vol. 1 8.1.2-8.1.7.

func (x *X87) phys(i uint8) uint8 { return (x.Top() + i) & 7 }
func (x *X87) empty(i uint8) bool { return x.FTW&(1<<x.phys(i)) == 0 }
func (x *X87) st(i uint8) F80     { return x.ST[x.phys(i)] }

func (x *X87) setST(i uint8, v F80) {
	p := x.phys(i)
	x.ST[p] = v
	x.FTW |= 1 << p
}

func (x *X87) setTop(t uint8) { x.FSW = x.FSW&^fswTop | uint16(t&7)<<11 }

func (x *X87) pop() {
	x.FTW &^= 1 << x.phys(0)
	x.setTop(x.Top() + 1)
}

func (x *X87) push(v F80) {
	x.setTop(x.Top() - 1)
	x.setST(0, v)
}

// fpx collects the outcome of one x87 instruction before it is committed.
type fpx struct {
	flags uint16 // IE DE ZE OE UE PE SF
	c1    bool
	cond  uint16 // C0 C2 C3 to set, when setCond
	setCC bool
	keep1 bool // C1 is left alone (FNOP, FCOMI, FCMOVcc without a stack fault)
}

// underflow records a stack underflow (SDM Vol. 1 8.5.1.1): IE, SF, C1 = 0.
func (f *fpx) underflow() { f.flags |= fswIE | fswSF; f.c1 = false }

// overflow records a stack overflow: IE, SF, C1 = 1.
func (f *fpx) overflow() { f.flags |= fswIE | fswSF; f.c1 = true }

// mfExit records the exit for an unmasked x87 exception.
func (c *CPU) mfExit(u *uop) stepResult {
	var b [15]byte
	n := int(u.len)
	if n > len(b) {
		n = len(b)
	}
	var e *UnimplementedError
	if c.loadBytes(c.Regs.RIP, b[:n]) {
		e = newUDError(c.Regs.RIP, b[:n], false)
	} else {
		e = &UnimplementedError{RIP: c.Regs.RIP, Disasm: "(bad)"}
	}
	e.Disasm = "unmasked x87 floating-point exception (#MF): " + e.Disasm
	c.exit = Exit{Kind: ExitUD, Err: e}
	return stepFault
}

// pending reports an unmasked exception flagged in FSW (SDM Vol. 1 8.6:
// taken by the next waiting x87 instruction).
func (x *X87) pending() bool { return x.FSW&fswExc&^(x.FCW&0x3f) != 0 }

// unmasked reports whether f raises an unmasked exception.
func (x *X87) unmasked(f *fpx) bool { return f.flags&fswExc&^(x.FCW&0x3f) != 0 }

// commit merges f into FSW: the sticky exception flags, C1, and the
// condition codes when set.
func (x *X87) commit(f *fpx) {
	s := x.FSW | f.flags
	if !f.keep1 || f.flags&fswSF != 0 {
		s &^= fswC1
		if f.c1 {
			s |= fswC1
		}
	}
	if f.setCC {
		s = s&^(fswC0|fswC2|fswC3) | f.cond
	}
	x.FSW = s
}

func execFwait(c *CPU, u *uop) stepResult {
	if c.Regs.X87.pending() {
		return c.mfExit(u)
	}
	return stepOK
}

// execEmms empties every register; like the other MMX-state instructions
// it also sets TOP to 0 (as this machine's processor does).
func execEmms(c *CPU, u *uop) stepResult {
	c.Regs.X87.FTW = 0
	c.Regs.X87.setTop(0)
	return stepOK
}

// Extended constants (SDM Vol. 1 8.3.8): the significand truncated to 64
// bits and whether the next bit is one; the constants are irrational, so a
// directed rounding always sees a nonzero remainder.
var x87Consts = [...]struct {
	f    F80
	half bool
}{
	{F80{0x8000000000000000, 0x3FFF}, false}, // FLD1 (exact)
	{F80{0xD49A784BCD1B8AFE, 0x4000}, false}, // FLDL2T log2(10)
	{F80{0xB8AA3B295C17F0BB, 0x3FFF}, true},  // FLDL2E log2(e)
	{F80{0xC90FDAA22168C234, 0x4000}, true},  // FLDPI
	{F80{0x9A209A84FBCFF798, 0x3FFD}, true},  // FLDLG2 log10(2)
	{F80{0xB17217F7D1CF79AB, 0x3FFE}, true},  // FLDLN2 ln(2)
	{F80{0, 0}, false},                       // FLDZ (exact)
}

func loadConst(i int, rc uint8) F80 {
	k := x87Consts[i]
	if i == 0 || i == 6 {
		return k.f
	}
	inc := false
	switch rc {
	case rcNearest:
		inc = k.half
	case x87RCUp:
		inc = true
	}
	if inc {
		k.f.Mant++
	}
	return k.f
}

// arith applies arithmetic operation op (the ModRM reg field of D8: 0 add,
// 1 mul, 4 sub, 5 subr, 6 div, 7 divr) to a (the destination) and b.
func (r *rounder) arith(op uint8, a, b F80) F80 {
	switch op {
	case 0:
		return r.addSub(a, b, false)
	case 1:
		return r.mul(a, b)
	case 4:
		return r.addSub(a, b, true)
	case 5:
		return r.addSub(b, a, true)
	case 6:
		return r.div(a, b)
	}
	return r.div(b, a)
}

// addSub returns a + b or a - b.
func (r *rounder) addSub(a, b F80, sub bool) F80 {
	if res, done := binPrelude(a, b, &r.flags); done {
		r.up = false
		return res
	}
	if sub {
		b = b.neg()
	}
	return r.add(a, b)
}

// condFrom maps a comparison result to C3 C2 C0 (SDM Vol. 2 FCOM).
func condFrom(c int) uint16 {
	switch c {
	case -1:
		return fswC0
	case 0:
		return fswC3
	case 1:
		return 0
	}
	return fswC0 | fswC2 | fswC3
}

// eflagsFrom maps a comparison result to ZF PF CF (SDM Vol. 2 FCOMI).
func eflagsFrom(c int) uint64 {
	switch c {
	case -1:
		return FlagCF
	case 0:
		return FlagZF
	case 1:
		return 0
	}
	return FlagZF | FlagPF | FlagCF
}

// loadMemOperand reads the memory source operand of an arithmetic form
// (esc 0 m32fp, 2 m32int, 4 m64fp, 6 m16int) and reports whether it is a
// denormal in its own format. An SNaN stays signalling, so the operation
// raises IE for it.
func (c *CPU) loadMemOperand(va uint64, esc uint8) (v F80, denormal, ok bool) {
	switch esc {
	case 0, 4:
		size, nf := uint8(4), &x87Fmt32
		if esc == 4 {
			size, nf = 8, &x87Fmt64
		}
		raw, ok := c.load(va, size)
		if !ok {
			return F80{}, false, false
		}
		x, cls := nf.widen(raw)
		return x, cls == clsDenormal, true
	case 2:
		raw, ok := c.load(va, 4)
		return fromInt(int64(int32(raw))), false, ok
	}
	raw, ok := c.load(va, 2)
	return fromInt(int64(int16(raw))), false, ok
}

func execX87(c *CPU, u *uop) stepResult {
	x := &c.Regs.X87
	fop := uint16(u.imm)
	esc := uint8(fop >> 8)
	modrm := uint8(fop)
	reg := modrm >> 3 & 7
	var f fpx
	var va uint64
	mem := modrm < 0xC0
	if mem {
		va = c.ea(u)
	}
	control := false
	if mem {
		switch esc<<3 | reg {
		case 1<<3 | 4, 1<<3 | 5, 1<<3 | 6, 1<<3 | 7, 5<<3 | 4, 5<<3 | 6, 5<<3 | 7:
			control = true
		}
	} else {
		switch fop {
		case 0x3E2, 0x3E3, 0x7E0:
			control = true
		}
	}
	// FNSTENV/FNSTCW/FNSTSW/FNSAVE/FNCLEX/FNINIT are non-waiting; FLDENV,
	// FLDCW and FRSTOR wait (SDM Vol. 1 8.3.11).
	waiting := true
	if control {
		switch {
		case mem && (esc<<3|reg == 1<<3|6 || esc<<3|reg == 1<<3|7 || esc<<3|reg == 5<<3|6 || esc<<3|reg == 5<<3|7):
			waiting = false
		case !mem:
			waiting = false
		}
	}
	if waiting && x.pending() {
		return c.mfExit(u)
	}
	var r stepResult
	if control {
		r = c.x87Control(u, fop, va)
	} else {
		if mem {
			r = c.x87Mem(u, fop, va, &f)
		} else {
			r = c.x87Reg(u, fop, &f)
		}
		if r == stepOK {
			x.FIP = c.Regs.RIP
		}
	}
	return r
}

// finish commits f unless it carries an unmasked exception.
func (c *CPU) finish(u *uop, f *fpx) bool {
	if c.Regs.X87.unmasked(f) {
		c.mfExit(u)
		return false
	}
	c.Regs.X87.commit(f)
	return true
}

// x87Mem executes the memory forms other than the control instructions.
func (c *CPU) x87Mem(u *uop, fop uint16, va uint64, f *fpx) stepResult {
	x := &c.Regs.X87
	esc := uint8(fop >> 8)
	reg := uint8(fop>>3) & 7
	fcw := x.FCW
	switch esc {
	case 0, 2, 4, 6: // arithmetic with m32fp, m32int, m64fp, m16int
		b, denormal, ok := c.loadMemOperand(va, esc)
		if !ok {
			return stepFault
		}
		return c.binMem(u, reg, b, denormal, f)
	}
	switch esc<<3 | reg {
	case 1<<3 | 0, 5<<3 | 0: // FLD m32fp, m64fp
		size := uint8(4)
		nf := &x87Fmt32
		if esc == 5 {
			size, nf = 8, &x87Fmt64
		}
		v, ok := c.load(va, size)
		if !ok {
			return stepFault
		}
		val, cls := nf.widen(v)
		switch cls {
		case clsSNaN:
			f.flags |= fswIE
			val = val.quiet()
		case clsDenormal:
			f.flags |= fswDE
		}
		return c.pushVal(u, val, f)
	case 3<<3 | 5: // FLD m80
		v, ok := c.load80(va)
		if !ok {
			return stepFault
		}
		return c.pushVal(u, v, f)
	case 7<<3 | 4: // FBLD
		var b [10]byte
		if !c.loadBytes(va, b[:]) {
			return stepFault
		}
		return c.pushVal(u, fromBCD(b), f)
	case 7<<3 | 6: // FBSTP
		var b [10]byte
		if x.empty(0) {
			f.underflow()
			b = bcdIndefinite
		} else {
			b = toBCD(x.st(0), uint8(fcw>>fcwRCShift)&3, f)
		}
		if x.unmasked(f) {
			return c.mfExit(u)
		}
		if !c.storeBytes(va, b[:]) {
			return stepFault
		}
		x.commit(f)
		x.pop()
		return stepOK
	case 3<<3 | 0, 7<<3 | 0, 7<<3 | 5: // FILD m32, m16, m64
		size := uint8(4)
		switch esc<<3 | reg {
		case 7<<3 | 0:
			size = 2
		case 7<<3 | 5:
			size = 8
		}
		v, ok := c.load(va, size)
		if !ok {
			return stepFault
		}
		var i int64
		switch size {
		case 2:
			i = int64(int16(v))
		case 4:
			i = int64(int32(v))
		default:
			i = int64(v)
		}
		return c.pushVal(u, fromInt(i), f)
	case 1<<3 | 2, 1<<3 | 3, 5<<3 | 2, 5<<3 | 3: // FST(P) m32fp, m64fp
		nf, size := &x87Fmt32, uint8(4)
		if esc == 5 {
			nf, size = &x87Fmt64, 8
		}
		var out uint64
		if x.empty(0) {
			f.underflow()
			out = nf.indefinite()
		} else {
			v := x.st(0)
			if v.class() == clsInvalid {
				f.flags |= fswIE
				out = nf.indefinite()
			} else {
				r := x87Rounder(fcw, false)
				out = nf.narrow(&r, v)
				f.flags |= r.flags
				f.c1 = r.up
			}
		}
		if x.unmasked(f) {
			return c.mfExit(u)
		}
		if !c.store(va, size, out) {
			return stepFault
		}
		c.Regs.X87.commit(f)
		if reg == 3 {
			x.pop()
		}
		return stepOK
	case 3<<3 | 7: // FSTP m80
		var v F80
		if x.empty(0) {
			f.underflow()
			v = f80Indefinite
		} else {
			v = x.st(0)
		}
		if x.unmasked(f) {
			return c.mfExit(u)
		}
		if !c.store80(va, v) {
			return stepFault
		}
		x.commit(f)
		x.pop()
		return stepOK
	case 3<<3 | 1, 3<<3 | 2, 3<<3 | 3, 7<<3 | 1, 7<<3 | 2, 7<<3 | 3, 5<<3 | 1, 7<<3 | 7:
		// FISTTP/FIST/FISTP m32 (DB), m16 (DF /1-/3), FISTTP m64 (DD /1),
		// FISTP m64 (DF /7).
		size := uint8(4)
		switch {
		case esc == 7 && reg <= 3:
			size = 2
		case esc == 5 || reg == 7:
			size = 8
		}
		rc := uint8(fcw>>fcwRCShift) & 3
		if reg == 1 {
			rc = x87RCZero
		}
		var out uint64
		if x.empty(0) {
			f.underflow()
			out = intIndefinite(size)
		} else {
			out = fist(x.st(0), size, rc, f)
		}
		if x.unmasked(f) {
			return c.mfExit(u)
		}
		if !c.store(va, size, out) {
			return stepFault
		}
		x.commit(f)
		if reg != 2 {
			x.pop()
		}
		return stepOK
	}
	return c.udX87(u)
}

// udX87 is #UD for an encoding the decoder accepted but the FPU does not
// define.
func (c *CPU) udX87(u *uop) stepResult {
	var b [15]byte
	n := min(int(u.len), len(b))
	c.loadBytes(c.Regs.RIP, b[:n])
	c.exit = Exit{Kind: ExitUD, Err: newUDError(c.Regs.RIP, b[:n], true)}
	return stepFault
}

// indefinite is the format's QNaN indefinite.
func (f *narrowFmt) indefinite() uint64 {
	emax := uint64(1)<<f.expBits - 1
	return f.signBit | emax<<f.fracBits | 1<<(f.fracBits-1)
}

// intIndefinite is the integer indefinite of a size-byte integer.
func intIndefinite(size uint8) uint64 { return 1 << (uint(size)*8 - 1) }

// fist converts v to a size-byte integer rounding per rc (SDM Vol. 2 FIST):
// NaN, infinity, unsupported formats and out-of-range values give the
// integer indefinite with IE.
func fist(v F80, size uint8, rc uint8, f *fpx) uint64 {
	switch v.class() {
	case clsInvalid, clsQNaN, clsSNaN, x87ClsInf:
		f.flags |= fswIE
		return intIndefinite(size)
	}
	r := rounder{prec: 64, rc: rc}
	mag, ok := r.roundInt(v)
	limit := uint64(1) << (uint(size)*8 - 1)
	if !ok || mag > limit || (mag == limit && !v.sign()) {
		f.flags |= fswIE
		f.c1 = false
		return intIndefinite(size)
	}
	f.flags |= r.flags
	f.c1 = r.up
	if v.sign() {
		mag = -mag
	}
	return mag & sizeMask(size)
}

// Packed BCD (SDM Vol. 1 4.7): 18 digits, two per byte from the least
// significant, and the sign in bit 7 of byte 9.
var bcdIndefinite = [10]byte{7: 0xC0, 8: 0xFF, 9: 0xFF}

// fromBCD converts a packed BCD integer exactly (digits above 9 give an
// undefined result on the processor; here they count with their value).
func fromBCD(b [10]byte) F80 {
	var v uint64
	for i := 8; i >= 0; i-- {
		v = v*100 + uint64(b[i]>>4)*10 + uint64(b[i]&15)
	}
	return fromUint(b[9]&0x80 != 0, v)
}

// toBCD rounds v to an integer per rc and packs it (SDM Vol. 2 FBSTP):
// NaN, infinity, unsupported formats and magnitudes above 10^18 - 1 give
// the BCD indefinite with IE.
func toBCD(v F80, rc uint8, f *fpx) [10]byte {
	switch v.class() {
	case clsInvalid, clsQNaN, clsSNaN, x87ClsInf:
		f.flags |= fswIE
		return bcdIndefinite
	}
	r := rounder{prec: 64, rc: rc}
	mag, ok := r.roundInt(v)
	if !ok || mag > 999999999999999999 {
		f.flags |= fswIE
		f.c1 = false
		return bcdIndefinite
	}
	f.flags |= r.flags
	f.c1 = r.up
	var b [10]byte
	for i := 0; i < 9; i++ {
		d := mag % 100
		mag /= 100
		b[i] = byte(d/10)<<4 | byte(d%10)
	}
	if v.sign() {
		b[9] = 0x80
	}
	return b
}

// pushVal pushes v (SDM Vol. 1 8.5.1.1: a full stack gives the indefinite
// with IE, SF and C1 = 1).
func (c *CPU) pushVal(u *uop, v F80, f *fpx) stepResult {
	x := &c.Regs.X87
	if x.FTW&(1<<((x.Top()-1)&7)) != 0 && f.flags&fswSF == 0 {
		f.flags &^= fswDE // the operand is not examined
		f.overflow()
		v = f80Indefinite
	}
	if !c.finish(u, f) {
		return stepFault
	}
	x.push(v)
	return stepOK
}

// binMem executes the D8/DA/DC/DE memory forms: ST(0) = ST(0) op m, or a
// comparison of ST(0) with m.
//
// A denormal m32/m64 operand is a normal extended value; its DE is raised
// here unless the operation raised IE or ZE, which outrank it (SDM Vol. 1
// 4.9.2).
func (c *CPU) binMem(u *uop, reg uint8, b F80, denormal bool, f *fpx) stepResult {
	x := &c.Regs.X87
	if reg == 2 || reg == 3 { // FCOM/FCOMP, FICOM/FICOMP
		f.setCC = true
		if x.empty(0) {
			f.underflow()
			f.cond = condFrom(2)
		} else {
			f.cond = condFrom(fcmp(x.st(0), b, false, &f.flags))
			if denormal && f.flags&fswIE == 0 {
				f.flags |= fswDE
			}
		}
		if !c.finish(u, f) {
			return stepFault
		}
		if reg == 3 {
			x.pop()
		}
		return stepOK
	}
	var res F80
	if x.empty(0) {
		f.underflow()
		res = f80Indefinite
	} else {
		r := x87Rounder(x.FCW, true)
		res = r.arith(reg, x.st(0), b)
		if denormal && r.flags&(fswIE|fswZE) == 0 && !res.isNaN() {
			r.flags |= fswDE
		}
		f.flags |= r.flags
		f.c1 = r.up
	}
	if !c.finish(u, f) {
		return stepFault
	}
	x.setST(0, res)
	return stepOK
}

// fcmovCond evaluates the FCMOVcc condition of fop (SDM Vol. 2 FCMOVcc).
func (c *CPU) fcmovCond(fop uint16) bool {
	fl := &c.fl
	var t bool
	switch (fop >> 3) & 3 {
	case 0:
		t = fl.cond(ccB)
	case 1:
		t = fl.cond(ccE)
	case 2:
		t = fl.cond(ccBE)
	default:
		t = fl.cond(ccP)
	}
	if fop>>8 == 3 {
		t = !t
	}
	return t
}

// x87Reg executes the register forms (ModRM >= C0) other than FNCLEX,
// FNINIT and FNSTSW AX.
func (c *CPU) x87Reg(u *uop, fop uint16, f *fpx) stepResult {
	x := &c.Regs.X87
	esc := uint8(fop >> 8)
	reg := uint8(fop>>3) & 7
	i := uint8(fop) & 7
	switch esc {
	case 0, 4, 6: // arithmetic: D8 ST(0) = ST(0) op ST(i); DC/DE ST(i) = ST(i) op ST(0)
		if esc == 0 && (reg == 2 || reg == 3) {
			return c.fcomReg(u, i, false, reg == 3, false, f)
		}
		if esc == 6 && fop == 0x6D9 {
			return c.fcomReg(u, 1, false, true, true, f)
		}
		if esc != 0 && (reg == 2 || reg == 3) {
			return c.udX87(u)
		}
		dst, src := uint8(0), i
		op := reg
		if esc != 0 {
			dst, src = i, 0
			if op >= 4 {
				op ^= 1
			}
		}
		var res F80
		if x.empty(dst) || x.empty(src) {
			f.underflow()
			res = f80Indefinite
		} else {
			r := x87Rounder(x.FCW, true)
			res = r.arith(op, x.st(dst), x.st(src))
			f.flags |= r.flags
			f.c1 = r.up
		}
		if !c.finish(u, f) {
			return stepFault
		}
		x.setST(dst, res)
		if esc == 6 {
			x.pop()
		}
		return stepOK
	case 2, 3:
		switch {
		case reg <= 3: // FCMOVcc
			f.keep1 = true
			if x.empty(0) || x.empty(i) {
				// The masked response writes the indefinite whatever
				// the condition.
				f.underflow()
				if !c.finish(u, f) {
					return stepFault
				}
				x.setST(0, f80Indefinite)
				return stepOK
			}
			if !c.finish(u, f) {
				return stepFault
			}
			if c.fcmovCond(fop) {
				x.setST(0, x.st(i))
			}
			return stepOK
		case fop == 0x2E9: // FUCOMPP
			return c.fcomReg(u, 1, true, true, true, f)
		case esc == 3 && reg == 5: // FUCOMI
			return c.fcomi(u, i, true, false, f)
		case esc == 3 && reg == 6: // FCOMI
			return c.fcomi(u, i, false, false, f)
		}
	case 7:
		switch reg {
		case 0: // FFREEP
			if !c.finish(u, f) {
				return stepFault
			}
			x.FTW &^= 1 << x.phys(i)
			x.pop()
			return stepOK
		case 5: // FUCOMIP
			return c.fcomi(u, i, true, true, f)
		case 6: // FCOMIP
			return c.fcomi(u, i, false, true, f)
		}
	case 5:
		switch reg {
		case 0: // FFREE
			if !c.finish(u, f) {
				return stepFault
			}
			x.FTW &^= 1 << x.phys(i)
			return stepOK
		case 2, 3: // FST/FSTP ST(i)
			v := x.st(0)
			if x.empty(0) {
				f.underflow()
				v = f80Indefinite
			}
			if !c.finish(u, f) {
				return stepFault
			}
			x.setST(i, v)
			if reg == 3 {
				x.pop()
			}
			return stepOK
		case 4, 5: // FUCOM/FUCOMP
			return c.fcomReg(u, i, true, reg == 5, false, f)
		}
	case 1:
		return c.x87D9(u, fop, f)
	}
	return c.udX87(u)
}

// fcomReg compares ST(0) with ST(i) into C3 C2 C0, popping once or twice.
func (c *CPU) fcomReg(u *uop, i uint8, quiet, pop, pop2 bool, f *fpx) stepResult {
	x := &c.Regs.X87
	f.setCC = true
	if x.empty(0) || x.empty(i) {
		f.underflow()
		f.cond = condFrom(2)
	} else {
		f.cond = condFrom(fcmp(x.st(0), x.st(i), quiet, &f.flags))
	}
	if !c.finish(u, f) {
		return stepFault
	}
	if pop {
		x.pop()
	}
	if pop2 {
		x.pop()
	}
	return stepOK
}

// fcomi compares ST(0) with ST(i) into ZF PF CF (OF SF AF cleared).
func (c *CPU) fcomi(u *uop, i uint8, quiet, pop bool, f *fpx) stepResult {
	x := &c.Regs.X87
	var res int
	f.keep1 = true
	if x.empty(0) || x.empty(i) {
		f.underflow()
		res = 2
	} else {
		res = fcmp(x.st(0), x.st(i), quiet, &f.flags)
	}
	if !c.finish(u, f) {
		return stepFault
	}
	c.fl.setArith(FlagsArith, eflagsFrom(res))
	if pop {
		x.pop()
	}
	return stepOK
}

// x87D9 executes the D9 register forms.
func (c *CPU) x87D9(u *uop, fop uint16, f *fpx) stepResult {
	x := &c.Regs.X87
	i := uint8(fop) & 7
	switch modrm := uint8(fop); {
	case modrm < 0xC8: // FLD ST(i)
		v := x.st(i)
		if x.empty(i) {
			f.underflow()
			v = f80Indefinite
		}
		return c.pushVal(u, v, f)
	case modrm < 0xD0: // FXCH
		a, b := x.st(0), x.st(i)
		if x.empty(0) || x.empty(i) {
			f.underflow()
			if x.empty(0) {
				a = f80Indefinite
			}
			if x.empty(i) {
				b = f80Indefinite
			}
		}
		if !c.finish(u, f) {
			return stepFault
		}
		x.setST(0, b)
		x.setST(i, a)
		return stepOK
	case modrm == 0xD0: // FNOP
		f.keep1 = true
		if !c.finish(u, f) {
			return stepFault
		}
		return stepOK
	case modrm >= 0xE8 && modrm <= 0xEE: // FLD1 … FLDZ
		return c.pushVal(u, loadConst(int(modrm-0xE8), uint8(x.FCW>>fcwRCShift)&3), f)
	case modrm == 0xF6 || modrm == 0xF7: // FDECSTP, FINCSTP
		if !c.finish(u, f) {
			return stepFault
		}
		if modrm == 0xF6 {
			x.setTop(x.Top() - 1)
		} else {
			x.setTop(x.Top() + 1)
		}
		return stepOK
	}
	return c.x87Unary(u, fop, f)
}
