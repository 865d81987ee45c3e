package cpu

//go:generate go run ./internal/gennative

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
)

// nativeOp is one host-CPU helper from native_amd64.s.
type nativeOp struct {
	name string
	size uint8
	fn   func(a, b, c, f uint64) (r, r2, fl uint64)
}

// diffEncoding returns the machine code of nativeOp name at size acting on
// the same registers as the helper: a in rAX, b in rBX, count in CL.
func diffEncoding(name string, size uint8) []byte {
	var pre []byte
	switch size {
	case 2:
		pre = []byte{0x66}
	case 8:
		pre = []byte{0x48}
	}
	w := byte(1) // opcode bit 0: 8-bit (0) or full size (1)
	if size == 1 {
		w = 0
	}
	alu := map[string]byte{"ADD": 0x00, "OR": 0x08, "ADC": 0x10, "SBB": 0x18, "AND": 0x20, "SUB": 0x28, "XOR": 0x30, "CMP": 0x38}
	grp2 := map[string]byte{"ROL": 0, "ROR": 1, "RCL": 2, "RCR": 3, "SHL": 4, "SHR": 5, "SAR": 7}
	cat := func(b ...byte) []byte { return append(append([]byte(nil), pre...), b...) }
	// F3-prefixed instructions: the mandatory prefix precedes REX.W.
	f3 := func(op byte) []byte {
		var b []byte
		if size == 2 {
			b = append(b, 0x66)
		}
		b = append(b, 0xF3)
		if size == 8 {
			b = append(b, 0x48)
		}
		return append(b, 0x0F, op, 0xC3)
	}
	if base, ok := alu[name]; ok {
		return cat(base|w, 0xD8) // op rAX, rBX
	}
	if ext, ok := grp2[name]; ok {
		return cat(0xD2|w, 0xC0|ext<<3) // op rAX, CL
	}
	switch name {
	case "TEST":
		return cat(0x84|w, 0xD8)
	case "INC":
		return cat(0xFE|w, 0xC0)
	case "DEC":
		return cat(0xFE|w, 0xC8)
	case "NEG":
		return cat(0xF6|w, 0xD8)
	case "SHLD":
		return cat(0x0F, 0xA5, 0xD8)
	case "SHRD":
		return cat(0x0F, 0xAD, 0xD8)
	case "IMUL":
		return cat(0x0F, 0xAF, 0xC3)
	case "IMUL1":
		return cat(0xF6|w, 0xEB)
	case "MUL":
		return cat(0xF6|w, 0xE3)
	case "BT":
		return cat(0x0F, 0xA3, 0xD8)
	case "BSF":
		return cat(0x0F, 0xBC, 0xC3)
	case "BSR":
		return cat(0x0F, 0xBD, 0xC3)
	case "POPCNT":
		return f3(0xB8)
	case "TZCNT":
		return f3(0xBC)
	case "LZCNT":
		return f3(0xBD)
	}
	panic("diffEncoding: unknown op " + name)
}

// diffCompare returns which result registers and flags are architecturally
// defined for one execution (SDM Vol. 2 "Flags Affected" of each instruction).
func diffCompare(name string, size uint8, a, b, c uint64) (cmpR, cmpR2 bool, flags uint64) {
	w := uint64(size) * 8
	cnt := c & 0x1F
	if size == 8 {
		cnt = c & 0x3F
	}
	all := FlagsArith
	switch name {
	case "ADD", "ADC", "SUB", "SBB", "CMP", "INC", "DEC", "NEG":
		return true, false, all
	case "AND", "OR", "XOR", "TEST":
		return true, false, all &^ FlagAF
	case "SHL", "SHR", "SAR":
		if cnt == 0 {
			return true, false, all
		}
		f := FlagPF | FlagZF | FlagSF
		if name == "SAR" || cnt < w {
			f |= FlagCF
		}
		if cnt == 1 {
			f |= FlagOF
		}
		return true, false, f
	case "ROL", "ROR", "RCL", "RCR":
		if cnt == 0 {
			return true, false, all
		}
		f := all &^ FlagOF // CF defined; PF, AF, ZF, SF unaffected
		if cnt == 1 {
			f |= FlagOF
		}
		return true, false, f
	case "SHLD", "SHRD":
		if cnt == 0 {
			return true, false, all
		}
		if cnt > w {
			return false, false, 0 // result and flags undefined
		}
		f := FlagCF | FlagPF | FlagZF | FlagSF
		if cnt == 1 {
			f |= FlagOF
		}
		return true, false, f
	case "IMUL":
		return true, false, FlagCF | FlagOF
	case "IMUL1", "MUL":
		return true, size != 1, FlagCF | FlagOF
	case "BT":
		return true, false, FlagCF
	case "BSF", "BSR":
		return b&sizeMask(size) != 0, false, FlagZF
	case "POPCNT":
		return true, false, all
	case "TZCNT", "LZCNT":
		return true, false, FlagCF | FlagZF
	}
	panic("diffCompare: unknown op " + name)
}

