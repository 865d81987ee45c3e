package tlb

import (
	"errors"
	"reflect"
	"regexp"
	"testing"

	"github.com/tlbemu/emu/internal/phys"
)

// Cycle costs of the default configuration, for expectations.
const (
	cWalk  = 9  // WalkBase
	cRef   = 11 // WalkRef
	cAD    = 18 // SetDirty
	cSTLB  = 12 // STLBHit
	faultW = PFErrPresent | PFErrWrite | PFErrUser
)

type staleCall struct {
	va  VirtAddr
	pfn phys.PFN
	cur uint64
}

// TestDirtyBit checks SDM 4.8 (and commit 0b02a82082c5 on writes through
// Write=0 PTEs): a cached W=1,D=1
// entry lets writes through with no PTE access even after the PTE changed
// (until invalidated; OnStaleWrite reports each such store), while a write
// through a cached W=1,D=0 entry re-walks: it sets D if the PTE still allows
// the write and otherwise drops the entry and raises #PF.
func TestDirtyBit(t *testing.T) {
	other := dataBase + 0x9000
	cases := []struct {
		name      string
		first     Access                // access that caches the entry
		edit      func(e uint64) uint64 // the kernel's PTE change, no invalidation
		code      uint32                // result of the write after the edit
		pa        phys.Addr             // frame written (success only)
		cycles    uint32                // cost of that write
		stale     int                   // OnStaleWrite calls
		assists   uint64                // dirty assists
		cachedAft bool                  // an entry is cached after the write
		wantD     bool                  // D in the in-memory PTE after the write
	}{
		{"W=1,D=1, PTE made read-only: silent write", Write,
			func(e uint64) uint64 { return e &^ PteRW }, 0, pa4K, 0, 1, 0, true, true},
		{"W=1,D=1, PTE made not present: silent write", Write,
			func(e uint64) uint64 { return e &^ PteP }, 0, pa4K, 0, 1, 0, true, true},
		{"W=1,D=1, PTE remapped: write to the old frame", Write,
			func(e uint64) uint64 { return e&^PteAddrMask | uint64(other) }, 0, pa4K, 0, 1, 0, true, true},
		{"W=1,D=1, D cleared in memory (clear_refs): silent write, D stays clear", Write,
			func(e uint64) uint64 { return e &^ PteD }, 0, pa4K, 0, 0, 0, true, false},
		{"W=1,D=0, PTE made read-only: #PF P|W|U", Read,
			func(e uint64) uint64 { return e &^ PteRW }, faultW, 0, cWalk + cRef, 0, 1, false, false},
		{"W=1,D=0, PTE made not present: #PF W|U", Read,
			func(e uint64) uint64 { return e &^ PteP }, PFErrWrite | PFErrUser, 0, cWalk + cRef, 0, 1, false, false},
		{"W=1,D=0, PTE unchanged: re-walk sets D", Read,
			func(e uint64) uint64 { return e }, 0, pa4K, cWalk + cRef + cAD, 0, 1, true, true},
		{"W=1,D=0, PTE remapped: re-walk writes the new frame", Read,
			func(e uint64) uint64 { return e&^(PteAddrMask|PteA) | uint64(other) }, 0, other, cWalk + cRef + cAD, 0, 1, true, true},
		{"W=1,D=0, D set by another CPU: re-walk, no locked update", Read,
			func(e uint64) uint64 { return e | PteD }, 0, pa4K, cWalk + cRef, 0, 1, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := phys.New(testMem)
			p := newPageTables(t, mem)
			p.Map(va4K, pa4K, Size4K, rwUser)
			m := newMMU(t, mem, DefaultConfig(), p, true, 1)
			var calls []staleCall
			m.OnStaleWrite = func(va VirtAddr, pfn phys.PFN, cur uint64, _ bool) { calls = append(calls, staleCall{va, pfn, cur}) }
			if _, _, code := m.Translate(va4K, c.first); code != 0 {
				t.Fatalf("first access: #PF %#x", code)
			}
			p.Set(va4K, 1, c.edit(p.Entry(va4K, 1)))
			edited := p.Entry(va4K, 1)
			m.Stats = Stats{}
			fr, cycles, code := m.Translate(va4K, Write)
			if code != c.code {
				t.Fatalf("write: code %#x, want %#x", code, c.code)
			}
			if code == 0 && !isFrame(mem, fr, c.pa) {
				t.Errorf("write went to the wrong frame, want %#x", c.pa)
			}
			if cycles != c.cycles {
				t.Errorf("cycles = %d, want %d", cycles, c.cycles)
			}
			if len(calls) != c.stale {
				t.Errorf("OnStaleWrite calls = %v, want %d", calls, c.stale)
			} else if c.stale > 0 && (calls[0].va != va4K || calls[0].pfn != pa4K.PFN() || calls[0].cur != edited) {
				t.Errorf("OnStaleWrite(%#x, %#x, %#x), want (%#x, %#x, %#x)", calls[0].va, calls[0].pfn, calls[0].cur, va4K, pa4K.PFN(), edited)
			}
			if m.Stats.DirtyAssists != c.assists {
				t.Errorf("DirtyAssists = %d, want %d", m.Stats.DirtyAssists, c.assists)
			}
			if m.Cached(va4K) != c.cachedAft {
				t.Errorf("Cached = %v, want %v", m.Cached(va4K), c.cachedAft)
			}
			if got := p.Entry(va4K, 1); got&PteD != 0 != c.wantD {
				t.Errorf("PTE %#x: D = %v, want %v", got, got&PteD != 0, c.wantD)
			}
			if c.code == 0 {
				// The next write is an L1 hit.
				if _, cycles, code := m.Translate(va4K, Write); code != 0 || cycles != 0 {
					t.Errorf("second write: code %#x cycles %d, want an L1 hit", code, cycles)
				}
			}
			// After INVLPG the current PTE decides.
			m.Invlpg(va4K)
			_, _, code = m.Translate(va4K, Write)
			cur := p.Entry(va4K, 1)
			want := uint32(0)
			switch {
			case cur&PteP == 0:
				want = PFErrWrite | PFErrUser
			case cur&PteRW == 0:
				want = faultW
			}
			if code != want {
				t.Errorf("write after INVLPG: code %#x, want %#x", code, want)
			}
		})
	}
}

