package cpu

import "math/bits"

// step executes one uop. Every path translates all the memory an
// instruction touches before it changes any architectural state, so a
// stepFault leaves the instruction unexecuted (REP string instructions
// excepted: they commit completed iterations, as the processor does).
func (c *CPU) step(u *uop) stepResult {
	switch u.op {
	case opMov:
		v, ok := c.srcVal(u)
		if !ok {
			return stepFault
		}
		if u.dk == kindReg {
			c.setReg(u.r0, u.size, v)
		} else if !c.store(c.ea(u), u.size, v) {
			return stepFault
		}

	case opAlu:
		if u.dk == kindReg {
			b, ok := c.srcVal(u)
			if !ok {
				return stepFault
			}
			r := c.alu(u.sub, u.size, c.reg(u.r0, u.size), b)
			if u.sub < aluCmp {
				c.setReg(u.r0, u.size, r)
			}
			break
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

	case opInc, opDec, opNeg, opNot, opShift:
		if !c.modify(u, 0) {
			return stepFault
		}

	case opShld, opShrd:
		if !c.modify(u, c.reg(u.r1, u.size)) {
			return stepFault
		}

	case opBt:
		return c.bitTest(u)

	case opBsf, opBsr, opTzcnt, opLzcnt, opPopcnt:
		v, ok := c.srcVal(u)
		if !ok {
			return stepFault
		}
		if r, write := c.bitScan(u.op, u.size, v); write {
			c.setReg(u.r0, u.size, r)
		}

	case opMul1, opImul1:
		v, ok := c.srcVal(u)
		if !ok {
			return stepFault
		}
		c.mul1(u.op == opImul1, u.size, v)

	case opImul2:
		v, ok := c.srcVal(u)
		if !ok {
			return stepFault
		}
		c.setReg(u.r0, u.size, c.imul(u.size, c.reg(u.r0, u.size), v))

	case opImul3:
		v, ok := c.srcVal(u)
		if !ok {
			return stepFault
		}
		c.setReg(u.r0, u.size, c.imul(u.size, v, u.imm))

	case opDiv, opIdiv:
		v, ok := c.srcVal(u)
		if !ok {
			return stepFault
		}
		if !c.div(u.op == opIdiv, u.size, v) {
			c.exit = Exit{Kind: ExitDE}
			return stepFault
		}

	case opXchg:
		b := c.reg(u.r1, u.size)
		if u.dk == kindReg {
			c.setReg(u.r1, u.size, c.reg(u.r0, u.size))
			c.setReg(u.r0, u.size, b)
			break
		}
		old, ok := c.rmw(u, c.ea(u), b)
		if !ok {
			return stepFault
		}
		c.setReg(u.r1, u.size, old)

	case opXadd:
		b := c.reg(u.r1, u.size)
		if u.dk == kindReg {
			a := c.reg(u.r0, u.size)
			sum := c.alu(aluAdd, u.size, a, b)
			c.setReg(u.r1, u.size, a)
			c.setReg(u.r0, u.size, sum)
			break
		}
		old, ok := c.rmw(u, c.ea(u), b)
		if !ok {
			return stepFault
		}
		c.setReg(u.r1, u.size, old)

	case opCmpxchg:
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
			break
		}
		old, ok := c.rmw(u, c.ea(u), src)
		if !ok {
			return stepFault
		}
		if old != acc {
			c.setReg(RAX, u.size, old)
		}

	case opCmpxchg2:
		return c.cmpxchg2(u)

	case opMovzx, opMovsx:
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

	case opLea:
		c.setReg(u.r0, u.size, c.ea(u))

	case opCmov:
		v, ok := c.srcVal(u)
		if !ok {
			return stepFault
		}
		if c.fl.cond(u.sub) {
			c.setReg(u.r0, u.size, v)
		} else if u.size == 4 {
			c.setReg(u.r0, 4, c.reg(u.r0, 4)) // a 32-bit CMOV always zero-extends
		}

	case opSetcc:
		v := b2u(c.fl.cond(u.sub))
		if u.dk == kindReg {
			c.setReg(u.r0, 1, v)
		} else if !c.store(c.ea(u), 1, v) {
			return stepFault
		}

	case opBswap:
		v := c.reg(u.r0, u.size)
		if u.size == 8 {
			v = bits.ReverseBytes64(v)
		} else {
			v = uint64(bits.ReverseBytes32(uint32(v)))
		}
		c.setReg(u.r0, u.size, v)

	case opMovbe:
		if u.dk == kindReg {
			v, ok := c.load(c.ea(u), u.size)
			if !ok {
				return stepFault
			}
			c.setReg(u.r0, u.size, byteSwap(v, u.size))
		} else if !c.store(c.ea(u), u.size, byteSwap(c.reg(u.r1, u.size), u.size)) {
			return stepFault
		}

	case opPush:
		v, ok := c.srcVal(u)
		if !ok {
			return stepFault
		}
		if !c.push(u.size, v) {
			return stepFault
		}

	case opPop:
		return c.pop(u)

	case opPushf:
		if !c.push(8, c.fl.value()&^FlagRF) {
			return stepFault
		}

	case opPopf:
		v, ok := c.load(c.Regs.GPR[RSP], 8)
		if !ok {
			return stepFault
		}
		c.fl.materialise()
		c.fl.rflags = c.fl.rflags&^popfMask | v&popfMask | flagRsv1
		c.Regs.GPR[RSP] += 8

	case opLeave:
		rbp := c.Regs.GPR[RBP]
		v, ok := c.load(rbp, 8)
		if !ok {
			return stepFault
		}
		c.Regs.GPR[RSP] = rbp + 8
		c.Regs.GPR[RBP] = v

	case opCext:
		half := u.size / 2
		c.setReg(RAX, u.size, sext(c.reg(RAX, half), half))

	case opCdq:
		c.setReg(RDX, u.size, -(c.reg(RAX, u.size) >> (uint(u.size)*8 - 1)))

	case opLahf:
		c.setReg(regAH, 1, c.fl.value()&(FlagSF|FlagZF|FlagAF|FlagPF|FlagCF)|flagRsv1)

	case opSahf:
		ah := c.reg(regAH, 1)
		c.fl.setArith(FlagSF|FlagZF|FlagAF|FlagPF|FlagCF, ah)

	case opXlat:
		va := c.ea(u) + c.reg(RAX, 1)
		v, ok := c.load(va, 1)
		if !ok {
			return stepFault
		}
		c.setReg(RAX, 1, v)

	case opJmp:
		if !c.jump(c.next + u.imm) {
			return stepFault
		}

	case opJmpInd:
		v, ok := c.srcVal(u)
		if !ok || !c.jump(v) {
			return stepFault
		}

	case opJcc:
		if c.fl.cond(u.sub) && !c.jump(c.next+u.imm) {
			return stepFault
		}

	case opJrcxz:
		if c.reg(RCX, u.size) == 0 && !c.jump(c.next+u.imm) {
			return stepFault
		}

	case opLoop:
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

	case opCall:
		target := c.next + u.imm
		if !canonical(target) {
			c.gp(target)
			return stepFault
		}
		if !c.push(8, c.next) {
			return stepFault
		}
		c.next = target

	case opCallInd:
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

	case opRet:
		rsp := c.Regs.GPR[RSP]
		v, ok := c.load(rsp, 8)
		if !ok || !c.jump(v) {
			return stepFault
		}
		c.Regs.GPR[RSP] = rsp + 8 + u.imm

	case opString:
		return c.str(u)

	case opNop:

	case opSyscall:
		// SYSCALL (SDM Vol. 2): RCX = next RIP, R11 = RFLAGS. The kernel
		// model applies IA32_FMASK and SYSRET semantics itself.
		c.Regs.GPR[RCX] = c.next
		c.Regs.GPR[R11] = c.fl.value()
		c.exit = Exit{Kind: ExitSyscall}
		return stepExit

	case opInt3:
		// INT3 is a trap: RIP is past it when Run returns, as Linux reports
		// it in the SIGTRAP context.
		c.exit = Exit{Kind: ExitBreakpoint}
		return stepExit

	case opGP:
		c.gp(0)
		return stepFault

	case opCpuid:
		c.cpuid()

	case opRdtsc, opRdtscp:
		// The time-stamp counter is the vCPU's cycle clock.
		c.setReg(RAX, 4, c.Clock)
		c.setReg(RDX, 4, c.Clock>>32)
		if u.op == opRdtscp {
			c.setReg(RCX, 4, uint64(c.ID)) // IA32_TSC_AUX: the CPU number, as Linux sets it
		}

	case opFlag:
		switch u.sub {
		case flClc:
			c.fl.setArith(FlagCF, 0)
		case flStc:
			c.fl.setArith(FlagCF, FlagCF)
		case flCmc:
			c.fl.setArith(FlagCF, b2u(!c.fl.cf()))
		case flCld:
			c.fl.rflags &^= FlagDF
		case flStd:
			c.fl.rflags |= FlagDF
		}

	default:
		if int(u.op) < len(handlers) && handlers[u.op] != nil {
			return handlers[u.op](c, u)
		}
		// opInvalid/opUD never reach the cache (fetchMiss turns them into
		// ExitUD); anything else is a translate/step mismatch.
		panic("cpu: step: uop with no handler")
	}
	return stepOK
}

