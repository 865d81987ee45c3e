package tlb

import (
	"fmt"
	"slices"
	"testing"

	"github.com/tlbemu/emu/internal/phys"
	"pgregory.net/rapid"
)

// The property test drives an MMU with random kernel edits of page tables
// (no invalidation), accesses from two address spaces (PCIDs 1 and 2) and
// invalidations, and checks every result against a reference model of what
// the architecture allows (SDM Vol. 3A 4.10.2–4.10.4):
//
//   - allowed[s][p] is the set of translations for probe p that a TLB may
//     hold under address space s's PCID: every translation that was current
//     (in memory) at some step while s was loaded, since the last
//     invalidation that covers (PCID, p). A processor may cache a current
//     translation at any time (speculatively), so the model adds the current
//     translation after every step rather than only on accesses;
//   - global[p] is the same for global translations (any PCID);
//   - pdeMay[s] says that a PDE-cache entry for the local 4K region may exist
//     under s's PCID, so a walk may use the PDE even after the kernel cleared
//     its P bit.
//
// An access may succeed with frame f only if f is the current translation
// (for a write: one that permits writing, as the walk sets D) or an allowed
// cached one that permits the access without a walk (for a write: W=1 and
// D=1). It may fault only if the current translation faults or an allowed
// cached one denies the access; a fault invalidates the page's entries
// under the current PCID and global ones.

// mTrans is one translation the model allows to be cached.
type mTrans struct {
	pa   phys.Addr // 4 KiB frame
	w, d bool
}

// mProbe is an address the test accesses.
type mProbe struct {
	va     VirtAddr
	size   uint8
	global bool
	local  bool // in the local 4K region whose PDE the kernel may toggle
}

// Layout of the model's address spaces.
var (
	mLocal4K = VirtAddr(0x0000_0010_0000_0000) // 3 pages in one page table
	mOther4K = VirtAddr(0x0000_0010_4000_0000) // under another PDPTE
	mLocal2M = VirtAddr(0x0000_0020_0000_0000)
	mGlobal  = VirtAddr(0x0000_7f00_0000_0000) // shared tables, G=1
	mProbes  = []mProbe{
		{va: mLocal4K, local: true},
		{va: mLocal4K + 0x1000, local: true},
		{va: mLocal4K + 0x2000 + 0x123, local: true},
		{va: mOther4K + 0x5000},
		{va: mLocal2M, size: Size2M},
		{va: mLocal2M + 0x1f_f000 + 0x800, size: Size2M},
		{va: mGlobal, global: true},
		{va: mGlobal + 0x1000, global: true},
	}
	m4KFrames = []phys.Addr{dataBase, dataBase + 0x1000, dataBase + 0x2000, dataBase + 0x3000, dataBase + 0x4000}
	m2MFrames = []phys.Addr{dataBase + 4<<20, dataBase + 6<<20}
)

type modelState struct {
	mem     *phys.Memory
	as      [2]*pageTables
	m       *MMU
	cur     int            // loaded address space (PCID cur+1)
	allowed [2][][]mTrans  // per address space, per probe
	global  [][]mTrans     // per probe
	pdeMay  [2]bool        // PDE-cache entry for the local region may exist
	log     []string       // steps, for failure messages
	seen    map[string]int // outcomes, for coverage
}

func newModelState(t *rapid.T, cfg Config) *modelState {
	mem := phys.New(testMem)
	st := &modelState{mem: mem, seen: map[string]int{}}
	for s := range st.as {
		st.as[s] = newPageTables(t, mem)
	}
	// Local mappings, different frames per address space.
	for s, p := range st.as {
		for i, pr := range mProbes {
			switch {
			case pr.global:
			case pr.size == Size2M:
				p.Map(pr.va, m2MFrames[s], Size2M, rwUser)
			default:
				p.Map(pr.va, m4KFrames[(i+s)%len(m4KFrames)], Size4K, rwUser)
			}
		}
	}
	// Global pages: space 0 builds the tables, space 1 shares its PDPT.
	st.as[0].Map(mGlobal, m4KFrames[0], Size4K, rwUser|PteG)
	st.as[0].Map(mGlobal+0x1000, m4KFrames[1], Size4K, rwUser|PteG)
	st.as[1].Set(mGlobal, 4, st.as[0].Entry(mGlobal, 4))
	st.m = New(mem, cfg)
	st.m.SetCR4(true, true)
	st.m.WriteCR3(st.as[0].CR3(1))
	for s := range st.allowed {
		st.allowed[s] = make([][]mTrans, len(mProbes))
	}
	st.global = make([][]mTrans, len(mProbes))
	st.speculate()
	return st
}

