package bench

import (
	"encoding/binary"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/tlbemu/emu/cpu"
	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// The interpreter benchmarks run hand-assembled user code on one vCPU with
// the full MMU model but no kernel model: what they measure is the
// interpreter and the TLB model alone. (The workload benchmarks above
// include the kernel model.)

// interpLoop is an integer loop of loads, stores, ALU operations, a call
// and a return, push and pop, and branches (cpu's BenchmarkRun loop). It
// expects RBX and RSI to point at 4 KiB of data each, and never exits.
var interpLoop = []byte{
	0x48, 0x8b, 0x04, 0xcb, // loop: mov rax, [rbx+rcx*8]
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
	0x48, 0x0f, 0xaf, 0xc2, // f: imul rax, rdx
	0x0f, 0x94, 0xc0, // sete al
	0xc3, // ret
}

// randomUpdateLoop increments random qwords of a region at RBX: a linear
// congruential generator (multiplier in RDX) picks bits 63:40 of the state
// in RAX, masked by the immediate (patched to the region's qword count −
// 1). Over a region larger than the STLB's reach almost every update
// misses the TLBs and walks.
var randomUpdateLoop = []byte{
	0x48, 0x0f, 0xaf, 0xc2, // loop: imul rax, rdx
	0x48, 0xff, 0xc0, // inc rax
	0x48, 0x89, 0xc1, // mov rcx, rax
	0x48, 0xc1, 0xe9, 0x28, // shr rcx, 40
	0x48, 0x81, 0xe1, 0, 0, 0, 0, // and rcx, mask (offset 17)
	0x48, 0x83, 0x04, 0xcb, 0x01, // add qword [rbx+rcx*8], 1
	0xeb, 0xe4, // jmp loop
}

// Layout of the interpreter benchmarks' address space.
const (
	ibCode  = 0x40_0000
	ibData  = 0x100_0000
	ibStack = 0x7fff_0000_0000 // top of a one-page stack
)

// interpMachine is one vCPU with page tables built by hand.
type interpMachine struct {
	tb   testing.TB
	mem  *phys.Memory
	pml4 phys.PFN
	c    *cpu.CPU
}

func newInterpMachine(tb testing.TB, memBytes uint64, cfg tlb.Config) *interpMachine {
	m := &interpMachine{tb: tb, mem: phys.New(memBytes)}
	m.pml4 = m.alloc()
	mmu := tlb.New(m.mem, cfg)
	mmu.WriteCR3(uint64(m.pml4.Addr()))
	m.c = cpu.New(0, m.mem, mmu, cpu.DefaultCosts())
	return m
}

func (m *interpMachine) alloc() phys.PFN {
	p, err := m.mem.Alloc()
	if err != nil {
		m.tb.Fatal(err)
	}
	return p
}

// mapPage maps a fresh frame at va with leaf flags and returns it.
func (m *interpMachine) mapPage(va uint64, flags uint64) phys.PFN {
	table := m.pml4.Addr()
	for level := 4; level > 1; level-- {
		ea := table + phys.Addr(tlb.VirtAddr(va).Index(level)*8)
		e := m.mem.LoadPTE(ea)
		if e&tlb.PteP == 0 {
			e = uint64(m.alloc().Addr()) | tlb.PteP | tlb.PteRW | tlb.PteUS
			if err := m.mem.StorePTE(ea, e); err != nil {
				m.tb.Fatal(err)
			}
		}
		table = phys.Addr(e & tlb.PteAddrMask)
	}
	p := m.alloc()
	if err := m.mem.StorePTE(table+phys.Addr(tlb.VirtAddr(va).Index(1)*8), uint64(p.Addr())|flags); err != nil {
		m.tb.Fatal(err)
	}
	return p
}

// load maps code at ibCode, dataPages pages at ibData and the stack.
func (m *interpMachine) load(code []byte, dataPages int) {
	const user = tlb.PteP | tlb.PteUS
	p := m.mapPage(ibCode, user)
	if err := m.mem.Write(p.Addr(), code); err != nil {
		m.tb.Fatal(err)
	}
	for i := 0; i < dataPages; i++ {
		m.mapPage(ibData+uint64(i)*phys.PageSize, user|tlb.PteRW)
	}
	m.mapPage(ibStack-phys.PageSize, user|tlb.PteRW|tlb.PteNX)
	r := &m.c.Regs
	r.RIP, r.GPR[cpu.RSP], r.RFLAGS = ibCode, ibStack-64, 0x202
}

// runInterp runs the machine 10,000 guest cycles per op after a warm-up
// and reports emulated MIPS, host ns and allocations per instruction, and
// the dTLB walks per 1000 instructions (the modelled behaviour the host
// time goes with).
func runInterp(b *testing.B, m *interpMachine) {
	c := m.c
	c.Deadline = c.Clock + 100_000
	if ex := c.Run(); ex.Kind != cpu.ExitDeadline {
		b.Fatalf("exit %v (%v) at %#x", ex.Kind, ex.Err, c.Regs.RIP)
	}
	start, walks0 := c.Instructions, c.MMU.Stats.DTLBLoadMissesWalk+c.MMU.Stats.DTLBStoreMissesWalk
	b.ReportAllocs()
	ms0, cpu0 := mallocs(), cpuTime()
	for b.Loop() {
		c.Deadline = c.Clock + 10_000
		c.Run()
	}
	n := float64(c.Instructions - start)
	if n == 0 {
		return
	}
	ns := float64(b.Elapsed().Nanoseconds())
	b.ReportMetric(n/float64((cpuTime()-cpu0).Nanoseconds())*1e3, "cpu-MIPS")
	walks := float64(c.MMU.Stats.DTLBLoadMissesWalk + c.MMU.Stats.DTLBStoreMissesWalk - walks0)
	b.ReportMetric(n/ns*1e3, "MIPS")
	b.ReportMetric(ns/n, "ns/inst")
	b.ReportMetric(float64(mallocs()-ms0)/n, "allocs/inst")
	b.ReportMetric(walks/n*1000, "dtlb-walks/kinst")
}

// BenchmarkInterpreter measures the interpreter on (a) integer code with a
// small working set (all TLB hits) and (b) random updates over 32 MiB (the
// STLB covers 6 MiB: nearly every update walks), with the TLB model's hit
// memo on and off.
func BenchmarkInterpreter(b *testing.B) {
	for _, memo := range []bool{true, false} {
		cfg := tlb.DefaultConfig()
		cfg.NoMemo = !memo
		name := "/memo=on"
		if !memo {
			name = "/memo=off"
		}
		b.Run("loop=int"+name, func(b *testing.B) {
			m := newInterpMachine(b, 16<<20, cfg)
			m.load(interpLoop, 2)
			m.c.Regs.GPR[cpu.RBX], m.c.Regs.GPR[cpu.RSI] = ibData, ibData+phys.PageSize
			runInterp(b, m)
		})
		b.Run("loop=random-update"+name, func(b *testing.B) {
			const pages = 8192 // 32 MiB
			m := newInterpMachine(b, 64<<20, cfg)
			code := append([]byte(nil), randomUpdateLoop...)
			binary.LittleEndian.PutUint32(code[17:], pages*phys.PageSize/8-1)
			m.load(code, pages)
			r := &m.c.Regs
			r.GPR[cpu.RBX], r.GPR[cpu.RDX], r.GPR[cpu.RAX] = ibData, 6364136223846793005, 1
			runInterp(b, m)
		})
	}
}

// cpuTime returns the process's user and system CPU time (getrusage(2)):
// on a machine shared with other work, instructions per CPU microsecond
// (cpu-MIPS) vary much less than per wall microsecond. A benchmark that
// allocates nothing runs no GC, so the process's time is the run's.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// mallocs returns the process's cumulative heap allocation count.
func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}
