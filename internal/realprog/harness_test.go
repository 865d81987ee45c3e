package realprog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/bin/*.musl from testdata/*.c with musl-gcc")

// emuBin is the emu binary built once by TestMain.
var emuBin string

// buildDir holds the glibc builds of one test run.
var buildDir string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "realprog")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// No core files from the programs that die by a signal (abort, segv).
	_ = syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
	emuBin = filepath.Join(dir, "emu")
	buildDir = dir
	out, err := exec.Command("go", "build", "-o", emuBin, "github.com/tlbemu/emu/cmd/emu").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "realprog: building emu: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// libc is one way of building a test program.
type libc struct {
	name     string   // "musl" or "glibc"
	compiler string   // the compiler command
	flags    []string // before -o; the source and libraries follow
	libs     []string // after the source
	// committed reports whether the tests run the binary committed under
	// testdata/bin (NAME.musl) instead of building one.
	committed bool
}

// The two libcs. The musl flags are also the recipe of the committed
// binaries; keep them in step with doc.go.
var (
	musl  = libc{name: "musl", compiler: "musl-gcc", flags: []string{"-static", "-O2"}, committed: true}
	glibc = libc{name: "glibc", compiler: "gcc", flags: []string{"-static", "-O2", "-no-pie", "-pthread"}, libs: []string{"-lm"}}
)

var libcs = []libc{musl, glibc}

// compile builds testdata/NAME.c with lc into out.
func (lc libc) compile(name, out string) error {
	cc, err := exec.LookPath(lc.compiler)
	if err != nil {
		return err
	}
	args := append(append([]string{}, lc.flags...), "-o", out, filepath.Join("testdata", name+".c"))
	args = append(args, lc.libs...)
	cmd := exec.Command(cc, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", lc.compiler, strings.Join(args, " "), err, b)
	}
	return nil
}

var builds struct {
	sync.Mutex
	done map[string]error
}

// binary returns the path of program name built with lc: the committed
// musl binary, or a glibc build made once per test run. It skips the test,
// naming the compiler, when lc's compiler is missing.
func binary(t *testing.T, lc libc, name string) string {
	t.Helper()
	if lc.committed {
		p := filepath.Join("testdata", "bin", name+"."+lc.name)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("committed binary missing: %v (build it with -update)", err)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	if _, err := exec.LookPath(lc.compiler); err != nil {
		t.Skipf("%s not installed: cannot build the %s variant", lc.compiler, lc.name)
	}
	out := filepath.Join(buildDir, name+"."+lc.name)
	builds.Lock()
	defer builds.Unlock()
	if builds.done == nil {
		builds.done = map[string]error{}
	}
	err, ok := builds.done[out]
	if !ok {
		err = lc.compile(name, out)
		builds.done[out] = err
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// result is what a run of a program shows: its output and exit status
// (128+N when killed by signal N, as a shell reports it).
type result struct {
	stdout, stderr []byte
	status         int
}

// nativeEnv is the environment of native runs. glibc's libm chooses FMA
// variants of exp, log, pow, sin... when the CPU has FMA and AVX2, and
// they may round differently in the last place; emu's CPUID has neither,
// so the native run is told not to use them (glibc tunables,
// elf/dl-tunables.list and sysdeps/x86/cpu-tunables.c in glibc 2.36).
var nativeEnv = []string{"GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX,-AVX2,-FMA,-FMA4,-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-BMI1,-BMI2"}

// runDir is the working directory of the next runs of a test (a fresh
// temporary directory if empty).
var runDir string

func run(t *testing.T, timeout time.Duration, env []string, prog string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = runDir
	if cmd.Dir == "" {
		cmd.Dir = t.TempDir()
	}
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %q: no exit after %v\nstdout:\n%s\nstderr:\n%s", prog, args, timeout, clip(stdout.Bytes()), clip(stderr.Bytes()))
	}
	r := result{stdout: stdout.Bytes(), stderr: stderr.Bytes()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			r.status = 128 + int(ws.Signal())
		} else {
			r.status = ws.ExitStatus()
		}
	default:
		t.Fatalf("%s: %v", prog, err)
	}
	return r
}

// runNative runs bin on this machine.
func runNative(t *testing.T, bin string, args ...string) result {
	t.Helper()
	return run(t, time.Minute, nativeEnv, bin, args...)
}

// emuEnv is added to the environment of the next emu runs of a test.
var emuEnv []string

// runEmu runs bin under `emu run -q -o REPORT flags... bin args...` and
// returns the run and the path of emu's report.
func runEmu(t *testing.T, flags []string, bin string, args ...string) (result, string) {
	t.Helper()
	report := filepath.Join(t.TempDir(), "report")
	a := append([]string{"run", "-q", "-o", report}, flags...)
	a = append(a, bin)
	a = append(a, args...)
	return run(t, 5*time.Minute, append(os.Environ(), emuEnv...), emuBin, a...), report
}

// clip shortens b for a failure message.
func clip(b []byte) string {
	const max = 4000
	if len(b) > max {
		return string(b[:max]) + fmt.Sprintf("\n... (%d more bytes)", len(b)-max)
	}
	return string(b)
}

// need is a piece emu does not have yet that stops a test: the test is
// skipped, naming the piece, when emu's stderr contains sig (so it runs
// again by itself when the piece lands, and fails if it then stops on
// anything else).
type need struct {
	test string // the test, e.g. "TestNative/hello/musl"
	sig  string // a substring of emu's stderr
	what string // the missing piece
}

// skipIfNeeds skips t if the failed run r matches a known missing piece.
func skipIfNeeds(t *testing.T, r result) {
	t.Helper()
	for _, n := range needs {
		if n.test == t.Name() && bytes.Contains(r.stderr, []byte(n.sig)) {
			t.Skipf("needs: %s\nemu: %s", n.what, firstEmuLine(r.stderr))
		}
	}
}

// firstEmuLine returns emu's first "emu: " line of stderr.
func firstEmuLine(b []byte) string {
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "emu: ") {
			return l
		}
	}
	return ""
}

// signalNames are the signals the test programs die of.
var signalNames = map[int]string{6: "SIGABRT", 11: "SIGSEGV"}

// compare reports how emu's run differs from the native one. When the
// program was killed by a signal, emu's stderr may end with the one line
// that takes the place of a shell's report ("Aborted"): "emu: guest
// killed by SIGxxx: ...", naming the same signal.
func compare(t *testing.T, native, emu result) {
	t.Helper()
	if name, ok := signalNames[native.status-128]; ok && emu.status == native.status {
		prefix := "emu: guest killed by " + name + ":"
		rest, found := bytes.CutPrefix(emu.stderr, native.stderr)
		if found && bytes.HasPrefix(rest, []byte(prefix)) && bytes.IndexByte(rest, '\n') == len(rest)-1 {
			t.Logf("%s", rest)
			emu.stderr = emu.stderr[:len(native.stderr)]
		}
	}
	if bytes.Equal(native.stdout, emu.stdout) && bytes.Equal(native.stderr, emu.stderr) && native.status == emu.status {
		return
	}
	skipIfNeeds(t, emu)
	if native.status != emu.status {
		t.Errorf("exit status: emu %d, native %d", emu.status, native.status)
	}
	if !bytes.Equal(native.stdout, emu.stdout) {
		t.Errorf("stdout differs\nemu:\n%s\nnative:\n%s", clip(emu.stdout), clip(native.stdout))
	}
	if !bytes.Equal(native.stderr, emu.stderr) {
		t.Errorf("stderr differs\nemu:\n%s\nnative:\n%s", clip(emu.stderr), clip(native.stderr))
	}
}

// counters reads the "counters" object of an emu -json result: counter
// name → value.
func counters(t *testing.T, path string) map[string]float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Counters map[string]struct {
			Value float64 `json:"counter-value"`
		} `json:"counters"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, clip(b))
	}
	m := map[string]float64{}
	for k, v := range doc.Counters {
		m[k] = v.Value
	}
	return m
}
