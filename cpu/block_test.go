package cpu

import (
	"fmt"
	"testing"

	"github.com/tlbemu/emu/tlb"
)

// TestBlockSelfModifyingNext: a store that rewrites the next instruction of
// the running block takes effect at once, and a store into a block that
// already ran makes the next entry into it run the new bytes.
func TestBlockSelfModifyingNext(t *testing.T) {
	m := newMachine(t)
	m.mapPage(testCode, pteUser) // writable code
	m.mapPage(testStackTop-pageSize, pteUser)
	c := m.cpu
	// 0: mov byte [rip+1], 7   c6 05 01 00 00 00 07 (the imm8 of the next instruction)
	// 7: mov al, 5             b0 05  → mov al, 7
	// 9: int3
	m.write(testCode, []byte{0xc6, 0x05, 0x01, 0x00, 0x00, 0x00, 0x07, 0xb0, 0x05, 0xcc})
	c.Regs.RIP, c.Regs.GPR[RSP] = testCode, testRSP
	if ex := c.Run(); ex.Kind != ExitBreakpoint || c.Regs.GPR[RAX] != 7 || c.Instructions != 3 {
		t.Fatalf("exit %v rax=%d instructions=%d want breakpoint, 7, 3", ex.Kind, c.Regs.GPR[RAX], c.Instructions)
	}

	// A loop that runs block B, patches B's immediate and runs it again:
	//  0x100: mov ecx, 2                b9 02 00 00 00
	//  0x105: call B                    e8 0f 00 00 00   (B = 0x119)
	//  0x10a: mov byte [rip+10], 9      c6 05 0a 00 00 00 09  (0x11b: B's imm)
	//  0x111: dec ecx                   ff c9
	//  0x113: jnz 0x105                 75 f0
	//  0x115: int3 ×4
	//  0x119: B: add eax, 1 → imm       83 c0 01
	//  0x11c: ret                       c3
	code := []byte{
		0xb9, 0x02, 0x00, 0x00, 0x00,
		0xe8, 0x0f, 0x00, 0x00, 0x00,
		0xc6, 0x05, 0x0a, 0x00, 0x00, 0x00, 0x09,
		0xff, 0xc9,
		0x75, 0xf0,
		0xcc, 0xcc, 0xcc, 0xcc,
		0x83, 0xc0, 0x01,
		0xc3,
	}
	m.write(testCode+0x100, code)
	c.Regs.RIP, c.Regs.GPR[RAX] = testCode+0x100, 0
	if ex := c.Run(); ex.Kind != ExitBreakpoint || c.Regs.GPR[RAX] != 1+9 {
		t.Fatalf("exit %v rax=%d want breakpoint, 10 (1 from the first pass, 9 after the patch)", ex.Kind, c.Regs.GPR[RAX])
	}
	// The loader rewrites B (phys.Memory.Write): the cached block is dropped.
	m.write(testCode+0x119, []byte{0x83, 0xc0, 0x20, 0xcc}) // add eax, 0x20; int3
	c.Regs.RIP, c.Regs.GPR[RAX] = testCode+0x119, 0
	if ex := c.Run(); ex.Kind != ExitBreakpoint || c.Regs.GPR[RAX] != 0x20 {
		t.Fatalf("after the loader's write: exit %v rax=%#x want breakpoint, 0x20", ex.Kind, c.Regs.GPR[RAX])
	}
}

