package cpu

// User-mode instruction costs by class.
//
// Every uop carries a cost index, computed once when it is translated
// (classify) and cached with it: a cost class times four plus the memory
// access its operands make (none, load, store, load+store). Retiring an
// instruction adds CPU.costTab[index], a table rebuilt from CPU.Costs at
// every Run entry, so the hot path is one table lookup.
//
// What a value means: the reciprocal throughput of the instruction form in
// cycles, rounded up to a whole cycle (at least one). The interpreter
// retires one instruction at a time and tracks no dependences; the
// processors it models are out of order and overlap independent
// instructions, which a throughput figure describes, while a latency figure
// would charge every instruction as if it waited for the one before it. The
// cost of that choice: a dependent chain (a pointer chase, an IMUL chain)
// is charged less than it takes, and the IPC floor of one instruction per
// cycle charges a 4-wide ALU stream four times what it takes.
//
// An instruction with a memory operand costs the largest of its class and
// the load and/or store it makes (the load, store and ALU parts issue to
// different ports and pipeline: Agner Fog, "Instruction tables", e.g.
// Skylake ADD m,r 1 vs ADD r,r 0.25 and MOV m,r 1). A locked instruction
// costs its locked figure alone (it includes the access). A REP string
// instruction costs Costs.UserString per element (string.go).

// Cost classes (uop.cost >> 2).
const (
	clsALU    uint8 = iota // integer ALU, moves between registers, LEA, NOP, flags
	clsLoad                // MOV/MOVZX/MOVSX/POP from memory
	clsStore               // MOV to memory, PUSH
	clsBranch              // JMP, Jcc, CALL, RET, LOOP (a taken one adds UserBranchTaken - UserBranch)
	clsMul                 // MUL, IMUL
	clsDiv32               // DIV/IDIV with an 8-, 16- or 32-bit operand
	clsDiv64               // DIV/IDIV with a 64-bit operand
	clsSseFP               // SSE floating point other than divide and square root
	clsSseDiv              // DIVSS/SD/PS/PD, SQRTSS/SD/PS/PD
	clsSseInt              // SSE and MMX integer
	clsX87                 // x87 other than divide and square root
	clsX87Div              // FDIV, FDIVR, FSQRT
	clsLocked              // LOCK-prefixed RMW, XCHG with memory
	clsString              // MOVS/STOS/LODS/CMPS/SCAS, per element
	clsOther               // SYSCALL, CPUID, RDTSC, FXSAVE, … (the rest)
	clsRep                 // a REP string instruction: 0 at retirement, str charges UserString per element
	numCostClasses
)

// Memory-access bits of a cost index (uop.cost & 3).
const (
	costMemLoad  uint8 = 1
	costMemStore uint8 = 2
)

// costIndex returns the cost index of class cls with memory bits mem.
func costIndex(cls, mem uint8) uint8 { return cls<<2 | mem }

// class returns the cycles of class cls (0 for clsRep).
func (k *Costs) class(cls uint8) uint32 {
	switch cls {
	case clsALU:
		return k.UserALU
	case clsLoad:
		return k.UserLoad
	case clsStore:
		return k.UserStore
	case clsBranch:
		return k.UserBranch
	case clsMul:
		return k.UserMul
	case clsDiv32:
		return k.UserDiv32
	case clsDiv64:
		return k.UserDiv64
	case clsSseFP:
		return k.UserSseFP
	case clsSseDiv:
		return k.UserSseDiv
	case clsSseInt:
		return k.UserSseInt
	case clsX87:
		return k.UserX87
	case clsX87Div:
		return k.UserX87Div
	case clsLocked:
		return k.UserLocked
	case clsString:
		return k.UserString
	case clsRep:
		return 0
	default:
		return k.UserOther
	}
}

// buildCostTab fills c.costTab and c.takenExtra from c.Costs.
func (c *CPU) buildCostTab() {
	// Run is entered at every return to user mode; the table changes only
	// when Costs does, so it is rebuilt only then.
	if c.costTabOK && c.costTabOf == c.Costs {
		return
	}
	if c.bc != nil && c.costTabOK {
		// Blocks hold costTab's values (uop.cyc). Before the first build
		// none was made: clearing 672 KiB of fresh, untouched memory per
		// vCPU was 19 % of page_fault's host time at 256 vCPUs.
		clear(c.bc[:])
	}
	c.costTabOf, c.costTabOK = c.Costs, true
	k := &c.Costs
	for cls := uint8(0); cls < numCostClasses; cls++ {
		for mem := uint8(0); mem < 4; mem++ {
			v := k.class(cls)
			switch cls {
			case clsLoad, clsStore, clsLocked, clsString, clsRep:
				// The class is the access.
			default:
				if mem&costMemLoad != 0 {
					v = max(v, k.UserLoad)
				}
				if mem&costMemStore != 0 {
					v = max(v, k.UserStore)
				}
			}
			c.costTab[costIndex(cls, mem)] = v
		}
	}
	c.takenExtra = 0
	if k.UserBranchTaken > k.UserBranch {
		c.takenExtra = uint64(k.UserBranchTaken - k.UserBranch)
	}
}

