package cpu

import "testing"

// TestDisasmFallback: the instructions x86asm cannot decode are shown with
// their name, operands and exact length in the #UD error, not as "(bad)"
// with the following bytes.
func TestDisasmFallback(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		n    int
		want string
	}{
		{[]byte{0x66, 0x0f, 0x38, 0xf6, 0xc1, 0x90}, 5, "adcx eax, ecx"},
		{[]byte{0x66, 0x48, 0x0f, 0x38, 0xf6, 0xc1}, 6, "adcx rax, rcx"},
		{[]byte{0x66, 0x4c, 0x0f, 0x38, 0xf6, 0x07, 0x90}, 6, "adcx r8, qword ptr [rdi]"},
		{[]byte{0xf3, 0x0f, 0x38, 0xf6, 0x44, 0x24, 0x08}, 7, "adox eax, dword ptr [rsp+0x8]"},
		// adcx eax, [rip+0x10]: RIP-relative against the end of this 9-byte
		// instruction.
		{[]byte{0x66, 0x0f, 0x38, 0xf6, 0x05, 0x10, 0x00, 0x00, 0x00}, 9, "adcx eax, dword ptr [rip+0x10]"},
		{[]byte{0xf3, 0x0f, 0xc7, 0xf8, 0x90}, 4, "rdpid rax"},
		{[]byte{0xf3, 0x41, 0x0f, 0xc7, 0xf9}, 5, "rdpid r9"},
		{[]byte{0xc5, 0xf8, 0x77, 0x90, 0x90, 0x90}, 3, "vzeroupper"},
		{[]byte{0xc5, 0xfc, 0x77, 0xc3}, 3, "vzeroall"},
		{[]byte{0xc4, 0xe1, 0x78, 0x77, 0xc3}, 4, "vzeroupper"},
	} {
		e := newUDError(0x401000, tc.b, false)
		if e.Disasm != tc.want || len(e.Bytes) != tc.n {
			t.Errorf("% x: %q (%d bytes), want %q (%d bytes)", tc.b, e.Disasm, len(e.Bytes), tc.want, tc.n)
		}
	}
	// Not one of them: rdpid needs mod = 11, 0F C7 /7 with memory is
	// vmptrst/rdseed territory and stays x86asm's.
	if _, _, ok := disasmFallback([]byte{0xf3, 0x0f, 0xc7, 0x38}, 0); ok {
		t.Error("f3 0f c7 38 taken for rdpid")
	}
	if _, _, ok := disasmFallback([]byte{0xc5, 0xf9, 0x77}, 0); ok {
		t.Error("c5 f9 77 (pp = 66) taken for vzeroupper")
	}
}
