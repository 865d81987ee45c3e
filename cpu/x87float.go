package cpu

// Software 80-bit extended-precision arithmetic for the x87 FPU (SDM Vol. 1
// chapters 4 and 8). Values are worked on unpacked: a sign, a biased
// exponent that may leave the 15-bit range, and a 64-bit significand with
// the integer bit at bit 63, plus a second 64-bit word of bits below it
// (the "extension") that rounding consumes. Rounding follows IEEE 754 as the
// SDM describes it in 4.8.4 and 8.1.5.2 (precision control narrows the
// significand but keeps the 15-bit exponent range), with tininess detected
// after rounding and the underflow flag set only for an inexact tiny result
// (masked underflow, SDM 4.9.1.5). Everything here is allocation-free.

import "math/bits"

// FSW bits (SDM Vol. 1 8.1.3).
const (
	fswIE  uint16 = 1 << 0
	fswDE  uint16 = 1 << 1
	fswZE  uint16 = 1 << 2
	fswOE  uint16 = 1 << 3
	fswUE  uint16 = 1 << 4
	fswPE  uint16 = 1 << 5
	fswSF  uint16 = 1 << 6
	fswES  uint16 = 1 << 7
	fswC0  uint16 = 1 << 8
	fswC1  uint16 = 1 << 9
	fswC2  uint16 = 1 << 10
	fswTop uint16 = 7 << 11
	fswC3  uint16 = 1 << 14
	fswB   uint16 = 1 << 15

	fswExc  = fswIE | fswDE | fswZE | fswOE | fswUE | fswPE // exception flags maskable in FCW
	fswCond = fswC0 | fswC1 | fswC2 | fswC3
)

// FCW fields (SDM Vol. 1 8.1.5).
const (
	fcwPCShift = 8
	fcwRCShift = 10
)

// Rounding control (FCW.RC, SDM Vol. 1 Table 4-8).
const (
	rcNearest uint8 = iota
	x87RCDown
	x87RCUp
	x87RCZero
)

const (
	x80Bias   = 16383
	x80ExpMax = 0x7fff
	intBit    = uint64(1) << 63
	qnanBit   = uint64(1) << 62
)

// f80Indefinite is the QNaN floating-point indefinite (SDM Vol. 1 4.8.3.7).
var f80Indefinite = F80{Mant: 0xC000000000000000, SExp: 0xFFFF}

// Operand classes of an 80-bit value (SDM Vol. 1 8.2.2, Table 8-3).
const (
	x87ClsZero uint8 = iota
	clsNormal
	clsDenormal // includes pseudo-denormals (exponent 0, integer bit 1)
	x87ClsInf
	clsQNaN
	clsSNaN
	clsInvalid // unnormal, pseudo-NaN, pseudo-infinity: unsupported formats
)

func (v F80) sign() bool    { return v.SExp&0x8000 != 0 }
func (v F80) exp() int32    { return int32(v.SExp & 0x7fff) }
func (v F80) neg() F80      { return F80{v.Mant, v.SExp ^ 0x8000} }
func (v F80) abs() F80      { return F80{v.Mant, v.SExp &^ 0x8000} }
func (v F80) isNaN() bool   { c := v.class(); return c == clsQNaN || c == clsSNaN }
func (v F80) quiet() F80    { return F80{v.Mant | qnanBit, v.SExp} }
func signedZero(s bool) F80 { return F80{0, sexp(s, 0)} }
func signedInf(s bool) F80  { return F80{intBit, sexp(s, x80ExpMax)} }

func sexp(s bool, e int32) uint16 {
	v := uint16(e)
	if s {
		v |= 0x8000
	}
	return v
}

func (v F80) class() uint8 {
	e, j := v.exp(), v.Mant&intBit != 0
	switch {
	case e == 0:
		if v.Mant == 0 {
			return x87ClsZero
		}
		return clsDenormal
	case e == x80ExpMax:
		if !j {
			return clsInvalid
		}
		if v.Mant == intBit {
			return x87ClsInf
		}
		if v.Mant&qnanBit != 0 {
			return clsQNaN
		}
		return clsSNaN
	case !j:
		return clsInvalid
	}
	return clsNormal
}

