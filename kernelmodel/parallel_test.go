package kernelmodel

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"

	"github.com/tlbemu/emu/cpu"
	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
	"github.com/tlbemu/emu/workloads"
)

// Synthetic guests: hand-assembled loops, one task per vCPU, each task
// starting at the code with its own registers and ending with exit(0).
const (
	parCode = 0x400000 // text segment (R+X): the ELF headers, then code at parCode+0x100
	parData = 0x600000 // data segment (R+W), zero-filled
)

// parExit is mov eax, 60; xor edi, edi; syscall: exit(0).
var parExit = []byte{0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05}

// parPrivateLoop runs RCX iterations over the 4 pages at RSI:
//
//	loop: mov rax, [rsi+rdx*8]; add rax, rcx; mov [rsi+rdx*8], rax
//	      inc rdx; and rdx, 2047; dec rcx; jnz loop
var parPrivateLoop = append([]byte{
	0x48, 0x8b, 0x04, 0xd6, // mov rax, [rsi+rdx*8]
	0x48, 0x01, 0xc8, // add rax, rcx
	0x48, 0x89, 0x04, 0xd6, // mov [rsi+rdx*8], rax
	0x48, 0xff, 0xc2, // inc rdx
	0x48, 0x81, 0xe2, 0xff, 0x07, 0x00, 0x00, // and rdx, 2047
	0x48, 0xff, 0xc9, // dec rcx
	0x75, 0xe6, // jnz loop
}, parExit...)

// parLockedInc runs RCX times: lock inc qword [rsi].
var parLockedInc = append([]byte{
	0xf0, 0x48, 0xff, 0x06, // lock inc qword [rsi]
	0x48, 0xff, 0xc9, // dec rcx
	0x75, 0xf7, // jnz loop
}, parExit...)

// parRacyInc runs RCX times a non-atomic increment of [rsi]: a data race.
var parRacyInc = append([]byte{
	0x48, 0x8b, 0x06, // mov rax, [rsi]
	0x48, 0xff, 0xc0, // inc rax
	0x48, 0x89, 0x06, // mov [rsi], rax
	0x48, 0xff, 0xc9, // dec rcx
	0x75, 0xf2, // jnz loop
}, parExit...)

// parSharedReader runs RCX loads, one per page, cycling over the 64 pages at
// RSI:
//
//	loop: mov rax, [rsi+rdx]; add rdx, 4096; and rdx, 0x3ffff; dec rcx; jnz loop
var parSharedReader = append([]byte{
	0x48, 0x8b, 0x04, 0x16, // mov rax, [rsi+rdx]
	0x48, 0x81, 0xc2, 0x00, 0x10, 0x00, 0x00, // add rdx, 4096
	0x48, 0x81, 0xe2, 0xff, 0xff, 0x03, 0x00, // and rdx, 0x3ffff
	0x48, 0xff, 0xc9, // dec rcx
	0x75, 0xe9, // jnz loop
}, parExit...)

// parExitGroupGuest: main (tgid 1, CPU 0) runs parPrivateLoop and exits; a
// second thread group in the same mm runs on CPUs 1-3: its leader runs the
// loop for a shorter time and calls exit_group while its two other threads
// run the loop without end, so they are parked or hold pending exits
// (ExitSerialize, a deadline) when they are killed.
//
// (The killed threads make no system call: exitGroup takes a thread off its
// CPU even when that CPU is inside a kernel path waiting for the baton,
// which then continues with v.curr == nil. That is a bug of the baton
// scheduler as well, reported separately.)
func parExitGroupGuest(t testing.TB, cfg Config) *Machine {
	loop := parPrivateLoop[:len(parPrivateLoop)-len(parExit)]
	var code []byte
	mainOff := len(code)
	code = append(append(code, loop...), parExit...)
	leaderOff := len(code)
	code = append(append(code, loop...), 0xb8, 0xe7, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05) // exit_group(0)
	cfg.CPUs = 4
	m := newParMachine(t, cfg, code, 4*4, 30_000, parPrivateData)
	entry := uint64(parCode + 0x100)
	m.tasks[0].regs.RIP = entry + uint64(mainOff)
	leader := m.tasks[1]
	leader.regs.RIP = entry + uint64(leaderOff)
	leader.regs.GPR[cpu.RCX] = 5_000
	leader.tgid = leader.tid
	for _, w := range m.tasks[2:] {
		w.regs.RIP = entry + uint64(mainOff)
		w.regs.GPR[cpu.RCX] = 1 << 62 // until killed
		w.tgid = leader.tid
	}
	return m
}

