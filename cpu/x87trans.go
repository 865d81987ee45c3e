package cpu

// The x87 transcendental instructions F2XM1, FYL2X, FYL2XP1, FPTAN,
// FPATAN, FSIN, FCOS and FSINCOS (SDM Vol. 2). They are computed with
// math/big.Float at transPrec bits and rounded once to the 64-bit
// significand per FCW.RC (precision control does not apply, SDM Vol. 1
// 8.1.5.2). The processor's own results are not correctly rounded, so these
// agree with the hardware to within 1 ulp, not bit for bit (the tests
// compare them that way). Like the processor, FSIN, FCOS, FSINCOS and FPTAN
// reduce their argument modulo pi/2 using a 66-bit approximation of pi (SDM
// Vol. 1 8.3.10), and leave ST(0) alone with C2 set when |x| >= 2^63.
//
// These instructions allocate (math/big's working storage); they are far
// off the arithmetic hot path.

import (
	"math/big"
	"sync"
)

const transPrec = 192

var trans struct {
	once     sync.Once
	ln2      *big.Float // ln 2
	pi       *big.Float // pi to transPrec bits
	pi66half *big.Float // the processor's 66-bit pi, halved
}

func transInit() {
	trans.once.Do(func() {
		third := new(big.Float).SetPrec(transPrec).Quo(bf(1), bf(3))
		trans.ln2 = atanhSeries(third)
		trans.ln2.Mul(trans.ln2, bf(2))
		// pi = 16 atan(1/5) - 4 atan(1/239) (Machin).
		a := atanSeries(new(big.Float).SetPrec(transPrec).Quo(bf(1), bf(5)))
		b := atanSeries(new(big.Float).SetPrec(transPrec).Quo(bf(1), bf(239)))
		a.Mul(a, bf(16))
		b.Mul(b, bf(4))
		trans.pi = a.Sub(a, b)
		// 0x3243F6A8885A308D3 * 2^-64 is pi to 66 significant bits.
		m := new(big.Int).SetUint64(0x3243F6A8885A308D)
		m.Lsh(m, 4).Or(m, big.NewInt(3))
		trans.pi66half = new(big.Float).SetPrec(transPrec).SetMantExp(new(big.Float).SetInt(m), -65)
	})
}

func bf(v int64) *big.Float { return new(big.Float).SetPrec(transPrec).SetInt64(v) }

// precFor returns the working precision for an argument of binary exponent
// e: series whose first term is the argument itself need 2|e| more bits
// when the argument is tiny, or the later terms (which decide the rounding
// direction) vanish.
func precFor(e int) uint {
	if e >= 0 {
		return transPrec
	}
	return transPrec + uint(min(-2*e, 40000))
}

// atanhSeries returns atanh(s) = s + s^3/3 + s^5/5 + … for small |s|.
func atanhSeries(s *big.Float) *big.Float {
	return oddSeries(s, false, precFor(s.MantExp(nil)))
}

// atanSeries returns atan(s) = s - s^3/3 + s^5/5 - … for small |s|.
func atanSeries(s *big.Float) *big.Float {
	return oddSeries(s, true, precFor(s.MantExp(nil)))
}

func oddSeries(s *big.Float, alternate bool, prec uint) *big.Float {
	sum := new(big.Float).SetPrec(prec).Set(s)
	s2 := new(big.Float).SetPrec(prec).Mul(s, s)
	p := new(big.Float).SetPrec(prec).Set(s)
	t := new(big.Float).SetPrec(prec)
	for k := int64(3); k < 2000; k += 2 {
		p.Mul(p, s2)
		if alternate {
			p.Neg(p)
		}
		t.Quo(p, bf(k))
		if t.Sign() == 0 || t.MantExp(nil)-sum.MantExp(nil) < -int(prec)-2 {
			break
		}
		sum.Add(sum, t)
	}
	return sum
}

// toBig converts a finite value exactly.
func toBig(v F80) *big.Float {
	z := new(big.Float).SetPrec(transPrec)
	if v.class() == x87ClsZero {
		if v.sign() {
			z.Neg(z)
		}
		return z
	}
	u := unpack(v)
	z.SetMantExp(new(big.Float).SetUint64(u.sig), int(u.exp)-x80Bias-63)
	if u.sign {
		z.Neg(z)
	}
	return z
}

