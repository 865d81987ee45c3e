package study

import (
	"strings"
	"testing"

	"github.com/tlbemu/emu/internal/report"
)

// synthetic builds a study of def over cpus and five seeds from counts:
// counts(variant, cpus, seed index) gives a run's counters; a counter it
// does not set is 0.
func synthetic(t *testing.T, def *Def, cpus []int, counts func(v, c, s int) map[string]uint64) *Study {
	t.Helper()
	seeds := []uint64{1, 2, 3, 4, 5}
	var results []*report.Result
	for vi := range def.Variants {
		for _, c := range cpus {
			for si, seed := range seeds {
				m := counts(vi, c, si)
				var samples []report.Sample
				for _, name := range append(append([]string{}, def.Loss...), def.Cost...) {
					samples = append(samples, report.Count(name, "", m[name]))
				}
				r := &report.Result{Version: "test"}
				r.AddRun(seed, samples, nil, nil)
				results = append(results, r)
			}
		}
	}
	st, err := Build(def, cpus, seeds, results)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

var synthDef = &Def{
	Name: "synth", Workload: "clear_refs",
	Loss: []string{"lost_a", "lost_b"},
	Cost: []string{RemoteFlush, LocalFlushAll, PendingFlushes},
	Variants: []Variant{
		{Name: "base", Kernel: "5.10"},
		{Name: "v", Kernel: "5.10", Patches: []string{"p"}},
	},
}

// verdictOf is variant v's verdict line, without its name.
func verdictOf(t *testing.T, st *Study, v int) string {
	t.Helper()
	line := st.Verdicts[v]
	_, rest, ok := strings.Cut(line, ": ")
	if !ok {
		t.Fatalf("verdict %q has no name", line)
	}
	return rest
}

func TestVerdictRules(t *testing.T) {
	cpus := []int{2, 4, 8}
	type run = map[string]uint64
	tests := []struct {
		name      string
		counts    func(v, c, s int) run
		baseWant  string // substring of the baseline's verdict
		want      []string
		notWanted []string
	}{{
		name: "closes everywhere, costs flushes",
		counts: func(v, c, s int) run {
			if v == 0 {
				return run{"lost_a": 10 + uint64(s), "lost_b": 1, RemoteFlush: 3, LocalFlushAll: 1}
			}
			return run{RemoteFlush: 30 + uint64(s), LocalFlushAll: 1}
		},
		baseWant:  "loses tracking at every CPU count (mean 13 lost per run, 15 of 15 runs)",
		want:      []string{"closes the hole at every CPU count (0 lost in all 15 runs)", "costs +", "remote flushes (significant at 2, 4, 8 CPUs)"},
		notWanted: []string{"for no hazard", "only at"},
	}, {
		name: "one run at one CPU count still loses: not closed",
		counts: func(v, c, s int) run {
			if v == 0 {
				return run{"lost_a": 10, RemoteFlush: 3}
			}
			if c == 8 && s == 4 {
				return run{"lost_b": 1, RemoteFlush: 3}
			}
			return run{RemoteFlush: 3}
		},
		want:      []string{"closes it at 2, 4 CPUs only, loses at 8 CPUs", "no significant change in remote flushes"},
		notWanted: []string{"every CPU count", "only at ≥"},
	}, {
		name: "no loss on either side, flushes for no hazard",
		counts: func(v, c, s int) run {
			if v == 0 {
				return run{RemoteFlush: 10 + uint64(s)}
			}
			return run{RemoteFlush: 20 + uint64(s), PendingFlushes: 10}
		},
		baseWant: "loses nothing at any CPU count",
		want:     []string{"no loss on either side", "costs +", "for no hazard"},
	}, {
		name: "leaves loss everywhere, saves flushes",
		counts: func(v, c, s int) run {
			if v == 0 {
				return run{"lost_a": 10, RemoteFlush: 20 + uint64(s)}
			}
			return run{"lost_a": 5, RemoteFlush: 10 + uint64(s)}
		},
		want: []string{"leaves lost events at every CPU count (mean 5 per run; base: 10)", "saves "},
	}, {
		name: "threshold with escalation, and the check fires below it",
		counts: func(v, c, s int) run {
			if v == 0 {
				return run{"lost_a": 10, RemoteFlush: 3, LocalFlushAll: 1}
			}
			if c == 2 {
				return run{"lost_b": 20, RemoteFlush: 300 + uint64(s), LocalFlushAll: 1, PendingFlushes: 300}
			}
			return run{RemoteFlush: 900 + uint64(s), LocalFlushAll: 300 + uint64(s), PendingFlushes: 900}
		},
		want: []string{"closes it only at ≥ 4 CPUs (loses at 2)", "the loss disappears together with nr_tlb_local_flush_all escalation (1 → 302 at 4 CPUs)",
			", not with the check (300 flush-pending flushes at 2 CPUs leave 20 lost)"},
	}, {
		name: "threshold without escalation, no check",
		counts: func(v, c, s int) run {
			if v == 0 {
				return run{"lost_a": 10, RemoteFlush: 3, LocalFlushAll: 100}
			}
			if c <= 4 {
				return run{"lost_a": 3, RemoteFlush: 3, LocalFlushAll: 100}
			}
			// Significantly more full flushes, but less than twice the
			// baseline's: no escalation.
			return run{RemoteFlush: 3, LocalFlushAll: 150 + uint64(s)}
		},
		want:      []string{"closes it only at ≥ 8 CPUs (loses at 2, 4): not explained by nr_tlb_local_flush_all escalation"},
		notWanted: []string{"together with", "not with the check"},
	}, {
		name: "baseline loses at some CPU counts only",
		counts: func(v, c, s int) run {
			if v == 0 && c == 2 {
				return run{"lost_a": 4}
			}
			return run{}
		},
		baseWant: "loses tracking at 2 CPUs only (mean 4 lost per run there, 5 of 15 runs)",
		want:     []string{"closes the hole at every CPU count", "no significant change in remote flushes"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := synthetic(t, synthDef, cpus, tc.counts)
			if len(st.Verdicts) != 2 {
				t.Fatalf("got %d verdicts, want 2: %q", len(st.Verdicts), st.Verdicts)
			}
			if tc.baseWant != "" && !strings.Contains(st.Verdicts[0], tc.baseWant) {
				t.Errorf("baseline verdict %q lacks %q", st.Verdicts[0], tc.baseWant)
			}
			got := verdictOf(t, st, 1)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("verdict %q lacks %q", got, w)
				}
			}
			for _, w := range tc.notWanted {
				if strings.Contains(got, w) {
					t.Errorf("verdict %q has %q", got, w)
				}
			}
		})
	}
}

