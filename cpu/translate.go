package cpu

// translate.go and the family files' translators (family.go) are the only
// code that uses golang.org/x/arch/x86/x86asm: they turn an x86asm.Inst into
// a uop once per decode-cache miss; execution never sees x86asm types.

import (
	"golang.org/x/arch/x86/x86asm"

	"github.com/tlbemu/emu/tlb"
)

// decodeStatus is the outcome of decoding one instruction.
type decodeStatus uint8

const (
	decOK          decodeStatus = iota // u is valid
	decInvalid                         // the bytes do not decode (or are truncated)
	decUnsupported                     // a real instruction the interpreter does not implement
)

// endbr is ENDBR64 (F3 0F 1E FA) and ENDBR32 (… FB), which x86asm v0.32 does
// not know; with CET off they execute as NOPs (SDM Vol. 2 ENDBR64).
func endbr(b []byte) bool {
	return len(b) >= 4 && b[0] == 0xF3 && b[1] == 0x0F && b[2] == 0x1E && (b[3] == 0xFA || b[3] == 0xFB)
}

// decode decodes the instruction at the start of b and translates it. n is
// the decoded length (0 when st is decInvalid).
func decode(b []byte) (u uop, n int, st decodeStatus) {
	if endbr(b) {
		return uop{op: opNop, len: 4, base: regNone, index: regNone}, 4, decOK
	}
	inst, err := x86asm.Decode(b, 64)
	if err != nil || inst.Op == 0 || inst.Len <= 0 || inst.Len > len(b) {
		return uop{}, 0, decInvalid
	}
	u, ok := translate(&inst)
	if !ok {
		return uop{}, inst.Len, decUnsupported
	}
	return u, inst.Len, decOK
}

// newUDError builds the ExitUD error for the instruction whose bytes start
// b (only bytes actually fetched from guest memory).
func newUDError(rip uint64, b []byte, undefined bool) *UnimplementedError {
	e := &UnimplementedError{RIP: rip, Undefined: undefined}
	if endbr(b) {
		e.Bytes, e.Disasm = append([]byte(nil), b[:4]...), "endbr64"
		return e
	}
	inst, err := x86asm.Decode(b, 64)
	if err != nil || inst.Op == 0 || inst.Len <= 0 || inst.Len > len(b) {
		n := min(len(b), 8)
		e.Bytes, e.Disasm = append([]byte(nil), b[:n]...), "(bad)"
		return e
	}
	e.Bytes = append([]byte(nil), b[:inst.Len]...)
	e.Disasm = x86asm.IntelSyntax(inst, rip, nil)
	return e
}

// gpr maps an x86asm general-purpose register to a uop register number and
// its size in bytes.
func gpr(a x86asm.Arg) (r, size uint8, ok bool) {
	reg, isReg := a.(x86asm.Reg)
	if !isReg {
		return 0, 0, false
	}
	switch {
	case reg >= x86asm.AL && reg <= x86asm.R15B:
		i := uint8(reg - x86asm.AL)
		switch {
		case i < 4: // AL CL DL BL
			return i, 1, true
		case i < 8: // AH CH DH BH
			return regAH + i - 4, 1, true
		case i < 12: // SPB BPB SIB DIB
			return i - 4, 1, true
		default: // R8B … R15B
			return i - 4, 1, true
		}
	case reg >= x86asm.AX && reg <= x86asm.R15W:
		return uint8(reg - x86asm.AX), 2, true
	case reg >= x86asm.EAX && reg <= x86asm.R15L:
		return uint8(reg - x86asm.EAX), 4, true
	case reg >= x86asm.RAX && reg <= x86asm.R15:
		return uint8(reg - x86asm.RAX), 8, true
	}
	return 0, 0, false
}

// privReg reports whether a is a control or debug register (MOV CRn/DRn).
func privReg(a x86asm.Arg) bool {
	reg, ok := a.(x86asm.Reg)
	return ok && ((reg >= x86asm.CR0 && reg <= x86asm.CR15) || (reg >= x86asm.DR0 && reg <= x86asm.DR7))
}