// TestBlockFaultMidBlock: a fault in the middle of a block retires exactly
// the instructions before it and leaves RIP at the faulting one; after the
// fault is resolved the block resumes there.
func TestBlockFaultMidBlock(t *testing.T) {
	m := newMachine(t)
	m.standardLayout()
	c := m.cpu
	// 0: inc rcx; 3: inc rcx; 6: mov [rbx], rax (unmapped); 9: inc rcx; c: int3
	m.write(testCode, []byte{0x48, 0xff, 0xc1, 0x48, 0xff, 0xc1, 0x48, 0x89, 0x03, 0x48, 0xff, 0xc1, 0xcc})
	c.Regs.GPR[RBX], c.Regs.GPR[RAX] = testUnmapped, 0x55
	ex := c.Run()
	if ex.Kind != ExitPageFault || ex.Addr != testUnmapped || ex.ErrCode != tlb.PFErrUser|tlb.PFErrWrite {
		t.Fatalf("exit %v addr=%#x err=%#x want #PF on a write to %#x", ex.Kind, ex.Addr, ex.ErrCode, uint64(testUnmapped))
	}
	if c.Regs.RIP != testCode+6 || c.Instructions != 2 || c.Regs.GPR[RCX] != 2 {
		t.Fatalf("rip=%#x instructions=%d rcx=%d want %#x, 2, 2", c.Regs.RIP, c.Instructions, c.Regs.GPR[RCX], uint64(testCode+6))
	}
	m.mapPage(testUnmapped, pteUser)
	if ex := c.Run(); ex.Kind != ExitBreakpoint {
		t.Fatalf("after mapping: exit %v (%v)", ex.Kind, ex.Err)
	}
	if c.Instructions != 5 || c.Regs.GPR[RCX] != 3 || m.read64(testUnmapped) != 0x55 {
		t.Fatalf("instructions=%d rcx=%d mem=%#x want 5, 3, 0x55", c.Instructions, c.Regs.GPR[RCX], m.read64(testUnmapped))
	}

	// A #DE in the middle: the same rule.
	// 0x40: inc rcx; 0x43: div rdx (rdx = 0); 0x46: inc rcx
	m.write(testCode+0x40, []byte{0x48, 0xff, 0xc1, 0x48, 0xf7, 0xf2, 0x48, 0xff, 0xc1, 0xcc})
	c.Regs.RIP, c.Regs.GPR[RDX], c.Regs.GPR[RCX] = testCode+0x40, 0, 0
	n := c.Instructions
	if ex := c.Run(); ex.Kind != ExitDE || c.Regs.RIP != testCode+0x43 || c.Instructions-n != 1 || c.Regs.GPR[RCX] != 1 {
		t.Fatalf("exit %v rip=%#x retired=%d rcx=%d want #DE at %#x, 1, 1", ex.Kind, c.Regs.RIP, c.Instructions-n, c.Regs.GPR[RCX], uint64(testCode+0x43))
	}
}

// runState is what the equivalence tests compare after a Run: registers,
// clock, instruction count, every MMU counter and the exit.
type runState struct {
	regs   Regs
	clock  uint64
	instrs uint64
	stats  tlb.Stats
	exit   ExitKind
}

// TestBlockEquivalence runs the hot loop and the fault test program with
// and without the block cache and compares everything the interpreter
// exposes: registers, clock, instruction count and every MMU counter, at
// each of a series of deadlines (so the deadline falls inside blocks), with
// a change of Costs half way.
func TestBlockEquivalence(t *testing.T) {
	run := func(noBlocks bool) []runState {
		m := newHotLoop(t)
		c := m.cpu
		c.noBlocks = noBlocks
		var out []runState
		for i := 0; i < 300; i++ {
			if i == 150 { // blocks hold per-instruction costs: a change must reach them
				c.Costs.UserALU, c.Costs.UserStore = 3, 2
			}
			c.Deadline = c.Clock + uint64(7+i%13)
			ex := c.Run()
			out = append(out, runState{c.Regs, c.Clock, c.Instructions, c.MMU.Stats, ex.Kind})
		}
		return out
	}
	with, without := run(false), run(true)
	for i := range with {
		if with[i] != without[i] {
			t.Fatalf("run %d differs:\nblocks    %+v\nno blocks %+v", i, with[i], without[i])
		}
	}
}

