package cpu

// The integer data-movement family: MOV, MOVZX/MOVSX, LEA, PUSH/POP,
// PUSHF/POPF, LEAVE, LAHF/SAHF, XLAT, CMOVcc, SETcc, BSWAP, MOVBE (SDM Vol. 2).

import (
	"math/bits"

	"golang.org/x/arch/x86/x86asm"
)

func init() {
	defLockable(trMov, x86asm.MOV)
	defLockable(trMovzx, x86asm.MOVZX, x86asm.MOVSX, x86asm.MOVSXD)
	defLockable(trLea, x86asm.LEA)
	defLockable(trPush, x86asm.PUSH)
	defLockable(trPop, x86asm.POP)
	defLockable(trPushf, x86asm.PUSHFQ, x86asm.POPFQ)
	defLockable(trLeave, x86asm.LEAVE)
	defLockable(trXlat, x86asm.XLATB)
	defLockable(trCmov, x86asm.CMOVO, x86asm.CMOVNO, x86asm.CMOVB, x86asm.CMOVAE, x86asm.CMOVE, x86asm.CMOVNE, x86asm.CMOVBE, x86asm.CMOVA, x86asm.CMOVS, x86asm.CMOVNS, x86asm.CMOVP, x86asm.CMOVNP, x86asm.CMOVL, x86asm.CMOVGE, x86asm.CMOVLE, x86asm.CMOVG)
	defLockable(trSetcc, x86asm.SETO, x86asm.SETNO, x86asm.SETB, x86asm.SETAE, x86asm.SETE, x86asm.SETNE, x86asm.SETBE, x86asm.SETA, x86asm.SETS, x86asm.SETNS, x86asm.SETP, x86asm.SETNP, x86asm.SETL, x86asm.SETGE, x86asm.SETLE, x86asm.SETG)
	defLockable(trBswap, x86asm.BSWAP)
	defLockable(trMovbe, x86asm.MOVBE)
	defOp(opMov, "mov", execMov)
	defOp(opMovzx, "movzx", execMovzx)
	defOp(opMovsx, "movsx", execMovzx)
	defOp(opLea, "lea", execLea)
	defOp(opCmov, "cmov", execCmov)
	defOp(opSetcc, "setcc", execSetcc)
	defOp(opBswap, "bswap", execBswap)
	defOp(opMovbe, "movbe", execMovbe)
	defOp(opPush, "push", execPush)
	defOp(opPop, "pop", execPop)
	defOp(opPushf, "pushf", execPushf)
	defOp(opPopf, "popf", execPopf)
	defOp(opLeave, "leave", execLeave)
	defOp(opLahf, "lahf", execLahf)
	defOp(opSahf, "sahf", execSahf)
	defOp(opXlat, "xlat", execXlat)
}

func trMov(u *uop, inst *x86asm.Inst) bool {
	n := nargs(inst)
	a := inst.Args
	if n != 2 {
		return false
	}
	if privReg(a[0]) || privReg(a[1]) {
		*u = uop{op: opGP, len: u.len, base: regNone, index: regNone}
		return true
	}
	u.op = opMov
	if !setDst(u, inst, a[0]) || !setSrc(u, inst, a[1]) {
		return false
	}
	return true
}

func trMovzx(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	n := nargs(inst)
	a := inst.Args
	if n != 2 || !setRegDst(u, a[0]) {
		return false
	}
	k, r, sz, ok := rm(u, inst, a[1])
	if !ok || !validSize(sz) || sz > u.size {
		return false
	}
	u.sk, u.r1, u.ssize = k, r, sz
	u.op = opMovsx
	if op == x86asm.MOVZX {
		u.op = opMovzx
	}
	return true
}

func trLea(u *uop, inst *x86asm.Inst) bool {
	n := nargs(inst)
	a := inst.Args
	m, isMem := a[1].(x86asm.Mem)
	if n != 2 || !setRegDst(u, a[0]) || !isMem || u.size == 1 || !setMem(u, m) {
		return false
	}
	u.seg = segNone // LEA computes an effective address, not a linear one
	u.op, u.sk = opLea, kindMem
	return true
}

func trPush(u *uop, inst *x86asm.Inst) bool {
	n := nargs(inst)
	a := inst.Args
	if n != 1 {
		return false
	}
	u.op = opPush
	if imm, isImm := a[0].(x86asm.Imm); isImm {
		u.sk, u.imm, u.size = kindImm, uint64(int64(imm)), 8
		if inst.DataSize == 16 {
			u.size, u.imm = 2, u.imm&0xFFFF
		}
		return true
	}
	k, r, sz, ok := rm(u, inst, a[0])
	if !ok || (sz != 8 && sz != 2) {
		return false
	}
	u.sk, u.r1, u.size = k, r, sz
	return true
}

func trPop(u *uop, inst *x86asm.Inst) bool {
	n := nargs(inst)
	a := inst.Args
	if n != 1 || !setDst(u, inst, a[0]) || (u.size != 8 && u.size != 2) {
		return false
	}
	u.op = opPop
	return true
}

func trPushf(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	u.op, u.size = opPushf, 8
	if op == x86asm.POPFQ {
		u.op = opPopf
	}
	return true
}

func trLeave(u *uop, inst *x86asm.Inst) bool {
	if inst.DataSize == 16 {
		return false
	}
	u.op, u.size = opLeave, 8
	return true
}

func trXlat(u *uop, inst *x86asm.Inst) bool {
	a := inst.Args
	m, isMem := a[0].(x86asm.Mem)
	if !isMem || !setMem(u, m) {
		return false
	}
	u.op, u.size = opXlat, 1
	return true
}

