package cpu

import (
	"errors"
	"sync"
	"testing"

	"github.com/tlbemu/emu/tlb"
)

// hotLoop is a loop of loads, stores, ALU operations, calls and branches
// that never exits; Run stops it at the deadline. It expects RBX and RSI to
// point at 4 KiB of data each.
var hotLoop = []byte{
	// loop:
	0x48, 0x8b, 0x04, 0xcb, // mov rax, [rbx+rcx*8]
	0x48, 0x01, 0xd0, // add rax, rdx
	0x48, 0x89, 0x04, 0xce, // mov [rsi+rcx*8], rax
	0x48, 0x31, 0xc2, // xor rdx, rax
	0x48, 0xd1, 0xe2, // shl rdx, 1
	0x48, 0xff, 0xc1, // inc rcx
	0x48, 0x81, 0xe1, 0xff, 0x01, 0x00, 0x00, // and rcx, 511
	0x48, 0x39, 0xc2, // cmp rdx, rax
	0x72, 0x03, // jb +3
	0x48, 0x29, 0xc2, // sub rdx, rax
	0x51,                         // push rcx
	0xe8, 0x05, 0x00, 0x00, 0x00, // call f
	0x59,       // pop rcx
	0xeb, 0xd4, // jmp loop
	0xcc, 0xcc, // padding
	// f:
	0x48, 0x0f, 0xaf, 0xc2, // imul rax, rdx
	0x0f, 0x94, 0xc0, // sete al
	0xc3, // ret
}

func newHotLoop(t testing.TB) *machine {
	m := newMachine(t)
	m.standardLayout()
	m.write(testCode, hotLoop)
	m.cpu.Regs.GPR[RBX] = testData
	m.cpu.Regs.GPR[RSI] = testData + 0x1000
	return m
}

func TestHotLoopShape(t *testing.T) {
	// The jmp and call offsets above must land where the comments say.
	m := newHotLoop(t)
	c := m.cpu
	c.Deadline = 5000
	if ex := c.Run(); ex.Kind != ExitDeadline {
		t.Fatalf("exit got %v (%v) want deadline", ex.Kind, ex.Err)
	}
	if c.Instructions < 1000 {
		t.Errorf("retired %d instructions in 5000 cycles, want > 1000", c.Instructions)
	}
	// The deadline may fall between the PUSH/CALL and the RET/POP.
	if got := c.Regs.GPR[RSP]; got > testRSP || got < testRSP-16 {
		t.Errorf("rsp got %#x want within 16 bytes below %#x (push/call/ret/pop unbalanced)", got, testRSP)
	}
}

func TestRunDoesNotAllocate(t *testing.T) {
	m := newHotLoop(t)
	c := m.cpu
	c.Deadline = c.Clock + 10000 // warm the decode cache and TLBs
	c.Run()
	allocs := testing.AllocsPerRun(100, func() {
		c.Deadline = c.Clock + 10000
		if ex := c.Run(); ex.Kind != ExitDeadline {
			t.Fatalf("exit %v", ex.Kind)
		}
	})
	if allocs != 0 {
		t.Errorf("Run allocates: got %v allocs per run want 0", allocs)
	}
}

func TestDeadline(t *testing.T) {
	m := newHotLoop(t)
	c := m.cpu
	c.Clock, c.Deadline = 100, 100
	if ex := c.Run(); ex.Kind != ExitDeadline || c.Instructions != 0 || c.Regs.RIP != testCode {
		t.Fatalf("Deadline == Clock: got exit %v, %d instructions, rip %#x; want deadline, 0, %#x",
			ex.Kind, c.Instructions, c.Regs.RIP, uint64(testCode))
	}
	c.Deadline = 50
	if ex := c.Run(); ex.Kind != ExitDeadline || c.Instructions != 0 {
		t.Fatalf("Deadline < Clock: got exit %v, %d instructions", ex.Kind, c.Instructions)
	}
	c.Deadline = 101
	if ex := c.Run(); ex.Kind != ExitDeadline || c.Instructions != 1 {
		t.Fatalf("one cycle of budget: got exit %v, %d instructions want 1", ex.Kind, c.Instructions)
	}
}

