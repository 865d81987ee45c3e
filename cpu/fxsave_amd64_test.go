//go:build amd64

package cpu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// Native differential tests of the FPU state images: FXSAVE/FXRSTOR (both
// forms), FNSAVE/FRSTOR and FLDENV, over a buffer larger than the harness's
// 64 compared bytes.

// runNativeMem runs insn natively with the first len(mem) bytes of the
// operand buffer set to mem and returns the final state and buffer.
func runNativeMem(t *testing.T, insn []byte, s xstate, mem []byte) (xstate, []byte) {
	t.Helper()
	reg := nativeRegion(t)
	copy(s.Mem[:], mem)
	copy(reg[nxBuf:], mem)
	out := runNative(t, insn, s)
	return out, append([]byte(nil), reg[nxBuf:nxBuf+len(mem)]...)
}

// runEmuMem is runEmu with len(mem) bytes of operand buffer.
func runEmuMem(t *testing.T, insn []byte, s xstate, mem []byte) (xstate, []byte, Exit) {
	t.Helper()
	m := newMachine(t)
	m.standardLayout()
	buf := nativeBufAddr(t)
	for va := buf; va < buf+nxBufLen; va += pageSize {
		m.mapPage(va, pteUser)
	}
	m.write(buf, mem)
	m.write(testCode, insn)
	c := m.cpu
	setXState(c, s)
	e := c.Run()
	out := getXState(c, s)
	return out, m.read(buf, len(mem)), e
}

// checkNativeMem compares the final states and buffers; with skipFIP the
// FXSAVE image's FIP field (bytes 8-15), which holds the instruction's
// address and so differs between the two sides, is not compared.
func checkNativeMem(t *testing.T, name string, insn []byte, s xstate, mem []byte, skipFIP ...bool) bool {
	t.Helper()
	want, wmem := runNativeMem(t, insn, s, mem)
	got, gmem, e := runEmuMem(t, insn, s, mem)
	if len(skipFIP) > 0 && skipFIP[0] {
		copy(gmem[8:16], wmem[8:16])
	}
	if e.Kind != ExitBreakpoint {
		t.Errorf("%s: exit %v (%v)", name, e.Kind, e.Err)
		return false
	}
	if strings.Contains(name, "fxsave") && !hostIntel() {
		// MXCSR_MASK (FXSAVE bytes 28-31) is the CPU's: the interpreter
		// reports the Skylake-SP value, an AMD host 0x2FFFF (MM, bit 17,
		// misaligned-SSE mask; AMD APM Vol. 4 FXSAVE). Compared with
		// the modelled value, then taken from the host.
		if g := binary.LittleEndian.Uint32(gmem[28:]); g != MXCSRMask {
			t.Errorf("%s: MXCSR_MASK %#x, want %#x", name, g, MXCSRMask)
			return false
		}
		copy(gmem[28:32], wmem[28:32])
	}
	copy(want.Mem[:], wmem)
	copy(got.Mem[:], gmem)
	ok := true
	if d := xdiff(want, got, FlagsArith); d != "" {
		t.Errorf("%s (% x):%s", name, insn, d)
		ok = false
	}
	if !bytes.Equal(wmem, gmem) {
		for i := range wmem {
			if wmem[i] != gmem[i] {
				t.Errorf("%s: memory differs from byte %d: % x want % x", name, i, gmem[i:min(i+16, len(gmem))], wmem[i:min(i+16, len(wmem))])
				break
			}
		}
		ok = false
	}
	return ok
}

func randFPUState(t *testing.T, r *rand.Rand) xstate {
	s := randX87State(t, r, uint16(r.IntN(4)), uint16(r.IntN(4)), r.IntN(2) == 0)
	for i := range s.XMM {
		s.XMM[i] = XMM{r.Uint64(), r.Uint64()}
	}
	s.MXCSR = MXCSRDefault | uint32(r.IntN(0x40)) | uint32(r.IntN(4))<<13 // flags, RC
	return s
}

