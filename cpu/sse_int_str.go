package cpu

import "golang.org/x/arch/x86/x86asm"

// SSE4.2 string and text instructions PCMPESTRI, PCMPESTRM, PCMPISTRI,
// PCMPISTRM (SDM Vol. 2B 4.1 "Imm8 Control Byte Operation for PCMPESTRI /
// PCMPESTRM / PCMPISTRI / PCMPISTRM"; Vol. 1 12.10.3), and CRC32 (SDM
// Vol. 2A CRC32).

// PCMPxSTRx variants (u.sub).
const (
	strExplicit uint8 = 1 << iota // PCMPESTRx: lengths in rAX/rDX (else null-terminated)
	strMask                       // PCMPxSTRM: mask in XMM0 (else index in ECX)
	strWide                       // REX.W: lengths are RAX/RDX (else EAX/EDX)
)

// strLen is the length of an explicit-length operand: the absolute value of
// the register, saturated to the element count n.
func strLen(v uint64, wide bool, n int) int {
	s := int64(v)
	if !wide {
		s = int64(int32(v))
	}
	if s < 0 {
		if s == -s { // the most negative value: its absolute value is huge
			return n
		}
		s = -s
	}
	return int(min(s, int64(n)))
}

// nullLen is the index of the first null element of x (n if none).
func nullLen(x XMM, sz, n int) int {
	for i := range n {
		if elem(x, sz, i) == 0 {
			return i
		}
	}
	return n
}

// pcmpstr computes IntRes2 of the string compare of a (the first operand,
// xmm1) and b (xmm2/m128) with valid lengths la and lb, per imm.
func pcmpstr(a, b XMM, la, lb int, imm uint8) uint16 {
	sz, n := 1, 16
	if imm&1 != 0 {
		sz, n = 2, 8
	}
	signed := imm&2 != 0
	val := func(x XMM, i int) int64 {
		v := elem(x, sz, i)
		if signed {
			return sx(v, sz)
		}
		return int64(v)
	}
	var res1 uint16
	switch agg := imm >> 2 & 3; agg {
	case 0: // equal any: b[j] is in the set a[0:la]
		for j := range lb {
			for i := range la {
				if val(b, j) == val(a, i) {
					res1 |= 1 << j
					break
				}
			}
		}
	case 1: // ranges: a[i] <= b[j] <= a[i+1] for an even i
		for j := range lb {
			for i := 0; i+1 < la; i += 2 {
				if v := val(b, j); v >= val(a, i) && v <= val(a, i+1) {
					res1 |= 1 << j
					break
				}
			}
		}
	case 2: // equal each: both invalid is true, one invalid false
		for i := range n {
			switch {
			case i >= la && i >= lb:
				res1 |= 1 << i
			case i < la && i < lb && val(a, i) == val(b, i):
				res1 |= 1 << i
			}
		}
	case 3: // equal ordered: the substring a[0:la] starts at b[j]
		for j := range n {
			match := true
			for i := 0; i < n-j && match; i++ {
				k := j + i
				switch {
				case i >= la: // needle element invalid: forced true
				case k >= lb: // haystack invalid, needle valid: false
					match = false
				default:
					match = val(a, i) == val(b, k)
				}
			}
			if match {
				res1 |= 1 << j
			}
		}
	}
	all := uint16(1)<<n - 1
	switch imm >> 4 & 3 {
	case 1:
		res1 ^= all
	case 3:
		res1 ^= uint16(1)<<lb - 1
	}
	return res1 & all
}

