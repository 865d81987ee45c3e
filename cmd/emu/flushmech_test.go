package main

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tlbemu/emu/kernelmodel"
)

// broadcastKernel is the -kernel baseline with the broadcast flush path
// (global ASIDs and broadcast_tlb_flush, v6.15+).
const broadcastKernel = "6.18"

// TestBroadcastKernelsExist: every -kernel that -flush invlpgb|rar accepts
// is a baseline of kernelmodel.Kernels, and 6.18 is one of them.
func TestBroadcastKernelsExist(t *testing.T) {
	if !slices.Contains(broadcastKernels, broadcastKernel) {
		t.Errorf("broadcastKernels %v lacks %s", broadcastKernels, broadcastKernel)
	}
	for _, k := range broadcastKernels {
		if _, ok := kernelmodel.Kernels[k]; !ok {
			t.Errorf("broadcast kernel %q is not in kernelmodel.Kernels (%v)", k, kernelmodel.KernelNames())
		}
	}
}

func TestFlushFlagErrors(t *testing.T) {
	k := broadcastKernel
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
	k := broadcastKernel
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

// abRow returns side A's and side B's means of counter name in a printed
// emu ab table (the LKP layout: A, %change, B, name).
func abRow(t *testing.T, table, name string) (a, b float64) {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[len(f)-1] != name || !strings.HasSuffix(f[1], "%") {
			continue
		}
		var err1, err2 error
		a, err1 = strconv.ParseFloat(f[0], 64)
		b, err2 = strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("row %q: %v %v", line, err1, err2)
		}
		return a, b
	}
	t.Fatalf("no row %s in\n%s", name, table)
	return 0, 0
}

// TestVanRielINVLPGBShare checks printed emu ab tables against Rik van
// Riel's INVLPGB result on will-it-scale tlb_flush2_threads (AMD Milan, 36
// cores): "TLB invalidation went down from 40% of the total CPU time to only
// around 4%" ("AMD broadcast TLB invalidation" cover letter v2, spinics
// linux-mm msg417207). On the tlb_flush2-shaped madvise workload (zen3, 16
// CPUs), side B (INVLPGB), in its steady state, must at least halve side
// A's (IPIs) share; side A is recorded outside 40% ±30% (see below). The steady state is the
// increment between a 100- and a 300-iteration run: the process gets its
// global ASID only when consider_global_asid's 32-tick rotation reaches one
// of its threads, ≈ 2 ticks in, and flushes with IPIs until then (a
// benchmark run of minutes does not see that). B's magnitude is not
// reproduced (the model gives ≈ 8%, not 4%): TLBSYNC waits for
// tlb.invlpgb_latency, an ASSUMPTION with no published figure.
func TestVanRielINVLPGBShare(t *testing.T) {
	if testing.Short() {
		t.Skip("two emu ab runs of the 16-CPU madvise workload")
	}
	k := broadcastKernel
	table := func(iters string) string {
		code, out, stderr := emu(t, "ab", "-workload", "madvise", "-cpus", "16", "-iterations", iters, "-kernel", k, "-cpu-model", "zen3", "-flush", "invlpgb")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		return out
	}
	short, long := table("100"), table("300")
	ia, ib := abRow(t, short, "emu_tlb_invalidation_cycles")
	ca, cb := abRow(t, short, "cycles")
	_, ib3 := abRow(t, long, "emu_tlb_invalidation_cycles")
	_, cb3 := abRow(t, long, "cycles")
	sa, sb := ia/ca, (ib3-ib)/(cb3-cb)
	t.Logf("TLB invalidation share of CPU time: IPIs %.1f%%, INVLPGB %.1f%% in the steady state (%.1f%% over the 100-iteration run); published 40%% → ~4%%", 100*sa, 100*sb, 100*ib/cb)
	// Since PTE-lock and mmap_lock holds no longer overlap in emulated
	// time, the PTE-lock waits of 16 threads on one mapping take a share
	// Milan's run did not show, and the IPI side is below the band
	// (README, Broadcast invalidation). The test keeps README honest: it
	// fails if the side comes back within the band.
	if sa >= 0.7*0.40 && sa <= 1.3*0.40 {
		t.Errorf("IPI side: TLB invalidation %.1f%% of CPU time is now within 40%% ±30%%: README says it is not; update it and this test", 100*sa)
	}
	if sb > sa/2 {
		t.Errorf("INVLPGB side: %.1f%% of CPU time in the steady state, want at most half the IPI side's %.1f%%", 100*sb, 100*sa)
	}
}

// TestABFlushTooShort: a run too short for consider_global_asid to come up
// flushes nothing by broadcast, and emu ab -flush says why. With INVLPGB
// no counter differs; with RAR the RFC's should_flush_all (v3 7/7) still
// sends the once-a-second trimming flush to lazy CPUs too, so the
// counters may differ, but no RAR request is made.
func TestABFlushTooShort(t *testing.T) {
	for _, c := range []struct{ model, mech string }{{"zen3", "invlpgb"}, {"sapphire-rapids", "rar"}} {
		code, out, stderr := emu(t, "ab", "-workload", "madvise", "-cpus", "8", "-kernel", broadcastKernel, "-cpu-model", c.model, "-flush", c.mech)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(out, "\nnote: no process got a global ASID, so -flush "+c.mech+" flushed nothing by broadcast") {
			t.Errorf("-flush %s, short run: no note why, got\n%s", c.mech, out)
		}
		if c.mech == "invlpgb" && !strings.Contains(out, "(no counter differs)") {
			t.Errorf("-flush invlpgb, short run: counters differ\n%s", out)
		}
		if strings.Contains(out, "emu_rar_requests") || strings.Contains(out, "emu_invlpgb") {
			t.Errorf("-flush %s, short run: broadcast flushes counted\n%s", c.mech, out)
		}
	}
}
