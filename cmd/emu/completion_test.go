package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestBashCompletion sources the emu completion bash script in bash and
// completes subcommands, flags and the values of enum flags.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash on this machine")
	}
	code, script, e := emu(t, "completion", "bash")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	path := filepath.Join(t.TempDir(), "emu.bash")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	complete := func(words ...string) string {
		t.Helper()
		var arr []string
		for _, w := range words {
			arr = append(arr, "'"+w+"'")
		}
		prog := "source " + path + "; COMP_WORDS=(" + strings.Join(arr, " ") + "); COMP_CWORD=" +
			string(rune('0'+len(words)-1)) + `; _emu; echo "${COMPREPLY[*]}"; complete -p emu`
		out, err := exec.Command(bash, "--norc", "--noprofile", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", words, err, out)
		}
		return string(out)
	}
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"emu", "co"}, "compare costs completion\n"},
		{[]string{"emu", "-kernel", ""}, "5.10 5.10-stable\n"},
		{[]string{"emu", "-tlb", "z"}, "zen4\n"},
		{[]string{"emu", "ab", "--patch", "clear-refs-f"}, "clear-refs-flush\n"},
		{[]string{"emu", "-format", "perf"}, "perf-json\n"},
		{[]string{"emu", "-thp", "-fail-on"}, "-fail-on-hazard\n"},
		{[]string{"emu", "-cpus", "4"}, "\n"},
	} {
		out := complete(tc.words...)
		if !strings.HasPrefix(out, tc.want) || !strings.Contains(out, "complete -F _emu emu") {
			t.Errorf("%q: got %q, want %q first", tc.words, out, tc.want)
		}
	}
	if code, _, e := emu(t, "completion", "tcsh"); code != exitUsage || !strings.Contains(e, "valid: bash") {
		t.Errorf("completion tcsh: exit %d, %q", code, e)
	}
}

// TestManPage renders emu man with man(1) and checks that groff warns of
// nothing and that the page documents every flag, workload and patch.
func TestManPage(t *testing.T) {
	code, page, e := emu(t, "man")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	if !strings.HasPrefix(page, ".TH EMU 1 ") {
		t.Fatalf("not a man page:\n%.200s", page)
	}
	manBin, err := exec.LookPath("man")
	if err != nil {
		t.Skip("no man(1) on this machine to render the page")
	}
	path := filepath.Join(t.TempDir(), "emu.1")
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(manBin, "--warnings", "-l", path)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "MANWIDTH=200")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("man: %v: %s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("man warns: %s", stderr.String())
	}
	text := regexp.MustCompile(".\x08").ReplaceAllString(string(out), "") // overstrike bold
	for _, want := range []string{"-fail-on-hazard", "-base-patch STRINGSLICE", "-o, -output STRING", "clear_refs", "pte-fault-flush-pending", "EXIT STATUS", "%change"} {
		if !strings.Contains(text, want) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
}
