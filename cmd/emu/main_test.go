package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestMain(m *testing.M) {
	versionOverride = "test"
	os.Exit(m.Run())
}

// small is a fixed, quick run: deterministic, so its output is exact.
var small = []string{"-workload", "clear_refs", "-pages", "64", "-iterations", "2", "-q"}

func emu(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, nil, &o, &e)
	return code, o.String(), e.String()
}

func args(extra ...string) []string { return append(append([]string(nil), small...), extra...) }

func golden(t *testing.T, name string, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test ./cmd/emu -update rewrites it after a deliberate model change)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestGoldenFormats(t *testing.T) {
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"text.golden", args()},
		{"text_r3.golden", args("-r", "3")},
		{"json.golden", args("-json")},
		{"csv.golden", args("-format", "csv")},
		{"bench.golden", args("-format=bench")},
		{"bench_r3.golden", args("-format", "bench", "-r", "3")},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			code, out, errOut := emu(t, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden(t, tc.golden, out)
		})
	}
}

func TestGoldenCompare(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	for _, x := range []struct {
		path  string
		extra []string
	}{{a, nil}, {b, []string{"-patch", "pte-fault-flush-pending"}}} {
		if code, _, e := emu(t, args(append(x.extra, "-pages", "1024", "-json", "-o", x.path)...)...); code != 0 {
			t.Fatalf("exit %d: %s", code, e)
		}
	}
	code, out, e := emu(t, "compare", a, b)
	if code != 0 {
		t.Fatalf("compare: exit %d: %s", code, e)
	}
	golden(t, "compare.golden", out)
}

// changeCol matches a row of the LKP table with a %change value.
var changeCol = regexp.MustCompile(`^ {0,9}\S+(?: ±\s*\d+%)?\s+[+-]\d[\d.e+]*%\s+\S+.*\s(\S+)\s+\(p=`)

