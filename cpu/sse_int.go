package cpu

import "golang.org/x/arch/x86/x86asm"

// The SSE integer family (opcodes famSSEInt+…): the packed-integer
// instructions of SSE2, SSE3, SSSE3, SSE4.1 and SSE4.2 on XMM registers, and
// their MMX forms on MM registers (SDM Vol. 1 chapters 9, 11 and 12; Vol. 2
// per instruction). The data moves are in sse_mov.go, PCMPxSTRx and CRC32
// in sse_int_str.go.
//
// uop layout: dk/r0 is the destination (kindXMM, kindMMX, kindReg or
// kindMem), sk/r1 the source (kindXMM, kindMMX, kindReg, kindMem or kindImm
// for the shift-by-immediate forms); imm is the imm8; ssize is the size of
// a memory (or GPR) source; size is a GPR destination's size.

// sseAlign marks a uop whose 16-byte memory operand must be 16-byte aligned:
// a legacy-SSE instruction with an m128 operand raises #GP(0) on a
// misaligned address unless it is one of the unaligned forms (SDM Vol. 1
// 11.4.1; Vol. 2 2.4, exception type 1 and 4 tables).
const sseAlign uint8 = 1 << 7

// Opcodes of the packed-integer family.
const (
	opPaddb = famSSEInt + iota
	opPaddw
	opPaddd
	opPaddq
	opPsubb
	opPsubw
	opPsubd
	opPsubq
	opPaddsb
	opPaddsw
	opPaddusb
	opPaddusw
	opPsubsb
	opPsubsw
	opPsubusb
	opPsubusw
	opPcmpeqb
	opPcmpeqw
	opPcmpeqd
	opPcmpeqq
	opPcmpgtb
	opPcmpgtw
	opPcmpgtd
	opPcmpgtq
	opPand
	opPandn
	opPor
	opPxor
	opPminub
	opPminuw
	opPminud
	opPminsb
	opPminsw
	opPminsd
	opPmaxub
	opPmaxuw
	opPmaxud
	opPmaxsb
	opPmaxsw
	opPmaxsd
	opPavgb
	opPavgw
	opPsadbw
	opPmullw
	opPmulhw
	opPmulhuw
	opPmuludq
	opPmulld
	opPmuldq
	opPmaddwd
	opPmaddubsw
	opPmulhrsw
	opPsignb
	opPsignw
	opPsignd
	opPabsb
	opPabsw
	opPabsd
	opPsllw
	opPslld
	opPsllq
	opPsrlw
	opPsrld
	opPsrlq
	opPsraw
	opPsrad
	opPslldq
	opPsrldq
	opPshufd
	opPshuflw
	opPshufhw
	opPshufw
	opPshufb
	opPunpcklbw
	opPunpcklwd
	opPunpckldq
	opPunpcklqdq
	opPunpckhbw
	opPunpckhwd
	opPunpckhdq
	opPunpckhqdq
	opPacksswb
	opPackssdw
	opPackuswb
	opPackusdw
	opPalignr
	opPhaddw
	opPhaddd
	opPhaddsw
	opPhsubw
	opPhsubd
	opPhsubsw
	opPblendw
	opPmovzxbw
	opPmovzxbd
	opPmovzxbq
	opPmovzxwd
	opPmovzxwq
	opPmovzxdq
	opPmovsxbw
	opPmovsxbd
	opPmovsxbq
	opPmovsxwd
	opPmovsxwq
	opPmovsxdq
	opPhminposuw
	opMpsadbw
	endPacked // the ops above are packed(fn) with a pfn
)

// Opcodes with handlers of their own.
const (
	opPblendvb = endPacked + iota
	opPtest
	opPmovmskb
	opPinsr
	opPextr
	opMaskmov
	opPcmpstr
	opCrc32
	opMov128
	opMovLo
	opMovHalf
	opClflush
	endSSEInt
)

// The family must stay inside its opcode range.
var _ = [1]struct{}{}[endSSEInt/famSSEFP]

const numPackedOps = int(endPacked - famSSEInt)

// pfn computes a packed instruction's result from the destination d and
// the source s (for an MMX form only the Lo halves are meaningful and
// mm is true); imm is the instruction's imm8 (or the shift count of an
// immediate shift).
type pfn func(d, s XMM, imm uint8, mm bool) XMM

// sseSrc reads u's source operand as 128 bits: an XMM register, an MMX
// register or a GPR (zero-extended), an immediate, or u.ssize bytes of
// memory, checking a 16-byte operand's alignment when sseAlign is set.
func (c *CPU) sseSrc(u *uop) (XMM, bool) {
	switch u.sk {
	case kindXMM:
		return c.Regs.XMM[u.r1&15], true
	case kindMMX:
		c.mmxEnter()
		return XMM{Lo: c.mmx(u.r1)}, true
	case kindReg:
		return XMM{Lo: c.reg(u.r1, u.ssize)}, true
	case kindImm:
		return XMM{Lo: u.imm}, true
	}
	return c.sseMem(c.ea(u), u.ssize, u.flags&sseAlign != 0)
}

// sseMem reads an n-byte memory source at va: 16 bytes whole, checking
// their alignment when align (aligned16), fewer into the low lane,
// zero-extended. The one memory fetcher of the SSE integer, float and move
// handlers.
func (c *CPU) sseMem(va uint64, n uint8, align bool) (XMM, bool) {
	if n == 16 {
		if align && !c.aligned16(va) {
			return XMM{}, false
		}
		return c.load128(va)
	}
	v, ok := c.load(va, n)
	return XMM{Lo: v}, ok
}

// aligned16 reports whether va is 16-byte aligned; if not it records the
// #GP(0) an aligned-form m128 access raises (SDM Vol. 1 11.4.1.1).
func (c *CPU) aligned16(va uint64) bool {
	if va&15 != 0 {
		c.gp(0)
		return false
	}
	return true
}