// parClearAccessed clears A (and D) in every paging-structure entry on the
// path to each page of [va, va+n*4096), as a kernel aging pass would, so
// that the vCPUs' first walks race to set them.
func parClearAccessed(t testing.TB, m *Machine, va uint64, n int) {
	t.Helper()
	mm := m.tasks[0].mm
	for a := va; a < va+uint64(n)*4096; a += 4096 {
		table := mm.pgd
		for level := 4; level >= 1; level-- {
			ea := table.Addr() + phys.Addr(tlb.VirtAddr(a).Index(level)*8)
			e := m.mem.LoadPTE(ea)
			if e&tlb.PteP == 0 {
				t.Fatalf("%#x not mapped at level %d", a, level)
			}
			m.mem.StorePTE(ea, e&^(tlb.PteA|tlb.PteD))
			table = ptePFN(e)
		}
	}
}

// parELF returns a static x86-64 executable: a text segment holding code
// at parCode+0x100 (the entry point) and a zeroed data segment of
// dataPages pages at parData.
func parELF(code []byte, dataPages int) []byte {
	const ehsize, phsize = 64, 56
	b := make([]byte, 0x100+len(code))
	le := binary.LittleEndian
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS], b[elf.EI_DATA], b[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	le.PutUint16(b[16:], uint16(elf.ET_EXEC))
	le.PutUint16(b[18:], uint16(elf.EM_X86_64))
	le.PutUint32(b[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(b[24:], parCode+0x100) // e_entry
	le.PutUint64(b[32:], ehsize)        // e_phoff
	le.PutUint16(b[52:], ehsize)
	le.PutUint16(b[54:], phsize)
	le.PutUint16(b[56:], 2) // e_phnum
	ph := func(i int, flags elf.ProgFlag, off, vaddr, filesz, memsz uint64) {
		p := b[ehsize+i*phsize:]
		le.PutUint32(p[0:], uint32(elf.PT_LOAD))
		le.PutUint32(p[4:], uint32(flags))
		le.PutUint64(p[8:], off)
		le.PutUint64(p[16:], vaddr)
		le.PutUint64(p[24:], vaddr)
		le.PutUint64(p[32:], filesz)
		le.PutUint64(p[40:], memsz)
		le.PutUint64(p[48:], 0x1000)
	}
	ph(0, elf.PF_R|elf.PF_X, 0, parCode, uint64(len(b)), uint64(len(b)))
	ph(1, elf.PF_R|elf.PF_W, 0, parData, 0, uint64(dataPages)*4096)
	copy(b[0x100:], code)
	return b
}

// newParMachine loads code and starts one task per vCPU (the first is the
// process's main thread), task i with RCX = iters and RSI = rsi(i).
func newParMachine(t testing.TB, cfg Config, code []byte, dataPages int, iters uint64, rsi func(i int) uint64) *Machine {
	t.Helper()
	if cfg.MaxCycles == 0 {
		cfg.MaxCycles = 2_000_000_000
	}
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Load(parELF(code, dataPages), []string{"/guest"}); err != nil {
		t.Fatal(err)
	}
	main := m.tasks[0]
	regs := main.regs
	for i := 0; i < cfg.CPUs; i++ {
		task := main
		if i > 0 {
			task = m.newTask(main.mm, main.tgid, main.comm)
			task.home.runq = append(task.home.runq, task)
			task.home.wakeAt = 0
		}
		task.regs = regs
		task.regs.GPR[cpu.RCX] = iters
		task.regs.GPR[cpu.RSI] = rsi(i)
	}
	return m
}

func runParMachine(t testing.TB, m *Machine) Stats {
	t.Helper()
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m.ExitCode() != 0 {
		t.Fatalf("guest exit status %d", m.ExitCode())
	}
	return m.Stats()
}

// parGuestWord returns a reader of the word at user address va of the
// machine's process that still works after the process has exited: Load
// populates the data segment eagerly, and exit_mmap frees the frame
// without clearing it.
func parGuestWord(t testing.TB, m *Machine, va uint64) func() uint64 {
	t.Helper()
	r, code := tlb.Walk(m.mem, m.tasks[0].mm.pgdCR3(), tlb.VirtAddr(va), tlb.Read)
	if code != 0 {
		t.Fatalf("%#x not mapped (#PF %#x)", va, code)
	}
	f := m.mem.Frame(r.PFN)
	return func() uint64 { return binary.LittleEndian.Uint64(f[va&0xfff:]) }
}

func parPrivateData(i int) uint64 { return parData + uint64(i)*0x4000 }
func parSharedData(int) uint64    { return parData }

// TestParallelDeterministicAcrossGOMAXPROCS: the same runs give identical
// statistics (every counter, the per-CPU rows and every histogram) at
// GOMAXPROCS 1, 2 and 8, run several times each, and user code really runs
// in parallel phases in all of them: every built-in workload on 4 vCPUs,
// clear_refs on 16, and synthetic guests for private work, racing and
// locked stores, walks that must set A/D bits and exit_group.
func TestParallelDeterministicAcrossGOMAXPROCS(t *testing.T) {
	reps := 3
	if testing.Short() {
		reps = 2
	}
	type tcase struct {
		name string
		run  func(t *testing.T) Stats
	}
	var cases []tcase
	for _, wl := range workloads.All() {
		cases = append(cases, tcase{wl.Name + "/cpus=4", func(t *testing.T) Stats {
			cfg := DefaultConfig()
			cfg.CPUs = 4
			_, s := runWorkload(t, wl.Name, cfg, workloads.Params{Threads: 3, Pages: 512, Iterations: 3, Seed: 7})
			return s
		}})
	}
	cases = append(cases, []tcase{
		{"clear_refs/cpus=16", func(t *testing.T) Stats {
			cfg := DefaultConfig()
			cfg.CPUs = 16
			cfg.Patches = []Patch{PatchPTEFaultFlushPending}
			_, s := runWorkload(t, "clear_refs", cfg, workloads.Params{Threads: 15, Pages: 512, Iterations: 3, Seed: 3})
			return s
		}},
		{"private/cpus=8", func(t *testing.T) Stats {
			cfg := DefaultConfig()
			cfg.CPUs = 8
			return runParMachine(t, newParMachine(t, cfg, parPrivateLoop, 8*4, 20_000, parPrivateData))
		}},
		{"shared_reader_no_AD/cpus=4", func(t *testing.T) Stats {
			cfg := DefaultConfig()
			cfg.CPUs = 4
			m := newParMachine(t, cfg, parSharedReader, 64, 2000, parSharedData)
			parClearAccessed(t, m, parData, 64)
			return runParMachine(t, m)
		}},
		{"exit_group/cpus=4", func(t *testing.T) Stats {
			return runParMachine(t, parExitGroupGuest(t, DefaultConfig()))
		}},
		{"racy/cpus=4", func(t *testing.T) Stats {
			cfg := DefaultConfig()
			cfg.CPUs = 4
			m := newParMachine(t, cfg, parRacyInc, 1, 20_000, parSharedData)
			counter := parGuestWord(t, m, parData)
			s := runParMachine(t, m)
			// The lost updates are part of the result and must not vary.
			s.Counters = append(s.Counters, Counter{Name: "guest_counter", Value: counter()})
			return s
		}},
	}...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var want string
			for _, procs := range []int{1, 2, 8} {
				for rep := 0; rep < reps; rep++ {
					old := runtime.GOMAXPROCS(procs)
					s := tc.run(t)
					runtime.GOMAXPROCS(old)
					if v, _ := s.Get("emu_parallel_instructions"); v == 0 {
						t.Errorf("GOMAXPROCS=%d: no instruction retired in a parallel phase", procs)
					}
					got := statsText(s)
					if want == "" {
						want = got
						continue
					}
					if got != want {
						t.Fatalf("GOMAXPROCS=%d run %d differs:\n%s", procs, rep, parDiffLines(got, want))
					}
				}
			}
		})
	}
}

