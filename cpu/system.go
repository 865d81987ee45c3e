package cpu

// The system and miscellaneous family: NOP and hints, SYSCALL, INT3, UD0-2,
// privileged instructions (#GP), CPUID, RDTSC/RDTSCP, flag instructions.

import (
	"encoding/binary"

	"golang.org/x/arch/x86/x86asm"

	"github.com/tlbemu/emu/tlb"
)

func init() {
	defLockable(trNop, x86asm.NOP, x86asm.PAUSE, x86asm.PREFETCHNTA, x86asm.PREFETCHT0, x86asm.PREFETCHT1, x86asm.PREFETCHT2, x86asm.PREFETCHW, x86asm.LFENCE, x86asm.MFENCE, x86asm.SFENCE)
	defLockable(trSyscall, x86asm.SYSCALL)
	defLockable(trInt3, x86asm.INT)
	defLockable(trUD, x86asm.UD0, x86asm.UD1, x86asm.UD2)
	defLockable(trCpuid, x86asm.CPUID)
	defLockable(trRdtsc, x86asm.RDTSC)
	defLockable(trRdtscp, x86asm.RDTSCP)
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

func trSyscall(u *uop, inst *x86asm.Inst) bool {
	u.op = opSyscall
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

func trUD(u *uop, inst *x86asm.Inst) bool {
	*u = uop{op: opUD, len: u.len, base: regNone, index: regNone}
	return true
}

func trCpuid(u *uop, inst *x86asm.Inst) bool {
	u.op = opCpuid
	return true
}

func trRdtsc(u *uop, inst *x86asm.Inst) bool {
	u.op = opRdtsc
	return true
}

func trRdtscp(u *uop, inst *x86asm.Inst) bool {
	u.op = opRdtscp
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

// CPUID model. The vCPU reports a fixed GenuineIntel processor: family 6,
// model 0x55, stepping 4 (Skylake-SP, matching tlb.DefaultConfig), with the
// x86-64 baseline feature bits a static binary's startup code checks for
// (FPU, TSC, CX8, CMOV, MMX, FXSR, SSE, SSE2, SYSCALL, NX, LM) and the
// integer extensions the interpreter implements (CX16, MOVBE, POPCNT,
// LAHF/SAHF, LZCNT, RDTSCP). x87/MMX/SSE instructions themselves are not
// implemented: a guest that uses them stops with ExitUD naming the
// instruction. Leaves above the maximum return the highest basic leaf, as
// Intel processors do (SDM Vol. 2 CPUID).
const (
	cpuidMaxBasic    = 0x7
	cpuidMaxExtended = 0x80000008
	cpuidSignature   = 0x00050654 // family 6, model 0x55, stepping 4

	cpuid1EDX = 1<<0 | 1<<4 | 1<<8 | 1<<15 | 1<<19 | 1<<23 | 1<<24 | 1<<25 | 1<<26 // FPU TSC CX8 CMOV CLFSH MMX FXSR SSE SSE2
	cpuid1ECX = 1<<13 | 1<<22 | 1<<23                                              // CX16 MOVBE POPCNT

	cpuidExt1ECX = 1<<0 | 1<<5                   // LAHF/SAHF, LZCNT (ABM)
	cpuidExt1EDX = 1<<11 | 1<<20 | 1<<27 | 1<<29 // SYSCALL, NX, RDTSCP, LM
)

var cpuidBrand = [48]byte([]byte("emu x86-64 vCPU (Skylake-SP model)\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))

func (c *CPU) cpuid() {
	leaf := uint32(c.Regs.GPR[RAX])
	if (leaf < 0x80000000 && leaf > cpuidMaxBasic) || leaf > cpuidMaxExtended {
		leaf = cpuidMaxBasic
	}
	var a, b, cx, d uint32
	switch leaf {
	case 0:
		a, b, d, cx = cpuidMaxBasic, 0x756e6547, 0x49656e69, 0x6c65746e // "Genu" "ineI" "ntel"
	case 1:
		a = cpuidSignature
		b = uint32(c.ID&0xFF)<<24 | 1<<16 | 8<<8 // initial APIC ID, 1 logical CPU, CLFLUSH 64 bytes
		cx, d = cpuid1ECX, cpuid1EDX
	case 0x80000000:
		a = cpuidMaxExtended
	case 0x80000001:
		cx, d = cpuidExt1ECX, cpuidExt1EDX
	case 0x80000002, 0x80000003, 0x80000004:
		p := cpuidBrand[(leaf-0x80000002)*16:]
		a = binary.LittleEndian.Uint32(p[0:])
		b = binary.LittleEndian.Uint32(p[4:])
		cx = binary.LittleEndian.Uint32(p[8:])
		d = binary.LittleEndian.Uint32(p[12:])
	case 0x80000008:
		a = uint32(tlb.MaxPhysAddrBits) | 48<<8 // physical and linear address bits
	}
	c.setReg(RAX, 4, uint64(a))
	c.setReg(RBX, 4, uint64(b))
	c.setReg(RCX, 4, uint64(cx))
	c.setReg(RDX, 4, uint64(d))
}