// packed returns the handler of a packed instruction computing f.
func packed(f pfn) handler {
	return func(c *CPU, u *uop) stepResult {
		s, ok := c.sseSrc(u)
		if !ok {
			return stepFault
		}
		if u.dk == kindMMX {
			r := f(XMM{Lo: c.mmx(u.r0)}, s, uint8(u.imm), true)
			c.setMMX(u.r0, r.Lo)
			return stepOK
		}
		d := &c.Regs.XMM[u.r0&15]
		*d = f(*d, s, uint8(u.imm), false)
		return stepOK
	}
}

// lane lifts a function on one 64-bit lane to a pfn: for the instructions
// whose result in each quadword depends only on that quadword of both
// operands.
func lane(g func(a, b uint64) uint64) pfn {
	return func(d, s XMM, _ uint8, mm bool) XMM {
		if mm {
			return XMM{Lo: g(d.Lo, s.Lo)}
		}
		return XMM{g(d.Lo, s.Lo), g(d.Hi, s.Hi)}
	}
}

// Element access: element i of size sz bytes (1, 2, 4, 8) of x.
func elem(x XMM, sz, i int) uint64 {
	off := uint(i * sz * 8)
	w := x.Lo
	if off >= 64 {
		w = x.Hi
	}
	return w >> (off & 63) & sizeMask(uint8(sz))
}

func setElem(x XMM, sz, i int, v uint64) XMM {
	off := uint(i * sz * 8)
	m := sizeMask(uint8(sz))
	v &= m
	if off >= 64 {
		x.Hi = x.Hi&^(m<<(off&63)) | v<<(off&63)
	} else {
		x.Lo = x.Lo&^(m<<off) | v<<off
	}
	return x
}

// sx sign-extends the low sz bytes of v.
func sx(v uint64, sz int) int64 {
	s := uint(64 - 8*sz)
	return int64(v<<s) >> s
}

// map2 applies g to each pair of sz-byte elements of one 64-bit lane.
func map2(a, b uint64, sz int, g func(x, y uint64) uint64) uint64 {
	var r uint64
	m := sizeMask(uint8(sz))
	for off := 0; off < 64; off += 8 * sz {
		r |= g(a>>off&m, b>>off&m) & m << off
	}
	return r
}

// SWAR add and subtract of the elements of one lane; h has the top bit of
// each element set.
func swarAdd(a, b, h uint64) uint64 { return (a&^h + b&^h) ^ (a^b)&h }
func swarSub(a, b, h uint64) uint64 { return (a | h - b&^h) ^ (a^^b)&h }

const (
	hiB = 0x8080808080808080
	hiW = 0x8000800080008000
	hiD = 0x8000000080000000
)

func satS(v int64, sz int) uint64 {
	lo, hi := int64(-1)<<(8*sz-1), int64(1)<<(8*sz-1)-1
	return uint64(min(max(v, lo), hi))
}

func satU(v int64, sz int) uint64 {
	return uint64(min(max(v, 0), int64(sizeMask(uint8(sz)))))
}

func addS(sz int) func(a, b uint64) uint64 {
	return func(a, b uint64) uint64 {
		return map2(a, b, sz, func(x, y uint64) uint64 { return satS(sx(x, sz)+sx(y, sz), sz) })
	}
}

func subS(sz int) func(a, b uint64) uint64 {
	return func(a, b uint64) uint64 {
		return map2(a, b, sz, func(x, y uint64) uint64 { return satS(sx(x, sz)-sx(y, sz), sz) })
	}
}

func addU(sz int) func(a, b uint64) uint64 {
	return func(a, b uint64) uint64 {
		return map2(a, b, sz, func(x, y uint64) uint64 { return satU(int64(x+y), sz) })
	}
}

func subU(sz int) func(a, b uint64) uint64 {
	return func(a, b uint64) uint64 {
		return map2(a, b, sz, func(x, y uint64) uint64 { return satU(int64(x)-int64(y), sz) })
	}
}

func ones(b bool) uint64 { return -b2u(b) }

// cmpEq compares the elements of a lane without per-element work: an
// element of x = a^b is zero iff adding the low bits of each element to
// themselves' complement neither carries into nor finds the top bit.
func cmpEq(sz int) func(a, b uint64) uint64 {
	h := uint64(hiB)
	switch sz {
	case 2:
		h = hiW
	case 4:
		h = hiD
	case 8:
		h = 1 << 63
	}
	low, shift, m := ^h, uint(8*sz-1), sizeMask(uint8(sz))
	return func(a, b uint64) uint64 {
		x := a ^ b
		t := (x&low + low) | x
		return (^t & h >> shift) * m
	}
}

func cmpGt(sz int) func(a, b uint64) uint64 {
	return func(a, b uint64) uint64 {
		return map2(a, b, sz, func(x, y uint64) uint64 { return ones(sx(x, sz) > sx(y, sz)) })
	}
}

func minU(sz int) func(a, b uint64) uint64 {
	return func(a, b uint64) uint64 { return map2(a, b, sz, func(x, y uint64) uint64 { return min(x, y) }) }
}

func maxU(sz int) func(a, b uint64) uint64 {
	return func(a, b uint64) uint64 { return map2(a, b, sz, func(x, y uint64) uint64 { return max(x, y) }) }
}

func minS(sz int) func(a, b uint64) uint64 {
	return func(a, b uint64) uint64 {
		return map2(a, b, sz, func(x, y uint64) uint64 { return uint64(min(sx(x, sz), sx(y, sz))) })
	}
}

func maxS(sz int) func(a, b uint64) uint64 {
	return func(a, b uint64) uint64 {
		return map2(a, b, sz, func(x, y uint64) uint64 { return uint64(max(sx(x, sz), sx(y, sz))) })
	}
}

