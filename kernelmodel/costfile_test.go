package kernelmodel

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseCostFile(t *testing.T) {
	c := DefaultConfig()
	in := "# calibrated on my box\nkernel.fault_entry_exit = 2500\nipi.delivery_cycles=900 # comment\n\ntlb.invlpg = 150\ncpu.user_alu = 2\ntlb.stlb_hit = 1_0\n"
	if err := ParseCostFile(&c, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if c.Costs.FaultEntryExit != 2500 || c.IPICosts.DeliveryCycles != 900 || c.TLB.Costs.Invlpg != 150 || c.CPUCosts.UserALU != 2 || c.TLB.Costs.STLBHit != 10 {
		t.Errorf("got fault=%d delivery=%d invlpg=%d base=%d stlb=%d", c.Costs.FaultEntryExit, c.IPICosts.DeliveryCycles, c.TLB.Costs.Invlpg, c.CPUCosts.UserALU, c.TLB.Costs.STLBHit)
	}
	for _, bad := range []string{"kernel.nope = 1", "kernel.fault_entry_exit = -3", "fault_entry_exit = 3", "x", "tlb.invlpg = 1\ntlb.invlpg = 2", "tlb.invlpg = 99999999999", "ipi.delivery_cycles = 0"} {
		c := DefaultConfig()
		err := ParseCostFile(&c, strings.NewReader(bad))
		if !errors.Is(err, ErrCostFile) {
			t.Errorf("%q: err = %v, want ErrCostFile", bad, err)
		}
		if c.Costs != DefaultConfig().Costs || c.TLB.Costs != DefaultConfig().TLB.Costs {
			t.Errorf("%q: config changed by a failed parse", bad)
		}
	}
	if keys := CostKeys(DefaultConfig()); len(keys) < 30 || !strings.HasPrefix(keys[0], "cpu.") {
		t.Errorf("CostKeys = %d keys starting %q", len(keys), keys[0])
	}
}

func FuzzParseCostFile(f *testing.F) {
	f.Add("kernel.fault_entry_exit = 2500\n")
	f.Add("# x\nipi.ack_cycles=1\ntlb.walk_ref = 3")
	f.Add("tlb.invlpg = 18446744073709551615")
	f.Add("kernel:\n  zero_page: 900\ncpu-model:\n  skylake-sp:\n    tlb: {invlpg: 150}\nvirt:\n  none:\n    ipi: {icr_write: 1_000}\n")
	f.Add("a: &x {b: 1}\nc: *x\n")
	f.Add("ipi: {cluster_size: 0}\n")
	f.Add("tlb: [1, 2]\n")
	f.Fuzz(func(t *testing.T, s string) {
		c := DefaultConfig()
		before := c
		err := ParseCostFile(&c, strings.NewReader(s))
		if err != nil {
			if !errors.Is(err, ErrCostFile) {
				t.Fatalf("error %v does not wrap ErrCostFile", err)
			}
			if c.Costs != before.Costs || c.IPICosts != before.IPICosts || c.TLB.Costs != before.TLB.Costs || c.CPUCosts != before.CPUCosts {
				t.Fatal("failed parse changed the config")
			}
			return
		}
		if c.IPICosts.DeliveryCycles == 0 {
			t.Fatal("accepted a zero IPI delivery latency")
		}
		if err := CheckCosts(&c); err != nil {
			t.Fatalf("accepted a cost out of range: %v", err)
		}
	})
}

// TestCostFieldsHoldMaxCost: every cost key is an unsigned field wide
// enough for MaxCost, so ParseCostFile's SetUint never truncates, and every
// default is in range.
func TestCostFieldsHoldMaxCost(t *testing.T) {
	c := DefaultConfig()
	for sec, v := range c.costSections() {
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			switch f.Type.Kind() {
			case reflect.Uint32, reflect.Uint64, reflect.Uint:
			default:
				t.Errorf("%s.%s is %s, not a uint32/uint64", sec, snake(f.Name), f.Type)
			}
		}
	}
	if err := CheckCosts(&c); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// TestCostRanges: each key takes CostRange's edges and refuses one past
// them, in a cost file and in a Config handed to New.
func TestCostRanges(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" for accepted
	}{
		{"kernel.zero_page = 10000000", ""},
		{"kernel.zero_page = 0", ""},
		{"kernel.zero_page = 10000001", "line 1: kernel.zero_page = 10000001 is out of range (valid: 0..10000000 cycles)"},
		{"kernel.zero_page = 18446744073709551000", "kernel.zero_page = 18446744073709551000 is out of range"},
		{"ipi.delivery_cycles = 18446744073709551615", "ipi.delivery_cycles = 18446744073709551615 is out of range (valid: 1..10000000 cycles)"},
		{"ipi.delivery_cycles = 9223372036854775808", "is out of range"},
		{"ipi.delivery_cycles = 1", ""},
		{"ipi.delivery_cycles = 0", "ipi.delivery_cycles = 0 is out of range (valid: 1..10000000 cycles)"},
		{"cpu.user_alu = 0", "cpu.user_alu = 0 is out of range (valid: 1..10000000 cycles)"},
		{"cpu.user_div64 = 4294967296", "cpu.user_div64 = 4294967296 is out of range"}, // a uint32 field
		{"kernel.spin_poll = 0", "kernel.spin_poll = 0 is out of range"},
		{"tlb.invlpg = 18446744073709551616", "is not a cycle count (0..10000000)"},
	} {
		c := DefaultConfig()
		err := ParseCostFile(&c, strings.NewReader(tc.in))
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
	cfg := DefaultConfig()
	cfg.Costs.ZeroPage = 18446744073709551000
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "kernel.zero_page = 18446744073709551000 is out of range") {
		t.Errorf("New with kernel.zero_page 2^64-616: %v", err)
	}
}

