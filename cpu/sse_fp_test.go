package cpu

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func f32b(x float32) uint64 { return uint64(math.Float32bits(x)) }

// Special-value results of the soft-float (SDM Vol. 1 4.8-4.9, 11.5; Vol. 2
// for each instruction). MXCSR control is given as rc, daz, ftz.
func TestSSEFPSoftTable(t *testing.T) {
	for _, tc := range fpSoftCases() {
		got, flags := tc.eval()
		if got != tc.want || flags != tc.flags {
			t.Errorf("%s: got %#x flags %#x, want %#x flags %#x", tc.name, got, flags, tc.want, tc.flags)
		}
	}
}

// fpSoftCase is one soft-float case: the operation (a op b, or op b for a
// one-operand op) with the MXCSR control rc, daz, ftz.
type fpSoftCase struct {
	name     string
	op       string
	esz      uint8
	a, b     uint64
	rc       uint8
	daz, ftz bool
	want     uint64
	flags    uint32
}

func fpSoftCases() []fpSoftCase {
	const (
		qnan32  = 0x7FC12345
		snan32  = 0x7F812345
		qsnan32 = 0x7FC12345 // snan32 quieted
		dnan32  = 0xFFC00000
		dnan64  = 0xFFF8000000000000
		den32   = 0x00000001
		min32   = 0x00800000
		max32   = 0x7F7FFFFF
		inf32   = 0x7F800000
		ninf32  = 0xFF800000
		one32   = 0x3F800000
		third32 = 0x3EAAAAAB
	)
	sqrt2 := math.Float64bits(math.Sqrt2) // RN(sqrt 2) is above sqrt 2
	// 2^-126 * (1 - 2^-26): rounds up to the smallest normal at 24 bits,
	// so it is not tiny after rounding.
	nearMin := math.Float64bits(math.Ldexp(1-0x1p-26, -126))
	return []fpSoftCase{
		{"1/3 near", "div", 4, one32, f32b(3), rcNear, false, false, third32, mxPE},
		{"1/3 down", "div", 4, one32, f32b(3), rcDown, false, false, third32 - 1, mxPE},
		{"1/3 up", "div", 4, one32, f32b(3), rcUp, false, false, third32, mxPE},
		{"1/3 zero", "div", 4, one32, f32b(3), rcZero, false, false, third32 - 1, mxPE},
		{"-1/3 down", "div", 4, one32 | 1<<31, f32b(3), rcDown, false, false, third32 | 1<<31, mxPE},
		{"-1/3 up", "div", 4, one32 | 1<<31, f32b(3), rcUp, false, false, (third32 - 1) | 1<<31, mxPE},
		{"sqrt2 near", "sqrt", 8, 0, 0x4000000000000000, rcNear, false, false, sqrt2, mxPE},
		{"sqrt2 up", "sqrt", 8, 0, 0x4000000000000000, rcUp, false, false, sqrt2, mxPE},
		{"sqrt2 down", "sqrt", 8, 0, 0x4000000000000000, rcDown, false, false, sqrt2 - 1, mxPE},
		{"sqrt 4", "sqrt", 8, 0, 0x4010000000000000, rcNear, false, false, 0x4000000000000000, 0},
		{"sqrt -0", "sqrt", 4, 0, 1 << 31, rcNear, false, false, 1 << 31, 0},
		{"sqrt -1", "sqrt", 4, 0, one32 | 1<<31, rcNear, false, false, dnan32, mxIE},
		{"sqrt denormal", "sqrt", 4, 0, 4, rcNear, false, false, f32b(float32(math.Sqrt(4 * 0x1p-149))), mxDE | mxPE},
		{"overflow near", "mul", 4, max32, f32b(2), rcNear, false, false, inf32, mxOE | mxPE},
		{"overflow zero", "mul", 4, max32, f32b(2), rcZero, false, false, max32, mxOE | mxPE},
		{"overflow down neg", "mul", 4, max32 | 1<<31, f32b(2), rcDown, false, false, ninf32, mxOE | mxPE},
		{"overflow up neg", "mul", 4, max32 | 1<<31, f32b(2), rcUp, false, false, max32 | 1<<31, mxOE | mxPE},
		{"exact denormal", "mul", 4, min32, f32b(0.5), rcNear, false, false, 0x00400000, 0},
		{"exact denormal ftz", "mul", 4, min32, f32b(0.5), rcNear, false, true, 0, mxUE | mxPE},
		{"tie to even denormal", "mul", 4, min32 + 1, f32b(0.5), rcNear, false, false, 0x00400000, mxUE | mxPE},
		{"tiny rounds to min normal", "mul", 4, 0x3F7FFFFF, min32, rcNear, false, false, min32, mxUE | mxPE},
		{"not tiny after rounding", "cvtsd2ss", 8, 0, nearMin, rcNear, false, false, min32, mxPE},
		{"tiny after rounding toward zero", "cvtsd2ss", 8, 0, nearMin, rcZero, false, false, min32 - 1, mxUE | mxPE},
		{"denormal operand", "add", 4, den32, 0, rcNear, false, false, den32, mxDE},
		{"denormal operand daz", "add", 4, den32, 0, rcNear, true, false, 0, 0},
		{"x-x near", "sub", 4, one32, one32, rcNear, false, false, 0, 0},
		{"x-x down", "sub", 4, one32, one32, rcDown, false, false, 1 << 31, 0},
		{"-0 + -0", "add", 4, 1 << 31, 1 << 31, rcNear, false, false, 1 << 31, 0},
		{"tie to even add", "add", 4, f32b(1 << 24), one32, rcNear, false, false, f32b(1 << 24), mxPE},
		{"tie up add", "add", 4, f32b(1<<24 + 2), one32, rcNear, false, false, f32b(1<<24 + 4), mxPE},
		{"qnan + snan", "add", 4, qnan32, snan32, rcNear, false, false, qnan32, mxIE},
		{"snan + qnan", "add", 4, snan32, 0xFFC00001, rcNear, false, false, qsnan32, mxIE},
		{"1 - snan", "sub", 4, one32, snan32, rcNear, false, false, qsnan32, mxIE},
		{"qnan * 1", "mul", 4, qnan32, one32, rcNear, false, false, qnan32, 0},
		{"inf - inf", "add", 4, inf32, ninf32, rcNear, false, false, dnan32, mxIE},
		{"0 * inf", "mul", 8, 0, 0x7FF0000000000000, rcNear, false, false, dnan64, mxIE},
		{"0/0", "div", 4, 0, 0, rcNear, false, false, dnan32, mxIE},
		{"1/0", "div", 4, one32, 1 << 31, rcNear, false, false, ninf32, mxZE},
		{"denormal/0", "div", 4, den32, 0, rcNear, false, false, inf32, mxZE},
		{"inf/0", "div", 4, inf32, 0, rcNear, false, false, inf32, 0},
		{"min(+0,-0)", "min", 4, 0, 1 << 31, rcNear, false, false, 1 << 31, 0},
		{"max(-0,+0)", "max", 4, 1 << 31, 0, rcNear, false, false, 0, 0},
		{"min(qnan,1)", "min", 4, qnan32, one32, rcNear, false, false, one32, mxIE},
		{"min(1,snan)", "min", 4, one32, snan32, rcNear, false, false, snan32, mxIE},
		{"min(snan,denormal) daz", "min", 4, snan32, den32, rcNear, true, false, 0, mxIE},
		{"max(1,2)", "max", 8, 0x3FF0000000000000, 0x4000000000000000, rcNear, false, false, 0x4000000000000000, 0},
		{"cvtss2si 2.5", "cvtss2si", 4, 0, f32b(2.5), rcNear, false, false, 2, mxPE},
		{"cvtss2si 3.5", "cvtss2si", 4, 0, f32b(3.5), rcNear, false, false, 4, mxPE},
		{"cvtss2si -2.5 down", "cvtss2si", 4, 0, f32b(-2.5), rcDown, false, false, 0xFFFFFFFD, mxPE},
		{"cvttss2si 2^31", "cvttss2si", 4, 0, f32b(1 << 31), rcNear, false, false, 0x80000000, mxIE},
		{"cvttss2si -2^31", "cvttss2si", 4, 0, f32b(-(1 << 31)), rcNear, false, false, 0x80000000, 0},
		{"cvttss2si nan", "cvttss2si", 4, 0, qnan32, rcNear, false, false, 0x80000000, mxIE},
		{"cvttss2si -0.9", "cvttss2si", 4, 0, f32b(-0.9), rcNear, false, false, 0, mxPE},
		{"cvtsd2ss nan payload", "cvtsd2ss", 8, 0, 0x7FF0000020000000, rcNear, false, false, 0x7FC00001, mxIE},
		{"roundss 2.5 near", "round0", 4, 0, f32b(2.5), rcNear, false, false, f32b(2), mxPE},
		{"roundss -0.3 up", "round2", 4, 0, f32b(-0.3), rcNear, false, false, 1 << 31, mxPE},
		{"roundss 2.5 mxcsr up", "round4", 4, 0, f32b(2.5), rcUp, false, false, f32b(3), mxPE},
		{"roundss 2.5 no PE", "round8", 4, 0, f32b(2.5), rcNear, false, false, f32b(2), 0},
		{"roundss snan", "round0", 4, 0, snan32, rcNear, false, false, qsnan32, mxIE},
		{"roundss denormal", "round1", 4, 0, den32 | 1<<31, rcNear, false, false, f32b(-1), mxPE},
	}
}

