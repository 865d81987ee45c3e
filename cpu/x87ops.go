package cpu

import (
	"encoding/binary"
	"math/bits"
)

// x87Unary executes the D9 E0-FF forms that operate on ST(0) (and ST(1)).
func (c *CPU) x87Unary(u *uop, fop uint16, f *fpx) stepResult {
	x := &c.Regs.X87
	modrm := uint8(fop)
	switch modrm {
	case 0xE0, 0xE1: // FCHS, FABS
		v := x.st(0)
		if x.empty(0) {
			f.underflow()
			v = f80Indefinite
		} else if modrm == 0xE0 {
			v = v.neg()
		} else {
			v = v.abs()
		}
		if !c.finish(u, f) {
			return stepFault
		}
		x.setST(0, v)
		return stepOK
	case 0xE4: // FTST
		f.setCC = true
		if x.empty(0) {
			f.underflow()
			f.cond = condFrom(2)
		} else {
			f.cond = condFrom(fcmp(x.st(0), F80{}, false, &f.flags))
		}
		if !c.finish(u, f) {
			return stepFault
		}
		return stepOK
	case 0xE5: // FXAM
		f.setCC = true
		v := x.st(0)
		f.c1 = v.sign()
		if x.empty(0) {
			f.cond = fswC3 | fswC0
		} else {
			switch v.class() {
			case clsInvalid:
				f.cond = 0
			case clsQNaN, clsSNaN:
				f.cond = fswC0
			case clsNormal:
				f.cond = fswC2
			case x87ClsInf:
				f.cond = fswC2 | fswC0
			case x87ClsZero:
				f.cond = fswC3
			case clsDenormal:
				f.cond = fswC3 | fswC2
			}
		}
		if !c.finish(u, f) {
			return stepFault
		}
		return stepOK
	case 0xFA, 0xFC: // FSQRT, FRNDINT
		var res F80
		if x.empty(0) {
			f.underflow()
			res = f80Indefinite
		} else if modrm == 0xFA {
			r := x87Rounder(x.FCW, true)
			res = r.sqrt(x.st(0))
			f.flags |= r.flags
			f.c1 = r.up
		} else {
			res = frndint(x.st(0), uint8(x.FCW>>fcwRCShift)&3, f)
		}
		if !c.finish(u, f) {
			return stepFault
		}
		x.setST(0, res)
		return stepOK
	case 0xFD, 0xF5, 0xF8: // FSCALE, FPREM1, FPREM
		var res F80
		if x.empty(0) || x.empty(1) {
			f.underflow()
			res = f80Indefinite
			if modrm != 0xFD {
				f.setCC, f.cond = true, x.FSW&(fswC0|fswC3) // C2 cleared
			}
		} else if modrm == 0xFD {
			res = fscale(x.st(0), x.st(1), x.FCW, f)
		} else {
			res = fprem(x.st(0), x.st(1), modrm == 0xF5, x.FSW, f)
		}
		if !c.finish(u, f) {
			return stepFault
		}
		x.setST(0, res)
		return stepOK
	case 0xF4: // FXTRACT
		if x.empty(0) {
			f.underflow()
			if !c.finish(u, f) {
				return stepFault
			}
			x.setST(0, f80Indefinite)
			x.push(f80Indefinite)
			return stepOK
		}
		if !x.empty(7) {
			f.overflow()
			if !c.finish(u, f) {
				return stepFault
			}
			x.setST(0, f80Indefinite)
			x.push(f80Indefinite)
			return stepOK
		}
		e, s := fxtract(x.st(0), f)
		if !c.finish(u, f) {
			return stepFault
		}
		x.setST(0, e)
		x.push(s)
		return stepOK
	}
	return c.x87Transcendental(u, fop, f)
}

// frndint rounds v to an integer (SDM Vol. 2 FRNDINT): precision control
// does not apply.
func frndint(v F80, rc uint8, f *fpx) F80 {
	switch v.class() {
	case clsInvalid:
		f.flags |= fswIE
		return f80Indefinite
	case clsQNaN, clsSNaN:
		return nanResult(v, v, &f.flags)
	case x87ClsZero, x87ClsInf:
		return v
	case clsDenormal:
		f.flags |= fswDE
	}
	if v.exp() >= x80Bias+63 {
		return v
	}
	r := rounder{prec: 64, rc: rc}
	mag, _ := r.roundInt(v)
	f.flags |= r.flags
	f.c1 = r.up
	return fromUint(v.sign(), mag)
}

