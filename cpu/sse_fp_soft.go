package cpu

import (
	"math"
	"math/bits"
)

// A small IEEE-754 binary32/binary64 soft-float with the x86 SSE
// conventions (SDM Vol. 1 4.8, 4.9, 11.5): every operation is computed
// exactly and rounded once in the MXCSR rounding mode, tininess is detected
// after rounding, DAZ turns denormal inputs into zeros of the same sign
// (without DE), FTZ turns tiny results into zeros (setting UE and PE), and
// a NaN result is the first source operand's NaN, quieted, else the second
// one's, else the default NaN (QNaN floating-point indefinite). Go's own
// float arithmetic is used only for the square root, where the remainder
// r*r - x computed by math.FMA is exact and gives the rounding direction.

// MXCSR fields (SDM Vol. 1 10.2.3).
const (
	mxIE     = 1 << 0 // invalid operation
	mxDE     = 1 << 1 // denormal operand
	mxZE     = 1 << 2 // divide by zero
	mxOE     = 1 << 3 // overflow
	mxUE     = 1 << 4 // underflow
	mxPE     = 1 << 5 // precision (inexact)
	mxDAZ    = 1 << 6
	mxFlags  = 0x3F
	mxMaskSh = 7 // exception masks IM…PM are bits 7-12
	mxRCSh   = 13
	mxFTZ    = 1 << 15
)

// Rounding control values (MXCSR.RC and ROUNDSS imm8[1:0]).
const (
	rcNear uint8 = iota // to nearest, ties to even
	rcDown              // toward -inf
	rcUp                // toward +inf
	rcZero              // toward zero
)

// fpFmt describes binary32 or binary64.
type fpFmt struct {
	frac uint  // fraction bits: 23 or 52
	sign uint  // sign bit number: 31 or 63
	bias int32 // 127 or 1023
	emax int32 // all-ones biased exponent: 255 or 2047
}

var (
	fmt32 = fpFmt{frac: 23, sign: 31, bias: 127, emax: 255}
	fmt64 = fpFmt{frac: 52, sign: 63, bias: 1023, emax: 2047}
)

func fpFmtOf(esz uint8) fpFmt {
	if esz == 8 {
		return fmt64
	}
	return fmt32
}

func (f fpFmt) signBit() uint64  { return 1 << f.sign }
func (f fpFmt) quietBit() uint64 { return 1 << (f.frac - 1) }
func (f fpFmt) fracMask() uint64 { return 1<<f.frac - 1 }
func (f fpFmt) inf() uint64      { return uint64(f.emax) << f.frac }

// defaultNaN is the QNaN floating-point indefinite (SDM Vol. 1 4.8.3.7).
func (f fpFmt) defaultNaN() uint64 { return f.signBit() | f.inf() | f.quietBit() }

// Operand classes.
const (
	clsZero uint8 = iota
	clsFinite
	clsInf
	clsNaN
)

// fpVal is an unpacked operand. A finite nonzero value is
// sig/2^63 * 2^exp with bit 63 of sig set.
type fpVal struct {
	neg  bool
	cls  uint8
	snan bool // signalling NaN
	den  bool // a denormal input (DAZ off)
	exp  int32
	sig  uint64
}

// fpEnv is the MXCSR state one instruction computes under, and the
// exception flags it raises.
type fpEnv struct {
	rc       uint8
	daz, ftz bool
	flags    uint32
}

func (e *fpEnv) unpack(f fpFmt, v uint64) (u fpVal) {
	u.neg = v&f.signBit() != 0
	be := int32(v>>f.frac) & f.emax
	m := v & f.fracMask()
	switch {
	case be == f.emax:
		u.cls = clsInf
		if m != 0 {
			u.cls, u.snan = clsNaN, m&f.quietBit() == 0
		}
	case be == 0:
		if m == 0 || e.daz {
			u.cls = clsZero
			return u
		}
		lz := bits.LeadingZeros64(m)
		u.cls, u.den = clsFinite, true
		u.sig = m << lz
		u.exp = int32(63-lz) + 1 - f.bias - int32(f.frac)
	default:
		u.cls = clsFinite
		u.sig = (m | 1<<f.frac) << (63 - f.frac)
		u.exp = be - f.bias
	}
	return u
}