// TestCachedRightsFault checks SDM 4.10.4.3 with 4.10.4.1: after R/W 0→1
// without invalidation, a write may fault once from the cached read-only
// entry (no walk); the fault drops the entry, so the retry succeeds.
func TestCachedRightsFault(t *testing.T) {
	mem := phys.New(testMem)
	p := newPageTables(t, mem)
	p.Map(va4K, pa4K, Size4K, roUser)
	m := newMMU(t, mem, DefaultConfig(), p, true, 1)
	m.Translate(va4K, Read)
	p.Edit(va4K, 1, PteRW, 0)
	m.Stats = Stats{}
	if _, cycles, code := m.Translate(va4K, Write); code != faultW || cycles != 0 || m.Stats.CachedFaults != 1 || m.Stats.WalkRefs != 0 {
		t.Fatalf("write: code %#x cycles %d CachedFaults %d WalkRefs %d, want %#x 0 1 0", code, cycles, m.Stats.CachedFaults, m.Stats.WalkRefs, faultW)
	}
	if m.Cached(va4K) || m.pscCached(pscPDE, va4K) {
		t.Fatalf("the #PF left the entry or its PDE-cache entry cached")
	}
	if fr, _, code := m.Translate(va4K, Write); code != 0 || !isFrame(mem, fr, pa4K) {
		t.Fatalf("retry: code %#x", code)
	}
}

