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
	if u, ok := bcastInval(b); ok {
		return u, 3, decOK
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
	if text, n, ok := disasmFallback(b, rip); ok {
		e.Bytes, e.Disasm = append([]byte(nil), b[:n]...), text
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

// vex reports whether inst has a VEX or EVEX prefix.
func vex(inst *x86asm.Inst) bool {
	for _, p := range inst.Prefix {
		if p == 0 {
			break
		}
		if p.IsVEX() || p.IsEVEX() {
			return true
		}
	}
	return false
}

// translate converts a decoded instruction into a uop. ok is false for an
// instruction the interpreter does not implement.
func translate(inst *x86asm.Inst) (u uop, ok bool) {
	if inst.Op == 0 || inst.Len <= 0 || inst.Len > 15 {
		return u, false
	}
	if vex(inst) {
		// VEX/EVEX (AVX, AVX-512, BMI…): the CPUID model reports no AVX
		// and CR4.OSXSAVE=0, so every VEX-encoded instruction is #UD (SDM
		// Vol. 2A 2.4, "Exception Conditions for VEX-Encoded
		// Instructions"): SIGILL for the guest, as on such a CPU. (x86asm
		// leaves Mode unset for these.)
		return uop{op: opUD, len: uint8(inst.Len), base: regNone, index: regNone}, true
	}
	if inst.Mode != 64 {
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
	if privileged[inst.Op] {
		return uop{op: opGP, len: u.len, base: regNone, index: regNone}, true
	}
	e, found := translators[inst.Op]
	if !found {
		return u, false
	}
	if lock {
		if !e.lockable {
			return uop{op: opUD, len: u.len, base: regNone, index: regNone}, true
		}
		u.flags |= uopLockReq
	}
	ok = e.t(&u, inst)
	u.flags &^= uopLockReq
	classify(&u)
	return u, ok
}

// setLock turns a LOCK prefix (uopLockReq) into a locked read-modify-write,
// which needs a memory destination.
func setLock(u *uop) bool {
	if u.flags&uopLockReq == 0 {
		return true
	}
	if u.dk != kindMem {
		return false
	}
	u.flags |= uopLock
	return true
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
	if text, _, ok := disasmFallback(b[:n], rip); ok {
		return text
	}
	inst, err := x86asm.Decode(b[:n], 64)
	if err != nil || inst.Op == 0 {
		return "(bad)"
	}
	return x86asm.IntelSyntax(inst, rip, nil)
}