func (tc *fpSoftCase) eval() (uint64, uint32) {
	e := fpEnv{rc: tc.rc, daz: tc.daz, ftz: tc.ftz}
	f := fpFmtOf(tc.esz)
	var got uint64
	switch tc.op {
	case "add":
		got = e.add(f, tc.a, tc.b, false)
	case "sub":
		got = e.add(f, tc.a, tc.b, true)
	case "mul":
		got = e.mul(f, tc.a, tc.b)
	case "div":
		got = e.div(f, tc.a, tc.b)
	case "sqrt":
		got = e.sqrt(f, tc.b)
	case "min":
		got = e.minMax(f, tc.a, tc.b, false)
	case "max":
		got = e.minMax(f, tc.a, tc.b, true)
	case "cvtss2si":
		got = e.toInt(f, tc.b, 4, false)
	case "cvttss2si":
		got = e.toInt(f, tc.b, 4, true)
	case "cvtsd2ss":
		got = e.convert(fmt64, fmt32, tc.b)
	default: // "roundN": ROUNDSS with imm8 N
		imm := tc.op[5] - '0'
		rc := imm & 3
		if imm&4 != 0 {
			rc = e.rc
		}
		got = e.roundInt(f, tc.b, rc, imm&8 != 0)
	}
	return got, e.flags
}