// TestTranslateFaults checks the #PF error code through the MMU and that a
// fault leaves nothing cached for the page.
func TestTranslateFaults(t *testing.T) {
	cases := []struct {
		name  string
		setup func(p *pageTables)
		acc   Access
		code  uint32
	}{
		{"reserved bit in PTE sets RSVD", func(p *pageTables) { p.Map(va4K, pa4K, Size4K, rwUser|1<<48) }, Read,
			PFErrPresent | PFErrRsvd | PFErrUser},
		{"reserved bit in PDPTE sets RSVD", func(p *pageTables) { p.Map(va4K, pa4K, Size4K, rwUser); p.Edit(va4K, 3, 1<<47, 0) }, Write,
			PFErrPresent | PFErrRsvd | PFErrWrite | PFErrUser},
		{"NX fetch sets I/D", func(p *pageTables) { p.Map(va4K, pa4K, Size4K, rwUser|PteNX) }, Exec,
			PFErrPresent | PFErrInstr | PFErrUser},
		{"not-present fetch sets I/D", func(p *pageTables) { p.Map(va4K, pa4K, Size4K, PteUS) }, Exec,
			PFErrInstr | PFErrUser},
		{"U/S=0 in PML4E denies user read", func(p *pageTables) { p.Map(va4K, pa4K, Size4K, rwUser); p.Edit(va4K, 4, 0, PteUS) }, Read,
			PFErrPresent | PFErrUser},
		{"U/S=0 in PDE denies user write", func(p *pageTables) { p.Map(va4K, pa4K, Size4K, rwUser); p.Edit(va4K, 2, 0, PteUS) }, Write,
			PFErrPresent | PFErrWrite | PFErrUser},
		{"page beyond guest memory", func(p *pageTables) { p.Map(va4K, beyond, Size4K, rwUser) }, Read,
			PFErrPresent | PFErrRsvd | PFErrUser},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := phys.New(testMem)
			p := newPageTables(t, mem)
			c.setup(p)
			m := newMMU(t, mem, DefaultConfig(), p, true, 1)
			fr, _, code := m.Translate(va4K, c.acc)
			if code != c.code || fr != nil {
				t.Fatalf("code %#x frame %p, want %#x nil", code, fr, c.code)
			}
			if m.Occupancy() != 0 || m.PSCOccupancy() != 0 || m.Stats.PageFaults != 1 {
				t.Errorf("after #PF: %d TLB, %d PSC entries, %d faults; want 0 0 1", m.Occupancy(), m.PSCOccupancy(), m.Stats.PageFaults)
			}
		})
	}
}

// TestNonCanonicalTranslate checks that a non-canonical access is #GP, not a
// #PF, and counts nothing.
func TestNonCanonicalTranslate(t *testing.T) {
	mem := phys.New(testMem)
	p := newPageTables(t, mem)
	m := newMMU(t, mem, DefaultConfig(), p, true, 1)
	for _, va := range []VirtAddr{1 << 47, 0xffff_7fff_ffff_f000, 0x8000_0000_0000_0000} {
		if _, _, code := m.Translate(va, Read); code != FaultGP {
			t.Errorf("Translate(%#x) = %#x, want FaultGP", va, code)
		}
	}
	if m.Stats.PageFaults != 0 {
		t.Errorf("PageFaults = %d, want 0", m.Stats.PageFaults)
	}
}