// fromBig rounds z to an extended value per r (precision 64).
func (r *rounder) fromBig(z *big.Float) F80 {
	if z.Sign() == 0 {
		return signedZero(z.Signbit())
	}
	mant := new(big.Float)
	e := z.MantExp(mant) // |mant| in [0.5, 1)
	mant.Abs(mant)
	mant.SetMantExp(mant, 128)
	i, acc := mant.Int(nil)
	lo := i.Uint64()
	hi := new(big.Int).Rsh(i, 64).Uint64()
	if acc != big.Exact {
		lo |= 1
	}
	return r.pack80(z.Signbit(), int32(e)+x80Bias-1, hi, lo)
}

// lnBig returns ln(x) for x > 0.
func lnBig(x *big.Float) *big.Float {
	transInit()
	m := new(big.Float).SetPrec(transPrec)
	e := x.MantExp(m) // m in [0.5, 1)
	m.SetMantExp(m, 1)
	e--
	// m in [1, 2): bring it to [sqrt(1/2), sqrt(2)).
	if m.Cmp(new(big.Float).SetFloat64(1.4142135623730951)) > 0 {
		m.SetMantExp(m, -1)
		e++
	}
	num := new(big.Float).SetPrec(transPrec).Sub(m, bf(1))
	den := new(big.Float).SetPrec(transPrec).Add(m, bf(1))
	s := num.Quo(num, den)
	l := atanhSeries(s)
	l.Mul(l, bf(2))
	el := new(big.Float).SetPrec(transPrec).Mul(bf(int64(e)), trans.ln2)
	return l.Add(l, el)
}

// log2Big returns log2(x) for x > 0.
func log2Big(x *big.Float) *big.Float {
	l := lnBig(x)
	return l.Quo(l, trans.ln2)
}

// expm1Big returns e^t - 1 for |t| <= 1.
func expm1Big(t *big.Float) *big.Float {
	prec := precFor(t.MantExp(nil) / 2)
	sum := new(big.Float).SetPrec(prec).Set(t)
	p := new(big.Float).SetPrec(prec).Set(t)
	for k := int64(2); k < 200; k++ {
		p.Mul(p, t)
		p.Quo(p, bf(k))
		if p.Sign() == 0 || p.MantExp(nil)-sum.MantExp(nil) < -int(prec)-2 {
			break
		}
		sum.Add(sum, p)
	}
	return sum
}

// sinCosBig returns sin(r) and cos(r) for |r| <= pi/4 (Taylor series).
func sinCosBig(r *big.Float) (*big.Float, *big.Float) {
	prec := precFor(r.MantExp(nil))
	r2 := new(big.Float).SetPrec(prec).Mul(r, r)
	s := new(big.Float).SetPrec(prec).Set(r)
	c := new(big.Float).SetPrec(prec).SetInt64(1)
	ps := new(big.Float).SetPrec(prec).Set(r)
	pc := new(big.Float).SetPrec(prec).SetInt64(1)
	for k := int64(1); k < 100; k++ {
		ps.Mul(ps, r2)
		ps.Quo(ps, bf((2*k)*(2*k+1)))
		ps.Neg(ps)
		pc.Mul(pc, r2)
		pc.Quo(pc, bf((2*k-1)*(2*k)))
		pc.Neg(pc)
		s.Add(s, ps)
		c.Add(c, pc)
		if ps.Sign() == 0 || ps.MantExp(nil)-s.MantExp(nil) < -int(prec)-4 {
			break
		}
	}
	return s, c
}

// reduceTrig returns sin(x) and cos(x) using the 66-bit pi for the
// reduction.
func reduceTrig(v F80) (*big.Float, *big.Float) {
	transInit()
	x := toBig(v)
	xr := new(big.Float).SetPrec(2 * transPrec).Set(x)
	q := new(big.Float).SetPrec(2*transPrec).Quo(xr, trans.pi66half)
	// k = round-to-nearest(q)
	q.Add(q, new(big.Float).SetFloat64(0.5*float64(q.Sign())))
	k, _ := q.Int(nil)
	kf := new(big.Float).SetPrec(2 * transPrec).SetInt(k)
	red := new(big.Float).SetPrec(2*transPrec).Mul(kf, trans.pi66half)
	red.Sub(xr, red)
	s, c := sinCosBig(red)
	switch new(big.Int).And(k, big.NewInt(3)).Int64() {
	case 1:
		s, c = c, s.Neg(s)
	case 2:
		s.Neg(s)
		c.Neg(c)
	case 3:
		s, c = c.Neg(c), s
	}
	return s, c
}

