package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// TraceArg is one named integer argument of a trace event.
type TraceArg struct {
	Key   string
	Value int64
}

// TraceSink is what a run's timeline is written to: a span on a CPU
// (dur > 0, Chrome "X" complete event) or an instant (dur == 0, "i").
// Times are emulated cycles. TraceWriter implements it; the CLI adapts the
// model's trace hook to it.
type TraceSink interface {
	Event(run, cpu int, cat, name string, start, dur uint64, args []TraceArg)
}

// TraceWriter streams the Chrome/Perfetto trace-event JSON format
// ({"traceEvents":[…]}, loadable in ui.perfetto.dev and chrome://tracing;
// the Trace Event Format document names the phases): pid is the run (1
// for the first), tid the CPU, ts and dur in µs at the 3 GHz reference
// clock, in whole ns. Spans are "X" complete events, instants "i" with
// thread scope, flows "s"/"f" pairs ("f" binds to its enclosing slice,
// "bp":"e"), counters "C" events of the run's process. Arguments whose
// key contains "addr", and "rip" and "pte", are written as hex strings. It
// is not safe for concurrent use; the model calls its hook from one
// goroutine at a time.
type TraceWriter struct {
	w       *bufio.Writer
	n       int
	err     error
	threads map[[2]int]bool
}

// NewTraceWriter starts a trace on w.
func NewTraceWriter(w io.Writer) *TraceWriter {
	t := &TraceWriter{w: bufio.NewWriterSize(w, 64<<10), threads: map[[2]int]bool{}}
	t.printf(`{"displayTimeUnit":"ns","traceEvents":[`)
	return t
}

func (t *TraceWriter) printf(format string, a ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, a...)
	}
}

func (t *TraceWriter) sep() {
	if t.n > 0 {
		t.printf(",\n")
	} else {
		t.printf("\n")
	}
	t.n++
}

// Process names run (pid run) in the viewer.
func (t *TraceWriter) Process(run int, name string) {
	q, _ := json.Marshal(name)
	t.sep()
	t.printf(`{"ph":"M","name":"process_name","pid":%d,"tid":0,"args":{"name":%s}}`, run, q)
}

// nsOf is the emulated time of a cycle count in whole ns at the reference
// clock, rounded to nearest.
func nsOf(cycles uint64) uint64 {
	const cyclesPerNs = CyclesPerMicrosecond / 1000
	return (cycles + cyclesPerNs/2) / cyclesPerNs
}

// us formats a time in ns as microseconds with three decimals, exactly.
func us(ns uint64) string {
	return strconv.FormatUint(ns/1000, 10) + "." + fmt.Sprintf("%03d", ns%1000)
}

// Event writes one span or instant; the first event of a CPU also names
// its thread "CPU n".
func (t *TraceWriter) Event(run, cpu int, cat, name string, start, dur uint64, args []TraceArg) {
	t.thread(run, cpu)
	qn, _ := json.Marshal(name)
	qc, _ := json.Marshal(cat)
	t.sep()
	// dur is the rounded end minus the rounded start, not the rounded
	// duration: spans that nest or abut in cycles then nest or abut in
	// the trace too (Perfetto requires slices on a thread to nest).
	ts := nsOf(start)
	if dur > 0 {
		t.printf(`{"ph":"X","pid":%d,"tid":%d,"ts":%s,"dur":%s,"cat":%s,"name":%s`, run, cpu, us(ts), us(nsOf(start+dur)-ts), qc, qn)
	} else {
		t.printf(`{"ph":"i","s":"t","pid":%d,"tid":%d,"ts":%s,"cat":%s,"name":%s`, run, cpu, us(ts), qc, qn)
	}
	if len(args) > 0 {
		t.printf(`,"args":{`)
		for i, a := range args {
			k, _ := json.Marshal(a.Key)
			if i > 0 {
				t.printf(",")
			}
			if hexArg(a.Key) {
				// Addresses read better in hex, and a string keeps all
				// 64 bits in viewers that parse numbers as doubles.
				t.printf(`%s:"%#x"`, k, uint64(a.Value))
			} else {
				t.printf("%s:%d", k, a.Value)
			}
		}
		t.printf("}")
	}
	t.printf("}")
}

func hexArg(key string) bool {
	return strings.Contains(key, "addr") || key == "rip" || key == "pte"
}

// thread names CPU cpu's thread of run the first time it is used.
func (t *TraceWriter) thread(run, cpu int) {
	if !t.threads[[2]int{run, cpu}] {
		t.threads[[2]int{run, cpu}] = true
		t.sep()
		t.printf(`{"ph":"M","name":"thread_name","pid":%d,"tid":%d,"args":{"name":"CPU %d"}}`, run, cpu, cpu)
	}
}

// Flow writes one end of the arrow id of run at cycle at on cpu: the
// start ("s", out true) binds to the slice enclosing it on the sender, the
// end ("f", "bp":"e") to the slice enclosing it on the receiver. Ids are
// made unique across runs (run·2^40 + id).
func (t *TraceWriter) Flow(run, cpu int, out bool, cat, name string, id, at uint64) {
	t.thread(run, cpu)
	qn, _ := json.Marshal(name)
	qc, _ := json.Marshal(cat)
	t.sep()
	gid := uint64(run)<<40 + id
	if out {
		t.printf(`{"ph":"s","pid":%d,"tid":%d,"ts":%s,"id":%d,"cat":%s,"name":%s}`, run, cpu, us(nsOf(at)), gid, qc, qn)
	} else {
		t.printf(`{"ph":"f","bp":"e","pid":%d,"tid":%d,"ts":%s,"id":%d,"cat":%s,"name":%s}`, run, cpu, us(nsOf(at)), gid, qc, qn)
	}
}

// Counter writes a sample of run's counter track name at cycle at: one
// series per argument.
func (t *TraceWriter) Counter(run int, name string, at uint64, args []TraceArg) {
	qn, _ := json.Marshal(name)
	t.sep()
	t.printf(`{"ph":"C","pid":%d,"ts":%s,"name":%s,"args":{`, run, us(nsOf(at)), qn)
	for i, a := range args {
		k, _ := json.Marshal(a.Key)
		if i > 0 {
			t.printf(",")
		}
		t.printf("%s:%d", k, a.Value)
	}
	t.printf("}}")
}

// Close ends the JSON document and flushes; it does not close the
// underlying writer.
func (t *TraceWriter) Close() error {
	t.printf("\n]}\n")
	if t.err != nil {
		return t.err
	}
	return t.w.Flush()
}