// unpacked is a finite nonzero value sig * 2^(exp - x80Bias - 63) with
// sig normalised (bit 63 set).
type unpacked struct {
	sign bool
	exp  int32
	sig  uint64
}

// unpack normalises a finite nonzero (normal, denormal or pseudo-denormal)
// value.
func unpack(v F80) unpacked {
	e := v.exp()
	m := v.Mant
	if e == 0 {
		e = 1
		n := int32(bits.LeadingZeros64(m))
		m <<= uint(n)
		e -= n
	}
	return unpacked{v.sign(), e, m}
}

// rounder holds the rounding parameters of one result.
type rounder struct {
	prec   uint   // significand bits: 24, 53 or 64
	rc     uint8  // rounding control
	maxExp int32  // largest biased exponent of a finite value
	flags  uint16 // accumulated IE DE ZE OE UE PE
	up     bool   // the last rounding increased the magnitude (C1)
}

// x87Rounder returns a rounder for an extended-format result with the
// precision (when usePC) and rounding control of fcw. The reserved PC value
// 01 rounds to 64 bits, as the processor does.
func x87Rounder(fcw uint16, usePC bool) rounder {
	r := rounder{prec: 64, rc: uint8(fcw>>fcwRCShift) & 3, maxExp: x80ExpMax - 1}
	if usePC {
		switch (fcw >> fcwPCShift) & 3 {
		case 0:
			r.prec = 24
		case 2:
			r.prec = 53
		}
	}
	return r
}

// roundInc reports whether the kept part, with half = the first dropped bit
// and sticky = any later dropped bit, is incremented.
func (r *rounder) roundInc(sign bool, keptOdd, half, sticky bool) bool {
	switch r.rc {
	case rcNearest:
		return half && (sticky || keptOdd)
	case x87RCDown:
		return sign && (half || sticky)
	case x87RCUp:
		return !sign && (half || sticky)
	}
	return false
}

// shr128 shifts hi:lo right by n (0-∞) bits, jamming the shifted-out bits
// into bit 0 of the result.
func shr128(hi, lo uint64, n uint) (uint64, uint64) {
	switch {
	case n == 0:
		return hi, lo
	case n < 64:
		j := lo<<(64-n) != 0
		lo = lo>>n | hi<<(64-n)
		hi >>= n
		if j {
			lo |= 1
		}
	case n < 128:
		j := lo != 0 || hi<<(128-n) != 0
		lo, hi = hi>>(n-64), 0
		if j {
			lo |= 1
		}
	default:
		j := hi != 0 || lo != 0
		hi, lo = 0, 0
		if j {
			lo = 1
		}
	}
	return hi, lo
}

// round rounds sign * (sig:ext) * 2^(exp - bias - 63) (sig normalised, or
// both words zero for an exact zero) to r.prec significand bits and the
// exponent range [1, r.maxExp] with denormals at biased exponent 0. It
// returns the biased exponent and the significand left-aligned at bit 63
// (a denormal has bit 63 clear and exponent 0; an overflow returns
// exponent r.maxExp+1 with significand intBit for an infinity).
func (r *rounder) round(sign bool, exp int32, sig, ext uint64) (int32, uint64) {
	r.up = false
	if sig == 0 && ext == 0 {
		return 0, 0
	}
	drop := 64 - r.prec
	tiny := false
	if exp < 1 {
		// Tininess after rounding: the value rounded to r.prec bits
		// with an unbounded exponent is below 2^emin.
		tiny = true
		if exp == 0 {
			h, l := shr128(sig, ext, drop)
			if h == ^uint64(0)>>drop && r.roundInc(sign, h&1 != 0, l>>63 != 0, l<<1 != 0) {
				tiny = false
			}
		}
		sig, ext = shr128(sig, ext, uint(int64(1)-int64(exp)))
		exp = 0
	}
	h, l := shr128(sig, ext, drop)
	inexact := l != 0
	if inexact {
		r.flags |= fswPE
		if tiny {
			r.flags |= fswUE
		}
		if r.roundInc(sign, h&1 != 0, l>>63 != 0, l<<1 != 0) {
			r.up = true
			h++
			if r.prec == 64 && h == 0 {
				h, exp = intBit, exp+1
			} else if r.prec < 64 && h == 1<<r.prec {
				h >>= 1
				exp++
			} else if exp == 0 && h == 1<<(r.prec-1) {
				exp = 1
			}
		}
	}
	if exp > r.maxExp {
		r.flags |= fswOE | fswPE
		toInf := r.rc == rcNearest || (r.rc == x87RCUp && !sign) || (r.rc == x87RCDown && sign)
		r.up = toInf
		if toInf {
			return r.maxExp + 1, intBit
		}
		return r.maxExp, ^uint64(0) << drop
	}
	return exp, h << drop
}

