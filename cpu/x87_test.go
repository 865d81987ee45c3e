package cpu

import (
	"encoding/binary"
	"testing"
)

// Table tests of the software extended arithmetic (portable: no native
// FPU involved), and the allocation check of the x87 hot path.

func f80(sexp uint16, mant uint64) F80 { return F80{mant, sexp} }

var (
	one   = f80(0x3FFF, intBit)
	two   = f80(0x4000, intBit)
	three = f80(0x4000, 0xC000000000000000)
)

func fcwFor(pc, rc uint16) uint16 { return 0x7F | pc<<8 | rc<<10 }

func TestX87DivRounding(t *testing.T) {
	// 1/3 = 0.AAAA… in every precision and rounding mode.
	tests := []struct {
		pc, rc uint16
		want   F80
		up     bool
	}{
		{3, 0, f80(0x3FFD, 0xAAAAAAAAAAAAAAAB), true},
		{3, 1, f80(0x3FFD, 0xAAAAAAAAAAAAAAAA), false},
		{3, 2, f80(0x3FFD, 0xAAAAAAAAAAAAAAAB), true},
		{3, 3, f80(0x3FFD, 0xAAAAAAAAAAAAAAAA), false},
		{2, 0, f80(0x3FFD, 0xAAAAAAAAAAAAA800), false},
		{2, 2, f80(0x3FFD, 0xAAAAAAAAAAAAB000), true},
		{0, 0, f80(0x3FFD, 0xAAAAAB0000000000), true},
		{0, 3, f80(0x3FFD, 0xAAAAAA0000000000), false},
	}
	for _, tc := range tests {
		r := x87Rounder(fcwFor(tc.pc, tc.rc), true)
		got := r.div(one, three)
		if got != tc.want || r.up != tc.up || r.flags != fswPE {
			t.Errorf("pc=%d rc=%d: 1/3 = %04x_%016x up=%v flags=%#x, want %04x_%016x up=%v PE", tc.pc, tc.rc, got.SExp, got.Mant, r.up, r.flags, tc.want.SExp, tc.want.Mant, tc.up)
		}
		// -1/3 rounds the other way in the directed modes.
		r = x87Rounder(fcwFor(tc.pc, tc.rc), true)
		neg := r.div(one.neg(), three)
		w := tc.want.neg()
		switch tc.rc {
		case uint16(x87RCDown):
			w = x87Rounder(fcwFor(tc.pc, uint16(x87RCUp)), true).div2(one, three).neg()
		case uint16(x87RCUp):
			w = x87Rounder(fcwFor(tc.pc, uint16(x87RCDown)), true).div2(one, three).neg()
		}
		if neg != w {
			t.Errorf("pc=%d rc=%d: -1/3 = %04x_%016x, want %04x_%016x", tc.pc, tc.rc, neg.SExp, neg.Mant, w.SExp, w.Mant)
		}
	}
}

// div2 is div on a value receiver, for the table above.
func (r rounder) div2(a, b F80) F80 { return r.div(a, b) }

func TestX87Specials(t *testing.T) {
	pinf, ninf := signedInf(false), signedInf(true)
	qnan := f80(0x7FFF, 0xC000000000000001)
	snan := f80(0x7FFF, 0xA000000000000000)
	unnormal := f80(0x3FFF, 0x4000000000000000)
	den := f80(0, 1)
	tests := []struct {
		name  string
		op    uint8 // arith op
		a, b  F80
		want  F80
		flags uint16
	}{
		{"inf-inf", 4, pinf, pinf, f80Indefinite, fswIE},
		{"inf+inf", 0, pinf, pinf, pinf, 0},
		{"0*inf", 1, F80{}, ninf, f80Indefinite, fswIE},
		{"0/0", 6, F80{}, F80{}, f80Indefinite, fswIE},
		{"1/0", 6, one, F80{}, pinf, fswZE},
		{"-1/0", 6, one.neg(), F80{}, ninf, fswZE},
		{"den/0 (ZE, no DE)", 6, den, F80{}, pinf, fswZE},
		{"x-x", 4, three, three, F80{}, 0},
		{"qnan+1", 0, qnan, one, qnan, 0},
		{"snan+1", 0, snan, one, snan.quiet(), fswIE},
		{"snan+qnan", 0, snan, qnan, qnan, fswIE},
		{"unnormal", 0, unnormal, one, f80Indefinite, fswIE},
		{"den+0", 0, den, F80{}, den, fswDE},
		{"den*den underflow", 1, den, den, F80{}, fswDE | fswUE | fswPE},
		{"max*2 overflow", 1, f80(0x7FFE, ^uint64(0)), two, pinf, fswOE | fswPE},
	}
	for _, tc := range tests {
		r := x87Rounder(FCWDefault, true)
		got := r.arith(tc.op, tc.a, tc.b)
		if got != tc.want || r.flags != tc.flags {
			t.Errorf("%s: %04x_%016x flags %#x, want %04x_%016x flags %#x", tc.name, got.SExp, got.Mant, r.flags, tc.want.SExp, tc.want.Mant, tc.flags)
		}
	}
	// x - x is -0 when rounding down.
	r := x87Rounder(fcwFor(3, 1), true)
	if got := r.arith(4, three, three); got != signedZero(true) {
		t.Errorf("x-x rounding down = %04x_%016x, want -0", got.SExp, got.Mant)
	}
}

