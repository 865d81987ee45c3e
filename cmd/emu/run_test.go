package main

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

//go:generate bash testdata/guest/build.sh

// guestELF is the test guest (testdata/guest/guest.c).
const guestELF = "testdata/guest/guest.elf"

// emuIn runs emu with stdin.
func emuIn(t *testing.T, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, stdin, &o, &e)
	return code, o.String(), e.String()
}

const reportHead = "Emulated counter stats for 'emu run "

// emuLines are stderr's lines that start with "emu: ".
func emuLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "emu: ") {
			out = append(out, l)
		}
	}
	return out
}

func TestRunExitStatus(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string // the guest's stdout
		emu  string // the one "emu: " line on stderr, if any
	}{
		{[]string{"exit", "0"}, 0, "out 0\n", ""},
		{[]string{"exit", "3"}, 3, "out 3\n", ""},
		{[]string{"exit", "1"}, 1, "out 1\n", ""},
		{[]string{"exit", "255"}, 255, "out 255\n", ""},
		{[]string{"exit", "256"}, 0, "out 256\n", ""}, // exit_group's status is & 0xff
		{[]string{"segv"}, 128 + 11, "out segv\n", "emu: guest killed by SIGSEGV"},
	} {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			code, out, e := emu(t, append([]string{"run", "-q", guestELF}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, e)
			}
			if out != tc.out {
				t.Errorf("stdout %q, want the guest's %q only", out, tc.out)
			}
			if !strings.Contains(e, reportHead) {
				t.Errorf("no counter report on stderr:\n%s", e)
			}
			lines := emuLines(e)
			if tc.emu == "" && len(lines) != 0 || tc.emu != "" && (len(lines) != 1 || !strings.HasPrefix(lines[0], tc.emu)) {
				t.Errorf("emu lines %q, want %q", lines, tc.emu)
			}
		})
	}
}

func TestRunStreams(t *testing.T) {
	// stderr: the guest's line first (as it wrote it), then the report.
	code, out, e := emu(t, "run", "-q", guestELF, "exit", "7")
	if code != 7 || out != "out 7\n" || !strings.HasPrefix(e, "err 7\n") || !strings.Contains(e, reportHead) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, e)
	}
	// -o - puts the report on stdout, after the guest's output.
	code, out, e = emu(t, "run", "-q", "-o", "-", guestELF, "exit", "0")
	if code != 0 || !strings.HasPrefix(out, "out 0\n") || !strings.Contains(out, reportHead) || e != "err 0\n" {
		t.Errorf("-o -: exit %d, stdout %q, stderr %q", code, out, e)
	}
	// -o FILE: stdout and stderr are the guest's alone.
	res := filepath.Join(t.TempDir(), "r.json")
	code, out, e = emu(t, "run", "-q", "-json", "-o", res, guestELF, "exit", "0")
	data, err := os.ReadFile(res)
	if code != 0 || out != "out 0\n" || e != "err 0\n" || err != nil || !json.Valid(data) {
		t.Errorf("-o FILE: exit %d, stdout %q, stderr %q, file %v %.80q", code, out, e, err, data)
	}
	// stdin passes through.
	in := strings.Repeat("a line of input\n", 1000)
	code, out, _ = emuIn(t, strings.NewReader(in), "run", "-q", guestELF, "cat")
	if code != 0 || out != in {
		t.Errorf("cat: exit %d, %d bytes out of %d", code, len(out), len(in))
	}
	// -r 2: the guest runs twice, its output streams twice.
	code, out, e = emu(t, "run", "-q", "-r", "2", guestELF, "exit", "0")
	if code != 0 || out != "out 0\nout 0\n" || !strings.Contains(e, "( +-") && !strings.Contains(e, "2 runs") {
		t.Errorf("-r 2: exit %d, stdout %q, stderr %q", code, out, e)
	}
}

// countingWriter counts bytes and calls.
type countingWriter struct{ n, calls int }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += len(p); w.calls++; return len(p), nil }