func avg(sz int) func(a, b uint64) uint64 {
	return func(a, b uint64) uint64 { return map2(a, b, sz, func(x, y uint64) uint64 { return (x + y + 1) >> 1 }) }
}

// PSIGN: negate, keep or zero each element of d by the sign of s's.
func sign(sz int) func(a, b uint64) uint64 {
	return func(a, b uint64) uint64 {
		return map2(a, b, sz, func(x, y uint64) uint64 {
			switch v := sx(y, sz); {
			case v < 0:
				return -x
			case v == 0:
				return 0
			}
			return x
		})
	}
}

// PABS: the absolute value of each element of the source.
func abs(sz int) func(a, b uint64) uint64 {
	return func(_, b uint64) uint64 {
		return map2(0, b, sz, func(_, y uint64) uint64 {
			v := sx(y, sz)
			if v < 0 {
				v = -v
			}
			return uint64(v)
		})
	}
}

func psadbw(a, b uint64) uint64 {
	var s uint64
	for i := 0; i < 64; i += 8 {
		x, y := int(uint8(a>>i)), int(uint8(b>>i))
		if x > y {
			s += uint64(x - y)
		} else {
			s += uint64(y - x)
		}
	}
	return s
}

func pmaddwd(a, b uint64) uint64 {
	var r uint64
	for i := 0; i < 64; i += 32 {
		p := int32(int16(a>>i))*int32(int16(b>>i)) + int32(int16(a>>(i+16)))*int32(int16(b>>(i+16)))
		r |= uint64(uint32(p)) << i
	}
	return r
}

// PMADDUBSW: unsigned bytes of d times signed bytes of s, adjacent pairs
// added with signed saturation.
func pmaddubsw(a, b uint64) uint64 {
	var r uint64
	for i := 0; i < 64; i += 16 {
		p := int64(uint8(a>>i))*int64(int8(b>>i)) + int64(uint8(a>>(i+8)))*int64(int8(b>>(i+8)))
		r |= satS(p, 2) & 0xFFFF << i
	}
	return r
}

// PMULHRSW: ((x*y >> 14) + 1) >> 1 of signed words.
func pmulhrsw(a, b uint64) uint64 {
	return map2(a, b, 2, func(x, y uint64) uint64 {
		return uint64((sx(x, 2)*sx(y, 2)>>14 + 1) >> 1)
	})
}

// shift applies a packed shift by count to one lane of sz-byte elements:
// kind 0 logical left, 1 logical right, 2 arithmetic right. A count above
// the element width clears the element (or fills it with its sign).
func shiftLane(a, count uint64, sz, kind int) uint64 {
	w := uint64(8 * sz)
	if count >= w {
		if kind != 2 {
			return 0
		}
		count = w - 1
	}
	return map2(a, 0, sz, func(x, _ uint64) uint64 {
		switch kind {
		case 0:
			return x << count
		case 1:
			return x >> count
		}
		return uint64(sx(x, sz) >> count)
	})
}

func pshift(sz, kind int) pfn {
	return func(d, s XMM, _ uint8, mm bool) XMM {
		return XMM{shiftLane(d.Lo, s.Lo, sz, kind), shiftLane(d.Hi, s.Lo, sz, kind)}
	}
}

// xmmShl and xmmShr shift x by n bytes (n >= 16 clears it).
func xmmShl(x XMM, n uint) XMM {
	switch {
	case n >= 16:
		return XMM{}
	case n >= 8:
		return XMM{0, x.Lo << ((n - 8) * 8)}
	case n == 0:
		return x
	}
	return XMM{x.Lo << (n * 8), x.Hi<<(n*8) | x.Lo>>(64-n*8)}
}

func xmmShr(x XMM, n uint) XMM {
	switch {
	case n >= 16:
		return XMM{}
	case n >= 8:
		return XMM{x.Hi >> ((n - 8) * 8), 0}
	case n == 0:
		return x
	}
	return XMM{x.Lo>>(n*8) | x.Hi<<(64-n*8), x.Hi >> (n * 8)}
}

func pslldq(d, s XMM, _ uint8, _ bool) XMM { return xmmShl(d, uint(s.Lo)) }
func psrldq(d, s XMM, _ uint8, _ bool) XMM { return xmmShr(d, uint(s.Lo)) }

// shuf4 selects four sz-byte elements of x by the 2-bit fields of imm,
// starting at element base.
func shuf4(x XMM, sz, base int, imm uint8) XMM {
	r := x
	for i := range 4 {
		r = setElem(r, sz, base+i, elem(x, sz, base+int(imm>>(2*i)&3)))
	}
	return r
}

func pshufd(_, s XMM, imm uint8, _ bool) XMM  { return shuf4(s, 4, 0, imm) }
func pshuflw(_, s XMM, imm uint8, _ bool) XMM { return shuf4(s, 2, 0, imm) }
func pshufw(_, s XMM, imm uint8, _ bool) XMM  { return shuf4(XMM{Lo: s.Lo}, 2, 0, imm) }
func pshufhw(_, s XMM, imm uint8, _ bool) XMM {
	r := shuf4(XMM{Lo: s.Hi}, 2, 0, imm)
	return XMM{s.Lo, r.Lo}
}

func pshufb(d, s XMM, _ uint8, mm bool) XMM {
	n, mask := 16, uint64(15)
	if mm {
		n, mask = 8, 7
	}
	var r XMM
	for i := range n {
		c := elem(s, 1, i)
		if c&0x80 == 0 {
			r = setElem(r, 1, i, elem(d, 1, int(c&mask)))
		}
	}
	return r
}

