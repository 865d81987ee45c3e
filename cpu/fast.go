package cpu

import (
	"encoding/binary"

	"github.com/tlbemu/emu/tlb"
)

// Specialised handlers. When an instruction enters the decode cache,
// specialise picks, for the most frequent integer forms, a handler written
// for exactly that form (operand kinds and size fixed), so that executing
// it skips the operand-kind and size switches of the generic handler
// (srcVal, reg, setReg, alu's kind switch). Each specialised handler does
// exactly what the generic handler does for that form: the same result,
// the same lazy flags, the same memory accesses in the same order, so no
// counter can tell them apart (TestSpecialisedEquivalence runs both).
// u.x holds the handler's opcode number; u.op stays the instruction's.

// Specialised opcode numbers: the range after the families'.
const (
	famFast opcode = numOps // first specialised opcode

	xMovRR64 opcode = numOps + iota - 1
	xMovRR32
	xMovRI64
	xMovRI32
	xLoad64
	xLoad32
	xStoreR
	xLea64
	xAddRR
	xAddRI
	xSubRR
	xSubRI
	xCmpRR
	xCmpRI
	xAndRR
	xAndRI
	xOrRR
	xOrRI
	xXorRR
	xXorRI
	xTestRR
	xTestRI
	xIncR
	xDecR
	xPushR
	xPopR
	xJcc
	xJmp
	xCall
	xRet
	xImulRR
	xImulRM
	xJccB
	xJccE
	xJccBE
	xJccL
	xJccLE
	xNop
	xMovzxRR
	xMovzxRM
	xAluM
	xShiftR

	numX // one past the last specialised opcode
)

func init() {
	for i, h := range fastHandlers {
		handlers[famFast+opcode(i)] = h
	}
}

// fastHandlers is indexed by u.x - famFast.
var fastHandlers = [numX - famFast]handler{
	xMovRR64 - famFast: fMovRR64,
	xMovRR32 - famFast: fMovRR32,
	xMovRI64 - famFast: fMovRI64,
	xMovRI32 - famFast: fMovRI32,
	xLoad64 - famFast:  fLoad64,
	xLoad32 - famFast:  fLoad32,
	xStoreR - famFast:  fStoreR,
	xLea64 - famFast:   fLea64,
	xAddRR - famFast:   fAddRR,
	xAddRI - famFast:   fAddRI,
	xSubRR - famFast:   fSubRR,
	xSubRI - famFast:   fSubRI,
	xCmpRR - famFast:   fCmpRR,
	xCmpRI - famFast:   fCmpRI,
	xAndRR - famFast:   fAndRR,
	xAndRI - famFast:   fAndRI,
	xOrRR - famFast:    fOrRR,
	xOrRI - famFast:    fOrRI,
	xXorRR - famFast:   fXorRR,
	xXorRI - famFast:   fXorRI,
	xTestRR - famFast:  fTestRR,
	xTestRI - famFast:  fTestRI,
	xIncR - famFast:    fIncR,
	xDecR - famFast:    fDecR,
	xPushR - famFast:   fPushR,
	xPopR - famFast:    fPopR,
	xJcc - famFast:     execJcc,
	xJmp - famFast:     execJmp,
	xCall - famFast:    execCall,
	xRet - famFast:     execRet,
	xImulRR - famFast:  fImulRR,
	xImulRM - famFast:  fImulRM,
	xJccB - famFast:    fJccB,
	xJccE - famFast:    fJccE,
	xJccBE - famFast:   fJccBE,
	xJccL - famFast:    fJccL,
	xJccLE - famFast:   fJccLE,
	xNop - famFast:     execNop,
	xMovzxRR - famFast: fMovzxRR,
	xMovzxRM - famFast: fMovzxRM,
	xAluM - famFast:    fAluM,
	xShiftR - famFast:  fShiftR,
}

// Memory operand shapes (uop.eak). ea computes eaGeneric operands in full
// (RIP-relative, no base, 32-bit address size, FS/GS); the others are the
// same sum without the tests.
const (
	eaGeneric       uint8 = iota
	eaBaseDisp            // GPR base + disp
	eaBaseIndexDisp       // GPR base + GPR index << scale + disp
	eaRIPDisp             // next RIP + disp
)

