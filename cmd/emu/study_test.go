package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/tlbemu/emu/internal/study"
)

func runStudy(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), append([]string{"study", "-q"}, args...), nil, &out, &errb); code != 0 {
		t.Fatalf("emu study %v: exit %d: %s", args, code, errb.String())
	}
	return out.String()
}

func TestStudyBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nosuch"}, "valid: clear_refs, clear_refs_predump, uffd_wp"},
		{nil, "valid: clear_refs, clear_refs_predump, uffd_wp"},
		{[]string{"-cpus", "0", "clear_refs"}, "valid: counts 1..256"},
		{[]string{"-cpus", "2,2", "clear_refs"}, "listed twice"},
		{[]string{"-seeds", "x", "clear_refs"}, "-seeds"},
		{[]string{"-j", "-1", "clear_refs"}, "-j must be 0..4096"},
		{[]string{"-pages", "3", "uffd_wp"}, "-pages must be 0 (the default, 2048) or 16..16777216 for workload uffd_wp, got 3"},
		{[]string{"-iterations", "-1", "clear_refs"}, "-iterations must be 0 (the default, 20) or 1..100000"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"study"}, tc.args...), nil, &out, &errb)
		msg := errb.String()
		if code != exitUsage || !strings.HasPrefix(msg, "emu: ") || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, tc.want) {
			t.Errorf("emu study %v: exit %d, stderr %q; want exit 2 and one emu: line naming %q", tc.args, code, msg, tc.want)
		}
	}
}

// TestStudySize: -pages and -iterations reach every point: the header
// names them, and the points are the smaller runs (fewer cycles than the
// defaults give).
func TestStudySize(t *testing.T) {
	small := runStudy(t, "-cpus", "2", "-seeds", "1", "-pages", "256", "-iterations", "3", "clear_refs")
	if !strings.Contains(small, "workload clear_refs (-pages 256 -iterations 3), CPUs 2, seeds 1:") {
		t.Fatalf("header does not name the size:\n%s", small)
	}
	var st, def study.Study
	if err := json.Unmarshal([]byte(runStudy(t, "-cpus", "2", "-seeds", "1", "-pages", "256", "-iterations", "3", "-json", "clear_refs")), &st); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(runStudy(t, "-cpus", "2", "-seeds", "1", "-json", "clear_refs")), &def); err != nil {
		t.Fatal(err)
	}
	cycles := func(st *study.Study) float64 {
		for _, c := range st.Variants[0].Cells[0].Cost {
			if c.Name == "cycles" {
				return c.Mean
			}
		}
		t.Fatal("no cycles cost")
		return 0
	}
	a, b := cycles(&st), cycles(&def)
	if !(a > 0 && a < b/2) {
		t.Errorf("5.10 cycles at -pages 256 -iterations 3: %v, default size %v: want a much smaller run", a, b)
	}
}

// TestStudyDeterministic: the same study at -j 1 and -j 2, GOMAXPROCS 1
// and 2, is the same bytes.
func TestStudyDeterministic(t *testing.T) {
	args := []string{"-cpus", "3", "-seeds", "1-2", "-json", "clear_refs"}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	a := runStudy(t, append([]string{"-j", "1"}, args...)...)
	runtime.GOMAXPROCS(2)
	b := runStudy(t, append([]string{"-j", "2"}, args...)...)
	if a != b {
		t.Fatalf("-j 1 GOMAXPROCS 1 and -j 2 GOMAXPROCS 2 differ:\n%s\n---\n%s", a, b)
	}
}

// smallStudies are the studies at CPU counts 2 and 4, seeds 1 and 2 (all
// variants), run once for the tests below.
var smallStudies = struct {
	once sync.Once
	st   map[string]*study.Study
	err  error
}{}

func smallStudy(t *testing.T, name string) *study.Study {
	t.Helper()
	smallStudies.once.Do(func() {
		smallStudies.st = map[string]*study.Study{}
		for _, n := range study.Names() {
			def, _ := study.Lookup(n)
			st, err := study.Run(context.Background(), emuRunner{stderr: &lockedWriter{w: os.Stderr}}, def,
				study.Options{CPUs: []int{2, 4}, Seeds: []uint64{1, 2}})
			if err != nil {
				smallStudies.err = err
				return
			}
			smallStudies.st[n] = st
		}
	})
	if smallStudies.err != nil {
		t.Fatal(smallStudies.err)
	}
	return smallStudies.st[name]
}

