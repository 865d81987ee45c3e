package kernelmodel

// trace emits a span from start to now on v's timeline if tracing is on.
// kv alternates keys (string) and values (int64).
func (v *VCPU) trace(cat, name string, start uint64, kv ...any) {
	f := v.m.cfg.Trace
	if f == nil {
		return
	}
	ev := TraceEvent{CPU: v.id, Cat: cat, Name: name, Start: start, Dur: v.c.Clock - start}
	for i := 0; i+1 < len(kv); i += 2 {
		ev.Args = append(ev.Args, TraceArg{kv[i].(string), kv[i+1].(int64)})
	}
	f(ev)
}

// traceUser emits the user-mode span that ends at a kernel entry.
func (v *VCPU) traceUser() {
	if v.m.cfg.Trace == nil || v.curr == nil || v.c.Clock <= v.userStart {
		return
	}
	v.trace("user", v.curr.comm, v.userStart, "tid", int64(v.curr.tid))
}
