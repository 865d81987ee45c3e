package cpu

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/tlbemu/emu/tlb"
)

// push stores v (size 8 or 2 bytes) below RSP and then moves RSP.
func (c *CPU) push(size uint8, v uint64) bool {
	rsp := c.Regs.GPR[RSP] - uint64(size)
	if !c.store(rsp, size, v) {
		return false
	}
	c.Regs.GPR[RSP] = rsp
	return true
}

// pop executes POP r/m. For a memory destination the address is computed
// with RSP already incremented (SDM Vol. 2 POP); POP RSP loads RSP.
func (c *CPU) pop(u *uop) stepResult {
	rsp := c.Regs.GPR[RSP]
	v, ok := c.load(rsp, u.size)
	if !ok {
		return stepFault
	}
	if u.dk == kindReg {
		c.Regs.GPR[RSP] = rsp + uint64(u.size)
		c.setReg(u.r0, u.size, v)
		return stepOK
	}
	c.Regs.GPR[RSP] = rsp + uint64(u.size)
	va := c.ea(u)
	c.Regs.GPR[RSP] = rsp
	if !c.store(va, u.size, v) {
		return stepFault
	}
	c.Regs.GPR[RSP] = rsp + uint64(u.size)
	return stepOK
}

// cmpxchg2 executes CMPXCHG8B (size 8) and CMPXCHG16B (size 16): compare
// rDX:rAX with the memory operand; if equal store rCX:rBX and set ZF, else
// load it into rDX:rAX and clear ZF. The other flags are unchanged.
// CMPXCHG16B needs a 16-byte aligned operand (#GP otherwise) and is atomic
// only with respect to other split locks (Go has no 128-bit CAS).
func (c *CPU) cmpxchg2(u *uop) stepResult {
	va := c.ea(u)
	if u.size == 8 {
		r, ok := c.prepWrite(va, 8)
		if !ok {
			return stepFault
		}
		want := c.reg(RDX, 4)<<32 | c.reg(RAX, 4)
		repl := c.reg(RCX, 4)<<32 | c.reg(RBX, 4)
		var cur uint64
		w, _ := r.word()
		switch {
		case u.flags&uopLock != 0 && w != nil:
			for {
				cur = atomic.LoadUint64(w)
				if cur != want {
					break
				}
				if atomic.CompareAndSwapUint64(w, want, repl) {
					c.noteWrite(r.f1, va)
					break
				}
			}
		case u.flags&uopLock != 0:
			splitLock.Lock()
			if cur = r.read(); cur == want {
				c.commit(&r, repl)
			}
			splitLock.Unlock()
		default:
			if cur = r.read(); cur == want {
				c.commit(&r, repl)
			}
		}
		if cur == want {
			c.fl.setArith(FlagZF, FlagZF)
		} else {
			c.fl.setArith(FlagZF, 0)
			c.setReg(RAX, 4, cur)
			c.setReg(RDX, 4, cur>>32)
		}
		return stepOK
	}
	if va&15 != 0 || !canonical(va) {
		c.gp(va)
		return stepFault
	}
	f := c.xlate(va, tlb.Write)
	if f == nil {
		return stepFault
	}
	off := va & pageMask
	splitLock.Lock()
	lo := binary.LittleEndian.Uint64(f[off:])
	hi := binary.LittleEndian.Uint64(f[off+8:])
	eq := lo == c.Regs.GPR[RAX] && hi == c.Regs.GPR[RDX]
	if eq {
		binary.LittleEndian.PutUint64(f[off:], c.Regs.GPR[RBX])
		binary.LittleEndian.PutUint64(f[off+8:], c.Regs.GPR[RCX])
	}
	splitLock.Unlock()
	if eq {
		c.noteWrite(f, va)
		c.fl.setArith(FlagZF, FlagZF)
	} else {
		c.fl.setArith(FlagZF, 0)
		c.Regs.GPR[RAX], c.Regs.GPR[RDX] = lo, hi
	}
	return stepOK
}