// refWalk translates p in address space s from memory, optionally treating
// the local region's PDE as present (a cached PDE-cache entry). ok is false
// if the translation is not present.
func (st *modelState) refWalk(s int, p *mProbe, forcePDE bool) (tr mTrans, ok bool) {
	table := st.as[s].cr3
	tr.w = true
	for level := 4; level >= 1; level-- {
		e := st.mem.LoadPTE(table + phys.Addr(p.va.Index(level)*8))
		if e&PteP == 0 && !(level == 2 && p.local && forcePDE) {
			return tr, false
		}
		tr.w = tr.w && e&PteRW != 0
		if level == 1 || (level == 2 && e&PtePS != 0) {
			mask := phys.Addr(1)<<PageShiftOf(p.size) - 1
			tr.pa = (phys.Addr(e&PteAddrMask)&^mask + phys.Addr(p.va)&mask) &^ 0xfff
			tr.d = e&PteD != 0
			return tr, true
		}
		table = phys.Addr(e & PteAddrMask)
	}
	panic("unreachable")
}

// current returns the translations a walk may produce now in space s: from
// memory, and through a possibly cached PDE.
func (st *modelState) current(s int, p *mProbe) (alts []mTrans, mayFault bool) {
	for _, force := range []bool{false, true} {
		if force && (!p.local || !st.pdeMay[s]) {
			continue
		}
		if tr, ok := st.refWalk(s, p, force); ok {
			alts = append(alts, tr)
		} else {
			mayFault = true
		}
	}
	return alts, mayFault
}

func addTrans(set []mTrans, tr mTrans) []mTrans {
	if slices.Contains(set, tr) {
		return set
	}
	return append(set, tr)
}

// speculate adds what the processor may cache right now: the current
// translations of the loaded space, and its PDE-cache entry.
func (st *modelState) speculate() {
	s := st.cur
	if st.as[s].Entry(mLocal4K, 2)&PteP != 0 {
		st.pdeMay[s] = true
	}
	for i := range mProbes {
		p := &mProbes[i]
		alts, _ := st.current(s, p)
		for _, tr := range alts {
			if p.global {
				st.global[i] = addTrans(st.global[i], tr)
			} else {
				st.allowed[s][i] = addTrans(st.allowed[s][i], tr)
			}
		}
	}
}

// samePage reports whether va lies in probe p's page.
func samePage(p *mProbe, va VirtAddr) bool { return p.va.VPN(p.size) == va.VPN(p.size) }

// dropPage models the invalidation of the entries for va's page: for space
// s (or none if s < 0) and, if glob, the global ones.
func (st *modelState) dropPage(s int, va VirtAddr, glob bool) {
	for i := range mProbes {
		p := &mProbes[i]
		if !samePage(p, va) {
			continue
		}
		if s >= 0 {
			st.allowed[s][i] = nil
		}
		if glob {
			st.global[i] = nil
		}
	}
}

func (st *modelState) dropSpace(s int) {
	for i := range st.allowed[s] {
		st.allowed[s][i] = nil
	}
}

func (st *modelState) dropGlobal() {
	for i := range st.global {
		st.global[i] = nil
	}
}

func (st *modelState) logf(format string, args ...any) {
	st.log = append(st.log, fmt.Sprintf(format, args...))
}

func (st *modelState) fail(t *rapid.T, format string, args ...any) {
	t.Helper()
	start := max(0, len(st.log)-25)
	t.Fatalf("%s\nlast steps:\n  %s", fmt.Sprintf(format, args...), joinLines(st.log[start:]))
}

func joinLines(l []string) string {
	out := ""
	for i, s := range l {
		if i > 0 {
			out += "\n  "
		}
		out += s
	}
	return out
}

// switchTo loads address space s (PCID s+1) with MOV to CR3.
func (st *modelState) switchTo(s int, noflush bool) {
	v := st.as[s].CR3(uint16(s + 1))
	if noflush {
		v |= CR3NoFlush
	}
	st.m.WriteCR3(v)
	st.logf("MOV CR3 space %d noflush %v", s, noflush)
	st.cur = s
	if !noflush {
		st.dropSpace(s)
		st.pdeMay[s] = false
	}
	st.speculate()
}