func TestRepResumesAfterDeadline(t *testing.T) {
	m := newMachine(t)
	m.standardLayout()
	c := m.cpu
	m.write(testCode, []byte{0xf3, 0xaa}) // rep stosb
	c.Regs.GPR[RAX], c.Regs.GPR[RDI], c.Regs.GPR[RCX] = 0x5a, testData, 3*pageSize
	c.Deadline = 1000
	exits := 0
	for {
		ex := c.Run()
		if ex.Kind == ExitBreakpoint {
			break
		}
		if ex.Kind != ExitDeadline {
			t.Fatalf("exit %v (%v)", ex.Kind, ex.Err)
		}
		if c.Regs.RIP != testCode {
			t.Fatalf("interrupted REP: rip got %#x want %#x", c.Regs.RIP, uint64(testCode))
		}
		exits++
		c.Deadline += 1000
	}
	if exits < 5 {
		t.Errorf("REP STOSB of %d bytes hit the 1000-cycle deadline %d times, want >= 5", 3*pageSize, exits)
	}
	if got := c.Regs.GPR[RCX]; got != 0 {
		t.Errorf("rcx got %d want 0", got)
	}
	if got := c.Regs.GPR[RDI]; got != testData+3*pageSize {
		t.Errorf("rdi got %#x want %#x", got, uint64(testData+3*pageSize))
	}
	b := m.read(testData, 3*pageSize)
	for i, v := range b {
		if v != 0x5a {
			t.Fatalf("byte %d got %#x want 0x5a", i, v)
		}
	}
	if c.Instructions != 2 { // the REP STOSB and the INT3
		t.Errorf("instructions got %d want 2", c.Instructions)
	}
}

func TestCycleAccounting(t *testing.T) {
	costs := testCosts()
	other := uint64(costs.UserOther) // the INT3 that ends each case
	cases := []struct {
		name string
		code []byte
		want uint64 // cycles beyond translation, for the instruction and the INT3
	}{
		{"nop", []byte{0x90}, 2 + other},
		{"add r,r", []byte{0x48, 0x01, 0xd8}, 2 + other},
		{"add m,r (max of alu, load, store)", []byte{0x48, 0x01, 0x06}, 5 + other},
		{"mov r,m", []byte{0x48, 0x8b, 0x06}, 3 + other},
		{"mov m,r", []byte{0x48, 0x89, 0x06}, 5 + other},
		{"imul", []byte{0x48, 0x0f, 0xaf, 0xc3}, 7 + other},
		{"mul", []byte{0x48, 0xf7, 0xe3}, 7 + other},
		{"div r64", []byte{0x48, 0xf7, 0xf3}, 50 + other},
		{"div r32", []byte{0xf7, 0xf3}, 23 + other},
		{"jmp (taken)", []byte{0xeb, 0x00}, 13 + other},
		{"xor; jne (not taken)", []byte{0x31, 0xc0, 0x75, 0x00}, 2 + 11 + other},
		{"xor; je (taken)", []byte{0x31, 0xc0, 0x74, 0x00}, 2 + 13 + other},
		{"addsd", []byte{0xf2, 0x0f, 0x58, 0xc1}, 17 + other},
		{"sqrtsd", []byte{0xf2, 0x0f, 0x51, 0xc1}, 19 + other},
		{"paddd", []byte{0x66, 0x0f, 0xfe, 0xc1}, 29 + other},
		{"lock add", []byte{0xf0, 0x48, 0x01, 0x06}, 22 + other},
		{"xchg mem", []byte{0x48, 0x87, 0x06}, 22 + other},
		{"xchg reg", []byte{0x48, 0x87, 0xc3}, 2 + other},
		{"stosb", []byte{0xaa}, 31 + other},
		{"rep stosb x5", []byte{0xf3, 0xaa}, 5*31 + other},
		{"rep stosb x0", []byte{0xf3, 0xaa}, 31 + other},
	}
	for _, tc := range cases {
		m := newMachine(t)
		m.standardLayout()
		c := m.cpu
		c.Costs = costs
		m.write(testCode, tc.code)
		c.Regs.GPR[RBX], c.Regs.GPR[RSI], c.Regs.GPR[RDI] = 3, testData, testData
		c.Regs.GPR[RCX] = 5
		if tc.name == "rep stosb x0" {
			c.Regs.GPR[RCX] = 0
		}
		// Warm the TLBs so translation costs nothing extra (L1 hits), then rerun.
		c.Run()
		c.Regs.RIP, c.Regs.GPR[RDX], c.Regs.GPR[RAX] = testCode, 0, 1
		if tc.name == "rep stosb x5" {
			c.Regs.GPR[RCX], c.Regs.GPR[RDI] = 5, testData
		}
		before := c.Clock
		if ex := c.Run(); ex.Kind != ExitBreakpoint {
			t.Fatalf("%s: exit %v (%v)", tc.name, ex.Kind, ex.Err)
		}
		if got := c.Clock - before; got != tc.want {
			t.Errorf("%s: cycles got %d want %d", tc.name, got, tc.want)
		}
	}

	// Translation costs: a cold data access walks 4 levels.
	m := newMachine(t)
	m.standardLayout()
	c := m.cpu
	m.write(testCode, []byte{0x48, 0x8b, 0x03}) // mov rax, [rbx]
	c.Regs.GPR[RBX] = testData
	walks := m.mmu.Stats.WalkActiveCycles
	c.Run()
	cold := c.Clock
	walks = m.mmu.Stats.WalkActiveCycles - walks
	c.Regs.RIP, c.Regs.GPR[RBX] = testCode, testData+8
	before := c.Clock
	c.Run()
	warm := c.Clock - before
	if want := uint64(c.Costs.UserLoad + c.Costs.UserOther); warm != want {
		t.Errorf("warm mov+int3: got %d cycles want %d", warm, want)
	}
	// Cold: two page walks (fetch, data; the INT3 shares the code page) plus
	// two instructions.
	if want := walks + uint64(c.Costs.UserLoad+c.Costs.UserOther); walks == 0 || cold != want {
		t.Errorf("cold mov+int3: got %d cycles want %d (page walks %d + the two instructions)", cold, want, walks)
	}
}