// nan2 returns the NaN result of a two-operand arithmetic operation with
// at least one NaN operand (SDM Vol. 1 Table 4-7: the first source
// operand's NaN, quieted, if it is one; else the second's), raising IE for
// an SNaN.
func (e *fpEnv) nan2(f fpFmt, a, b uint64, ua, ub *fpVal) uint64 {
	if ua.snan || ub.snan {
		e.flags |= mxIE
	}
	if ua.cls == clsNaN {
		return a | f.quietBit()
	}
	return b | f.quietBit()
}

// invalid raises IE and returns the default NaN.
func (e *fpEnv) invalid(f fpFmt) uint64 {
	e.flags |= mxIE
	return f.defaultNaN()
}

func (e *fpEnv) denormal(ua, ub *fpVal) {
	if ua.den || ub.den {
		e.flags |= mxDE
	}
}

func (f fpFmt) zero(neg bool) uint64 {
	if neg {
		return f.signBit()
	}
	return 0
}

func (f fpFmt) infinity(neg bool) uint64 { return f.zero(neg) | f.inf() }

// rshift returns sig >> s rounded in mode rc (neg is the sign, for the
// directed modes) and whether any nonzero bits were shifted out.
func rshift(sig uint64, s uint, rc uint8, neg bool) (q uint64, inexact bool) {
	var rem, half uint64
	switch {
	case s == 0:
		return sig, false
	case s < 64:
		q, rem, half = sig>>s, sig&(1<<s-1), 1<<(s-1)
	case s == 64:
		rem, half = sig, 1<<63
	default: // below half an ulp
		if sig != 0 {
			rem, half = 1, 2
		}
	}
	if rem == 0 {
		return q, false
	}
	switch rc {
	case rcNear:
		if rem > half || rem == half && q&1 != 0 {
			q++
		}
	case rcDown:
		if neg {
			q++
		}
	case rcUp:
		if !neg {
			q++
		}
	}
	return q, true
}

// roundPack rounds the nonzero value ±sig/2^63 * 2^exp (bit 63 of sig set;
// bit 0 may be a sticky bit standing for nonzero bits below it) to format
// f, raising PE, UE (tiny after rounding and inexact, or flushed by FTZ)
// and OE (SDM Vol. 1 4.9.1.4-4.9.1.6).
func (e *fpEnv) roundPack(f fpFmt, neg bool, exp int32, sig uint64) uint64 {
	sgn := f.zero(neg)
	be := exp + f.bias
	s := 63 - f.frac
	if be >= 1 {
		q, inex := rshift(sig, s, e.rc, neg)
		if q>>(f.frac+1) != 0 {
			q >>= 1
			be++
		}
		if be >= f.emax {
			e.flags |= mxOE | mxPE
			toInf := e.rc == rcNear || e.rc == rcDown && neg || e.rc == rcUp && !neg
			if toInf {
				return sgn | f.inf()
			}
			return sgn | (f.inf() - 1)
		}
		if inex {
			e.flags |= mxPE
		}
		return sgn | uint64(be)<<f.frac | q&f.fracMask()
	}
	q0, _ := rshift(sig, s, e.rc, neg)
	tiny := be < 0 || q0>>(f.frac+1) == 0
	if tiny && e.ftz {
		e.flags |= mxUE | mxPE
		return sgn
	}
	sh := uint(1 - be)
	if sh > 100 {
		sh = 100
	}
	q, inex := rshift(sig, s+sh, e.rc, neg)
	if inex {
		e.flags |= mxPE
		if tiny {
			e.flags |= mxUE
		}
	}
	return sgn | q // q == 1<<frac encodes the smallest normal
}

// pack returns the finite or zero unpacked value u rounded to f.
func (e *fpEnv) pack(f fpFmt, u *fpVal) uint64 {
	switch u.cls {
	case clsZero:
		return f.zero(u.neg)
	case clsInf:
		return f.infinity(u.neg)
	}
	return e.roundPack(f, u.neg, u.exp, u.sig)
}

