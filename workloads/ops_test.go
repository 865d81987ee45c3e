package workloads

import (
	"strings"
	"testing"
)

func TestParseOps(t *testing.T) {
	for _, c := range []struct {
		out  string
		want Ops
		ok   bool
		err  string
	}{
		{"", Ops{}, false, ""},
		{"not a report\n", Ops{}, false, ""},
		{"emu-ops 0 256 3000000\nemu-ops 1 256 1000000\n", Ops{Threads: 2, Ops: 512, Cycles: 4000000}, true, ""},
		{"emu-ops 0 0 0\n", Ops{Threads: 1}, true, ""},
		{"emu-ops 0 256\n", Ops{}, false, "want emu-ops THREAD OPS CYCLES"},
		{"emu-ops 0 256 x\n", Ops{}, false, "invalid syntax"},
		{"emu-ops 0 -1 5\n", Ops{}, false, "invalid syntax"},
		{"emu-ops 1 256 5\n", Ops{}, false, "thread 1, want 0"},
		{"emu-ops 0 256 5\nemu-ops 0 256 5\n", Ops{}, false, "thread 0, want 1"},
		{"emu-ops 0 256 0\n", Ops{}, false, "ops in zero cycles"},
	} {
		got, ok, err := ParseOps([]byte(c.out))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseOps(%q) error %v, want one containing %q", c.out, err, c.err)
			}
			continue
		}
		if err != nil || ok != c.ok || got != c.want {
			t.Errorf("ParseOps(%q) = %+v, %v, %v; want %+v, %v, nil", c.out, got, ok, err, c.want, c.ok)
		}
	}
}

func TestPerThreadOps(t *testing.T) {
	for _, c := range []struct {
		o    Ops
		want uint64
	}{
		{Ops{Threads: 1, Ops: 1, Cycles: 3000}, 1_000_000}, // 3,000 cycles per op at 3 GHz
		{Ops{Threads: 2, Ops: 512, Cycles: 4_000_000}, 384_000},
		{Ops{Threads: 1, Ops: 2, Cycles: 3}, 2_000_000_000},
		{Ops{Threads: 1}, 0},
	} {
		if got := c.o.PerThreadOps(); got != c.want {
			t.Errorf("%+v.PerThreadOps() = %d, want %d", c.o, got, c.want)
		}
	}
}

// TestTLBFlush2Scaling runs tlb_flush2 and tlb_flush2_lru with 1 thread on 2
// CPUs and 4 threads on 5 (one CPU per thread beside main, as emu's
// default): every op is counted, the ops figure is positive and within the
// run, more threads mean more remote flushes (every madvise flushes the
// CPUs of the shared mm) and a lower per_thread_ops for tlb_flush2, and the
// 32-page batches of tlb_flush2_lru flush far less per op, so its
// per_thread_ops is higher and loses less to the added threads.
func TestTLBFlush2Scaling(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	base := goldenVariants[0]
	type run struct{ one, four map[string]uint64 }
	runs := map[string]run{}
	for _, w := range []string{"tlb_flush2", "tlb_flush2_lru"} {
		var r run
		for _, threads := range []int{1, 4} {
			p := Params{Threads: threads, Pages: 64, Iterations: 2, Seed: 1}
			c := runWith(t, w, threads+1, p, base)
			if want := uint64(threads * p.Pages * p.Iterations); c["emu_ops"] != want {
				t.Errorf("%s, %d threads: emu_ops = %d, want %d", w, threads, c["emu_ops"], want)
			}
			if c["per_thread_ops"] == 0 {
				t.Errorf("%s, %d threads: per_thread_ops = 0", w, threads)
			}
			// Each thread's op loop lies within the run.
			if lim := uint64(threads) * c["emu_elapsed_cycles"]; c["emu_op_cycles"] == 0 || c["emu_op_cycles"] > lim {
				t.Errorf("%s, %d threads: emu_op_cycles = %d, want 1..%d (threads × emu_elapsed_cycles)", w, threads, c["emu_op_cycles"], lim)
			}
			if threads == 1 {
				r.one = c
			} else {
				r.four = c
			}
		}
		if r.four["nr_tlb_remote_flush_received"] <= r.one["nr_tlb_remote_flush_received"] {
			t.Errorf("%s: nr_tlb_remote_flush_received %d at 4 threads, %d at 1; want more at 4", w, r.four["nr_tlb_remote_flush_received"], r.one["nr_tlb_remote_flush_received"])
		}
		runs[w] = r
	}
	tf, lru := runs["tlb_flush2"], runs["tlb_flush2_lru"]
	if tf.four["per_thread_ops"] >= tf.one["per_thread_ops"] {
		t.Errorf("tlb_flush2: per_thread_ops %d at 4 threads, %d at 1; want fewer at 4 (every op's flush IPIs the other threads)", tf.four["per_thread_ops"], tf.one["per_thread_ops"])
	}
	if 8*lru.four["nr_tlb_remote_flush"] > tf.four["nr_tlb_remote_flush"] {
		t.Errorf("4 threads: nr_tlb_remote_flush %d for tlb_flush2_lru, %d for tlb_flush2; want under 1/8 (one flush per 32 pages)", lru.four["nr_tlb_remote_flush"], tf.four["nr_tlb_remote_flush"])
	}
	if lru.four["per_thread_ops"] <= tf.four["per_thread_ops"] {
		t.Errorf("4 threads: per_thread_ops %d for tlb_flush2_lru, %d for tlb_flush2; want more for tlb_flush2_lru", lru.four["per_thread_ops"], tf.four["per_thread_ops"])
	}
	// The loss to 3 more threads, as a fraction of the 1-thread figure.
	loss := func(r run) float64 { return 1 - float64(r.four["per_thread_ops"])/float64(r.one["per_thread_ops"]) }
	if loss(lru) >= loss(tf) {
		t.Errorf("per_thread_ops lost to 4 threads: %.1f %% for tlb_flush2_lru, %.1f %% for tlb_flush2; want less for tlb_flush2_lru", 100*loss(lru), 100*loss(tf))
	}
}