func TestSSEFPCompareTable(t *testing.T) {
	cases := []struct {
		a, b   uint64
		signal bool
		want   uint8
		flags  uint32
	}{
		{0x3F800000, 0x40000000, false, cmpLT, 0},
		{0x40000000, 0x3F800000, false, cmpGT, 0},
		{0, 0x80000000, false, cmpEQ, 0},
		{0x7FC00000, 0, false, cmpUN, 0},          // UCOMISS: a QNaN is quiet
		{0x7FC00000, 0, true, cmpUN, mxIE},        // COMISS signals on a QNaN
		{0x7F800001, 0, false, cmpUN, mxIE},       // an SNaN always signals
		{1, 0, false, cmpGT, mxDE},                // denormal
		{0xFF800000, 0xFF7FFFFF, false, cmpLT, 0}, // -inf < -max
	}
	for _, tc := range cases {
		e := fpEnv{}
		if got := e.compare(fmt32, tc.a, tc.b, tc.signal); got != tc.want || e.flags != tc.flags {
			t.Errorf("compare(%#x, %#x, %v) = %d flags %#x, want %d flags %#x", tc.a, tc.b, tc.signal, got, e.flags, tc.want, tc.flags)
		}
	}
	// CMPPS predicates on (1, NaN): EQ LT LE UNORD NEQ NLT NLE ORD.
	want := [8]bool{false, false, false, true, true, true, true, false}
	signals := [8]bool{false, true, true, false, false, true, true, false}
	for p := range uint8(8) {
		e := fpEnv{}
		if got := e.fpPredicate(fmt32, 0x3F800000, 0x7FC00000, p); got != want[p] || (e.flags == mxIE) != signals[p] {
			t.Errorf("predicate %d on (1, QNaN): %v flags %#x, want %v signalling %v", p, got, e.flags, want[p], signals[p])
		}
	}
}

// fpMachine returns a machine with code at testCode and an aligned data
// buffer at testData.
func fpMachine(t *testing.T, code ...byte) *machine {
	m := newMachine(t)
	m.standardLayout()
	m.write(testCode, code)
	m.cpu.Regs.MXCSR = MXCSRDefault
	m.cpu.Regs.GPR[RSI] = testData
	return m
}

