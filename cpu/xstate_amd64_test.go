//go:build amd64

package cpu

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"unsafe"
)

// The generic differential harness: it runs arbitrary instruction bytes on
// this machine's CPU and on the interpreter from the same full user state
// (GPRs, status flags, XMM0-15, MXCSR, x87 registers, FCW/FSW/FTW) and
// returns both final states, so every SSE, x87 and integer form that can
// run natively is checked against the hardware.
//
// Native side: one mmapped RWX region holds a thunk (built per call), the
// state blocks and a private stack:
//
//	0x0000 thunk          0x1000 host FXSAVE area   0x1200 GPR[16]
//	0x1280 RFLAGS         0x1300 guest FXSAVE area  0x1600 host callee-saved regs
//	0x2000-0x4000 stack   0x4000-0x6000 memory operand buffer (nativeBuf)
//
// The thunk saves the host's callee-saved registers and FPU state, FXRSTORs
// the guest FPU state, loads RFLAGS and the GPRs (RSP excluded: it points
// at the private stack), runs the instruction, and stores everything back.
// Instructions under test must not fault: exceptions stay masked.

const (
	nxGPR    = 0x1200
	nxFlags  = 0x1280
	nxFX     = 0x1300
	nxHostFX = 0x1000
	nxSave   = 0x1600
	nxStack  = 0x4000
	nxBuf    = 0x4000
	nxBufLen = 0x2000
	nxSize   = 0x6000
)

// xstate is the state the harness compares.
type xstate struct {
	GPR    [16]uint64 // RSP is not loaded or compared
	RFLAGS uint64     // status flags only (CF PF AF ZF SF OF) are compared
	XMM    [16]XMM
	MXCSR  uint32
	X87    X87 // ST are physical registers; FCW, FSW (with TOP), FTW are compared
	Mem    [64]byte
}

var native struct {
	once   sync.Once
	region []byte
	err    error
	mu     sync.Mutex
}

