package bench

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tlbemu/emu/kernelmodel"
	"github.com/tlbemu/emu/workloads"
)

// Small parameters keep one benchmark iteration (one whole run) to tens of
// milliseconds.
const (
	smallPages      = 256
	smallIterations = 2
)

// total accumulates Metrics over the iterations of a benchmark.
type total struct {
	Metrics
	n int
}

func (t *total) add(m Metrics) {
	t.n++
	t.Instructions += m.Instructions
	t.Parallel += m.Parallel
	t.Cycles += m.Cycles
	t.RemoteFlushes += m.RemoteFlushes
	t.IPIs += m.IPIs
	t.TLBIRQs += m.TLBIRQs
	t.StaleWrites += m.StaleWrites
	t.Host += m.Host
	t.Mallocs += m.Mallocs
}

// loop runs c once per b.Loop iteration and returns the sums.
func loop(b *testing.B, c Case) total {
	b.Helper()
	b.ReportAllocs()
	var t total
	for b.Loop() {
		m, err := Run(context.Background(), c)
		if err != nil {
			b.Fatal(err)
		}
		t.add(m)
	}
	return t
}

// reportModel reports the modelled counts per op (exact, deterministic).
func reportModel(b *testing.B, t total) {
	n := float64(t.n)
	b.ReportMetric(float64(t.RemoteFlushes)/n, "nr_tlb_remote_flush/op")
	b.ReportMetric(float64(t.IPIs)/n, "ipis/op")
	b.ReportMetric(float64(t.TLBIRQs)/n, "interrupts.TLB/op")
	b.ReportMetric(float64(t.Cycles)/n, "cycles/op")
	b.ReportMetric(float64(t.StaleWrites)/n, "emu_stale_tlb_writes/op")
}

// reportHost reports the emulator's speed: emulated MIPS (instructions per
// host µs), host ns per instruction and heap allocations per instruction.
func reportHost(b *testing.B, t total) {
	if t.Instructions == 0 {
		return
	}
	inst := float64(t.Instructions)
	ns := float64(t.Host.Nanoseconds())
	b.ReportMetric(inst/(ns/1e3), "MIPS")
	b.ReportMetric(ns/inst, "ns/inst")
	b.ReportMetric(float64(t.Mallocs)/inst, "allocs/inst")
}

// BenchmarkWorkload runs every workload on every kernel variant.
func BenchmarkWorkload(b *testing.B) {
	for _, wl := range workloads.All() {
		for _, v := range Variants() {
			c := v
			c.Workload, c.CPUs, c.Pages, c.Iterations = wl.Name, 2, smallPages, smallIterations
			b.Run(c.Name(), func(b *testing.B) {
				t := loop(b, c)
				reportModel(b, t)
				reportHost(b, t)
			})
		}
	}
}

// BenchmarkShootdown reports the marginal host cost of one remote TLB
// shootdown (flush_tlb_mm_range with IPIs) at 2, 8 and 64 vCPUs: each op
// runs madvise (MADV_DONTNEED of pages the other threads' TLBs hold: about
// 500 remote flushes and 3,500 guest instructions per iteration at 8
// vCPUs) for 1 and for 3 iterations, and ns/shootdown is the difference in
// host time over the difference in nr_tlb_remote_flush, so the start-up
// and loading cancel out (not whole-run time divided by the count); the
// rest of an iteration (the madvise calls, refaults) is charged to its
// shootdowns.
func BenchmarkShootdown(b *testing.B) {
	for _, cpus := range []int{2, 8, 64} {
		c := Case{Workload: "madvise", CPUs: cpus, Iterations: 1}
		more := c
		more.Iterations = 3
		b.Run("cpus="+itoa(cpus), func(b *testing.B) {
			b.ReportAllocs()
			var base, long total
			for b.Loop() {
				for _, x := range []struct {
					c Case
					t *total
				}{{c, &base}, {more, &long}} {
					m, err := Run(context.Background(), x.c)
					if err != nil {
						b.Fatal(err)
					}
					x.t.add(m)
				}
			}
			if d := long.RemoteFlushes - base.RemoteFlushes; d > 0 {
				b.ReportMetric(float64(long.Host.Nanoseconds()-base.Host.Nanoseconds())/float64(d), "ns/shootdown")
			} else {
				b.Fatal("3 iterations of madvise made no more shootdowns than 1")
			}
			b.ReportMetric(float64(long.RemoteFlushes-base.RemoteFlushes)/float64(long.n), "marginal-shootdowns/op")
		})
	}
}

