package cpu

import (
	"fmt"
	"strings"
)

// opcode is the dense operation number of a uop. The integer family
// (numbers below numOpcodes) is dispatched by step's switch; the other
// families own a range of numbers each (family.go) and are dispatched
// through the handlers table.
type opcode uint16

const (
	opInvalid opcode = iota

	// Data movement.
	opMov   // dst = src
	opMovzx // dst = zero-extend(src of ssize bytes)
	opMovsx // dst = sign-extend(src of ssize bytes) (MOVSX, MOVSXD)
	opLea   // dst = effective address (no segment base)
	opXchg  // swap dst and src (src is a register)
	opCmov  // if cond(sub) dst = src; 32-bit always zero-extends
	opSetcc // dst8 = cond(sub)
	opBswap // dst = byte-swapped dst
	opMovbe // dst = byte-swapped src (one side is memory)
	opPush  // push src (size 8 or 2)
	opPop   // pop into dst
	opPushf // PUSHFQ
	opPopf  // POPFQ
	opLeave // RSP = RBP; RBP = pop
	opCext  // CBW/CWDE/CDQE: sign-extend the low half of rAX into rAX
	opCdq   // CWD/CDQ/CQO: rDX = sign of rAX
	opLahf  // AH = flags
	opSahf  // flags = AH
	opXlat  // AL = [rBX + AL]

	// Arithmetic and logic.
	opAlu      // dst = dst (sub) src, sub is an aluKind
	opInc      // dst++ (CF preserved)
	opDec      // dst-- (CF preserved)
	opNeg      // dst = -dst
	opNot      // dst = ^dst
	opShift    // dst = dst (sub) count, sub is a shiftKind, count = imm or CL
	opShld     // dst = dst:src << count
	opShrd     // dst = src:dst >> count
	opBt       // bit test family, sub is a btKind
	opBsf      // dst = index of lowest set bit of src
	opBsr      // dst = index of highest set bit of src
	opTzcnt    // dst = trailing zero count of src
	opLzcnt    // dst = leading zero count of src
	opPopcnt   // dst = population count of src
	opMul1     // rDX:rAX = rAX * src (unsigned)
	opImul1    // rDX:rAX = rAX * src (signed)
	opImul2    // dst = dst * src (signed, truncated)
	opImul3    // dst = src * imm (signed, truncated)
	opDiv      // rAX, rDX = rDX:rAX / src (unsigned)
	opIdiv     // rAX, rDX = rDX:rAX / src (signed)
	opXadd     // tmp = dst + src; src = dst; dst = tmp
	opCmpxchg  // compare rAX with dst; equal: dst = src; else rAX = dst
	opCmpxchg2 // CMPXCHG8B / CMPXCHG16B (size is 8 or 16)

	// Control transfer. Relative targets are next RIP + imm.
	opJmp     // RIP = next + imm
	opJmpInd  // RIP = src
	opJcc     // if cond(sub) RIP = next + imm
	opJrcxz   // if rCX == 0 (size 8: RCX, 4: ECX) RIP = next + imm
	opLoop    // rCX--; if rCX != 0 (and ZF per sub) RIP = next + imm
	opCall    // push next; RIP = next + imm
	opCallInd // push next; RIP = src
	opRet     // RIP = pop; RSP += imm

	// String instructions (sub is a strKind; size is the element size).
	opString

	// System and miscellaneous.
	opNop
	opSyscall
	opInt3
	opUD     // UD0/UD1/UD2 and invalid LOCK: architectural #UD
	opGP     // privileged instruction in user mode: #GP(0)
	opCpuid  // CPUID
	opRdtsc  // RDTSC
	opRdtscp // RDTSCP
	opFlag   // CLC/STC/CMC/CLD/STD: sub is a flagKind

	numOpcodes
)

// Operand kinds of a uop's dst and src.
const (
	kindNone uint8 = iota
	kindReg        // r0 (dst) or r1 (src)
	kindMem        // the uop's single memory operand
	kindImm        // imm
	kindXMM        // XMM register r0/r1 (0-15)
	kindMMX        // MMX register r0/r1 (0-7)
	kindST         // x87 stack register ST(r0/r1) (0-7, relative to TOP)
)

// Register numbers in a uop: 0-15 are the GPRs in encoding order; with an
// 8-bit operand size 16-19 are AH, CH, DH, BH.
const (
	regAH   = 16
	regNone = 0xff // no base or index register
	regRIP  = 0xfe // RIP-relative base: next RIP
)

// Segment overrides that have a base in 64-bit mode (SDM Vol. 1 3.4.2.1:
// CS, DS, ES and SS have base 0).
const (
	segNone uint8 = iota
	segFS
	segGS
)

// uop flags.
const (
	uopLock    uint8 = 1 << iota // LOCK prefix, or XCHG with memory: atomic RMW
	uopRep                       // F3: REP / REPE
	uopRepNE                     // F2: REPNE
	uopAddr32                    // 67: 32-bit address size
	uopCL                        // shift/SHLD/SHRD count comes from CL (else imm)
	uopLockReq                   // translation only: a LOCK prefix, for setLock to accept
)

