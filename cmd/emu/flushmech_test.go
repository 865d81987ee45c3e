package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tlbemu/emu/internal/report"
	"github.com/tlbemu/emu/kernelmodel"
)

// broadcastKernel returns a -kernel that has the broadcast flush path. Until
// the 6.18 baseline exists in kernelmodel.Kernels, the test lets the default
// kernel stand in for it (the global-ASID model hooks into its flush path).
func broadcastKernel(t *testing.T) string {
	for _, k := range broadcastKernels {
		if _, ok := kernelmodel.Kernels[k]; ok {
			return k
		}
	}
	saved := broadcastKernels
	broadcastKernels = append(slices.Clone(saved), report.DefaultKernel)
	t.Cleanup(func() { broadcastKernels = saved })
	return report.DefaultKernel
}

func TestFlushFlagErrors(t *testing.T) {
	k := broadcastKernel(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-flush", "tlbi"}, `emu: unknown -flush "tlbi" (valid: ipi, invlpgb, rar)`},
		{[]string{"-flush", "invlpgb", "-kernel", "5.10-stable"}, "emu: -flush invlpgb needs -kernel"},
		{[]string{"-flush", "invlpgb", "-kernel", k}, "emu: -flush invlpgb needs a CPU that offers it (invlpgb: -cpu-model zen3 or zen4; rar: -cpu-model sapphire-rapids); -cpu-model skylake-sp offers: ipi"},
		{[]string{"-flush", "rar", "-kernel", k, "-cpu-model", "zen3"}, "emu: -flush rar needs a CPU that offers it (invlpgb: -cpu-model zen3 or zen4; rar: -cpu-model sapphire-rapids); -cpu-model zen3 offers: ipi, invlpgb"},
	}
	for _, c := range cases {
		code, _, stderr := emu(t, args(c.args...)...)
		if code != 2 || !strings.HasPrefix(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line starting %q", c.args, code, stderr, c.want)
		}
	}
}

// TestABFlushModelEstimate: emu ab -flush rar compares -flush ipi (A) with
// RAR (B) on a tlb_flush2-shaped workload: B gives the process a global
// ASID and replaces most flush IPIs by RAR requests, and the output is
// labelled a model estimate naming the kernel.rar_* keys with their values.
func TestABFlushModelEstimate(t *testing.T) {
	k := broadcastKernel(t)
	ab := []string{"ab", "-workload", "madvise", "-cpus", "8", "-iterations", "100", "-kernel", k, "-cpu-model", "sapphire-rapids", "-flush", "rar"}
	code, out, stderr := emu(t, append(ab, "-json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Labels   []string `json:"labels"`
		Estimate []string `json:"model_estimate"`
		Changes  []struct {
			Counter string        `json:"counter"`
			Means   []json.Number `json:"means"`
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.Labels, []string{"ipi", "rar"}) {
		t.Errorf("labels %v, want [ipi rar]", doc.Labels)
	}
	if len(doc.Estimate) != 1 {
		t.Fatalf("model_estimate %v, want one line", doc.Estimate)
	}
	for _, key := range kernelmodel.FlushEstimateKeys(kernelmodel.FlushRAR) {
		if !strings.Contains(doc.Estimate[0], key+"=") {
			t.Errorf("model estimate %q does not name %s", doc.Estimate[0], key)
		}
	}
	mean := func(name string, side int) float64 {
		for _, c := range doc.Changes {
			if c.Counter == name {
				f, _ := c.Means[side].Float64()
				return f
			}
		}
		t.Fatalf("no change row %s", name)
		return 0
	}
	if a, b := mean("emu_ipis_sent", 0), mean("emu_ipis_sent", 1); b >= a/2 {
		t.Errorf("emu_ipis_sent %v → %v: RAR should replace most flush IPIs", a, b)
	}
	if mean("emu_global_asids", 1) != 1 || mean("emu_rar_requests", 1) == 0 {
		t.Errorf("side B: global ASIDs %v, RAR requests %v; want 1 and some", mean("emu_global_asids", 1), mean("emu_rar_requests", 1))
	}
	// The text form ends with the label.
	_, text, _ := emu(t, ab...)
	if !strings.Contains(text, "\nmodel estimate: -flush rar depends on cost keys no measurement backs") {
		t.Errorf("text comparison without the model-estimate label:\n%s", text)
	}
}