func TestBuildStats(t *testing.T) {
	st := synthetic(t, synthDef, []int{2}, func(v, c, s int) map[string]uint64 {
		if v == 0 {
			return map[string]uint64{"lost_a": uint64(s), "lost_b": 1, RemoteFlush: 10}
		}
		return map[string]uint64{"lost_a": 0, RemoteFlush: 10}
	})
	c := st.Variants[0].Cells[0]
	if c.Lost.Mean != 3 || c.Lost.Min != 1 || c.Lost.Max != 5 || c.Lost.Nonzero != 5 {
		t.Errorf("baseline lost = %+v, want mean 3, min 1, max 5, 5 runs with loss", c.Lost)
	}
	if a := c.Loss[0]; a.Nonzero != 4 || a.Mean != 2 {
		t.Errorf("lost_a = %+v, want 4 runs with loss, mean 2", a)
	}
	if len(c.LossSeeds) != 5 {
		t.Errorf("loss seeds %v, want all five", c.LossSeeds)
	}
	v := st.Variants[1].Cells[0]
	if v.Lost.Change != -100 || !v.Lost.Significant {
		t.Errorf("variant lost change %v significant %v, want -100, true", v.Lost.Change, v.Lost.Significant)
	}
	if r := v.Cost[0]; r.Change != 0 || r.Significant {
		t.Errorf("equal remote flushes: change %v significant %v, want 0, false", r.Change, r.Significant)
	}
}

func TestBuildMissingCounter(t *testing.T) {
	r := &report.Result{Version: "test"}
	r.AddRun(1, []report.Sample{report.Count("lost_a", "", 1)}, nil, nil)
	def := &Def{Name: "x", Loss: []string{"lost_a", "lost_b"}, Variants: []Variant{{Name: "base"}}}
	_, err := Build(def, []int{2}, []uint64{1}, []*report.Result{r})
	if err == nil || !strings.Contains(err.Error(), "lost_b") {
		t.Fatalf("err = %v, want one naming lost_b", err)
	}
}