func TestABRepeated(t *testing.T) {
	code, out, e := emu(t, "ab", "-workload", "clear_refs", "-patch", "pte-fault-flush-pending", "-r", "5",
		"-pages", "1024", "-iterations", "2", "-q")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	for _, want := range []string{"%stddev     %change         %stddev", "pte-fault-flush-pending", "runs:", "/5\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	rows := 0
	var flush bool
	for _, line := range strings.Split(out, "\n") {
		if m := changeCol.FindStringSubmatch(line); m != nil {
			rows++
			flush = flush || strings.Contains(line, "nr_tlb_remote_flush")
		}
	}
	if rows == 0 || !flush {
		t.Errorf("no %%change rows with significance notes (or none for nr_tlb_remote_flush):\n%s", out)
	}
}

func TestBadInputs(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	if code, _, e := emu(t, args("-json", "-o", good)...); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	other := filepath.Join(dir, "other.json")
	if code, _, e := emu(t, "-workload", "page_fault", "-pages", "16", "-iterations", "1", "-q", "-json", "-o", other); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	data, _ := os.ReadFile(good)
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	truncated := write("truncated.json", string(data[:len(data)/3]))
	foreign := write("foreign.json", `{"traceEvents": []}`)
	trailing := write("trailing.json", string(data)+"{}\n")
	newer := write("newer.json", strings.Replace(string(data), `"emu_version": "test"`, `"emu_version": "v0.2.0"`, 1))

	for _, tc := range []struct {
		name string
		args []string
		want string // in the one-line error
	}{
		{"unknown flag", []string{"-bogus"}, "unknown flag: -bogus (valid: -workload -cpus"},
		{"uffd_wp pages below its window", []string{"-workload", "uffd_wp", "-pages", "3"}, "-pages must be 16..16777216 for workload uffd_wp, got 3"},
		{"mprotect needs two halves", []string{"-workload", "mprotect", "-pages", "1"}, "-pages must be 2..16777216 for workload mprotect, got 1"},
		{"unknown long flag", []string{"--bogus=1"}, "unknown flag: --bogus (valid: -workload -cpus"},
		{"unknown shorthand", []string{"-x"}, "unknown shorthand flag: 'x' in -x (valid:"},
		{"unknown workload", []string{"-workload", "nope"}, `unknown workload "nope" (valid: clear_refs,`},
		{"unknown patch", []string{"-patch", "nope"}, `unknown patch "nope" (valid: anon-exclusive, clear-refs-flush,`},
		{"unknown kernel", []string{"-kernel", "4.19"}, `unknown kernel "4.19" (valid: 5.10, 5.10-stable, 6.18)`},
		{"unknown format", []string{"-format", "xml"}, `unknown format "xml" (valid: text, json, csv, bench, perf-json)`},
		{"json conflicts", []string{"-json", "-format", "csv"}, "-json conflicts with -format csv"},
		{"flush order", []string{"-flush-order", "random"}, `unknown -flush-order "random" (valid: serial, concurrent)`},
		{"flush order on 6.18", []string{"-kernel", "6.18", "-flush-order", "serial"}, "-flush-order serial contradicts -kernel 6.18 (it has concurrent-flush)"},
		{"flush order and patch", []string{"-patch", "concurrent-flush", "-flush-order", "serial"}, "-flush-order serial contradicts -patch concurrent-flush"},
		{"plot type", []string{"-plot", "x.gif"}, `(valid: .svg, .png)`},
		{"repeat", []string{"-r", "0"}, "-r/-repeat must be 1..10000"},
		{"cpus", []string{"-cpus", "0"}, "-cpus must be 1..256"},
		{"threads", []string{"-threads", "2000"}, "-threads must be 1..1024, got 2000"},
		{"pages", []string{"-pages", "16777217"}, "-pages must be 1..16777216, got 16777217"},
		{"costs missing", []string{"-costs", filepath.Join(dir, "none.costs")}, "-costs: stat"},
		{"costs bad", []string{"-costs", write("bad.costs", "kernel.nope = 1\n")}, `unknown key "kernel.nope"`},
		{"stray arg", []string{"clear_refs"}, `unexpected argument "clear_refs"`},
		{"ab without patch", []string{"ab", "-workload", "clear_refs"}, "-patch is required"},
		{"ab patch in kernel", []string{"ab", "-patch", "clear-refs-flush", "-kernel", "5.10-stable"}, "the patch changes nothing (-kernel 5.10-stable already has clear-refs-flush)"},
		{"empty patch", []string{"-patch", ""}, "-patch: empty patch name (valid: anon-exclusive, clear-refs-flush,"},
		{"ab format", []string{"ab", "-patch", "clear-refs-flush", "-format", "csv"}, "unknown flag: -format"},
		{"compare one file", []string{"compare", good}, "need at least two result files"},
		{"compare workloads", []string{"compare", good, other}, `good.json is workload "clear_refs" but other.json is workload "page_fault"`},
		{"compare versions", []string{"compare", good, newer}, "good.json was written by emu test but newer.json by emu v0.2.0"},
		{"compare truncated", []string{"compare", good, truncated}, truncated + ": truncated or malformed JSON"},
		{"compare foreign", []string{"compare", foreign, good}, foreign + ": not an emu result"},
		{"compare trailing", []string{"compare", good, trailing}, "trailing.json: trailing data after the JSON result"},
		{"compare missing", []string{"compare", good, filepath.Join(dir, "missing.json")}, "missing.json: no such file"},
		{"list arg", []string{"list", "x"}, `unexpected argument "x"`},
		{"run no program", []string{"run"}, "no program given"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, e := emu(t, tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want 2; stderr %q", code, e)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if strings.Count(e, "\n") != 1 || !strings.HasPrefix(e, "emu: ") || !strings.Contains(e, tc.want) {
				t.Errorf("stderr %q, want one line containing %q", e, tc.want)
			}
		})
	}
}