// pack80 rounds and packs an extended-format result.
func (r *rounder) pack80(sign bool, exp int32, sig, ext uint64) F80 {
	e, m := r.round(sign, exp, sig, ext)
	return F80{m, sexp(sign, e)}
}

// roundInt rounds v (finite) to an integer per r.rc and returns its
// magnitude as (mag, ok); ok is false when the magnitude does not fit in 64
// bits. PE and r.up are set for an inexact result.
func (r *rounder) roundInt(v F80) (mag uint64, ok bool) {
	r.up = false
	if v.class() == x87ClsZero {
		return 0, true
	}
	u := unpack(v)
	e := u.exp - x80Bias // value = sig * 2^(e-63)
	if e >= 64 {
		return 0, false
	}
	var ip, frac uint64
	switch {
	case e >= 63:
		ip, frac = u.sig, 0
	case e >= 0:
		ip, frac = u.sig>>uint(63-e), u.sig<<uint(e+1)
	case e == -1:
		ip, frac = 0, u.sig
	default:
		ip, frac = 0, 1 // nonzero and below one half
	}
	if frac != 0 {
		r.flags |= fswPE
		if r.roundInc(u.sign, ip&1 != 0, frac>>63 != 0, frac<<1 != 0) {
			r.up = true
			ip++
			if ip == 0 {
				return 0, false
			}
		}
	}
	return ip, true
}

// fromUint returns sign * m as an exact extended value.
func fromUint(sign bool, m uint64) F80 {
	if m == 0 {
		return signedZero(sign)
	}
	n := bits.LeadingZeros64(m)
	return F80{m << uint(n), sexp(sign, x80Bias+63-int32(n))}
}

// fromInt returns the exact extended value of a signed integer.
func fromInt(i int64) F80 {
	if i < 0 {
		return fromUint(true, uint64(-i))
	}
	return fromUint(false, uint64(i))
}

// Narrow formats (SDM Vol. 1 4.2.2).
type narrowFmt struct {
	prec     uint   // significand bits including the implicit one
	bias     int32  // exponent bias
	expBits  uint   // exponent width
	fracBits uint   // stored fraction bits
	signBit  uint64 // sign bit
}

var (
	x87Fmt32 = narrowFmt{24, 127, 8, 23, 1 << 31}
	x87Fmt64 = narrowFmt{53, 1023, 11, 52, 1 << 63}
)

// widen converts an m32/m64 value to extended, exactly (an SNaN stays
// signalling). It reports the input's class in its own format.
func (f *narrowFmt) widen(v uint64) (F80, uint8) {
	sign := v&f.signBit != 0
	emax := int32(1)<<f.expBits - 1
	e := int32(v>>f.fracBits) & emax
	frac := v & (1<<f.fracBits - 1)
	switch {
	case e == 0 && frac == 0:
		return signedZero(sign), x87ClsZero
	case e == emax:
		m := intBit | frac<<(63-f.fracBits)
		if frac == 0 {
			return signedInf(sign), x87ClsInf
		}
		if m&qnanBit == 0 {
			return F80{m, sexp(sign, x80ExpMax)}, clsSNaN
		}
		return F80{m, sexp(sign, x80ExpMax)}, clsQNaN
	case e == 0:
		n := int32(bits.LeadingZeros64(frac))
		m := frac << uint(n)
		// frac * 2^(1-bias-fracBits) = m * 2^(1-bias-fracBits-n)
		return F80{m, sexp(sign, 1-f.bias-int32(f.fracBits)-n+63+x80Bias)}, clsDenormal
	}
	return F80{intBit | frac<<(63-f.fracBits), sexp(sign, e-f.bias+x80Bias)}, clsNormal
}