// parDiffLines lists the lines of got that differ from want.
func parDiffLines(got, want string) string {
	var out string
	g, w := parSplitLines(got), parSplitLines(want)
	for i := 0; i < max(len(g), len(w)); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			out += fmt.Sprintf("  got  %s\n  want %s\n", a, b)
		}
	}
	return out
}

func parSplitLines(s string) []string {
	var l []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		l = append(l, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return l
}

// TestParallelInstructionsFraction: user code that works on private data
// runs almost entirely in parallel phases; workloads whose threads work on
// their own chunks and trap on nearly every page (page_fault, madvise)
// still run most of their user instructions in parallel; clear_refs, whose
// writers store to random pages of one mapping, mostly runs serially.
func TestParallelInstructionsFraction(t *testing.T) {
	frac := func(s Stats) float64 {
		p, _ := s.Get("emu_parallel_instructions")
		n, _ := s.Get("instructions")
		return float64(p) / float64(n)
	}
	cfg := DefaultConfig()
	cfg.CPUs = 4
	priv := runParMachine(t, newParMachine(t, cfg, parPrivateLoop, 4*4, 50_000, parPrivateData))
	if f := frac(priv); f < 0.95 {
		t.Errorf("private loops: %.1f%% of instructions in parallel phases, want ≥ 95%%", 100*f)
	}
	msg := fmt.Sprintf("private loops %.1f%%", 100*frac(priv))
	for _, wl := range []string{"page_fault", "madvise"} {
		_, s := runWorkload(t, wl, cfg, workloads.Params{Threads: 3, Pages: 512, Iterations: 3, Seed: 1})
		if f := frac(s); f < 0.6 {
			t.Errorf("%s: %.1f%% of instructions in parallel phases, want ≥ 60%%", wl, 100*f)
		}
		msg += fmt.Sprintf(", %s %.1f%%", wl, 100*frac(s))
	}
	_, cr := runWorkload(t, "clear_refs", cfg, smallParams(3))
	t.Logf("parallel fraction: %s, clear_refs %.1f%%", msg, 100*frac(cr))
}

// TestParallelLockedIncrement: a locked increment of one shared word by
// every vCPU loses no update (the word's frame is never written by two
// vCPUs in the same phase, and serial runs are atomic anyway), and the
// counts are those of the guest.
func TestParallelLockedIncrement(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CPUs = 4
	const iters = 5000
	m := newParMachine(t, cfg, parLockedInc, 1, iters, parSharedData)
	counter := parGuestWord(t, m, parData)
	s := runParMachine(t, m)
	if got := counter(); got != 4*iters {
		t.Errorf("counter = %d, want %d", got, 4*iters)
	}
	if n, _ := s.Get("instructions"); n < 4*3*iters {
		t.Errorf("instructions = %d, want ≥ %d", n, 4*3*iters)
	}
}

// TestParallelOffMatchesOneCPUProtocol: with one vCPU there is nothing to
// run in parallel; the machine uses the baton alone.
func TestParallelOneCPU(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CPUs = 1
	m := newParMachine(t, cfg, parPrivateLoop, 4, 10_000, parPrivateData)
	s := runParMachine(t, m)
	if v, _ := s.Get("emu_parallel_instructions"); v != 0 || m.par.phases != 0 {
		t.Errorf("1 vCPU: %d parallel instructions in %d phases, want none", v, m.par.phases)
	}
}

// benchPar runs one synthetic-guest machine per op and reports host ns per
// emulated instruction (building the machine is not timed).
func benchPar(b *testing.B, cfg Config, code []byte, dataPages int, iters uint64, rsi func(int) uint64, parallel bool) {
	var instr, par, phases uint64
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m := newParMachine(b, cfg, code, dataPages, iters, rsi)
		m.par.enabled = parallel
		if !parallel {
			for _, v := range m.cpus {
				v.c.Own = cpu.OwnOff
			}
		}
		b.StartTimer()
		s := runParMachine(b, m)
		n, _ := s.Get("instructions")
		p, _ := s.Get("emu_parallel_instructions")
		instr += n
		par += p
		phases += m.par.phases
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(instr), "ns/inst")
	b.ReportMetric(100*float64(par)/float64(instr), "%parallel")
	b.ReportMetric(float64(instr)/float64(max(phases, 1)), "inst/phase")
}