func TestHelpAndList(t *testing.T) {
	// Help that was asked for goes to stdout (as git, go and perf do),
	// nothing to stderr.
	for _, a := range [][]string{{"-h"}, {"--help"}, {"ab", "-h"}, {"compare", "-h"}, {"run", "-h"},
		{"help"}, {"help", "run"}, {"help", "ab"}, {"help", "compare"}, {"help", "list"}, {"help", "costs"}, {"help", "completion"}, {"help", "version"},
		{"help", "man"}, {"help", "help"}, {"list", "-h"}, {"costs", "-h"}, {"version", "-h"}, {"completion", "-h"}, {"man", "--help"}, {"help", "-h"}} {
		code, out, e := emu(t, a...)
		if code != 0 || !strings.Contains(out, "Usage") || e != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", a, code, out, e)
		}
	}
	if _, top, _ := emu(t, "help"); !strings.Contains(top, "emu run [flags] PROG") {
		t.Errorf("emu help is not the top-level help:\n%s", top)
	}
	if _, run, _ := emu(t, "help", "run"); !strings.HasPrefix(run, "Usage: emu run") {
		t.Errorf("emu help run is not emu run's help:\n%s", run)
	}
	if code, _, e := emu(t, "help", "frobnicate"); code != exitUsage || !strings.Contains(e, `unknown command "frobnicate"`) {
		t.Errorf("help frobnicate: exit %d, %q", code, e)
	}
	for _, a := range []string{"version", "--version", "-version"} {
		code, out, e := emu(t, a)
		if code != 0 || out != "emu test\n" || e != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", a, code, out, e)
		}
	}
	code, out, _ := emu(t, "list")
	if code != 0 || !strings.Contains(out, "pte-fault-flush-pending") || !strings.Contains(out, "clear_refs") {
		t.Errorf("list: exit %d\n%s", code, out)
	}
	for _, a := range [][]string{{"costs"}, {"list", "-costs"}} {
		code, out, _ := emu(t, a...)
		if code != 0 || !strings.Contains(out, "\n  fault_entry_exit: 400 # ") {
			t.Errorf("%v: exit %d\n%s", a, code, out)
		}
	}
}