// punpck interleaves the sz-byte elements of the low (hi false) or high
// half of d and s.
func punpck(sz int, hi bool) pfn {
	return func(d, s XMM, _ uint8, mm bool) XMM {
		n := 16 / sz
		if mm {
			n = 8 / sz
		}
		base := 0
		if hi {
			base = n / 2
		}
		var r XMM
		for i := range n / 2 {
			r = setElem(r, sz, 2*i, elem(d, sz, base+i))
			r = setElem(r, sz, 2*i+1, elem(s, sz, base+i))
		}
		return r
	}
}

// pack narrows the sz-byte signed elements of d then s to sz/2 bytes with
// signed (unsigned false) or unsigned saturation.
func pack(sz int, unsigned bool) pfn {
	return func(d, s XMM, _ uint8, mm bool) XMM {
		n := 16 / sz
		if mm {
			n = 8 / sz
		}
		var r XMM
		for i := range 2 * n {
			src, j := d, i
			if i >= n {
				src, j = s, i-n
			}
			v := sx(elem(src, sz, j), sz)
			if unsigned {
				r = setElem(r, sz/2, i, satU(v, sz/2))
			} else {
				r = setElem(r, sz/2, i, satS(v, sz/2))
			}
		}
		return r
	}
}

// palignr: the concatenation d:s shifted right by imm bytes, low half.
func palignr(d, s XMM, imm uint8, mm bool) XMM {
	if mm {
		// 16-byte value d.Lo:s.Lo.
		r := xmmShr(XMM{s.Lo, d.Lo}, uint(imm))
		return XMM{Lo: r.Lo}
	}
	n := uint(imm)
	if n >= 32 {
		return XMM{}
	}
	if n >= 16 {
		return xmmShr(d, n-16)
	}
	lo := xmmShr(s, n)
	hi := xmmShl(d, 16-n)
	return XMM{lo.Lo | hi.Lo, lo.Hi | hi.Hi}
}

// phorizontal adds or subtracts adjacent sz-byte element pairs of d, then
// of s, optionally with signed saturation.
func phorizontal(sz int, sub, sat bool) pfn {
	return func(d, s XMM, _ uint8, mm bool) XMM {
		n := 16 / sz
		if mm {
			n = 8 / sz
		}
		var r XMM
		for i := range n {
			src, j := d, 2*i
			if i >= n/2 {
				src, j = s, 2*(i-n/2)
			}
			a, b := sx(elem(src, sz, j), sz), sx(elem(src, sz, j+1), sz)
			v := a + b
			if sub {
				v = a - b
			}
			if sat {
				r = setElem(r, sz, i, satS(v, sz))
			} else {
				r = setElem(r, sz, i, uint64(v))
			}
		}
		return r
	}
}

// mpsadbw: eight sums of absolute differences of the four source bytes
// at 4*imm[1:0] against the destination bytes from 4*imm[2]+i.
func mpsadbw(d, s XMM, imm uint8, _ bool) XMM {
	src, dst := 4*int(imm&3), 4*int(imm>>2&1)
	var r XMM
	for i := range 8 {
		var sum uint64
		for k := range 4 {
			a, b := int(elem(d, 1, dst+i+k)), int(elem(s, 1, src+k))
			sum += uint64(max(a-b, b-a))
		}
		r = setElem(r, 2, i, sum)
	}
	return r
}

func pblendw(d, s XMM, imm uint8, _ bool) XMM {
	for i := range 8 {
		if imm>>i&1 != 0 {
			d = setElem(d, 2, i, elem(s, 2, i))
		}
	}
	return d
}

// pmovx widens the low elements of s from ssz to dsz bytes.
func pmovx(ssz, dsz int, signed bool) pfn {
	return func(_, s XMM, _ uint8, _ bool) XMM {
		var r XMM
		for i := range 16 / dsz {
			v := elem(s, ssz, i)
			if signed {
				v = uint64(sx(v, ssz))
			}
			r = setElem(r, dsz, i, v)
		}
		return r
	}
}

// phminposuw: the minimum unsigned word of s and its (lowest) index.
func phminposuw(_, s XMM, _ uint8, _ bool) XMM {
	m, idx := elem(s, 2, 0), 0
	for i := 1; i < 8; i++ {
		if v := elem(s, 2, i); v < m {
			m, idx = v, i
		}
	}
	return XMM{Lo: m | uint64(idx)<<16}
}

