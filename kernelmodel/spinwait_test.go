package kernelmodel

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tlbemu/emu/workloads"
)

// TestSpinWaitsInPassMatchPolling runs contended scenarios twice, with the
// spin waits' turns run in passing (spinPass) and with every turn on the
// waiter's own goroutine (the polling path), and wants the same counters,
// per-CPU cycles, histograms and, for the kernel scripts, the clock of
// every lock acquisition and flush; and wants spinPass to have run at all.
func TestSpinWaitsInPassMatchPolling(t *testing.T) {
	scenarios := []struct {
		name string
		run  func(t *testing.T, off bool) spinResult
	}{
		{"scripts/ptl+mmap_lock+csd/cpus=8", func(t *testing.T, off bool) spinResult {
			m, mm := newTestMachine(t, 8)
			m.spinPassOff = off
			var ptl spinlock
			clocks := make([][]uint64, 8)
			scripts := map[int]func(*VCPU){}
			for id := range 8 {
				scripts[id] = func(v *VCPU) {
					v.switchMMIrqsOff(mm) // in the mm: a flush target, taking IPIs while it spins
					for i := range 6 {
						switch {
						case id == 0 && i%2 == 1:
							// A shootdown while the others spin or hold the
							// locks: csd_lock_wait on CPUs in spin waits.
							v.flushTLBMMRange(mm, 0x400000, 0x400000+4*4096, 12, false)
						case (id+i)%3 == 0:
							v.mmapWriteLock(mm)
							busy(v, 1500)
							v.mmapWriteUnlock(mm)
						default:
							v.mmapReadLock(mm)
							v.spinLock(&ptl)
							busy(v, 700+uint64(id)*100)
							v.spinUnlock(&ptl)
							v.mmapReadUnlock(mm)
						}
						clocks[id] = append(clocks[id], v.c.Clock)
					}
				}
			}
			runScripts(t, m, scripts)
			return spinResult{fmt.Sprint(statsText(m.Stats()), clocks), m.spinPasses}
		}},
		{"page_fault/cpus=16", func(t *testing.T, off bool) spinResult {
			return runWorkloadSpin(t, "page_fault", 16, 0, off)
		}},
		{"mprotect/cpus=8", func(t *testing.T, off bool) spinResult {
			return runWorkloadSpin(t, "mprotect", 8, 0, off)
		}},
		// --max-cycles ends the run inside a spin wait: the same CPU stops
		// at the same cycle.
		{"page_fault/cpus=16/max-cycles", func(t *testing.T, off bool) spinResult {
			return runWorkloadSpin(t, "page_fault", 16, 200_000, off)
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			polled := sc.run(t, true)
			passed := sc.run(t, false)
			if polled.passes != 0 {
				t.Fatalf("spinPassOff: %d turns run in passing", polled.passes)
			}
			if passed.passes == 0 {
				t.Fatal("no spin-wait turn run in passing: the scenario does not test it")
			}
			if passed.text != polled.text {
				t.Fatalf("in passing differs from polling:\n%s", parDiffLines(passed.text, polled.text))
			}
		})
	}
}

// spinResult is what a run of TestSpinWaitsInPassMatchPolling compares,
// and how many spin-wait turns spinPass ran.
type spinResult struct {
	text   string
	passes uint64
}

// runWorkloadSpin runs workload name on cpus vCPUs (a thread each) with
// spin-wait passing off or on, up to maxCycles (0: to the end, which must
// be a clean exit; else the run must stop with ErrMaxCycles).
func runWorkloadSpin(t *testing.T, name string, cpus int, maxCycles uint64, off bool) spinResult {
	t.Helper()
	wl, err := workloads.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.CPUs = cpus
	cfg.MaxCycles = maxCycles
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Load(wl.ELF, wl.Argv(workloads.Params{Threads: cpus, Pages: 256, Iterations: 2, Seed: 5})); err != nil {
		t.Fatal(err)
	}
	m.spinPassOff = off
	if maxCycles == 0 {
		return spinResult{statsText(runParMachine(t, m)), m.spinPasses}
	}
	err = m.Run(context.Background())
	if !errors.Is(err, ErrMaxCycles) {
		t.Fatalf("Run: %v, want %v", err, ErrMaxCycles)
	}
	return spinResult{err.Error() + "\n" + statsText(m.Stats()), m.spinPasses}
}