// narrow converts an extended value to the format, rounding per r.rc. The
// caller has dealt with an unsupported source. Flags go to r.
func (f *narrowFmt) narrow(r *rounder, v F80) uint64 {
	var sb uint64
	if v.sign() {
		sb = f.signBit
	}
	emax := uint64(1)<<f.expBits - 1
	r.up = false
	switch v.class() {
	case x87ClsZero:
		return sb
	case x87ClsInf:
		return sb | emax<<f.fracBits
	case clsSNaN, clsQNaN:
		if v.class() == clsSNaN {
			r.flags |= fswIE
		}
		return sb | emax<<f.fracBits | (v.Mant|qnanBit)<<1>>(64-f.fracBits)
	}
	u := unpack(v)
	nr := rounder{prec: f.prec, rc: r.rc, maxExp: int32(emax) - 1}
	e, m := nr.round(u.sign, u.exp-x80Bias+f.bias, u.sig, 0)
	r.flags |= nr.flags
	r.up = nr.up
	if e > nr.maxExp {
		return sb | emax<<f.fracBits
	}
	return sb | uint64(e)<<f.fracBits | m<<1>>(64-f.fracBits)
}

// nanResult propagates NaN operands (at least one of a, b is a NaN) per
// SDM Vol. 1 Table 4-7 for the x87: a QNaN wins over an SNaN; of two NaNs
// of the same kind the one with the larger significand, on a tie the
// positive one. An SNaN sets IE. The result is quiet.
func nanResult(a, b F80, flags *uint16) F80 {
	ca, cb := a.class(), b.class()
	if ca == clsSNaN || cb == clsSNaN {
		*flags |= fswIE
	}
	aNaN, bNaN := ca == clsQNaN || ca == clsSNaN, cb == clsQNaN || cb == clsSNaN
	switch {
	case !bNaN:
		return a.quiet()
	case !aNaN:
		return b.quiet()
	case ca == clsSNaN && cb == clsQNaN:
		return b
	case ca == clsQNaN && cb == clsSNaN:
		return a
	}
	qa, qb := a.quiet(), b.quiet()
	if qa.Mant < qb.Mant {
		return qb
	}
	if qb.Mant < qa.Mant {
		return qa
	}
	if qa.SExp < qb.SExp {
		return qa
	}
	return qb
}

// binPrelude handles the operand checks shared by the binary arithmetic
// operations (SDM Vol. 1 4.9.1 and 8.5 priorities: unsupported format, NaN,
// then denormal). done reports that res is the final result.
func binPrelude(a, b F80, flags *uint16) (res F80, done bool) {
	ca, cb := a.class(), b.class()
	if ca == clsInvalid || cb == clsInvalid {
		*flags |= fswIE
		return f80Indefinite, true
	}
	if ca == clsQNaN || ca == clsSNaN || cb == clsQNaN || cb == clsSNaN {
		return nanResult(a, b, flags), true
	}
	if ca == clsDenormal || cb == clsDenormal {
		*flags |= fswDE
	}
	return F80{}, false
}