// fscale returns a * 2^trunc(b) (SDM Vol. 2 FSCALE, Table 3-44).
func fscale(a, b F80, fcw uint16, f *fpx) F80 {
	if res, done := binPrelude(a, b, &f.flags); done {
		return res
	}
	ca, cb := a.class(), b.class()
	switch {
	case cb == x87ClsInf:
		if !b.sign() {
			if ca == x87ClsZero {
				f.flags |= fswIE
				return f80Indefinite
			}
			return signedInf(a.sign())
		}
		if ca == x87ClsInf {
			f.flags |= fswIE
			return f80Indefinite
		}
		return signedZero(a.sign())
	case ca == x87ClsInf || ca == x87ClsZero:
		return a
	}
	n := int64(0)
	if cb != x87ClsZero {
		ub := unpack(b)
		e := ub.exp - x80Bias
		switch {
		case e < 0:
			n = 0
		case e > 30:
			n = 1 << 30
		default:
			n = int64(ub.sig >> uint(63-e))
		}
		if ub.sign {
			n = -n
		}
	}
	ua := unpack(a)
	r := x87Rounder(fcw, false)
	// Any exponent beyond ±2^17 overflows or underflows all the same.
	e := max(min(int64(ua.exp)+n, 1<<17), -1<<17)
	res := r.pack80(ua.sign, int32(e), ua.sig, 0)
	f.flags |= r.flags
	f.c1 = r.up
	return res
}

// fxtract splits v into its unbiased exponent and its significand (SDM Vol. 2
// FXTRACT).
func fxtract(v F80, f *fpx) (exp, sig F80) {
	switch v.class() {
	case clsInvalid:
		f.flags |= fswIE
		return f80Indefinite, f80Indefinite
	case clsQNaN, clsSNaN:
		q := nanResult(v, v, &f.flags)
		return q, q
	case x87ClsZero:
		f.flags |= fswZE
		return signedInf(true), v
	case x87ClsInf:
		return signedInf(false), v
	case clsDenormal:
		f.flags |= fswDE
	}
	uv := unpack(v)
	return fromInt(int64(uv.exp - x80Bias)), F80{uv.sig, sexp(uv.sign, x80Bias)}
}

// fpremN is the reduction step of an incomplete partial remainder: when the
// exponent difference d is 64 or more, FPREM and FPREM1 compute N+1
// quotient bits, reducing d by N (SDM Vol. 2 FPREM: N is "an
// implementation-dependent number between 32 and 63"; 32 + d mod 32 is
// what this machine's processor does, per the differential tests).
func fpremN(d int32) int32 { return 32 + d%32 }