// modify executes a one-destination read-modify-write uop (INC, DEC, NEG,
// NOT, shifts, SHLD/SHRD) on a register or memory.
func (c *CPU) modify(u *uop, src uint64) bool {
	if u.dk == kindReg {
		if r, write := c.compute(u, c.reg(u.r0, u.size), src); write {
			c.setReg(u.r0, u.size, r)
		}
		return true
	}
	_, ok := c.rmw(u, c.ea(u), src)
	return ok
}

// bitTest executes BT/BTS/BTR/BTC. With a register bit offset and a memory
// operand the offset addresses a bit string: it is signed and selects the
// operand-sized word at ea + (offset >> log2(width)) * size (SDM Vol. 2 BT).
func (c *CPU) bitTest(u *uop) stepResult {
	w := uint64(u.size) * 8
	off := u.imm
	if u.sk == kindReg {
		off = c.reg(u.r1, u.size)
	}
	if u.dk == kindReg {
		if r, write := c.compute(u, c.reg(u.r0, u.size), off&(w-1)); write {
			c.setReg(u.r0, u.size, r)
		}
		return stepOK
	}
	va := c.ea(u)
	if u.sk == kindReg {
		va += uint64(int64(sext(off, u.size))>>bits.TrailingZeros64(w)) * uint64(u.size)
	}
	off &= w - 1
	if u.sub == btTest {
		v, ok := c.load(va, u.size)
		if !ok {
			return stepFault
		}
		c.compute(u, v, off)
		return stepOK
	}
	if _, ok := c.rmw(u, va, off); !ok {
		return stepFault
	}
	return stepOK
}

func byteSwap(v uint64, size uint8) uint64 {
	switch size {
	case 2:
		return uint64(bits.ReverseBytes16(uint16(v)))
	case 4:
		return uint64(bits.ReverseBytes32(uint32(v)))
	}
	return bits.ReverseBytes64(v)
}