// BenchmarkParallel runs private compute loops on every vCPU (1.4M user
// instructions per vCPU, 7 per iteration) with deterministic parallel
// execution. Run with -cpu 1,2,... to see the effect of host parallelism;
// the emulated result is the same.
func BenchmarkParallel(b *testing.B) {
	for _, n := range []int{2, 8} {
		b.Run(fmt.Sprintf("cpus=%d", n), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.CPUs = n
			benchPar(b, cfg, parPrivateLoop, n*4, 200_000, parPrivateData, true)
		})
	}
}

// BenchmarkBaton is BenchmarkParallel with parallel phases switched off
// (pure baton scheduling, no ownership checks), for comparison.
func BenchmarkBaton(b *testing.B) {
	for _, n := range []int{2, 8} {
		b.Run(fmt.Sprintf("cpus=%d", n), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.CPUs = n
			benchPar(b, cfg, parPrivateLoop, n*4, 200_000, parPrivateData, false)
		})
	}
}

// BenchmarkParallelClearRefs is the clear_refs workload (4 vCPUs, 3
// writers), which parallelises poorly: the writers store to random pages
// of one mapping and most time is kernel time.
func BenchmarkParallelClearRefs(b *testing.B) {
	for _, parallel := range []bool{true, false} {
		b.Run(fmt.Sprintf("parallel=%v", parallel), func(b *testing.B) {
			wl, err := workloads.Lookup("clear_refs")
			if err != nil {
				b.Fatal(err)
			}
			var instr uint64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cfg := DefaultConfig()
				cfg.CPUs = 4
				m, err := New(cfg, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := m.Load(wl.ELF, wl.Argv(workloads.Params{Threads: 3, Pages: 1024, Iterations: 5, Seed: 1})); err != nil {
					b.Fatal(err)
				}
				m.par.enabled = parallel
				if !parallel {
					for _, v := range m.cpus {
						v.c.Own = cpu.OwnOff
					}
				}
				b.StartTimer()
				s := runParMachine(b, m)
				n, _ := s.Get("instructions")
				instr += n
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(instr), "ns/inst")
		})
	}
}

