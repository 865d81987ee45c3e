package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// sweepGridArgs is a small grid: 2 cpus × 2 kernels × 2 seeds, each run
// short.
var sweepGridArgs = []string{"-workload", "clear_refs", "-cpus", "2,3", "-kernel", "5.10,5.10-stable", "-seeds", "1-2",
	"--", "-pages", "64", "-iterations", "2"}

func sweepArgs(dir string, extra ...string) []string {
	a := append([]string{"sweep", "-q", "-dir", dir}, extra...)
	return append(a, sweepGridArgs...)
}

func dirFiles(t *testing.T, dir string) map[string][]byte {
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

// commandRE is a result's "command" line, which names how it was made.
var commandRE = regexp.MustCompile(`"command": "[^"]*"`)

func withoutCommand(b []byte) string { return commandRE.ReplaceAllString(string(b), `"command": ""`) }

// TestSweepLocal: -j 1 and -j 3 write the same bytes; every point's file is
// what `emu FLAGS -json` of its flags prints (but for the command line); a
// second sweep runs nothing.
func TestSweepLocal(t *testing.T) {
	d1, d3 := t.TempDir(), t.TempDir()
	if code, _, e := emu(t, sweepArgs(d1, "-j", "1")...); code != 0 {
		t.Fatalf("-j 1: exit %d: %s", code, e)
	}
	if code, _, e := emu(t, sweepArgs(d3, "-j", "3")...); code != 0 {
		t.Fatalf("-j 3: exit %d: %s", code, e)
	}
	a, b := dirFiles(t, d1), dirFiles(t, d3)
	if len(a) != 8 {
		t.Fatalf("%d files, want 8 points", len(a))
	}
	for n, data := range a {
		if !bytes.Equal(data, b[n]) {
			t.Errorf("%s differs between -j 1 and -j 3", n)
		}
	}
	code, list, e := emu(t, append([]string{"sweep", "-list"}, sweepGridArgs...)...)
	if code != 0 {
		t.Fatalf("-list: exit %d: %s", code, e)
	}
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 8 {
		t.Fatalf("-list printed %d points:\n%s", len(lines), list)
	}
	for i, l := range lines {
		f := strings.Split(l, "\t")
		if len(f) != 3 || f[0] != strconv.Itoa(i) {
			t.Fatalf("-list line %q", l)
		}
		file := strings.ReplaceAll(f[1], "/", ",") + ".json"
		data, ok := a[file]
		if !ok {
			t.Fatalf("no file %s for point %d", file, i)
		}
		if want := `"command": "emu ` + f[2] + `"`; !strings.Contains(string(data), want) {
			t.Errorf("%s: no %s", file, want)
		}
		code, direct, e := emu(t, append(strings.Fields(f[2]), "-json", "-q")...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", f[2], code, e)
		}
		if withoutCommand(data) != withoutCommand([]byte(direct)) {
			t.Errorf("point %d (%s) differs from emu %s -json", i, file, f[2])
		}
	}
	// Resume: all done, nothing reruns, the summary says so.
	code, _, e = emu(t, append([]string{"sweep", "-dir", d1}, sweepGridArgs...)...)
	if code != 0 || !strings.Contains(e, "8 points: 0 run, 8 already done, 0 failed") {
		t.Errorf("resume: exit %d: %s", code, e)
	}
}

// TestSweepIndex: -index I and the batch schedulers' variables run only
// point I; a bad index names the valid range.
func TestSweepIndex(t *testing.T) {
	dir := t.TempDir()
	if code, _, e := emu(t, sweepArgs(dir, "-index", "3")...); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	t.Setenv("JOB_COMPLETION_INDEX", "5")
	if code, _, e := emu(t, sweepArgs(dir)...); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	got := slices.Sorted(func(yield func(string) bool) {
		for n := range dirFiles(t, dir) {
			if !yield(n) {
				return
			}
		}
	})
	want := []string{"workload=clear_refs,cpus=2,kernel=5.10-stable,patch=none,pages=64,iterations=2,seed=2.json",
		"workload=clear_refs,cpus=3,kernel=5.10,patch=none,pages=64,iterations=2,seed=2.json"}
	if !slices.Equal(got, want) {
		t.Errorf("files %q, want %q", got, want)
	}
	t.Setenv("JOB_COMPLETION_INDEX", "8")
	if code, _, e := emu(t, sweepArgs(dir)...); code != exitUsage || !strings.Contains(e, "out of range (valid: 0..7)") {
		t.Errorf("index 8: exit %d: %s", code, e)
	}
	t.Setenv("JOB_COMPLETION_INDEX", "x")
	if code, _, e := emu(t, sweepArgs(dir)...); code != exitUsage || !strings.Contains(e, "JOB_COMPLETION_INDEX") {
		t.Errorf("index x: exit %d: %s", code, e)
	}
}

// TestSweepFailedPoint: a point that stops at a hazard (-fail-on-hazard)
// is written with its status, fails the sweep, and fails it again when
// resumed.
func TestSweepFailedPoint(t *testing.T) {
	dir := t.TempDir()
	a := []string{"sweep", "-q", "-dir", dir, "-kernel", "5.10,5.10-stable", "--", "-pages", "64", "-iterations", "2", "-fail-on-hazard"}
	for try := range 2 {
		code, _, e := emu(t, a...)
		if code != exitFail || !strings.Contains(e, "1 of 2 points failed") || !strings.Contains(e, "kernel=5.10/") {
			t.Fatalf("try %d: exit %d: %s", try, code, e)
		}
	}
	files := dirFiles(t, dir)
	if len(files) != 2 {
		t.Fatalf("%d files", len(files))
	}
	for n, data := range files {
		hazard := strings.Contains(n, "kernel=5.10,")
		if got := bytes.Contains(data, []byte(`"status": "hazard at`)); got != hazard {
			t.Errorf("%s: hazard status %v, want %v", n, got, hazard)
		}
	}
}

// TestMergeEqualsRepeat: merging a sweep's seeds gives what emu -r runs,
// emu compare reads the merged files, and emu report prints the verdict.
func TestMergeEqualsRepeat(t *testing.T) {
	dir, out := t.TempDir(), filepath.Join(t.TempDir(), "merged")
	a := []string{"sweep", "-q", "-dir", dir, "-kernel", "5.10,5.10-stable", "-seeds", "1-3", "--", "-pages", "64", "-iterations", "2"}
	if code, _, e := emu(t, a...); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	if code, _, e := emu(t, "merge", "-o", out, dir); code != 0 {
		t.Fatalf("merge: exit %d: %s", code, e)
	}
	merged := dirFiles(t, out)
	base := "workload=clear_refs,cpus=2,kernel=5.10,patch=none,pages=64,iterations=2.json"
	if len(merged) != 2 || merged[base] == nil {
		t.Fatalf("merged files %v", slices.Collect(func(y func(string) bool) {
			for n := range merged {
				y(n)
			}
		}))
	}
	if !bytes.Contains(merged[base], []byte(`"command": "emu -kernel 5.10 -pages 64 -iterations 2 -seed 1 -r 3"`)) {
		t.Errorf("merged command: %.300s", merged[base])
	}
	code, direct, e := emu(t, "-workload", "clear_refs", "-kernel", "5.10", "-pages", "64", "-iterations", "2", "-seed", "1", "-r", "3", "-json", "-q")
	if code != 0 {
		t.Fatal(e)
	}
	if withoutCommand(merged[base]) != withoutCommand([]byte(direct)) {
		t.Errorf("merged result differs from emu -r 3:\n%s\n---\n%s", merged[base], direct)
	}
	stable := filepath.Join(out, strings.Replace(base, "5.10", "5.10-stable", 1))
	code, cmp, e := emu(t, "compare", filepath.Join(out, base), stable)
	if code != 0 || !strings.Contains(cmp, "verdict: emu_stale_tlb_writes") || !strings.Contains(cmp, "3:3") {
		t.Errorf("compare of merged: exit %d: %s%s", code, cmp, e)
	}
	// emu report of the sweep directory and of the merged one print the
	// same table, with the verdict computed from the per-seed runs.
	code, rep, e := emu(t, "report", dir)
	if code != 0 || !strings.Contains(rep, "the hole closes") || !strings.Contains(rep, "fail:runs") {
		t.Fatalf("report: exit %d: %s%s", code, rep, e)
	}
	if _, rep2, _ := emu(t, "report", out); rep2 != rep {
		t.Errorf("report of the merged directory differs:\n%s\n---\n%s", rep2, rep)
	}
	if !strings.Contains(rep, cmp[strings.Index(cmp, "fail:runs"):]) {
		t.Errorf("report's table is not compare's:\n%s\n---\n%s", rep, cmp)
	}
	// -o FILE.json needs one merged result.
	if code, _, e := emu(t, "merge", "-o", filepath.Join(t.TempDir(), "one.json"), dir); code != exitUsage || !strings.Contains(e, "fold into 2 results") {
		t.Errorf("merge -o one.json: exit %d: %s", code, e)
	}
}

// TestExperimentFile: the YAML file gives the same points as the flags;
// an unknown key is named with its line.
func TestExperimentFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "exp.yaml")
	os.WriteFile(f, []byte("# the grid of sweepGridArgs\nworkloads: [clear_refs]\ncpus: 2-3\nkernels: [5.10, 5.10-stable]\nseeds: [1, 2]\nargs: [-pages, 64, -iterations, 2]\n"), 0o644)
	_, fromFlags, _ := emu(t, append([]string{"sweep", "-list"}, sweepGridArgs...)...)
	code, fromFile, e := emu(t, "sweep", "-list", "-f", f)
	if code != 0 || fromFile != fromFlags || fromFile == "" {
		t.Errorf("exit %d: %s\nfile:\n%s\nflags:\n%s", code, e, fromFile, fromFlags)
	}
	// A flag replaces the file's dimension.
	if _, one, _ := emu(t, "sweep", "-list", "-f", f, "-seeds", "7"); strings.Count(one, "\n") != 4 || !strings.Contains(one, "-seed 7") {
		t.Errorf("-seeds over the file:\n%s", one)
	}
	for _, c := range []struct{ yaml, want string }{
		{"workloads: [clear_refs]\nkernel: [5.10]\n", `line 2: unknown key "kernel" (valid: workloads, cpus, kernels,`},
		{"knobs: {thp: [false, true]}\nknobs: {}\n", `line 2: key "knobs" given twice`},
		{"cpus: [2, x]\n", `line 1: cpus: "x" is not a number`},
		{"patch_sets: none\n", "want a list of patch sets"},
		{"- a\n", "not a mapping"},
		{"workloads: [a\n", "yaml:"},
		{"knobs: {bogus: [1]}\n", "-knob bogus: not a knob"},
		{"", "empty experiment file"},
	} {
		os.WriteFile(f, []byte(c.yaml), 0o644)
		if code, _, e := emu(t, "sweep", "-list", "-f", f); code != exitUsage || !strings.Contains(e, c.want) || strings.Count(e, "\n") != 1 {
			t.Errorf("%q: exit %d: %q, want %q", c.yaml, code, e, c.want)
		}
	}
	os.WriteFile(f, []byte("patch_sets: [none, clear-refs-flush, [clear-refs-flush, clear-refs-mmap-write-lock]]\nknobs:\n  thp: [false, true]\n"), 0o644)
	code, list, e := emu(t, "sweep", "-list", "-f", f)
	if code != 0 || strings.Count(list, "\n") != 6 || !strings.Contains(list, "-patch clear-refs-flush,clear-refs-mmap-write-lock -thp=true -seed 1") {
		t.Errorf("patch sets and knobs: exit %d: %s%s", code, list, e)
	}
}