// add returns a + b (b already negated for a subtraction).
func (r *rounder) add(a, b F80) F80 {
	if res, done := binPrelude(a, b, &r.flags); done {
		r.up = false
		return res
	}
	r.up = false
	ca, cb := a.class(), b.class()
	switch {
	case ca == x87ClsInf && cb == x87ClsInf:
		if a.sign() != b.sign() {
			r.flags |= fswIE
			return f80Indefinite
		}
		return a
	case ca == x87ClsInf:
		return a
	case cb == x87ClsInf:
		return b
	case ca == x87ClsZero && cb == x87ClsZero:
		if a.sign() == b.sign() {
			return a
		}
		return signedZero(r.rc == x87RCDown)
	case ca == x87ClsZero:
		u := unpack(b)
		return r.pack80(u.sign, u.exp, u.sig, 0)
	case cb == x87ClsZero:
		u := unpack(a)
		return r.pack80(u.sign, u.exp, u.sig, 0)
	}
	x, y := unpack(a), unpack(b)
	if x.exp < y.exp || (x.exp == y.exp && x.sig < y.sig) {
		x, y = y, x
	}
	yh, yl := shr128(y.sig, 0, uint(x.exp-y.exp))
	exp := x.exp
	if x.sign == y.sign {
		lo, c := bits.Add64(0, yl, 0)
		hi, c2 := bits.Add64(x.sig, yh, c)
		if c2 != 0 {
			hi, lo = shr128(hi, lo, 1)
			hi |= intBit
			exp++
		}
		return r.pack80(x.sign, exp, hi, lo)
	}
	lo, bw := bits.Sub64(0, yl, 0)
	hi, _ := bits.Sub64(x.sig, yh, bw)
	if hi == 0 && lo == 0 {
		return signedZero(r.rc == x87RCDown)
	}
	var n int
	if hi == 0 {
		n = 64 + bits.LeadingZeros64(lo)
	} else {
		n = bits.LeadingZeros64(hi)
	}
	hi, lo = shl128(hi, lo, uint(n))
	return r.pack80(x.sign, exp-int32(n), hi, lo)
}

func shl128(hi, lo uint64, n uint) (uint64, uint64) {
	switch {
	case n == 0:
		return hi, lo
	case n < 64:
		return hi<<n | lo>>(64-n), lo << n
	case n < 128:
		return lo << (n - 64), 0
	}
	return 0, 0
}

// mul returns a * b.
func (r *rounder) mul(a, b F80) F80 {
	r.up = false
	if res, done := binPrelude(a, b, &r.flags); done {
		return res
	}
	ca, cb := a.class(), b.class()
	s := a.sign() != b.sign()
	switch {
	case (ca == x87ClsInf && cb == x87ClsZero) || (ca == x87ClsZero && cb == x87ClsInf):
		r.flags |= fswIE
		return f80Indefinite
	case ca == x87ClsInf || cb == x87ClsInf:
		return signedInf(s)
	case ca == x87ClsZero || cb == x87ClsZero:
		return signedZero(s)
	}
	x, y := unpack(a), unpack(b)
	hi, lo := bits.Mul64(x.sig, y.sig)
	exp := x.exp + y.exp - x80Bias + 1
	if hi&intBit == 0 {
		hi, lo = shl128(hi, lo, 1)
		exp--
	}
	return r.pack80(s, exp, hi, lo)
}

// div returns a / b. A division by zero reports ZE alone, even for a
// denormal dividend (ZE outranks DE, SDM Vol. 1 4.9.2).
func (r *rounder) div(a, b F80) F80 {
	r.up = false
	saved := r.flags
	if res, done := binPrelude(a, b, &r.flags); done {
		return res
	}
	ca, cb := a.class(), b.class()
	if cb == x87ClsZero && ca == clsDenormal {
		r.flags = saved | fswZE
		return signedInf(a.sign() != b.sign())
	}
	s := a.sign() != b.sign()
	switch {
	case (ca == x87ClsInf && cb == x87ClsInf) || (ca == x87ClsZero && cb == x87ClsZero):
		r.flags |= fswIE
		return f80Indefinite
	case ca == x87ClsInf:
		return signedInf(s)
	case cb == x87ClsInf:
		return signedZero(s)
	case cb == x87ClsZero:
		r.flags |= fswZE
		return signedInf(s)
	case ca == x87ClsZero:
		return signedZero(s)
	}
	x, y := unpack(a), unpack(b)
	var q, rem uint64
	var exp int32
	if x.sig < y.sig {
		q, rem = bits.Div64(x.sig, 0, y.sig)
		exp = x.exp - y.exp + x80Bias - 1
	} else {
		q, rem = bits.Div64(x.sig>>1, x.sig<<63, y.sig)
		exp = x.exp - y.exp + x80Bias
	}
	q2, rem2 := bits.Div64(rem, 0, y.sig)
	if rem2 != 0 {
		q2 |= 1
	}
	return r.pack80(s, exp, q, q2)
}