// specialForms exercises every specialised form (fast.go) at both sizes,
// with register and immediate sources; each flag producer is followed by
// PUSHFQ, so the stack holds every materialised RFLAGS.
var specialForms = [][]byte{
	{0x48, 0x89, 0xd8}, // mov rax, rbx
	{0x89, 0xc1},       // mov ecx, eax
	{0x48, 0xc7, 0xc2, 0xf0, 0xff, 0xff, 0xff}, // mov rdx, -16
	{0xbf, 0x78, 0x56, 0x34, 0x92},             // mov edi, 0x92345678
	{0x48, 0x8b, 0x33},                         // mov rsi, [rbx]
	{0x8b, 0x73, 0x08},                         // mov esi, [rbx+8]
	{0x48, 0x89, 0x73, 0x10},                   // mov [rbx+16], rsi
	{0x89, 0x53, 0x18},                         // mov [rbx+24], edx
	{0x48, 0x8d, 0x44, 0x8b, 0x08},             // lea rax, [rbx+rcx*4+8]
	{0x48, 0x8d, 0x05, 0xf9, 0xff, 0xff, 0xff}, // lea rax, [rip-7] (this instruction)
	{0x48, 0x8b, 0x05, 0xf2, 0xff, 0xff, 0xff}, // mov rax, [rip-14] (the LEA's bytes)
	{0x0f, 0xb6, 0x73, 0x01},                   // movzx esi, byte [rbx+1]
	{0x48, 0x0f, 0xb7, 0x7b, 0x06},             // movzx rdi, word [rbx+6]
	{0x0f, 0xb6, 0xc3},                         // movzx eax, bl
	{0x0f, 0xb7, 0xd7},                         // movzx edx, di
	{0x0f, 0xb6, 0xcc},                         // movzx ecx, ah (not specialised)
	{0x0f, 0x1f, 0x44, 0x00, 0x00},             // nop dword [rax+rax]
	{0x48, 0xc1, 0xe8, 0x05}, {0x9c},           // shr rax, 5
	{0xc1, 0xe7, 0x1f}, {0x9c}, // shl edi, 31
	{0x48, 0xd3, 0xfa}, {0x9c}, // sar rdx, cl
	{0xc1, 0xc0, 0x00}, {0x9c}, // rol eax, 0 (flags untouched, zero-extended)
	{0x48, 0xd1, 0xd2}, {0x9c}, // rcl rdx, 1
	{0xc1, 0xce, 0x07}, {0x9c}, // ror esi, 7
	{0x48, 0x83, 0x03, 0x01}, {0x9c}, // add qword [rbx], 1
	{0x29, 0x43, 0x08}, {0x9c}, // sub [rbx+8], eax
	{0x80, 0x73, 0x03, 0x5a}, {0x9c}, // xor byte [rbx+3], 0x5a
	{0x48, 0x11, 0x0b}, {0x9c}, // adc [rbx], rcx
	{0x66, 0x83, 0x6b, 0x0e, 0x07}, {0x9c}, // sub word [rbx+14], 7
	{0x48, 0x09, 0x44, 0x8b, 0x04}, {0x9c}, // or [rbx+rcx*4+4], rax
	{0xf0, 0x48, 0x01, 0x43, 0x10}, {0x9c}, // lock add [rbx+16], rax (not specialised)
	{0x48, 0x21, 0x83, 0xfc, 0x0f, 0x00, 0x00}, {0x9c}, // and [rbx+0xffc], rax (crosses into the next page)
	{0x00, 0x63, 0x05}, {0x9c}, // add [rbx+5], ah
	{0x3c, 0x80}, {0x9c}, // cmp al, 0x80
	{0x80, 0xfe, 0x7f}, {0x9c}, // cmp sil, 0x7f (REX-less: dh)
	{0x40, 0x80, 0xfe, 0x7f}, {0x9c}, // cmp sil, 0x7f
	{0x66, 0x39, 0xd0}, {0x9c}, // cmp ax, dx
	{0x84, 0xdb}, {0x9c}, // test bl, bl
	{0x66, 0xa9, 0x01, 0x80}, {0x9c}, // test ax, 0x8001
	{0x38, 0xe0}, {0x9c}, // cmp al, ah (not specialised)
	{0x74, 0x00},               // je +0
	{0x48, 0x01, 0xd0}, {0x9c}, // add rax, rdx
	{0x01, 0xf8}, {0x9c}, // add eax, edi
	{0x48, 0x83, 0xc0, 0x7f}, {0x9c}, // add rax, 127
	{0x83, 0xc7, 0x80}, {0x9c}, // add edi, -128
	{0x48, 0x29, 0xf8}, {0x9c}, // sub rax, rdi
	{0x29, 0xc7}, {0x9c}, // sub edi, eax
	{0x48, 0x83, 0xe8, 0x01}, {0x9c}, // sub rax, 1
	{0x2d, 0x00, 0x00, 0x00, 0x80}, {0x9c}, // sub eax, 0x80000000
	{0x48, 0x39, 0xd0}, {0x9c}, // cmp rax, rdx
	{0x39, 0xc2}, {0x9c}, // cmp edx, eax
	{0x48, 0x83, 0xf8, 0x05}, {0x9c}, // cmp rax, 5
	{0x83, 0xfa, 0xff}, {0x9c}, // cmp edx, -1
	{0x48, 0x21, 0xd0}, {0x9c}, // and rax, rdx
	{0x83, 0xe7, 0x0f}, {0x9c}, // and edi, 15
	{0x48, 0x09, 0xf8}, {0x9c}, // or rax, rdi
	{0x0d, 0x00, 0x01, 0x00, 0x00}, {0x9c}, // or eax, 256
	{0x48, 0x31, 0xf0}, {0x9c}, // xor rax, rsi
	{0x83, 0xf0, 0xff}, {0x9c}, // xor eax, -1
	{0x48, 0x85, 0xc0}, {0x9c}, // test rax, rax
	{0xa9, 0x00, 0x00, 0x00, 0x80}, {0x9c}, // test eax, 0x80000000
	{0x48, 0x0f, 0xaf, 0xc2}, {0x9c}, // imul rax, rdx
	{0x0f, 0xaf, 0xf8}, {0x9c}, // imul edi, eax
	{0x48, 0x0f, 0xaf, 0x03}, {0x9c}, // imul rax, [rbx]
	{0x0f, 0xaf, 0x7b, 0x08}, {0x9c}, // imul edi, [rbx+8]
	{0xf9},                     // stc
	{0x48, 0xff, 0xc0}, {0x9c}, // inc rax (CF kept)
	{0xff, 0xca}, {0x9c}, // dec edx
	{0x41, 0x50},                   // push r8
	{0x5e},                         // pop rsi
	{0x41, 0x59},                   // pop r9 (a pushed RFLAGS)
	{0xe8, 0x02, 0x00, 0x00, 0x00}, // call +2 (the ret)
	{0xeb, 0x01},                   // jmp +1 (after returning: over the ret)
	{0xc3},                         // ret
	{0x75, 0x00},                   // jnz +0
	// Every condition class after CMP (unequal and equal operands), TEST
	// and INC (cond's slow path); a taken jcc +0 charges the taken-branch
	// cycles, so a wrong condition shows in the clock.
	{0x48, 0x39, 0xd0}, // cmp rax, rdx
	{0x72, 0x00}, {0x73, 0x00}, {0x74, 0x00}, {0x75, 0x00}, {0x76, 0x00}, {0x77, 0x00},
	{0x7c, 0x00}, {0x7d, 0x00}, {0x7e, 0x00}, {0x7f, 0x00},
	{0x39, 0xc0}, // cmp eax, eax
	{0x72, 0x00}, {0x74, 0x00}, {0x76, 0x00}, {0x7c, 0x00}, {0x7e, 0x00},
	{0x48, 0x85, 0xc0}, // test rax, rax
	{0x74, 0x00}, {0x72, 0x00}, {0x76, 0x00}, {0x7c, 0x00}, {0x7e, 0x00},
	{0x48, 0x85, 0xd2}, // test rdx, rdx (one E/NE per TEST: a JE and a JNE both wrong would cancel)
	{0x74, 0x00},
	{0x48, 0xff, 0xc0}, // inc rax
	{0x72, 0x00}, {0x74, 0x00}, {0x76, 0x00}, {0x7c, 0x00}, {0x7f, 0x00},
	{0xcc}, // int3
}