// setMem fills u's memory operand from m. 16-bit addressing is rejected.
func setMem(u *uop, m x86asm.Mem) bool {
	u.base, u.index = regNone, regNone
	switch {
	case m.Base == 0:
	case m.Base == x86asm.RIP || m.Base == x86asm.EIP:
		u.base = regRIP
	case m.Base >= x86asm.RAX && m.Base <= x86asm.R15:
		u.base = uint8(m.Base - x86asm.RAX)
	case m.Base >= x86asm.EAX && m.Base <= x86asm.R15L:
		u.base = uint8(m.Base - x86asm.EAX)
	default:
		return false
	}
	if m.Index != 0 {
		switch {
		case m.Index >= x86asm.RAX && m.Index <= x86asm.R15:
			u.index = uint8(m.Index - x86asm.RAX)
		case m.Index >= x86asm.EAX && m.Index <= x86asm.R15L:
			u.index = uint8(m.Index - x86asm.EAX)
		default:
			return false
		}
		switch m.Scale {
		case 1:
			u.scale = 0
		case 2:
			u.scale = 1
		case 4:
			u.scale = 2
		case 8:
			u.scale = 3
		default:
			return false
		}
	}
	switch m.Segment {
	case x86asm.FS:
		u.seg = segFS
	case x86asm.GS:
		u.seg = segGS
	}
	u.disp = m.Disp
	if uint64(m.Disp) <= 0xffffffff {
		// x86asm reports disp32 zero-extended; the CPU sign-extends it.
		// (A 64-bit moffs above 4 GiB keeps its full value.)
		u.disp = int64(int32(uint32(m.Disp)))
	}
	return true
}

// rm decodes an r/m (or plain register) operand: it returns the operand kind
// and register, filling u's memory operand for a Mem.
func rm(u *uop, inst *x86asm.Inst, a x86asm.Arg) (kind, reg, size uint8, ok bool) {
	switch a := a.(type) {
	case x86asm.Reg:
		r, sz, ok := gpr(a)
		return kindReg, r, sz, ok
	case x86asm.Mem:
		if !setMem(u, a) {
			return 0, 0, 0, false
		}
		return kindMem, 0, uint8(inst.MemBytes), true
	}
	return 0, 0, 0, false
}

// setDst sets u's destination from an r/m argument and u.size from it.
func setDst(u *uop, inst *x86asm.Inst, a x86asm.Arg) bool {
	k, r, sz, ok := rm(u, inst, a)
	if !ok {
		return false
	}
	u.dk, u.r0, u.size = k, r, sz
	return validSize(sz)
}

// setSrc sets u's source from a register, memory or immediate argument.
func setSrc(u *uop, inst *x86asm.Inst, a x86asm.Arg) bool {
	if imm, ok := a.(x86asm.Imm); ok {
		u.sk, u.imm = kindImm, uint64(int64(imm))&sizeMask(u.size)
		return true
	}
	k, r, sz, ok := rm(u, inst, a)
	if !ok {
		return false
	}
	u.sk, u.r1 = k, r
	if k == kindMem && u.dk == kindMem {
		return false
	}
	return sz == u.size
}

func validSize(sz uint8) bool { return sz == 1 || sz == 2 || sz == 4 || sz == 8 }

func nargs(inst *x86asm.Inst) int {
	n := 0
	for n < len(inst.Args) && inst.Args[n] != nil {
		n++
	}
	return n
}

var aluOps = map[x86asm.Op]uint8{
	x86asm.ADD: aluAdd, x86asm.OR: aluOr, x86asm.ADC: aluAdc, x86asm.SBB: aluSbb,
	x86asm.AND: aluAnd, x86asm.SUB: aluSub, x86asm.XOR: aluXor, x86asm.CMP: aluCmp, x86asm.TEST: aluTest,
}