// eaShape classifies u's memory operand.
func eaShape(u *uop) uint8 {
	if u.flags&uopAddr32 != 0 || u.seg != segNone {
		return eaGeneric
	}
	if u.base == regRIP && u.index == regNone {
		return eaRIPDisp
	}
	if u.base >= 16 {
		return eaGeneric
	}
	if u.index == regNone {
		return eaBaseDisp
	}
	if u.index < 16 {
		return eaBaseIndexDisp
	}
	return eaGeneric
}

// specialise returns the opcode number of the handler to run for u: a
// specialised one from the table above, or u.op (always u.op with
// c.noSpecialise, a test knob).
// It also sets u.eak.
func (c *CPU) specialise(u *uop) opcode {
	if c.noSpecialise {
		return u.op
	}
	u.eak = eaShape(u)
	return specialised(u)
}

func specialised(u *uop) opcode {
	// Register operands of 4 or 8 bytes, GPRs 0-15 (AH… exist only at size
	// 1): a 32-bit write zero-extends, so storing the masked value is
	// setReg's whole job.
	wide := u.size == 8 || u.size == 4
	dReg := u.dk == kindReg && u.r0 < 16
	sReg := u.sk == kindReg && u.r1 < 16
	switch u.op {
	case opMov:
		switch {
		case dReg && sReg && u.size == 8:
			return xMovRR64
		case dReg && sReg && u.size == 4:
			return xMovRR32
		case dReg && u.sk == kindImm && u.size == 8:
			return xMovRI64
		case dReg && u.sk == kindImm && u.size == 4:
			return xMovRI32
		case dReg && u.sk == kindMem && u.size == 8:
			return xLoad64
		case dReg && u.sk == kindMem && u.size == 4:
			return xLoad32
		case u.dk == kindMem && sReg && wide:
			return xStoreR
		}
	case opLea:
		if dReg && u.size == 8 {
			return xLea64
		}
	case opAlu:
		// CMP and TEST write no register: a GPR below 16 (no AH…) read
		// at any size is the masked register, as reg reads it.
		noWrite := u.sub == aluCmp || u.sub == aluTest
		if u.dk == kindMem && !noWrite && u.flags&uopLock == 0 {
			return xAluM // ADD, OR, ADC, SBB, AND, SUB, XOR [m], r/imm
		}
		if !dReg || !(wide || noWrite) || !(sReg || u.sk == kindImm) {
			break
		}
		rr := u.sk == kindReg
		var x opcode
		switch u.sub {
		case aluAdd:
			x = xAddRR
		case aluSub:
			x = xSubRR
		case aluCmp:
			x = xCmpRR
		case aluAnd:
			x = xAndRR
		case aluOr:
			x = xOrRR
		case aluXor:
			x = xXorRR
		case aluTest:
			x = xTestRR
		default:
			return u.op
		}
		if !rr {
			x++ // the RI form follows the RR form
		}
		return x
	case opNop:
		return xNop
	case opMovzx:
		// A zero-extending load or register read of 1 or 2 bytes into a
		// 4- or 8-byte register: the write is the whole register.
		switch {
		case !dReg || !wide || u.ssize > 2:
		case sReg:
			return xMovzxRR
		case u.sk == kindMem:
			return xMovzxRM
		}
	case opShift:
		if dReg && wide {
			return xShiftR
		}
	case opInc:
		if dReg && wide {
			return xIncR
		}
	case opDec:
		if dReg && wide {
			return xDecR
		}
	case opPush:
		if sReg && u.size == 8 {
			return xPushR
		}
	case opPop:
		if dReg && u.size == 8 && u.r0 != RSP {
			return xPopR
		}
	case opImul2:
		switch {
		case dReg && sReg && wide:
			return xImulRR
		case dReg && u.sk == kindMem && wide:
			return xImulRM
		}
	case opJcc:
		switch u.sub >> 1 {
		case ccB >> 1:
			return xJccB
		case ccE >> 1:
			return xJccE
		case ccBE >> 1:
			return xJccBE
		case ccL >> 1:
			return xJccL
		case ccLE >> 1:
			return xJccLE
		}
		return xJcc
	case opJmp:
		return xJmp
	case opCall:
		return xCall
	case opRet:
		return xRet
	}
	return u.op
}

func fMovRR64(c *CPU, u *uop) stepResult {
	c.Regs.GPR[u.r0&15] = c.Regs.GPR[u.r1&15]
	return stepOK
}

func fMovRR32(c *CPU, u *uop) stepResult {
	c.Regs.GPR[u.r0&15] = uint64(uint32(c.Regs.GPR[u.r1&15]))
	return stepOK
}

