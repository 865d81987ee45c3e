package sweep

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tlbemu/emu/internal/report"
)

// fakeRunner understands -workload, -cpus, -kernel, -patch, -thp and
// -seed, and counts "work" = cpus·seed (+1000 with a patch).
type fakeRunner struct{ runs atomic.Int64 }

func (f *fakeRunner) Identity(args []string) (*report.Identity, error) {
	id := &report.Identity{Args: args, Version: "test", Workload: "clear_refs", CPUs: 2, Seed: 1,
		Kernel: report.DefaultKernel, TLB: report.DefaultTLB, PCID: true, Quantum: report.DefaultQuantum,
		FlushCeil: report.DefaultFlushCeil, MemMiB: report.DefaultMemMiB, Costs: report.DefaultCostsLabel,
		MaxCycles: report.DefaultMaxCycles, DefMaxCycles: report.DefaultMaxCycles}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-thp=true" {
			id.THP = true
			continue
		}
		if a == "-thp=false" {
			continue
		}
		if i+1 >= len(args) {
			return nil, fmt.Errorf("flag %s needs a value", a)
		}
		v := args[i+1]
		i++
		switch a {
		case "-workload":
			id.Workload = v
		case "-cpus":
			id.CPUs, _ = strconv.Atoi(v)
		case "-kernel":
			id.Kernel = v
		case "-patch":
			id.Patches = strings.Split(v, ",")
		case "-seed":
			id.Seed, _ = strconv.ParseUint(v, 10, 64)
		default:
			return nil, fmt.Errorf("unknown flag %s", a)
		}
	}
	return id, nil
}

func (f *fakeRunner) Run(ctx context.Context, args []string) (*report.Result, error) {
	f.runs.Add(1)
	id, err := f.Identity(args)
	if err != nil {
		return nil, err
	}
	res := &report.Result{Status: "completed"}
	res.SetIdentity(id)
	work := uint64(id.CPUs) * id.Seed
	if len(id.Patches) > 0 {
		work += 1000
	}
	res.AddRun(id.Seed, []report.Sample{report.Count("work", "", work)},
		[][]report.Sample{{report.Count("cycles", "cycles", work*10)}},
		[]report.Hist{{Name: "pages", Buckets: []report.Bucket{{Value: 1, Count: id.Seed}}}})
	return res, nil
}

func testGrid() Grid {
	return Grid{Workloads: []string{"a", "b"}, CPUs: []int{2, 4}, PatchSets: [][]string{nil, {"p1", "p2"}},
		Knobs: []Knob{{"thp", []string{"false", "true"}}}, Seeds: []uint64{1, 2, 3}}
}