// atanBig returns atan(z).
func atanBig(z *big.Float) *big.Float {
	transInit()
	neg := z.Signbit()
	prec := precFor(z.MantExp(nil))
	if z.MantExp(nil) > 0 {
		prec = precFor(-z.MantExp(nil))
	}
	a := new(big.Float).SetPrec(prec).Abs(z)
	inv := a.Cmp(bf(1)) > 0
	if inv {
		a.Quo(bf(1), a)
	}
	// Halve the argument three times: atan(a) = 2 atan(a / (1 + sqrt(1 + a²))).
	for range 3 {
		d := new(big.Float).SetPrec(prec).Mul(a, a)
		d.Add(d, bf(1))
		d.Sqrt(d)
		d.Add(d, bf(1))
		a.Quo(a, d)
	}
	r := atanSeries(a)
	r.SetMantExp(r, 3)
	if inv {
		h := new(big.Float).SetPrec(prec).SetMantExp(trans.pi, -1)
		r = h.Sub(h, r)
	}
	if neg {
		r.Neg(r)
	}
	return r
}

// piMul returns num/den * pi with the given sign.
func piMul(neg bool, num, den int64) *big.Float {
	transInit()
	p := new(big.Float).SetPrec(transPrec).Mul(trans.pi, bf(num))
	p.Quo(p, bf(den))
	if neg {
		p.Neg(p)
	}
	return p
}

// x87Transcendental executes F2XM1, FYL2X, FPTAN, FPATAN, FYL2XP1,
// FSINCOS, FSIN and FCOS.
func (c *CPU) x87Transcendental(u *uop, fop uint16, f *fpx) stepResult {
	x := &c.Regs.X87
	r := x87Rounder(x.FCW, false)
	switch modrm := uint8(fop); modrm {
	case 0xF0: // F2XM1
		var res F80
		if x.empty(0) {
			f.underflow()
			res = f80Indefinite
		} else {
			res = r.f2xm1(x.st(0))
			f.flags |= r.flags
			f.c1 = r.up
		}
		if !c.finish(u, f) {
			return stepFault
		}
		x.setST(0, res)
		return stepOK
	case 0xF1, 0xF9, 0xF3: // FYL2X, FYL2XP1, FPATAN: ST(1) = g(ST(1), ST(0)); pop
		var res F80
		if x.empty(0) || x.empty(1) {
			f.underflow()
			res = f80Indefinite
		} else {
			switch modrm {
			case 0xF1:
				res = r.fyl2x(x.st(1), x.st(0), false)
			case 0xF9:
				res = r.fyl2x(x.st(1), x.st(0), true)
			default:
				res = r.fpatan(x.st(1), x.st(0))
			}
			f.flags |= r.flags
			f.c1 = r.up
		}
		if !c.finish(u, f) {
			return stepFault
		}
		x.setST(1, res)
		x.pop()
		return stepOK
	case 0xFE, 0xFF, 0xF2, 0xFB: // FSIN, FCOS, FPTAN, FSINCOS
		push := modrm == 0xF2 || modrm == 0xFB
		f.setCC, f.cond = true, x.FSW&(fswC0|fswC3) // C2 cleared
		if x.empty(0) {
			f.underflow()
			if !c.finish(u, f) {
				return stepFault
			}
			x.setST(0, f80Indefinite)
			if push {
				x.push(f80Indefinite)
			}
			return stepOK
		}
		if push && !x.empty(7) {
			f.overflow()
			if !c.finish(u, f) {
				return stepFault
			}
			x.setST(0, f80Indefinite)
			x.push(f80Indefinite)
			return stepOK
		}
		v := x.st(0)
		res, res2, outOfRange := r.trig(modrm, v)
		f.flags |= r.flags
		f.c1 = r.up
		if outOfRange {
			f.cond |= fswC2
			f.c1 = false
			if !c.finish(u, f) {
				return stepFault
			}
			return stepOK
		}
		if !c.finish(u, f) {
			return stepFault
		}
		x.setST(0, res)
		if push {
			x.push(res2)
		}
		return stepOK
	}
	return c.udX87(u)
}