func TestSyscallRoundTrip(t *testing.T) {
	m := newMachine(t)
	m.standardLayout()
	c := m.cpu
	// mov eax, 39; syscall; add rax, 1; syscall
	m.write(testCode, []byte{0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x48, 0x83, 0xc0, 0x01, 0x0f, 0x05})
	c.Regs.RFLAGS = 0x202 | FlagCF
	ex := c.Run()
	if ex.Kind != ExitSyscall || c.Regs.GPR[RAX] != 39 {
		t.Fatalf("first exit got %v rax=%d want syscall 39", ex.Kind, c.Regs.GPR[RAX])
	}
	if c.Regs.RIP != testCode+7 || c.Regs.GPR[RCX] != testCode+7 || c.Regs.GPR[R11] != 0x203 {
		t.Errorf("after syscall: rip=%#x rcx=%#x r11=%#x want rip=rcx=%#x r11=0x203",
			c.Regs.RIP, c.Regs.GPR[RCX], c.Regs.GPR[R11], uint64(testCode+7))
	}
	if c.Regs.RFLAGS != 0x203 {
		t.Errorf("RFLAGS not materialised: got %#x want 0x203", c.Regs.RFLAGS)
	}
	// The kernel returns 1000 and clears CF (e.g. FMASK).
	c.Regs.GPR[RAX], c.Regs.RFLAGS = 1000, 0x202
	ex = c.Run()
	if ex.Kind != ExitSyscall || c.Regs.GPR[RAX] != 1001 {
		t.Fatalf("second exit got %v rax=%d want syscall 1001", ex.Kind, c.Regs.GPR[RAX])
	}
	if c.Regs.RFLAGS&FlagCF != 0 {
		t.Errorf("flags written by the kernel were not read back: %#x", c.Regs.RFLAGS)
	}
	if c.Instructions != 4 {
		t.Errorf("instructions got %d want 4", c.Instructions)
	}
}