// fprem returns the partial remainder of a / b (FPREM truncates the
// quotient, FPREM1 rounds it to nearest) and sets C0 C3 C1 to its three low
// bits and C2 when the reduction is incomplete.
func fprem(a, b F80, nearest bool, fsw uint16, f *fpx) F80 {
	f.setCC = true
	f.cond = 0
	f.c1 = false
	ca, cb := a.class(), b.class()
	if ca != clsInvalid && cb != clsInvalid && !a.isNaN() && !b.isNaN() && (ca == x87ClsInf || cb == x87ClsZero) {
		f.flags |= fswIE
		f.cond = fsw & (fswC0 | fswC3)
		return f80Indefinite
	}
	if res, done := binPrelude(a, b, &f.flags); done {
		f.cond = fsw & (fswC0 | fswC3) // C2 and C1 cleared, C0 and C3 kept
		return res
	}
	switch {
	case ca == x87ClsZero:
		return a
	}
	ua := unpack(a)
	if cb == x87ClsInf {
		return packRem(ua.sign, ua.exp, 0, ua.sig, 0, f)
	}
	ub := unpack(b)
	d := ua.exp - ub.exp
	if d < -1 || (d == -1 && !nearest) {
		return packRem(ua.sign, ua.exp, 0, ua.sig, 0, f) // a, normalised
	}
	// Restoring division of A by B, quotient bits d+1 (A and B are the
	// significands; R keeps 65 bits as hi:lo).
	steps := d + 1
	bexp := ub.exp
	if d >= 64 {
		n := fpremN(d)
		steps = n + 1
		bexp = ub.exp + d - n
		f.cond |= fswC2
	}
	var q uint64
	var rh, rl uint64 = 0, ua.sig
	bs := ub.sig
	if d == -1 {
		// FPREM1 with |a| < |b|: at a's scale b is 2B, and the quotient
		// rounds to 1 when 2|a| > |b|, i.e. A > B, leaving |b| - |a| with
		// the opposite sign.
		if ua.sig > bs {
			bh, bl := bs>>63, bs<<1
			rl, bw := bits.Sub64(bl, ua.sig, 0)
			return packRem(!ua.sign, ua.exp, bh-bw, rl, 1, f)
		}
		return packRem(ua.sign, ua.exp, 0, ua.sig, 0, f)
	}
	for k := int32(0); k < steps; k++ {
		q <<= 1
		if rh != 0 || rl >= bs {
			var bw uint64
			rl, bw = bits.Sub64(rl, bs, 0)
			rh -= bw
			q |= 1
		}
		if k+1 < steps {
			rh, rl = rh<<1|rl>>63, rl<<1
		}
	}
	sign := ua.sign
	if nearest && f.cond&fswC2 == 0 {
		// Compare 2R with B.
		h2, l2 := rh<<1|rl>>63, rl<<1
		if h2 != 0 || l2 > bs || (l2 == bs && q&1 != 0) {
			rl = bs - rl
			rh = 0
			q++
			sign = !sign
		}
	}
	return packRem(sign, bexp, rh, rl, q, f)
}

// packRem packs a remainder R (hi:lo, at the scale of a significand with
// exponent exp) and sets the quotient bits.
func packRem(sign bool, exp int32, rh, rl, q uint64, f *fpx) F80 {
	if f.cond&fswC2 == 0 {
		if q&4 != 0 {
			f.cond |= fswC0
		}
		if q&2 != 0 {
			f.cond |= fswC3
		}
		f.c1 = q&1 != 0
	}
	if rh == 0 && rl == 0 {
		return signedZero(sign)
	}
	// R < 2^65; normalise it to 64 bits.
	var n int
	if rh != 0 {
		rl = rl>>1 | rh<<63
		exp++
	} else {
		n = bits.LeadingZeros64(rl)
		rl <<= uint(n)
		exp -= int32(n)
	}
	r := rounder{prec: 64, maxExp: x80ExpMax - 1}
	res := r.pack80(sign, exp, rl, 0)
	f.flags |= r.flags &^ fswPE
	return res
}

// updateES recomputes the error summary and busy bits after a load of FCW
// or FSW: set when an exception flag is unmasked (SDM Vol. 1 8.1.3.1).
func (x *X87) updateES() {
	x.FSW &^= fswES | fswB
	if x.pending() {
		x.FSW |= fswES | fswB
	}
}

// fullTag returns the 2-bit tag of physical register i as FSTENV/FSAVE
// store it (SDM Vol. 1 8.1.7 and 10.5.1.1 Table 10-3).
func (x *X87) fullTag(i uint8) uint16 {
	if x.FTW&(1<<i) == 0 {
		return 3
	}
	v := x.ST[i]
	switch e := v.exp(); {
	case e == x80ExpMax:
		return 2
	case e == 0:
		if v.Mant == 0 {
			return 1
		}
		return 2
	case v.Mant&intBit == 0:
		return 2
	}
	return 0
}

// fullTagWord returns the 16-bit tag word.
func (x *X87) fullTagWord() uint16 {
	var w uint16
	for i := uint8(0); i < 8; i++ {
		w |= x.fullTag(i) << (2 * i)
	}
	return w
}

// abridgedTags converts a full tag word to FTW's valid bits.
func abridgedTags(w uint16) uint8 {
	var t uint8
	for i := uint(0); i < 8; i++ {
		if (w>>(2*i))&3 != 3 {
			t |= 1 << i
		}
	}
	return t
}

// envSize is the size of the 32-bit protected-mode FSTENV image (SDM Vol.
// 1 8.1.10, Figure 8-9), the format 64-bit mode uses.
const envSize = 28