func TestFxsaveNative(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	forms := []x87Form{
		{"fxsave64 [rsi]", []byte{0x48, 0x0F, 0xAE, 0x06}},
		{"fxsave [rsi]", []byte{0x0F, 0xAE, 0x06}},
		// fxsave64 [rsi]; fninit; fxrstor64 [rsi]: a round trip
		{"fxsave64/fninit/fxrstor64", []byte{0x48, 0x0F, 0xAE, 0x06, 0xDB, 0xE3, 0x48, 0x0F, 0xAE, 0x0E}},
		// fnsave [rsi]; fld1; frstor [rsi]
		{"fnsave", []byte{0xDD, 0x36}},
		{"fnsave/fld1/frstor", []byte{0xDD, 0x36, 0xD9, 0xE8, 0xDD, 0x26}},
		{"fnstenv/fldz/fldenv", []byte{0xD9, 0x36, 0xD9, 0xEE, 0xD9, 0x26}},
	}
	// After x87 arithmetic (with masked exceptions) FOP and FDP are
	// unchanged (the harness loads them as zero); FIP, the instruction's
	// address, is not compared.
	after := []x87Form{
		{"fld m32; fadd st0,st1; fxsave64", []byte{0xD9, 0x46, 0x20, 0xD8, 0xC1, 0x48, 0x0F, 0xAE, 0x06}},
		{"fdiv st0,st6; fxsave64", []byte{0xD8, 0xF6, 0x48, 0x0F, 0xAE, 0x06}},
	}
	n := x87Iters(t, 40)
	for _, f := range append(forms, after...) {
		for k := 0; k < n; k++ {
			s := randFPUState(t, r)
			mem := make([]byte, 512)
			for i := range mem {
				mem[i] = byte(r.Uint32())
			}
			if !checkNativeMem(t, f.name, f.insn, s, mem, f.insn[0] != 0x48 && f.insn[0] != 0x0F) {
				break
			}
		}
	}
}

// randImage returns a random FXSAVE image the processor accepts, with the
// exceptions masked.
func randImage(r *rand.Rand) []byte {
	b := make([]byte, 512)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	le := binary.LittleEndian
	le.PutUint16(b[0:], 0x7F|uint16(r.IntN(0x10))<<8)
	le.PutUint16(b[2:], uint16(r.Uint32())&^(fswES|fswB))
	le.PutUint32(b[24:], MXCSRDefault|uint32(r.IntN(0x40))|uint32(r.IntN(4))<<13|uint32(r.IntN(2))<<6)
	for i := range 8 {
		if r.IntN(2) == 0 {
			v := randF80(r)
			le.PutUint64(b[32+16*i:], v.Mant)
			le.PutUint16(b[40+16*i:], v.SExp)
		}
	}
	return b
}

func TestFxrstorNative(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	forms := []x87Form{
		{"fxrstor64 [rsi]", []byte{0x48, 0x0F, 0xAE, 0x0E}},
		{"fxrstor [rsi]", []byte{0x0F, 0xAE, 0x0E}},
		{"frstor [rsi]", []byte{0xDD, 0x26}},
		{"fldenv [rsi]", []byte{0xD9, 0x26}},
	}
	n := x87Iters(t, 40)
	for _, f := range forms {
		for k := 0; k < n; k++ {
			s := randFPUState(t, r)
			img := randImage(r)
			if f.insn[0] == 0xDD || f.insn[0] == 0xD9 {
				// An FNSTENV/FNSAVE image: FCW masked, FSW without ES.
				binary.LittleEndian.PutUint16(img[0:], 0x7F|uint16(r.IntN(0x10))<<8)
				binary.LittleEndian.PutUint16(img[4:], uint16(r.Uint32())&^(fswES|fswB))
			}
			if !checkNativeMem(t, f.name, f.insn, s, img) {
				break
			}
		}
	}
}