func TestUnimplementedError(t *testing.T) {
	cases := []struct {
		code      []byte
		want      string
		undefined bool
	}{
		{[]byte{0xc8, 0x10, 0x00, 0x00}, "cpu: unimplemented instruction at rip 0x400000: c8 10 00 00 (enter 0x10, 0x0)", false},
		// AVX on a CPU model without AVX: #UD (SIGILL), not a gap.
		{[]byte{0xc5, 0xf9, 0xef, 0xc0}, "cpu: undefined instruction (#UD) at rip 0x400000: c5 f9 ef c0 (vpxor xmm0, xmm0, xmm0)", true},
		{[]byte{0x0f, 0x0b}, "cpu: undefined instruction (#UD) at rip 0x400000: 0f 0b (ud2)", true},
		{[]byte{0xf0, 0x01, 0xc0}, "cpu: undefined instruction (#UD) at rip 0x400000: f0 01 c0 (lock add eax, eax)", true},
		{[]byte{0x0f, 0xff, 0xcc}, "cpu: undefined instruction (#UD) at rip 0x400000: 0f ff cc (ud0 ecx, esp)", true},
		{[]byte{0x0f, 0x04}, "cpu: unimplemented instruction at rip 0x400000: 0f 04 cc cc cc cc cc cc ((bad))", false},
		{[]byte{0xf3, 0x0f, 0x1e, 0xc8}, "cpu: unimplemented instruction at rip 0x400000: f3 0f 1e c8 cc cc cc cc ((bad))", false},
	}
	for _, tc := range cases {
		m := newMachine(t)
		m.standardLayout()
		m.write(testCode, tc.code)
		ex := m.cpu.Run()
		if ex.Kind != ExitUD {
			t.Fatalf("% x: exit got %v want #UD", tc.code, ex.Kind)
		}
		var ue *UnimplementedError
		if !errors.As(ex.Err, &ue) {
			t.Fatalf("% x: Err got %T want *UnimplementedError", tc.code, ex.Err)
		}
		if got := ue.Error(); got != tc.want {
			t.Errorf("% x: error got %q want %q", tc.code, got, tc.want)
		}
		sentinel := ErrUnimplemented
		if tc.undefined {
			sentinel = ErrUndefined
		}
		if !errors.Is(ex.Err, sentinel) || ue.RIP != testCode {
			t.Errorf("% x: errors.Is(%v) false or RIP %#x", tc.code, sentinel, ue.RIP)
		}
		if m.cpu.Regs.RIP != testCode || m.cpu.Instructions != 0 {
			t.Errorf("% x: rip %#x instructions %d; want unchanged", tc.code, m.cpu.Regs.RIP, m.cpu.Instructions)
		}
	}
}

// TestStoreFaultRestartable: a store that crosses into a non-present page
// faults with no partial write and RIP unchanged; after the page is mapped,
// running again completes it.
func TestStoreFaultRestartable(t *testing.T) {
	m := newMachine(t)
	m.standardLayout()
	c := m.cpu
	// mov [rbx], rax; add qword [rbx], 1 (RMW across the boundary)
	m.write(testCode, []byte{0x48, 0x89, 0x03, 0x48, 0x83, 0x03, 0x01})
	c.Regs.GPR[RAX] = 0x8877665544332211
	c.Regs.GPR[RBX] = testUnmapped - 4
	m.write(testUnmapped-4, []byte{0xaa, 0xaa, 0xaa, 0xaa})
	regs := c.Regs

	ex := c.Run()
	if ex.Kind != ExitPageFault || ex.Addr != testUnmapped || ex.ErrCode != tlb.PFErrUser|tlb.PFErrWrite {
		t.Fatalf("got exit %v addr=%#x err=%#x want #PF addr=%#x err=%#x",
			ex.Kind, ex.Addr, ex.ErrCode, uint64(testUnmapped), tlb.PFErrUser|tlb.PFErrWrite)
	}
	if got := m.read(testUnmapped-4, 4); got[0] != 0xaa || got[3] != 0xaa {
		t.Errorf("partial write before the fault: % x", got)
	}
	if c.Regs != regs || c.Instructions != 0 {
		t.Errorf("architectural state changed by a faulting instruction:\n got %+v\nwant %+v", c.Regs, regs)
	}

	m.mapPage(testUnmapped, pteUser) // the "kernel" resolves the fault
	if ex := c.Run(); ex.Kind != ExitBreakpoint {
		t.Fatalf("after mapping: exit %v (%v)", ex.Kind, ex.Err)
	}
	if got, want := m.read64(testUnmapped-4), uint64(0x8877665544332212); got != want {
		t.Errorf("memory got %#x want %#x", got, want)
	}
	if c.Instructions != 3 {
		t.Errorf("instructions got %d want 3", c.Instructions)
	}
}