// classify sets u.cost from what translation filled in. The x87
// translator marks divides itself (u.cost = costIndex(clsX87Div, …)); every
// other class follows from the opcode and operand kinds.
func classify(u *uop) {
	var mem uint8
	if u.sk == kindMem {
		mem |= costMemLoad
	}
	if u.dk == kindMem {
		switch {
		case readOnlyDst(u):
			mem |= costMemLoad
		case pureStore(u):
			mem |= costMemStore
		default:
			mem |= costMemLoad | costMemStore
		}
	}
	if u.op == opLea {
		mem = 0 // an address computation: no access
	}
	if u.op == opX87 && u.dk == kindMem && !x87Store(uint16(u.imm)) {
		mem = costMemLoad
	}
	cls := clsALU
	switch {
	case u.flags&uopLock != 0:
		cls = clsLocked
	case u.op >= famSystem:
		cls = clsOther
	case u.op >= famX87:
		cls = clsX87
		if u.cost>>2 == clsX87Div {
			cls = clsX87Div
		}
		if u.dk == kindMMX || u.sk == kindMMX {
			cls = clsSseInt
		}
	case u.op >= famSSEFP:
		cls = clsSseFP
		if u.op == opFPArith && (u.sub == fpDiv || u.sub == fpSqrt) {
			cls = clsSseDiv
		}
	case u.op >= famSSEInt:
		cls = clsSseInt
	default:
		switch u.op {
		case opMov, opMovzx, opMovsx:
			switch {
			case u.sk == kindMem:
				cls, mem = clsLoad, 0
			case u.dk == kindMem:
				cls, mem = clsStore, 0
			}
		case opPop:
			cls, mem = clsLoad, 0
			if u.dk == kindMem {
				mem = costMemStore
			}
		case opPush, opPushf:
			cls, mem = clsStore, 0
			if u.sk == kindMem {
				mem = costMemLoad
			}
		case opPopf, opLeave:
			cls, mem = clsLoad, 0
		case opMul1, opImul1, opImul2, opImul3:
			cls = clsMul
		case opDiv, opIdiv:
			cls = clsDiv32
			if u.size == 8 {
				cls = clsDiv64
			}
		case opJmp, opJcc, opJrcxz, opLoop, opJmpInd, opRet:
			cls = clsBranch
			if u.op == opRet {
				mem |= costMemLoad
			}
		case opCall, opCallInd:
			cls, mem = clsBranch, mem|costMemStore
		case opString:
			cls, mem = clsString, 0
			if u.flags&(uopRep|uopRepNE) != 0 {
				cls = clsRep
			}
		case opSyscall, opInt3, opCpuid, opRdtsc, opRdtscp, opUD, opGP, opInvalid:
			cls = clsOther
		}
	}
	u.cost = costIndex(cls, mem)
}

// pureStore reports whether u writes its memory destination without
// reading it (a store, not a read-modify-write).
func pureStore(u *uop) bool {
	switch {
	case u.op == opMov, u.op == opSetcc, u.op == opMovbe, u.op == opPop:
		return true
	case u.op >= famSSEInt:
		// SSE, x87 and MMX instructions with a memory destination are
		// stores (MOVAPS m, MOVD m, FST m, PEXTRW m, FXSAVE …).
		return true
	}
	return false
}

// readOnlyDst reports whether u only reads its memory destination (CMP,
// TEST, BT).
func readOnlyDst(u *uop) bool {
	return (u.op == opAlu && (u.sub == aluCmp || u.sub == aluTest)) || (u.op == opBt && u.sub == btTest)
}

// x87Store reports whether the x87 instruction with FOP fop (a memory
// form) writes memory rather than reads it: FST/FSTP, FIST/FISTP/FISTTP,
// FBSTP, FNSTCW, FNSTENV, FNSAVE, FNSTSW (SDM Vol. 2, opcode map A.4).
func x87Store(fop uint16) bool {
	reg := fop >> 3 & 7
	switch fop >> 8 & 7 {
	case 1: // D9
		return reg == 2 || reg == 3 || reg == 6 || reg == 7
	case 3: // DB
		return reg == 1 || reg == 2 || reg == 3 || reg == 7
	case 5, 7: // DD, DF
		return reg == 1 || reg == 2 || reg == 3 || reg == 6 || reg == 7
	}
	return false
}
