package kernelmodel

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/tlbemu/emu/workloads"
)

// runWorkload runs a built-in workload to completion and returns its stats.
func runWorkload(t testing.TB, name string, cfg Config, p workloads.Params) (*Machine, Stats) {
	t.Helper()
	wl, err := workloads.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxCycles == 0 {
		cfg.MaxCycles = 2_000_000_000
	}
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Load(wl.ELF, wl.Argv(p)); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if m.ExitCode() != 0 {
		t.Fatalf("%s: guest exit status %d", name, m.ExitCode())
	}
	return m, m.Stats()
}

func statsText(s Stats) string {
	var b strings.Builder
	for _, c := range s.Counters {
		fmt.Fprintf(&b, "%s %d\n", c.Name, c.Value)
	}
	fmt.Fprintf(&b, "tlb %v cycles %v\n", s.TLBIRQs, s.CPUCycles)
	for _, h := range s.Hists {
		fmt.Fprintf(&b, "%s[%s] %v\n", h.Name, h.Key, h.Buckets)
	}
	return b.String()
}

func smallParams(threads int) workloads.Params {
	return workloads.Params{Threads: threads, Pages: 512, Iterations: 3, Seed: 7}
}

// TestDeterministicAcrossGOMAXPROCS: the same run gives identical counters
// whatever the host parallelism.
func TestDeterministicAcrossGOMAXPROCS(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CPUs = 4
	var want string
	for _, procs := range []int{1, 2, 8} {
		old := runtime.GOMAXPROCS(procs)
		_, s := runWorkload(t, "clear_refs", cfg, smallParams(3))
		runtime.GOMAXPROCS(old)
		got := statsText(s)
		if want == "" {
			want = got
			continue
		}
		if got != want {
			t.Fatalf("GOMAXPROCS=%d differs:\n%s\nwant\n%s", procs, got, want)
		}
	}
}

// TestClearRefsStudy pins the study's result on the clear_refs workload
// (Yu Zhao's proposal, LKML 23 Dec 2020, Message-ID
// X+PE38s2Egq4nzKv@google.com; clear_refs_write in fs/proc/task_mmu.c,
// v5.10): v5.10 loses soft-dirty writes; the proposal adds
// flushes but cannot close the hole alone; with 912efa17e512 it does; the
// merged fixes leave no hazard.
func TestClearRefsStudy(t *testing.T) {
	p := smallParams(1)
	run := func(kernel string, patches ...Patch) Stats {
		cfg := DefaultConfig()
		cfg.Kernel = kernel
		cfg.Patches = patches
		_, s := runWorkload(t, "clear_refs", cfg, p)
		return s
	}
	get := func(s Stats, n string) uint64 { v, _ := s.Get(n); return v }
	base := run("5.10")
	yu := run("5.10", PatchPTEFaultFlushPending)
	yuWill := run("5.10", PatchPTEFaultFlushPending, PatchClearRefsFlush)
	stable := run("5.10-stable")
	if get(base, "emu_lost_soft_dirty") == 0 {
		t.Errorf("v5.10: no lost soft-dirty writes; the clear_refs hole must show")
	}
	if get(base, "emu_flush_pending_flushes") != 0 {
		t.Errorf("v5.10 performed proposal flushes")
	}
	if get(yu, "emu_flush_pending_flushes") == 0 || get(yu, "nr_tlb_remote_flush") <= get(base, "nr_tlb_remote_flush") {
		t.Errorf("proposal: pending flushes %d, remote flushes %d vs baseline %d; want more",
			get(yu, "emu_flush_pending_flushes"), get(yu, "nr_tlb_remote_flush"), get(base, "nr_tlb_remote_flush"))
	}
	if get(yu, "emu_lost_soft_dirty") == 0 {
		t.Errorf("proposal alone closed the clear_refs hole at 2 CPUs: it flushes only the faulting page, and the clearing thread's own stale entries are never faulted on")
	}
	if h := get(yuWill, "emu_stale_tlb_writes"); h != 0 {
		t.Errorf("proposal + clear-refs-flush: %d hazards, want 0", h)
	}
	if h := get(stable, "emu_stale_tlb_writes"); h != 0 {
		t.Errorf("5.10-stable: %d hazards, want 0", h)
	}
	if get(stable, "emu_flush_pending_flushes") != 0 {
		t.Errorf("5.10-stable: clear_refs holds mmap_lock for write, so no fault can see the pending flush")
	}
}

