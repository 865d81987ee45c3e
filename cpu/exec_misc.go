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