// newSpecialFormsMachine is a test machine with specialForms at testCode
// and the two data words they read at testData.
func newSpecialFormsMachine(t *testing.T) *machine {
	t.Helper()
	var code []byte
	for _, insn := range specialForms {
		code = append(code, insn...)
	}
	m := newMachine(t)
	m.standardLayout()
	m.write(testCode, code)
	m.write64(testData, 0x8000000000000001)
	m.write64(testData+8, 0xfffffffe7fffffff)
	return m
}

// TestSpecialisedEquivalence runs specialForms with the specialised
// handlers and with the generic ones only, with and without blocks, and
// compares registers, flags, memory (data and stack) and counters.
func TestSpecialisedEquivalence(t *testing.T) {
	type state struct {
		regs   Regs
		clock  uint64
		instrs uint64
		stats  tlb.Stats
		mem    string
	}
	run := func(noSpecialise, noBlocks bool) state {
		m := newSpecialFormsMachine(t)
		c := m.cpu
		c.noSpecialise, c.noBlocks = noSpecialise, noBlocks
		c.Regs.GPR[RBX], c.Regs.GPR[RCX], c.Regs.GPR[R8] = testData, 3, 0x1234
		if ex := c.Run(); ex.Kind != ExitBreakpoint {
			t.Fatalf("exit %v (%v) at %#x", ex.Kind, ex.Err, c.Regs.RIP)
		}
		mem := string(m.read(testData, 32)) + string(m.read(testData+0xff0, 32)) + string(m.read(testRSP-0x200, 0x200))
		return state{c.Regs, c.Clock, c.Instructions, c.MMU.Stats, mem}
	}
	want := run(true, true)
	for _, v := range [][2]bool{{false, true}, {true, false}, {false, false}} {
		if got := run(v[0], v[1]); got != want {
			t.Errorf("noSpecialise=%v noBlocks=%v:\n got %+v\nwant %+v", v[0], v[1], got, want)
		}
	}
	if want.instrs != uint64(len(specialForms)) {
		t.Errorf("retired %d instructions, want %d", want.instrs, len(specialForms))
	}
}

