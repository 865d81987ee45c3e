package kernelmodel

// Timing jitter keyed by the seed, so that seeds explore interleavings of
// the same program reproducibly: each vCPU draws from its own splitmix64
// stream (Steele, Lea, Flood, "Fast splittable pseudorandom number
// generators", OOPSLA 2014), seeded from Config.Seed and the vCPU number,
// and only while it runs kernel code under the baton, so the draws, and
// the run, are the same at any GOMAXPROCS. The spreads are ASSUMPTIONs,
// kept well inside one IPI latency and centred on the calibrated costs: a
// shootdown IPI's delivery varies over ipiJitter cycles (APIC bus and
// interrupt-window timing), a contended lock's cache-line hand-off over
// lockJitter cycles.
//
// The seed also skews when things start, so that even a guest that sends
// no IPI and contends no lock (emu run of a plain multithreaded program)
// runs a different interleaving per seed: each vCPU's clock starts at a
// draw in [0, startSkew) cycles (the CPU is idle until then: the skew is
// not busy time), and a new task's first wake-up of an idle CPU
// (wake_up_new_task) arrives a draw in [0, startSkew) cycles after the
// calibrated Wakeup cost. ASSUMPTION: startSkew = 2,000 cycles (under 1 µs
// at 3 GHz), of the order of an IPI round trip plus an idle-state exit; it
// is not calibrated against a measured spread. It moves which CPU reaches
// a window first, not the calibrated mean costs (a new task's wake-up is
// later by startSkew/2 on average).
const (
	ipiJitter  = 150
	lockJitter = 20
	startSkew  = 2000
)

func jitterSeed(seed uint64, cpu int) uint64 {
	return seed*0x9E3779B97F4A7C15 ^ uint64(cpu+1)*0xD1B54A32D192ED03
}

// skewStart offsets v's clock at machine creation by its start skew (see
// startSkew). The time before it counts as idle.
func (v *VCPU) skewStart() {
	s := v.jitter(startSkew)
	v.c.Clock, v.idleSince, v.idleCycles = s, s, s
}

// around returns base varied by a draw from v's stream, centred on base
// (base - n/2 .. base + n/2), so the calibrated mean costs stay the mean;
// a base below n/2 varies upwards only.
func (v *VCPU) around(base, n uint64) uint64 {
	if v.m.cfg.NoJitter {
		return base
	}
	return base - min(n/2, base) + v.jitter(n)
}

// jitter returns a draw in [0, n) from v's stream (0 when n is 0).
func (v *VCPU) jitter(n uint64) uint64 {
	if n == 0 || v.m.cfg.NoJitter {
		return 0
	}
	v.jit += 0x9E3779B97F4A7C15
	z := v.jit
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	z ^= z >> 31
	return z % n
}