// add returns a + b, or a - b with sub (SDM Vol. 2 ADDSS/SUBSS).
func (e *fpEnv) add(f fpFmt, a, b uint64, sub bool) uint64 {
	ua, ub := e.unpack(f, a), e.unpack(f, b)
	if ua.cls == clsNaN || ub.cls == clsNaN {
		return e.nan2(f, a, b, &ua, &ub)
	}
	e.denormal(&ua, &ub)
	if sub {
		ub.neg = !ub.neg
	}
	return e.addVals(f, &ua, &ub)
}

// addVals adds two non-NaN values.
func (e *fpEnv) addVals(f fpFmt, ua, ub *fpVal) uint64 {
	switch {
	case ua.cls == clsInf && ub.cls == clsInf:
		if ua.neg != ub.neg {
			return e.invalid(f)
		}
		return f.infinity(ua.neg)
	case ua.cls == clsInf:
		return f.infinity(ua.neg)
	case ub.cls == clsInf:
		return f.infinity(ub.neg)
	case ua.cls == clsZero && ub.cls == clsZero:
		if ua.neg == ub.neg {
			return f.zero(ua.neg)
		}
		return f.zero(e.rc == rcDown)
	case ua.cls == clsZero:
		return e.pack(f, ub)
	case ub.cls == clsZero:
		return e.pack(f, ua)
	}
	// Order by magnitude: |a| >= |b|.
	if ub.exp > ua.exp || ub.exp == ua.exp && ub.sig > ua.sig {
		ua, ub = ub, ua
	}
	d := uint(ua.exp - ub.exp)
	if ua.neg == ub.neg {
		sa, sb := ua.sig>>1, jamShift(ub.sig>>1, d)
		sum := sa + sb
		exp := ua.exp + 1
		lz := bits.LeadingZeros64(sum)
		return e.roundPack(f, ua.neg, exp-int32(lz), sum<<lz)
	}
	diff := ua.sig - jamShift(ub.sig, d)
	if diff == 0 {
		return f.zero(e.rc == rcDown)
	}
	lz := bits.LeadingZeros64(diff)
	return e.roundPack(f, ua.neg, ua.exp-int32(lz), diff<<lz)
}

// jamShift shifts v right by d, or-ing any bits shifted out into bit 0.
func jamShift(v uint64, d uint) uint64 {
	if d == 0 {
		return v
	}
	if d >= 64 {
		if v != 0 {
			return 1
		}
		return 0
	}
	r := v >> d
	if v<<(64-d) != 0 {
		r |= 1
	}
	return r
}

// mul returns a * b.
func (e *fpEnv) mul(f fpFmt, a, b uint64) uint64 {
	ua, ub := e.unpack(f, a), e.unpack(f, b)
	if ua.cls == clsNaN || ub.cls == clsNaN {
		return e.nan2(f, a, b, &ua, &ub)
	}
	e.denormal(&ua, &ub)
	return e.mulVals(f, &ua, &ub)
}

func (e *fpEnv) mulVals(f fpFmt, ua, ub *fpVal) uint64 {
	neg := ua.neg != ub.neg
	switch {
	case ua.cls == clsInf || ub.cls == clsInf:
		if ua.cls == clsZero || ub.cls == clsZero {
			return e.invalid(f)
		}
		return f.infinity(neg)
	case ua.cls == clsZero || ub.cls == clsZero:
		return f.zero(neg)
	}
	hi, lo := bits.Mul64(ua.sig, ub.sig)
	exp := ua.exp + ub.exp
	if hi>>63 == 0 {
		hi, lo = hi<<1|lo>>63, lo<<1
	} else {
		exp++
	}
	if lo != 0 {
		hi |= 1
	}
	return e.roundPack(f, neg, exp, hi)
}

