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
// ({"traceEvents":[…]}, loadable in ui.perfetto.dev and chrome://tracing):
// pid is the run (1 for the first), tid the CPU, ts and dur in µs at the
// 3 GHz reference clock; arguments whose key contains "addr" are written
// as hex strings. It is not safe for concurrent use; the model calls
// its hook from one goroutine at a time.
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
	if !t.threads[[2]int{run, cpu}] {
		t.threads[[2]int{run, cpu}] = true
		t.sep()
		t.printf(`{"ph":"M","name":"thread_name","pid":%d,"tid":%d,"args":{"name":"CPU %d"}}`, run, cpu, cpu)
	}
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
			if strings.Contains(a.Key, "addr") {
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

// Close ends the JSON document and flushes; it does not close the
// underlying writer.
func (t *TraceWriter) Close() error {
	t.printf("\n]}\n")
	if t.err != nil {
		return t.err
	}
	return t.w.Flush()
}