// BenchmarkEmulatorMIPS measures interpretation speed on clear_refs's
// writers (mostly user-mode stores) at several CPU counts.
func BenchmarkEmulatorMIPS(b *testing.B) {
	for _, cpus := range []int{1, 2, 8} {
		c := Case{Workload: "clear_refs", CPUs: cpus, Pages: 1024, Iterations: 4}
		b.Run("cpus="+itoa(cpus), func(b *testing.B) {
			reportHost(b, loop(b, c))
		})
	}
}

// BenchmarkScaling reports host ns per guest instruction of page_fault
// with a thread per vCPU at 1, 16 and 256 vCPUs, as in the README's scaling
// table (emu -workload page_fault -cpus N -threads N -pages 4096): the
// baton scheduler's cost per hand-off and the spin waits of 256 threads
// faulting under one mmap_lock.
func BenchmarkScaling(b *testing.B) {
	for _, cpus := range []int{1, 16, 256} {
		c := Case{Workload: "page_fault", CPUs: cpus, Threads: cpus, Pages: 4096}
		b.Run("cpus="+itoa(cpus), func(b *testing.B) {
			reportHost(b, loop(b, c))
		})
	}
}

// parallelGuest is bench/parallel/parallel.c, built with musl-gcc
// -static -O2 (its header has the command): THREADS pthreads doing
// integer work on private memory.
const parallelGuest = "parallel/parallel.musl"

// BenchmarkParallelGuest runs the private-work guest (2 threads of 400
// rounds, about 21 M guest instructions, `emu run -cpus 2 parallel.musl 2
// 400`) at GOMAXPROCS 1 and 2, set inside the benchmark, and reports host
// (wall) ns per guest instruction and the share of instructions retired in
// parallel phases: the speed-up of deterministic parallel execution is
// the ratio of the two ns/inst figures. The guest's counts are the same at
// both settings (TestDeterministicAcrossGOMAXPROCS* check that).
func BenchmarkParallelGuest(b *testing.B) {
	elf, err := os.ReadFile(parallelGuest)
	if err != nil {
		b.Fatal(err)
	}
	for _, procs := range []int{1, 2} {
		b.Run("gomaxprocs="+itoa(procs), func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			b.ReportAllocs()
			var t total
			for b.Loop() {
				m, err := RunELF(context.Background(), 2, elf, []string{"parallel", "2", "400"})
				if err != nil {
					b.Fatal(err)
				}
				t.add(m)
			}
			reportHost(b, t)
			b.ReportMetric(float64(t.Parallel)/float64(t.Instructions), "parallel-share")
		})
	}
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

// TestRunMetrics checks that the helper the benchmarks use produces
// non-zero metrics on a tiny run, quickly.
func TestRunMetrics(t *testing.T) {
	c := Case{Workload: "clear_refs", CPUs: 2, Pages: 1024, Iterations: 2,
		Patches: []kernelmodel.Patch{kernelmodel.PatchPTEFaultFlushPending}}
	m, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if m.Instructions == 0 || m.Cycles == 0 || m.RemoteFlushes == 0 || m.IPIs == 0 || m.TLBIRQs == 0 || m.Host <= 0 || m.Mallocs == 0 {
		t.Errorf("zero metric in %+v", m)
	}
	// The name `emu -format bench -pages 1024 -iterations 2 -patch
	// pte-fault-flush-pending` prints, without "Benchmark".
	if got, want := c.Name(), "Workload/workload=clear_refs/cpus=2/kernel=5.10/patch=pte-fault-flush-pending/pages=1024/iterations=2"[len("Workload/"):]; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	// Other parameters, other name (1.55 M and 25.4 M cycles must not
	// share one benchstat row).
	d := c
	d.Pages = 64
	if d.Name() == c.Name() {
		t.Errorf("-pages 64 and -pages 1024 share the name %q", c.Name())
	}
	if m.Host > 10*time.Second {
		t.Errorf("a tiny run took %v", m.Host)
	}
	if n := len(Variants()); n != len(kernelmodel.Patches)+2 {
		t.Errorf("%d variants", n)
	}
}

// TestNamesDistinct: the sub-benchmarks of BenchmarkWorkload have one
// name per distinct setting, each without the blanks benchfmt splits on.
func TestNamesDistinct(t *testing.T) {
	seen := map[string]Case{}
	for _, wl := range workloads.All() {
		for _, v := range Variants() {
			c := v
			c.Workload, c.CPUs, c.Pages, c.Iterations = wl.Name, 2, smallPages, smallIterations
			n := c.Name()
			if prev, ok := seen[n]; ok {
				t.Errorf("%+v and %+v share the name %q", prev, c, n)
			}
			seen[n] = c
			if strings.ContainsAny(n, " \t") || !strings.HasPrefix(n, "workload="+wl.Name+"/cpus=2/kernel=") {
				t.Errorf("name %q", n)
			}
		}
	}
}