func TestCostsFlag(t *testing.T) {
	dir := t.TempDir()
	costs := filepath.Join(dir, "slow-fault.costs")
	if err := os.WriteFile(costs, []byte("# slower faults\nkernel.fault_entry_exit = 6000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := emu(t, "costs", "-costs", costs)
	if code != 0 || !strings.Contains(out, "\n  fault_entry_exit: 6000 # cost file ") {
		t.Errorf("costs -costs: exit %d\n%s", code, out)
	}
	cycles := func(extra ...string) float64 {
		code, out, e := emu(t, args(append(extra, "-json")...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, e)
		}
		// -json's counters are a map keyed by the kernel's counter names.
		var doc struct {
			Counters map[string]struct {
				Value float64 `json:"counter-value"`
			} `json:"counters"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		c, ok := doc.Counters["cycles"]
		if !ok {
			t.Fatal("no cycles counter")
		}
		return c.Value
	}
	if base, slow := cycles(), cycles("-costs", costs); slow <= base {
		t.Errorf("cycles with fault_entry_exit doubled = %v, default %v: want more", slow, base)
	}
}

// TestDeterministicJSON: the same flags give byte-identical JSON.
func TestDeterministicJSON(t *testing.T) {
	a := args("-json", "-r", "2", "-cpus", "3")
	_, first, _ := emu(t, a...)
	code, second, e := emu(t, a...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	if first != second {
		t.Error("two runs with the same flags gave different JSON")
	}
}

// TestDeterministicAcrossGOMAXPROCSJSON: a run whose parallel phases race
// (two vCPUs, one reading pages the other writes, THP) gives the same JSON
// at GOMAXPROCS 1 and 4. Before phys.Memory.PFNOf, the interpreter
// recovered a frame's PFN through a cache indexed by the host address of
// the frame, so whether a store through a stale TLB entry took ownership
// depended on host allocation, and emu_parallel_instructions varied with
// host timing. Several runs at 4, since a race need not show in one.
func TestDeterministicAcrossGOMAXPROCSJSON(t *testing.T) {
	a := []string{"-q", "-format", "json", "-workload", "mprotect", "-cpus", "2", "-seed", "104", "-thp"}
	old := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(old)
	code, want, e := emu(t, a...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	runtime.GOMAXPROCS(4)
	for i := range 8 {
		if _, got, _ := emu(t, a...); got != want {
			t.Fatalf("GOMAXPROCS=4, run %d: JSON differs from GOMAXPROCS=1", i+1)
		}
	}
}

func TestOutputFiles(t *testing.T) {
	dir := t.TempDir()
	out, tr, pl := filepath.Join(dir, "r.json"), filepath.Join(dir, "t.json"), filepath.Join(dir, "h.svg")
	prof, mem := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "mem.pprof")
	code, stdout, e := emu(t, args("-json", "-o", out, "-trace", tr, "-plot", pl, "-cpuprofile", prof, "-memprofile", mem)...)
	if code != 0 || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, e)
	}
	for _, p := range []string{out, tr} {
		data, err := os.ReadFile(p)
		if err != nil || !json.Valid(data) {
			t.Errorf("%s: %v, valid JSON %v", p, err, json.Valid(data))
		}
	}
	data, _ := os.ReadFile(tr)
	if !bytes.Contains(data, []byte(`"ph":"X"`)) || !bytes.Contains(data, []byte(`"cat":"fault"`)) {
		t.Errorf("trace has no fault spans: %.300s", data)
	}
	for _, p := range []string{pl, prof, mem} {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", p, err)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, ent := range ents {
		if strings.Contains(ent.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", ent.Name())
		}
	}
}

func TestNormalizeSingleDash(t *testing.T) {
	var o options
	fs := newFlagSet(&o, &bytes.Buffer{}, modeWorkload)
	for _, tc := range []struct {
		in, want []string
	}{
		{[]string{"-workload", "clear_refs"}, []string{"--workload", "clear_refs"}},
		{[]string{"-workload=clear_refs", "-json"}, []string{"--workload=clear_refs", "--json"}},
		{[]string{"--workload", "x", "-seed", "42"}, []string{"--workload", "x", "--seed", "42"}},
		{[]string{"-v", "-q", "-workload", "madvise"}, []string{"-v", "-q", "--workload", "madvise"}},
		{[]string{"-vq", "-cpus=4"}, []string{"-vq", "--cpus=4"}},
		{[]string{"-r", "5", "-o", "-seed"}, []string{"-r", "5", "-o", "-seed"}},
		{[]string{"--output", "-seed", "-cpus", "2"}, []string{"--output", "-seed", "--cpus", "2"}},
		{[]string{"-workload", "mprotect", "--", "-seed", "7"}, []string{"--workload", "mprotect", "--", "-seed", "7"}},
		{[]string{"-test.v", "-unknown", "x"}, []string{"-test.v", "-unknown", "x"}},
		{[]string{"-patch", "a", "-patch=b"}, []string{"--patch", "a", "--patch=b"}},
		{[]string{"-pti", "-flush-order", "concurrent"}, []string{"--pti", "--flush-order", "concurrent"}},
		{[]string{"-workload"}, []string{"--workload"}},
		{nil, []string{}},
	} {
		if got := normalizeSingleDash(fs, tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("normalizeSingleDash(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// And the parsed values are the Go-style meaning.
	o = options{}
	fs = newFlagSet(&o, &bytes.Buffer{}, modeWorkload)
	if err := parseFlags(fs, []string{"-workload=madvise", "-cpus", "4", "-r", "3", "-patch", "clear-refs-flush", "-json"}); err != nil {
		t.Fatal(err)
	}
	if o.workload != "madvise" || o.cpus != 4 || o.repeat != 3 || !o.json || len(o.patches) != 1 {
		t.Errorf("parsed %+v", o)
	}
}

var errPlanned = errors.New("planned")

// FuzzFlags: whatever the argv, run never panics and exits 0, 1 or 2. The
// hook stops each command once its flags are validated, before it runs a
// guest or writes a file.
func FuzzFlags(f *testing.F) {
	for _, s := range []string{
		"-workload clear_refs", "-workload=madvise -json -r 3", "ab -patch pte-fault-flush-pending -r 2",
		"compare a.json b.json", "list", "costs -costs x", "run /bin/true", "-format bench -o x.txt",
		"-cpus 0", "--", "-o -seed", "-r -1", "version", "-plot a.svg -trace t.json", "-h",
		"-flush-order concurrent -pti", "-patch a,b,c", "-kernel 5.10-stable -mem 16",
	} {
		f.Add(s)
	}
	testHookPlanned = func() error { return errPlanned }
	f.Cleanup(func() { testHookPlanned = nil })
	f.Fuzz(func(t *testing.T, argv string) {
		args := strings.Fields(argv)
		if len(args) > 0 && args[0] == "run" && len(args) > 1 {
			// "emu run PROG" reads PROG; keep the fuzzer away from the file
			// system beyond what the hook allows.
			args = args[:1]
		}
		var o, e bytes.Buffer
		code := run(context.Background(), args, nil, &o, &e)
		if code != 0 && code != 1 && code != 2 {
			t.Fatalf("run(%q) = %d", args, code)
		}
		if strings.Contains(e.String(), "internal error") {
			t.Fatalf("run(%q) panicked: %s", args, e.String())
		}
	})
}

func TestPflagHelpIsNotAnError(t *testing.T) {
	var o options
	fs := newFlagSet(&o, &bytes.Buffer{}, modeWorkload)
	if err := parseFlags(fs, []string{"-h"}); !errors.Is(err, pflag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}
