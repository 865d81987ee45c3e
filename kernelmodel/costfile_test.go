package kernelmodel

import (
	"errors"
	"strings"
	"testing"
)

func TestParseCostFile(t *testing.T) {
	c := DefaultConfig()
	in := "# calibrated on my box\nkernel.fault_entry_exit = 2500\nipi.delivery_cycles=900 # comment\n\ntlb.invlpg = 150\ncpu.base = 2\ntlb.stlb_hit = 1_0\n"
	if err := ParseCostFile(&c, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if c.Costs.FaultEntryExit != 2500 || c.IPICosts.DeliveryCycles != 900 || c.TLB.Costs.Invlpg != 150 || c.CPUCosts.Base != 2 || c.TLB.Costs.STLBHit != 10 {
		t.Errorf("got fault=%d delivery=%d invlpg=%d base=%d stlb=%d", c.Costs.FaultEntryExit, c.IPICosts.DeliveryCycles, c.TLB.Costs.Invlpg, c.CPUCosts.Base, c.TLB.Costs.STLBHit)
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
	})
}
