package cpu

import (
	"syscall"
	"testing"
	"time"

	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// reportInst reports per-instruction metrics for n retired instructions;
// cpu is the process CPU time they took (cpu-MIPS: less noisy than wall
// time on a shared machine).
func reportInst(b *testing.B, n uint64, allocs uint64, cpu time.Duration) {
	if n == 0 {
		return
	}
	ns := float64(b.Elapsed().Nanoseconds())
	if cpu > 0 {
		b.ReportMetric(float64(n)/float64(cpu.Nanoseconds())*1e3, "cpu-MIPS")
	}
	b.ReportMetric(ns/float64(n), "ns/inst")
	b.ReportMetric(float64(n)/ns*1e3, "MIPS")
	b.ReportMetric(float64(allocs)/float64(n), "allocs/inst")
	b.ReportMetric(float64(n)/float64(b.N), "inst/op")
}

// cpuTime returns the process's user and system CPU time (getrusage(2)).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchSteady runs c for one warm-up op of 10,000 cycles, then one per
// benchmark op, and reports the per-instruction metrics of the timed ops.
func benchSteady(b *testing.B, c *CPU) {
	c.Deadline = c.Clock + 10000
	c.Run()
	start := c.Instructions
	b.ReportAllocs()
	ms0, cpu0 := mallocs(), cpuTime()
	for b.Loop() {
		c.Deadline = c.Clock + 10000
		c.Run()
	}
	reportInst(b, c.Instructions-start, mallocs()-ms0, cpuTime()-cpu0)
}

// BenchmarkRun runs the hot loop (loads, stores, ALU, branches, call/ret,
// push/pop) from the decode cache with warm TLBs: the interpreter's steady
// state. One op is 10,000 cycles of guest time.
func BenchmarkRun(b *testing.B) {
	m := newHotLoop(b)
	c := m.cpu
	benchSteady(b, c)
}

// BenchmarkRunPerInstruction is BenchmarkRun without the block cache and
// the specialised handlers (every instruction through Run's
// per-instruction path and the generic handlers): what those two buy,
// measured in the same process.
func BenchmarkRunPerInstruction(b *testing.B) {
	m := newHotLoop(b)
	c := m.cpu
	c.noBlocks, c.noSpecialise = true, true
	benchSteady(b, c)
}

// BenchmarkRunHazardHook is BenchmarkRun with tlb.MMU.OnStaleWrite set, as
// the kernel model sets it (the hazard detector): every store hit checks
// the current leaf PTE.
func BenchmarkRunHazardHook(b *testing.B) {
	m := newHotLoop(b)
	c := m.cpu
	m.mmu.OnStaleWrite = func(tlb.VirtAddr, phys.PFN, uint64, bool) { b.Fatal("stale write") }
	benchSteady(b, c)
}

// BenchmarkRunDecodeMiss measures the decode-cache miss path: the code page
// is rewritten before every op (bumping its code generation, as
// self-modifying code does), so the first pass over the loop decodes every
// instruction again.
func BenchmarkRunDecodeMiss(b *testing.B) {
	m := newHotLoop(b)
	c := m.cpu
	b.ReportAllocs()
	start := c.Instructions
	ms0, cpu0 := mallocs(), cpuTime()
	for b.Loop() {
		m.write(testCode, hotLoop[:1])
		c.Regs.RIP = testCode
		c.Deadline = c.Clock + 17 // about one pass over the 17 instructions
		c.Run()
	}
	reportInst(b, c.Instructions-start, mallocs()-ms0, cpuTime()-cpu0)
}

// BenchmarkRepMovsq copies 16 KiB with REP MOVSQ per op.
func BenchmarkRepMovsq(b *testing.B) {
	m := newMachine(b)
	m.standardLayout()
	for va := uint64(0x100000); va < 0x108000; va += pageSize {
		m.mapPage(va, pteUser)
	}
	c := m.cpu
	m.write(testCode, []byte{0xf3, 0x48, 0xa5}) // rep movsq; int3
	b.SetBytes(0x4000)
	b.ReportAllocs()
	for b.Loop() {
		c.Regs.RIP = testCode
		c.Regs.GPR[RSI], c.Regs.GPR[RDI], c.Regs.GPR[RCX] = 0x100000, 0x104000, 0x4000/8
		if ex := c.Run(); ex.Kind != ExitBreakpoint || c.Regs.GPR[RCX] != 0 {
			b.Fatalf("exit %v (%v), rcx %d", ex.Kind, ex.Err, c.Regs.GPR[RCX])
		}
	}
}