var shiftOps = map[x86asm.Op]uint8{
	x86asm.ROL: shRol, x86asm.ROR: shRor, x86asm.RCL: shRcl, x86asm.RCR: shRcr,
	x86asm.SHL: shShl, x86asm.SHR: shShr, x86asm.SAR: shSar,
}

var unaryOps = map[x86asm.Op]opcode{x86asm.INC: opInc, x86asm.DEC: opDec, x86asm.NEG: opNeg, x86asm.NOT: opNot}

var scanOps = map[x86asm.Op]opcode{x86asm.BSF: opBsf, x86asm.BSR: opBsr, x86asm.TZCNT: opTzcnt,
	x86asm.LZCNT: opLzcnt, x86asm.POPCNT: opPopcnt}

var mulDivOps = map[x86asm.Op]opcode{x86asm.MUL: opMul1, x86asm.IMUL: opImul1, x86asm.DIV: opDiv, x86asm.IDIV: opIdiv}

// extSizes are the operand sizes of CBW/CWDE/CDQE and CWD/CDQ/CQO.
var extSizes = map[x86asm.Op]uint8{x86asm.CBW: 2, x86asm.CWDE: 4, x86asm.CDQE: 8, x86asm.CWD: 2, x86asm.CDQ: 4, x86asm.CQO: 8}

var btOps = map[x86asm.Op]uint8{x86asm.BT: btTest, x86asm.BTS: btSet, x86asm.BTR: btReset, x86asm.BTC: btComplement}

var jccOps = map[x86asm.Op]uint8{
	x86asm.JO: ccO, x86asm.JNO: ccNO, x86asm.JB: ccB, x86asm.JAE: ccAE, x86asm.JE: ccE, x86asm.JNE: ccNE,
	x86asm.JBE: ccBE, x86asm.JA: ccA, x86asm.JS: ccS, x86asm.JNS: ccNS, x86asm.JP: ccP, x86asm.JNP: ccNP,
	x86asm.JL: ccL, x86asm.JGE: ccGE, x86asm.JLE: ccLE, x86asm.JG: ccG,
}

var cmovOps = map[x86asm.Op]uint8{
	x86asm.CMOVO: ccO, x86asm.CMOVNO: ccNO, x86asm.CMOVB: ccB, x86asm.CMOVAE: ccAE, x86asm.CMOVE: ccE,
	x86asm.CMOVNE: ccNE, x86asm.CMOVBE: ccBE, x86asm.CMOVA: ccA, x86asm.CMOVS: ccS, x86asm.CMOVNS: ccNS,
	x86asm.CMOVP: ccP, x86asm.CMOVNP: ccNP, x86asm.CMOVL: ccL, x86asm.CMOVGE: ccGE, x86asm.CMOVLE: ccLE,
	x86asm.CMOVG: ccG,
}

var setOps = map[x86asm.Op]uint8{
	x86asm.SETO: ccO, x86asm.SETNO: ccNO, x86asm.SETB: ccB, x86asm.SETAE: ccAE, x86asm.SETE: ccE,
	x86asm.SETNE: ccNE, x86asm.SETBE: ccBE, x86asm.SETA: ccA, x86asm.SETS: ccS, x86asm.SETNS: ccNS,
	x86asm.SETP: ccP, x86asm.SETNP: ccNP, x86asm.SETL: ccL, x86asm.SETGE: ccGE, x86asm.SETLE: ccLE,
	x86asm.SETG: ccG,
}

type strOp struct{ kind, size uint8 }

