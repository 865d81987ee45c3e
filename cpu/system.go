package cpu

// The system and miscellaneous family: NOP and hints, SYSCALL, INT3, UD0-2,
// privileged instructions (#GP), CPUID, RDTSC/RDTSCP, flag instructions.

import "golang.org/x/arch/x86/x86asm"

func init() {
	defLockable(trBare, x86asm.LAHF, x86asm.SAHF, x86asm.SYSCALL, x86asm.CPUID, x86asm.RDTSC, x86asm.RDTSCP)
	defLockable(trNop, x86asm.NOP, x86asm.PAUSE, x86asm.PREFETCHNTA, x86asm.PREFETCHT0, x86asm.PREFETCHT1, x86asm.PREFETCHT2, x86asm.PREFETCHW, x86asm.LFENCE, x86asm.MFENCE, x86asm.SFENCE)
	defLockable(trInt3, x86asm.INT)
	defLockable(trUD, x86asm.UD0, x86asm.UD1, x86asm.UD2)
	// With CPUID.1:ECX.XSAVE = 0 (so CR4.OSXSAVE = 0) XGETBV and the XSAVE
	// family are #UD (SDM Vol. 2 XGETBV, XSAVE "Protected Mode Exceptions").
	defTranslator(trUD, x86asm.XGETBV, x86asm.XSAVE, x86asm.XSAVE64, x86asm.XSAVEC, x86asm.XSAVEC64,
		x86asm.XSAVEOPT, x86asm.XSAVEOPT64, x86asm.XSAVES, x86asm.XSAVES64, x86asm.XRSTOR, x86asm.XRSTOR64,
		x86asm.XRSTORS, x86asm.XRSTORS64)
	defLockable(trFlag, x86asm.CLC, x86asm.STC, x86asm.CMC, x86asm.CLD, x86asm.STD)
	defOp(opNop, "nop", execNop)
	defOp(opSyscall, "syscall", execSyscall)
	defOp(opInt3, "int3", execInt3)
	defOp(opGP, "gp", execGP)
	defOp(opCpuid, "cpuid", execCpuid)
	defOp(opRdtsc, "rdtsc", execRdtsc)
	defOp(opRdtscp, "rdtscp", execRdtsc)
	defOp(opFlag, "flag", execFlag)
}

func trNop(u *uop, inst *x86asm.Inst) bool {
	// Multi-byte NOPs name a memory operand that is never accessed;
	// prefetches never fault (SDM Vol. 2 PREFETCHh).
	*u = uop{op: opNop, len: u.len, base: regNone, index: regNone}
	return true
}

func trInt3(u *uop, inst *x86asm.Inst) bool {
	a := inst.Args
	if imm, isImm := a[0].(x86asm.Imm); !isImm || imm != 3 {
		return false
	}
	u.op = opInt3
	return true
}

// bareOps are the instructions whose uop is only its opcode: no operands,
// size or prefix-dependent form.
var bareOps = map[x86asm.Op]opcode{
	x86asm.LAHF: opLahf, x86asm.SAHF: opSahf, x86asm.SYSCALL: opSyscall,
	x86asm.CPUID: opCpuid, x86asm.RDTSC: opRdtsc, x86asm.RDTSCP: opRdtscp,
}

func trBare(u *uop, inst *x86asm.Inst) bool {
	u.op = bareOps[inst.Op]
	return true
}

func trUD(u *uop, inst *x86asm.Inst) bool {
	*u = uop{op: opUD, len: u.len, base: regNone, index: regNone}
	return true
}

func trFlag(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	u.op, u.sub = opFlag, flagOps[op]
	return true
}

func execNop(c *CPU, u *uop) stepResult {
	return stepOK
}

func execSyscall(c *CPU, u *uop) stepResult {
	// SYSCALL (SDM Vol. 2): RCX = next RIP, R11 = RFLAGS. The kernel
	// model applies IA32_FMASK and SYSRET semantics itself.
	c.Regs.GPR[RCX] = c.next
	c.Regs.GPR[R11] = c.fl.value()
	c.exit = Exit{Kind: ExitSyscall}
	return stepExit
}

func execInt3(c *CPU, u *uop) stepResult {
	// INT3 is a trap: RIP is past it when Run returns, as Linux reports
	// it in the SIGTRAP context.
	c.exit = Exit{Kind: ExitBreakpoint}
	return stepExit
}

func execGP(c *CPU, u *uop) stepResult {
	c.gp(0)
	return stepFault
}

func execCpuid(c *CPU, u *uop) stepResult {
	c.cpuid()
	return stepOK
}

func execRdtsc(c *CPU, u *uop) stepResult {
	// The time-stamp counter is the vCPU's cycle clock.
	c.setReg(RAX, 4, c.Clock)
	c.setReg(RDX, 4, c.Clock>>32)
	if u.op == opRdtscp {
		c.setReg(RCX, 4, uint64(c.ID)) // IA32_TSC_AUX: the CPU number, as Linux sets it
	}
	return stepOK
}

func execFlag(c *CPU, u *uop) stepResult {
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
	return stepOK
}
