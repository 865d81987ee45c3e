package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tlbemu/emu/workloads"
)

// TestWorkloadRangeEdges: for every workload, -pages at its lower edge
// (MinPages, or 1) and at 2^24, -threads at 1 and 1024 pass the checks
// (the run starts; a short -max-cycles stops it), and one past each edge
// is exit 2 naming the range.
func TestWorkloadRangeEdges(t *testing.T) {
	for _, wl := range workloads.All() {
		lo := max(wl.MinPages, 1)
		base := []string{"-workload", wl.Name, "-iterations", "1", "-q", "-max-cycles", "2000000"}
		ok := func(extra ...string) {
			t.Helper()
			code, _, e := emu(t, append(append([]string(nil), base...), extra...)...)
			if code == exitUsage || strings.Contains(e, "must be") {
				t.Errorf("%s %v: exit %d: %s", wl.Name, extra, code, e)
			}
		}
		bad := func(want string, extra ...string) {
			t.Helper()
			code, _, e := emu(t, append(append([]string(nil), base...), extra...)...)
			if code != exitUsage || !strings.Contains(e, want) {
				t.Errorf("%s %v: exit %d, stderr %q, want exit 2 with %q", wl.Name, extra, code, e, want)
			}
		}
		ok("-pages", fmt.Sprint(lo))
		ok("-pages", fmt.Sprint(lo), "-threads", "1")
		ok("-pages", fmt.Sprint(lo), "-threads", "1024")
		ok("-pages", fmt.Sprint(maxWorkloadPages), "-max-cycles", "1")
		if lo > 1 {
			bad(fmt.Sprintf("-pages must be %d..%d for workload %s, got %d", lo, maxWorkloadPages, wl.Name, lo-1), "-pages", fmt.Sprint(lo-1))
		}
		bad(fmt.Sprintf("-pages must be 1..%d, got %d", maxWorkloadPages, maxWorkloadPages+1), "-pages", fmt.Sprint(maxWorkloadPages+1))
		bad("-threads must be 1..1024, got 1025", "-threads", "1025")
		bad("must not be negative", "-threads", "-1")
	}
}