var strOps = map[x86asm.Op]strOp{
	x86asm.MOVSB: {strMovs, 1}, x86asm.MOVSW: {strMovs, 2}, x86asm.MOVSD: {strMovs, 4}, x86asm.MOVSQ: {strMovs, 8},
	x86asm.STOSB: {strStos, 1}, x86asm.STOSW: {strStos, 2}, x86asm.STOSD: {strStos, 4}, x86asm.STOSQ: {strStos, 8},
	x86asm.LODSB: {strLods, 1}, x86asm.LODSW: {strLods, 2}, x86asm.LODSD: {strLods, 4}, x86asm.LODSQ: {strLods, 8},
	x86asm.CMPSB: {strCmps, 1}, x86asm.CMPSW: {strCmps, 2}, x86asm.CMPSD: {strCmps, 4}, x86asm.CMPSQ: {strCmps, 8},
	x86asm.SCASB: {strScas, 1}, x86asm.SCASW: {strScas, 2}, x86asm.SCASD: {strScas, 4}, x86asm.SCASQ: {strScas, 8},
}

var flagOps = map[x86asm.Op]uint8{x86asm.CLC: flClc, x86asm.STC: flStc, x86asm.CMC: flCmc, x86asm.CLD: flCld, x86asm.STD: flStd}

// privileged are the instructions that raise #GP(0) at CPL 3 (with CR4.UMIP=1
// for the descriptor-table stores, IOPL=0 for CLI/STI/IN/OUT, CR4.PCE=0 for
// RDPMC).
var privileged = map[x86asm.Op]bool{
	x86asm.HLT: true, x86asm.CLI: true, x86asm.STI: true, x86asm.IN: true, x86asm.OUT: true,
	x86asm.INSB: true, x86asm.INSW: true, x86asm.INSD: true, x86asm.OUTSB: true, x86asm.OUTSW: true,
	x86asm.OUTSD: true, x86asm.LGDT: true, x86asm.LIDT: true, x86asm.LLDT: true, x86asm.LTR: true,
	x86asm.LMSW: true, x86asm.CLTS: true, x86asm.INVD: true, x86asm.WBINVD: true, x86asm.INVLPG: true,
	x86asm.INVPCID: true, x86asm.WRMSR: true, x86asm.RDMSR: true, x86asm.RDPMC: true, x86asm.SWAPGS: true,
	x86asm.SYSRET: true, x86asm.SYSEXIT: true, x86asm.SGDT: true, x86asm.SIDT: true, x86asm.SLDT: true,
	x86asm.SMSW: true, x86asm.STR: true, x86asm.MONITOR: true, x86asm.MWAIT: true, x86asm.XSETBV: true,
}

