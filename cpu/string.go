package cpu

import (
	"golang.org/x/arch/x86/x86asm"

	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// str executes MOVS/STOS/LODS/CMPS/SCAS, with or without a REP prefix (SDM
// Vol. 2 REP/REPE/REPNE). A repeated instruction costs Costs.UserString per
// iteration. It commits completed iterations: on a fault, or when Clock
// reaches Deadline between iterations, it returns stepFault with RCX, RSI
// and RDI describing the remaining work and RIP still at the instruction,
// so the next Run resumes it (as the processor resumes after an interrupt).
//
// REP MOVS/STOS run in page-sized chunks: each chunk translates its source
// and destination page once (like fast-string microcode) and charges
// Costs.UserString per element.
func (c *CPU) str(u *uop) stepResult {
	if u.flags&(uopRep|uopRepNE) == 0 {
		if !c.strIter(u) {
			return stepFault
		}
		return stepOK
	}
	base := uint64(c.Costs.UserString)
	if c.Regs.GPR[RCX] == 0 {
		c.Clock += base
		return stepOK
	}
	for {
		n := uint64(0)
		if u.sub == strMovs || u.sub == strStos {
			var ok bool
			if n, ok = c.strChunk(u); !ok {
				return stepFault
			}
		}
		if n == 0 {
			if !c.strIter(u) {
				return stepFault
			}
			n = 1
		}
		c.Clock += base * n
		c.Regs.GPR[RCX] -= n
		if c.Regs.GPR[RCX] == 0 {
			return stepOK
		}
		switch u.sub {
		case strCmps, strScas:
			if c.fl.zf() != (u.flags&uopRep != 0) { // REPE stops on ZF=0, REPNE on ZF=1
				return stepOK
			}
		}
		if c.Clock >= c.Deadline {
			c.exit = Exit{Kind: ExitDeadline}
			return stepFault
		}
	}
}

// strDelta returns the per-element pointer increment (DF selects the sign).
func (c *CPU) strDelta(size uint8) uint64 {
	if c.fl.rflags&FlagDF != 0 {
		return -uint64(size)
	}
	return uint64(size)
}

// srcAddr returns the linear address of the DS:rSI operand (FS/GS override
// honoured).
func (c *CPU) srcAddr(u *uop) uint64 {
	a := c.Regs.GPR[RSI]
	switch u.seg {
	case segFS:
		a += c.Regs.FSBase
	case segGS:
		a += c.Regs.GSBase
	}
	return a
}

// strIter executes one iteration.
func (c *CPU) strIter(u *uop) bool {
	d := c.strDelta(u.size)
	switch u.sub {
	case strMovs:
		v, ok := c.load(c.srcAddr(u), u.size)
		if !ok || !c.store(c.Regs.GPR[RDI], u.size, v) {
			return false
		}
		c.Regs.GPR[RSI] += d
		c.Regs.GPR[RDI] += d
	case strStos:
		if !c.store(c.Regs.GPR[RDI], u.size, c.reg(RAX, u.size)) {
			return false
		}
		c.Regs.GPR[RDI] += d
	case strLods:
		v, ok := c.load(c.srcAddr(u), u.size)
		if !ok {
			return false
		}
		c.setReg(RAX, u.size, v)
		c.Regs.GPR[RSI] += d
	case strCmps:
		a, ok := c.load(c.srcAddr(u), u.size)
		if !ok {
			return false
		}
		b, ok := c.load(c.Regs.GPR[RDI], u.size)
		if !ok {
			return false
		}
		c.alu(aluCmp, u.size, a, b)
		c.Regs.GPR[RSI] += d
		c.Regs.GPR[RDI] += d
	case strScas:
		b, ok := c.load(c.Regs.GPR[RDI], u.size)
		if !ok {
			return false
		}
		c.alu(aluCmp, u.size, c.reg(RAX, u.size), b)
		c.Regs.GPR[RDI] += d
	}
	return true
}

// pageRun returns how many size-byte elements starting at va lie wholly in
// va's page when walking forward (or backward with down).
func pageRun(va uint64, size uint64, down bool) uint64 {
	off := va & pageMask
	if off+size > pageSize {
		return 0
	}
	if down {
		return off/size + 1
	}
	return (pageSize - off) / size
}

// strChunk executes as many REP MOVS/STOS iterations as stay inside the
// current source and destination pages, bounded by RCX and by the cycles
// left before Deadline. It returns 0 (and does nothing) when a chunk of at
// least two elements is not possible; the caller then runs one iteration.
func (c *CPU) strChunk(u *uop) (uint64, bool) {
	size := uint64(u.size)
	down := c.fl.rflags&FlagDF != 0
	dst := c.Regs.GPR[RDI]
	n := min(pageRun(dst, size, down), c.Regs.GPR[RCX])
	src := uint64(0)
	if u.sub == strMovs {
		src = c.srcAddr(u)
		n = min(n, pageRun(src, size, down))
	}
	if base := uint64(c.Costs.UserString); base > 0 && c.Deadline > c.Clock {
		n = min(n, max((c.Deadline-c.Clock+base-1)/base, 1))
	}
	if n < 2 || !canonical(dst) || !canonical(src) {
		return 0, true
	}
	var v uint64
	var fs *phys.Frame
	if u.sub == strMovs {
		if fs = c.xlate(src, tlb.Read); fs == nil {
			return 0, false
		}
	} else {
		v = c.reg(RAX, u.size)
	}
	f := c.xlate(dst, tlb.Write)
	if f == nil {
		return 0, false
	}
	fd := f
	doff, soff := dst&pageMask, src&pageMask
	switch {
	case u.sub == strStos && !down:
		b := fd[doff : doff+n*size]
		writeLE(f, doff, u.size, v)
		for k := size; k < uint64(len(b)); k *= 2 {
			copy(b[k:], b[:k])
		}
	case u.sub == strStos:
		for i := uint64(0); i < n; i++ {
			writeLE(f, doff-i*size, u.size, v)
		}
	case !down && (fs != fd || doff <= soff || doff >= soff+n*size):
		// No overlap that would make element order visible: bulk copy.
		copy(fd[doff:doff+n*size], fs[soff:soff+n*size])
	default:
		for i := uint64(0); i < n; i++ {
			so, do := soff+i*size, doff+i*size
			if down {
				so, do = soff-i*size, doff-i*size
			}
			writeLE(f, do, u.size, readLE(fs, so, u.size))
		}
	}
	c.noteWrite(f, dst)
	d := n * size
	if down {
		d = -d
	}
	c.Regs.GPR[RDI] += d
	if u.sub == strMovs {
		c.Regs.GPR[RSI] += d
	}
	return n, true
}

func init() {
	defLockable(trString, x86asm.MOVSB, x86asm.MOVSW, x86asm.MOVSD, x86asm.MOVSQ, x86asm.STOSB, x86asm.STOSW, x86asm.STOSD, x86asm.STOSQ, x86asm.LODSB, x86asm.LODSW, x86asm.LODSD, x86asm.LODSQ, x86asm.CMPSB, x86asm.CMPSW, x86asm.CMPSD, x86asm.CMPSQ, x86asm.SCASB, x86asm.SCASW, x86asm.SCASD, x86asm.SCASQ)
	defOp(opString, "string", execString)
}

func trString(u *uop, inst *x86asm.Inst) bool {
	op := inst.Op
	n := nargs(inst)
	a := inst.Args
	if u.flags&uopAddr32 != 0 {
		return false // 32-bit string addressing: not implemented
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
	return true
}

func execString(c *CPU, u *uop) stepResult {
	return c.str(u)
}
