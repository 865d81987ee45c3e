package cpu

import (
	"math/bits"
	"sync"
)

// step executes one uop. Every path translates all the memory an
// instruction touches before it changes any architectural state, so a
// stepFault leaves the instruction unexecuted (REP string instructions
// excepted: they commit completed iterations, as the processor does).
func (c *CPU) step(u *uop) stepResult {
	return dispatch[u.x&(dispatchSize-1)](c, u)
}

// dispatch is handlers with every empty slot holding noHandler, in a table
// whose size is a power of two, so that step's call needs neither a bounds
// check nor a nil check. It is filled on the first Run (enter), once every
// init function has registered its handlers.
var (
	dispatch     [dispatchSize]handler
	dispatchOnce sync.Once
)

const dispatchSize = 2048

// Every handler number fits the table (numX is a constant).
var _ [dispatchSize - numX]struct{}

func buildDispatch() {
	for i := range dispatch {
		dispatch[i] = noHandler
		if i < len(handlers) && handlers[i] != nil {
			dispatch[i] = handlers[i]
		}
	}
}

// noHandler runs for a uop with no handler: opInvalid/opUD never reach the
// cache (fetchMiss turns them into ExitUD); anything else is a
// translate/handler mismatch.
func noHandler(c *CPU, u *uop) stepResult {
	panic("cpu: step: uop with no handler")
}

// modify executes a one-destination read-modify-write uop (INC, DEC, NEG,
// NOT, shifts, SHLD/SHRD) on a register or memory.
func (c *CPU) modify(u *uop, src uint64) bool {
	if u.dk == kindReg {
		if r, write := c.compute(u, c.reg(u.r0, u.size), src); write {
			c.setReg(u.r0, u.size, r)
		}
		return true
	}
	_, ok := c.rmw(u, c.ea(u), src)
	return ok
}

// bitTest executes BT/BTS/BTR/BTC. With a register bit offset and a memory
// operand the offset addresses a bit string: it is signed and selects the
// operand-sized word at ea + (offset >> log2(width)) * size (SDM Vol. 2 BT).
func (c *CPU) bitTest(u *uop) stepResult {
	w := uint64(u.size) * 8
	off := u.imm
	if u.sk == kindReg {
		off = c.reg(u.r1, u.size)
	}
	if u.dk == kindReg {
		if r, write := c.compute(u, c.reg(u.r0, u.size), off&(w-1)); write {
			c.setReg(u.r0, u.size, r)
		}
		return stepOK
	}
	va := c.ea(u)
	if u.sk == kindReg {
		va += uint64(int64(sext(off, u.size))>>bits.TrailingZeros64(w)) * uint64(u.size)
	}
	off &= w - 1
	if u.sub == btTest {
		v, ok := c.load(va, u.size)
		if !ok {
			return stepFault
		}
		c.compute(u, v, off)
		return stepOK
	}
	if _, ok := c.rmw(u, va, off); !ok {
		return stepFault
	}
	return stepOK
}

func byteSwap(v uint64, size uint8) uint64 {
	switch size {
	case 2:
		return uint64(bits.ReverseBytes16(uint16(v)))
	case 4:
		return uint64(bits.ReverseBytes32(uint32(v)))
	}
	return bits.ReverseBytes64(v)
}
