package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/perf/benchfmt"

	"github.com/tlbemu/emu/kernelmodel"
	"github.com/tlbemu/emu/workloads"
)

// TestIdentityHeaderAndBenchName: -thp and -tlb zen4 appear in the text
// header (the command as run and the settings) and in the benchmark name.
func TestIdentityHeaderAndBenchName(t *testing.T) {
	header := func(extra ...string) string {
		code, out, e := emu(t, args(extra...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, e)
		}
		line, _, _ := strings.Cut(out, "\n")
		return line
	}
	plain := header()
	thp := header("-thp", "-tlb", "zen4")
	if !strings.Contains(thp, "-thp -tlb zen4'") || !strings.Contains(thp, "kernel=5.10+thp") || !strings.Contains(thp, "tlb=zen4") {
		t.Errorf("header of -thp -tlb zen4: %s", thp)
	}
	if strings.Contains(plain, "thp") || strings.Contains(plain, "tlb=") {
		t.Errorf("plain header names thp or tlb: %s", plain)
	}

	var bench bytes.Buffer
	names := map[string]bool{}
	for _, extra := range [][]string{nil, {"-thp"}, {"-tlb", "zen4"}} {
		code, out, e := emu(t, args(append(extra, "-format", "bench")...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, e)
		}
		bench.WriteString(out)
	}
	rd := benchfmt.NewReader(bytes.NewReader(bench.Bytes()), "two.bench")
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.Result:
			names[string(rec.Name.Full())] = true
		case *benchfmt.SyntaxError:
			t.Fatalf("syntax error: %v", rec)
		}
	}
	if err := rd.Err(); err != nil {
		t.Fatal(err)
	}
	if len(names) != 3 {
		t.Errorf("benchfmt read %d distinct names from 3 variants, want 3: %v", len(names), names)
	}
	for _, want := range []string{"/thp=on", "/tlb=zen4"} {
		found := false
		for n := range names {
			found = found || strings.HasSuffix(n, want)
		}
		if !found {
			t.Errorf("no name ends in %s: %v", want, names)
		}
	}
}

