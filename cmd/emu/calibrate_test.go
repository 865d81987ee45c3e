package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCalibrateCommand(t *testing.T) {
	code, out, e := emu(t, "calibrate", "-target", "S1,S10/full,H1,H2")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, e, out)
	}
	for _, want := range []string{"\nS1 ", "\nS10/full ", "\nH1 ", "\nH2 ", "UNREACHABLE", "\nSources:\n", "4 targets: 3 within ±25 %, 1 unreachable (reason printed), 0 outside\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	p := filepath.Join(t.TempDir(), "cal.txt")
	if code, _, e := emu(t, "calibrate", "-target", "S9", "-o", p); code != 0 {
		t.Fatalf("-o: exit %d: %s", code, e)
	}
	if b, err := os.ReadFile(p); err != nil || !strings.Contains(string(b), "\nS9/1 ") || !strings.Contains(string(b), "\nS9/10 ") {
		t.Errorf("-o file: %v\n%s", err, b)
	}
	code, _, e = emu(t, "calibrate", "-target", "S99")
	if code != exitUsage || !strings.HasPrefix(e, "emu: -target: unknown target \"S99\" (valid: S1,") {
		t.Errorf("unknown target: exit %d, %q", code, e)
	}
	code, out, _ = emu(t, "calibrate", "-list")
	if code != 0 || !strings.Contains(out, "S6 ") || !strings.Contains(out, "20220718120212.3180-1-namit@vmware.com") {
		t.Errorf("-list: exit %d\n%s", code, out)
	}
}