// TestSelfModifyingCode: a guest store into an already-decoded instruction
// is seen by the next fetch.
func TestSelfModifyingCode(t *testing.T) {
	m := newMachine(t)
	// The code page is writable for this test.
	m.mapPage(testCode, pteUser)
	m.mapPage(testStackTop-pageSize, pteUser)
	c := m.cpu
	c.Regs.GPR[RSP] = testRSP
	// 0: mov eax, 1          b8 01 00 00 00
	// 5: mov byte [rip-11], 2  c6 05 f5 ff ff ff 02   (patches the imm of insn 0 → mov eax, 2)
	// c: int3
	m.write(testCode, []byte{0xb8, 0x01, 0x00, 0x00, 0x00, 0xc6, 0x05, 0xf5, 0xff, 0xff, 0xff, 0x02, 0xcc})
	c.Regs.RIP = testCode
	if ex := c.Run(); ex.Kind != ExitBreakpoint || c.Regs.GPR[RAX] != 1 {
		t.Fatalf("first pass: exit %v rax=%d want breakpoint, 1", ex.Kind, c.Regs.GPR[RAX])
	}
	c.Regs.RIP = testCode
	if ex := c.Run(); ex.Kind != ExitBreakpoint || c.Regs.GPR[RAX] != 2 {
		t.Fatalf("after the guest patched its code: exit %v rax=%d want breakpoint, 2", ex.Kind, c.Regs.GPR[RAX])
	}

	// A loader/kernel write through phys.Memory.Write is seen too.
	m.write(testCode+1, []byte{0x07})
	m.write(testCode+5, []byte{0xcc}) // stop right after the mov
	c.Regs.RIP = testCode
	if ex := c.Run(); ex.Kind != ExitBreakpoint || c.Regs.GPR[RAX] != 7 {
		t.Fatalf("after phys write: exit %v rax=%d want breakpoint, 7", ex.Kind, c.Regs.GPR[RAX])
	}

	// REP STOSB over code is seen as well.
	m.write(testCode+0x100, []byte{0xb8, 0x01, 0x00, 0x00, 0x00, 0xcc}) // mov eax, 1; int3
	c.Regs.RIP = testCode + 0x100
	c.Run()
	m.write(testCode+0x200, []byte{0xf3, 0xaa, 0xcc}) // rep stosb; int3
	c.Regs.RIP, c.Regs.GPR[RDI], c.Regs.GPR[RCX], c.Regs.GPR[RAX] = testCode+0x200, testCode+0x101, 4, 0x09
	c.Run()
	c.Regs.RIP = testCode + 0x100
	if ex := c.Run(); ex.Kind != ExitBreakpoint || c.Regs.GPR[RAX] != 0x09090909 {
		t.Fatalf("after rep stosb over code: exit %v rax=%#x want 0x09090909", ex.Kind, c.Regs.GPR[RAX])
	}
}

// TestPageCrossingCodeInvalidation: an instruction spanning two pages is
// re-decoded when its second page changes.
func TestPageCrossingCodeInvalidation(t *testing.T) {
	m := newMachine(t)
	m.standardLayout()
	c := m.cpu
	at := uint64(testCode + pageSize - 2)
	m.write(at, []byte{0xb8, 0x01, 0x00, 0x00, 0x00}) // mov eax, 1 (3 bytes on the second page)
	c.Regs.RIP = at
	if c.Run(); c.Regs.GPR[RAX] != 1 {
		t.Fatalf("rax got %d want 1", c.Regs.GPR[RAX])
	}
	m.write(testCode+pageSize, []byte{0x02})
	c.Regs.RIP = at
	if c.Run(); c.Regs.GPR[RAX] != 0x201 {
		t.Fatalf("after changing the second page: rax got %#x want 0x201", c.Regs.GPR[RAX])
	}
	// Remapping the second page to another frame is seen through the TLB.
	p := m.alloc()
	m.mapFrame(testCode+pageSize, p, tlb.PteP|tlb.PteUS)
	m.write(testCode+pageSize, []byte{0x00, 0x00, 0x00, 0xcc})
	c.Regs.RIP = at
	if c.Run(); c.Regs.GPR[RAX] != 0x1 {
		t.Fatalf("after remapping the second page: rax got %#x want 0x1", c.Regs.GPR[RAX])
	}
}