// trig computes FSIN/FCOS (res), FPTAN (res = tan, res2 = 1) or FSINCOS
// (res = sin, res2 = cos, pushed).
func (r *rounder) trig(modrm uint8, v F80) (res, res2 F80, outOfRange bool) {
	one := F80{intBit, x80Bias}
	switch v.class() {
	case clsInvalid:
		r.flags |= fswIE
		return f80Indefinite, f80Indefinite, false
	case clsQNaN, clsSNaN:
		q := nanResult(v, v, &r.flags)
		return q, q, false
	case x87ClsInf:
		r.flags |= fswIE
		return f80Indefinite, f80Indefinite, false
	case x87ClsZero:
		switch modrm {
		case 0xFF:
			return one, F80{}, false
		case 0xF2:
			return v, one, false
		case 0xFB:
			return v, one, false
		}
		return v, F80{}, false
	case clsDenormal:
		r.flags |= fswDE
	}
	if v.exp() >= x80Bias+63 {
		return v, F80{}, true
	}
	s, c := reduceTrig(v)
	switch modrm {
	case 0xFE:
		return r.fromBig(s), F80{}, false
	case 0xFF:
		return r.fromBig(c), F80{}, false
	case 0xF2:
		t := new(big.Float).SetPrec(s.Prec()).Quo(s, c)
		return r.fromBig(t), one, false
	}
	rs := r.fromBig(s)
	up := r.up
	rc := r.fromBig(c)
	r.up = up || r.up
	return rs, rc, false
}

// f2xm1 returns 2^v - 1 (v in [-1, 1]; outside the result is undefined and
// computed the same way).
func (r *rounder) f2xm1(v F80) F80 {
	switch v.class() {
	case clsInvalid:
		r.flags |= fswIE
		return f80Indefinite
	case clsQNaN, clsSNaN:
		return nanResult(v, v, &r.flags)
	case x87ClsZero:
		return v
	case x87ClsInf:
		if v.sign() {
			return F80{intBit, 0xBFFF} // -1
		}
		return v
	case clsDenormal:
		r.flags |= fswDE
	}
	if v.exp() > x80Bias+14 {
		// Far outside the architectural domain: saturate.
		if v.sign() {
			return r.fromBig(bf(-1))
		}
		return signedInf(false)
	}
	transInit()
	r.flags |= fswPE // even for the exact 2^±1 - 1, as the processor does
	t := new(big.Float).SetPrec(transPrec).Mul(toBig(v), trans.ln2)
	if t.MantExp(nil) > 0 {
		// |t| > 1: e^t - 1 via the series of e^(t/2^k) squared.
		return r.fromBig(expm1Large(t))
	}
	return r.fromBig(expm1Big(t))
}

// expm1Large returns e^t - 1 for moderate |t|.
func expm1Large(t *big.Float) *big.Float {
	k := t.MantExp(nil) + 1
	h := new(big.Float).SetPrec(transPrec).SetMantExp(t, -k)
	e := expm1Big(h)
	e.Add(e, bf(1))
	for range k {
		e.Mul(e, e)
	}
	return e.Sub(e, bf(1))
}

// fyl2x returns y * log2(x) (or y * log2(x + 1) for FYL2XP1), with the
// special cases of SDM Vol. 2 FYL2X Table 3-51 and FYL2XP1 Table 3-52.
func (r *rounder) fyl2x(y, x F80, p1 bool) F80 {
	// The invalid cases outrank a denormal operand: DE is raised last.
	var de uint16
	if res, done := binPrelude(y, x, &de); done {
		r.flags |= de
		return res
	}
	res := r.fyl2xFinite(y, x, p1)
	if r.flags&fswIE == 0 {
		r.flags |= de
	}
	return res
}