// TestPagingStructureCaches checks SDM 4.10.3: a walk starts below the
// longest-matching PSC entry and reads only the levels below it; PSC entries
// are per PCID; a stale PDE-cache entry keeps being used after the PDE
// changes until INVLPG or a flushing CR3 write drops it; MOV CR3 with bit 63
// keeps it.
func TestPagingStructureCaches(t *testing.T) {
	base := VirtAddr(0x0000_1000_0000_0000)
	sameTable := base + 0x1000      // same page table
	samePD := base + mib2           // same page directory
	samePDPT := base + gib          // same PDPT
	otherPML4 := base + (512 * gib) // another PML4 entry
	mem := phys.New(testMem)
	p := newPageTables(t, mem)
	for i, va := range []VirtAddr{base, sameTable, samePD, samePDPT, otherPML4} {
		p.Map(va, dataBase+phys.Addr(i)*0x1000, Size4K, rwUser)
	}
	m := newMMU(t, mem, DefaultConfig(), p, true, 1)
	steps := []struct {
		name string
		va   VirtAddr
		refs uint64
		hit  *uint64 // PSC hit counter expected to move
	}{
		{"cold walk reads 4 levels", base, 4, nil},
		{"PDE-cache hit reads the PTE only", sameTable, 1, &m.Stats.PSCPDEHits},
		{"PDPTE-cache hit reads PDE and PTE", samePD, 2, &m.Stats.PSCPDPTEHits},
		{"PML4E-cache hit reads 3 levels", samePDPT, 3, &m.Stats.PSCPML4EHits},
		{"another PML4 entry misses", otherPML4, 4, nil},
	}
	for _, s := range steps {
		before := m.Stats
		_, cycles, code := m.Translate(s.va, Read)
		refs := m.Stats.WalkRefs - before.WalkRefs
		if code != 0 || refs != s.refs {
			t.Errorf("%s: code %#x refs %d, want 0 %d", s.name, code, refs, s.refs)
		}
		if want := uint32(cWalk + cRef*s.refs + cAD); cycles != want {
			t.Errorf("%s: cycles %d, want %d", s.name, cycles, want)
		}
		if s.hit != nil {
			if *s.hit != 1 {
				t.Errorf("%s: PSC hit counter %d, want 1", s.name, *s.hit)
			}
			*s.hit = 0
		}
	}

	// Stale PDE-cache entry: point the PDE at a new page table that maps
	// fresh to another frame; the walk keeps using the old table.
	fresh := base + 0x5000
	p.Map(fresh, dataBase+0x10000, Size4K, rwUser) // old table
	oldPDE := p.Entry(base, 2)
	newPT := p.alloc()
	p.store(newPT+phys.Addr(fresh.Index(1)*8), uint64(dataBase+0x20000)|rwUser)
	p.Set(base, 2, uint64(newPT)|upperFlags)
	if fr, _, code := m.Translate(fresh, Read); code != 0 || !isFrame(mem, fr, dataBase+0x10000) {
		t.Errorf("stale PDE-cache entry: code %#x, want the old table's frame", code)
	}
	// A CR3 write with bit 63 keeps PSC entries; another PCID does not see them.
	m.WriteCR3(p.CR3(2) | CR3NoFlush)
	before := m.Stats.WalkRefs
	m.Translate(base+0x6000, Read) // not present in either table: faults after 4 refs
	if got := m.Stats.WalkRefs - before; got != 4 {
		t.Errorf("walk under PCID 2 read %d levels, want 4 (PSC entries are per PCID)", got)
	}
	m.WriteCR3(p.CR3(1) | CR3NoFlush)
	if !m.pscCached(pscPDE, base) {
		t.Fatalf("MOV CR3 with bit 63 dropped PCID 1's PDE-cache entry")
	}
	// INVLPG of an unrelated address drops every PSC entry of the PCID.
	p.Set(base, 2, oldPDE)
	m.Translate(fresh, Read)
	p.Set(base, 2, uint64(newPT)|upperFlags)
	m.Invlpg(otherPML4)
	if m.PSCOccupancy() != 0 {
		t.Errorf("INVLPG left %d PSC entries of the current PCID", m.PSCOccupancy())
	}
	m.Invlpg(fresh)
	if fr, _, code := m.Translate(fresh, Read); code != 0 || !isFrame(mem, fr, dataBase+0x20000) {
		t.Errorf("after INVLPG: code %#x, want the new table's frame", code)
	}
	// A flushing CR3 write drops them too.
	if m.PSCOccupancy() == 0 {
		t.Fatalf("walk did not refill the PSC")
	}
	m.WriteCR3(p.CR3(1))
	if m.PSCOccupancy() != 0 {
		t.Errorf("MOV CR3 without bit 63 left %d PSC entries", m.PSCOccupancy())
	}
}

// TestPCIDTags checks that entries are tagged with the 12-bit PCID: the same
// address in two address spaces translates to each one's frame, from the
// TLB, across no-flush CR3 switches, and PCIDs differing only above bit 11
// do not exist.
func TestPCIDTags(t *testing.T) {
	mem := phys.New(testMem)
	a, b := newPageTables(t, mem), newPageTables(t, mem)
	a.Map(va4K, dataBase, Size4K, rwUser)
	b.Map(va4K, dataBase+0x1000, Size4K, rwUser)
	m := newMMU(t, mem, DefaultConfig(), a, true, 0x001)
	m.Translate(va4K, Read)
	m.WriteCR3(b.CR3(0xfff) | CR3NoFlush)
	m.Translate(va4K, Read)
	for i := 0; i < 3; i++ {
		for _, s := range []struct {
			cr3 uint64
			pa  phys.Addr
		}{{a.CR3(0x001), dataBase}, {b.CR3(0xfff), dataBase + 0x1000}} {
			m.WriteCR3(s.cr3 | CR3NoFlush)
			if fr, cycles, code := m.Translate(va4K, Read); code != 0 || cycles != 0 || !isFrame(mem, fr, s.pa) {
				t.Fatalf("PCID %#x: code %#x cycles %d, want an L1 hit on %#x", m.PCID(), code, cycles, s.pa)
			}
		}
	}
}

