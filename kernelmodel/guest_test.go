package kernelmodel

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"testing"
)

// A tiny assembler and ELF writer for guest programs built inside tests:
// straight-line code of register loads, syscalls and memory accesses, so
// that a test drives the real path (interpreter → SYSCALL exit → v.syscall
// dispatch → kernel model) without a C compiler.

// Guest layout.
const (
	guestText     = 0x400000 // text segment: the file from offset 0
	guestData     = 0x600000 // read-write, zero-initialised
	guestDataSize = 0x4000
)

// x86-64 register numbers for the encoder.
const (
	rAX = 0
	rCX = 1
	rDX = 2
	rBX = 3
	rSI = 6
	rDI = 7
	r8  = 8
	r9  = 9
	r10 = 10
)

// asm accumulates machine code.
type asm struct{ b []byte }

// mov loads a 64-bit immediate into reg (REX.W B8+r imm64).
func (a *asm) mov(reg int, v uint64) {
	rex := byte(0x48)
	if reg >= 8 {
		rex |= 1 // REX.B
	}
	a.b = append(a.b, rex, 0xb8+byte(reg&7))
	a.b = binary.LittleEndian.AppendUint64(a.b, v)
}

// syscall emits a system call with up to six arguments (RDI, RSI, RDX,
// R10, R8, R9).
func (a *asm) syscall(nr uint64, args ...uint64) {
	a.mov(rAX, nr)
	for i, r := range []int{rDI, rSI, rDX, r10, r8, r9} {
		if i < len(args) {
			a.mov(r, args[i])
		}
	}
	a.b = append(a.b, 0x0f, 0x05)
}

// store writes the 64-bit value v to addr (mov rbx, addr; mov rax, v;
// mov [rbx], rax).
func (a *asm) store(addr, v uint64) {
	a.mov(rBX, addr)
	a.mov(rAX, v)
	a.b = append(a.b, 0x48, 0x89, 0x03)
}

// load reads the 64-bit value at addr into RAX (mov rbx, addr; mov rax, [rbx]).
func (a *asm) load(addr uint64) {
	a.mov(rBX, addr)
	a.b = append(a.b, 0x48, 0x8b, 0x03)
}

// storeRAX writes RAX to addr (mov rbx, addr; mov [rbx], rax): keeps a
// syscall's result for later inspection.
func (a *asm) storeRAX(addr uint64) {
	a.mov(rBX, addr)
	a.b = append(a.b, 0x48, 0x89, 0x03)
}

// jnzRAX emits "test rax, rax; jnz <label>" and returns the label's
// fix-up position for bind.
func (a *asm) jnzRAX() int {
	a.b = append(a.b, 0x48, 0x85, 0xc0, 0x0f, 0x85, 0, 0, 0, 0)
	return len(a.b) - 4
}

// bind points the jump whose fix-up is at pos to the current position.
func (a *asm) bind(pos int) {
	binary.LittleEndian.PutUint32(a.b[pos:], uint32(len(a.b)-(pos+4)))
}

// exitGroup ends the program with status code.
func (a *asm) exitGroup(code uint64) { a.syscall(sysExitGroup, code) }

// guestELF wraps code into a static ET_EXEC x86-64 executable with a text
// segment mapping the file at guestText (entry right after the headers)
// and a zeroed read-write segment at guestData.
func guestELF(code []byte) []byte {
	const ehdr, phdr = 64, 56
	const nph = 2
	codeOff := uint64(ehdr + nph*phdr)
	b := make([]byte, codeOff+uint64(len(code)))
	le := binary.LittleEndian
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	b[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	b[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	le.PutUint16(b[16:], uint16(elf.ET_EXEC))
	le.PutUint16(b[18:], uint16(elf.EM_X86_64))
	le.PutUint32(b[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(b[24:], guestText+codeOff)
	le.PutUint64(b[32:], ehdr)
	le.PutUint16(b[52:], ehdr)
	le.PutUint16(b[54:], phdr)
	le.PutUint16(b[56:], nph)
	put := func(i int, flags elf.ProgFlag, off, vaddr, filesz, memsz uint64) {
		p := b[ehdr+i*phdr:]
		le.PutUint32(p[0:], uint32(elf.PT_LOAD))
		le.PutUint32(p[4:], uint32(flags))
		le.PutUint64(p[8:], off)
		le.PutUint64(p[16:], vaddr)
		le.PutUint64(p[24:], vaddr)
		le.PutUint64(p[32:], filesz)
		le.PutUint64(p[40:], memsz)
		le.PutUint64(p[48:], 0x1000)
	}
	put(0, elf.PF_R|elf.PF_X, 0, guestText, uint64(len(b)), uint64(len(b)))
	put(1, elf.PF_R|elf.PF_W, 0, guestData, 0, guestDataSize)
	copy(b[codeOff:], code)
	return b
}

// runGuest loads code (which must end the program itself) on a machine
// with cfg and runs it.
func runGuest(t testing.TB, cfg Config, code []byte) (*Machine, error) {
	t.Helper()
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Load(guestELF(code), []string{"/guest"}); err != nil {
		t.Fatal(err)
	}
	return m, m.Run(context.Background())
}

// dump writes the first guestDumpSize bytes of the data segment to
// stdout, where guestWord finds them after the run (exit_mmap has freed
// the pages by then).
func (a *asm) dump() { a.syscall(sysWrite, 1, guestData, guestDumpSize) }

const guestDumpSize = 512

// guestWord returns the word at data-segment address addr as the last
// dump saw it.
func guestWord(t testing.TB, m *Machine, addr uint64) uint64 {
	t.Helper()
	off := len(m.stdout) - guestDumpSize + int(addr-guestData)
	if off < 0 || addr < guestData || addr+8 > guestData+guestDumpSize {
		t.Fatalf("%#x: not dumped (stdout has %d bytes)", addr, len(m.stdout))
	}
	return binary.LittleEndian.Uint64(m.stdout[off:])
}

func TestGuestBuilderRuns(t *testing.T) {
	var a asm
	a.syscall(sysGetpid)
	a.storeRAX(guestData)
	a.store(guestData+8, 0x1234)
	a.load(guestData + 8)
	a.storeRAX(guestData + 16)
	a.dump()
	a.exitGroup(7)
	cfg := DefaultConfig()
	cfg.MemBytes = 64 << 20
	m, err := runGuest(t, cfg, a.b)
	if err != nil {
		t.Fatal(err)
	}
	if m.ExitCode() != 7 {
		t.Errorf("exit code %d, want 7", m.ExitCode())
	}
	if got := guestWord(t, m, guestData); got != 1 {
		t.Errorf("getpid = %d, want 1", got)
	}
	if got := guestWord(t, m, guestData+16); got != 0x1234 {
		t.Errorf("load = %#x, want 0x1234", got)
	}
}