func TestX87Sqrt(t *testing.T) {
	r := x87Rounder(FCWDefault, true)
	if got := r.sqrt(f80(0x4000+1, intBit)); got != two || r.flags != 0 { // sqrt(4)
		t.Errorf("sqrt(4) = %04x_%016x flags %#x", got.SExp, got.Mant, r.flags)
	}
	// sqrt(2) = 0xB504F333F9DE6484_597D… * 2^-63: rounds down.
	r = x87Rounder(FCWDefault, true)
	if got := r.sqrt(two); got != f80(0x3FFF, 0xB504F333F9DE6484) || r.flags != fswPE || r.up {
		t.Errorf("sqrt(2) = %04x_%016x flags %#x up %v", got.SExp, got.Mant, r.flags, r.up)
	}
	r = x87Rounder(FCWDefault, true)
	if got := r.sqrt(one.neg()); got != f80Indefinite || r.flags != fswIE {
		t.Errorf("sqrt(-1) = %04x_%016x flags %#x", got.SExp, got.Mant, r.flags)
	}
}

func TestX87IntConversions(t *testing.T) {
	tests := []struct {
		v     F80
		size  uint8
		rc    uint8
		want  uint64
		flags uint16
	}{
		{f80(0x4000, 0xA000000000000000), 4, rcNearest, 2, fswPE},          // 2.5 -> 2 (even)
		{f80(0x4000, 0xE000000000000000), 4, rcNearest, 4, fswPE},          // 3.5 -> 4
		{f80(0xC000, 0xA000000000000000), 4, x87RCDown, 0xFFFFFFFD, fswPE}, // -2.5 -> -3
		{f80(0xC000, 0xA000000000000000), 4, x87RCZero, 0xFFFFFFFE, fswPE}, // -2.5 -> -2
		{f80(0x3FFF+15, intBit), 2, rcNearest, 0x8000, fswIE},              // 32768: out of range
		{f80(0xBFFF+15, intBit), 2, rcNearest, 0x8000, 0},                  // -32768 fits
		{f80(0x3FFF+63, intBit), 8, rcNearest, 1 << 63, fswIE},             // 2^63
		{f80(0x7FFF, 0xC000000000000000), 8, rcNearest, 1 << 63, fswIE},    // NaN
		{f80(0x3FFE, intBit), 2, x87RCUp, 1, fswPE},                        // 0.5 up -> 1
		{f80(0, 1), 4, x87RCUp, 1, fswPE},                                  // denormal up -> 1, no DE
	}
	for _, tc := range tests {
		var f fpx
		if got := fist(tc.v, tc.size, tc.rc, &f); got != tc.want || f.flags != tc.flags {
			t.Errorf("fist %04x_%016x size %d rc %d = %#x flags %#x, want %#x flags %#x", tc.v.SExp, tc.v.Mant, tc.size, tc.rc, got, f.flags, tc.want, tc.flags)
		}
	}
	if fromInt(-1<<63) != f80(0xBFFF+63, intBit) || fromInt(0) != (F80{}) || fromInt(3) != three {
		t.Error("fromInt")
	}
}

func TestX87NarrowConversions(t *testing.T) {
	r := x87Rounder(FCWDefault, false)
	// 1/3 to m32 and m64.
	third := f80(0x3FFD, 0xAAAAAAAAAAAAAAAB)
	if got := x87Fmt32.narrow(&r, third); got != 0x3EAAAAAB || r.flags != fswPE {
		t.Errorf("1/3 to m32 = %#x flags %#x", got, r.flags)
	}
	if got := x87Fmt64.narrow(&r, third); got != 0x3FD5555555555555 {
		t.Errorf("1/3 to m64 = %#x", got)
	}
	// Smallest single denormal and below.
	r = x87Rounder(FCWDefault, false)
	if got := x87Fmt32.narrow(&r, f80(0x3FFF-149, intBit)); got != 1 || r.flags != 0 {
		t.Errorf("2^-149 to m32 = %#x flags %#x", got, r.flags)
	}
	r = x87Rounder(FCWDefault, false)
	if got := x87Fmt32.narrow(&r, f80(0x3FFF-151, intBit)); got != 0 || r.flags != fswUE|fswPE {
		t.Errorf("2^-151 to m32 = %#x flags %#x", got, r.flags)
	}
	// Overflow, and an SNaN quieted with IE.
	r = x87Rounder(FCWDefault, false)
	if got := x87Fmt32.narrow(&r, f80(0x3FFF+128, intBit)); got != 0x7F800000 || r.flags != fswOE|fswPE {
		t.Errorf("2^128 to m32 = %#x flags %#x", got, r.flags)
	}
	r = x87Rounder(FCWDefault, false)
	if got := x87Fmt64.narrow(&r, f80(0xFFFF, 0xA000000000000000)); got != 0xFFF4000000000000|0x0008000000000000 || r.flags != fswIE {
		t.Errorf("SNaN to m64 = %#x flags %#x", got, r.flags)
	}
	// Widening is exact; a single denormal becomes a normal extended value.
	if v, cls := x87Fmt32.widen(1); v != f80(0x3FFF-149, intBit) || cls != clsDenormal {
		t.Errorf("widen(m32 1) = %04x_%016x %d", v.SExp, v.Mant, cls)
	}
}