func fMovRI64(c *CPU, u *uop) stepResult {
	c.Regs.GPR[u.r0&15] = u.imm
	return stepOK
}

func fMovRI32(c *CPU, u *uop) stepResult {
	c.Regs.GPR[u.r0&15] = uint64(uint32(u.imm))
	return stepOK
}

// fLoad64 and fLoad32 inline load's fast path: an operand within one page
// that the hit memo answers (tlb.MMU.Hit: 0 extra cycles, no fault). A memo
// miss changes nothing, and load, asked next, asks Hit again.

func fLoad64(c *CPU, u *uop) stepResult {
	va := c.ea(u)
	if va&pageMask <= pageSize-8 && c.memoRead(va) {
		if f := c.MMU.Hit(tlb.VirtAddr(va), tlb.Read); f != nil {
			c.Regs.GPR[u.r0&15] = binary.LittleEndian.Uint64(f[va&pageMask:])
			return stepOK
		}
	}
	v, ok := c.load(va, 8)
	if !ok {
		return stepFault
	}
	c.Regs.GPR[u.r0&15] = v
	return stepOK
}

func fLoad32(c *CPU, u *uop) stepResult {
	va := c.ea(u)
	if va&pageMask <= pageSize-4 && c.memoRead(va) {
		if f := c.MMU.Hit(tlb.VirtAddr(va), tlb.Read); f != nil {
			c.Regs.GPR[u.r0&15] = uint64(binary.LittleEndian.Uint32(f[va&pageMask:]))
			return stepOK
		}
	}
	v, ok := c.load(va, 4)
	if !ok {
		return stepFault
	}
	c.Regs.GPR[u.r0&15] = v
	return stepOK
}

func fStoreR(c *CPU, u *uop) stepResult {
	if !c.store(c.ea(u), u.size, c.Regs.GPR[u.r1&15]) {
		return stepFault
	}
	return stepOK
}

// fMovzxRR and fMovzxRM are MOVZX r32/r64, r/m8 or r/m16 (not AH…).
func fMovzxRR(c *CPU, u *uop) stepResult {
	c.Regs.GPR[u.r0&15] = c.Regs.GPR[u.r1&15] & sizeMask(u.ssize)
	return stepOK
}

func fMovzxRM(c *CPU, u *uop) stepResult {
	v, ok := c.load(c.ea(u), u.ssize)
	if !ok {
		return stepFault
	}
	c.Regs.GPR[u.r0&15] = v
	return stepOK
}

func fLea64(c *CPU, u *uop) stepResult {
	c.Regs.GPR[u.r0&15] = c.ea(u)
	return stepOK
}

// The ALU forms: a, b masked to the operand size, the result masked, the
// same setLazy as alu.

func fAddRR(c *CPU, u *uop) stepResult {
	m := sizeMask(u.size)
	d := &c.Regs.GPR[u.r0&15]
	a, b := *d&m, c.Regs.GPR[u.r1&15]&m
	r := (a + b) & m
	c.fl.setLazy(lazyAdd, u.size, a, b, r, 0)
	*d = r
	return stepOK
}

func fAddRI(c *CPU, u *uop) stepResult {
	m := sizeMask(u.size)
	d := &c.Regs.GPR[u.r0&15]
	a, b := *d&m, u.imm&m
	r := (a + b) & m
	c.fl.setLazy(lazyAdd, u.size, a, b, r, 0)
	*d = r
	return stepOK
}

func fSubRR(c *CPU, u *uop) stepResult {
	m := sizeMask(u.size)
	d := &c.Regs.GPR[u.r0&15]
	a, b := *d&m, c.Regs.GPR[u.r1&15]&m
	r := (a - b) & m
	c.fl.setLazy(lazySub, u.size, a, b, r, 0)
	*d = r
	return stepOK
}

func fSubRI(c *CPU, u *uop) stepResult {
	m := sizeMask(u.size)
	d := &c.Regs.GPR[u.r0&15]
	a, b := *d&m, u.imm&m
	r := (a - b) & m
	c.fl.setLazy(lazySub, u.size, a, b, r, 0)
	*d = r
	return stepOK
}

func fCmpRR(c *CPU, u *uop) stepResult {
	m := sizeMask(u.size)
	a, b := c.Regs.GPR[u.r0&15]&m, c.Regs.GPR[u.r1&15]&m
	c.fl.setLazy(lazySub, u.size, a, b, (a-b)&m, 0)
	return stepOK
}