func TestMoreThreadsThanCPUs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CPUs = 2
	cfg.Timeslice = 200_000
	_, s := runWorkload(t, "clear_refs", cfg, smallParams(4))
	if v, _ := s.Get("emu_context_switches"); v < 5 {
		t.Errorf("context switches = %d with 5 threads on 2 CPUs, want time slicing", v)
	}
}

func TestPTIChargesAndFlushesUserPCID(t *testing.T) {
	p := smallParams(1)
	cfg := DefaultConfig()
	_, plain := runWorkload(t, "clear_refs", cfg, p)
	cfg.PTI = true
	cfg.Patches = []Patch{PatchPTEFaultFlushPending}
	m, pti := runWorkload(t, "clear_refs", cfg, p)
	a, _ := plain.Get("cycles")
	b, _ := pti.Get("cycles")
	if b <= a {
		t.Errorf("PTI cycles %d <= non-PTI %d", b, a)
	}
	var invpcid uint64
	for _, v := range m.cpus {
		invpcid += v.c.MMU.Stats.Invpcid
	}
	if invpcid == 0 {
		t.Errorf("PTI: no INVPCID for the user PCID on single-page flushes")
	}
}

func TestConcurrentFlushIsCheaper(t *testing.T) {
	p := smallParams(1)
	// mean returns the mean duration of the flush_tlb_mm_range spans that
	// sent IPIs, and their number.
	mean := func(cfg Config) (float64, int) {
		var sum uint64
		var n int
		cfg.Trace = func(ev TraceEvent) {
			if ev.Name != "flush_tlb_mm_range" {
				return
			}
			for _, a := range ev.Args {
				if a.Key == "ipis" && a.Value > 0 {
					sum += ev.Dur
					n++
				}
			}
		}
		runWorkload(t, "clear_refs", cfg, p)
		return float64(sum) / float64(max(n, 1)), n
	}
	cfg := DefaultConfig()
	cfg.Patches = []Patch{PatchPTEFaultFlushPending}
	serial, ns := mean(cfg)
	cfg.ConcurrentFlush = true
	conc, nc := mean(cfg)
	if ns == 0 || nc == 0 {
		t.Fatalf("no remote flushes (serial %d, concurrent %d)", ns, nc)
	}
	if conc >= serial {
		t.Errorf("concurrent flush with IPIs takes %.0f cycles on average, serial %.0f: want less", conc, serial)
	}
}

func TestSixtyFourCPUs(t *testing.T) {
	if testing.Short() {
		t.Skip("64 vCPUs")
	}
	cfg := DefaultConfig()
	cfg.CPUs = 64
	cfg.Patches = []Patch{PatchPTEFaultFlushPending}
	_, s := runWorkload(t, "clear_refs", cfg, workloads.Params{Threads: 63, Pages: 256, Iterations: 2, Seed: 1})
	if len(s.TLBIRQs) != 64 {
		t.Fatalf("TLB row has %d CPUs, want 64", len(s.TLBIRQs))
	}
	if v, _ := s.Get("emu_ipis_sent"); v == 0 {
		t.Errorf("no IPIs on 64 CPUs with the proposal")
	}
}

// TestUffdWPStudy pins the uffd-wp half of the study (the un-protect race
// of Nadav Amit's "[PATCH v4] mm/userfaultfd: fix memory corruption due to
// writeprotect", Msg-Id 20210304095423.3825684-1-namit@vmware.com): on v5.10 a write is lost after a COW that raced an
// un-protect's deferred flush; the proposal and the merged fix
// (6ce64428d620) both close it, the proposal at the cost of more flushes.
func TestUffdWPStudy(t *testing.T) {
	p := workloads.Params{Threads: 3, Pages: 2048, Iterations: 240, Seed: 2}
	run := func(kernel string, patches ...Patch) Stats {
		cfg := DefaultConfig()
		cfg.CPUs = 4
		cfg.Kernel = kernel
		cfg.Patches = patches
		_, s := runWorkload(t, "uffd_wp", cfg, p)
		return s
	}
	get := func(s Stats, n string) uint64 { v, _ := s.Get(n); return v }
	base := run("5.10")
	nadav := run("5.10", PatchUffdWPFlushPending)
	yu := run("5.10", PatchPTEFaultFlushPending)
	stable := run("5.10-stable")
	if get(base, "emu_write_after_cow") == 0 {
		t.Errorf("v5.10: no write lost after COW; the LKML uffd-wp race must show")
	}
	for name, s := range map[string]Stats{"uffd-wp-flush-pending": nadav, "pte-fault-flush-pending": yu, "5.10-stable": stable} {
		if h := get(s, "emu_stale_tlb_writes"); h != 0 {
			t.Errorf("%s: %d hazards, want 0", name, h)
		}
	}
	if get(yu, "emu_flush_pending_flushes") <= get(nadav, "emu_flush_pending_flushes") {
		t.Errorf("the proposal (all VMAs) flushed %d times, not more than the uffd-only fix's %d",
			get(yu, "emu_flush_pending_flushes"), get(nadav, "emu_flush_pending_flushes"))
	}
}