// ALU kinds (opAlu sub), in the order of the x86 opcode groups (ADD=0 … CMP=7).
const (
	aluAdd uint8 = iota
	aluOr
	aluAdc
	aluSbb
	aluAnd
	aluSub
	aluXor
	aluCmp
	aluTest
)

// Shift kinds (opShift sub), in ModRM.reg order of group 2.
const (
	shRol uint8 = iota
	shRor
	shRcl
	shRcr
	shShl
	shShr
	shSal // not produced (x86asm decodes /6 as invalid); kept for the numbering
	shSar
)

// Bit-test kinds (opBt sub).
const (
	btTest uint8 = iota
	btSet
	btReset
	btComplement
)

// String kinds (opString sub).
const (
	strMovs uint8 = iota
	strStos
	strLods
	strCmps
	strScas
)

// Flag-instruction kinds (opFlag sub).
const (
	flClc uint8 = iota
	flStc
	flCmc
	flCld
	flStd
)

// Condition codes (Jcc/SETcc/CMOVcc sub), in x86 encoding order (SDM Vol. 1
// appendix B): bit 0 negates.
const (
	ccO uint8 = iota
	ccNO
	ccB
	ccAE
	ccE
	ccNE
	ccBE
	ccA
	ccS
	ccNS
	ccP
	ccNP
	ccL
	ccGE
	ccLE
	ccG
)

// uop is one decoded instruction in the emulator's compact form. It is a
// value type held in the decode cache; nothing in it points to the heap.
type uop struct {
	op    opcode
	x     opcode // the handler run: op or a specialised form of it (fast.go), set when cached
	eak   uint8  // the memory operand's shape (eaGeneric, eaBaseDisp, …), set when cached
	cyc   uint32 // in a block: costTab[cost], the cycles charged at retirement
	sub   uint8  // aluKind, shiftKind, condition code, … depending on op
	size  uint8  // operand size in bytes: 1, 2, 4, 8 (16 for CMPXCHG16B)
	ssize uint8  // source size in bytes for MOVZX/MOVSX
	len   uint8  // instruction length in bytes
	flags uint8  // uopLock, uopRep, …
	cost  uint8  // cost index (cost.go): class<<2 | memory access
	dk    uint8  // dst operand kind
	sk    uint8  // src operand kind
	r0    uint8  // dst register
	r1    uint8  // src register
	base  uint8  // memory operand base register, regRIP or regNone
	index uint8  // memory operand index register or regNone
	scale uint8  // index shift count: 0..3
	seg   uint8  // segNone, segFS, segGS
	lines uint8  // in a block after its first uop: the iTLB lookups it needs (block.go)
	disp  int64  // memory displacement (a 64-bit absolute address for moffs)
	imm   uint64 // immediate (masked to size for ALU), relative target, RET pop count
}

func (o opcode) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return fmt.Sprintf("opcode(%d)", uint8(o))
}

// String formats a uop for debugging, e.g. "alu/5 size=8 dst=r0 src=mem[r3+r1<<3+0x10] len=5".
func (u uop) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v/%d size=%d", u.op, u.sub, u.size)
	operand := func(name string, kind, reg uint8) {
		switch kind {
		case kindReg:
			fmt.Fprintf(&b, " %s=r%d", name, reg)
		case kindImm:
			fmt.Fprintf(&b, " %s=%#x", name, u.imm)
		case kindXMM:
			fmt.Fprintf(&b, " %s=xmm%d", name, reg)
		case kindMMX:
			fmt.Fprintf(&b, " %s=mm%d", name, reg)
		case kindST:
			fmt.Fprintf(&b, " %s=st%d", name, reg)
		case kindMem:
			fmt.Fprintf(&b, " %s=mem[", name)
			switch u.base {
			case regNone:
			case regRIP:
				b.WriteString("rip")
			default:
				fmt.Fprintf(&b, "r%d", u.base)
			}
			if u.index != regNone {
				fmt.Fprintf(&b, "+r%d<<%d", u.index, u.scale)
			}
			fmt.Fprintf(&b, "%+#x]", u.disp)
			if u.seg != segNone {
				fmt.Fprintf(&b, "seg%d", u.seg)
			}
		}
	}
	operand("dst", u.dk, u.r0)
	operand("src", u.sk, u.r1)
	if u.ssize != 0 {
		fmt.Fprintf(&b, " ssize=%d", u.ssize)
	}
	if u.flags != 0 {
		fmt.Fprintf(&b, " flags=%#x", u.flags)
	}
	if u.sk != kindImm && u.imm != 0 {
		fmt.Fprintf(&b, " imm=%#x", u.imm)
	}
	fmt.Fprintf(&b, " len=%d cost=%d", u.len, u.cost)
	return b.String()
}