// access checks one Translate against the model and returns its #PF code.
func (st *modelState) access(t *rapid.T, i int, acc Access) uint32 {
	p := &mProbes[i]
	s := st.cur
	alts, mayFault := st.current(s, p)
	cached := slices.Concat(st.allowed[s][i], st.global[i])
	// Translate and TranslatePFN must behave alike; use either.
	var fr *phys.Frame
	var pfn phys.PFN
	var code uint32
	usePFN := rapid.Bool().Draw(t, "TranslatePFN")
	if usePFN {
		pfn, _, code = st.m.TranslatePFN(p.va, acc)
	} else {
		fr, _, code = st.m.Translate(p.va, acc)
	}
	is := func(tr mTrans) bool {
		if usePFN {
			return pfn == tr.pa.PFN()
		}
		return fr == st.mem.Frame(tr.pa.PFN())
	}
	st.logf("access %#x acc=%d in space %d → code %#x", p.va, acc, s, code)
	if code == 0 {
		ok := false
		for _, tr := range alts { // a walk now
			if is(tr) && (acc != Write || tr.w) {
				ok = true
			}
		}
		for _, tr := range cached { // a cached entry, no walk
			if is(tr) && (acc != Write || tr.w && tr.d) {
				ok = true
				st.seen["hit on a stale-or-current cached entry"]++
			}
		}
		if !ok {
			st.fail(t, "access %#x acc %d in space %d succeeded with a frame the architecture does not allow (current %v, cached %v)",
				p.va, acc, s, alts, cached)
		}
		st.seen["success"]++
	} else {
		var codes []uint32
		base := accErr[acc&3]
		if mayFault {
			codes = append(codes, base)
		}
		for _, tr := range alts {
			if acc == Write && !tr.w {
				codes = append(codes, base|PFErrPresent)
			}
		}
		for _, tr := range cached {
			if acc == Write && !tr.w {
				codes = append(codes, base|PFErrPresent) // fault from the TLB
			}
		}
		if !slices.Contains(codes, code) {
			st.fail(t, "access %#x acc %d in space %d: #PF %#x not allowed (allowed codes %#x; current %v, cached %v)",
				p.va, acc, s, code, codes, alts, cached)
		}
		st.seen["fault"]++
		// The fault invalidated the page under this PCID and global entries.
		st.dropPage(s, p.va, true)
	}
	st.speculate()
	return code
}

// TestModel is the property test of the MMU against the reference model.
func TestModel(t *testing.T) {
	configs := []func() Config{DefaultConfig, Zen4Config, tinyConfig}
	total := map[string]int{}
	rapid.Check(t, func(t *rapid.T) {
		cfg := rapid.SampledFrom(configs).Draw(t, "config")()
		st := newModelState(t, cfg)
		probe := rapid.IntRange(0, len(mProbes)-1)
		space := rapid.IntRange(0, 1)
		for range modelRounds() {
			st.round(t, probe, space)
		}
		for k, v := range st.seen {
			total[k] += v
		}
	})
	// The property is only meaningful if all outcomes happened.
	for _, k := range []string{"success", "fault", "hit on a stale-or-current cached entry"} {
		if total[k] == 0 {
			t.Errorf("no %q outcome in the whole run", k)
		}
	}
}

// modelRounds is the number of action sequences (of rapid.steps actions
// on average, 30 by default) each TestModel case runs; -short trims it.
func modelRounds() int {
	if testing.Short() {
		return 4
	}
	return 40
}

