package cpu

// The control-transfer family: JMP, Jcc, JrCXZ, LOOPcc, CALL, RET (SDM
// Vol. 2). Relative targets are next RIP + imm.

import "golang.org/x/arch/x86/x86asm"

func init() {
	defLockable(trJmp, x86asm.JMP, x86asm.CALL)
	defLockable(trJcc, x86asm.JO, x86asm.JNO, x86asm.JB, x86asm.JAE, x86asm.JE, x86asm.JNE, x86asm.JBE, x86asm.JA, x86asm.JS, x86asm.JNS, x86asm.JP, x86asm.JNP, x86asm.JL, x86asm.JGE, x86asm.JLE, x86asm.JG)
	defLockable(trLoop, x86asm.JRCXZ, x86asm.JECXZ, x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE)
	defLockable(trRet, x86asm.RET)
	defOp(opJmp, "jmp", execJmp)
	defOp(opJmpInd, "jmp*", execJmpInd)
	defOp(opJcc, "jcc", execJcc)
	defOp(opJrcxz, "jrcxz", execJrcxz)
	defOp(opLoop, "loop", execLoop)
	defOp(opCall, "call", execCall)
	defOp(opCallInd, "call*", execCallInd)
	defOp(opRet, "ret", execRet)
}

func trJmp(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	n := nargs(inst)
	a := inst.Args
	if n != 1 || inst.DataSize == 16 {
		return false
	}
	if rel, isRel := a[0].(x86asm.Rel); isRel {
		u.op, u.imm = opJmp, uint64(int64(rel))
		if op == x86asm.CALL {
			u.op = opCall
		}
		return true
	}
	k, r, sz, ok := rm(u, inst, a[0])
	if !ok || sz != 8 {
		return false
	}
	u.sk, u.r1, u.size = k, r, 8
	u.op = opJmpInd
	if op == x86asm.CALL {
		u.op = opCallInd
	}
	return true
}

func trJcc(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	n := nargs(inst)
	a := inst.Args
	rel, isRel := a[0].(x86asm.Rel)
	if n != 1 || !isRel || inst.DataSize == 16 {
		return false
	}
	u.op, u.sub, u.imm = opJcc, jccOps[op], uint64(int64(rel))
	return true
}

func trLoop(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	n := nargs(inst)
	a := inst.Args
	rel, isRel := a[0].(x86asm.Rel)
	if n != 1 || !isRel || inst.DataSize == 16 {
		return false
	}
	u.imm, u.size = uint64(int64(rel)), 8
	if u.flags&uopAddr32 != 0 {
		u.size = 4
	}
	switch op {
	case x86asm.JRCXZ, x86asm.JECXZ:
		u.op = opJrcxz
	case x86asm.LOOP:
		u.op, u.sub = opLoop, 0
	case x86asm.LOOPE:
		u.op, u.sub = opLoop, 1
	case x86asm.LOOPNE:
		u.op, u.sub = opLoop, 2
	}
	return true
}

func trRet(u *uop, inst *x86asm.Inst) bool {
	n := nargs(inst)
	a := inst.Args
	u.op = opRet
	if n == 1 {
		imm, isImm := a[0].(x86asm.Imm)
		if !isImm {
			return false
		}
		u.imm = uint64(imm) & 0xFFFF
	}
	if inst.DataSize == 16 {
		return false
	}
	return true
}

func execJmp(c *CPU, u *uop) stepResult {
	if !c.jump(c.next + u.imm) {
		return stepFault
	}
	return stepOK
}

func execJmpInd(c *CPU, u *uop) stepResult {
	v, ok := c.srcVal(u)
	if !ok || !c.jump(v) {
		return stepFault
	}
	return stepOK
}

func execJcc(c *CPU, u *uop) stepResult {
	if c.fl.cond(u.sub) && !c.jump(c.next+u.imm) {
		return stepFault
	}
	return stepOK
}

func execJrcxz(c *CPU, u *uop) stepResult {
	if c.reg(RCX, u.size) == 0 && !c.jump(c.next+u.imm) {
		return stepFault
	}
	return stepOK
}

func execLoop(c *CPU, u *uop) stepResult {
	cnt := (c.reg(RCX, u.size) - 1) & sizeMask(u.size)
	taken := cnt != 0
	switch u.sub {
	case 1:
		taken = taken && c.fl.zf()
	case 2:
		taken = taken && !c.fl.zf()
	}
	if taken && !c.jump(c.next+u.imm) {
		return stepFault
	}
	c.setReg(RCX, u.size, cnt)
	return stepOK
}

func execCall(c *CPU, u *uop) stepResult {
	target := c.next + u.imm
	if !canonical(target) {
		c.gp(target)
		return stepFault
	}
	if !c.push(8, c.next) {
		return stepFault
	}
	c.next = target
	c.Clock += c.takenExtra
	return stepOK
}

func execCallInd(c *CPU, u *uop) stepResult {
	target, ok := c.srcVal(u)
	if !ok {
		return stepFault
	}
	if !canonical(target) {
		c.gp(target)
		return stepFault
	}
	if !c.push(8, c.next) {
		return stepFault
	}
	c.next = target
	c.Clock += c.takenExtra
	return stepOK
}

func execRet(c *CPU, u *uop) stepResult {
	rsp := c.Regs.GPR[RSP]
	v, ok := c.load(rsp, 8)
	if !ok || !c.jump(v) {
		return stepFault
	}
	c.Regs.GPR[RSP] = rsp + 8 + u.imm
	return stepOK
}