var packedFns = [numPackedOps]struct {
	name string
	f    pfn
}{
	opPaddb - famSSEInt:   {"paddb", lane(func(a, b uint64) uint64 { return swarAdd(a, b, hiB) })},
	opPaddw - famSSEInt:   {"paddw", lane(func(a, b uint64) uint64 { return swarAdd(a, b, hiW) })},
	opPaddd - famSSEInt:   {"paddd", lane(func(a, b uint64) uint64 { return swarAdd(a, b, hiD) })},
	opPaddq - famSSEInt:   {"paddq", lane(func(a, b uint64) uint64 { return a + b })},
	opPsubb - famSSEInt:   {"psubb", lane(func(a, b uint64) uint64 { return swarSub(a, b, hiB) })},
	opPsubw - famSSEInt:   {"psubw", lane(func(a, b uint64) uint64 { return swarSub(a, b, hiW) })},
	opPsubd - famSSEInt:   {"psubd", lane(func(a, b uint64) uint64 { return swarSub(a, b, hiD) })},
	opPsubq - famSSEInt:   {"psubq", lane(func(a, b uint64) uint64 { return a - b })},
	opPaddsb - famSSEInt:  {"paddsb", lane(addS(1))},
	opPaddsw - famSSEInt:  {"paddsw", lane(addS(2))},
	opPaddusb - famSSEInt: {"paddusb", lane(addU(1))},
	opPaddusw - famSSEInt: {"paddusw", lane(addU(2))},
	opPsubsb - famSSEInt:  {"psubsb", lane(subS(1))},
	opPsubsw - famSSEInt:  {"psubsw", lane(subS(2))},
	opPsubusb - famSSEInt: {"psubusb", lane(subU(1))},
	opPsubusw - famSSEInt: {"psubusw", lane(subU(2))},
	opPcmpeqb - famSSEInt: {"pcmpeqb", lane(cmpEq(1))},
	opPcmpeqw - famSSEInt: {"pcmpeqw", lane(cmpEq(2))},
	opPcmpeqd - famSSEInt: {"pcmpeqd", lane(cmpEq(4))},
	opPcmpeqq - famSSEInt: {"pcmpeqq", lane(cmpEq(8))},
	opPcmpgtb - famSSEInt: {"pcmpgtb", lane(cmpGt(1))},
	opPcmpgtw - famSSEInt: {"pcmpgtw", lane(cmpGt(2))},
	opPcmpgtd - famSSEInt: {"pcmpgtd", lane(cmpGt(4))},
	opPcmpgtq - famSSEInt: {"pcmpgtq", lane(cmpGt(8))},
	opPand - famSSEInt:    {"pand", lane(func(a, b uint64) uint64 { return a & b })},
	opPandn - famSSEInt:   {"pandn", lane(func(a, b uint64) uint64 { return ^a & b })},
	opPor - famSSEInt:     {"por", lane(func(a, b uint64) uint64 { return a | b })},
	opPxor - famSSEInt:    {"pxor", lane(func(a, b uint64) uint64 { return a ^ b })},
	opPminub - famSSEInt:  {"pminub", lane(minU(1))},
	opPminuw - famSSEInt:  {"pminuw", lane(minU(2))},
	opPminud - famSSEInt:  {"pminud", lane(minU(4))},
	opPminsb - famSSEInt:  {"pminsb", lane(minS(1))},
	opPminsw - famSSEInt:  {"pminsw", lane(minS(2))},
	opPminsd - famSSEInt:  {"pminsd", lane(minS(4))},
	opPmaxub - famSSEInt:  {"pmaxub", lane(maxU(1))},
	opPmaxuw - famSSEInt:  {"pmaxuw", lane(maxU(2))},
	opPmaxud - famSSEInt:  {"pmaxud", lane(maxU(4))},
	opPmaxsb - famSSEInt:  {"pmaxsb", lane(maxS(1))},
	opPmaxsw - famSSEInt:  {"pmaxsw", lane(maxS(2))},
	opPmaxsd - famSSEInt:  {"pmaxsd", lane(maxS(4))},
	opPavgb - famSSEInt:   {"pavgb", lane(avg(1))},
	opPavgw - famSSEInt:   {"pavgw", lane(avg(2))},
	opPsadbw - famSSEInt:  {"psadbw", lane(psadbw)},
	opPmullw - famSSEInt:  {"pmullw", lane(func(a, b uint64) uint64 { return map2(a, b, 2, func(x, y uint64) uint64 { return x * y }) })},
	opPmulhw - famSSEInt: {"pmulhw", lane(func(a, b uint64) uint64 {
		return map2(a, b, 2, func(x, y uint64) uint64 { return uint64(sx(x, 2) * sx(y, 2) >> 16) })
	})},
	opPmulhuw - famSSEInt:    {"pmulhuw", lane(func(a, b uint64) uint64 { return map2(a, b, 2, func(x, y uint64) uint64 { return x * y >> 16 }) })},
	opPmuludq - famSSEInt:    {"pmuludq", lane(func(a, b uint64) uint64 { return uint64(uint32(a)) * uint64(uint32(b)) })},
	opPmulld - famSSEInt:     {"pmulld", lane(func(a, b uint64) uint64 { return map2(a, b, 4, func(x, y uint64) uint64 { return x * y }) })},
	opPmuldq - famSSEInt:     {"pmuldq", lane(func(a, b uint64) uint64 { return uint64(int64(int32(a)) * int64(int32(b))) })},
	opPmaddwd - famSSEInt:    {"pmaddwd", lane(pmaddwd)},
	opPmaddubsw - famSSEInt:  {"pmaddubsw", lane(pmaddubsw)},
	opPmulhrsw - famSSEInt:   {"pmulhrsw", lane(pmulhrsw)},
	opPsignb - famSSEInt:     {"psignb", lane(sign(1))},
	opPsignw - famSSEInt:     {"psignw", lane(sign(2))},
	opPsignd - famSSEInt:     {"psignd", lane(sign(4))},
	opPabsb - famSSEInt:      {"pabsb", lane(abs(1))},
	opPabsw - famSSEInt:      {"pabsw", lane(abs(2))},
	opPabsd - famSSEInt:      {"pabsd", lane(abs(4))},
	opPsllw - famSSEInt:      {"psllw", pshift(2, 0)},
	opPslld - famSSEInt:      {"pslld", pshift(4, 0)},
	opPsllq - famSSEInt:      {"psllq", pshift(8, 0)},
	opPsrlw - famSSEInt:      {"psrlw", pshift(2, 1)},
	opPsrld - famSSEInt:      {"psrld", pshift(4, 1)},
	opPsrlq - famSSEInt:      {"psrlq", pshift(8, 1)},
	opPsraw - famSSEInt:      {"psraw", pshift(2, 2)},
	opPsrad - famSSEInt:      {"psrad", pshift(4, 2)},
	opPslldq - famSSEInt:     {"pslldq", pslldq},
	opPsrldq - famSSEInt:     {"psrldq", psrldq},
	opPshufd - famSSEInt:     {"pshufd", pshufd},
	opPshuflw - famSSEInt:    {"pshuflw", pshuflw},
	opPshufhw - famSSEInt:    {"pshufhw", pshufhw},
	opPshufw - famSSEInt:     {"pshufw", pshufw},
	opPshufb - famSSEInt:     {"pshufb", pshufb},
	opPunpcklbw - famSSEInt:  {"punpcklbw", punpck(1, false)},
	opPunpcklwd - famSSEInt:  {"punpcklwd", punpck(2, false)},
	opPunpckldq - famSSEInt:  {"punpckldq", punpck(4, false)},
	opPunpcklqdq - famSSEInt: {"punpcklqdq", punpck(8, false)},
	opPunpckhbw - famSSEInt:  {"punpckhbw", punpck(1, true)},
	opPunpckhwd - famSSEInt:  {"punpckhwd", punpck(2, true)},
	opPunpckhdq - famSSEInt:  {"punpckhdq", punpck(4, true)},
	opPunpckhqdq - famSSEInt: {"punpckhqdq", punpck(8, true)},
	opPacksswb - famSSEInt:   {"packsswb", pack(2, false)},
	opPackssdw - famSSEInt:   {"packssdw", pack(4, false)},
	opPackuswb - famSSEInt:   {"packuswb", pack(2, true)},
	opPackusdw - famSSEInt:   {"packusdw", pack(4, true)},
	opPalignr - famSSEInt:    {"palignr", palignr},
	opPhaddw - famSSEInt:     {"phaddw", phorizontal(2, false, false)},
	opPhaddd - famSSEInt:     {"phaddd", phorizontal(4, false, false)},
	opPhaddsw - famSSEInt:    {"phaddsw", phorizontal(2, false, true)},
	opPhsubw - famSSEInt:     {"phsubw", phorizontal(2, true, false)},
	opPhsubd - famSSEInt:     {"phsubd", phorizontal(4, true, false)},
	opPhsubsw - famSSEInt:    {"phsubsw", phorizontal(2, true, true)},
	opPblendw - famSSEInt:    {"pblendw", pblendw},
	opPmovzxbw - famSSEInt:   {"pmovzxbw", pmovx(1, 2, false)},
	opPmovzxbd - famSSEInt:   {"pmovzxbd", pmovx(1, 4, false)},
	opPmovzxbq - famSSEInt:   {"pmovzxbq", pmovx(1, 8, false)},
	opPmovzxwd - famSSEInt:   {"pmovzxwd", pmovx(2, 4, false)},
	opPmovzxwq - famSSEInt:   {"pmovzxwq", pmovx(2, 8, false)},
	opPmovzxdq - famSSEInt:   {"pmovzxdq", pmovx(4, 8, false)},
	opPmovsxbw - famSSEInt:   {"pmovsxbw", pmovx(1, 2, true)},
	opPmovsxbd - famSSEInt:   {"pmovsxbd", pmovx(1, 4, true)},
	opPmovsxbq - famSSEInt:   {"pmovsxbq", pmovx(1, 8, true)},
	opPmovsxwd - famSSEInt:   {"pmovsxwd", pmovx(2, 4, true)},
	opPmovsxwq - famSSEInt:   {"pmovsxwq", pmovx(2, 8, true)},
	opPmovsxdq - famSSEInt:   {"pmovsxdq", pmovx(4, 8, true)},
	opPhminposuw - famSSEInt: {"phminposuw", phminposuw},
	opMpsadbw - famSSEInt:    {"mpsadbw", mpsadbw},
}