// storeEnv fills b[:28] with the environment.
func (x *X87) storeEnv(b []byte) {
	le := binary.LittleEndian
	le.PutUint32(b[0:], 0xFFFF0000|uint32(x.FCW))
	le.PutUint32(b[4:], 0xFFFF0000|uint32(x.FSW))
	le.PutUint32(b[8:], 0xFFFF0000|uint32(x.fullTagWord()))
	le.PutUint32(b[12:], uint32(x.FIP))
	le.PutUint32(b[16:], uint32(x.FOP&0x7FF)<<16)
	le.PutUint32(b[20:], uint32(x.FDP))
	le.PutUint32(b[24:], 0xFFFF0000)
}

// loadEnv loads the environment from b[:28].
func (x *X87) loadEnv(b []byte) {
	le := binary.LittleEndian
	x.FCW = le.Uint16(b[0:])&fcwMask | fcwReserved1
	x.FSW = le.Uint16(b[4:])
	x.FTW = abridgedTags(le.Uint16(b[8:]))
	x.FIP = uint64(le.Uint32(b[12:]))
	x.FOP = uint16(le.Uint32(b[16:])>>16) & 0x7FF
	x.FDP = uint64(le.Uint32(b[20:]))
}

// FCW bits that a load keeps; bit 6 always reads as one.
const (
	fcwMask      = 0x1F3F
	fcwReserved1 = 0x0040
)

// fninit is FNINIT's effect (SDM Vol. 1 Table 8-4... FINIT/FNINIT).
func (x *X87) fninit() {
	x.FCW = FCWDefault
	x.FSW = 0
	x.FTW = 0
	x.FOP, x.FIP, x.FDP = 0, 0, 0
}

// x87Control executes FLDENV, FLDCW, FNSTENV, FNSTCW, FRSTOR, FNSAVE,
// FNSTSW, FNCLEX and FNINIT.
func (c *CPU) x87Control(u *uop, fop uint16, va uint64) stepResult {
	x := &c.Regs.X87
	switch fop {
	case 0x3E2: // FNCLEX
		x.FSW &^= fswExc | fswSF | fswES | fswB
		return stepOK
	case 0x3E3:
		x.fninit()
		return stepOK
	case 0x7E0: // FNSTSW AX
		c.setReg(RAX, 2, uint64(x.FSW))
		return stepOK
	}
	switch fop & 0x738 {
	case 0x120: // FLDENV
		var b [envSize]byte
		if !c.loadBytes(va, b[:]) {
			return stepFault
		}
		x.loadEnv(b[:])
		x.updateES()
	case 0x128: // FLDCW
		v, ok := c.load(va, 2)
		if !ok {
			return stepFault
		}
		x.FCW = uint16(v)&fcwMask | fcwReserved1
		x.updateES()
	case 0x130: // FNSTENV
		var b [envSize]byte
		x.storeEnv(b[:])
		if !c.storeBytes(va, b[:]) {
			return stepFault
		}
		x.FCW |= 0x3F
	case 0x138: // FNSTCW
		if !c.store(va, 2, uint64(x.FCW)) {
			return stepFault
		}
	case 0x538: // FNSTSW m16
		if !c.store(va, 2, uint64(x.FSW)) {
			return stepFault
		}
	case 0x530: // FNSAVE
		var b [envSize + 80]byte
		x.storeEnv(b[:])
		for i := uint8(0); i < 8; i++ {
			v := x.st(i)
			binary.LittleEndian.PutUint64(b[envSize+10*int(i):], v.Mant)
			binary.LittleEndian.PutUint16(b[envSize+10*int(i)+8:], v.SExp)
		}
		if !c.storeBytes(va, b[:]) {
			return stepFault
		}
		x.fninit()
	case 0x520: // FRSTOR
		var b [envSize + 80]byte
		if !c.loadBytes(va, b[:]) {
			return stepFault
		}
		x.loadEnv(b[:])
		for i := uint8(0); i < 8; i++ {
			p := x.phys(i)
			x.ST[p] = F80{binary.LittleEndian.Uint64(b[envSize+10*int(i):]), binary.LittleEndian.Uint16(b[envSize+10*int(i)+8:])}
		}
		x.updateES()
	default:
		return c.udX87(u)
	}
	return stepOK
}