// TestStaleTLB: when the PTE changes without a TLB flush, the vCPU keeps
// using the old translation for code and data, as the hardware does, until
// INVLPG.
func TestStaleTLB(t *testing.T) {
	m := newMachine(t)
	m.standardLayout()
	c := m.cpu
	m.write(testCode, []byte{0xb8, 0x01, 0x00, 0x00, 0x00, 0x48, 0x89, 0x03}) // mov eax, 1; mov [rbx], rax
	c.Regs.GPR[RBX] = testData
	c.Run()
	oldData := m.phys(testData)

	// New frames for code and data; no INVLPG.
	code2, data2 := m.alloc(), m.alloc()
	m.mem.Write(code2.Addr(), []byte{0xb8, 0x02, 0x00, 0x00, 0x00, 0x48, 0x89, 0x03, 0xcc})
	if err := m.mem.StorePTE(m.pte(testCode), uint64(code2.Addr())|tlb.PteP|tlb.PteUS); err != nil {
		t.Fatal(err)
	}
	if err := m.mem.StorePTE(m.pte(testData), uint64(data2.Addr())|pteUser); err != nil {
		t.Fatal(err)
	}
	c.Regs.RIP = testCode
	c.Run()
	if got := c.Regs.GPR[RAX]; got != 1 {
		t.Errorf("stale iTLB: executed new code, rax got %d want 1", got)
	}
	var b [1]byte
	m.mem.Read(oldData, b[:])
	if b[0] != 1 {
		t.Errorf("stale dTLB: store did not reach the old frame (got %d)", b[0])
	}

	m.mmu.Invlpg(tlb.VirtAddr(testCode))
	m.mmu.Invlpg(tlb.VirtAddr(testData))
	c.Regs.RIP = testCode
	c.Run()
	if got := c.Regs.GPR[RAX]; got != 2 {
		t.Errorf("after INVLPG: rax got %d want 2", got)
	}
	m.mem.Read(data2.Addr(), b[:])
	if b[0] != 2 {
		t.Errorf("after INVLPG: store did not reach the new frame (got %d)", b[0])
	}
}

// TestLockedIncrementIsAtomic runs LOCK INC loops on two vCPUs in parallel
// goroutines over shared memory.
func TestLockedIncrementIsAtomic(t *testing.T) {
	const n = 20000
	m := newMachine(t)
	m.mapPage(testData, pteUser)
	shared := m.phys(testData)
	// Each vCPU gets its own code page and page tables share the data page.
	// mov ecx, n; l: lock inc qword [rbx]; mov edx, 1; lock xadd [rbx+8], rdx; dec ecx; jnz l; int3
	code := []byte{0xb9, n & 0xff, n >> 8, 0, 0,
		0xf0, 0x48, 0xff, 0x03,
		0xba, 0x01, 0x00, 0x00, 0x00,
		0xf0, 0x48, 0x0f, 0xc1, 0x53, 0x08,
		0xff, 0xc9, 0x75, 0xed, 0xcc}
	cpus := make([]*CPU, 2)
	for i := range cpus {
		mmu := tlb.New(m.mem, tlb.DefaultConfig())
		pml4 := m.alloc()
		mm := &machine{t: t, mem: m.mem, mmu: mmu, pml4: pml4}
		mmu.WriteCR3(uint64(pml4.Addr()))
		mm.mapPage(testCode, tlb.PteP|tlb.PteUS)
		mm.write(testCode, code)
		mm.mapFrame(testData, shared.PFN(), pteUser)
		c := New(i, m.mem, mmu, DefaultCosts())
		c.Deadline = 1 << 62
		c.Regs.RIP, c.Regs.GPR[RBX], c.Regs.GPR[RDX], c.Regs.RFLAGS = testCode, testData, 1, 0x202
		cpus[i] = c
	}
	var wg sync.WaitGroup
	for _, c := range cpus {
		wg.Go(func() {
			if ex := c.Run(); ex.Kind != ExitBreakpoint {
				t.Errorf("cpu %d: exit %v (%v)", c.ID, ex.Kind, ex.Err)
			}
		})
	}
	wg.Wait()
	if got := m.read64(testData); got != 2*n {
		t.Errorf("lock inc: counter got %d want %d", got, 2*n)
	}
	if got := m.read64(testData + 8); got != 2*n {
		t.Errorf("lock xadd: counter got %d want %d", got, 2*n)
	}
}
