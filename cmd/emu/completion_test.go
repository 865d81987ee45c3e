package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
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
		{[]string{"emu", "-kernel", ""}, "5.10 5.10-stable 6.18\n"},
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
	if code, _, e := emu(t, "completion", "tcsh"); code != exitUsage || !strings.Contains(e, "valid: bash, zsh, fish") {
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

// completions returns what each shell's emu completion script offers
// for the command line words (the last one is being completed), run in
// dir; a shell that is not installed is left out. bash runs _emu as
// complete -F would; zsh runs _emu with compadd, _describe and _files
// replaced by functions that print their candidates (zsh's own
// completion system needs a terminal), filtered by the prefix as
// compadd would; fish runs complete --do-complete. Fish lists --name
// beside -name for a flag prefix; bash and zsh offer -name (emu accepts
// both), so fish's --name forms are left out.
func completions(t *testing.T, dir string, words ...string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	script := func(shell string) string {
		code, s, e := emu(t, "completion", shell)
		if code != 0 {
			t.Fatalf("emu completion %s: exit %d: %s", shell, code, e)
		}
		path := filepath.Join(t.TempDir(), "emu."+shell)
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	run := func(name string, args ...string) []string {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, words, err, b)
		}
		var got []string
		for _, l := range strings.Split(string(b), "\n") {
			l, _, _ = strings.Cut(l, "\t")
			if l != "" {
				got = append(got, l)
			}
		}
		sort.Strings(got)
		return slices.Compact(got)
	}
	cur := words[len(words)-1]
	var q []string
	for _, w := range words {
		q = append(q, "'"+w+"'")
	}
	if bash, err := exec.LookPath("bash"); err == nil {
		out["bash"] = run(bash, "--norc", "--noprofile", "-c", "source "+script("bash")+"; COMP_WORDS=("+strings.Join(q, " ")+
			"); COMP_CWORD="+strconv.Itoa(len(words)-1)+`; _emu; printf '%s\n' "${COMPREPLY[@]}"`)
	}
	if zsh, err := exec.LookPath("zsh"); err == nil {
		stubs := `compdef() { :; }
compadd() { while [[ $1 != -- ]]; do shift; done; shift; printf '%s\n' "$@"; }
_describe() { local a; for a in "${(@P)4}"; do print -r -- "${${a%%[^\\]:*}}${a[${#${a%%[^\\]:*}}+1]}"; done; }
_files() { compadd -- *(N); }
`
		got := run(zsh, "-f", "-c", stubs+"source "+script("zsh")+"; words=("+strings.Join(q, " ")+"); CURRENT="+strconv.Itoa(len(words))+"; _emu")
		var f []string
		for _, g := range got {
			if strings.HasPrefix(g, cur) {
				f = append(f, g)
			}
		}
		out["zsh"] = f
	}
	if fish, err := exec.LookPath("fish"); err == nil {
		got := run(fish, "--no-config", "-c", "source "+script("fish")+"; complete --do-complete "+fishQuote(strings.Join(words, " ")))
		var f []string
		for _, g := range got {
			if !strings.HasPrefix(g, "--") || strings.HasPrefix(cur, "--") {
				f = append(f, g)
			}
		}
		out["fish"] = f
	}
	return out
}

// TestCompletionShellsAgree: emu completion zsh and fish parse (zsh -n,
// fish -n) and complete the same subcommands, flags, enum values and
// file names as the bash script, each shell where it is installed.
func TestCompletionShellsAgree(t *testing.T) {
	for _, sh := range []string{"zsh", "fish"} {
		bin, err := exec.LookPath(sh)
		if err != nil {
			t.Logf("%s is not installed: its script is not checked", sh)
			continue
		}
		code, s, e := emu(t, "completion", sh)
		if code != 0 {
			t.Fatalf("completion %s: exit %d: %s", sh, code, e)
		}
		cmd := exec.Command(bin, "-n")
		cmd.Stdin = strings.NewReader(s)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", sh, err, b)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "result.json"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, words := range [][]string{
		{"emu", ""},
		{"emu", "co"},
		{"emu", "-"},
		{"emu", "-fail"},
		{"emu", "-kernel", ""},
		{"emu", "ab", "--patch", "clear-refs-"},
		{"emu", "-format", ""},
		{"emu", "-flush-order", ""},
		{"emu", "-workload", ""},
		{"emu", "-tlb", "s"},
		{"emu", "-cpus", ""},
		{"emu", "-trace", ""},
		{"emu", "-o", "res"},
	} {
		got := completions(t, dir, words...)
		want, ok := got["bash"]
		if !ok {
			t.Skip("no bash to compare with")
		}
		if len(want) == 0 && words[1] != "-cpus" {
			t.Errorf("%q: bash offers nothing", words)
		}
		for sh, g := range got {
			if !slices.Equal(g, want) {
				t.Errorf("%q: %s offers %q, bash %q", words, sh, g, want)
			}
		}
	}
}
