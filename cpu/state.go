package cpu

// XMM is one 128-bit SSE register: Lo holds bytes 0-7, Hi bytes 8-15.
type XMM struct{ Lo, Hi uint64 }

// F80 is an x87 80-bit extended-precision value as the FPU stores it in a
// register or an m80 operand (SDM Vol. 1 4.2.2): a 64-bit significand with
// an explicit integer bit, and the sign bit above a 15-bit biased exponent.
type F80 struct {
	Mant uint64
	SExp uint16
}

// X87 is the x87 FPU state (SDM Vol. 1 8.1). ST holds the eight physical
// registers R0-R7; ST(i) is ST[(TOP+i)&7]. MMX register MMi aliases the
// significand of physical register Ri (SDM Vol. 1 9.5).
type X87 struct {
	ST  [8]F80
	FCW uint16 // control word
	FSW uint16 // status word, with TOP kept in bits 11-13
	FTW uint8  // abridged tag word as FXSAVE stores it: bit i set = Ri valid (not empty)
	FOP uint16 // last non-control instruction's opcode (11 bits)
	FIP uint64 // last non-control instruction's address
	FDP uint64 // last memory operand's address
}

// Top returns the TOP field of FSW.
func (x *X87) Top() uint8 { return uint8(x.FSW>>11) & 7 }

// Regs is the user-visible architectural state: the general-purpose
// registers, RIP, RFLAGS, the FS/GS bases, and the SSE and x87 state that
// FXSAVE covers.
type Regs struct {
	GPR    [16]uint64
	RIP    uint64
	RFLAGS uint64 // materialised flags; the interpreter may keep them lazily while running
	FSBase uint64
	GSBase uint64
	XMM    [16]XMM
	MXCSR  uint32
	X87    X87
}

// Power-on and ABI values of the floating-point control registers.
const (
	// MXCSRDefault is MXCSR after reset and at process start: all
	// exceptions masked, round to nearest, DAZ and FTZ off (SDM Vol. 1
	// 10.2.3.1; the System V x86-64 psABI 3.2.1 requires it at entry).
	MXCSRDefault = 0x1F80
	// FCWDefault is the x87 control word after FNINIT and at process start:
	// all exceptions masked, 64-bit precision, round to nearest (SDM Vol. 1
	// 8.1.5; psABI 3.2.1).
	FCWDefault = 0x037F
	// MXCSRMask is the MXCSR_MASK FXSAVE reports: the MXCSR bits a WRITE
	// may set (DAZ supported). Setting any other bit with LDMXCSR or
	// FXRSTOR raises #GP(0) (SDM Vol. 1 11.6.6).
	MXCSRMask = 0xFFFF
)

// InitialRegs returns the register state a new Linux process starts with
// at its ELF entry point: RIP = entry, RSP = sp (pointing at argc), all
// other GPRs zero, RFLAGS = IF|reserved bit 1, MXCSR = 0x1F80, FCW = 0x037F,
// an empty x87 stack (start_thread in arch/x86/kernel/process_64.c at
// v5.10 plus fpu__clear's init_fpstate).
func InitialRegs(entry, sp uint64) Regs {
	r := Regs{RIP: entry, RFLAGS: 0x202, MXCSR: MXCSRDefault}
	r.X87.FCW = FCWDefault
	r.GPR[RSP] = sp
	return r
}

// mmx returns MMX register i: the significand of x87 physical register Ri
// (SDM Vol. 1 9.5.1).
func (c *CPU) mmx(i uint8) uint64 { return c.Regs.X87.ST[i&7].Mant }

// setMMX writes MMX register i. Like every MMX instruction other than EMMS
// it also sets TOP to 0 and marks all eight registers valid, and a write
// sets the aliased register's exponent and sign bits to all ones (SDM Vol. 1
// 9.5.1, Table 9-2).
func (c *CPU) setMMX(i uint8, v uint64) {
	c.mmxEnter()
	c.Regs.X87.ST[i&7] = F80{Mant: v, SExp: 0xFFFF}
}

// mmxEnter is the x87 side effect of any MMX instruction: TOP = 0, all tags
// valid (SDM Vol. 1 9.5.1). Instructions that only read MMX registers call
// it too.
func (c *CPU) mmxEnter() {
	c.Regs.X87.FSW &^= 7 << 11
	c.Regs.X87.FTW = 0xFF
}
