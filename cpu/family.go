package cpu

import "golang.org/x/arch/x86/x86asm"

// Instruction families. Each family lives in its own files (a translator
// from x86asm to uops and the handlers that execute them) and owns a range
// of opcode numbers, so a family is added without touching the others:
//
//	family       opcodes          files
//	integer      0x001-0x0ff      alu.go, move.go, branch.go, string.go, system.go
//	SSE integer  0x100-0x1ff      sse_int*.go
//	SSE float    0x200-0x2ff      sse_fp*.go
//	x87 and MMX  0x300-0x3ff      x87*.go, mmx*.go
//	system       0x400-0x4ff      system*.go (FXSAVE, LDMXCSR, CPUID …)
const (
	famSSEInt opcode = 0x100
	famSSEFP  opcode = 0x200
	famX87    opcode = 0x300
	famSystem opcode = 0x400
	numOps    opcode = 0x500
)

// handler executes one uop of a table-dispatched family. Like step, it
// translates all the memory the instruction touches before it changes any
// architectural state, and returns stepFault with c.exit set on a fault.
type handler func(c *CPU, u *uop) stepResult

// translator fills u for inst. translate has already set u.len, u.base and
// u.index (regNone), the prefix flags and uopAddr32, and rejected LOCK. It
// returns false for a form the interpreter does not implement.
type translator func(u *uop, inst *x86asm.Inst) bool

var (
	handlers    [numX]handler                                      // by u.x: the families' (defOp), then the specialised ones (fast.go)
	opNames     = [numOps]string{opInvalid: "invalid", opUD: "ud"} // for uop.String; defOp adds the rest
	translators = map[x86asm.Op]translatorEntry{}
)

type translatorEntry struct {
	t        translator
	lockable bool // LOCK reaches t as uopLockReq (else LOCK is #UD)
}

// defOp registers the handler and name of a table-dispatched opcode. It is
// called from the family files' init functions.
func defOp(op opcode, name string, h handler) {
	if op == opInvalid || op == numOpcodes || op >= numOps || handlers[op] != nil {
		panic("cpu: defOp: opcode " + name + " out of range or defined twice")
	}
	handlers[op], opNames[op] = h, name
}

// defTranslator registers t as the translator of each of ops; a LOCK
// prefix on them is #UD.
func defTranslator(t translator, ops ...x86asm.Op) { defTrans(t, false, ops) }

// defLockable registers t for ops that may take a LOCK prefix: t sees it as
// uopLockReq in u.flags and accepts it with setLock.
func defLockable(t translator, ops ...x86asm.Op) { defTrans(t, true, ops) }

func defTrans(t translator, lockable bool, ops []x86asm.Op) {
	for _, o := range ops {
		if _, dup := translators[o]; dup {
			panic("cpu: defTranslator: " + o.String() + " registered twice")
		}
		translators[o] = translatorEntry{t, lockable}
	}
}

// xmmArg returns the XMM register number of a, if a is one.
func xmmArg(a x86asm.Arg) (uint8, bool) {
	if r, ok := a.(x86asm.Reg); ok && r >= x86asm.X0 && r <= x86asm.X15 {
		return uint8(r - x86asm.X0), true
	}
	return 0, false
}

// mmxArg returns the MMX register number of a, if a is one.
func mmxArg(a x86asm.Arg) (uint8, bool) {
	if r, ok := a.(x86asm.Reg); ok && r >= x86asm.M0 && r <= x86asm.M7 {
		return uint8(r - x86asm.M0), true
	}
	return 0, false
}

// stArg returns i for the x87 stack register ST(i), if a is one.
func stArg(a x86asm.Arg) (uint8, bool) {
	if r, ok := a.(x86asm.Reg); ok && r >= x86asm.F0 && r <= x86asm.F7 {
		return uint8(r - x86asm.F0), true
	}
	return 0, false
}

// operand decodes any operand other than an immediate: a GPR (kindReg), an
// XMM, MMX or x87 register, or memory (kindMem, filling u's memory operand;
// size is inst.MemBytes). size is the register's width in bytes for a GPR
// (16 for XMM, 8 for MMX, 10 for ST(i)).
func operand(u *uop, inst *x86asm.Inst, a x86asm.Arg) (kind, reg, size uint8, ok bool) {
	if r, ok := xmmArg(a); ok {
		return kindXMM, r, 16, true
	}
	if r, ok := mmxArg(a); ok {
		return kindMMX, r, 8, true
	}
	if r, ok := stArg(a); ok {
		return kindST, r, 10, true
	}
	return rm(u, inst, a)
}

// setDstOp and setSrcOp set u's destination or source from operand; they
// leave u.size alone.
func setDstOp(u *uop, inst *x86asm.Inst, a x86asm.Arg) (size uint8, ok bool) {
	k, r, sz, ok := operand(u, inst, a)
	if ok {
		u.dk, u.r0 = k, r
	}
	return sz, ok
}

func setSrcOp(u *uop, inst *x86asm.Inst, a x86asm.Arg) (size uint8, ok bool) {
	k, r, sz, ok := operand(u, inst, a)
	if ok {
		if k == kindMem && u.dk == kindMem {
			return 0, false
		}
		u.sk, u.r1 = k, r
	}
	return sz, ok
}
