package workloads

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Ops is what a will-it-scale style guest (tlb_flush2, tlb_flush2_lru)
// reports on fd 1 when it exits: one line per thread,
//
//	emu-ops THREAD OPS CYCLES
//
// OPS being the thread's will-it-scale iterations and CYCLES the TSC
// (the vCPU's cycle clock) from its first op to its last.
type Ops struct {
	Threads int
	Ops     uint64 // summed over the threads
	Cycles  uint64 // summed over the threads
}

// opsHz is the clock that turns the guest's TSC cycles into emulated
// seconds: the cost model's 3.0 GHz reference, at which emu prints
// "seconds time elapsed (emulated, 3 GHz)" (report.CyclesPerMicrosecond).
const opsHz = 3e9

// ParseOps reads the guest's report from its output. ok is false when the
// output has no report (the other workloads are silent); a report line
// that is malformed, a thread number out of order or zero cycles for a
// thread that did ops is an error: the guest is broken.
func ParseOps(out []byte) (o Ops, ok bool, err error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "emu-ops" {
			continue
		}
		if len(f) != 4 {
			return Ops{}, false, fmt.Errorf("guest report %q: want emu-ops THREAD OPS CYCLES", sc.Text())
		}
		var v [3]uint64
		for i := range v {
			if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
				return Ops{}, false, fmt.Errorf("guest report %q: %v", sc.Text(), err)
			}
		}
		if v[0] != uint64(o.Threads) {
			return Ops{}, false, fmt.Errorf("guest report %q: thread %d, want %d", sc.Text(), v[0], o.Threads)
		}
		if v[1] > 0 && v[2] == 0 {
			return Ops{}, false, fmt.Errorf("guest report %q: ops in zero cycles", sc.Text())
		}
		o.Threads++
		o.Ops += v[1]
		o.Cycles += v[2]
	}
	return o, o.Threads > 0, nil
}

// PerThreadOps is will-it-scale's per_thread_ops: ops per second of one
// thread, here the threads' total ops over their total cycles at the
// 3 GHz reference clock (equal to the harness's sum / tasks when the
// threads run equally long). 0 when no cycles were counted.
func (o Ops) PerThreadOps() uint64 {
	if o.Cycles == 0 {
		return 0
	}
	return uint64(math.Round(float64(o.Ops) * opsHz / float64(o.Cycles)))
}

// Counter is one counter of the report, with kernelmodel.Counter's fields
// (so that one converts to the other): this package cannot import
// kernelmodel, whose tests run the workloads.
type Counter struct {
	Name  string
	Value uint64
	Unit  string
}

// Counters are the report as counters, appended after the model's own:
// emu_ops (ops of all threads), emu_op_cycles (the threads' cycles in
// their op loops, summed) and per_thread_ops (ops/s per thread).
func (o Ops) Counters() []Counter {
	return []Counter{
		{Name: "emu_ops", Value: o.Ops},
		{Name: "emu_op_cycles", Value: o.Cycles, Unit: "cycles"},
		{Name: "per_thread_ops", Value: o.PerThreadOps(), Unit: "ops/s"},
	}
}