func fCmpRI(c *CPU, u *uop) stepResult {
	m := sizeMask(u.size)
	a, b := c.Regs.GPR[u.r0&15]&m, u.imm&m
	c.fl.setLazy(lazySub, u.size, a, b, (a-b)&m, 0)
	return stepOK
}

func fAndRR(c *CPU, u *uop) stepResult {
	m := sizeMask(u.size)
	d := &c.Regs.GPR[u.r0&15]
	r := *d & c.Regs.GPR[u.r1&15] & m
	c.fl.setLazy(lazyLogic, u.size, 0, 0, r, 0)
	*d = r
	return stepOK
}

func fAndRI(c *CPU, u *uop) stepResult {
	m := sizeMask(u.size)
	d := &c.Regs.GPR[u.r0&15]
	r := *d & u.imm & m
	c.fl.setLazy(lazyLogic, u.size, 0, 0, r, 0)
	*d = r
	return stepOK
}

func fOrRR(c *CPU, u *uop) stepResult {
	m := sizeMask(u.size)
	d := &c.Regs.GPR[u.r0&15]
	r := (*d | c.Regs.GPR[u.r1&15]) & m
	c.fl.setLazy(lazyLogic, u.size, 0, 0, r, 0)
	*d = r
	return stepOK
}

func fOrRI(c *CPU, u *uop) stepResult {
	m := sizeMask(u.size)
	d := &c.Regs.GPR[u.r0&15]
	r := (*d | u.imm) & m
	c.fl.setLazy(lazyLogic, u.size, 0, 0, r, 0)
	*d = r
	return stepOK
}

func fXorRR(c *CPU, u *uop) stepResult {
	m := sizeMask(u.size)
	d := &c.Regs.GPR[u.r0&15]
	r := (*d ^ c.Regs.GPR[u.r1&15]) & m
	c.fl.setLazy(lazyLogic, u.size, 0, 0, r, 0)
	*d = r
	return stepOK
}

func fXorRI(c *CPU, u *uop) stepResult {
	m := sizeMask(u.size)
	d := &c.Regs.GPR[u.r0&15]
	r := (*d ^ u.imm) & m
	c.fl.setLazy(lazyLogic, u.size, 0, 0, r, 0)
	*d = r
	return stepOK
}

func fTestRR(c *CPU, u *uop) stepResult {
	r := c.Regs.GPR[u.r0&15] & c.Regs.GPR[u.r1&15] & sizeMask(u.size)
	c.fl.setLazy(lazyLogic, u.size, 0, 0, r, 0)
	return stepOK
}

func fTestRI(c *CPU, u *uop) stepResult {
	r := c.Regs.GPR[u.r0&15] & u.imm & sizeMask(u.size)
	c.fl.setLazy(lazyLogic, u.size, 0, 0, r, 0)
	return stepOK
}

// fIncR and fDecR preserve CF through cin, as compute does.
func fIncR(c *CPU, u *uop) stepResult {
	m := sizeMask(u.size)
	d := &c.Regs.GPR[u.r0&15]
	a := *d & m
	r := (a + 1) & m
	c.fl.setLazy(lazyInc, u.size, a, 1, r, b2u(c.fl.cf()))
	*d = r
	return stepOK
}

func fDecR(c *CPU, u *uop) stepResult {
	m := sizeMask(u.size)
	d := &c.Regs.GPR[u.r0&15]
	a := *d & m
	r := (a - 1) & m
	c.fl.setLazy(lazyDec, u.size, a, 1, r, b2u(c.fl.cf()))
	*d = r
	return stepOK
}

func fPushR(c *CPU, u *uop) stepResult {
	if !c.push(8, c.Regs.GPR[u.r1&15]) {
		return stepFault
	}
	return stepOK
}

// fPopR is POP r64 for r != RSP (POP RSP loads RSP after the increment).
func fPopR(c *CPU, u *uop) stepResult {
	rsp := c.Regs.GPR[RSP]
	v, ok := c.load(rsp, 8)
	if !ok {
		return stepFault
	}
	c.Regs.GPR[RSP] = rsp + 8
	c.Regs.GPR[u.r0&15] = v
	return stepOK
}