func (r *rounder) fyl2xFinite(y, x F80, p1 bool) F80 {
	cx, cy := x.class(), y.class()
	if p1 {
		// x + 1 must be >= 0 (the domain is |x| < 1 - sqrt(2)/2).
		if cx == x87ClsInf && x.sign() {
			r.flags |= fswIE
			return f80Indefinite
		}
		if cx == x87ClsZero {
			if cy == x87ClsInf {
				r.flags |= fswIE
				return f80Indefinite
			}
			// log2(1 + ±0) = ±0: the result is a zero with the xor of the signs.
			return signedZero(x.sign() != y.sign())
		}
		if cx == x87ClsInf {
			if cy == x87ClsZero {
				r.flags |= fswIE
				return f80Indefinite
			}
			return signedInf(y.sign())
		}
		xb := toBig(x)
		xb.Add(xb, bf(1))
		if xb.Sign() < 0 {
			r.flags |= fswIE
			return f80Indefinite
		}
		if xb.Sign() == 0 {
			return r.mulLogInf(y)
		}
		if cy == x87ClsInf {
			return signedInf(y.sign() != (toBig(x).Sign() < 0))
		}
		if cy == x87ClsZero {
			return signedZero(y.sign() != x.sign())
		}
		// ln(1+x) = 2 atanh(x / (2 + x)), accurate for small x.
		xx := toBig(x)
		d := new(big.Float).SetPrec(transPrec).Add(xx, bf(2))
		s := xx.Quo(xx, d)
		l := atanhSeries(s)
		l.Mul(l, bf(2))
		transInit()
		l.Quo(l, trans.ln2)
		return r.fromBig(l.Mul(l, toBig(y)))
	}
	switch {
	case x.sign() && cx != x87ClsZero:
		r.flags |= fswIE
		return f80Indefinite
	case cx == x87ClsZero:
		return r.mulLogInf(y)
	case cx == x87ClsInf:
		if cy == x87ClsZero {
			r.flags |= fswIE
			return f80Indefinite
		}
		return signedInf(y.sign())
	}
	if x == (F80{intBit, x80Bias}) { // log2(1) = +0
		if cy == x87ClsInf {
			r.flags |= fswIE
			return f80Indefinite
		}
		return signedZero(y.sign())
	}
	xb := toBig(x)
	neg := xb.Cmp(bf(1)) < 0
	if cy == x87ClsInf {
		return signedInf(y.sign() != neg)
	}
	if cy == x87ClsZero {
		return signedZero(y.sign() != neg)
	}
	l := log2Big(xb)
	r.flags |= fswPE // even for an exact power of two, as the processor does
	return r.fromBig(l.Mul(l, toBig(y)))
}

// mulLogInf returns y * log2(0) = y * -inf: a zero y is invalid, a finite
// y divides by zero.
func (r *rounder) mulLogInf(y F80) F80 {
	switch y.class() {
	case x87ClsZero:
		r.flags |= fswIE
		return f80Indefinite
	case x87ClsInf:
		return signedInf(!y.sign())
	}
	r.flags |= fswZE
	return signedInf(!y.sign())
}

// fpatan returns atan2(y, x) (SDM Vol. 2 FPATAN Table 3-29).
func (r *rounder) fpatan(y, x F80) F80 {
	if res, done := binPrelude(y, x, &r.flags); done {
		return res
	}
	cx, cy := x.class(), y.class()
	ys, xs := y.sign(), x.sign()
	switch {
	case cy == x87ClsZero:
		if xs {
			return r.fromBig(piMul(ys, 1, 1))
		}
		return y
	case cx == x87ClsZero:
		return r.fromBig(piMul(ys, 1, 2))
	case cy == x87ClsInf && cx == x87ClsInf:
		if xs {
			return r.fromBig(piMul(ys, 3, 4))
		}
		return r.fromBig(piMul(ys, 1, 4))
	case cy == x87ClsInf:
		return r.fromBig(piMul(ys, 1, 2))
	case cx == x87ClsInf:
		if xs {
			return r.fromBig(piMul(ys, 1, 1))
		}
		return signedZero(ys)
	}
	yb, xb := toBig(y), toBig(x)
	q := new(big.Float).SetPrec(transPrec).Quo(yb, xb)
	a := atanBig(q)
	if xs {
		// x < 0: atan2 = atan(y/x) ± pi.
		a.Add(a, piMul(ys, 1, 1))
	}
	return r.fromBig(a)
}