// TestTHPDeterministicAcrossGOMAXPROCS: huge-page runs are as deterministic
// as 4 KiB ones.
func TestTHPDeterministicAcrossGOMAXPROCS(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CPUs = 3
	cfg.THP = true
	p := workloads.Params{Threads: 2, Pages: 1024, Iterations: 3, Seed: 3}
	var want string
	for _, procs := range []int{1, 2, 8} {
		old := runtime.GOMAXPROCS(procs)
		_, s := runWorkload(t, "clear_refs", cfg, p)
		runtime.GOMAXPROCS(old)
		got := statsText(s)
		if v, _ := s.Get("thp_fault_alloc"); v == 0 {
			t.Fatalf("no huge page faulted in with THP on")
		}
		if want == "" {
			want = got
		} else if got != want {
			t.Fatalf("GOMAXPROCS=%d differs", procs)
		}
	}
}

// TestFailOnHazardNamesTheStore: -fail-on-hazard stops at the first hazard
// and names CPU, address, instruction and the kernel path.
func TestFailOnHazardNamesTheStore(t *testing.T) {
	wl, err := workloads.Lookup("clear_refs")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.FailHazard = true
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Load(wl.ELF, wl.Argv(smallParams(1))); err != nil {
		t.Fatal(err)
	}
	err = m.Run(context.Background())
	var h *Hazard
	if !errors.As(err, &h) || !errors.Is(err, ErrHazard) {
		t.Fatalf("Run = %v, want a *Hazard wrapping ErrHazard", err)
	}
	if h.Kind != "emu_lost_soft_dirty" || h.Insn == "" || strings.HasPrefix(h.Insn, "(") || !strings.Contains(h.Path, "clear_refs_write") {
		t.Errorf("hazard %+v: want a lost soft-dirty store with its disassembly and the clear_refs path", h)
	}
}

// TestConcurrentFlushOwnCallNotCounted: on v5.10 the initiator runs
// flush_tlb_func_remote itself (on_each_cpu_cond_mask over an mm_cpumask
// that includes it), so interrupts.TLB counts more than the IPIs handled,
// at most one extra per request; with -flush-order concurrent (4ce94eabac16
// and the flush_tlb_func rework, ≈v5.13) the initiator's call is local and
// uncounted: the TLB row is exactly the IPIs sent (each is handled before
// the initiator's wait ends) and nr_tlb_remote_flush_received at most that.
func TestConcurrentFlushOwnCallNotCounted(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CPUs = 3
	cfg.Patches = []Patch{PatchPTEFaultFlushPending}
	for _, conc := range []bool{false, true} {
		cfg.ConcurrentFlush = conc
		_, s := runWorkload(t, "clear_refs", cfg, smallParams(2))
		get := func(name string) uint64 {
			v, ok := s.Get(name)
			if !ok {
				t.Fatalf("no counter %s", name)
			}
			return v
		}
		ipis, irqs := get("emu_ipis_sent"), get("interrupts.TLB")
		reqs, recv := get("nr_tlb_remote_flush"), get("nr_tlb_remote_flush_received")
		if ipis == 0 || reqs == 0 {
			t.Fatalf("concurrent=%v: no remote flushes (ipis %d, requests %d)", conc, ipis, reqs)
		}
		if conc {
			if irqs != ipis {
				t.Errorf("concurrent: interrupts.TLB %d, want the %d IPIs sent", irqs, ipis)
			}
			if recv > ipis {
				t.Errorf("concurrent: nr_tlb_remote_flush_received %d > IPIs %d", recv, ipis)
			}
		} else if irqs <= ipis || irqs > ipis+reqs {
			t.Errorf("serial: interrupts.TLB %d, want in (%d, %d]: the IPIs plus the initiator's own calls", irqs, ipis, ipis+reqs)
		}
	}
}