// TestLoneParticipantMatchesPhases: a lone participant that runs the phases
// following its own (runParallel) gives the counters, the guest's result
// and the phase count of the coordinator running each phase: a
// single-threaded guest on 2 and 4 vCPUs, and one that makes a system call
// every few quanta.
func TestLoneParticipantMatchesPhases(t *testing.T) {
	type result struct {
		text           string
		phases, lone   uint64
		word, parInstr uint64
	}
	single := func(cpus int, off bool) result {
		cfg := DefaultConfig()
		cfg.CPUs = cpus
		cfg.MaxCycles = 2_000_000_000
		m, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Load(parELF(parPrivateLoop, 4), []string{"/guest"}); err != nil {
			t.Fatal(err)
		}
		m.tasks[0].regs.GPR[cpu.RCX] = 30_000
		m.tasks[0].regs.GPR[cpu.RSI] = parData
		m.par.loneOff = off
		word := parGuestWord(t, m, parData+8)
		s := runParMachine(t, m)
		return result{statsText(s), m.par.phases, m.par.lone, word(), m.parallelInstructions()}
	}
	// Stops between lone stretches.
	syscalls := parSyscallLoop()
	withSyscalls := func(off bool) result {
		cfg := DefaultConfig()
		cfg.CPUs = 4
		cfg.MaxCycles = 2_000_000_000
		m, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Load(parELF(syscalls, 1), []string{"/guest"}); err != nil {
			t.Fatal(err)
		}
		m.tasks[0].regs.GPR[cpu.RSI] = 50
		m.par.loneOff = off
		s := runParMachine(t, m)
		return result{statsText(s), m.par.phases, m.par.lone, 0, m.parallelInstructions()}
	}
	for _, sc := range []struct {
		name string
		run  func(off bool) result
	}{
		{"private-loop/cpus=2", func(off bool) result { return single(2, off) }},
		{"private-loop/cpus=4", func(off bool) result { return single(4, off) }},
		{"syscalls/cpus=4", withSyscalls},
	} {
		t.Run(sc.name, func(t *testing.T) {
			coord, lone := sc.run(true), sc.run(false)
			if coord.lone != 0 {
				t.Fatalf("loneOff: %d phases run by a lone participant", coord.lone)
			}
			if lone.lone == 0 {
				t.Fatal("no phase run by a lone participant: the scenario does not test it")
			}
			if lone.text != coord.text {
				t.Errorf("counters differ:\n%s", parDiffLines(lone.text, coord.text))
			}
			if lone.phases != coord.phases || lone.word != coord.word || lone.parInstr != coord.parInstr {
				t.Errorf("lone: %d phases, word %#x, %d parallel instructions; coordinator: %d, %#x, %d",
					lone.phases, lone.word, lone.parInstr, coord.phases, coord.word, coord.parInstr)
			}
			t.Logf("%d phases, %d of them run by the lone participant on its own", lone.phases, lone.lone)
		})
	}
}

