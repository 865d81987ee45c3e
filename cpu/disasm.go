package cpu

import (
	"strings"

	"golang.org/x/arch/x86/x86asm"
)

// Disassembly of the few instructions x86asm does not know, for error
// messages and diagnostics only (none of them is executed: the CPUID model
// advertises neither ADX, RDPID nor AVX, so they are #UD as on such a CPU).
// x86asm decodes adcx/adox/rdpid as a lone prefix ("data16", "rep"), and
// vzeroupper followed by more bytes as truncated.

// disasmFallback disassembles b if it starts with one of:
//   - adcx r, r/m (66 [REX] 0F 38 F6 /r) and adox (F3 [REX] 0F 38 F6 /r),
//     SDM Vol. 2A "ADCX", Vol. 2A "ADOX";
//   - rdpid r64 (F3 [REX] 0F C7 /7, mod = 11), SDM Vol. 2B "RDPID";
//   - vzeroupper / vzeroall (VEX.128/256.0F.WIG 77, two- or three-byte
//     VEX), SDM Vol. 2C "VZEROUPPER", "VZEROALL".
//
// rip is the instruction's address (for a RIP-relative operand). It returns
// the Intel-syntax text and the length, or ok=false.
func disasmFallback(b []byte, rip uint64) (text string, n int, ok bool) {
	if text, n, ok := vzero(b); ok {
		return text, n, true
	}
	if len(b) < 4 || b[0] != 0x66 && b[0] != 0xf3 {
		return "", 0, false
	}
	i := 1
	var rex byte
	if b[i]&0xf0 == 0x40 {
		rex = b[i]
		i++
	}
	switch {
	case len(b) >= i+4 && b[i] == 0x0f && b[i+1] == 0x38 && b[i+2] == 0xf6:
		// ADC r, r/m (13 /r) has the same ModRM operands; let x86asm
		// decode and print them, then rename. The mandatory prefix and
		// 0F 38 F6 are three bytes more than 13, so a RIP-relative
		// operand is printed against rip+3.
		alt := make([]byte, 0, 16)
		if rex != 0 {
			alt = append(alt, rex)
		}
		alt = append(alt, 0x13)
		alt = append(alt, b[i+3:]...)
		inst, err := x86asm.Decode(alt, 64)
		if err != nil || inst.Op != x86asm.ADC || inst.Len < 2 {
			return "", 0, false
		}
		s := x86asm.IntelSyntax(inst, rip+3, nil)
		name := "adcx"
		if b[0] == 0xf3 {
			name = "adox"
		}
		return name + strings.TrimPrefix(s, "adc"), inst.Len + 3, true
	case b[0] == 0xf3 && len(b) >= i+3 && b[i] == 0x0f && b[i+1] == 0xc7 && b[i+2]>>3 == 0x1f:
		// ModRM mod = 11, reg = 7: rdpid, a 64-bit register in 64-bit mode.
		r := b[i+2]&7 | rex&1<<3
		return "rdpid " + strings.ToLower((x86asm.RAX + x86asm.Reg(r)).String()), i + 3, true
	}
	return "", 0, false
}

// vzero recognises vzeroupper (VEX.L = 0) and vzeroall (VEX.L = 1): map
// 0F, pp = 00, vvvv = 1111 (unused, must be all ones).
func vzero(b []byte) (string, int, bool) {
	name := func(l byte) string {
		if l != 0 {
			return "vzeroall"
		}
		return "vzeroupper"
	}
	switch {
	case len(b) >= 3 && b[0] == 0xc5 && b[1]&0x7b == 0x78 && b[2] == 0x77:
		return name(b[1] & 4), 3, true
	case len(b) >= 4 && b[0] == 0xc4 && b[1]&0x1f == 1 && b[2]&0x7b == 0x78 && b[3] == 0x77:
		return name(b[2] & 4), 4, true
	}
	return "", 0, false
}