func TestPointsOrderAndNames(t *testing.T) {
	g := testGrid()
	pts, err := g.Points(&fakeRunner{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != g.Size() || len(pts) != 2*2*2*2*3 {
		t.Fatalf("%d points, Size %d", len(pts), g.Size())
	}
	// The seed varies fastest, the workload slowest.
	want0 := []string{"-workload", "a", "-cpus", "2", "-thp=false", "-seed", "1"}
	if !slices.Equal(pts[0].Args, want0) {
		t.Errorf("point 0 args %q, want %q", pts[0].Args, want0)
	}
	if pts[1].ID.Seed != 2 || pts[3].ID.THP != true || pts[len(pts)-1].ID.Workload != "b" {
		t.Errorf("order: %s, %s, %s", pts[1].Name(), pts[3].Name(), pts[len(pts)-1].Name())
	}
	names := map[string]bool{}
	for i, p := range pts {
		if p.Index != i {
			t.Errorf("point %d has index %d", i, p.Index)
		}
		if names[p.File()] {
			t.Errorf("file name %s twice", p.File())
		}
		names[p.File()] = true
		// The name is the identity's benchmark name and seed.
		if want := strings.TrimPrefix(p.ID.BenchName(), "BenchmarkWorkload/") + "/seed=" + strconv.FormatUint(p.ID.Seed, 10); p.Name() != want {
			t.Errorf("name %s, want %s", p.Name(), want)
		}
		if strings.ContainsAny(p.File(), "/ ") {
			t.Errorf("file name %q", p.File())
		}
	}
	if got := pts[8].File(); got != "workload=a,cpus=2,kernel=5.10,patch=p1+p2,seed=3.json" {
		t.Errorf("point 8 file %s", got)
	}
}

func TestPointsDuplicate(t *testing.T) {
	g := Grid{Workloads: []string{"a"}, Seeds: []uint64{1, 1}}
	if _, err := g.Points(&fakeRunner{}); err == nil || !strings.Contains(err.Error(), "same run") {
		t.Fatalf("duplicate seeds: %v", err)
	}
	g = Grid{Workloads: []string{"a"}, Knobs: []Knob{{"bogus", []string{"1"}}}}
	if _, err := g.Points(&fakeRunner{}); err == nil || !strings.Contains(err.Error(), "point 0") {
		t.Fatalf("bad knob: %v", err)
	}
	g = Grid{Seeds: make([]uint64, 1000), CPUs: make([]int, 1000)}
	if _, err := g.Points(&fakeRunner{}); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("huge grid: %v", err)
	}
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func TestRunJobsResume(t *testing.T) {
	g := testGrid()
	r := &fakeRunner{}
	pts, err := g.Points(r)
	if err != nil {
		t.Fatal(err)
	}
	d1, d3 := t.TempDir(), t.TempDir()
	var calls int
	sum, err := Run(context.Background(), r, pts, d1, Options{Jobs: 1, Progress: func(done, total int, p *Point) { calls++ }})
	if err != nil || sum.Ran != len(pts) || sum.Skipped != 0 || calls != len(pts) {
		t.Fatalf("run: %+v %v, %d progress calls", sum, err, calls)
	}
	if _, err := Run(context.Background(), r, pts, d3, Options{Jobs: 3}); err != nil {
		t.Fatal(err)
	}
	a, b := readDir(t, d1), readDir(t, d3)
	if len(a) != len(pts) {
		t.Fatalf("%d files for %d points", len(a), len(pts))
	}
	for n, data := range a {
		if !bytes.Equal(data, b[n]) {
			t.Errorf("%s differs between -j 1 and -j 3", n)
		}
	}
	// Resume: nothing reruns; a file of another configuration (the first
	// point's file holding the second point's result) and a truncated
	// file rerun.
	n0 := r.runs.Load()
	sum, err = Run(context.Background(), r, pts, d1, Options{Jobs: 2})
	if err != nil || sum.Ran != 0 || sum.Skipped != len(pts) || r.runs.Load() != n0 {
		t.Fatalf("resume: %+v %v, %d runs", sum, err, r.runs.Load()-n0)
	}
	f0, f1, f2 := filepath.Join(d1, pts[0].File()), filepath.Join(d1, pts[1].File()), filepath.Join(d1, pts[2].File())
	os.WriteFile(f0, a[pts[1].File()], 0o644)
	os.WriteFile(f2, a[pts[2].File()][:100], 0o644)
	os.Remove(f1)
	sum, err = Run(context.Background(), r, pts, d1, Options{Jobs: 2})
	if err != nil || sum.Ran != 3 || sum.Skipped != len(pts)-3 {
		t.Fatalf("partial resume: %+v %v", sum, err)
	}
	for n, data := range readDir(t, d1) {
		if !bytes.Equal(data, a[n]) {
			t.Errorf("%s differs after the resume", n)
		}
	}
}

func TestRunInterrupted(t *testing.T) {
	g := testGrid()
	r := &fakeRunner{}
	pts, _ := g.Points(r)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	sum, err := Run(ctx, r, pts, dir, Options{Jobs: 2})
	if err == nil {
		t.Fatalf("a cancelled sweep returned no error: %+v", sum)
	}
	// Whatever ran is complete: every file present reads back.
	res, _, lerr := Load(dir)
	if lerr == nil && len(res) != sum.Ran {
		t.Errorf("%d results for %d points run", len(res), sum.Ran)
	}
}

func TestMerge(t *testing.T) {
	g := Grid{Workloads: []string{"a"}, CPUs: []int{2, 4}, Seeds: []uint64{3, 1, 2}}
	r := &fakeRunner{}
	pts, _ := g.Points(r)
	dir := t.TempDir()
	if _, err := Run(context.Background(), r, pts, dir, Options{Jobs: 2}); err != nil {
		t.Fatal(err)
	}
	results, names, err := Load(dir)
	if err != nil || len(results) != 6 || !slices.IsSorted(names) {
		t.Fatalf("load: %d results, %v, %v", len(results), names, err)
	}
	merged, err := Merge(results)
	if err != nil {
		t.Fatal(err)
	}
	if len(merged) != 2 {
		t.Fatalf("%d merged results, want 2", len(merged))
	}
	for _, m := range merged {
		id := m.Identity()
		if !slices.Equal(m.Seeds, []uint64{1, 2, 3}) || id.Seed != 1 {
			t.Errorf("seeds %v, identity seed %d", m.Seeds, id.Seed)
		}
		w, _ := m.Counter("work")
		// work = cpus·seed: the mean over seeds 1..3 is 2·cpus.
		if w.Mean() != float64(2*id.CPUs) || !slices.Equal(w.Exact, []uint64{uint64(id.CPUs), uint64(2 * id.CPUs), uint64(3 * id.CPUs)}) {
			t.Errorf("cpus %d: work %v (mean %v)", id.CPUs, w.Exact, w.Mean())
		}
		if h := m.Hists[0]; h.Total() != 6 {
			t.Errorf("histogram total %d, want 1+2+3", h.Total())
		}
		if !strings.HasSuffix(m.Command, " -seed 1 -r 3") {
			t.Errorf("command %q", m.Command)
		}
	}
	// The merged result is what an -r run of the same seeds collects.
	direct := &report.Result{Status: "completed"}
	id, _ := r.Identity(pts[0].Args)
	id.Seed = 1
	direct.SetIdentity(id)
	for s := uint64(1); s <= 3; s++ {
		one, _ := r.Run(context.Background(), []string{"-workload", "a", "-cpus", "2", "-seed", strconv.FormatUint(s, 10)})
		direct.AddRun(s, samples(one.Counters, 0), [][]report.Sample{samples(one.PerCPU[0].Counters, 0)}, one.Hists)
	}
	direct.Command = merged[0].Command
	var a, b bytes.Buffer
	report.WriteJSON(&a, merged[0])
	report.WriteJSON(&b, direct)
	if a.String() != b.String() {
		t.Errorf("merged:\n%s\ndirect -r:\n%s", a.String(), b.String())
	}
	// The same seed twice in one group is an error.
	if _, err := Merge(append(results, results[0])); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate seed: %v", err)
	}
}

func TestMergedCommand(t *testing.T) {
	runs := func(seeds ...uint64) []run {
		var out []run
		for _, s := range seeds {
			out = append(out, run{seed: s})
		}
		return out
	}
	for _, c := range []struct {
		cmd   string
		seeds []uint64
		want  string
	}{
		{"emu -workload a -seed 4", []uint64{4, 5}, "emu -workload a -seed 4 -r 2"},
		{"emu -workload a -seed 1", []uint64{1, 3}, "emu -workload a -seed 1 (merged seeds 1,3)"},
		{"emu -workload a -seed 1", []uint64{1}, "emu -workload a -seed 1"},
		{"emu -workload a", []uint64{1, 2}, "emu -workload a"},
	} {
		if got := mergedCommand(c.cmd, runs(c.seeds...)); got != c.want {
			t.Errorf("mergedCommand(%q, %v) = %q, want %q", c.cmd, c.seeds, got, c.want)
		}
	}
}
