package cpu

import (
	"testing"

	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// ownMachine is the standard test layout with every paging-structure entry
// accessed (and writable leaves dirty), so that walks need no A/D update,
// and an ownership table.
func ownMachine(t testing.TB) (*machine, *Owners) {
	m := newMachine(t)
	m.standardLayout()
	setAD(m, m.pml4, 4)
	o := NewOwners(m.mem.Frames())
	m.cpu.Owners = o
	return m, o
}

// setAD sets A in every present entry below table (level) and D in every
// writable leaf.
func setAD(m *machine, table phys.PFN, level int) {
	for i := uint64(0); i < 512; i++ {
		ea := table.Addr() + phys.Addr(i*8)
		e := m.mem.LoadPTE(ea)
		if e&tlb.PteP == 0 {
			continue
		}
		e |= tlb.PteA
		if level == 1 && e&tlb.PteRW != 0 {
			e |= tlb.PteD
		}
		m.mem.StorePTE(ea, e)
		if level > 1 {
			setAD(m, phys.PFN(e&tlb.PteAddrMask>>12), level-1)
		}
	}
}

func (m *machine) pfn(va uint64) phys.PFN { return m.phys(va).PFN() }

// run runs the vCPU in mode from RIP = testCode and returns the exit.
func (m *machine) runFrom(mode OwnMode) Exit {
	m.cpu.Regs.RIP = testCode
	m.cpu.Own = mode
	return m.cpu.Run()
}

func TestOwnParallelStopsBeforeForeignWrite(t *testing.T) {
	m, o := ownMachine(t)
	c := m.cpu
	// mov rax, [rbx]; mov [rsi], rax; int3
	m.write(testCode, []byte{0x48, 0x8b, 0x03, 0x48, 0x89, 0x06, 0xcc})
	c.Regs.GPR[RBX], c.Regs.GPR[RSI] = testData, testData+0x1000
	m.write64(testData, 42)
	o.SetPrivate(m.pfn(testData+0x1000), 1) // another vCPU's frame

	if ex := m.runFrom(OwnParallel); ex.Kind != ExitSerialize || ex.Addr != testData+0x1000 {
		t.Fatalf("exit %v addr %#x, want serialize at %#x", ex.Kind, ex.Addr, testData+0x1000)
	}
	if c.Regs.RIP != testCode+3 || c.Instructions != 1 {
		t.Errorf("rip %#x, %d instructions: want stopped at the store (%#x) after 1", c.Regs.RIP, c.Instructions, testCode+3)
	}
	if got := m.read64(testData + 0x1000); got != 0 {
		t.Errorf("the refused store reached memory: %d", got)
	}
	// Serially it acquires the frame and completes.
	c.Own = OwnAcquire
	if ex := c.Run(); ex.Kind != ExitBreakpoint {
		t.Fatalf("serial run: exit %v (%v)", ex.Kind, ex.Err)
	}
	if got := m.read64(testData + 0x1000); got != 42 {
		t.Errorf("store wrote %d, want 42", got)
	}
	if got := o.Owner(m.pfn(testData + 0x1000)); got != 0 {
		t.Errorf("owner after a serial write = %d, want 0", got)
	}
	if got := o.Owner(m.pfn(testData)); got != -1 {
		t.Errorf("owner after a serial read of a shared frame = %d, want shared", got)
	}
	// Now the whole sequence is allowed in parallel.
	o.NewEpoch()
	if ex := m.runFrom(OwnParallel); ex.Kind != ExitBreakpoint {
		t.Fatalf("parallel rerun: exit %v", ex.Kind)
	}
}

func TestOwnParallelReads(t *testing.T) {
	m, o := ownMachine(t)
	c := m.cpu
	m.write(testCode, []byte{0x48, 0x8b, 0x03, 0xcc}) // mov rax, [rbx]; int3
	c.Regs.GPR[RBX] = testData
	// Shared and own frames are readable.
	if ex := m.runFrom(OwnParallel); ex.Kind != ExitBreakpoint {
		t.Fatalf("read of a shared frame: exit %v", ex.Kind)
	}
	o.SetPrivate(m.pfn(testData), 0)
	o.NewEpoch()
	if ex := m.runFrom(OwnParallel); ex.Kind != ExitBreakpoint {
		t.Fatalf("read of an own frame: exit %v", ex.Kind)
	}
	// Another vCPU's private frame is not; reading it serially shares it.
	o.SetPrivate(m.pfn(testData), 3)
	o.NewEpoch()
	if ex := m.runFrom(OwnParallel); ex.Kind != ExitSerialize {
		t.Fatalf("read of a foreign frame: exit %v, want serialize", ex.Kind)
	}
	if ex := m.runFrom(OwnAcquire); ex.Kind != ExitBreakpoint {
		t.Fatalf("serial read: exit %v", ex.Kind)
	}
	if got := o.Owner(m.pfn(testData)); got != -1 {
		t.Errorf("owner after a serial read of a foreign frame = %d, want shared", got)
	}
	// Code is read too: a fetch from a foreign frame serializes.
	o.SetPrivate(m.pfn(testCode), 2)
	o.NewEpoch()
	n := c.Instructions
	if ex := m.runFrom(OwnParallel); ex.Kind != ExitSerialize || c.Instructions != n || ex.Addr != testCode {
		t.Fatalf("fetch from a foreign frame: exit %v at %#x after %d instructions, want serialize at %#x before any", ex.Kind, ex.Addr, c.Instructions-n, testCode)
	}
}

// TestOwnParallelRefusesADUpdates: a walk that would set A or D is not
// started in parallel mode, so the page tables stay untouched.
func TestOwnParallelRefusesADUpdates(t *testing.T) {
	m, o := ownMachine(t)
	c := m.cpu
	m.write(testCode, []byte{0x48, 0x89, 0x03, 0xcc}) // mov [rbx], rax; int3
	c.Regs.GPR[RBX] = testData
	o.SetPrivate(m.pfn(testData), 0)
	pte := m.pte(testData)
	m.mem.StorePTE(pte, m.mem.LoadPTE(pte)&^tlb.PteD) // clean
	m.mmu.Invlpg(tlb.VirtAddr(testData))
	if ex := m.runFrom(OwnParallel); ex.Kind != ExitSerialize {
		t.Fatalf("write to a clean page: exit %v, want serialize", ex.Kind)
	}
	if m.mem.LoadPTE(pte)&tlb.PteD != 0 || m.mmu.Stats.ADUpdates != 0 {
		t.Fatalf("the walker set D in parallel mode")
	}
	if ex := m.runFrom(OwnAcquire); ex.Kind != ExitBreakpoint {
		t.Fatalf("serial: exit %v", ex.Kind)
	}
	if m.mem.LoadPTE(pte)&tlb.PteD == 0 {
		t.Fatalf("serial write did not set D")
	}
	// A fresh machine's tables have A clear everywhere: even the first
	// fetch must serialize.
	m2 := newMachine(t)
	m2.standardLayout()
	m2.cpu.Owners = NewOwners(m2.mem.Frames())
	if ex := m2.runFrom(OwnParallel); ex.Kind != ExitSerialize || m2.cpu.Instructions != 0 {
		t.Fatalf("fetch through entries with A=0: exit %v", ex.Kind)
	}
	if m2.mmu.Stats.ADUpdates != 0 || m2.mmu.Stats.WalkRefs != 0 {
		t.Fatalf("a walk ran in parallel mode: %d refs, %d A/D updates", m2.mmu.Stats.WalkRefs, m2.mmu.Stats.ADUpdates)
	}
}

// TestOwnParallelStaleTLB: an access through a TLB entry for a frame the
// page tables no longer map serializes (and an OnStaleWrite hook can force
// that with AbortParallel).
func TestOwnParallelStaleTLB(t *testing.T) {
	m, o := ownMachine(t)
	c := m.cpu
	m.write(testCode, []byte{0x48, 0x89, 0x03, 0xcc}) // mov [rbx], rax; int3
	c.Regs.GPR[RBX] = testData
	c.Regs.GPR[RAX] = 7
	old := m.pfn(testData)
	o.SetPrivate(old, 0)
	if ex := m.runFrom(OwnAcquire); ex.Kind != ExitBreakpoint { // fills the TLB
		t.Fatalf("exit %v", ex.Kind)
	}
	// Remap testData to a new, owned, dirty frame without flushing.
	p := m.alloc()
	o.SetPrivate(p, 0)
	m.mem.StorePTE(m.pte(testData), uint64(p.Addr())|pteUser|tlb.PteA|tlb.PteD)
	hooks := 0
	m.mmu.OnStaleWrite = func(tlb.VirtAddr, phys.PFN, uint64, bool) {
		hooks++
		c.AbortParallel()
	}
	o.NewEpoch()
	c.Regs.GPR[RAX] = 8
	if ex := m.runFrom(OwnParallel); ex.Kind != ExitSerialize {
		t.Fatalf("store through a stale entry: exit %v, want serialize", ex.Kind)
	}
	if hooks != 1 {
		t.Errorf("stale-write hook called %d times, want 1", hooks)
	}
	if got := m.mem.Frame(old)[0]; got != 7 {
		t.Errorf("old frame holds %d: the aborted store went through", got)
	}
	// Write-protect the PTE: a stale writable entry still lets the store
	// through the TLB, which must not happen in parallel.
	m.mem.StorePTE(m.pte(testData), uint64(old.Addr())|tlb.PteP|tlb.PteUS|tlb.PteA|tlb.PteD)
	m.mmu.OnStaleWrite = nil
	o.NewEpoch()
	if ex := m.runFrom(OwnParallel); ex.Kind != ExitSerialize {
		t.Fatalf("store through a stale writable entry: exit %v, want serialize", ex.Kind)
	}
}

// TestOwnParallelFaults: a translation that faults is a #PF as usual, not a
// serialization.
func TestOwnParallelFaults(t *testing.T) {
	m, _ := ownMachine(t)
	m.write(testCode, []byte{0x48, 0x8b, 0x03, 0xcc})
	m.cpu.Regs.GPR[RBX] = testUnmapped
	if ex := m.runFrom(OwnParallel); ex.Kind != ExitPageFault || ex.Addr != testUnmapped {
		t.Fatalf("exit %v at %#x, want #PF at %#x", ex.Kind, ex.Addr, testUnmapped)
	}
	m.cpu.Regs.GPR[RBX] = 1 << 63 // non-canonical
	if ex := m.runFrom(OwnParallel); ex.Kind != ExitGP {
		t.Fatalf("exit %v, want #GP", ex.Kind)
	}
}

// ownHotLoop is the hot loop with every frame it touches owned by vCPU 0.
func ownHotLoop(t testing.TB) *machine {
	m, o := ownMachine(t)
	m.write(testCode, hotLoop)
	m.cpu.Regs.GPR[RBX] = testData
	m.cpu.Regs.GPR[RSI] = testData + 0x1000
	for _, va := range []uint64{testData, testData + 0x1000, testStackTop - pageSize} {
		o.SetPrivate(m.pfn(va), 0)
	}
	m.cpu.Own = OwnParallel
	return m
}

func TestOwnParallelHotLoopDoesNotAllocate(t *testing.T) {
	m := ownHotLoop(t)
	c := m.cpu
	c.Deadline = c.Clock + 10000
	if ex := c.Run(); ex.Kind != ExitDeadline {
		t.Fatalf("exit %v, want deadline (the loop touches only owned frames)", ex.Kind)
	}
	allocs := testing.AllocsPerRun(100, func() {
		c.Deadline = c.Clock + 10000
		if ex := c.Run(); ex.Kind != ExitDeadline {
			t.Fatalf("exit %v", ex.Kind)
		}
	})
	if allocs != 0 {
		t.Errorf("Run allocates in OwnParallel mode: %v allocs per run", allocs)
	}
}

// BenchmarkRunOwnParallel is BenchmarkRun in OwnParallel mode: the cost of
// the ownership checks on the hot path.
func BenchmarkRunOwnParallel(b *testing.B) {
	m := ownHotLoop(b)
	c := m.cpu
	benchSteady(b, c)
}

// BenchmarkRunOwnAcquire is BenchmarkRun in OwnAcquire mode, the mode of
// user code that runs serially in a machine with parallel execution.
func BenchmarkRunOwnAcquire(b *testing.B) {
	m := ownHotLoop(b)
	c := m.cpu
	c.Own = OwnAcquire
	benchSteady(b, c)
}