// translate converts a decoded instruction into a uop. ok is false for an
// instruction the interpreter does not implement.
func translate(inst *x86asm.Inst) (u uop, ok bool) {
	if inst.Op == 0 || inst.Len <= 0 || inst.Len > 15 || inst.Mode != 64 {
		return u, false
	}
	u.len = uint8(inst.Len)
	u.base, u.index = regNone, regNone
	lock := false
	for _, p := range inst.Prefix {
		if p == 0 {
			break
		}
		if p&x86asm.PrefixInvalid != 0 {
			// LOCK on an instruction or operand that does not allow it: #UD
			// (SDM Vol. 2 LOCK).
			return uop{op: opUD, len: u.len, base: regNone, index: regNone}, true
		}
		if p.IsVEX() || p.IsEVEX() {
			return u, false
		}
		if p&x86asm.PrefixIgnored != 0 {
			continue
		}
		switch p & 0xFF {
		case 0xF0:
			lock = true
		case 0xF3:
			if p&x86asm.PrefixImplicit == 0 {
				u.flags |= uopRep
			}
		case 0xF2:
			if p&x86asm.PrefixImplicit == 0 && p != x86asm.PrefixBND {
				u.flags |= uopRepNE
			}
		}
	}
	switch inst.AddrSize {
	case 64, 0:
	case 32:
		u.flags |= uopAddr32
	default:
		return u, false
	}
	n := nargs(inst)
	a := inst.Args
	setLock := func() bool {
		if !lock {
			return true
		}
		if u.dk != kindMem {
			return false
		}
		u.flags |= uopLock
		u.cost = costLocked
		return true
	}
	if privileged[inst.Op] {
		return uop{op: opGP, len: u.len, base: regNone, index: regNone}, true
	}
	if t := translators[inst.Op]; t != nil {
		if lock {
			return uop{op: opUD, len: u.len, base: regNone, index: regNone}, true
		}
		ok := t(&u, inst)
		return u, ok
	}

	switch op := inst.Op; op {
	case x86asm.MOV:
		if n != 2 {
			return u, false
		}
		if privReg(a[0]) || privReg(a[1]) {
			return uop{op: opGP, len: u.len, base: regNone, index: regNone}, true
		}
		u.op = opMov
		if !setDst(&u, inst, a[0]) || !setSrc(&u, inst, a[1]) {
			return u, false
		}

	case x86asm.ADD, x86asm.OR, x86asm.ADC, x86asm.SBB, x86asm.AND, x86asm.SUB, x86asm.XOR, x86asm.CMP, x86asm.TEST:
		if n != 2 {
			return u, false
		}
		u.op, u.sub = opAlu, aluOps[op]
		if !setDst(&u, inst, a[0]) || !setSrc(&u, inst, a[1]) {
			return u, false
		}
		if u.sub == aluTest && u.sk == kindMem { // TEST r, r/m is symmetric: keep memory as dst
			u.dk, u.sk, u.r1 = kindMem, kindReg, u.r0
		}
		if !setLock() {
			return u, false
		}

	case x86asm.INC, x86asm.DEC, x86asm.NEG, x86asm.NOT:
		if n != 1 || !setDst(&u, inst, a[0]) {
			return u, false
		}
		u.op = unaryOps[op]
		if !setLock() {
			return u, false
		}

	case x86asm.ROL, x86asm.ROR, x86asm.RCL, x86asm.RCR, x86asm.SHL, x86asm.SHR, x86asm.SAR:
		if n != 2 || !setDst(&u, inst, a[0]) || !setCount(&u, a[1]) {
			return u, false
		}
		u.op, u.sub = opShift, shiftOps[op]

	case x86asm.SHLD, x86asm.SHRD:
		if n != 3 || !setDst(&u, inst, a[0]) || !setCount(&u, a[2]) {
			return u, false
		}
		r, sz, ok := gpr(a[1])
		if !ok || sz != u.size || sz == 1 {
			return u, false
		}
		u.sk, u.r1 = kindReg, r
		u.op = opShld
		if op == x86asm.SHRD {
			u.op = opShrd
		}

	case x86asm.BT, x86asm.BTS, x86asm.BTR, x86asm.BTC:
		if n != 2 || !setDst(&u, inst, a[0]) || !setSrc(&u, inst, a[1]) || u.size == 1 {
			return u, false
		}
		u.op, u.sub = opBt, btOps[op]
		if !setLock() {
			return u, false
		}

	case x86asm.BSF, x86asm.BSR, x86asm.TZCNT, x86asm.LZCNT, x86asm.POPCNT:
		if n != 2 || !setRegDst(&u, a[0]) || !setSrc(&u, inst, a[1]) || u.size == 1 {
			return u, false
		}
		u.op = scanOps[op]

	case x86asm.MUL, x86asm.IMUL, x86asm.DIV, x86asm.IDIV:
		u.cost = costMul
		switch {
		case n == 1:
			// One-operand forms: the operand is the source; rAX/rDX implicit.
			k, r, sz, ok := rm(&u, inst, a[0])
			if !ok || !validSize(sz) {
				return u, false
			}
			u.sk, u.r1, u.size = k, r, sz
			u.op = mulDivOps[op]
			if op == x86asm.DIV || op == x86asm.IDIV {
				u.cost = costDiv
			}
		case op == x86asm.IMUL && n == 2:
			if !setRegDst(&u, a[0]) || !setSrc(&u, inst, a[1]) || u.sk == kindImm {
				return u, false
			}
			u.op = opImul2
		case op == x86asm.IMUL && n == 3:
			imm, isImm := a[2].(x86asm.Imm)
			if !setRegDst(&u, a[0]) || !setSrc(&u, inst, a[1]) || !isImm || u.sk == kindImm {
				return u, false
			}
			u.op, u.imm = opImul3, uint64(int64(imm))&sizeMask(u.size)
		default:
			return u, false
		}

	case x86asm.CBW, x86asm.CWDE, x86asm.CDQE:
		u.op, u.size = opCext, extSizes[op]
	case x86asm.CWD, x86asm.CDQ, x86asm.CQO:
		u.op, u.size = opCdq, extSizes[op]

	case x86asm.MOVZX, x86asm.MOVSX, x86asm.MOVSXD:
		if n != 2 || !setRegDst(&u, a[0]) {
			return u, false
		}
		k, r, sz, ok := rm(&u, inst, a[1])
		if !ok || !validSize(sz) || sz > u.size {
			return u, false
		}
		u.sk, u.r1, u.ssize = k, r, sz
		u.op = opMovsx
		if op == x86asm.MOVZX {
			u.op = opMovzx
		}

	case x86asm.LEA:
		m, isMem := a[1].(x86asm.Mem)
		if n != 2 || !setRegDst(&u, a[0]) || !isMem || u.size == 1 || !setMem(&u, m) {
			return u, false
		}
		u.seg = segNone // LEA computes an effective address, not a linear one
		u.op, u.sk = opLea, kindMem

	case x86asm.JMP, x86asm.CALL:
		if n != 1 || inst.DataSize == 16 {
			return u, false
		}
		if rel, isRel := a[0].(x86asm.Rel); isRel {
			u.op, u.imm = opJmp, uint64(int64(rel))
			if op == x86asm.CALL {
				u.op = opCall
			}
			break
		}
		k, r, sz, ok := rm(&u, inst, a[0])
		if !ok || sz != 8 {
			return u, false
		}
		u.sk, u.r1, u.size = k, r, 8
		u.op = opJmpInd
		if op == x86asm.CALL {
			u.op = opCallInd
		}

	case x86asm.JO, x86asm.JNO, x86asm.JB, x86asm.JAE, x86asm.JE, x86asm.JNE, x86asm.JBE, x86asm.JA,
		x86asm.JS, x86asm.JNS, x86asm.JP, x86asm.JNP, x86asm.JL, x86asm.JGE, x86asm.JLE, x86asm.JG:
		rel, isRel := a[0].(x86asm.Rel)
		if n != 1 || !isRel || inst.DataSize == 16 {
			return u, false
		}
		u.op, u.sub, u.imm = opJcc, jccOps[op], uint64(int64(rel))

	case x86asm.JRCXZ, x86asm.JECXZ, x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE:
		rel, isRel := a[0].(x86asm.Rel)
		if n != 1 || !isRel || inst.DataSize == 16 {
			return u, false
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

	case x86asm.RET:
		u.op = opRet
		if n == 1 {
			imm, isImm := a[0].(x86asm.Imm)
			if !isImm {
				return u, false
			}
			u.imm = uint64(imm) & 0xFFFF
		}
		if inst.DataSize == 16 {
			return u, false
		}

	case x86asm.PUSH:
		if n != 1 {
			return u, false
		}
		u.op = opPush
		if imm, isImm := a[0].(x86asm.Imm); isImm {
			u.sk, u.imm, u.size = kindImm, uint64(int64(imm)), 8
			if inst.DataSize == 16 {
				u.size, u.imm = 2, u.imm&0xFFFF
			}
			break
		}
		k, r, sz, ok := rm(&u, inst, a[0])
		if !ok || (sz != 8 && sz != 2) {
			return u, false
		}
		u.sk, u.r1, u.size = k, r, sz

	case x86asm.POP:
		if n != 1 || !setDst(&u, inst, a[0]) || (u.size != 8 && u.size != 2) {
			return u, false
		}
		u.op = opPop

	case x86asm.PUSHFQ, x86asm.POPFQ:
		u.op, u.size = opPushf, 8
		if op == x86asm.POPFQ {
			u.op = opPopf
		}

	case x86asm.LEAVE:
		if inst.DataSize == 16 {
			return u, false
		}
		u.op, u.size = opLeave, 8

	case x86asm.LAHF:
		u.op = opLahf
	case x86asm.SAHF:
		u.op = opSahf

	case x86asm.XLATB:
		m, isMem := a[0].(x86asm.Mem)
		if !isMem || !setMem(&u, m) {
			return u, false
		}
		u.op, u.size = opXlat, 1

	case x86asm.CMOVO, x86asm.CMOVNO, x86asm.CMOVB, x86asm.CMOVAE, x86asm.CMOVE, x86asm.CMOVNE, x86asm.CMOVBE,
		x86asm.CMOVA, x86asm.CMOVS, x86asm.CMOVNS, x86asm.CMOVP, x86asm.CMOVNP, x86asm.CMOVL, x86asm.CMOVGE,
		x86asm.CMOVLE, x86asm.CMOVG:
		if n != 2 || !setRegDst(&u, a[0]) || !setSrc(&u, inst, a[1]) || u.size == 1 {
			return u, false
		}
		u.op, u.sub = opCmov, cmovOps[op]

	case x86asm.SETO, x86asm.SETNO, x86asm.SETB, x86asm.SETAE, x86asm.SETE, x86asm.SETNE, x86asm.SETBE,
		x86asm.SETA, x86asm.SETS, x86asm.SETNS, x86asm.SETP, x86asm.SETNP, x86asm.SETL, x86asm.SETGE,
		x86asm.SETLE, x86asm.SETG:
		if n != 1 || !setDst(&u, inst, a[0]) || u.size != 1 {
			return u, false
		}
		u.op, u.sub = opSetcc, setOps[op]

	case x86asm.XCHG, x86asm.XADD, x86asm.CMPXCHG:
		if n != 2 {
			return u, false
		}
		first, second := a[0], a[1]
		if _, isMem := second.(x86asm.Mem); isMem && op == x86asm.XCHG {
			first, second = second, first
		}
		if !setDst(&u, inst, first) || !setSrc(&u, inst, second) || u.sk != kindReg {
			return u, false
		}
		switch op {
		case x86asm.XCHG:
			u.op = opXchg
			if u.dk == kindMem { // XCHG with memory is always locked (SDM Vol. 2 XCHG)
				lock = true
			}
		case x86asm.XADD:
			u.op = opXadd
		default:
			u.op = opCmpxchg
		}
		if !setLock() {
			return u, false
		}

	case x86asm.CMPXCHG8B, x86asm.CMPXCHG16B:
		m, isMem := a[0].(x86asm.Mem)
		if n != 1 || !isMem || !setMem(&u, m) {
			return u, false
		}
		u.op, u.dk, u.size = opCmpxchg2, kindMem, 8
		if op == x86asm.CMPXCHG16B {
			u.size = 16
		}
		if !setLock() {
			return u, false
		}

	case x86asm.NOP, x86asm.PAUSE, x86asm.PREFETCHNTA, x86asm.PREFETCHT0, x86asm.PREFETCHT1,
		x86asm.PREFETCHT2, x86asm.PREFETCHW, x86asm.LFENCE, x86asm.MFENCE, x86asm.SFENCE:
		// Multi-byte NOPs name a memory operand that is never accessed;
		// prefetches never fault (SDM Vol. 2 PREFETCHh).
		u = uop{op: opNop, len: u.len, base: regNone, index: regNone}

	case x86asm.SYSCALL:
		u.op = opSyscall
	case x86asm.INT:
		if imm, isImm := a[0].(x86asm.Imm); !isImm || imm != 3 {
			return u, false
		}
		u.op = opInt3
	case x86asm.UD0, x86asm.UD1, x86asm.UD2:
		u = uop{op: opUD, len: u.len, base: regNone, index: regNone}
	case x86asm.CPUID:
		u.op = opCpuid
	case x86asm.RDTSC:
		u.op = opRdtsc
	case x86asm.RDTSCP:
		u.op = opRdtscp
	case x86asm.CLC, x86asm.STC, x86asm.CMC, x86asm.CLD, x86asm.STD:
		u.op, u.sub = opFlag, flagOps[op]

	case x86asm.MOVSB, x86asm.MOVSW, x86asm.MOVSD, x86asm.MOVSQ, x86asm.STOSB, x86asm.STOSW, x86asm.STOSD,
		x86asm.STOSQ, x86asm.LODSB, x86asm.LODSW, x86asm.LODSD, x86asm.LODSQ, x86asm.CMPSB, x86asm.CMPSW,
		x86asm.CMPSD, x86asm.CMPSQ, x86asm.SCASB, x86asm.SCASW, x86asm.SCASD, x86asm.SCASQ:
		if u.flags&uopAddr32 != 0 {
			return u, false // 32-bit string addressing: not implemented
		}
		s := strOps[op]
		u.op, u.sub, u.size = opString, s.kind, s.size
		// The source (DS:rSI) honours a segment override; ES:rDI does not.
		for _, arg := range a[:n] {
			if m, isMem := arg.(x86asm.Mem); isMem && m.Base == x86asm.RSI {
				switch m.Segment {
				case x86asm.FS:
					u.seg = segFS
				case x86asm.GS:
					u.seg = segGS
				}
			}
		}
		if s.kind != strCmps && s.kind != strScas && u.flags&uopRepNE != 0 {
			// F2 on MOVS/STOS/LODS repeats like F3 on Intel processors.
			u.flags = u.flags&^uopRepNE | uopRep
		}
		if u.flags&(uopRep|uopRepNE) != 0 {
			u.cost = costRep
		}

	case x86asm.BSWAP:
		if n != 1 || !setRegDst(&u, a[0]) || u.size < 4 {
			return u, false
		}
		u.op = opBswap

	case x86asm.MOVBE:
		if n != 2 {
			return u, false
		}
		u.op = opMovbe
		if !setDst(&u, inst, a[0]) || !setSrc(&u, inst, a[1]) || u.size == 1 || u.sk == kindImm {
			return u, false
		}

	default:
		return u, false
	}
	return u, true
}

// setRegDst sets a register destination.
func setRegDst(u *uop, a x86asm.Arg) bool {
	r, sz, ok := gpr(a)
	if !ok {
		return false
	}
	u.dk, u.r0, u.size = kindReg, r, sz
	return true
}

// setCount sets a shift count: an immediate or CL.
func setCount(u *uop, a x86asm.Arg) bool {
	switch a := a.(type) {
	case x86asm.Imm:
		u.imm = uint64(a) & 0xFF
		return true
	case x86asm.Reg:
		if a == x86asm.CL {
			u.flags |= uopCL
			return true
		}
	}
	return false
}

// Disassemble returns the Intel-syntax disassembly of the instruction at
// user address rip, read through the current page tables without touching
// the TLBs (for diagnostics such as the hazard detector's report), or
// "(unmapped)" / "(bad)".
func (c *CPU) Disassemble(rip uint64) string {
	var b [15]byte
	n := 0
	for n < len(b) {
		va := tlb.VirtAddr(rip + uint64(n))
		r, code := tlb.Walk(c.Mem, c.MMU.CR3(), va, tlb.Read)
		if code != 0 {
			break
		}
		f := c.Mem.Frame(r.PFN)
		off := int(uint64(va) & 0xfff)
		n += copy(b[n:], f[off:])
	}
	if n == 0 {
		return "(unmapped)"
	}
	if endbr(b[:n]) {
		return "endbr64"
	}
	inst, err := x86asm.Decode(b[:n], 64)
	if err != nil || inst.Op == 0 {
		return "(bad)"
	}
	return x86asm.IntelSyntax(inst, rip, nil)
}
