package cpu

import (
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

// TestBlockEquivalence runs the hot loop and the fault test program with
// and without the block cache and compares everything the interpreter
// exposes: registers, clock, instruction count and every MMU counter, at
// each of a series of deadlines (so the deadline falls inside blocks).
func TestBlockEquivalence(t *testing.T) {
	type state struct {
		regs   Regs
		clock  uint64
		instrs uint64
		stats  tlb.Stats
		exit   ExitKind
	}
	run := func(noBlocks bool) []state {
		m := newHotLoop(t)
		c := m.cpu
		c.noBlocks = noBlocks
		var out []state
		for i := 0; i < 300; i++ {
			c.Deadline = c.Clock + uint64(7+i%13)
			ex := c.Run()
			out = append(out, state{c.Regs, c.Clock, c.Instructions, c.MMU.Stats, ex.Kind})
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