// packedOps maps the x86asm ops of the packed family to their opcodes.
var packedOps = map[x86asm.Op]opcode{
	x86asm.PADDB: opPaddb, x86asm.PADDW: opPaddw, x86asm.PADDD: opPaddd, x86asm.PADDQ: opPaddq,
	x86asm.PSUBB: opPsubb, x86asm.PSUBW: opPsubw, x86asm.PSUBD: opPsubd, x86asm.PSUBQ: opPsubq,
	x86asm.PADDSB: opPaddsb, x86asm.PADDSW: opPaddsw, x86asm.PADDUSB: opPaddusb, x86asm.PADDUSW: opPaddusw,
	x86asm.PSUBSB: opPsubsb, x86asm.PSUBSW: opPsubsw, x86asm.PSUBUSB: opPsubusb, x86asm.PSUBUSW: opPsubusw,
	x86asm.PCMPEQB: opPcmpeqb, x86asm.PCMPEQW: opPcmpeqw, x86asm.PCMPEQD: opPcmpeqd, x86asm.PCMPEQQ: opPcmpeqq,
	x86asm.PCMPGTB: opPcmpgtb, x86asm.PCMPGTW: opPcmpgtw, x86asm.PCMPGTD: opPcmpgtd, x86asm.PCMPGTQ: opPcmpgtq,
	x86asm.PAND: opPand, x86asm.PANDN: opPandn, x86asm.POR: opPor, x86asm.PXOR: opPxor,
	x86asm.PMINUB: opPminub, x86asm.PMINUW: opPminuw, x86asm.PMINUD: opPminud,
	x86asm.PMINSB: opPminsb, x86asm.PMINSW: opPminsw, x86asm.PMINSD: opPminsd,
	x86asm.PMAXUB: opPmaxub, x86asm.PMAXUW: opPmaxuw, x86asm.PMAXUD: opPmaxud,
	x86asm.PMAXSB: opPmaxsb, x86asm.PMAXSW: opPmaxsw, x86asm.PMAXSD: opPmaxsd,
	x86asm.PAVGB: opPavgb, x86asm.PAVGW: opPavgw, x86asm.PSADBW: opPsadbw,
	x86asm.PMULLW: opPmullw, x86asm.PMULHW: opPmulhw, x86asm.PMULHUW: opPmulhuw, x86asm.PMULUDQ: opPmuludq,
	x86asm.PMULLD: opPmulld, x86asm.PMULDQ: opPmuldq, x86asm.PMADDWD: opPmaddwd,
	x86asm.PMADDUBSW: opPmaddubsw, x86asm.PMULHRSW: opPmulhrsw,
	x86asm.PSIGNB: opPsignb, x86asm.PSIGNW: opPsignw, x86asm.PSIGND: opPsignd,
	x86asm.PABSB: opPabsb, x86asm.PABSW: opPabsw, x86asm.PABSD: opPabsd,
	x86asm.PSLLW: opPsllw, x86asm.PSLLD: opPslld, x86asm.PSLLQ: opPsllq,
	x86asm.PSRLW: opPsrlw, x86asm.PSRLD: opPsrld, x86asm.PSRLQ: opPsrlq,
	x86asm.PSRAW: opPsraw, x86asm.PSRAD: opPsrad, x86asm.PSLLDQ: opPslldq, x86asm.PSRLDQ: opPsrldq,
	x86asm.PSHUFD: opPshufd, x86asm.PSHUFLW: opPshuflw, x86asm.PSHUFHW: opPshufhw, x86asm.PSHUFW: opPshufw,
	x86asm.PSHUFB:    opPshufb,
	x86asm.PUNPCKLBW: opPunpcklbw, x86asm.PUNPCKLWD: opPunpcklwd, x86asm.PUNPCKLDQ: opPunpckldq,
	x86asm.PUNPCKLQDQ: opPunpcklqdq, x86asm.PUNPCKHBW: opPunpckhbw, x86asm.PUNPCKHWD: opPunpckhwd,
	x86asm.PUNPCKHDQ: opPunpckhdq, x86asm.PUNPCKHQDQ: opPunpckhqdq,
	x86asm.PACKSSWB: opPacksswb, x86asm.PACKSSDW: opPackssdw, x86asm.PACKUSWB: opPackuswb, x86asm.PACKUSDW: opPackusdw,
	x86asm.PALIGNR: opPalignr,
	x86asm.PHADDW:  opPhaddw, x86asm.PHADDD: opPhaddd, x86asm.PHADDSW: opPhaddsw,
	x86asm.PHSUBW: opPhsubw, x86asm.PHSUBD: opPhsubd, x86asm.PHSUBSW: opPhsubsw,
	x86asm.PBLENDW:  opPblendw,
	x86asm.PMOVZXBW: opPmovzxbw, x86asm.PMOVZXBD: opPmovzxbd, x86asm.PMOVZXBQ: opPmovzxbq,
	x86asm.PMOVZXWD: opPmovzxwd, x86asm.PMOVZXWQ: opPmovzxwq, x86asm.PMOVZXDQ: opPmovzxdq,
	x86asm.PMOVSXBW: opPmovsxbw, x86asm.PMOVSXBD: opPmovsxbd, x86asm.PMOVSXBQ: opPmovsxbq,
	x86asm.PMOVSXWD: opPmovsxwd, x86asm.PMOVSXWQ: opPmovsxwq, x86asm.PMOVSXDQ: opPmovsxdq,
	x86asm.PHMINPOSUW: opPhminposuw, x86asm.MPSADBW: opMpsadbw,
	x86asm.PBLENDVB: opPblendvb, x86asm.PTEST: opPtest,
}