func TestSweepBadInputs(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-knob", "bogus=1"}, "-knob bogus: not a knob (valid: threads,"},
		{[]string{"-knob", "thp"}, "want FLAG=V1,V2"},
		{[]string{"-seeds", "5-1"}, `-seeds: "5-1" is not a range`},
		{[]string{"-cpus", "0"}, `-cpus: "0": values must be 1..256`},
		{[]string{"-seeds", "1-1000000"}, "more than 100000 values"},
		{[]string{"-workload", "nope"}, `point 0 (-workload nope -seed 1): unknown workload`},
		{[]string{"-kernel", "4.19"}, `unknown kernel "4.19"`},
		{[]string{"--", "-o", "x"}, "-o is not a flag of a sweep point"},
		{[]string{"--", "-r", "3"}, "-r (use -seeds) is not a flag"},
		{[]string{"-seeds", "1,1"}, "are the same run"},
		{[]string{"-emit", "pbs"}, `unknown -emit "pbs" (valid: slurm, k8s)`},
		{[]string{"stray"}, `unexpected argument "stray"`},
		{[]string{"-j", "-1"}, "-j must be 0..4096"},
		{[]string{"-o", "x"}, "-o is for -list and -emit"},
	} {
		a := append([]string{"sweep", "-q", "-dir", dir}, c.args...)
		if code, _, e := emu(t, a...); code != exitUsage || !strings.Contains(e, c.want) || !strings.HasPrefix(e, "emu: ") || strings.Count(e, "\n") != 1 {
			t.Errorf("%q: exit %d: %q, want %q", c.args, code, e, c.want)
		}
	}
	if files := dirFiles(t, dir); len(files) != 0 {
		t.Errorf("bad inputs wrote %d files", len(files))
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"merge", dir}, "-o OUT is required"},
		{[]string{"merge", "-o", dir}, "no inputs"},
		{[]string{"report", dir}, "no emu results"},
		{[]string{"report", filepath.Join(dir, "none")}, "no such file"},
	} {
		if code, _, e := emu(t, c.args...); code != exitUsage || !strings.Contains(e, c.want) {
			t.Errorf("%q: exit %d: %q, want %q", c.args, code, e, c.want)
		}
	}
}

