package main

import (
	"os"
	"os/exec"
	"path/filepath"
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