func TestFxsaveFaults(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	s := randFPUState(t, r)
	img := randImage(r)
	// Misaligned operand: #GP(0), nothing written.
	s.GPR[RSI] = nativeBufAddr(t) + 8
	got, mem, e := runEmuMem(t, []byte{0x48, 0x0F, 0xAE, 0x06}, s, img)
	if e.Kind != ExitGP || !bytes.Equal(mem, img) || got.X87 != s.X87 {
		t.Errorf("misaligned fxsave64: exit %v, memory changed %v", e.Kind, !bytes.Equal(mem, img))
	}
	// A reserved MXCSR bit in the image: #GP(0), no state loaded.
	s.GPR[RSI] = nativeBufAddr(t)
	binary.LittleEndian.PutUint32(img[24:], MXCSRDefault|1<<16)
	got, _, e = runEmuMem(t, []byte{0x48, 0x0F, 0xAE, 0x0E}, s, img)
	if e.Kind != ExitGP || got.X87 != s.X87 || got.MXCSR != s.MXCSR || got.XMM != s.XMM {
		t.Errorf("fxrstor64 with reserved MXCSR bits: exit %v, state changed", e.Kind)
	}
	// The area crossing into an unmapped page: #PF, nothing written.
	m := newMachine(t)
	m.standardLayout()
	const va = 0x700000
	m.mapPage(va, pteUser)
	c := m.cpu
	c.Regs.GPR[RSI] = va + pageSize - 256
	m.write(testCode, []byte{0x48, 0x0F, 0xAE, 0x06})
	before := m.read(va+pageSize-256, 256)
	e = c.Run()
	if e.Kind != ExitPageFault || !bytes.Equal(before, m.read(va+pageSize-256, 256)) {
		t.Errorf("fxsave64 across an unmapped page: exit %v, first page changed %v", e.Kind, !bytes.Equal(before, m.read(va+pageSize-256, 256)))
	}
}

// An unmasked exception ends the run with ExitUD naming #MF and leaves the
// state alone; FWAIT with a pending unmasked exception does the same.
func TestX87UnmaskedException(t *testing.T) {
	m := newMachine(t)
	m.standardLayout()
	c := m.cpu
	c.Regs.X87.FCW = FCWDefault &^ 0x04 // ZE unmasked
	c.Regs.X87.FTW = 0xC0               // R6, R7 valid
	c.Regs.X87.FSW = 6 << 11
	c.Regs.X87.ST[6] = F80{intBit, 0x3FFF} // ST(0) = 1
	c.Regs.X87.ST[7] = F80{}               // ST(1) = 0
	m.write(testCode, []byte{0xD8, 0xF1})  // fdiv st0, st1
	before := c.Regs.X87
	e := c.Run()
	var ue *UnimplementedError
	if e.Kind != ExitUD || !errors.As(e.Err, &ue) || !bytes.Contains([]byte(ue.Disasm), []byte("#MF")) || c.Regs.X87 != before || c.Regs.RIP != testCode {
		t.Fatalf("fdiv by zero with ZE unmasked: exit %v %v, x87 changed %v", e.Kind, e.Err, c.Regs.X87 != before)
	}
	// A pending unmasked flag: FWAIT faults, FNSTSW does not.
	c.Regs.X87.FSW |= fswZE
	m.write(testCode, []byte{0xDF, 0xE0, 0x9B}) // fnstsw ax; fwait
	c.InvalidateDecodeCache()
	e = c.Run()
	if e.Kind != ExitUD || c.Regs.RIP != testCode+2 || uint16(c.Regs.GPR[RAX]) != c.Regs.X87.FSW {
		t.Fatalf("fwait with ZE pending: exit %v at %#x, ax=%#x", e.Kind, c.Regs.RIP, c.Regs.GPR[RAX])
	}
}