func TestX87Constants(t *testing.T) {
	// FLDPI in each rounding mode (SDM Vol. 1 8.3.8).
	want := []uint64{0xC90FDAA22168C235, 0xC90FDAA22168C234, 0xC90FDAA22168C235, 0xC90FDAA22168C234}
	for rc := range uint8(4) {
		if got := loadConst(3, rc); got.Mant != want[rc] || got.SExp != 0x4000 {
			t.Errorf("fldpi rc=%d = %04x_%016x", rc, got.SExp, got.Mant)
		}
	}
	if loadConst(6, x87RCUp) != (F80{}) || loadConst(0, x87RCUp) != one {
		t.Error("fldz/fld1 are exact")
	}
}

func TestX87Prem(t *testing.T) {
	// fprem(7, 2) = 1 with quotient 3 (C1 = 1, C3 = 1, C0 = 0);
	// fprem1(7, 2) = -1 with quotient 4 (C0 = 1).
	seven := f80(0x4001, 0xE000000000000000)
	var f fpx
	if got := fprem(seven, two, false, 0, &f); got != one || f.cond != fswC3 || !f.c1 {
		t.Errorf("fprem(7,2) = %04x_%016x cond %#x c1 %v", got.SExp, got.Mant, f.cond, f.c1)
	}
	f = fpx{}
	if got := fprem(seven, two, true, 0, &f); got != one.neg() || f.cond != fswC0 || f.c1 {
		t.Errorf("fprem1(7,2) = %04x_%016x cond %#x c1 %v", got.SExp, got.Mant, f.cond, f.c1)
	}
	// A large exponent difference gives a partial remainder with C2 set.
	f = fpx{}
	fprem(f80(0x3FFF+200, intBit|12345), three, false, 0, &f)
	if f.cond&fswC2 == 0 {
		t.Errorf("fprem with exponent difference 200: C2 clear")
	}
}

// TestX87DoesNotAllocate runs FLD/FADD/FMUL/FDIV/FSQRT/FSTP on the
// interpreter and checks the steady state allocates nothing.
func TestX87DoesNotAllocate(t *testing.T) {
	m := newMachine(t)
	m.standardLayout()
	const data = 0x600000
	m.mapPage(data, pteUser)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], 0x3FF8000000000000) // 1.5
	m.write(data, b[:])
	code := []byte{
		0xDD, 0x06, // fld qword [rsi]
		0xD9, 0xE8, // fld1
		0xDE, 0xC1, // faddp
		0xDC, 0x0E, // fmul qword [rsi]
		0xDC, 0x36, // fdiv qword [rsi]
		0xD9, 0xFA, // fsqrt
		0xDC, 0x16, // fcom qword [rsi]
		0xDF, 0xE0, // fnstsw ax
		0xDB, 0xF0, // fcomi st0
		0xDD, 0x5E, 0x08, // fstp qword [rsi+8]
	}
	m.write(testCode, code)
	c := m.cpu
	c.Regs.GPR[RSI] = data
	c.Regs.X87.FCW, c.Regs.MXCSR = FCWDefault, MXCSRDefault
	var e Exit
	run := func() {
		c.Regs.RIP = testCode
		c.Regs.X87.FTW, c.Regs.X87.FSW = 0, 0
		e = c.Run()
	}
	run()
	if e.Kind != ExitBreakpoint {
		t.Fatalf("exit %v (%v) at %#x", e.Kind, e.Err, c.Regs.RIP)
	}
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("x87 sequence allocates %v times per run", n)
	}
	// (1.5 + 1) * 1.5 / 1.5 = 2.5; sqrt(2.5) rounded to double.
	if got := m.read64(data + 8); got != 0x3FF94C583ADA5B53 {
		t.Errorf("result %#x, want sqrt(2.5) = 0x3FF94C583ADA5B53", got)
	}
	if x := c.Regs.X87; x.FIP != testCode+uint64(len(code))-3 || x.FOP != 0 || x.FDP != 0 {
		t.Errorf("fip/fop/fdp = %#x/%#x/%#x, want the fstp's address and FOP = FDP = 0", x.FIP, x.FOP, x.FDP)
	}
	if c.Regs.X87.FSW&fswExc != fswPE || c.Regs.X87.FTW != 0 {
		t.Errorf("fsw %#x ftw %#x, want PE only and an empty stack", c.Regs.X87.FSW, c.Regs.X87.FTW)
	}
}