func variant(t *testing.T, st *study.Study, name string) study.VariantRow {
	t.Helper()
	for _, v := range st.Variants {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("study %s has no variant %s", st.Study, name)
	return study.VariantRow{}
}

func cost(c study.Cell, name string) study.Stat {
	for _, s := range c.Cost {
		if s.Name == name {
			return s
		}
	}
	return study.Stat{}
}

// TestStudyMechanisms pins what the clear_refs and uffd_wp studies find
// on the model: the proposal's check fires at 2 CPUs and still leaves lost
// pages; at 4 CPUs nothing is lost and nr_tlb_local_flush_all has
// escalated (flush_tlb_func_common's full flush on a tlb_gen gap); the
// merged fixes lose nothing.
func TestStudyMechanisms(t *testing.T) {
	cr := smallStudy(t, "clear_refs")
	base := variant(t, cr, "5.10")
	prop := variant(t, cr, "pte-fault-flush-pending")
	for i, c := range base.Cells {
		if c.Lost.Nonzero != len(c.Lost.Samples) {
			t.Errorf("5.10 at %d CPUs: %d of %d runs lost pages, want all", c.CPUs, c.Lost.Nonzero, len(c.Lost.Samples))
		}
		_ = i
	}
	two, four := prop.Cells[0], prop.Cells[1]
	if two.Lost.Nonzero == 0 || cost(two, study.PendingFlushes).Mean == 0 {
		t.Errorf("proposal at 2 CPUs: lost %v, pending flushes %v; want both > 0 (the check fires, the loss stays)",
			two.Lost.Mean, cost(two, study.PendingFlushes).Mean)
	}
	fa2, fa4, faBase := cost(two, study.LocalFlushAll).Mean, cost(four, study.LocalFlushAll).Mean, cost(base.Cells[1], study.LocalFlushAll).Mean
	if four.Lost.Nonzero != 0 || fa4 < 10*faBase || fa4 < 10*fa2 {
		t.Errorf("proposal at 4 CPUs: lost %v, nr_tlb_local_flush_all %v (2 CPUs %v, 5.10 %v); want 0 lost and the full flushes escalated",
			four.Lost.Mean, fa4, fa2, faBase)
	}
	for _, st := range []*study.Study{cr, smallStudy(t, "uffd_wp")} {
		for _, name := range []string{"5.10-stable", "pte-fault-flush-pending+clear-refs-flush", "uffd-wp-flush-pending"} {
			for _, v := range st.Variants {
				if v.Name != name {
					continue
				}
				for _, c := range v.Cells {
					if c.Lost.Nonzero != 0 {
						t.Errorf("%s %s at %d CPUs lost %v (seeds %v), want 0", st.Study, name, c.CPUs, c.Lost.Mean, c.LossSeeds)
					}
				}
			}
		}
	}
}

// TestStudyResults checks the committed studies (docs/results/NAME.json)
// and README's Results blocks: each block is the text of its committed
// study, and the committed samples of the points CPU counts 2, 4 × seeds
// 1, 2 are what the model gives now (the full grid takes minutes; -update
// reruns it and rewrites both).
func TestStudyResults(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range study.Names() {
		path := filepath.Join("../../docs/results", name+".json")
		if *update {
			out := runStudy(t, "-json", name)
			if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test ./cmd/emu -run TestStudyResults -update writes it)", err)
		}
		var committed study.Study
		if err := json.Unmarshal(data, &committed); err != nil {
			t.Fatal(err)
		}
		var text bytes.Buffer
		if err := study.WriteText(&text, &committed); err != nil {
			t.Fatal(err)
		}
		begin := "<!-- emu study " + name + " (go test ./cmd/emu -run TestStudyResults -update regenerates it) -->\n"
		end := "<!-- end emu study " + name + " -->"
		block := begin + "```text\n" + text.String() + "```\n" + end
		if *update {
			i, j := bytes.Index(readme, []byte(begin)), bytes.Index(readme, []byte(end))
			if i < 0 || j < i {
				t.Fatalf("README.md has no block %q … %q", begin, end)
			}
			readme = append(append(append([]byte{}, readme[:i]...), block...), readme[j+len(end):]...)
			if err := os.WriteFile("../../README.md", readme, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Contains(readme, []byte(block)) {
			t.Errorf("README.md's block for study %s is not the text of docs/results/%s.json (go test ./cmd/emu -run TestStudyResults -update)", name, name)
		}
		// The committed samples are the model's now.
		now := smallStudy(t, name)
		for vi, v := range now.Variants {
			for _, c := range v.Cells {
				ci := indexOf(committed.CPUs, c.CPUs)
				if ci < 0 || vi >= len(committed.Variants) || committed.Variants[vi].Name != v.Name {
					t.Fatalf("docs/results/%s.json lacks variant %s at %d CPUs (-update)", name, v.Name, c.CPUs)
				}
				cc := committed.Variants[vi].Cells[ci]
				stats := append(append([]study.Stat{}, c.Loss...), c.Cost...)
				cstats := append(append([]study.Stat{}, cc.Loss...), cc.Cost...)
				for k, s := range stats {
					for si, seed := range now.Seeds {
						cs := indexOf64(committed.Seeds, seed)
						if k >= len(cstats) || cs < 0 || cstats[k].Name != s.Name || cstats[k].Samples[cs] != s.Samples[si] {
							t.Errorf("docs/results/%s.json is out of date: %s at %d CPUs, seed %d, %s (go test ./cmd/emu -run TestStudyResults -update)",
								name, v.Name, c.CPUs, seed, s.Name)
						}
					}
				}
			}
		}
	}
}

func indexOf(vs []int, v int) int {
	for i, x := range vs {
		if x == v {
			return i
		}
	}
	return -1
}

func indexOf64(vs []uint64, v uint64) int {
	for i, x := range vs {
		if x == v {
			return i
		}
	}
	return -1
}