// isqrt128 returns floor(sqrt(hi:lo)) (which must fit in 64 bits) and
// whether the remainder exceeds the root (the exact root then lies above
// root + 1/2) and whether it is nonzero.
func isqrt128(hi, lo uint64) (root uint64, aboveHalf, inexact bool) {
	// Digit-by-digit square root, two bits of the radicand per step.
	var remH, remL, res uint64
	for i := 0; i < 64; i++ {
		// rem = rem<<2 | next two bits
		remH, remL = remH<<2|remL>>62, remL<<2|hi>>62
		hi, lo = hi<<2|lo>>62, lo<<2
		// trial = res<<2 | 1 (as 128-bit: res < 2^64 so res<<2 needs 66 bits)
		tH, tL := res>>62, res<<2|1
		if remH > tH || (remH == tH && remL >= tL) {
			var b uint64
			remL, b = bits.Sub64(remL, tL, 0)
			remH -= tH + b
			res = res<<1 | 1
		} else {
			res <<= 1
		}
	}
	return res, remH != 0 || remL > res, remH != 0 || remL != 0
}

// sqrt returns the square root of a.
func (r *rounder) sqrt(a F80) F80 {
	r.up = false
	switch a.class() {
	case clsInvalid:
		r.flags |= fswIE
		return f80Indefinite
	case clsQNaN, clsSNaN:
		return nanResult(a, a, &r.flags)
	case x87ClsZero:
		return a
	case x87ClsInf:
		if a.sign() {
			r.flags |= fswIE
			return f80Indefinite
		}
		return a
	}
	if a.sign() {
		r.flags |= fswIE
		return f80Indefinite
	}
	if a.class() == clsDenormal {
		r.flags |= fswDE
	}
	u := unpack(a)
	e := u.exp - x80Bias
	var hi, lo uint64
	if e&1 == 0 {
		hi, lo = u.sig>>1, u.sig<<63
	} else {
		hi, lo = u.sig, 0
		e--
	}
	root, above, inexact := isqrt128(hi, lo)
	var ext uint64
	if above {
		ext = intBit | 1
	} else if inexact {
		ext = 1
	}
	return r.pack80(false, e>>1+x80Bias, root, ext)
}

// fcmp compares a and b. It returns -1, 0, 1, or 2 for unordered, setting
// IE for an SNaN (and for any NaN when !quiet) or an unsupported format and
// DE for a denormal.
func fcmp(a, b F80, quiet bool, flags *uint16) int {
	ca, cb := a.class(), b.class()
	if ca == clsInvalid || cb == clsInvalid {
		*flags |= fswIE
		return 2
	}
	if ca == clsSNaN || cb == clsSNaN {
		*flags |= fswIE
		return 2
	}
	if ca == clsQNaN || cb == clsQNaN {
		if !quiet {
			*flags |= fswIE
		}
		return 2
	}
	if ca == clsDenormal || cb == clsDenormal {
		*flags |= fswDE
	}
	return cmpOrdered(a, b)
}

// cmpOrdered compares two non-NaN supported values.
func cmpOrdered(a, b F80) int {
	za, zb := a.class() == x87ClsZero, b.class() == x87ClsZero
	if za && zb {
		return 0
	}
	sa, sb := a.sign(), b.sign()
	if za {
		if sb {
			return 1
		}
		return -1
	}
	if zb {
		if sa {
			return -1
		}
		return 1
	}
	if sa != sb {
		if sa {
			return -1
		}
		return 1
	}
	var ea, eb int32 = x80ExpMax + 1, x80ExpMax + 1
	var ma, mb uint64
	if a.class() != x87ClsInf {
		u := unpack(a)
		ea, ma = u.exp, u.sig
	}
	if b.class() != x87ClsInf {
		u := unpack(b)
		eb, mb = u.exp, u.sig
	}
	c := 0
	switch {
	case ea < eb || (ea == eb && ma < mb):
		c = -1
	case ea > eb || ma > mb:
		c = 1
	}
	if sa {
		c = -c
	}
	return c
}