// parSyscallLoop is a guest that runs RSI times 3000 iterations of a
// register loop (a few quanta), then getpid, then exits.
func parSyscallLoop() []byte {
	return append([]byte{
		0xbb, 0xb8, 0x0b, 0x00, 0x00, // outer: mov ebx, 3000
		0x48, 0xff, 0xcb, // inner: dec rbx
		0x75, 0xfb, // jnz inner
		0xb8, 0x27, 0x00, 0x00, 0x00, // mov eax, 39 (getpid)
		0x0f, 0x05, // syscall
		0x48, 0xff, 0xce, // dec rsi
		0x75, 0xea, // jnz outer
	}, parExit...)
}

// TestGroupMatchesPhases: participants that chain phases among themselves
// (arrive) give the counters, the guests' results, the parallel
// instruction count and the phase count of the coordinator running each
// phase: private work on 2 vCPUs (two participants, the case groups are
// for), on 4 at GOMAXPROCS 4, and a register loop with a system call every
// few quanta (chains that end at a stop and start again). Whether a helper
// is spinning in time to join a group depends on the host, so a run that
// formed no group is repeated a few times; on 2 vCPUs with private work
// one must form (on 4, all four participants must be claimed by the first
// barrier, which 2 host cores seldom manage), and every run must match.
func TestGroupMatchesPhases(t *testing.T) {
	type result struct {
		text            string
		phases, grouped uint64
		words           [4]uint64
		parInstr        uint64
	}
	syscalls := parSyscallLoop()
	type scenario struct {
		name        string
		procs, cpus int
		code        []byte
		iters       uint64
		rsi         func(int) uint64
		words       bool // the guests' private words are results
		mustGroup   bool
	}
	run := func(sc scenario, off bool) result {
		cfg := DefaultConfig()
		cfg.CPUs = sc.cpus
		m := newParMachine(t, cfg, sc.code, sc.cpus*4, sc.iters, sc.rsi)
		m.par.groupOff = off
		var words []func() uint64
		if sc.words {
			for i := range sc.cpus {
				words = append(words, parGuestWord(t, m, sc.rsi(i)+8))
			}
		}
		s := runParMachine(t, m)
		r := result{text: statsText(s), phases: m.par.phases, grouped: m.par.grouped, parInstr: m.parallelInstructions()}
		for i, w := range words {
			r.words[i] = w()
		}
		return r
	}
	for _, sc := range []scenario{
		{"private/cpus=2", 2, 2, parPrivateLoop, 20_000, parPrivateData, true, true},
		{"private/cpus=4/gomaxprocs=4", 4, 4, parPrivateLoop, 10_000, parPrivateData, true, false},
		{"syscalls/cpus=2", 2, 2, syscalls, 0, func(int) uint64 { return 50 }, false, false},
	} {
		t.Run(sc.name, func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(sc.procs))
			coord := run(sc, true)
			if coord.grouped != 0 {
				t.Fatalf("groupOff: %d phases chained by a group", coord.grouped)
			}
			var grouped uint64
			for try := 0; try < 5 && grouped == 0; try++ {
				g := run(sc, false)
				if g.text != coord.text {
					t.Fatalf("counters differ:\n%s", parDiffLines(g.text, coord.text))
				}
				if g.phases != coord.phases || g.words != coord.words || g.parInstr != coord.parInstr {
					t.Fatalf("group: %d phases, words %#x, %d parallel instructions; coordinator: %d, %#x, %d",
						g.phases, g.words, g.parInstr, coord.phases, coord.words, coord.parInstr)
				}
				grouped = g.grouped
				t.Logf("%d phases, %d of them chained by a group", g.phases, g.grouped)
			}
			if grouped == 0 && sc.mustGroup {
				t.Error("no phase chained by a group in 5 runs: the scenario does not test it")
			}
		})
	}
}