// TestJSONConfigHasEverySetting: every flag that shapes a run has its key
// in the JSON config, with the value given.
func TestJSONConfigHasEverySetting(t *testing.T) {
	code, out, e := emu(t, args("-json", "-thp", "-pti", "-tlb", "zen4", "-pcid=false", "-quantum", "500",
		"-flush-order", "concurrent", "-flush-ceiling", "20", "-mem", "256", "-threads", "1", "-seed", "7",
		"-max-cycles", "900000000", "-fail-on-hazard", "-kernel", "5.10-stable", "-cpus", "3")...)
	if code != 0 && code != 1 {
		t.Fatalf("exit %d: %s", code, e)
	}
	var doc struct {
		Command string         `json:"command"`
		Config  map[string]any `json:"config"`
		Variant string         `json:"variant"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := map[string]any{
		"workload": "clear_refs", "cpus": 3.0, "threads": 1.0, "pages": 64.0, "iterations": 2.0, "seed": 7.0,
		"kernel": "5.10-stable", "pti": true, "thp": true, "flush_order": "concurrent", "costs": "default",
		"tlb": "zen4", "pcid": false, "quantum": 500.0, "flush_ceiling": 20.0, "mem_mib": 256.0,
		"max_cycles": 900000000.0, "fail_on_hazard": true,
	}
	for k, v := range want {
		if got, ok := doc.Config[k]; !ok || got != v {
			t.Errorf("config[%q] = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if _, ok := doc.Config["patches"]; !ok {
		t.Error("config has no patches")
	}
	if !strings.HasPrefix(doc.Command, "emu -workload clear_refs -pages 64") || !strings.HasSuffix(doc.Command, "-cpus 3") {
		t.Errorf("command %q is not the command line as run", doc.Command)
	}
	if doc.Variant != "5.10-stable+pti+thp+concurrent-flush" {
		t.Errorf("variant %q", doc.Variant)
	}
}

// TestCostFileHashInIdentity: two cost files of one name but different
// content give different benchmark names and JSON costs_sha256.
func TestCostFileHashInIdentity(t *testing.T) {
	dir := t.TempDir()
	var names []string
	for i, content := range []string{"kernel.spin_poll = 40\n", "kernel.spin_poll = 41\n"} {
		sub := dir + "/" + string(rune('a'+i))
		if err := mkdirWrite(sub+"/costs.txt", content); err != nil {
			t.Fatal(err)
		}
		code, out, e := emu(t, args("-format", "bench", "-costs", sub+"/costs.txt")...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, e)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "Benchmark") {
				names = append(names, strings.Fields(l)[0])
			}
		}
	}
	if len(names) != 2 || names[0] == names[1] || !strings.Contains(names[0], "/costs=costs.txt@") {
		t.Errorf("names %v: want two different names with costs=costs.txt@HASH", names)
	}
}

func mkdirWrite(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}

// TestStatusLine: the text report's last line says how the run ended.
func TestStatusLine(t *testing.T) {
	for _, tc := range []struct {
		extra []string
		code  int
		want  string
	}{
		{nil, 0, "status: completed"},
		{[]string{"-max-cycles", "100000"}, 1, "status: stopped at max-cycles (cpu "},
		{[]string{"-fail-on-hazard"}, 1, "status: hazard at cpu "},
		{[]string{"-timeout", "1ns"}, 1, "status: timeout (-timeout 1ns of host time)"},
	} {
		code, out, e := emu(t, args(tc.extra...)...)
		if code != tc.code {
			t.Fatalf("%v: exit %d, want %d: %s", tc.extra, code, tc.code, e)
		}
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, tc.want) {
			t.Errorf("%v: last line %q, want prefix %q", tc.extra, last, tc.want)
		}
	}
}

// TestStatusInterrupted: a run whose context is cancelled (Ctrl-C,
// SIGTERM) ends "status: interrupted".
func TestStatusInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var o, e bytes.Buffer
	code := run(ctx, args(), nil, &o, &e)
	if code != 1 || !strings.HasSuffix(o.String(), "\nstatus: interrupted\n") {
		t.Errorf("exit %d, output ends %q (stderr %s)", code, o.String()[max(0, o.Len()-40):], e.String())
	}
}

// TestABVerdicts: emu ab of clear_refs on 5.10 without and with
// clear-refs-flush prints the fail:runs block and the verdict that the
// lost-soft-dirty hole closes, computed from the counters; -json carries
// the same.
func TestABVerdicts(t *testing.T) {
	ab := args("-patch", "clear-refs-flush", "-r", "2")
	code, out, e := emu(t, append([]string{"ab"}, ab...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	for _, want := range []string{
		"       fail:runs  %reproduction    fail:runs\n",
		"          2:2         -100%            :2     emu_lost_soft_dirty\n",
		"\nverdict: emu_lost_soft_dirty 4,010 → 0: the hole closes\n",
		"\nverdict: emu_missed_uffd_wp 0 → 0: no hazard on either side\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ab output lacks %q:\n%s", want, out)
		}
	}
	code, out, e = emu(t, append([]string{"ab", "-json"}, ab...)...)
	if code != 0 {
		t.Fatalf("ab -json: exit %d: %s", code, e)
	}
	var doc struct {
		Kind    string `json:"kind"`
		Results []struct {
			Variant string `json:"variant"`
			Status  string `json:"status"`
		} `json:"results"`
		Hazards []struct {
			Counter string `json:"counter"`
			Fails   []int  `json:"fails"`
		} `json:"hazards"`
		Verdicts []string `json:"verdicts"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.Kind != "comparison" || len(doc.Results) != 2 || doc.Results[1].Variant != "5.10+clear-refs-flush" || doc.Results[0].Status != "completed" {
		t.Errorf("ab -json: %+v", doc)
	}
	found := false
	for _, v := range doc.Verdicts {
		found = found || v == "emu_lost_soft_dirty 4,010 → 0: the hole closes"
	}
	if !found {
		t.Errorf("ab -json verdicts %q", doc.Verdicts)
	}
}

// TestComparePlotHasHazardPanels: the plot of clear_refs on 5.10 against
// 5.10-stable has the emu_lost_soft_dirty panel although more than 16
// counters differ, and labels its units.
func TestComparePlotHasHazardPanels(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for _, k := range []string{"5.10", "5.10-stable"} {
		f := filepath.Join(dir, k+".json")
		if code, _, e := emu(t, args("-kernel", k, "-json", "-o", f)...); code != 0 {
			t.Fatalf("exit %d: %s", code, e)
		}
		files = append(files, f)
	}
	svg := filepath.Join(dir, "ab.svg")
	code, out, e := emu(t, "compare", "-plot", svg, files[0], files[1])
	if code != 0 {
		t.Fatalf("compare: exit %d: %s", code, e)
	}
	if n := strings.Count(out, "%  "); n <= 16 {
		t.Logf("only %d differing counters: the test does not exercise the 16-panel limit", n)
	}
	data, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"emu_lost_soft_dirty", "emu_stale_tlb_writes", "emu_missed_uffd_wp", ">cycles<"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("the plot has no %q", want)
		}
	}
}

// TestABBasePatch: emu ab -base-patch P -patch X compares base+P with
// base+P+X.
func TestABBasePatch(t *testing.T) {
	code, out, e := emu(t, append([]string{"ab", "-json", "-base-patch", "clear-refs-flush", "-patch", "pte-fault-flush-pending"}, args()...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	var doc struct {
		Results []struct {
			Variant string `json:"variant"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Results) != 2 || doc.Results[0].Variant != "5.10+clear-refs-flush" || doc.Results[1].Variant != "5.10+clear-refs-flush+pte-fault-flush-pending" {
		t.Errorf("variants %+v", doc.Results)
	}
	code, _, e = emu(t, append([]string{"ab", "-base-patch", "clear-refs-flush", "-patch", "clear-refs-flush"}, args()...)...)
	if code != exitUsage || !strings.Contains(e, "the patch changes nothing (-kernel 5.10 with -base-patch clear-refs-flush already has clear-refs-flush)") {
		t.Errorf("same patch on both sides: exit %d, %q", code, e)
	}
}

// TestListJSON: emu list -json names every workload, kernel and patch.
func TestListJSON(t *testing.T) {
	code, out, e := emu(t, "list", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	var doc listDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Workloads) != len(workloads.All()) || len(doc.Kernels) != len(kernelmodel.KernelNames()) || len(doc.Patches) != len(kernelmodel.Patches) {
		t.Errorf("%d workloads, %d kernels, %d patches", len(doc.Workloads), len(doc.Kernels), len(doc.Patches))
	}
	for _, k := range doc.Kernels {
		if k.Name == "5.10-stable" && !slices.Contains(k.Patches, "clear-refs-flush") {
			t.Errorf("5.10-stable: %v", k.Patches)
		}
	}
	if doc.Workloads[0].Name != "clear_refs" || doc.Workloads[0].Pages == 0 {
		t.Errorf("first workload %+v", doc.Workloads[0])
	}
}