// fAluM is a read-modify-write ALU operation on memory without LOCK:
// execAlu's memory path (srcVal, ea, then rmw's prepWrite, read, compute
// and commit) without its layers for an operand within one page; a split
// operand takes execAlu.
func fAluM(c *CPU, u *uop) stepResult {
	b, _ := c.srcVal(u) // a register or an immediate
	va := c.ea(u)
	if va&pageMask+uint64(u.size) > pageSize {
		if _, ok := c.rmw(u, va, b); !ok {
			return stepFault
		}
		return stepOK
	}
	f := c.xlate(va, tlb.Write) // translateSpan's one-page case
	if f == nil {
		return stepFault
	}
	if nv, write := c.compute(u, readLE(f, va, u.size), b); write {
		writeLE(f, va, u.size, nv)
		c.noteWrite(f, va)
	}
	return stepOK
}

// fShiftR is a shift or rotate of a 4- or 8-byte GPR by an immediate or
// CL: modify's register path (shift's result is masked to the size, which
// is setReg's whole write at these sizes).
func fShiftR(c *CPU, u *uop) stepResult {
	d := &c.Regs.GPR[u.r0&15]
	*d, _ = c.shift(u.sub, u.size, *d, c.count(u))
	return stepOK
}

// fImulRR and fImulRM are IMUL r, r/m (two operands) at 4 or 8 bytes: the
// operands as reg reads them, the product and flags from imul, the result
// written as setReg does (a 32-bit result zero-extends; imul masks it).

func fImulRR(c *CPU, u *uop) stepResult {
	d := &c.Regs.GPR[u.r0&15]
	*d = c.imulWide(u.size, *d, c.Regs.GPR[u.r1&15])
	return stepOK
}

func fImulRM(c *CPU, u *uop) stepResult {
	va := c.ea(u)
	d := &c.Regs.GPR[u.r0&15]
	if u.size == 4 && va&pageMask <= pageSize-4 && c.memoRead(va) { // fLoad32's inline load
		if f := c.MMU.Hit(tlb.VirtAddr(va), tlb.Read); f != nil {
			*d = c.imulWide(4, *d, uint64(binary.LittleEndian.Uint32(f[va&pageMask:])))
			return stepOK
		}
	}
	v, ok := c.load(va, u.size)
	if !ok {
		return stepFault
	}
	*d = c.imulWide(u.size, *d, v)
	return stepOK
}

// imulWide is imul for size 4 or 8 (the operands need not be masked): the
// same product and flags, with the 32-bit sign extensions as conversions.
func (c *CPU) imulWide(size uint8, a, b uint64) uint64 {
	if size == 4 {
		p := int64(int32(a)) * int64(int32(b))
		lo := uint64(uint32(p))
		c.mulFlags(p != int64(int32(p)), lo, 4)
		return lo
	}
	return c.imul(8, a, b)
}

// The Jcc forms by condition class: flagState.cond's CMP/SUB fast path
// inline (and, for E/NE, zf's answer after a logic operation); any other
// flag state goes to execJcc, which asks cond.

func fJccB(c *CPU, u *uop) stepResult {
	f := &c.fl
	if f.kind != lazySub || f.cin != 0 {
		return execJcc(c, u)
	}
	return c.jcc(u, f.a < f.b)
}

func fJccE(c *CPU, u *uop) stepResult {
	f := &c.fl
	switch {
	case f.kind == lazySub && f.cin == 0:
		return c.jcc(u, f.a == f.b)
	case f.kind == lazyLogic:
		return c.jcc(u, f.res == 0)
	}
	return execJcc(c, u)
}

func fJccBE(c *CPU, u *uop) stepResult {
	f := &c.fl
	if f.kind != lazySub || f.cin != 0 {
		return execJcc(c, u)
	}
	return c.jcc(u, f.a <= f.b)
}

func fJccL(c *CPU, u *uop) stepResult {
	f := &c.fl
	if f.kind != lazySub || f.cin != 0 {
		return execJcc(c, u)
	}
	return c.jcc(u, int64(f.a^f.sign)-int64(f.sign) < int64(f.b^f.sign)-int64(f.sign))
}

func fJccLE(c *CPU, u *uop) stepResult {
	f := &c.fl
	if f.kind != lazySub || f.cin != 0 {
		return execJcc(c, u)
	}
	return c.jcc(u, int64(f.a^f.sign)-int64(f.sign) <= int64(f.b^f.sign)-int64(f.sign))
}

// jcc finishes a Jcc whose condition class evaluated to t (before the
// negation in the low bit of the condition code), as execJcc does.
func (c *CPU) jcc(u *uop, t bool) stepResult {
	if t != (u.sub&1 != 0) && !c.jump(c.next+u.imm) {
		return stepFault
	}
	return stepOK
}