// div returns a / b.
func (e *fpEnv) div(f fpFmt, a, b uint64) uint64 {
	ua, ub := e.unpack(f, a), e.unpack(f, b)
	if ua.cls == clsNaN || ub.cls == clsNaN {
		return e.nan2(f, a, b, &ua, &ub)
	}
	neg := ua.neg != ub.neg
	switch {
	case ua.cls == clsInf && ub.cls == clsInf, ua.cls == clsZero && ub.cls == clsZero:
		return e.invalid(f)
	}
	if ub.cls == clsZero && ua.cls != clsInf {
		// Divide-by-zero takes precedence over a denormal dividend (SDM
		// Vol. 1 4.9.2): no DE.
		e.flags |= mxZE
		return f.infinity(neg)
	}
	e.denormal(&ua, &ub)
	switch {
	case ua.cls == clsInf:
		return f.infinity(neg)
	case ub.cls == clsInf:
		return f.zero(neg)
	case ua.cls == clsZero:
		return f.zero(neg)
	}
	exp := ua.exp - ub.exp
	var q, r uint64
	if ua.sig >= ub.sig {
		q, r = bits.Div64(ua.sig>>1, ua.sig<<63, ub.sig)
	} else {
		q, r = bits.Div64(ua.sig, 0, ub.sig)
		exp--
	}
	if r != 0 {
		q |= 1
	}
	return e.roundPack(f, neg, exp, q)
}

// sqrt returns the square root of a.
func (e *fpEnv) sqrt(f fpFmt, a uint64) uint64 {
	ua := e.unpack(f, a)
	switch {
	case ua.cls == clsNaN:
		if ua.snan {
			e.flags |= mxIE
		}
		return a | f.quietBit()
	case ua.cls == clsZero:
		return f.zero(ua.neg)
	case ua.neg:
		return e.invalid(f)
	case ua.cls == clsInf:
		return a
	}
	e.denormal(&ua, &ua)
	// x = sig/2^63 * 2^exp = xs * 2^(2*half), xs in [1, 4). sig has at most
	// 53 significant bits, so xs is exact; r = RN(sqrt(xs)) in [1, 2) and
	// r*r - xs is exactly representable, so its sign says on which side of r
	// the true root lies (it is never exactly halfway).
	odd := ua.exp & 1
	half := ua.exp >> 1
	xs := math.Ldexp(float64(ua.sig>>11), int(odd)-52)
	r := math.Sqrt(xs)
	res := math.FMA(r, r, -xs)
	rb := math.Float64bits(r)
	sig := (rb&(1<<52-1) | 1<<52) << 11
	exp := int32(rb>>52) - 1023 + half
	switch {
	case res > 0:
		sig--
	case res < 0:
		sig |= 1
	}
	return e.roundPack(f, false, exp, sig)
}

// fpKey maps a non-NaN value to an integer with the same order (zeros of
// either sign, and denormals under DAZ, are 0).
func (e *fpEnv) fpKey(f fpFmt, v uint64, u *fpVal) int64 {
	if u.cls == clsZero {
		return 0
	}
	m := int64(v &^ f.signBit())
	if u.neg {
		return -m
	}
	return m
}

// Comparison results.
const (
	cmpLT uint8 = iota
	cmpEQ
	cmpGT
	cmpUN
)

// compare compares a with b. signalQNaN says whether a QNaN operand
// raises IE (the signalling predicates, COMISS) or only an SNaN does
// (the quiet ones, UCOMISS).
func (e *fpEnv) compare(f fpFmt, a, b uint64, signalQNaN bool) uint8 {
	ua, ub := e.unpack(f, a), e.unpack(f, b)
	if ua.cls == clsNaN || ub.cls == clsNaN {
		if signalQNaN || ua.snan || ub.snan {
			e.flags |= mxIE
		}
		return cmpUN
	}
	e.denormal(&ua, &ub)
	ka, kb := e.fpKey(f, a, &ua), e.fpKey(f, b, &ub)
	switch {
	case ka < kb:
		return cmpLT
	case ka > kb:
		return cmpGT
	}
	return cmpEQ
}