func hPcmpstr(c *CPU, u *uop) stepResult {
	b, ok := c.sseSrc(u)
	if !ok {
		return stepFault
	}
	a := c.Regs.XMM[u.r0&15]
	imm := uint8(u.imm)
	sz, n := 1, 16
	if imm&1 != 0 {
		sz, n = 2, 8
	}
	var la, lb int
	if u.sub&strExplicit != 0 {
		wide := u.sub&strWide != 0
		la = strLen(c.Regs.GPR[RAX], wide, n)
		lb = strLen(c.Regs.GPR[RDX], wide, n)
	} else {
		la, lb = nullLen(a, sz, n), nullLen(b, sz, n)
	}
	res := pcmpstr(a, b, la, lb, imm)
	if u.sub&strMask != 0 {
		var m XMM
		if imm&0x40 == 0 {
			m.Lo = uint64(res)
		} else {
			for i := range n {
				if res>>i&1 != 0 {
					m = setElem(m, sz, i, ^uint64(0))
				}
			}
		}
		c.Regs.XMM[0] = m
	} else {
		idx := n
		if res != 0 {
			if imm&0x40 == 0 {
				idx = 0
				for res>>idx&1 == 0 {
					idx++
				}
			} else {
				idx = 15
				for res>>idx&1 == 0 {
					idx--
				}
			}
		}
		c.setReg(RCX, 4, uint64(idx))
	}
	var f uint64
	if res != 0 {
		f |= FlagCF
	}
	if lb < n {
		f |= FlagZF
	}
	if la < n {
		f |= FlagSF
	}
	if res&1 != 0 {
		f |= FlagOF
	}
	c.fl.setArith(FlagsArith, f)
	return stepOK
}

func trPcmpstr(u *uop, inst *x86asm.Inst) bool {
	if nargs(inst) != 3 {
		return false
	}
	imm, ok := inst.Args[2].(x86asm.Imm)
	if !ok {
		return false
	}
	u.op, u.imm = opPcmpstr, uint64(imm)&0xFF
	switch inst.Op {
	case x86asm.PCMPESTRI:
		u.sub = strExplicit
	case x86asm.PCMPESTRM:
		u.sub = strExplicit | strMask
	case x86asm.PCMPISTRM:
		u.sub = strMask
	}
	if inst.DataSize == 64 {
		u.sub |= strWide
	}
	if _, ok := setDstOp(u, inst, inst.Args[0]); !ok || u.dk != kindXMM {
		return false
	}
	// The string instructions do not require an aligned m128 (SDM Vol. 2B
	// PCMPESTRI, Exceptions).
	return setSSESrc(u, inst, inst.Args[1], false) && (u.sk == kindXMM || u.sk == kindMem)
}

// crcTab is the byte table of the CRC-32C polynomial 0x11EDC6F41 in its
// bit-reflected form 0x82F63B78, as CRC32 computes it.
var crcTab = func() (t [256]uint32) {
	for i := range t {
		v := uint32(i)
		for range 8 {
			if v&1 != 0 {
				v = v>>1 ^ 0x82F63B78
			} else {
				v >>= 1
			}
		}
		t[i] = v
	}
	return t
}()

// hCrc32 accumulates the u.ssize source bytes into the CRC in the low 32
// bits of the destination; the result is zero-extended to 64 bits. There
// is no initial or final inversion.
func hCrc32(c *CPU, u *uop) stepResult {
	var v uint64
	if u.sk == kindReg {
		v = c.reg(u.r1, u.ssize)
	} else {
		var ok bool
		if v, ok = c.load(c.ea(u), u.ssize); !ok {
			return stepFault
		}
	}
	crc := uint32(c.Regs.GPR[u.r0&15])
	for range u.ssize {
		crc = crcTab[byte(crc)^byte(v)] ^ crc>>8
		v >>= 8
	}
	c.setReg(u.r0, 8, uint64(crc))
	return stepOK
}

func trCrc32(u *uop, inst *x86asm.Inst) bool {
	if nargs(inst) != 2 {
		return false
	}
	r, _, ok := gpr(inst.Args[0])
	if !ok {
		return false
	}
	u.op, u.dk, u.r0 = opCrc32, kindReg, r
	k, r1, sz, ok := rm(u, inst, inst.Args[1])
	if !ok || !validSize(sz) {
		return false
	}
	u.sk, u.r1, u.ssize = k, r1, sz
	return true
}

func init() {
	defOp(opPcmpstr, "pcmpstr", hPcmpstr)
	defOp(opCrc32, "crc32", hCrc32)
	defTranslator(trPcmpstr, x86asm.PCMPESTRI, x86asm.PCMPESTRM, x86asm.PCMPISTRI, x86asm.PCMPISTRM)
	defTranslator(trCrc32, x86asm.CRC32)
}
