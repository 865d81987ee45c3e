package kernelmodel

import (
	"errors"
	"strings"
	"testing"
)

// TestPresetSources: every cost key and the TLB geometry have a source in
// every preset, and every preset gives a configuration New accepts.
func TestPresetSources(t *testing.T) {
	for _, cm := range CPUModelNames {
		for _, vt := range VirtNames {
			c := DefaultConfig()
			p, err := ApplyPreset(&c, cm, vt)
			if err != nil {
				t.Fatalf("%s/%s: %v", cm, vt, err)
			}
			for _, k := range append(CostNames(), "tlb.geometry") {
				if p.Sources[k] == "" {
					t.Errorf("%s/%s: %s has no source", cm, vt, k)
				}
			}
			if len(p.Sources) != len(CostNames())+1 {
				t.Errorf("%s/%s: %d sources for %d keys: a source names no key", cm, vt, len(p.Sources), len(CostNames())+1)
			}
			if err := CheckCosts(&c); err != nil {
				t.Errorf("%s/%s: %v", cm, vt, err)
			}
			if _, err := New(c, nil); err != nil {
				t.Errorf("%s/%s: New: %v", cm, vt, err)
			}
		}
	}
}

// TestPresetsDiffer: each preset changes what its sources say it changes.
func TestPresetsDiffer(t *testing.T) {
	get := func(cm, vt string) Config {
		c := DefaultConfig()
		if _, err := ApplyPreset(&c, cm, vt); err != nil {
			t.Fatal(err)
		}
		return c
	}
	def := get("", "")
	if def.Costs != DefaultConfig().Costs || def.TLB.Name != DefaultConfig().TLB.Name {
		t.Error("the default preset is not DefaultConfig")
	}
	if h := get("haswell", "none"); h.TLB.Costs.Invlpg == def.TLB.Costs.Invlpg || h.TLB.STLB == def.TLB.STLB {
		t.Error("haswell: INVLPG or the STLB unchanged")
	}
	if z := get("zen3", "none"); !z.TLB.L1DAllSizes || z.Costs.LockedRMW >= def.Costs.LockedRMW {
		t.Error("zen3: no all-sizes L1 DTLB or no cheaper locked RMW")
	}
	k, n := get("zen3", "kvm"), get("zen3", "nested")
	bare := get("zen3", "none")
	if !(bare.IPICosts.ICRWrite < k.IPICosts.ICRWrite && k.IPICosts.ICRWrite < n.IPICosts.ICRWrite) {
		t.Errorf("ICR write bare %d, kvm %d, nested %d: want increasing", bare.IPICosts.ICRWrite, k.IPICosts.ICRWrite, n.IPICosts.ICRWrite)
	}
	if n.Costs.SyscallEntryExit != 2*bare.Costs.SyscallEntryExit {
		t.Errorf("nested syscall %d, bare %d: want x2", n.Costs.SyscallEntryExit, bare.Costs.SyscallEntryExit)
	}
}

func TestPresetNames(t *testing.T) {
	c := DefaultConfig()
	for _, bad := range [][2]string{{"pentium", ""}, {"", "xen"}} {
		_, err := ApplyPreset(&c, bad[0], bad[1])
		if err == nil || !strings.Contains(err.Error(), "valid: ") {
			t.Errorf("%v: error %v, want one listing the valid names", bad, err)
		}
	}
}

func TestYAMLCostFile(t *testing.T) {
	in := `# a cost file
kernel:
  zero_page: 1_000
cpu-model:
  haswell:
    tlb:
      invlpg: 111
  zen3:
    tlb:
      invlpg: 222
virt:
  nested:
    ipi:
      icr_write: 333
`
	c := DefaultConfig()
	if _, err := ApplyPreset(&c, "haswell", "nested"); err != nil {
		t.Fatal(err)
	}
	src := Sources{}
	if err := ParseCostFileSources(&c, strings.NewReader(in), "f.yaml", src); err != nil {
		t.Fatal(err)
	}
	if c.Costs.ZeroPage != 1000 || c.TLB.Costs.Invlpg != 111 || c.IPICosts.ICRWrite != 333 {
		t.Errorf("zero_page %d invlpg %d icr_write %d, want 1000 111 333", c.Costs.ZeroPage, c.TLB.Costs.Invlpg, c.IPICosts.ICRWrite)
	}
	if src["tlb.invlpg"] != "f.yaml:7" || src["kernel.zero_page"] != "f.yaml:3" || len(src) != 3 {
		t.Errorf("sources %v", src)
	}
	for _, tc := range []struct{ in, want string }{
		{"kernel:\n  nope: 1\n", `line 2: unknown key "kernel.nope"`},
		{"kernl:\n  zero_page: 1\n", `unknown section "kernl"`},
		{"kernel:\n  zero_page: 10000001\n", "line 2: kernel.zero_page = 10000001 is out of range (valid: 0..10000000 cycles)"},
		{"kernel:\n  zero_page: -1\n", `line 2: kernel.zero_page: "-1" is not a cycle count`},
		{"kernel:\n  zero_page: \"9\"\n", "line 2: kernel.zero_page: want a cycle count"},
		{"kernel:\n  zero_page: 1\n  zero_page: 2\n", "kernel.zero_page already set on line 2"},
		{"ipi:\n  delivery_cycles: 0\n", "ipi.delivery_cycles = 0 is out of range (valid: 1..10000000 cycles)"},
		{"cpu-model:\n  pentium:\n    tlb: {invlpg: 1}\n", `unknown cpu-model preset "pentium" (valid: skylake-sp, haswell`},
		{"cpu-model:\n  zen4:\n    tlb: {nope: 1}\n", `unknown key "tlb.nope"`},
		{"kernel: &a {zero_page: 1}\n", "anchors and aliases"},
		{"- 1\n", "want a mapping"},
	} {
		c := DefaultConfig()
		before := c
		err := ParseCostFile(&c, strings.NewReader(tc.in))
		if err == nil || !errors.Is(err, ErrCostFile) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.want)
		}
		if c.Costs != before.Costs || c.TLB.Costs != before.TLB.Costs || c.IPICosts != before.IPICosts {
			t.Errorf("%q: config changed by a failed parse", tc.in)
		}
	}
}