// TestMaxRangeRun: with every cost at MaxCost and -max-cycles at 2^64-1,
// a guest that maps, faults, changes protections, advises away and unmaps
// runs to its end with clocks that only grew (no cost sum wrapped), the
// same twice. (2^64-1 used to wrap the run's deadline to 0: the run never
// advanced.)
func TestMaxRangeRun(t *testing.T) {
	var file strings.Builder
	for _, kv := range CostKeys(DefaultConfig()) {
		k, _, _ := strings.Cut(kv, " = ")
		fmt.Fprintf(&file, "%s = %d\n", k, MaxCost)
	}
	run := func(cfg Config) Stats {
		t.Helper()
		cfg.CPUs = 2
		cfg.MemBytes = 32 << 20
		m, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Load(guestELF(fuzzProgram(fuzzSeeds()[0])), []string{"/guest"}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := m.Run(ctx); err != nil {
			t.Fatalf("run: %v", err)
		}
		return m.Stats()
	}
	base := run(DefaultConfig())
	cfg := DefaultConfig()
	if err := ParseCostFile(&cfg, strings.NewReader(file.String())); err != nil {
		t.Fatal(err)
	}
	cfg.MaxCycles = ^uint64(0)
	hi, hi2 := run(cfg), run(cfg)
	if !slices.Equal(hi.Counters, hi2.Counters) {
		t.Error("max-range run not deterministic")
	}
	el := func(s Stats) uint64 {
		for _, c := range s.Counters {
			if c.Name == "emu_elapsed_cycles" {
				return c.Value
			}
		}
		t.Fatal("no emu_elapsed_cycles")
		return 0
	}
	b, h := el(base), el(hi)
	// Every instruction costs at least MaxCost now instead of 1 cycle.
	instr := uint64(0)
	for _, c := range hi.Counters {
		if c.Name == "instructions" {
			instr = c.Value
		}
	}
	if h <= b || h < instr/2*MaxCost || h > 1<<62 {
		t.Errorf("elapsed cycles %d at max costs (%d instructions), %d at defaults", h, instr, b)
	}
}