// TestRunStdoutStreamsBounded: a guest's output reaches emu's stdout write
// by write, not collected and dumped at the end.
func TestRunStdoutStreamsBounded(t *testing.T) {
	var o countingWriter
	var e bytes.Buffer
	const kib = 1024
	code := run(context.Background(), []string{"run", "-q", guestELF, "spam", "1024"}, nil, &o, &e)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e.String())
	}
	if o.n != kib*1024 {
		t.Errorf("stdout got %d bytes, want %d", o.n, kib*1024)
	}
	if o.calls < 1000 {
		t.Errorf("stdout got %d writes for 16384 guest writes: not streamed", o.calls)
	}
}

// patchedGuest writes a copy of the guest ELF changed by mut.
func patchedGuest(t *testing.T, mut func(b []byte) []byte) string {
	t.Helper()
	b, err := os.ReadFile(guestELF)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "a.out")
	if err := os.WriteFile(p, mut(b), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunMissingInterpreter: a dynamically linked program whose PT_INTERP
// names no file is bad input (exit 2), reported with the interpreter's
// path, before anything runs.
func TestRunMissingInterpreter(t *testing.T) {
	le := binary.LittleEndian
	const missing = "/lib64/ld-emu-missing-x86-64.so.2"
	interp := func(b []byte) []byte {
		phoff, n := le.Uint64(b[32:]), int(le.Uint16(b[56:]))
		for i := range n {
			ph := b[int(phoff)+56*i:]
			if elf.ProgType(le.Uint32(ph)) != elf.PT_LOAD {
				le.PutUint32(ph, uint32(elf.PT_INTERP))
				le.PutUint64(ph[8:], uint64(len(b)))
				le.PutUint64(ph[32:], uint64(len(missing)+1))
				return append(b, missing+"\x00"...)
			}
		}
		t.Fatal("no non-load program header to turn into PT_INTERP")
		return nil
	}
	code, out, e := emu(t, "run", patchedGuest(t, interp))
	want := "interpreter " + missing + " not found"
	if code != exitUsage || out != "" || strings.Count(e, "\n") != 1 || !strings.HasPrefix(e, "emu: ") || !strings.Contains(e, want) {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and one line with %q", code, out, e, want)
	}
}

// sparse creates a sparse file of size bytes starting with head.
func sparse(t *testing.T, name string, head []byte, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, head, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBoundedInputs(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	head, _ := os.ReadFile(guestELF)
	good := filepath.Join(dir, "good.json")
	if code, _, e := emu(t, args("-json", "-o", good)...); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"run /dev/zero", []string{"run", "/dev/zero"}, "/dev/zero: not a regular file (a character device)"},
		{"run a FIFO", []string{"run", fifo}, "not a regular file (a FIFO)"},
		{"run a directory", []string{"run", dir}, "not a regular file (a directory)"},
		{"run a large non-ELF", []string{"run", sparse(t, "big.bin", []byte("#!/bin/sh\n"), 1<<30)}, "not an ELF file"},
		{"run a large ELF", []string{"run", sparse(t, "big.elf", head, maxProgramBytes+1)}, "larger than the 256 MiB limit"},
		{"compare /dev/zero", []string{"compare", "/dev/zero", "/dev/zero"}, "/dev/zero: not a regular file (a character device)"},
		{"compare large", []string{"compare", good, sparse(t, "big.json", []byte("{"), maxResultBytes+1)}, "larger than the 64 MiB limit"},
		{"costs /dev/zero", []string{"costs", "-costs", "/dev/zero"}, "-costs: /dev/zero: not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, e := emu(t, tc.args...)
			if code != exitUsage || out != "" || strings.Count(e, "\n") != 1 || !strings.HasPrefix(e, "emu: ") || !strings.Contains(e, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and one line with %q", code, out, e, tc.want)
			}
		})
	}
	// compare reads a FIFO (a shell's <(…)) up to the bound.
	data, _ := os.ReadFile(good)
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			f.Write(data)
			f.Close()
		}
	}()
	if code, _, e := emu(t, "compare", good, fifo); code != 0 {
		t.Errorf("compare from a FIFO: exit %d: %s", code, e)
	}
}

func TestOutputPathsCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	x := filepath.Join(dir, "x.json")
	os.Symlink("x.json", filepath.Join(dir, "lx.json"))
	planned := false
	testHookPlanned = func() error { planned = true; return nil }
	defer func() { testHookPlanned = nil }()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing dir", args("-o", "/nonexistent/dir/x.json"), "-o /nonexistent/dir/x.json: directory /nonexistent/dir: no such file or directory"},
		{"trace missing dir", args("-trace", filepath.Join(dir, "no", "t.json")), "-trace"},
		{"plot missing dir", args("-plot", filepath.Join(dir, "no", "h.svg")), "-plot"},
		{"cpuprofile missing dir", args("-cpuprofile", filepath.Join(dir, "no", "p")), "-cpuprofile"},
		{"directory", args("-o", dir), "is a directory"},
		{"same file", args("-o", x, "-trace", x), "-o " + x + " and -trace " + x + " name the same file"},
		{"same via symlink", args("-o", x, "-memprofile", filepath.Join(dir, "lx.json")), "name the same file"},
		{"compare", []string{"compare", "-o", "/nonexistent/x", "a.json", "b.json"}, "-o /nonexistent/x: directory"},
		{"ab", []string{"ab", "-patch", "clear-refs-flush", "-o", "/nonexistent/x"}, "-o /nonexistent/x: directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			planned = false
			code, out, e := emu(t, tc.args...)
			if code != exitUsage || out != "" || strings.Count(e, "\n") != 1 || !strings.Contains(e, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and one line with %q", code, out, e, tc.want)
			}
			if planned {
				t.Error("the command went on past validation")
			}
		})
	}
}