// round runs one random sequence of actions.
func (st *modelState) round(t *rapid.T, probe, space *rapid.Generator[int]) {
	t.Repeat(map[string]func(*rapid.T){
		"read": func(t *rapid.T) { st.access(t, probe.Draw(t, "probe"), Read) },
		// A faulting access is retried, as the CPU re-executes the
		// instruction after the kernel's handler returns.
		"write and retry": func(t *rapid.T) {
			i := probe.Draw(t, "probe")
			if st.access(t, i, Write) != 0 {
				st.access(t, i, Write)
			}
		},
		// A burst in the other address space, entered and left without
		// flushing, so that its entries meet this space's invalidations.
		"visit other space": func(t *rapid.T) {
			s := st.cur
			st.switchTo(1-s, true)
			for range rapid.IntRange(1, 3).Draw(t, "accesses") {
				st.access(t, probe.Draw(t, "probe"), Access(rapid.IntRange(0, 2).Draw(t, "acc")))
			}
			st.switchTo(s, true)
		},
		"write": func(t *rapid.T) { st.access(t, probe.Draw(t, "probe"), Write) },
		"fetch": func(t *rapid.T) { st.access(t, probe.Draw(t, "probe"), Exec) },
		"edit leaf": func(t *rapid.T) {
			i := probe.Draw(t, "probe")
			s := space.Draw(t, "space")
			p := &mProbes[i]
			level := leafLevel(p.size)
			e := st.as[s].Entry(p.va, level)
			switch op := rapid.IntRange(0, 4).Draw(t, "op"); op {
			case 0:
				e ^= PteP
			case 1:
				e ^= PteRW
			case 2:
				frames := m4KFrames
				if p.size == Size2M {
					frames = m2MFrames
				}
				e = e&^PteAddrMask | uint64(rapid.SampledFrom(frames).Draw(t, "frame"))
			case 3:
				e &^= PteD
			case 4:
				e &^= PteA | PteD
			}
			st.as[s].Set(p.va, level, e)
			st.logf("kernel: space %d %#x level %d := %#x", s, p.va, level, e)
			st.speculate()
		},
		"toggle PDE": func(t *rapid.T) {
			s := space.Draw(t, "space")
			e := st.as[s].Entry(mLocal4K, 2) ^ PteP
			st.as[s].Set(mLocal4K, 2, e)
			st.logf("kernel: space %d PDE of %#x := %#x", s, mLocal4K, e)
			st.speculate()
		},
		"invlpg": func(t *rapid.T) {
			p := &mProbes[probe.Draw(t, "probe")]
			va := p.va + VirtAddr(rapid.IntRange(0, 1).Draw(t, "other page"))*0x1000
			st.m.Invlpg(va)
			st.logf("INVLPG %#x in space %d", va, st.cur)
			st.dropPage(st.cur, va, true)
			st.pdeMay[st.cur] = false
			st.speculate()
		},
		"invpcid": func(t *rapid.T) {
			typ := rapid.IntRange(0, 3).Draw(t, "type")
			s := space.Draw(t, "space")
			va := mProbes[probe.Draw(t, "probe")].va
			st.m.Invpcid(typ, uint16(s+1), va)
			st.logf("INVPCID %d pcid %d %#x", typ, s+1, va)
			switch typ {
			case InvpcidAddr:
				st.dropPage(s, va, false)
				st.pdeMay[s] = false
			case InvpcidSingle:
				st.dropSpace(s)
				st.pdeMay[s] = false
			case InvpcidAll, InvpcidAllNonGlob:
				st.dropSpace(0)
				st.dropSpace(1)
				if typ == InvpcidAll {
					st.dropGlobal()
				}
				st.pdeMay = [2]bool{}
			}
			st.speculate()
		},
		"mov cr3": func(t *rapid.T) { st.switchTo(space.Draw(t, "space"), rapid.Bool().Draw(t, "noflush")) },
		"toggle pge": func(t *rapid.T) {
			st.m.SetCR4(false, true)
			st.m.SetCR4(true, true)
			st.logf("CR4.PGE 1→0→1")
			st.dropSpace(0)
			st.dropSpace(1)
			st.dropGlobal()
			st.pdeMay = [2]bool{}
			st.speculate()
		},
	})
}

// tinyConfig is a geometry small enough that the property test also
// exercises evictions.
func tinyConfig() Config {
	c := DefaultConfig()
	c.Name = "tiny"
	c.L1D4K, c.L1D4KWays = 2, 2
	c.L1D2M, c.L1D2MWays = 1, 1
	c.L1D1G, c.L1D1GWays = 1, 1
	c.L1I4K, c.L1I4KWays = 2, 1
	c.L1I2M, c.L1I2MWays = 0, 0
	c.STLB, c.STLBWays = 4, 2
	c.STLB1G = 0
	c.PML4ECache, c.PML4ECacheWays = 1, 1
	c.PDPTECache, c.PDPTECacheWays = 2, 1
	c.PDECache, c.PDECacheWays = 2, 2
	return c
}