func nativeRegion(t testing.TB) []byte {
	native.once.Do(func() {
		native.region, native.err = syscall.Mmap(-1, 0, nxSize, syscall.PROT_READ|syscall.PROT_WRITE|syscall.PROT_EXEC, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	})
	if native.err != nil {
		t.Skipf("no executable memory for the native harness: %v", native.err)
	}
	return native.region
}

// nativeBufAddr is the host address of the memory operand buffer; the
// interpreter side maps its test buffer at the same virtual address so that
// register values holding pointers agree.
func nativeBufAddr(t testing.TB) uint64 {
	return uint64(uintptr(unsafe.Pointer(&nativeRegion(t)[nxBuf])))
}

func fxsaveImage(s *xstate) [512]byte {
	var b [512]byte
	x := &s.X87
	binary.LittleEndian.PutUint16(b[0:], x.FCW)
	binary.LittleEndian.PutUint16(b[2:], x.FSW)
	b[4] = x.FTW
	binary.LittleEndian.PutUint32(b[24:], s.MXCSR)
	binary.LittleEndian.PutUint32(b[28:], 0xFFFF)
	for i := range 8 {
		// FXSAVE stores the registers in stack order: slot i is ST(i) = R[(TOP+i)&7].
		p := (int(x.Top()) + i) & 7
		binary.LittleEndian.PutUint64(b[32+16*i:], x.ST[p].Mant)
		binary.LittleEndian.PutUint16(b[40+16*i:], x.ST[p].SExp)
	}
	for i := range 16 {
		binary.LittleEndian.PutUint64(b[160+16*i:], s.XMM[i].Lo)
		binary.LittleEndian.PutUint64(b[168+16*i:], s.XMM[i].Hi)
	}
	return b
}

func fromFxsave(s *xstate, b []byte) {
	x := &s.X87
	x.FCW = binary.LittleEndian.Uint16(b[0:])
	x.FSW = binary.LittleEndian.Uint16(b[2:])
	x.FTW = b[4]
	s.MXCSR = binary.LittleEndian.Uint32(b[24:])
	for i := range 8 {
		x.ST[(int(x.Top())+i)&7] = F80{binary.LittleEndian.Uint64(b[32+16*i:]), binary.LittleEndian.Uint16(b[40+16*i:])}
	}
	for i := range 16 {
		s.XMM[i] = XMM{binary.LittleEndian.Uint64(b[160+16*i:]), binary.LittleEndian.Uint64(b[168+16*i:])}
	}
}

// thunk returns the machine code that runs insn on the state at base.
func thunk(base uint64, insn []byte) []byte {
	var c []byte
	emit := func(b ...byte) { c = append(c, b...) }
	d32 := func(v uint32) { c = binary.LittleEndian.AppendUint32(c, v) }
	// mov [rdi+off], reg / mov reg, [rdi+off] (reg 0-15, disp32)
	movRM := func(store bool, reg int, off uint32) {
		rex := byte(0x48)
		if reg >= 8 {
			rex |= 4
		}
		op := byte(0x8B)
		if store {
			op = 0x89
		}
		emit(rex, op, 0x80|byte(reg&7)<<3|7)
		d32(off)
	}
	callee := []int{RSP, RBP, RBX, R12, R13, R14, R15}
	for i, r := range callee {
		movRM(true, r, nxSave+uint32(8*i))
	}
	emit(0x48, 0x0F, 0xAE, 0x87) // fxsave64 [rdi+host]
	d32(nxHostFX)
	emit(0x48, 0x8D, 0xA7) // lea rsp, [rdi+stack]
	d32(nxStack)
	emit(0x48, 0x0F, 0xAE, 0x8F) // fxrstor64 [rdi+guest]
	d32(nxFX)
	emit(0xFF, 0xB7) // push qword [rdi+flags]
	d32(nxFlags)
	emit(0x9D) // popfq
	for r := range 16 {
		if r != RSP && r != RDI {
			movRM(false, r, nxGPR+uint32(8*r))
		}
	}
	movRM(false, RDI, nxGPR+8*RDI)
	emit(insn...)
	emit(0x57)       // push rdi
	emit(0x48, 0xBF) // movabs rdi, base
	c = binary.LittleEndian.AppendUint64(c, base)
	emit(0x8F, 0x87) // pop qword [rdi+gpr.rdi]
	d32(nxGPR + 8*RDI)
	for r := range 16 {
		if r != RSP && r != RDI {
			movRM(true, r, nxGPR+uint32(8*r))
		}
	}
	emit(0x9C, 0x8F, 0x87) // pushfq; pop qword [rdi+flags]
	d32(nxFlags)
	emit(0x48, 0x0F, 0xAE, 0x87) // fxsave64 [rdi+guest]
	d32(nxFX)
	emit(0x48, 0x0F, 0xAE, 0x8F) // fxrstor64 [rdi+host]
	d32(nxHostFX)
	for i, r := range callee {
		movRM(false, r, nxSave+uint32(8*i))
	}
	emit(0xC3)
	return c
}

// runNative executes insn on the host CPU from s.
func runNative(t testing.TB, insn []byte, s xstate) xstate {
	t.Helper()
	reg := nativeRegion(t)
	native.mu.Lock()
	defer native.mu.Unlock()
	base := uint64(uintptr(unsafe.Pointer(&reg[0])))
	code := thunk(base, insn)
	if len(code) > nxHostFX {
		t.Fatal("thunk too long")
	}
	copy(reg, code)
	for r := range 16 {
		binary.LittleEndian.PutUint64(reg[nxGPR+8*r:], s.GPR[r])
	}
	binary.LittleEndian.PutUint64(reg[nxFlags:], s.RFLAGS&FlagsArith|0x202)
	fx := fxsaveImage(&s)
	copy(reg[nxFX:], fx[:])
	copy(reg[nxBuf:], s.Mem[:])
	nativeCall(uintptr(base), uintptr(base))
	var out xstate
	for r := range 16 {
		out.GPR[r] = binary.LittleEndian.Uint64(reg[nxGPR+8*r:])
	}
	out.GPR[RSP] = s.GPR[RSP]
	out.RFLAGS = binary.LittleEndian.Uint64(reg[nxFlags:])
	fromFxsave(&out, reg[nxFX:nxFX+512])
	copy(out.Mem[:], reg[nxBuf:])
	return out
}

// runEmu executes insn on the interpreter from s, with the memory buffer
// mapped at the native buffer's address. It returns the exit too.
func runEmu(t testing.TB, insn []byte, s xstate) (xstate, Exit) {
	t.Helper()
	m := newMachine(t)
	m.standardLayout()
	buf := nativeBufAddr(t)
	for va := buf; va < buf+nxBufLen; va += pageSize {
		m.mapPage(va, pteUser)
	}
	m.write(buf, s.Mem[:])
	m.write(testCode, insn)
	c := m.cpu
	setXState(c, s)
	e := c.Run()
	out := getXState(c, s)
	copy(out.Mem[:], m.read(buf, len(out.Mem)))
	return out, e
}

// setXState loads s into c's registers (RSP stays the test stack).
func setXState(c *CPU, s xstate) {
	c.Regs.GPR = s.GPR
	c.Regs.GPR[RSP] = testRSP
	c.Regs.RFLAGS = s.RFLAGS&FlagsArith | 0x202
	c.Regs.XMM = s.XMM
	c.Regs.MXCSR = s.MXCSR
	c.Regs.X87 = s.X87
}

// getXState reads c's registers back into an xstate (RSP as in s).
func getXState(c *CPU, s xstate) xstate {
	var out xstate
	out.GPR = c.Regs.GPR
	out.GPR[RSP] = s.GPR[RSP]
	out.RFLAGS = c.Regs.RFLAGS
	out.XMM = c.Regs.XMM
	out.MXCSR = c.Regs.MXCSR
	out.X87 = c.Regs.X87
	return out
}

// xdiff describes how two final states differ ("" if they agree), with
// flagMask selecting the RFLAGS bits compared.
func xdiff(want, got xstate, flagMask uint64) string {
	var b strings.Builder
	for r := range 16 {
		if want.GPR[r] != got.GPR[r] {
			fmt.Fprintf(&b, " r%d=%#x want %#x;", r, got.GPR[r], want.GPR[r])
		}
	}
	if (want.RFLAGS^got.RFLAGS)&flagMask != 0 {
		fmt.Fprintf(&b, " rflags=%#x want %#x;", got.RFLAGS&flagMask, want.RFLAGS&flagMask)
	}
	for i := range 16 {
		if want.XMM[i] != got.XMM[i] {
			fmt.Fprintf(&b, " xmm%d=%016x_%016x want %016x_%016x;", i, got.XMM[i].Hi, got.XMM[i].Lo, want.XMM[i].Hi, want.XMM[i].Lo)
		}
	}
	if want.MXCSR != got.MXCSR {
		fmt.Fprintf(&b, " mxcsr=%#x want %#x;", got.MXCSR, want.MXCSR)
	}
	w, g := want.X87, got.X87
	if w.FCW != g.FCW || w.FSW != g.FSW || w.FTW != g.FTW {
		fmt.Fprintf(&b, " fcw/fsw/ftw=%#x/%#x/%#x want %#x/%#x/%#x;", g.FCW, g.FSW, g.FTW, w.FCW, w.FSW, w.FTW)
	}
	for i := range 8 {
		// An empty register's contents are not architectural.
		if w.FTW&(1<<i) != 0 && w.ST[i] != g.ST[i] {
			fmt.Fprintf(&b, " R%d=%04x_%016x want %04x_%016x;", i, g.ST[i].SExp, g.ST[i].Mant, w.ST[i].SExp, w.ST[i].Mant)
		}
	}
	if want.Mem != got.Mem {
		fmt.Fprintf(&b, " mem=% x want % x;", got.Mem, want.Mem)
	}
	return b.String()
}

// checkNative runs insn natively and in the interpreter and reports any
// difference. The interpreter must stop at the INT3 after insn.
func checkNative(t testing.TB, name string, insn []byte, s xstate, flagMask uint64) bool {
	t.Helper()
	want := runNative(t, insn, s)
	got, e := runEmu(t, insn, s)
	if e.Kind != ExitBreakpoint {
		t.Errorf("%s (% x): exit %v (%v), want the INT3 after it", name, insn, e.Kind, e.Err)
		return false
	}
	if d := xdiff(want, got, flagMask); d != "" {
		t.Errorf("%s (% x):%s", name, insn, d)
		return false
	}
	return true
}

func TestNativeHarness(t *testing.T) {
	// add rax, rbx; mov rcx, [rsi]; a plain integer check of the harness.
	var s xstate
	s.GPR[RAX], s.GPR[RBX] = 0x7fffffffffffffff, 1
	s.GPR[RSI] = nativeBufAddr(t)
	binary.LittleEndian.PutUint64(s.Mem[:], 0x1122334455667788)
	s.MXCSR, s.X87.FCW = MXCSRDefault, FCWDefault
	got := runNative(t, []byte{0x48, 0x01, 0xD8, 0x48, 0x8B, 0x0E}, s)
	if got.GPR[RAX] != 0x8000000000000000 || got.GPR[RCX] != 0x1122334455667788 || got.RFLAGS&FlagOF == 0 {
		t.Fatalf("native harness: rax=%#x rcx=%#x rflags=%#x", got.GPR[RAX], got.GPR[RCX], got.RFLAGS)
	}
	checkNative(t, "add+mov", []byte{0x48, 0x01, 0xD8, 0x48, 0x8B, 0x0E}, s, FlagsArith)
}
