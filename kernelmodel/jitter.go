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
const (
	ipiJitter  = 150
	lockJitter = 20
)

func jitterSeed(seed uint64, cpu int) uint64 {
	return seed*0x9E3779B97F4A7C15 ^ uint64(cpu+1)*0xD1B54A32D192ED03
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