// TestUserCostPresets: the skylake-sp preset is cpu.DefaultCosts, and the
// user-mode classes differ between presets exactly where the instruction
// tables differ (the integer and floating-point dividers, the locked RMW).
func TestUserCostPresets(t *testing.T) {
	get := func(cm string) Config {
		c := DefaultConfig()
		if _, err := ApplyPreset(&c, cm, "none"); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if got := get("skylake-sp").CPUCosts; got != DefaultConfig().CPUCosts {
		t.Errorf("skylake-sp user costs %+v differ from the defaults %+v", got, DefaultConfig().CPUCosts)
	}
	sk, hw, icl, z3 := get("skylake-sp").CPUCosts, get("haswell").CPUCosts, get("icelake-sp").CPUCosts, get("zen3").CPUCosts
	for _, d := range []struct {
		what       string
		a, b       uint32
		aName, bNm string
	}{
		{"DIV r64", sk.UserDiv64, icl.UserDiv64, "skylake-sp", "icelake-sp"},
		{"DIV r64", sk.UserDiv64, z3.UserDiv64, "skylake-sp", "zen3"},
		{"DIV r32", sk.UserDiv32, hw.UserDiv32, "skylake-sp", "haswell"},
		{"DIVSD", sk.UserSseDiv, hw.UserSseDiv, "skylake-sp", "haswell"},
		{"LOCK ADD", sk.UserLocked, z3.UserLocked, "skylake-sp", "zen3"},
	} {
		if d.a == d.b {
			t.Errorf("%s: %s and %s both %d cycles; the tables differ", d.what, d.aName, d.bNm, d.a)
		}
	}
	// Ice Lake's divider is faster than Skylake's, Zen 3's faster still for
	// 64 bits (the tables' order, not their numbers).
	if !(z3.UserDiv64 < icl.UserDiv64 && icl.UserDiv64 < sk.UserDiv64) {
		t.Errorf("DIV r64: zen3 %d, icelake-sp %d, skylake-sp %d: want increasing", z3.UserDiv64, icl.UserDiv64, sk.UserDiv64)
	}
	// Where every table is at the one-cycle floor, every preset agrees.
	for _, cm := range CPUModelNames {
		c := get(cm).CPUCosts
		if c.UserALU != 1 || c.UserLoad != 1 || c.UserSseFP != 1 {
			t.Errorf("%s: alu %d load %d sse_fp %d, want the one-cycle floor", cm, c.UserALU, c.UserLoad, c.UserSseFP)
		}
	}
}

// TestCostFileUserClass: a cost file overrides a user-mode class, in the
// plain section and under a preset; an old or unknown key and a zero value
// are errors that name the key.
func TestCostFileUserClass(t *testing.T) {
	c := DefaultConfig()
	if _, err := ApplyPreset(&c, "zen3", "none"); err != nil {
		t.Fatal(err)
	}
	in := "cpu:\n  user_div64: 99\ncpu-model:\n  zen3:\n    cpu:\n      user_sse_div: 77\n  haswell:\n    cpu:\n      user_x87_div: 55\n"
	if err := ParseCostFile(&c, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if c.CPUCosts.UserDiv64 != 99 || c.CPUCosts.UserSseDiv != 77 || c.CPUCosts.UserX87Div != 5 {
		t.Errorf("div64 %d sse_div %d x87_div %d, want 99 77 5 (the haswell section does not apply)", c.CPUCosts.UserDiv64, c.CPUCosts.UserSseDiv, c.CPUCosts.UserX87Div)
	}
	for in, want := range map[string]string{
		"cpu:\n  base: 1\n":              `unknown key "cpu.base"`,
		"cpu:\n  user_string: 0\n":       "cpu.user_string = 0 is out of range (valid: 1..10000000 cycles)",
		"cpu:\n  user_branch_taken: x\n": "cpu.user_branch_taken",
	} {
		c := DefaultConfig()
		err := ParseCostFile(&c, strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error containing %q", in, err, want)
		}
	}
}