// TestLRU checks least-recently-used replacement within a set.
func TestLRU(t *testing.T) {
	a := newArray(2, 2, Size4K)
	ins := func(va VirtAddr) { a.insert(pageKey(va, Size4K)|1, newEntry(Size4K, 1, 0, permAll), 1) }
	ins(0x1000)
	ins(0x2000)
	if a.lookup(0x1000, 1) < 0 {
		t.Fatal("0x1000 missing")
	}
	ins(0x3000) // evicts 0x2000, the least recently used
	for va, want := range map[VirtAddr]bool{0x1000: true, 0x2000: false, 0x3000: true} {
		if got := a.find(va, 1) >= 0; got != want {
			t.Errorf("cached(%#x) = %v, want %v", va, got, want)
		}
	}
	ins(0x3000) // refill replaces in place
	if a.occupancy() != 2 {
		t.Errorf("occupancy %d, want 2", a.occupancy())
	}
}

// TestConfigs checks the presets and ConfigByName, and runs every page size
// through the Zen 4 geometry (one L1 array for all sizes, separate second-
// level arrays).
func TestConfigs(t *testing.T) {
	for _, n := range ConfigNames() {
		if c, err := ConfigByName(n); err != nil || c.STLB == 0 {
			t.Errorf("ConfigByName(%q) = %+v, %v", n, c, err)
		}
	}
	if c, err := ConfigByName("ZEN4"); err != nil || c.Name != "zen4" || c.L1D4K != 72 || c.STLB != 3072 || c.STLBWays != 8 {
		t.Errorf("ConfigByName(ZEN4) = %+v, %v", c, err)
	}
	if _, err := ConfigByName("pentium"); !errors.Is(err, ErrUnknownConfig) {
		t.Errorf("ConfigByName(pentium) error = %v, want ErrUnknownConfig", err)
	}

	mem := phys.New(bigMem)
	p := newPageTables(t, mem)
	p.Map(va4K, pa4K, Size4K, rwUser)
	p.Map(va2M, pa2M, Size2M, rwUser)
	p.Map(va1G, pa1G, Size1G, rwUser)
	for _, cfg := range []Config{DefaultConfig(), Zen4Config()} {
		m := newMMU(t, mem, cfg, p, true, 1)
		for _, va := range []VirtAddr{va4K, va2M, va1G} {
			for _, acc := range []Access{Read, Write, Exec} {
				r, code := Walk(mem, p.CR3(0), va, acc)
				if code != 0 {
					t.Fatalf("Walk: %#x", code)
				}
				m.Translate(va, acc)
				fr, cycles, code := m.Translate(va, acc)
				if code != 0 || fr != mem.Frame(r.PFN) {
					t.Errorf("%s: %#x acc %d: code %#x", cfg.Name, va, acc, code)
				}
				// Zen 4's L1 arrays hold every size; Skylake's ITLB holds no 1G page.
				wantHit := !(cfg.Name == "skylake-sp" && acc == Exec && r.Size == Size1G)
				if (cycles == 0) != wantHit {
					t.Errorf("%s: %#x acc %d: second access cost %d, want L1 hit %v", cfg.Name, va, acc, cycles, wantHit)
				}
			}
		}
	}
}