// setSSESrc sets u's source from a (XMM, MMX, memory or imm8) and, for
// memory, ssize and the alignment check of an m128 operand.
func setSSESrc(u *uop, inst *x86asm.Inst, a x86asm.Arg, aligned bool) bool {
	if imm, ok := a.(x86asm.Imm); ok {
		u.sk, u.imm = kindImm, uint64(imm)&0xFF
		return true
	}
	if _, ok := setSrcOp(u, inst, a); !ok {
		return false
	}
	switch u.sk {
	case kindXMM, kindMMX:
	case kindMem:
		u.ssize = uint8(inst.MemBytes)
		switch u.ssize {
		case 16:
			if aligned {
				u.flags |= sseAlign
			}
		case 1, 2, 4, 8:
		default:
			return false
		}
	default:
		return false
	}
	return true
}

// trPacked translates the packed instructions "op xmm/mm, xmm/mm/mem
// [, imm8]" and the shift-by-immediate forms "op xmm/mm, imm8".
func trPacked(u *uop, inst *x86asm.Inst) bool {
	op, ok := packedOps[inst.Op]
	if !ok || nargs(inst) < 2 {
		return false
	}
	u.op = op
	if _, ok := setDstOp(u, inst, inst.Args[0]); !ok || (u.dk != kindXMM && u.dk != kindMMX) {
		return false
	}
	if !setSSESrc(u, inst, inst.Args[1], true) {
		return false
	}
	if u.sk == kindXMM || u.sk == kindMMX {
		if u.sk != u.dk {
			return false
		}
	}
	if nargs(inst) >= 3 {
		switch a := inst.Args[2].(type) {
		case x86asm.Imm:
			u.imm = uint64(a) & 0xFF
		case x86asm.Reg:
			if a != x86asm.X0 || op != opPblendvb { // PBLENDVB's implicit XMM0
				return false
			}
		default:
			return false
		}
	}
	return true
}

// pblendvb: bytes of s where the top bit of XMM0's byte is set.
func hPblendvb(c *CPU, u *uop) stepResult {
	s, ok := c.sseSrc(u)
	if !ok {
		return stepFault
	}
	m := c.Regs.XMM[0]
	// Spread each byte's top bit over the byte.
	spread := func(x uint64) uint64 { return (x & hiB >> 7) * 0xFF }
	d := &c.Regs.XMM[u.r0&15]
	ml, mh := spread(m.Lo), spread(m.Hi)
	d.Lo = d.Lo&^ml | s.Lo&ml
	d.Hi = d.Hi&^mh | s.Hi&mh
	return stepOK
}