func trCmov(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	n := nargs(inst)
	a := inst.Args
	if n != 2 || !setRegDst(u, a[0]) || !setSrc(u, inst, a[1]) || u.size == 1 {
		return false
	}
	u.op, u.sub = opCmov, cmovOps[op]
	return true
}

func trSetcc(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	n := nargs(inst)
	a := inst.Args
	if n != 1 || !setDst(u, inst, a[0]) || u.size != 1 {
		return false
	}
	u.op, u.sub = opSetcc, setOps[op]
	return true
}

func trBswap(u *uop, inst *x86asm.Inst) bool {
	n := nargs(inst)
	a := inst.Args
	if n != 1 || !setRegDst(u, a[0]) || u.size < 4 {
		return false
	}
	u.op = opBswap
	return true
}

func trMovbe(u *uop, inst *x86asm.Inst) bool {
	n := nargs(inst)
	a := inst.Args
	if n != 2 {
		return false
	}
	u.op = opMovbe
	if !setDst(u, inst, a[0]) || !setSrc(u, inst, a[1]) || u.size == 1 || u.sk == kindImm {
		return false
	}
	return true
}

func execMov(c *CPU, u *uop) stepResult {
	v, ok := c.srcVal(u)
	if !ok {
		return stepFault
	}
	if u.dk == kindReg {
		c.setReg(u.r0, u.size, v)
	} else if !c.store(c.ea(u), u.size, v) {
		return stepFault
	}
	return stepOK
}

func execMovzx(c *CPU, u *uop) stepResult {
	var v uint64
	if u.sk == kindReg {
		v = c.reg(u.r1, u.ssize)
	} else {
		var ok bool
		if v, ok = c.load(c.ea(u), u.ssize); !ok {
			return stepFault
		}
	}
	if u.op == opMovsx {
		v = sext(v, u.ssize)
	}
	c.setReg(u.r0, u.size, v)
	return stepOK
}

func execLea(c *CPU, u *uop) stepResult {
	c.setReg(u.r0, u.size, c.ea(u))
	return stepOK
}

func execCmov(c *CPU, u *uop) stepResult {
	v, ok := c.srcVal(u)
	if !ok {
		return stepFault
	}
	if c.fl.cond(u.sub) {
		c.setReg(u.r0, u.size, v)
	} else if u.size == 4 {
		c.setReg(u.r0, 4, c.reg(u.r0, 4)) // a 32-bit CMOV always zero-extends
	}
	return stepOK
}

func execSetcc(c *CPU, u *uop) stepResult {
	v := b2u(c.fl.cond(u.sub))
	if u.dk == kindReg {
		c.setReg(u.r0, 1, v)
	} else if !c.store(c.ea(u), 1, v) {
		return stepFault
	}
	return stepOK
}

func execBswap(c *CPU, u *uop) stepResult {
	v := c.reg(u.r0, u.size)
	if u.size == 8 {
		v = bits.ReverseBytes64(v)
	} else {
		v = uint64(bits.ReverseBytes32(uint32(v)))
	}
	c.setReg(u.r0, u.size, v)
	return stepOK
}

func execMovbe(c *CPU, u *uop) stepResult {
	if u.dk == kindReg {
		v, ok := c.load(c.ea(u), u.size)
		if !ok {
			return stepFault
		}
		c.setReg(u.r0, u.size, byteSwap(v, u.size))
	} else if !c.store(c.ea(u), u.size, byteSwap(c.reg(u.r1, u.size), u.size)) {
		return stepFault
	}
	return stepOK
}

func execPush(c *CPU, u *uop) stepResult {
	v, ok := c.srcVal(u)
	if !ok {
		return stepFault
	}
	if !c.push(u.size, v) {
		return stepFault
	}
	return stepOK
}

func execPop(c *CPU, u *uop) stepResult {
	return c.pop(u)
}

func execPushf(c *CPU, u *uop) stepResult {
	if !c.push(8, c.fl.value()&^FlagRF) {
		return stepFault
	}
	return stepOK
}

func execPopf(c *CPU, u *uop) stepResult {
	v, ok := c.load(c.Regs.GPR[RSP], 8)
	if !ok {
		return stepFault
	}
	c.fl.materialise()
	c.fl.rflags = c.fl.rflags&^popfMask | v&popfMask | flagRsv1
	c.Regs.GPR[RSP] += 8
	return stepOK
}

func execLeave(c *CPU, u *uop) stepResult {
	rbp := c.Regs.GPR[RBP]
	v, ok := c.load(rbp, 8)
	if !ok {
		return stepFault
	}
	c.Regs.GPR[RSP] = rbp + 8
	c.Regs.GPR[RBP] = v
	return stepOK
}

func execLahf(c *CPU, u *uop) stepResult {
	c.setReg(regAH, 1, c.fl.value()&(FlagSF|FlagZF|FlagAF|FlagPF|FlagCF)|flagRsv1)
	return stepOK
}

func execSahf(c *CPU, u *uop) stepResult {
	ah := c.reg(regAH, 1)
	c.fl.setArith(FlagSF|FlagZF|FlagAF|FlagPF|FlagCF, ah)
	return stepOK
}

func execXlat(c *CPU, u *uop) stepResult {
	va := c.ea(u) + c.reg(RAX, 1)
	v, ok := c.load(va, 1)
	if !ok {
		return stepFault
	}
	c.setReg(RAX, 1, v)
	return stepOK
}