// The batch/v1 Job fields, as named in k8s.io/api batch/v1 types.go (Job,
// JobSpec: completions, parallelism, completionMode, template) and core/v1
// types.go (PodTemplateSpec, PodSpec, Container, VolumeMount, Volume,
// PersistentVolumeClaimVolumeSource): the manifest is decoded with unknown
// fields refused, so a misspelt field fails here as the API server would
// refuse it (strict field validation).
type apiJob struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Parallelism    *int32  `yaml:"parallelism"`
		Completions    *int32  `yaml:"completions"`
		CompletionMode *string `yaml:"completionMode"`
		BackoffLimit   *int32  `yaml:"backoffLimit"`
		Template       struct {
			Spec struct {
				RestartPolicy string `yaml:"restartPolicy"`
				Containers    []struct {
					Name         string   `yaml:"name"`
					Image        string   `yaml:"image"`
					Command      []string `yaml:"command"`
					Args         []string `yaml:"args"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []struct {
					Name                  string `yaml:"name"`
					PersistentVolumeClaim *struct {
						ClaimName string `yaml:"claimName"`
					} `yaml:"persistentVolumeClaim"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func TestEmitK8s(t *testing.T) {
	code, out, e := emu(t, append([]string{"sweep", "-emit", "k8s", "-j", "3", "-image", "reg.example/emu:1"}, sweepGridArgs...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	dec := yaml.NewDecoder(strings.NewReader(out))
	dec.KnownFields(true)
	var job apiJob
	if err := dec.Decode(&job); err != nil {
		t.Fatalf("not a batch/v1 Job: %v\n%s", err, out)
	}
	s := job.Spec
	switch {
	case job.APIVersion != "batch/v1" || job.Kind != "Job" || job.Metadata.Name == "":
		t.Errorf("apiVersion %q kind %q name %q", job.APIVersion, job.Kind, job.Metadata.Name)
	case s.CompletionMode == nil || *s.CompletionMode != "Indexed":
		t.Errorf("completionMode %v, want Indexed", s.CompletionMode)
	case s.Completions == nil || *s.Completions != 8:
		t.Errorf("completions %v, want the 8 points", s.Completions)
	case s.Parallelism == nil || *s.Parallelism != 3:
		t.Errorf("parallelism %v, want -j 3", s.Parallelism)
	case s.Template.Spec.RestartPolicy != "Never" && s.Template.Spec.RestartPolicy != "OnFailure":
		// A Job's pods must not restart Always (JobSpec.Template).
		t.Errorf("restartPolicy %q", s.Template.Spec.RestartPolicy)
	case len(s.Template.Spec.Containers) != 1 || s.Template.Spec.Containers[0].Image != "reg.example/emu:1":
		t.Errorf("containers %+v", s.Template.Spec.Containers)
	}
	c := s.Template.Spec.Containers[0]
	// The container's command, run here with JOB_COMPLETION_INDEX set as
	// the Job controller sets it, writes that point into the mount path.
	if len(c.VolumeMounts) != 1 || len(s.Template.Spec.Volumes) != 1 || c.VolumeMounts[0].Name != s.Template.Spec.Volumes[0].Name ||
		s.Template.Spec.Volumes[0].PersistentVolumeClaim == nil {
		t.Fatalf("volumes %+v, mounts %+v", s.Template.Spec.Volumes, c.VolumeMounts)
	}
	cmd := slices.Clone(c.Command)
	if cmd[0] != "emu" || cmd[1] != "sweep" {
		t.Fatalf("command %q", cmd)
	}
	i := slices.Index(cmd, "-dir")
	if i < 0 || cmd[i+1] != c.VolumeMounts[0].MountPath {
		t.Fatalf("command %q does not write to the mount %s", cmd, c.VolumeMounts[0].MountPath)
	}
	dir := t.TempDir()
	cmd[i+1] = dir
	t.Setenv("JOB_COMPLETION_INDEX", "7")
	if code, _, e := emu(t, cmd[1:]...); code != 0 {
		t.Fatalf("%q: exit %d: %s", cmd, code, e)
	}
	local := t.TempDir()
	t.Setenv("JOB_COMPLETION_INDEX", "")
	os.Unsetenv("JOB_COMPLETION_INDEX")
	emu(t, sweepArgs(local, "-index", "7")...)
	if a, b := dirFiles(t, dir), dirFiles(t, local); len(a) != 1 || !mapsEqual(a, b) {
		t.Errorf("pod 7 wrote %d files, not point 7's", len(a))
	}
}

func mapsEqual(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestEmitSlurmScript(t *testing.T) {
	dir := t.TempDir()
	code, out, e := emu(t, append([]string{"sweep", "-emit", "slurm", "-j", "2", "-dir", dir}, sweepGridArgs...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	for _, want := range []string{"#!/bin/sh\n", "\n#SBATCH --array=0-7%2\n", " sweep -q -dir " + dir + " -workload clear_refs -cpus 2,3 -kernel 5.10,5.10-stable -seeds 1,2 -- -pages 64 -iterations 2\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	// Every #SBATCH line comes before the first command (sbatch stops
	// reading them there).
	seenCmd := false
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "#SBATCH") && seenCmd {
			t.Errorf("#SBATCH after a command: %q", l)
		}
		if l != "" && !strings.HasPrefix(l, "#") {
			seenCmd = true
		}
	}
}