// TestFetchRule: the iTLB is looked up once per 16-byte fetch block, again
// after every taken branch, and a deadline between two instructions of one
// block adds no lookup.
func TestFetchRule(t *testing.T) {
	lookups := func(c *CPU) uint64 {
		c.MMU.Settle()
		s := &c.MMU.Stats
		return s.ITLBHits + s.ITLBMissesSTLBHit + s.ITLBMissesWalk
	}
	nops := make([]byte, 40) // 0x00-0x27: NOPs; 0x28: int3
	for i := range nops {
		nops[i] = 0x90
	}
	nops = append(nops, 0xcc)
	// 0x100: mov ecx, 5; 0x105: dec ecx; 0x107: jnz 0x105; 0x109: int3
	loop := []byte{0xb9, 0x05, 0x00, 0x00, 0x00, 0xff, 0xc9, 0x75, 0xfc, 0xcc}
	for _, tc := range []struct {
		name     string
		code     []byte
		at       uint64
		deadline uint64 // cycles per Run (0: one Run)
		want     uint64
	}{
		// Fetch blocks 0x00, 0x10, 0x20.
		{"straight", nops, 0, 0, 3},
		{"straight, a deadline at every instruction", nops, 0, 1, 3},
		// Block 0x100 (mov, dec, jnz), then 4 taken jnz back into it.
		{"loop", loop, 0x100, 0, 5},
		{"loop, a deadline at every instruction", loop, 0x100, 1, 5},
		// mov ecx, 5 at 0x10c spans blocks 0x100 and 0x110; dec, jnz and
		// int3 lie in 0x110, entered again by 4 taken jnz.
		{"spanning", loop, 0x10c, 0, 2 + 4},
		// mov eax, 1 at 0xffe crosses into the second page: one lookup on
		// each page; the int3 after it (0x1003) is looked up afresh.
		{"page-crossing", []byte{0xb8, 0x01, 0x00, 0x00, 0x00, 0xcc}, 0xffe, 0, 3},
	} {
		for _, noBlocks := range []bool{false, true} {
			m := newMachine(t)
			m.standardLayout()
			c := m.cpu
			c.noBlocks = noBlocks
			m.write(testCode+tc.at, tc.code)
			before := lookups(c)
			c.Regs.RIP = testCode + tc.at
			for {
				if tc.deadline != 0 {
					c.Deadline = c.Clock + tc.deadline
				}
				ex := c.Run()
				if ex.Kind == ExitBreakpoint {
					break
				}
				if ex.Kind != ExitDeadline {
					t.Fatalf("%s: exit %v (%v)", tc.name, ex.Kind, ex.Err)
				}
			}
			if got := lookups(c) - before; got != tc.want {
				t.Errorf("%s (noBlocks=%v): %d iTLB lookups, want %d", tc.name, noBlocks, got, tc.want)
			}
		}
	}
}