func TestOutputFIFOAndSymlink(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(f)
		f.Close()
		got <- b
	}()
	if code, out, e := emu(t, args("-json", "-o", fifo)...); code != 0 || out != "" {
		t.Fatalf("-o FIFO: exit %d, stdout %q: %s", code, out, e)
	}
	if b := <-got; !json.Valid(b) || !bytes.Contains(b, []byte(`"counters"`)) {
		t.Errorf("the FIFO's reader got %.100q", b)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v %v", fi.Mode(), err)
	}

	target := filepath.Join(dir, "target.json")
	os.WriteFile(target, []byte("old"), 0o644)
	link := filepath.Join(dir, "link.json")
	os.Symlink("target.json", link)
	if code, _, e := emu(t, args("-json", "-o", link)...); code != 0 {
		t.Fatalf("-o symlink: exit %d: %s", code, e)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the symlink was replaced: %v %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(target); !json.Valid(b) {
		t.Errorf("the link's target holds %.60q", b)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestCostRanges(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		file, want string
	}{
		{"kernel.zero_page = 18446744073709551000\n", "line 1: kernel.zero_page = 18446744073709551000 is out of range (valid: 0..10000000 cycles)"},
		{"# c\nipi.queue_cycles = 10000001\n", "line 2: ipi.queue_cycles = 10000001 is out of range (valid: 0..10000000 cycles)"},
		{"cpu.user_alu = 0\n", "cpu.user_alu = 0 is out of range (valid: 1..10000000 cycles)"},
		{"kernel.spin_poll = 0\n", "kernel.spin_poll = 0 is out of range (valid: 1..10000000"},
		{"ipi.delivery_cycles = 9223372036854775808\n", "ipi.delivery_cycles = 9223372036854775808 is out of range (valid: 1..10000000"},
	} {
		p := filepath.Join(dir, "c.costs")
		os.WriteFile(p, []byte(tc.file), 0o644)
		for _, a := range [][]string{{"costs", "-costs", p}, args("-costs", p)} {
			code, out, e := emu(t, a...)
			if code != exitUsage || out != "" || strings.Count(e, "\n") != 1 || !strings.Contains(e, tc.want) {
				t.Errorf("%q with %v: exit %d, stderr %q; want exit 2 with %q", tc.file, a[0], code, e, tc.want)
			}
		}
	}
	// The edges are valid.
	p := filepath.Join(dir, "edge.costs")
	os.WriteFile(p, []byte("kernel.zero_page = 10_000_000\ncpu.user_alu = 1\nkernel.wakeup = 0\n"), 0o644)
	if code, out, e := emu(t, "costs", "-costs", p); code != 0 || !strings.Contains(out, "\n  zero_page: 10000000 # cost file ") {
		t.Errorf("edge values: exit %d: %s", code, e)
	}
}

// TestMainProcess runs emu's main when re-executed by TestSIGTERM.
func TestMainProcess(t *testing.T) {
	if os.Getenv("EMU_TEST_MAIN") != "1" {
		t.Skip("only as a subprocess")
	}
	var args []string
	for i, a := range os.Args {
		if a == "--" {
			args = os.Args[i+1:]
		}
	}
	os.Args = append([]string{"emu"}, args...)
	main()
}

// TestSIGTERM: SIGTERM ends a run as Ctrl-C does: the counters so far are
// printed, exit 1, and no temporary file is left.
func TestSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	tr := filepath.Join(dir, "t.json")
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainProcess$", "--",
		"-workload", "clear_refs", "-iterations", "100000000", "-max-cycles", "0", "-q", "-json", "-trace", tr)
	cmd.Env = append(os.Environ(), "EMU_TEST_MAIN=1")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("emu did not stop within 30 s of SIGTERM")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFail {
		t.Errorf("exit %v, want 1; stderr %s", err, e.String())
	}
	if !strings.Contains(e.String(), "interrupted") {
		t.Errorf("stderr %q does not say it was interrupted", e.String())
	}
	if !json.Valid(o.Bytes()) || !bytes.Contains(o.Bytes(), []byte(`"error"`)) || !bytes.Contains(o.Bytes(), []byte(`"page-faults"`)) {
		t.Errorf("no partial result on stdout: %.200q", o.String())
	}
	ents, _ := os.ReadDir(dir)
	for _, ent := range ents {
		if strings.HasPrefix(ent.Name(), ".") {
			t.Errorf("temporary file %s left behind", ent.Name())
		}
	}
}

