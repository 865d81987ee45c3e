package cpu

import (
	"bytes"
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// sseMachine is a machine with code at testCode and RSI = testData.
func sseMachine(t *testing.T, code ...byte) *machine {
	t.Helper()
	m := newMachine(t)
	m.standardLayout()
	m.write(testCode, code)
	m.cpu.Regs.GPR[RSI] = testData
	m.cpu.Regs.MXCSR, m.cpu.Regs.X87.FCW = MXCSRDefault, FCWDefault
	return m
}

// TestSSEAlignment: the aligned forms raise #GP(0) on a misaligned m128
// and change nothing; the unaligned ones (and operands narrower than 16
// bytes, and PCMPxSTRx) do not check alignment.
func TestSSEAlignment(t *testing.T) {
	cases := []struct {
		name string
		code []byte
		gp   bool
	}{
		{"movdqa load", []byte{0x66, 0x0F, 0x6F, 0x46, 0x01}, true},
		{"movdqa store", []byte{0x66, 0x0F, 0x7F, 0x46, 0x01}, true},
		{"movaps load", []byte{0x0F, 0x28, 0x46, 0x08}, true},
		{"movapd store", []byte{0x66, 0x0F, 0x29, 0x46, 0x04}, true},
		{"movntdq", []byte{0x66, 0x0F, 0xE7, 0x46, 0x01}, true},
		{"movntps", []byte{0x0F, 0x2B, 0x46, 0x01}, true},
		{"movntdqa", []byte{0x66, 0x0F, 0x38, 0x2A, 0x46, 0x01}, true},
		{"paddb m128", []byte{0x66, 0x0F, 0xFC, 0x46, 0x01}, true},
		{"pshufb m128", []byte{0x66, 0x0F, 0x38, 0x00, 0x46, 0x01}, true},
		{"ptest m128", []byte{0x66, 0x0F, 0x38, 0x17, 0x46, 0x01}, true},
		{"psllw xmm, m128", []byte{0x66, 0x0F, 0xF1, 0x46, 0x01}, true},
		{"movdqu load", []byte{0xF3, 0x0F, 0x6F, 0x46, 0x01}, false},
		{"movups store", []byte{0x0F, 0x11, 0x46, 0x01}, false},
		{"lddqu", []byte{0xF2, 0x0F, 0xF0, 0x46, 0x01}, false},
		{"pcmpistri m128", []byte{0x66, 0x0F, 0x3A, 0x63, 0x46, 0x01, 0x0C}, false},
		{"pcmpestrm m128", []byte{0x66, 0x0F, 0x3A, 0x60, 0x46, 0x01, 0x00}, false},
		{"pmovzxbw m64", []byte{0x66, 0x0F, 0x38, 0x30, 0x46, 0x01}, false},
		{"paddb mm, m64", []byte{0x0F, 0xFC, 0x46, 0x01}, false},
		{"movq xmm, m64", []byte{0xF3, 0x0F, 0x7E, 0x46, 0x01}, false},
	}
	for _, tc := range cases {
		m := sseMachine(t, tc.code...)
		c := m.cpu
		pattern := bytes.Repeat([]byte{0x5A}, 64)
		m.write(testData, pattern)
		c.Regs.XMM[0] = XMM{0x1111, 0x2222}
		before := c.Regs
		e := c.Run()
		if tc.gp {
			if e.Kind != ExitGP || c.Regs.XMM != before.XMM || c.Regs.RIP != testCode || c.Regs.X87 != before.X87 {
				t.Errorf("%s: exit %v rip %#x xmm0 %x, want #GP(0) with no effect", tc.name, e.Kind, c.Regs.RIP, c.Regs.XMM[0])
			}
			if !bytes.Equal(m.read(testData, 64), pattern) {
				t.Errorf("%s: memory written before the #GP", tc.name)
			}
			continue
		}
		if e.Kind != ExitBreakpoint {
			t.Errorf("%s: exit %v (%v), want it to run", tc.name, e.Kind, e.Err)
		}
	}
}

// TestSSEMoveMerging pins the zeroing/merging rules of the scalar moves.
func TestSSEMoveMerging(t *testing.T) {
	const d, s = 0x1111111111111111, 0x2222222222222222
	cases := []struct {
		name string
		code []byte
		want XMM
	}{
		{"movss xmm, m32 zeroes", []byte{0xF3, 0x0F, 0x10, 0x06}, XMM{0x44332211, 0}},
		{"movss xmm, xmm merges", []byte{0xF3, 0x0F, 0x10, 0xC1}, XMM{0x1111111122222222, d}},
		{"movsd xmm, m64 zeroes", []byte{0xF2, 0x0F, 0x10, 0x06}, XMM{0x8877665544332211, 0}},
		{"movsd xmm, xmm merges", []byte{0xF2, 0x0F, 0x10, 0xC1}, XMM{s, d}},
		{"movq xmm, xmm zeroes", []byte{0xF3, 0x0F, 0x7E, 0xC1}, XMM{s, 0}},
		{"movq xmm, m64 (66 0f d6 reg) zeroes", []byte{0x66, 0x0F, 0xD6, 0xC8}, XMM{s, 0}},
		{"movd xmm, r32 zeroes", []byte{0x66, 0x0F, 0x6E, 0xC3}, XMM{0xDDCCBBAA, 0}},
		{"movlps xmm, m64 merges", []byte{0x0F, 0x12, 0x06}, XMM{0x8877665544332211, d}},
		{"movhps xmm, m64 merges", []byte{0x0F, 0x16, 0x06}, XMM{d, 0x8877665544332211}},
		{"movhlps", []byte{0x0F, 0x12, 0xC1}, XMM{0x3333333333333333, d}},
		{"movlhps", []byte{0x0F, 0x16, 0xC1}, XMM{d, s}},
	}
	for _, tc := range cases {
		m := sseMachine(t, tc.code...)
		c := m.cpu
		m.write64(testData, 0x8877665544332211)
		c.Regs.XMM[0] = XMM{d, d}
		c.Regs.XMM[1] = XMM{s, 0x3333333333333333}
		c.Regs.GPR[RBX] = 0xFFFFFFFFDDCCBBAA
		if e := c.Run(); e.Kind != ExitBreakpoint {
			t.Fatalf("%s: exit %v (%v)", tc.name, e.Kind, e.Err)
		}
		if c.Regs.XMM[0] != tc.want {
			t.Errorf("%s: xmm0 = %x, want %x", tc.name, c.Regs.XMM[0], tc.want)
		}
	}
}

// TestSSEFaultHasNoEffect: a 16-byte store that crosses into an unmapped
// page writes nothing, and an MMX instruction whose memory operand faults
// leaves the x87 tag word and TOP alone.
func TestSSEFaultHasNoEffect(t *testing.T) {
	m := sseMachine(t, 0xF3, 0x0F, 0x7F, 0x06) // movdqu [rsi], xmm0
	c := m.cpu
	c.Regs.GPR[RSI] = testUnmapped - 8
	c.Regs.XMM[0] = XMM{^uint64(0), ^uint64(0)}
	if e := c.Run(); e.Kind != ExitPageFault {
		t.Fatalf("movdqu across into an unmapped page: exit %v, want #PF", e.Kind)
	}
	if got := m.read64(testUnmapped - 8); got != 0 {
		t.Errorf("movdqu wrote %#x before faulting", got)
	}

	m = sseMachine(t, 0x0F, 0xFC, 0x06) // paddb mm0, [rsi]
	c = m.cpu
	c.Regs.GPR[RSI] = testUnmapped
	c.Regs.X87.FSW, c.Regs.X87.FTW = 3<<11, 0x01
	if e := c.Run(); e.Kind != ExitPageFault {
		t.Fatalf("paddb mm0, [unmapped]: exit %v, want #PF", e.Kind)
	}
	if c.Regs.X87.FSW != 3<<11 || c.Regs.X87.FTW != 0x01 {
		t.Errorf("faulting MMX instruction changed FSW/FTW to %#x/%#x", c.Regs.X87.FSW, c.Regs.X87.FTW)
	}

	for _, code := range [][]byte{
		{0x66, 0x0F, 0xFC, 0x06},             // paddb xmm0, [rsi]
		{0x66, 0x0F, 0x3A, 0x63, 0x06, 0x0C}, // pcmpistri xmm0, [rsi], 0x0c
		{0x66, 0x0F, 0x3A, 0x20, 0x06, 0x03}, // pinsrb xmm0, [rsi], 3
		{0x0F, 0xAE, 0x3E},                   // clflush [rsi]
	} {
		m = sseMachine(t, code...)
		c = m.cpu
		c.Regs.GPR[RSI] = testUnmapped
		c.Regs.XMM[0] = XMM{1, 2}
		c.Regs.GPR[RCX] = 7
		if e := c.Run(); e.Kind != ExitPageFault || c.Regs.XMM[0] != (XMM{1, 2}) || c.Regs.GPR[RCX] != 7 {
			t.Errorf("% x on an unmapped page: exit %v xmm0 %x rcx %d, want #PF and no effect", code, e.Kind, c.Regs.XMM[0], c.Regs.GPR[RCX])
		}
	}

	m = sseMachine(t, 0x0F, 0x7F, 0x06) // movq [rsi], mm0 to a read-only page
	c = m.cpu
	c.Regs.GPR[RSI] = testRO
	c.Regs.X87.FTW = 0
	if e := c.Run(); e.Kind != ExitPageFault || c.Regs.X87.FTW != 0 {
		t.Errorf("movq [ro], mm0: exit %v ftw %#x, want #PF and FTW unchanged", e.Kind, c.Regs.X87.FTW)
	}
}

// TestPcmpstrCases checks hand-computed PCMPxSTRx results (SDM Vol. 2B
// 4.1): the aggregation operations, lengths and flags.
func TestPcmpstrCases(t *testing.T) {
	str := func(s string) XMM {
		var b [16]byte
		copy(b[:], s)
		return XMM{le64(b[:8]), le64(b[8:])}
	}
	cases := []struct {
		name         string
		imm          uint8
		explicit     bool
		a, b         string
		la, lb       int64
		ecx          uint64
		cf, zf, sf   bool
		of           bool
		maskOut      bool
		wantMaskLow  uint64
		wantExpanded bool
	}{
		// pcmpistri: substring "ab" in "xxabyy".
		{name: "equal ordered", imm: 0x0C, a: "ab", b: "xxabyy", ecx: 2, cf: true, zf: true, sf: true},
		// A partial match running off the end of a full haystack counts;
		// one running into the haystack's null does not.
		{name: "equal ordered tail", imm: 0x0C, a: "yz", b: "xxxxxxxxxxxxxxxy", ecx: 15, cf: true, zf: false, sf: true},
		{name: "equal ordered before null", imm: 0x0C, a: "yz", b: "xxxy", ecx: 16, cf: false, zf: true, sf: true},
		// Any of the set "ab" in "zzzb": index 3.
		{name: "equal any", imm: 0x00, a: "ab", b: "zzzb", ecx: 3, cf: true, zf: true, sf: true},
		// Most significant index of a match.
		{name: "equal any msb", imm: 0x40, a: "ab", b: "azzb", ecx: 3, cf: true, zf: true, sf: true, of: true},
		// Range "az": first lower-case letter of "ABCd".
		{name: "ranges", imm: 0x04, a: "az", b: "ABCd", ecx: 3, cf: true, zf: true, sf: true},
		// strcmp-style: equal each, negative polarity: first difference.
		{name: "equal each negative", imm: 0x18, a: "hello", b: "help", ecx: 3, cf: true, zf: true, sf: true},
		// No match: ECX = 16, CF clear.
		{name: "no match", imm: 0x00, a: "q", b: "abcdefghijklmnop", ecx: 16, cf: false, zf: false, sf: true},
		// Words: "b" (word 1) in "a b".
		{name: "words", imm: 0x01, a: "b\x00", b: "a\x00b\x00", ecx: 1, cf: true, zf: true, sf: true},
		// Explicit lengths: EAX = -2 is length 2, EDX = 100 saturates.
		{name: "explicit", imm: 0x0C, explicit: true, a: "ab\x00\x00", b: "\x00\x00ab", la: -2, lb: 100, ecx: 2, cf: true, zf: false, sf: true},
		// Masked negative: only the valid part of the haystack is inverted.
		{name: "masked negative mask", imm: 0x30, explicit: true, a: "a", b: "abab", la: 1, lb: 4, maskOut: true, wantMaskLow: 0b1010, cf: true, zf: true, sf: true},
		{name: "byte mask", imm: 0x40, a: "a", b: "ba", maskOut: true, wantMaskLow: 0xFF00, wantExpanded: true, cf: true, zf: true, sf: true},
	}
	for _, tc := range cases {
		op := byte(0x63) // pcmpistri xmm1, xmm2, imm
		switch {
		case tc.explicit && tc.maskOut:
			op = 0x60
		case tc.explicit:
			op = 0x61
		case tc.maskOut:
			op = 0x62
		}
		m := sseMachine(t, 0x66, 0x0F, 0x3A, op, 0xCA, tc.imm)
		c := m.cpu
		c.Regs.XMM[1], c.Regs.XMM[2] = str(tc.a), str(tc.b)
		c.Regs.GPR[RAX], c.Regs.GPR[RDX] = uint64(tc.la), uint64(tc.lb)
		c.Regs.GPR[RCX] = ^uint64(0)
		if e := c.Run(); e.Kind != ExitBreakpoint {
			t.Fatalf("%s: exit %v (%v)", tc.name, e.Kind, e.Err)
		}
		f := c.FlagsValue()
		if got := [4]bool{f&FlagCF != 0, f&FlagZF != 0, f&FlagSF != 0, f&FlagOF != 0}; got != [4]bool{tc.cf, tc.zf, tc.sf, tc.of} {
			t.Errorf("%s: CF ZF SF OF = %v, want %v", tc.name, got, [4]bool{tc.cf, tc.zf, tc.sf, tc.of})
		}
		if f&(FlagAF|FlagPF) != 0 {
			t.Errorf("%s: AF/PF set", tc.name)
		}
		if tc.maskOut {
			want := XMM{Lo: tc.wantMaskLow}
			if tc.wantExpanded {
				want = XMM{Lo: 0xFF00}
			}
			if c.Regs.XMM[0] != want {
				t.Errorf("%s: xmm0 = %x, want %x", tc.name, c.Regs.XMM[0], want)
			}
			continue
		}
		if c.Regs.GPR[RCX] != tc.ecx {
			t.Errorf("%s: rcx = %#x, want %d (zero-extended)", tc.name, c.Regs.GPR[RCX], tc.ecx)
		}
	}
}

func le64(b []byte) uint64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// TestCRC32 checks CRC32 against hash/crc32's Castagnoli table: the
// instruction is the CRC-32C update without the initial and final
// inversions.
func TestCRC32(t *testing.T) {
	tab := crc32.MakeTable(crc32.Castagnoli)
	r := rand.New(rand.NewPCG(5, 6))
	forms := []struct {
		name string
		code []byte
		n    int
	}{
		{"crc32 eax, byte [rsi]", []byte{0xF2, 0x0F, 0x38, 0xF0, 0x06}, 1},
		{"crc32 eax, word [rsi]", []byte{0x66, 0xF2, 0x0F, 0x38, 0xF1, 0x06}, 2},
		{"crc32 eax, dword [rsi]", []byte{0xF2, 0x0F, 0x38, 0xF1, 0x06}, 4},
		{"crc32 rax, qword [rsi]", []byte{0xF2, 0x48, 0x0F, 0x38, 0xF1, 0x06}, 8},
		{"crc32 rax, byte [rsi]", []byte{0xF2, 0x48, 0x0F, 0x38, 0xF0, 0x06}, 1},
	}
	for _, f := range forms {
		for range 20 {
			m := sseMachine(t, f.code...)
			c := m.cpu
			data := make([]byte, f.n)
			for i := range data {
				data[i] = byte(r.Uint32())
			}
			m.write(testData, data)
			init := r.Uint64()
			c.Regs.GPR[RAX] = init
			if e := c.Run(); e.Kind != ExitBreakpoint {
				t.Fatalf("%s: exit %v (%v)", f.name, e.Kind, e.Err)
			}
			want := uint64(^crc32.Update(^uint32(init), tab, data))
			if c.Regs.GPR[RAX] != want {
				t.Fatalf("%s: init %#x data % x: rax = %#x, want %#x", f.name, init, data, c.Regs.GPR[RAX], want)
			}
		}
	}
	// "123456789" with the standard initial value and final inversion.
	m := sseMachine(t, 0xF2, 0x48, 0x0F, 0x38, 0xF1, 0x06, 0xF2, 0x0F, 0x38, 0xF0, 0x46, 0x08)
	m.write(testData, []byte("123456789"))
	m.cpu.Regs.GPR[RAX] = 0xFFFFFFFF
	m.cpu.Run()
	if got := uint32(m.cpu.Regs.GPR[RAX]) ^ 0xFFFFFFFF; got != 0xE3069283 {
		t.Errorf("CRC-32C check value = %#x, want 0xe3069283", got)
	}
}

// TestSSEIntDoesNotAllocate runs a mix of the family's handlers in a loop.
func TestSSEIntDoesNotAllocate(t *testing.T) {
	m := sseMachine(t,
		0x66, 0x0F, 0x6F, 0x06, // movdqa xmm0, [rsi]
		0x66, 0x0F, 0x74, 0xC1, // pcmpeqb xmm0, xmm1
		0x66, 0x0F, 0xD7, 0xC0, // pmovmskb eax, xmm0
		0x66, 0x0F, 0x38, 0x00, 0xC2, // pshufb xmm0, xmm2
		0x66, 0x0F, 0x3A, 0x63, 0x0E, 0x0C, // pcmpistri xmm1, [rsi], 0x0c
		0x66, 0x0F, 0x3A, 0x0F, 0xC1, 0x05, // palignr xmm0, xmm1, 5
		0x0F, 0xFC, 0xC1, // paddb mm0, mm1
		0xF2, 0x48, 0x0F, 0x38, 0xF1, 0xC3, // crc32 rax, rbx
		0x66, 0x0F, 0x7F, 0x46, 0x10, // movdqa [rsi+16], xmm0
		0x66, 0x0F, 0x73, 0xF8, 0x03, // pslldq xmm0, 3
	)
	c := m.cpu
	c.Run()
	allocs := testing.AllocsPerRun(100, func() {
		c.Regs.RIP = testCode
		if e := c.Run(); e.Kind != ExitBreakpoint {
			t.Fatalf("exit %v (%v)", e.Kind, e.Err)
		}
	})
	if allocs != 0 {
		t.Errorf("SSE integer instructions allocate: %v allocs per run, want 0", allocs)
	}
}