// diffOperand draws an operand biased towards edge cases.
func diffOperand(rng *rand.Rand) uint64 {
	switch rng.IntN(8) {
	case 0:
		return []uint64{0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000,
			0xFFFFFFFF, 1<<63 - 1, 1 << 63, ^uint64(0)}[rng.IntN(15)]
	case 1:
		return uint64(rng.IntN(64))
	case 2:
		return -uint64(rng.IntN(64))
	}
	return rng.Uint64()
}

// diffModelled returns what the interpreter matches on this machine's CPU
// beyond the architecturally defined state: every result (including 16-bit
// SHLD/SHRD by more than 16) and every status flag, except OF after a shift
// or rotate by more than one bit, whose undefined value follows no simple
// rule on this processor.
func diffModelled(name string, size uint8, c uint64) (cmpR bool, flags uint64) {
	n := c & 0x1F
	if size == 8 {
		n = c & 0x3F
	}
	switch name {
	case "SHL", "SHR", "SAR", "ROL", "ROR", "RCL", "RCR", "SHLD", "SHRD":
		if n > 1 {
			return true, FlagsArith &^ FlagOF
		}
	case "BSF", "BSR":
		return true, FlagsArith // destination unchanged for a zero source
	}
	return true, FlagsArith
}

var hostIntel = sync.OnceValue(func() bool {
	b, err := os.ReadFile("/proc/cpuinfo")
	return err == nil && strings.Contains(string(b), "GenuineIntel")
})

// TestDifferential runs ALU instructions on random operands both on the host
// CPU (native_amd64.s) and in the interpreter and compares the results and
// the architecturally defined flags. On an Intel host it also compares the
// undefined flags the interpreter models after this machine (diffModelled).
func TestDifferential(t *testing.T) {
	intel := hostIntel()
	if !intel {
		t.Log("host is not GenuineIntel: comparing architecturally defined state only")
	}
	iters := 4000
	if testing.Short() {
		iters = 500
	}
	m := newMachine(t)
	m.standardLayout()
	c := m.cpu
	rng := rand.New(rand.NewPCG(0x5eed, 0xc0de))
	for _, op := range nativeOps {
		t.Run(fmt.Sprintf("%s/size=%d", op.name, op.size), func(t *testing.T) {
			code := append(diffEncoding(op.name, op.size), 0xCC)
			m.write(testCode, code)
			bad := 0
			for i := 0; i < iters && bad < 5; i++ {
				a, b := diffOperand(rng), diffOperand(rng)
				cnt := uint64(rng.IntN(72))
				if rng.IntN(4) == 0 {
					cnt = rng.Uint64()
				}
				fin := rng.Uint64() & FlagsArith
				r, r2, fl := op.fn(a, b, cnt, fin|flagRsv1)

				c.Regs.GPR[RAX], c.Regs.GPR[RBX], c.Regs.GPR[RCX], c.Regs.GPR[RDX] = a, b, cnt, 0
				c.Regs.RIP, c.Regs.RFLAGS = testCode, fin|flagRsv1
				if ex := c.Run(); ex.Kind != ExitBreakpoint {
					t.Fatalf("% x: exit %v (%v)", code, ex.Kind, ex.Err)
				}
				cmpR, cmpR2, fmask := diffCompare(op.name, op.size, a, b, cnt)
				if intel {
					cmpR, fmask = diffModelled(op.name, op.size, cnt)
				}
				gotR, gotR2, gotF := c.Regs.GPR[RAX], c.Regs.GPR[RDX], c.Regs.RFLAGS
				if (cmpR && gotR != r) || (cmpR2 && gotR2 != r2) || gotF&fmask != fl&fmask {
					bad++
					t.Errorf("%s%d a=%#x b=%#x cl=%#x flags=%s: got rax=%#x rdx=%#x flags=%s want rax=%#x rdx=%#x flags=%s (compared %s)",
						op.name, op.size*8, a, b, cnt&0xFF, flagString(fin), gotR, gotR2, flagString(gotF&fmask),
						r, r2, flagString(fl&fmask), flagString(fmask))
				}
			}
		})
	}
}