func TestTimeout(t *testing.T) {
	start := time.Now()
	code, out, e := emu(t, "-workload", "clear_refs", "-iterations", "100000000", "-max-cycles", "0", "-q", "-timeout", "300ms", "-json")
	if code != exitFail || !strings.Contains(e, "-timeout 300ms reached") || !json.Valid([]byte(out)) {
		t.Errorf("exit %d, stderr %q, stdout %.100q", code, e, out)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestABPartial: when a side of emu ab fails, what ran is printed and the
// error names the side.
func TestABPartial(t *testing.T) {
	code, out, e := emu(t, "ab", "-workload", "clear_refs", "-pages", "64", "-iterations", "2", "-q",
		"-patch", "clear-refs-flush", "-fail-on-hazard")
	if code != exitFail || !strings.HasPrefix(out, "# side A (5.10)\n") || !strings.Contains(out, "nr_tlb_remote_flush") {
		t.Errorf("exit %d, stdout %.200q", code, out)
	}
	if strings.Count(e, "\n") != 1 || !strings.Contains(e, "emu: side A (5.10) did not finish (printed A so far; no comparison): kernelmodel: stale-TLB hazard") {
		t.Errorf("stderr %q", e)
	}
}

// TestRunUnimplementedSyscalls: one line after the run names the system
// calls the model answered with -ENOSYS, summed over -r runs.
func TestRunUnimplementedSyscalls(t *testing.T) {
	code, _, e := emu(t, "run", "-q", "-r", "2", guestELF, "nosys")
	lines := emuLines(e)
	if code != 0 || len(lines) != 1 || lines[0] != "emu: unimplemented syscalls: syscall_500 ×4, syscall_501 ×2" {
		t.Errorf("exit %d, emu lines %q", code, lines)
	}
	if !strings.HasSuffix(e, lines[0]+"\n") {
		t.Errorf("the line is not the last of stderr: %q", e)
	}
	if _, _, e := emu(t, "run", "-q", guestELF, "exit", "0"); strings.Contains(e, "unimplemented") {
		t.Errorf("a guest that made no unimplemented call: %q", e)
	}
}

// TestRunStdinInterruptible: a guest blocked reading an idle stdin is
// stopped by -timeout (as by Ctrl-C or SIGTERM), with its counters.
func TestRunStdinInterruptible(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	start := time.Now()
	code, _, e := emuIn(t, pr, "run", "-q", "-timeout", "200ms", guestELF, "cat")
	if code != exitFail || !strings.Contains(e, reportHead) || !strings.Contains(e, "-timeout 200ms reached") {
		t.Errorf("exit %d, stderr %.300q", code, e)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

// sizeReader records the size of each read.
type sizeReader struct {
	sizes []int
	data  string
}

func (r *sizeReader) Read(p []byte) (int, error) {
	r.sizes = append(r.sizes, len(p))
	if r.data == "" {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestCtxReader(t *testing.T) {
	src := &sizeReader{data: "abcdefgh"}
	r := newCtxReader(context.Background(), src)
	buf := make([]byte, 3)
	var got []byte
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	if string(got) != "abcdefgh" {
		t.Errorf("read %q", got)
	}
	for _, n := range src.sizes {
		if n != 3 {
			t.Errorf("the source saw reads of %v bytes: want only the guest's 3 (no read-ahead)", src.sizes)
			break
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	defer pw.Close()
	r = newCtxReader(ctx, pr)
	done := make(chan error)
	go func() { _, err := r.Read(buf); done <- err }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != io.EOF {
			t.Errorf("cancelled read: %v, want EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a blocked read did not end when the context was cancelled")
	}
}

// TestRunEnvironment: the guest gets emu's environment, as perf stat passes
// its own; -env-clear gives it none.
func TestRunEnvironment(t *testing.T) {
	t.Setenv("EMU_TEST_ENV", "value with spaces")
	res := filepath.Join(t.TempDir(), "r.txt")
	code, out, e := emu(t, "run", "-q", "-o", res, guestELF, "env")
	if code != 0 || !strings.Contains(out, "\nEMU_TEST_ENV=value with spaces\n") && !strings.HasPrefix(out, "EMU_TEST_ENV=value with spaces\n") {
		t.Errorf("exit %d, stdout %q, stderr %q: want EMU_TEST_ENV in the guest's environment", code, out, e)
	}
	code, out, e = emu(t, "run", "-q", "-env-clear", "-o", res, guestELF, "env")
	if code != 0 || out != "" {
		t.Errorf("-env-clear: exit %d, stdout %q, stderr %q: want no environment", code, out, e)
	}
}

// TestCostsRoundTrip: the table emu costs prints for a preset is a cost
// file that, applied to the default configuration under the same preset,
// gives the same costs; -cpu-model and -virt are checked.
func TestCostsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	code, out, e := emu(t, "costs", "-cpu-model", "haswell", "-virt", "kvm")
	if code != 0 || !strings.Contains(out, "-cpu-model haswell -virt kvm") || !strings.Contains(out, "\n  invlpg: 260 # ") {
		t.Fatalf("costs -cpu-model haswell -virt kvm: exit %d %s\n%s", code, e, out)
	}
	p := filepath.Join(dir, "haswell.yaml")
	if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	code, again, e := emu(t, "costs", "-cpu-model", "haswell", "-virt", "kvm", "-costs", p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	strip := func(s string) string { // values only
		var b strings.Builder
		for _, l := range strings.Split(s, "\n") {
			if v, _, ok := strings.Cut(l, " # "); ok && strings.HasPrefix(l, "  ") {
				b.WriteString(v + "\n")
			}
		}
		return b.String()
	}
	if strip(out) != strip(again) || strip(out) == "" {
		t.Errorf("round trip changed values:\n%s\nvs\n%s", strip(out), strip(again))
	}
	for _, bad := range [][]string{{"costs", "-cpu-model", "486"}, {"costs", "-virt", "xen"}, args("-cpu-model", "486")} {
		code, _, e := emu(t, bad...)
		if code != exitUsage || !strings.HasPrefix(e, "emu: ") || !strings.Contains(e, "valid: ") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming the valid presets", bad, code, e)
		}
	}
}

// jsonCounters returns the counter values of an emu -format json result,
// by name, as printed.
func jsonCounters(t *testing.T, out string) map[string]string {
	t.Helper()
	var res struct {
		Counters map[string]struct {
			Value json.Number `json:"counter-value"`
		} `json:"counters"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for k, v := range res.Counters {
		m[k] = string(v.Value)
	}
	return m
}

// TestWorkloadOps: a will-it-scale style workload's report on fd 1 becomes
// the emu_ops, emu_op_cycles and per_thread_ops counters (workloads.Workload.Report),
// in every format, averaged over -r runs; a silent workload has none.
func TestWorkloadOps(t *testing.T) {
	counters := func(extra ...string) map[string]string {
		t.Helper()
		code, out, stderr := emu(t, append([]string{"-q", "-format", "json", "-cpus", "3", "-pages", "16", "-iterations", "1"}, extra...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", extra, code, stderr)
		}
		return jsonCounters(t, out)
	}
	c := counters("-workload", "tlb_flush2")
	if c["emu_ops"] != "32" { // 2 threads (one per vCPU beside main) × 16 pages × 1 pass
		t.Errorf("tlb_flush2: emu_ops = %q, want 32", c["emu_ops"])
	}
	for _, k := range []string{"emu_op_cycles", "per_thread_ops"} {
		if v, ok := c[k]; !ok || v == "0" {
			t.Errorf("tlb_flush2: %s = %q, want > 0", k, v)
		}
	}
	if r := counters("-workload", "tlb_flush2", "-r", "2"); r["emu_ops"] != "32" || r["per_thread_ops"] == "" {
		t.Errorf("tlb_flush2 -r 2: emu_ops = %q, per_thread_ops = %q; want 32 and a mean", r["emu_ops"], r["per_thread_ops"])
	}
	if code, out, _ := emu(t, "-q", "-workload", "tlb_flush2", "-cpus", "3", "-pages", "16", "-iterations", "1"); code != 0 || !strings.Contains(out, " per_thread_ops") {
		t.Errorf("text output (exit %d) has no per_thread_ops line:\n%s", code, out)
	}
	for _, k := range []string{"emu_ops", "emu_op_cycles", "per_thread_ops"} {
		if v, ok := counters("-workload", "madvise")[k]; ok {
			t.Errorf("madvise reports no ops, but %s = %q", k, v)
		}
	}
}

// TestRunSeedsExploreInterleavings: under emu run the seed reaches timing
// too (kernelmodel/jitter.go: start skew, IPI and lock jitter), so the
// runs of -r 3 of a multithreaded program differ, and the same command
// gives the same bytes again.
func TestRunSeedsExploreInterleavings(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	cmd := []string{"run", "-q", "-r", "3", "-format", "json", "-o", "-", "../../workloads/bin/page_fault.elf", "2", "32", "3", "1"}
	code, out, stderr := emu(t, cmd...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Counters map[string]struct {
			Samples []uint64 `json:"samples"`
		} `json:"counters"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	s := res.Counters["emu_elapsed_cycles"].Samples
	if len(s) != 3 || (s[0] == s[1] && s[1] == s[2]) {
		t.Errorf("emu_elapsed_cycles samples %v: want 3 runs, not all equal", s)
	}
	if _, again, _ := emu(t, cmd...); again != out {
		t.Errorf("the same command gave different output")
	}
}
