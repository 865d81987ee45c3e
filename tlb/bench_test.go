package tlb

import (
	"testing"

	"github.com/tlbemu/emu/internal/phys"
)

// benchMMU maps n 4 KiB pages at vaOf(i) and returns an MMU for them.
func benchMMU(b *testing.B, cfg Config, n int, vaOf func(i int) VirtAddr) (*MMU, []VirtAddr) {
	b.Helper()
	mem := phys.New(testMem)
	p := newPageTables(b, mem)
	vas := make([]VirtAddr, n)
	for i := range vas {
		vas[i] = vaOf(i)
		p.Map(vas[i], dataBase+phys.Addr(i%1024)*0x1000, Size4K, rwUser)
	}
	return newMMU(b, mem, cfg, p, true, 1), vas
}

// reportCycles reports the emulated cycles per translation.
func reportCycles(b *testing.B, total uint64) {
	b.ReportMetric(float64(total)/float64(b.N), "cycles/op")
}

// BenchmarkTranslate measures the host cost of one translation on each path
// (target: L1 hit ≤ 5 ns and 0 allocs; full walk with PSC miss ≤ 60 ns).
func BenchmarkTranslate(b *testing.B) {
	for _, cfg := range []Config{DefaultConfig(), Zen4Config()} {
		b.Run("config="+cfg.Name+"/path=l1-hit", func(b *testing.B) {
			m, vas := benchMMU(b, cfg, 1, func(i int) VirtAddr { return userVA })
			m.Translate(vas[0], Read)
			var cycles uint64
			b.ReportAllocs()
			for b.Loop() {
				_, c, _ := m.Translate(vas[0], Read)
				cycles += uint64(c)
			}
			reportCycles(b, cycles)
		})
		b.Run("config="+cfg.Name+"/path=l1-hit-pfn", func(b *testing.B) {
			m, vas := benchMMU(b, cfg, 1, func(i int) VirtAddr { return userVA })
			m.TranslatePFN(vas[0], Read)
			var cycles uint64
			b.ReportAllocs()
			for b.Loop() {
				_, c, _ := m.TranslatePFN(vas[0], Read)
				cycles += uint64(c)
			}
			reportCycles(b, cycles)
		})
		b.Run("config="+cfg.Name+"/path=l1-hit-write", func(b *testing.B) {
			m, vas := benchMMU(b, cfg, 1, func(i int) VirtAddr { return userVA })
			m.OnStaleWrite = func(VirtAddr, phys.PFN, uint64, bool) {}
			m.Translate(vas[0], Write)
			var cycles uint64
			b.ReportAllocs()
			for b.Loop() {
				_, c, _ := m.Translate(vas[0], Write)
				cycles += uint64(c)
			}
			reportCycles(b, cycles)
		})
		b.Run("config="+cfg.Name+"/path=l1-hit-32pages", func(b *testing.B) {
			m, vas := benchMMU(b, cfg, 32, func(i int) VirtAddr { return userVA + VirtAddr(i)*0x1000 })
			for _, va := range vas {
				m.Translate(va, Read)
			}
			var cycles uint64
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				_, c, _ := m.Translate(vas[i&31], Read)
				cycles += uint64(c)
				i++
			}
			reportCycles(b, cycles)
		})
		b.Run("config="+cfg.Name+"/path=walk-psc-miss", func(b *testing.B) {
			// 128 pages, each under its own PML4 entry and all in one TLB and
			// PSC set: every access is a full 4-level walk with PSC misses.
			m, vas := benchMMU(b, cfg, 128, func(i int) VirtAddr { return VirtAddr(i+1) << 39 })
			for _, va := range vas {
				m.Translate(va, Read)
			}
			before := m.Stats
			var cycles uint64
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				_, c, _ := m.Translate(vas[i&127], Read)
				cycles += uint64(c)
				i++
			}
			if refs := m.Stats.WalkRefs - before.WalkRefs; refs != 4*uint64(i) {
				b.Fatalf("%d refs for %d walks: not all PSC misses", refs, i)
			}
			reportCycles(b, cycles)
		})
		b.Run("config="+cfg.Name+"/path=walk-pde-hit", func(b *testing.B) {
			// 4096 consecutive pages: TLB misses, PDE-cache hits.
			m, vas := benchMMU(b, cfg, 4096, func(i int) VirtAddr { return userVA&^(1<<30-1) + VirtAddr(i)*0x1000 })
			for _, va := range vas {
				m.Translate(va, Read)
			}
			var cycles uint64
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				_, c, _ := m.Translate(vas[i&4095], Read)
				cycles += uint64(c)
				i++
			}
			reportCycles(b, cycles)
		})
	}
}

// BenchmarkInvalidate measures the host cost of the invalidating operations
// on a full default-geometry TLB.
func BenchmarkInvalidate(b *testing.B) {
	ops := []struct {
		name string
		f    func(m *MMU, va VirtAddr) uint32
	}{
		{"invlpg", func(m *MMU, va VirtAddr) uint32 { return m.Invlpg(va) }},
		{"invpcid0", func(m *MMU, va VirtAddr) uint32 { return m.Invpcid(InvpcidAddr, 1, va) }},
		{"cr3-flush", func(m *MMU, va VirtAddr) uint32 { return m.WriteCR3(m.CR3()) }},
		{"cr3-noflush", func(m *MMU, va VirtAddr) uint32 { return m.WriteCR3(m.CR3() | CR3NoFlush) }},
		{"invpcid2", func(m *MMU, va VirtAddr) uint32 { return m.Invpcid(InvpcidAll, 0, 0) }},
	}
	for _, op := range ops {
		b.Run("op="+op.name, func(b *testing.B) {
			m, vas := benchMMU(b, DefaultConfig(), 2048, func(i int) VirtAddr { return userVA&^(1<<30-1) + VirtAddr(i)*0x1000 })
			for _, va := range vas {
				m.Translate(va, Read)
			}
			var cycles uint64
			b.ReportAllocs()
			for b.Loop() {
				cycles += uint64(op.f(m, vas[7]))
			}
			reportCycles(b, cycles)
		})
	}
}

// BenchmarkWalk measures the bare 4-level walker (no TLB or PSC
// bookkeeping), on 128 paths that share no table below the PML4.
func BenchmarkWalk(b *testing.B) {
	m, vas := benchMMU(b, DefaultConfig(), 128, func(i int) VirtAddr { return VirtAddr(i+1) << 39 })
	for _, va := range vas {
		Walk(m.mem, m.CR3(), va, Read)
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, code := Walk(m.mem, m.CR3(), vas[i&127], Read); code != 0 {
			b.Fatalf("#PF %#x", code)
		}
		i++
	}
	b.ReportMetric(4, "refs/op")
}