func TestSSEFPFaults(t *testing.T) {
	t.Run("ldmxcsr reserved bit", func(t *testing.T) {
		m := fpMachine(t, 0x0F, 0xAE, 0x16) // ldmxcsr [rsi]
		m.write64(testData, 0x11F80)
		if e := m.cpu.Run(); e.Kind != ExitGP || m.cpu.Regs.MXCSR != MXCSRDefault || m.cpu.Regs.RIP != testCode {
			t.Errorf("exit %v mxcsr %#x rip %#x, want #GP with nothing changed", e.Kind, m.cpu.Regs.MXCSR, m.cpu.Regs.RIP)
		}
	})
	t.Run("ldmxcsr stmxcsr", func(t *testing.T) {
		m := fpMachine(t, 0x0F, 0xAE, 0x16, 0x0F, 0xAE, 0x5E, 0x08) // ldmxcsr [rsi]; stmxcsr [rsi+8]
		m.write64(testData, 0xFFFF)
		if e := m.cpu.Run(); e.Kind != ExitBreakpoint || m.cpu.Regs.MXCSR != 0xFFFF || m.read64(testData+8) != 0xFFFF {
			t.Errorf("exit %v mxcsr %#x stored %#x, want 0xffff both", e.Kind, m.cpu.Regs.MXCSR, m.read64(testData+8))
		}
	})
	t.Run("misaligned m128", func(t *testing.T) {
		m := fpMachine(t, 0x0F, 0x58, 0x46, 0x04) // addps xmm0, [rsi+4]
		if e := m.cpu.Run(); e.Kind != ExitGP || m.cpu.Regs.RIP != testCode {
			t.Errorf("exit %v, want #GP", e.Kind)
		}
	})
	t.Run("misaligned m32 is fine", func(t *testing.T) {
		m := fpMachine(t, 0xF3, 0x0F, 0x58, 0x46, 0x04) // addss xmm0, [rsi+4]
		m.write64(testData, 0x3F800000<<32)
		if e := m.cpu.Run(); e.Kind != ExitBreakpoint || m.cpu.Regs.XMM[0].Lo != 0x3F800000 {
			t.Errorf("exit %v xmm0 %#x, want int3 and 1.0", e.Kind, m.cpu.Regs.XMM[0].Lo)
		}
	})
	t.Run("unmasked exception", func(t *testing.T) {
		m := fpMachine(t, 0xF3, 0x0F, 0x5E, 0xC1) // divss xmm0, xmm1
		c := m.cpu
		c.Regs.MXCSR = MXCSRDefault &^ (mxZE << mxMaskSh)
		c.Regs.XMM[0].Lo, c.Regs.XMM[1].Lo = 0x3F800000, 0
		e := c.Run()
		var ue *UnimplementedError
		if e.Kind != ExitUD || !errors.As(e.Err, &ue) || !strings.Contains(ue.Disasm, "#XM") || !errors.Is(e.Err, ErrUnimplemented) {
			t.Fatalf("exit %v (%v), want ExitUD naming #XM", e.Kind, e.Err)
		}
		if c.Regs.XMM[0].Lo != 0x3F800000 || c.Regs.MXCSR != MXCSRDefault&^(mxZE<<mxMaskSh) || c.Regs.RIP != testCode {
			t.Errorf("state changed: xmm0 %#x mxcsr %#x rip %#x", c.Regs.XMM[0].Lo, c.Regs.MXCSR, c.Regs.RIP)
		}
	})
	t.Run("unmasked but not raised", func(t *testing.T) {
		m := fpMachine(t, 0xF3, 0x0F, 0x5E, 0xC1) // divss xmm0, xmm1: 1/1
		c := m.cpu
		c.Regs.MXCSR = 0
		c.Regs.XMM[0].Lo, c.Regs.XMM[1].Lo = 0x3F800000, 0x3F800000
		if e := c.Run(); e.Kind != ExitBreakpoint || c.Regs.MXCSR != 0 {
			t.Errorf("exit %v mxcsr %#x, want int3, 0", e.Kind, c.Regs.MXCSR)
		}
	})
}

func TestSSEFPDoesNotAllocate(t *testing.T) {
	m := fpMachine(t,
		0x0F, 0x58, 0x06, // addps xmm0, [rsi]
		0xF2, 0x0F, 0x5E, 0xCA, // divsd xmm1, xmm2
		0xF2, 0x0F, 0x51, 0xDA, // sqrtsd xmm3, xmm2
		0xF2, 0x48, 0x0F, 0x2A, 0xE0, // cvtsi2sd xmm4, rax
		0xF3, 0x48, 0x0F, 0x2D, 0xC4, // cvtss2si rax, xmm4
		0x0F, 0x2F, 0xC1, // comiss xmm0, xmm1
		0x66, 0x0F, 0x3A, 0x40, 0xC1, 0xFF, // dpps xmm0, xmm1, 0xff
		0x0F, 0xC6, 0xC1, 0x1B, // shufps xmm0, xmm1, 0x1b
	)
	c := m.cpu
	c.Regs.XMM[2].Lo = 0x4000000000000000
	c.Run()
	allocs := testing.AllocsPerRun(100, func() {
		c.Regs.RIP = testCode
		if e := c.Run(); e.Kind != ExitBreakpoint {
			t.Fatalf("exit %v (%v)", e.Kind, e.Err)
		}
	})
	if allocs != 0 {
		t.Errorf("SSE FP instructions allocate: %v allocs per run, want 0", allocs)
	}
}
