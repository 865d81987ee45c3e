package cpu

import (
	"errors"
	"testing"

	"github.com/tlbemu/emu/tlb"
)

// TestInvlpgbUserMode: INVLPGB and TLBSYNC at CPL 3 raise #UD on a CPU
// model without them (skylake-sp) and #GP(0) where they exist (zen4); CPUID
// Fn8000_0008 reports the feature and the count limit only there.
func TestInvlpgbUserMode(t *testing.T) {
	for _, code := range [][]byte{{0x0f, 0x01, 0xfe}, {0x0f, 0x01, 0xff}} {
		for _, zen := range []bool{false, true} {
			m := newMachine(t)
			if zen {
				m.mmu = tlb.New(m.mem, tlb.Zen4Config())
				m.mmu.WriteCR3(uint64(m.pml4.Addr()))
				m.cpu = New(0, m.mem, m.mmu, DefaultCosts())
				m.cpu.Deadline = 1 << 62
			}
			m.standardLayout()
			m.write(testCode, code)
			ex := m.cpu.Run()
			want := ExitUD
			if zen {
				want = ExitGP
			}
			if ex.Kind != want {
				t.Errorf("% x zen=%v: exit %v, want %v", code, zen, ex.Kind, want)
			}
			if !zen && !errors.Is(ex.Err, ErrUndefined) {
				t.Errorf("% x: err %v, want an architectural #UD", code, ex.Err)
			}
			if m.cpu.Regs.RIP != testCode {
				t.Errorf("% x zen=%v: rip %#x, want %#x", code, zen, m.cpu.Regs.RIP, uint64(testCode))
			}
			m.cpu.Regs.GPR[RAX] = 0x80000008
			m.cpu.cpuid()
			ebx, edx := m.cpu.Regs.GPR[RBX], m.cpu.Regs.GPR[RDX]
			if zen && (ebx&(1<<3) == 0 || edx&0xffff != uint64(tlb.Zen4Config().InvlpgbCountMax-1)) {
				t.Errorf("zen CPUID 0x80000008: ebx %#x edx %#x, want INVLPGB and count-1", ebx, edx)
			}
			if !zen && (ebx != 0 || edx != 0) {
				t.Errorf("skylake CPUID 0x80000008: ebx %#x edx %#x, want 0", ebx, edx)
			}
		}
	}
}
