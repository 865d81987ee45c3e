package cpu

import (
	"encoding/binary"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
)

// checkUop reports what is wrong with a translated uop, if anything.
func checkUop(u *uop, n int) string {
	switch {
	case int(u.len) != n:
		return "uop length differs from the decoded length"
	case u.op == opInvalid || u.op >= numOps || (handlers[u.op] == nil && u.op != opUD):
		return "opcode out of range or without a handler"
	case u.cost>>2 >= numCostClasses:
		return "cost class out of range"
	case u.op < numOpcodes && u.op != opNop && u.op != opUD && u.op != opGP && u.size != 0 && !validSize(u.size) && !(u.op == opCmpxchg2 && u.size == 16):
		return "bad operand size"
	case u.r0 > regAH+3 || u.r1 > regAH+3:
		return "register out of range"
	case (u.r0 >= regAH && u.dk == kindReg && u.size != 1) || (u.r1 >= regAH && u.sk == kindReg && u.size != 1 && u.ssize != 1):
		return "high-byte register with a size other than 1"
	case u.base != regNone && u.base != regRIP && u.base > 15, u.index != regNone && u.index > 15:
		return "address register out of range"
	case u.scale > 3:
		return "scale out of range"
	}
	return ""
}

func FuzzTranslate(f *testing.F) {
	// Seeds: every golden case and a few awkward encodings.
	files, _ := filepath.Glob("testdata/*.txt")
	for _, path := range files {
		for _, gc := range loadGolden(f, path) {
			f.Add(gc.code)
		}
	}
	for _, h := range []string{"f30f1efa", "f0f0870f", "66662e0f1f840000000000", "c5f458c2", "0fff", "f3", "48", ""} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	var m *machine
	f.Fuzz(func(t *testing.T, b []byte) {
		var buf [15]byte
		copy(buf[:], b)
		u, n, st := decode(buf[:])
		switch st {
		case decOK:
			if msg := checkUop(&u, n); msg != "" {
				t.Fatalf("% x: %s: %v (decoded length %d)", buf[:max(n, 1)], msg, u, n)
			}
			_ = u.String()
		case decUnsupported, decInvalid:
			if e := newUDError(0x1000, buf[:], false); !strings.HasPrefix(e.Error(), "cpu: ") {
				t.Fatalf("% x: bad error %q", buf, e.Error())
			}
			return
		}
		// Execute it: any exit is fine, a panic is not.
		if m == nil {
			m = newMachine(t)
			m.standardLayout()
		}
		c := m.cpu
		code := append(append([]byte(nil), buf[:n]...), 0xcc)
		m.write(testCode, code)
		for i := range c.Regs.GPR {
			c.Regs.GPR[i] = testData + 0x800 + uint64(i)*8
		}
		if len(b) >= 16 {
			c.Regs.GPR[RCX] = binary.LittleEndian.Uint64(b[8:16]) & 0xFFFF
		}
		c.Regs.GPR[RSP] = testRSP
		c.Regs.RIP, c.Regs.RFLAGS = testCode, 0x202
		c.Deadline = c.Clock + 100000
		c.Run()
	})
}

// TestTranslateTable spot-checks the uop fields of a few encodings.
func TestTranslateTable(t *testing.T) {
	cases := []struct {
		hex  string
		want uop
	}{
		{"4801d8", uop{op: opAlu, sub: aluAdd, size: 8, len: 3, dk: kindReg, sk: kindReg, r0: RAX, r1: RBX, base: regNone, index: regNone}},
		{"88fc", uop{op: opMov, size: 1, len: 2, dk: kindReg, sk: kindReg, r0: regAH, r1: regAH + 3, base: regNone, index: regNone}},
		{"4e8b44c508", uop{op: opMov, cost: costIndex(clsLoad, 0), size: 8, len: 5, dk: kindReg, sk: kindMem, r0: R8, base: RBP, index: R8, scale: 3, disp: 8}},
		{"488b0500010000", uop{op: opMov, cost: costIndex(clsLoad, 0), size: 8, len: 7, dk: kindReg, sk: kindMem, r0: RAX, base: regRIP, index: regNone, disp: 0x100}},
		{"64488b042528000000", uop{op: opMov, cost: costIndex(clsLoad, 0), size: 8, len: 9, dk: kindReg, sk: kindMem, r0: RAX, base: regNone, index: regNone, seg: segFS, disp: 0x28}},
		{"f0480fb137", uop{op: opCmpxchg, size: 8, len: 5, flags: uopLock, cost: costIndex(clsLocked, costMemLoad|costMemStore), dk: kindMem, sk: kindReg, r1: RSI, base: RDI, index: regNone}},
		{"f348ab", uop{op: opString, sub: strStos, size: 8, len: 3, flags: uopRep, cost: costIndex(clsRep, 0), base: regNone, index: regNone}},
		{"0f8400010000", uop{op: opJcc, cost: costIndex(clsBranch, 0), sub: ccE, len: 6, imm: 0x100, base: regNone, index: regNone}},
		{"80c0ff", uop{op: opAlu, sub: aluAdd, size: 1, len: 3, dk: kindReg, sk: kindImm, r0: RAX, imm: 0xff, base: regNone, index: regNone}},
		{"4883c0f0", uop{op: opAlu, sub: aluAdd, size: 8, len: 4, dk: kindReg, sk: kindImm, r0: RAX, imm: 0xfffffffffffffff0, base: regNone, index: regNone}},
		{"f30f1efa", uop{op: opNop, len: 4, base: regNone, index: regNone}},
		{"0f0b", uop{op: opUD, len: 2, cost: costIndex(clsOther, 0), base: regNone, index: regNone}},
		{"f4", uop{op: opGP, len: 1, base: regNone, index: regNone}},
	}
	for _, tc := range cases {
		got, ok := decodeHex(t, tc.hex, tc.hex)
		if !ok {
			continue
		}
		if got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.hex, got, tc.want)
		}
	}
}

// decodeHex decodes one instruction given in hex, reporting (as name) a
// decode that fails or does not take all of its bytes.
func decodeHex(t *testing.T, h, name string) (uop, bool) {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var buf [15]byte
	copy(buf[:], b)
	u, n, st := decode(buf[:])
	if st != decOK || n != len(b) {
		t.Errorf("%s: status %d length %d, want ok %d", name, st, n, len(b))
		return u, false
	}
	return u, true
}
