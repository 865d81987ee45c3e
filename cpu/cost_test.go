package cpu

import (
	"testing"
)

// testCosts has a distinct value per class, so a test can tell which class
// an instruction was charged.
func testCosts() Costs {
	return Costs{
		UserALU: 2, UserLoad: 3, UserStore: 5, UserBranch: 11, UserBranchTaken: 13,
		UserMul: 7, UserDiv32: 23, UserDiv64: 50, UserSseFP: 17, UserSseDiv: 19, UserSseInt: 29,
		UserX87: 37, UserX87Div: 41, UserLocked: 22, UserString: 31, UserOther: 43,
	}
}

// TestCostClasses checks the class and memory access translation assigns to
// a representative of each class.
func TestCostClasses(t *testing.T) {
	const ld, st = costMemLoad, costMemStore
	cases := []struct {
		asm, hex string
		cls, mem uint8
	}{
		{"add rax, rbx", "4801d8", clsALU, 0},
		{"add [rsi], rax", "480106", clsALU, ld | st},
		{"cmp [rsi], rax", "483906", clsALU, ld},
		{"add rax, [rsi]", "480306", clsALU, ld},
		{"lea rax, [rbx+8]", "488d4308", clsALU, 0},
		{"mov rax, [rbx]", "488b03", clsLoad, 0},
		{"movzx eax, byte [rbx]", "0fb603", clsLoad, 0},
		{"mov [rbx], rax", "488903", clsStore, 0},
		{"mov dword [rbx], 1", "c70301000000", clsStore, 0},
		{"push rax", "50", clsStore, 0},
		{"pop rax", "58", clsLoad, 0},
		{"jmp rel8", "eb00", clsBranch, 0},
		{"jne rel32", "0f8500000000", clsBranch, 0},
		{"call rel32", "e800000000", clsBranch, st},
		{"ret", "c3", clsBranch, ld},
		{"imul rax, rbx", "480fafc3", clsMul, 0},
		{"mul rbx", "48f7e3", clsMul, 0},
		{"div rbx", "48f7f3", clsDiv64, 0},
		{"idiv ebx", "f7fb", clsDiv32, 0},
		{"div qword [rsi]", "48f736", clsDiv64, ld},
		{"addsd xmm0, xmm1", "f20f58c1", clsSseFP, 0},
		{"mulsd xmm0, [rsi]", "f20f5906", clsSseFP, ld},
		{"divsd xmm0, xmm1", "f20f5ec1", clsSseDiv, 0},
		{"sqrtsd xmm0, xmm1", "f20f51c1", clsSseDiv, 0},
		{"paddd xmm0, xmm1", "660ffec1", clsSseInt, 0},
		{"movdqa [rsi], xmm0", "660f7f06", clsSseInt, st},
		{"fadd st0, st1", "d8c1", clsX87, 0},
		{"fdiv st0, st1", "d8f1", clsX87Div, 0},
		{"fdiv qword [rsi]", "dc36", clsX87Div, ld},
		{"fsqrt", "d9fa", clsX87Div, 0},
		{"fld qword [rsi]", "dd06", clsX87, ld},
		{"fstp qword [rsi]", "dd1e", clsX87, st},
		{"lock add [rsi], rax", "f0480106", clsLocked, ld | st},
		{"xchg [rsi], rax", "488706", clsLocked, ld | st},
		{"movsb", "a4", clsString, 0},
		{"rep movsb", "f3a4", clsRep, 0},
		{"cpuid", "0fa2", clsOther, 0},
		{"syscall", "0f05", clsOther, 0},
	}
	for _, tc := range cases {
		u, ok := decodeHex(t, tc.hex, tc.asm)
		if !ok {
			continue
		}
		if got, want := u.cost, costIndex(tc.cls, tc.mem); got != want {
			t.Errorf("%s: cost class %d mem %d, want class %d mem %d", tc.asm, got>>2, got&3, tc.cls, tc.mem)
		}
	}
}

// TestCostTab checks the table Run charges from: the class cost, raised to
// the cost of the memory access it makes, except for the classes that are
// the access.
func TestCostTab(t *testing.T) {
	c := &CPU{Costs: testCosts()}
	c.buildCostTab()
	k := c.Costs
	for _, tc := range []struct {
		cls, mem uint8
		want     uint32
	}{
		{clsALU, 0, k.UserALU},
		{clsALU, costMemLoad, k.UserLoad},
		{clsALU, costMemLoad | costMemStore, k.UserStore},
		{clsDiv64, costMemLoad, k.UserDiv64},
		{clsLocked, costMemLoad | costMemStore, k.UserLocked},
		{clsRep, 0, 0},
		{clsOther, 0, k.UserOther},
	} {
		if got := c.costTab[costIndex(tc.cls, tc.mem)]; got != tc.want {
			t.Errorf("class %d mem %d: %d cycles, want %d", tc.cls, tc.mem, got, tc.want)
		}
	}
	if c.takenExtra != uint64(k.UserBranchTaken-k.UserBranch) {
		t.Errorf("taken extra %d, want %d", c.takenExtra, k.UserBranchTaken-k.UserBranch)
	}
	c.Costs.UserBranchTaken = 1 // below UserBranch: a taken branch costs UserBranch
	c.buildCostTab()
	if c.takenExtra != 0 {
		t.Errorf("taken extra %d with UserBranchTaken < UserBranch, want 0", c.takenExtra)
	}
}