// TestBlockDeadlineEquivalence runs specialForms (a block holds several of
// its conditional branches, taken and not, and every form runBlock runs
// inline) with and without blocks, stopping at a deadline after every few
// cycles, so that the deadline falls at each instruction of each block,
// and compares the state after every Run.
func TestBlockDeadlineEquivalence(t *testing.T) {
	run := func(noBlocks bool) []runState {
		m := newSpecialFormsMachine(t)
		c := m.cpu
		c.noBlocks = noBlocks
		var out []runState
		for pass := 0; pass < 3; pass++ {
			c.Regs.RIP, c.Regs.GPR[RSP] = testCode, testRSP
			c.Regs.GPR[RBX], c.Regs.GPR[RCX], c.Regs.GPR[R8] = testData, 3, 0x1234
			for i := 0; ; i++ {
				c.Deadline = c.Clock + uint64(1+(7*i+pass)%41)
				ex := c.Run()
				out = append(out, runState{c.Regs, c.Clock, c.Instructions, c.MMU.Stats, ex.Kind})
				if ex.Kind == ExitBreakpoint {
					break
				}
				if ex.Kind != ExitDeadline || i > 10*len(specialForms) {
					t.Fatalf("noBlocks=%v: exit %v (%v) at %#x", noBlocks, ex.Kind, ex.Err, c.Regs.RIP)
				}
			}
		}
		return out
	}
	with, without := run(false), run(true)
	if len(with) != len(without) {
		t.Fatalf("%d runs with blocks, %d without", len(with), len(without))
	}
	for i := range with {
		if with[i] != without[i] {
			t.Fatalf("run %d differs:\nblocks    %+v\nno blocks %+v", i, with[i], without[i])
		}
	}
}

// TestBlockEquivalenceOwned is TestBlockEquivalence with ownership checks
// (OwnParallel and OwnAcquire), which runBlock's inline loads and fetch
// repeats answer for verified frames: the same state after every Run,
// ownership table included.
func TestBlockEquivalenceOwned(t *testing.T) {
	for _, mode := range []OwnMode{OwnParallel, OwnAcquire} {
		run := func(noBlocks bool) ([]runState, []uint16) {
			m := ownHotLoop(t)
			c := m.cpu
			c.Own, c.noBlocks = mode, noBlocks
			var out []runState
			for i := 0; i < 300; i++ {
				c.Deadline = c.Clock + uint64(7+i%13)
				ex := c.Run()
				out = append(out, runState{c.Regs, c.Clock, c.Instructions, c.MMU.Stats, ex.Kind})
			}
			return out, append([]uint16(nil), c.Owners.own...)
		}
		with, ownWith := run(false)
		without, ownWithout := run(true)
		for i := range with {
			if with[i] != without[i] {
				t.Fatalf("mode %v run %d differs:\nblocks    %+v\nno blocks %+v", mode, i, with[i], without[i])
			}
		}
		if fmt.Sprint(ownWith) != fmt.Sprint(ownWithout) {
			t.Errorf("mode %v: the ownership tables differ", mode)
		}
		if with[len(with)-1].exit != ExitDeadline {
			t.Errorf("mode %v: last exit %v, want deadline (the loop touches only owned frames)", mode, with[len(with)-1].exit)
		}
	}
}