// TestStatsEach checks that Each reports every counter once, in a fixed
// order, under a perf-style name.
func TestStatsEach(t *testing.T) {
	var s Stats
	v := reflect.ValueOf(&s).Elem()
	n := uint64(0)
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Uint64:
			n++
			f.SetUint(n)
		case reflect.Array:
			for j := 0; j < f.Len(); j++ {
				n++
				f.Index(j).SetUint(n)
			}
		default:
			t.Fatalf("Stats field %s has kind %s", v.Type().Field(i).Name, f.Kind())
		}
	}
	name := regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)+$`)
	seen := map[uint64]bool{}
	names := map[string]bool{}
	var order []string
	s.Each(func(k string, val uint64) {
		if !name.MatchString(k) || names[k] || seen[val] {
			t.Errorf("Each: %q = %d (bad name, duplicate name or duplicate counter)", k, val)
		}
		names[k], seen[val] = true, true
		order = append(order, k)
	})
	if uint64(len(seen)) != n {
		t.Errorf("Each reported %d counters, Stats has %d", len(seen), n)
	}
	for _, k := range []string{"dtlb_load_misses.walk_completed", "dtlb_load_misses.stlb_hit", "dtlb_store_misses.walk_completed",
		"dtlb_store_misses.stlb_hit", "itlb_misses.walk_completed", "itlb_misses.stlb_hit", "dtlb_load_misses.walk_active"} {
		if !names[k] {
			t.Errorf("Each does not report %s", k)
		}
	}
	i := 0
	s.Each(func(k string, _ uint64) {
		if order[i] != k {
			t.Errorf("order changed at %d: %s vs %s", i, k, order[i])
		}
		i++
	})
}

// TestStatsCount checks the perf-style counters on a small scenario.
func TestStatsCount(t *testing.T) {
	mem := phys.New(testMem)
	p := newPageTables(t, mem)
	p.Map(va4K, pa4K, Size4K, rwUser)
	p.Map(va2M, pa2M, Size2M, rwUser)
	m := newMMU(t, mem, DefaultConfig(), p, true, 1)
	m.Translate(va4K, Read)  // walk 4K
	m.Translate(va4K, Read)  // L1 hit
	m.Translate(va4K, Write) // dirty assist
	m.Translate(va4K, Write) // L1 hit
	m.Translate(va2M, Write) // walk 2M
	m.Translate(va4K, Exec)  // STLB hit
	m.Translate(va2M, Exec)  // STLB hit (L1 ITLB 2M is empty)
	m.Translate(va4K+0x10_0000, Read)
	s := m.Stats
	got := []uint64{s.DTLBLoadMissesWalk, s.DTLBLoadMissesWalkDone, s.DTLBLoadMissesWalkDone4K, s.DTLBLoadHits,
		s.DirtyAssists, s.DTLBStoreHits, s.DTLBStoreMissesWalkDone2M, s.ITLBMissesSTLBHit, s.PageFaults}
	want := []uint64{2, 1, 1, 1, 1, 1, 1, 2, 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("counters %v, want %v", got, want)
	}
	if s.WalkActiveCycles != s.DTLBLoadMissesWalkActive+s.DTLBStoreMissesWalkActive+s.ITLBMissesWalkActive {
		t.Errorf("WalkActiveCycles %d is not the sum of the per-kind counters", s.WalkActiveCycles)
	}
}

// TestTranslateDoesNotAllocate enforces "the hot path allocates nothing" on the translation path
// and the invalidation helpers.
func TestTranslateDoesNotAllocate(t *testing.T) {
	mem := phys.New(testMem)
	p := newPageTables(t, mem)
	var vas []VirtAddr
	for i := 0; i < 8; i++ { // same L1 set (VPN multiple of 16), different STLB sets
		va := VirtAddr(0x4000_0000) + VirtAddr(i)*16*0x1000
		p.Map(va, dataBase+phys.Addr(i)*0x1000, Size4K, rwUser)
		vas = append(vas, va)
	}
	m := newMMU(t, mem, DefaultConfig(), p, true, 1)
	m.OnStaleWrite = func(VirtAddr, phys.PFN, uint64, bool) {}
	for _, va := range vas {
		m.Translate(va, Write)
		m.Translate(va, Exec)
	}
	i := 0
	cases := []struct {
		name string
		f    func()
	}{
		{"L1 read hit", func() { m.Translate(vas[0], Read) }},
		{"L1 write hit with OnStaleWrite", func() { m.Translate(vas[0], Write) }},
		{"L1 fetch hit", func() { m.Translate(vas[0], Exec) }},
		{"TranslatePFN L1 hit", func() { m.TranslatePFN(vas[0], Read) }},
		{"STLB hits", func() { i++; m.Translate(vas[i%len(vas)], Read) }},
		{"walk", func() { m.Invlpg(vas[1]); m.Translate(vas[1], Read) }},
		{"fault", func() { m.Translate(0x7000_0000, Write) }},
		{"INVPCID", func() { m.Invpcid(i&3, 1, vas[2]); i++ }},
		{"CR3", func() { m.WriteCR3(p.CR3(uint16(i & 7))); i++ }},
		{"CR4", func() { m.SetCR4(i&1 == 0, true); i++ }},
		{"Stats.Each", func() { m.Stats.Each(func(string, uint64) {}) }},
	}
	for _, c := range cases {
		if n := testing.AllocsPerRun(100, c.f); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", c.name, n)
		}
	}
}