// ptest: ZF = (d AND s) == 0, CF = (NOT d AND s) == 0, other flags cleared.
func hPtest(c *CPU, u *uop) stepResult {
	s, ok := c.sseSrc(u)
	if !ok {
		return stepFault
	}
	d := c.Regs.XMM[u.r0&15]
	var f uint64
	if d.Lo&s.Lo|d.Hi&s.Hi == 0 {
		f |= FlagZF
	}
	if ^d.Lo&s.Lo|^d.Hi&s.Hi == 0 {
		f |= FlagCF
	}
	c.fl.setArith(FlagsArith, f)
	return stepOK
}

// pmovmskb: the top bit of each byte of the source into a GPR,
// zero-extended.
func hPmovmskb(c *CPU, u *uop) stepResult {
	s, _ := c.sseSrc(u) // a register
	n := 8
	if u.sk == kindXMM {
		n = 16
	}
	var v uint64
	for i := range 8 {
		v |= s.Lo >> (8*i + 7) & 1 << i
	}
	if n == 16 {
		for i := range 8 {
			v |= s.Hi >> (8*i + 7) & 1 << (i + 8)
		}
	}
	c.setReg(u.r0, 8, v)
	return stepOK
}

func trPmovmskb(u *uop, inst *x86asm.Inst) bool {
	r, _, ok := gpr(inst.Args[0])
	if !ok || nargs(inst) != 2 {
		return false
	}
	u.op, u.dk, u.r0 = opPmovmskb, kindReg, r
	if _, ok := setSrcOp(u, inst, inst.Args[1]); !ok {
		return false
	}
	return u.sk == kindXMM || u.sk == kindMMX
}

// PINSRB/W/D/Q: element imm (mod the element count) of the destination =
// the low size bytes of a GPR or memory. u.size is the element size.
func hPinsr(c *CPU, u *uop) stepResult {
	s, ok := c.sseSrc(u)
	if !ok {
		return stepFault
	}
	sz := int(u.size)
	if u.dk == kindMMX {
		r := setElem(XMM{Lo: c.mmx(u.r0)}, sz, int(u.imm)&(8/sz-1), s.Lo)
		c.setMMX(u.r0, r.Lo)
		return stepOK
	}
	d := &c.Regs.XMM[u.r0&15]
	*d = setElem(*d, sz, int(u.imm)&(16/sz-1), s.Lo)
	return stepOK
}

// PEXTRB/W/D/Q: element imm of an XMM (or MMX) register into a GPR
// (zero-extended) or memory. u.ssize is the element size.
func hPextr(c *CPU, u *uop) stepResult {
	x, n := c.Regs.XMM[u.r1&15], 16
	if u.sk == kindMMX {
		x, n = XMM{Lo: c.mmx(u.r1)}, 8
	}
	sz := int(u.ssize)
	v := elem(x, sz, int(u.imm)&(n/sz-1))
	if u.dk == kindReg {
		c.setReg(u.r0, 8, v)
	} else if !c.store(c.ea(u), u.ssize, v) {
		return stepFault
	}
	if u.sk == kindMMX {
		c.mmxEnter()
	}
	return stepOK
}

var elemSize = map[x86asm.Op]uint8{
	x86asm.PINSRB: 1, x86asm.PINSRW: 2, x86asm.PINSRD: 4, x86asm.PINSRQ: 8,
	x86asm.PEXTRB: 1, x86asm.PEXTRW: 2, x86asm.PEXTRD: 4, x86asm.PEXTRQ: 8,
}

func trPinsrPextr(u *uop, inst *x86asm.Inst) bool {
	if nargs(inst) != 3 {
		return false
	}
	imm, ok := inst.Args[2].(x86asm.Imm)
	if !ok {
		return false
	}
	u.imm = uint64(imm) & 0xFF
	sz := elemSize[inst.Op]
	switch inst.Op {
	case x86asm.PINSRB, x86asm.PINSRW, x86asm.PINSRD, x86asm.PINSRQ:
		u.op, u.size = opPinsr, sz
		if _, ok := setDstOp(u, inst, inst.Args[0]); !ok || (u.dk != kindXMM && u.dk != kindMMX) {
			return false
		}
		k, r, rsz, ok := operand(u, inst, inst.Args[1])
		if !ok || (k != kindReg && k != kindMem) {
			return false
		}
		u.sk, u.r1, u.ssize = k, r, sz
		if k == kindReg {
			u.ssize = min(rsz, 8)
		}
		return true
	}
	u.op, u.ssize = opPextr, sz
	k, r, _, ok := operand(u, inst, inst.Args[0])
	if !ok || (k != kindReg && k != kindMem) {
		return false
	}
	u.dk, u.r0 = k, r
	if _, ok := setSrcOp(u, inst, inst.Args[1]); !ok || (u.sk != kindXMM && u.sk != kindMMX) {
		return false
	}
	return true
}

func init() {
	for i, p := range packedFns {
		if p.f != nil {
			defOp(famSSEInt+opcode(i), p.name, packed(p.f))
		}
	}
	defOp(opPblendvb, "pblendvb", hPblendvb)
	defOp(opPtest, "ptest", hPtest)
	defOp(opPmovmskb, "pmovmskb", hPmovmskb)
	defOp(opPinsr, "pinsr", hPinsr)
	defOp(opPextr, "pextr", hPextr)
	ops := make([]x86asm.Op, 0, len(packedOps))
	for o := range packedOps {
		ops = append(ops, o)
	}
	defTranslator(trPacked, ops...)
	defTranslator(trPmovmskb, x86asm.PMOVMSKB)
	defTranslator(trPinsrPextr, x86asm.PINSRB, x86asm.PINSRW, x86asm.PINSRD, x86asm.PINSRQ,
		x86asm.PEXTRB, x86asm.PEXTRW, x86asm.PEXTRD, x86asm.PEXTRQ)
}