// minMax returns MINSS/MAXSS's result: a if a < b (a > b for max), else
// b; b when either is a NaN (raising IE, for a QNaN too) or both are zeros
// (SDM Vol. 2 MINSS).
func (e *fpEnv) minMax(f fpFmt, a, b uint64, max bool) uint64 {
	ua, ub := e.unpack(f, a), e.unpack(f, b)
	if ua.cls == clsNaN || ub.cls == clsNaN {
		e.flags |= mxIE
		return e.dazValue(f, b, &ub)
	}
	e.denormal(&ua, &ub)
	ka, kb := e.fpKey(f, a, &ua), e.fpKey(f, b, &ub)
	if max && ka > kb || !max && ka < kb {
		return e.dazValue(f, a, &ua)
	}
	return e.dazValue(f, b, &ub)
}

// dazValue is v as an instruction that passes an operand through sees it:
// a denormal is a zero under DAZ.
func (e *fpEnv) dazValue(f fpFmt, v uint64, u *fpVal) uint64 {
	if u.cls == clsZero {
		return v & f.signBit()
	}
	return v
}

// fromInt converts the signed integer v to f.
func (e *fpEnv) fromInt(f fpFmt, v int64) uint64 {
	if v == 0 {
		return 0
	}
	neg := v < 0
	m := uint64(v)
	if neg {
		m = -m
	}
	lz := bits.LeadingZeros64(m)
	return e.roundPack(f, neg, int32(63-lz), m<<lz)
}

// toInt converts a to a signed integer of isz bytes, rounding in the MXCSR
// mode or, with trunc, toward zero; a NaN or an out-of-range value gives
// the integer indefinite (the most negative value) and IE (SDM Vol. 2
// CVTSS2SI).
func (e *fpEnv) toInt(f fpFmt, a uint64, isz uint8, trunc bool) uint64 {
	u := e.unpack(f, a)
	indef := uint64(1) << (isz*8 - 1)
	switch u.cls {
	case clsNaN, clsInf:
		e.flags |= mxIE
		return indef
	case clsZero:
		return 0
	}
	if u.exp > 63 {
		e.flags |= mxIE
		return indef
	}
	rc := e.rc
	if trunc {
		rc = rcZero
	}
	sh := 63 - u.exp
	if sh > 100 {
		sh = 100
	}
	q, inex := rshift(u.sig, uint(sh), rc, u.neg)
	limit := indef - 1
	if u.neg {
		limit = indef
	}
	if q > limit {
		e.flags |= mxIE
		return indef
	}
	if inex {
		e.flags |= mxPE
	}
	if u.neg {
		q = -q
	}
	return q & sizeMask(isz)
}

// roundInt rounds a to an integral value in format f with mode rc (ROUNDSS);
// PE is raised for an inexact result unless noPE.
func (e *fpEnv) roundInt(f fpFmt, a uint64, rc uint8, noPE bool) uint64 {
	u := e.unpack(f, a)
	switch u.cls {
	case clsNaN:
		if u.snan {
			e.flags |= mxIE
		}
		return a | f.quietBit()
	case clsZero:
		return f.zero(u.neg)
	case clsInf:
		return a
	}
	if u.exp >= int32(f.frac) {
		return a
	}
	sh := 63 - u.exp
	if sh > 100 {
		sh = 100
	}
	q, inex := rshift(u.sig, uint(sh), rc, u.neg)
	if inex && !noPE {
		e.flags |= mxPE
	}
	if q == 0 {
		return f.zero(u.neg)
	}
	lz := bits.LeadingZeros64(q)
	saved := e.flags
	r := e.roundPack(f, u.neg, int32(63-lz), q<<lz) // exact: q < 2^frac+1
	e.flags = saved
	return r
}

// convert converts a from format from to format to (CVTSS2SD, CVTSD2SS).
func (e *fpEnv) convert(from, to fpFmt, a uint64) uint64 {
	u := e.unpack(from, a)
	switch u.cls {
	case clsNaN:
		if u.snan {
			e.flags |= mxIE
		}
		// Keep the payload's top bits (SDM Vol. 1 4.8.3.7).
		p := a & from.fracMask()
		if to.frac > from.frac {
			p <<= to.frac - from.frac
		} else {
			p >>= from.frac - to.frac
		}
		return to.zero(u.neg) | to.inf() | to.quietBit() | p
	case clsFinite:
		if u.den {
			e.flags |= mxDE
		}
	}
	return e.pack(to, &u)
}
