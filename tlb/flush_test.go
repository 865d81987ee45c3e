package tlb

import (
	"slices"
	"strings"
	"testing"

	"github.com/tlbemu/emu/internal/phys"
)

// Addresses of the invalidation fixture, each in its own PML4 region so that
// their paging-structure-cache entries are distinct.
var (
	fxL  = VirtAddr(0x0000_0080_0000_0000) + 0x1000 // local 4K page, read-only in space 1
	fxO  = VirtAddr(0x0000_0100_0000_0000) + 0x2000 // other local 4K page
	fxG  = VirtAddr(0x0000_0180_0000_0000) + 0x3000 // global 4K page, shared
	fx2M = VirtAddr(0x0000_0200_0000_0000) + 4*mib2 // local 2 MiB page
)

// invFixture is two address spaces (tables a for PCID 1, b for PCID 2)
// mapping the fixture addresses to different frames, except fxG which both
// map to the same global page.
type invFixture struct {
	mem  *phys.Memory
	a, b *pageTables
	m    *MMU
}

func newInvFixture(t *testing.T) *invFixture {
	t.Helper()
	mem := phys.New(testMem)
	f := &invFixture{mem: mem, a: newPageTables(t, mem), b: newPageTables(t, mem)}
	for i, p := range []*pageTables{f.a, f.b} {
		base := dataBase + phys.Addr(i)*(8<<20)
		flagsL := uint64(rwUser)
		if i == 0 {
			flagsL = roUser // so that a write to fxL faults from the TLB in space 1
		}
		p.Map(fxL, base, Size4K, flagsL)
		p.Map(fxO, base+0x1000, Size4K, rwUser)
		p.Map(fxG, dataBase+(20<<20), Size4K, rwUser|PteG)
		p.Map(fx2M, base+phys.Addr(2*mib2), Size2M, rwUser)
	}
	// Paging-structure caches large enough that the fixture's 8 paths do
	// not evict each other (the default geometry is an assumption anyway).
	cfg := DefaultConfig()
	cfg.PML4ECache, cfg.PML4ECacheWays = 16, 16
	cfg.PDPTECache, cfg.PDPTECacheWays = 32, 32
	cfg.PDECache, cfg.PDECacheWays = 32, 32
	f.m = newMMU(t, mem, cfg, f.a, true, 1)
	// Fill both PCIDs, ending in PCID 1.
	for _, cr3 := range []uint64{f.a.CR3(1), f.b.CR3(2) | CR3NoFlush, f.a.CR3(1) | CR3NoFlush} {
		f.m.WriteCR3(cr3)
		for _, va := range []VirtAddr{fxL, fxO, fxG, fx2M + 0x1234} {
			if _, _, code := f.m.Translate(va, Read); code != 0 {
				t.Fatalf("fill %#x under CR3 %#x: #PF %#x", va, cr3, code)
			}
		}
	}
	f.m.Stats = Stats{}
	return f
}

// state names what is cached: "1:L" = a TLB entry for fxL under PCID 1,
// "G" = the global entry for fxG, "psc1:L" = paging-structure-cache
// entries for fxL under PCID 1.
func (f *invFixture) state() []string {
	var out []string
	names := []struct {
		n  string
		va VirtAddr
	}{{"L", fxL}, {"O", fxO}, {"2M", fx2M}}
	for _, pcid := range []uint16{1, 2} {
		p := string(rune('0' + pcid))
		for _, x := range names {
			for _, a := range f.m.tlbs {
				if i := a.find(x.va, pcid); i >= 0 && a.tags[i]&tagGlobal == 0 {
					out = append(out, p+":"+x.n)
					break
				}
			}
		}
	}
	for _, a := range f.m.tlbs {
		if i := a.find(fxG, 0xfff); i >= 0 && a.tags[i]&tagGlobal != 0 {
			out = append(out, "G")
			break
		}
	}
	for _, pcid := range []uint16{1, 2} {
		p := string(rune('0' + pcid))
		for _, x := range append(names, struct {
			n  string
			va VirtAddr
		}{"G", fxG}) {
			for i := range f.m.psc {
				if f.m.pscCachedUnder(i, x.va, pcid) {
					out = append(out, "psc"+p+":"+x.n)
					break
				}
			}
		}
	}
	return out
}

var fxAll = []string{"1:L", "1:O", "1:2M", "2:L", "2:O", "2:2M", "G",
	"psc1:L", "psc1:O", "psc1:2M", "psc1:G", "psc2:L", "psc2:O", "psc2:2M"}

// without returns fxAll minus the named entries.
func without(drop ...string) []string {
	var out []string
	for _, s := range fxAll {
		if !slices.Contains(drop, s) {
			out = append(out, s)
		}
	}
	return out
}

var (
	psc1 = []string{"psc1:L", "psc1:O", "psc1:2M", "psc1:G"}
	psc2 = []string{"psc2:L", "psc2:O", "psc2:2M"} // fxG hit the global entry under PCID 2: no walk, no PSC entry
)

// TestInvalidation checks each invalidating operation against SDM 4.10.4.1
// and the INVLPG/INVPCID reference pages: what it drops and, as importantly,
// what it must leave cached.
func TestInvalidation(t *testing.T) {
	cases := []struct {
		name   string
		op     func(f *invFixture) uint32
		want   []string
		cycles uint32 // expected cost (Costs field)
	}{
		{"fill keeps everything", func(f *invFixture) uint32 { return 0 }, fxAll, 0},
		{"INVLPG drops the current PCID's page and all its PSC entries, not another PCID's",
			func(f *invFixture) uint32 { return f.m.Invlpg(fxL) }, without(append([]string{"1:L"}, psc1...)...), 200},
		{"INVLPG in PCID 2 leaves PCID 1's entry for the same address",
			func(f *invFixture) uint32 { f.m.WriteCR3(f.b.CR3(2) | CR3NoFlush); return f.m.Invlpg(fxL) },
			without(append([]string{"2:L"}, psc2...)...), 200},
		{"INVLPG drops a global entry whatever the PCID",
			func(f *invFixture) uint32 { f.m.WriteCR3(f.b.CR3(2) | CR3NoFlush); return f.m.Invlpg(fxG) },
			without(append([]string{"G"}, psc2...)...), 200},
		{"INVLPG of the first byte of a 2M page drops it and only it",
			func(f *invFixture) uint32 { return f.m.Invlpg(fx2M) }, without(append([]string{"1:2M"}, psc1...)...), 200},
		{"INVLPG inside a 2M page drops it and only it",
			func(f *invFixture) uint32 { return f.m.Invlpg(fx2M + 0x1f_f123) }, without(append([]string{"1:2M"}, psc1...)...), 200},
		{"INVLPG of the last byte of a 2M page drops it and only it",
			func(f *invFixture) uint32 { return f.m.Invlpg(fx2M + mib2 - 1) }, without(append([]string{"1:2M"}, psc1...)...), 200},
		{"INVLPG just past a 2M page drops only PSC entries",
			func(f *invFixture) uint32 { return f.m.Invlpg(fx2M + mib2) }, without(psc1...), 200},
		{"INVLPG of a non-canonical address is a no-op",
			func(f *invFixture) uint32 { return f.m.Invlpg(0x8000_0000_0000_0000 | fxL) }, fxAll, 200},
		{"INVPCID 0 drops (PCID, page) and that PCID's PSC entries",
			func(f *invFixture) uint32 { return f.m.Invpcid(InvpcidAddr, 2, fxL) }, without(append([]string{"2:L"}, psc2...)...), 350},
		{"INVPCID 0 keeps a global entry",
			func(f *invFixture) uint32 { return f.m.Invpcid(InvpcidAddr, 1, fxG) }, without(psc1...), 350},
		{"INVPCID 1 drops a PCID's non-global entries and PSC entries",
			func(f *invFixture) uint32 { return f.m.Invpcid(InvpcidSingle, 2, 0) },
			without(append([]string{"2:L", "2:O", "2:2M"}, psc2...)...), 1130},
		{"INVPCID 2 drops everything including globals",
			func(f *invFixture) uint32 { return f.m.Invpcid(InvpcidAll, 0, 0) }, nil, 1130},
		{"INVPCID 3 drops all non-global entries and keeps globals",
			func(f *invFixture) uint32 { return f.m.Invpcid(InvpcidAllNonGlob, 0, 0) }, []string{"G"}, 1130},
		{"MOV CR3 without bit 63 drops the new PCID's non-global and PSC entries, keeps globals",
			func(f *invFixture) uint32 { return f.m.WriteCR3(f.a.CR3(1)) },
			without(append([]string{"1:L", "1:O", "1:2M"}, psc1...)...), 96},
		{"MOV CR3 without bit 63 to another PCID flushes only that PCID",
			func(f *invFixture) uint32 { return f.m.WriteCR3(f.b.CR3(2)) },
			without(append([]string{"2:L", "2:O", "2:2M"}, psc2...)...), 96},
		{"MOV CR3 with bit 63 keeps everything",
			func(f *invFixture) uint32 { return f.m.WriteCR3(f.b.CR3(2) | CR3NoFlush) }, fxAll, 96},
		{"CR4.PGE toggle drops everything",
			func(f *invFixture) uint32 { return f.m.SetCR4(false, true) }, nil, 808},
		{"CR4.PCIDE 1→0 drops everything",
			func(f *invFixture) uint32 { return f.m.SetCR4(true, false) }, nil, 808},
		{"MOV CR4 changing neither PGE nor PCIDE keeps everything",
			func(f *invFixture) uint32 { return f.m.SetCR4(true, true) }, fxAll, 96},
		{"#PF drops the page's entries and its PSC entries in the current PCID only",
			func(f *invFixture) uint32 {
				if _, _, code := f.m.Translate(fxL, Write); code != PFErrPresent|PFErrWrite|PFErrUser {
					panic("write to the read-only page did not fault")
				}
				return 0
			}, without("1:L", "psc1:L"), 0},
		{"#GP (non-canonical access) invalidates nothing",
			func(f *invFixture) uint32 {
				if _, _, code := f.m.Translate(0x0000_9000_0000_0000, Read); code != FaultGP {
					panic("non-canonical access did not return FaultGP")
				}
				return 0
			}, fxAll, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newInvFixture(t)
			if got := f.state(); !slices.Equal(got, fxAll) {
				t.Fatalf("after fill: cached %v, want %v", got, fxAll)
			}
			cycles := c.op(f)
			if got := f.state(); !slices.Equal(got, c.want) {
				t.Errorf("cached %v\nwant   %v\nmissing %v, extra %v", got, c.want, diff(c.want, got), diff(got, c.want))
			}
			if cycles != c.cycles {
				t.Errorf("cycles = %d, want %d", cycles, c.cycles)
			}
		})
	}
}

func diff(a, b []string) string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

// TestInvalidationObservable checks the same rules through what Translate
// returns: after the kernel remaps a page without invalidating, the old
// frame stays in use until the right invalidation, and only then.
func TestInvalidationObservable(t *testing.T) {
	newFrame := dataBase + (30 << 20)
	cases := []struct {
		name   string
		va     VirtAddr
		remap  func(f *invFixture) // kernel edit, no invalidation
		op     func(f *invFixture)
		stale  bool // the old frame is still used after op
		oldPA  phys.Addr
		cycles uint32 // translation cost after op
	}{
		{"no invalidation: old frame", fxO, func(f *invFixture) { f.a.Map(fxO, newFrame, Size4K, rwUser) },
			func(f *invFixture) {}, true, dataBase + 0x1000, 0},
		{"INVLPG: new frame", fxO, func(f *invFixture) { f.a.Map(fxO, newFrame, Size4K, rwUser) },
			func(f *invFixture) { f.m.Invlpg(fxO) }, false, 0, 9 + 4*11 + 18},
		{"INVLPG of another page: old frame", fxO, func(f *invFixture) { f.a.Map(fxO, newFrame, Size4K, rwUser) },
			func(f *invFixture) { f.m.Invlpg(fxL) }, true, dataBase + 0x1000, 0},
		{"INVLPG in the other PCID: old frame", fxO, func(f *invFixture) { f.a.Map(fxO, newFrame, Size4K, rwUser) },
			func(f *invFixture) {
				f.m.WriteCR3(f.b.CR3(2) | CR3NoFlush)
				f.m.Invlpg(fxO)
				f.m.WriteCR3(f.a.CR3(1) | CR3NoFlush)
			}, true, dataBase + 0x1000, 0},
		{"global page: CR3 flush keeps it", fxG, func(f *invFixture) { f.a.Map(fxG, newFrame, Size4K, rwUser|PteG) },
			func(f *invFixture) { f.m.WriteCR3(f.a.CR3(1)) }, true, dataBase + (20 << 20), 0},
		{"global page: INVPCID 3 keeps it", fxG, func(f *invFixture) { f.a.Map(fxG, newFrame, Size4K, rwUser|PteG) },
			func(f *invFixture) { f.m.Invpcid(InvpcidAllNonGlob, 0, 0) }, true, dataBase + (20 << 20), 0},
		{"global page: INVPCID 2 drops it", fxG, func(f *invFixture) { f.a.Map(fxG, newFrame, Size4K, rwUser|PteG) },
			func(f *invFixture) { f.m.Invpcid(InvpcidAll, 0, 0) }, false, 0, 9 + 4*11 + 18},
		{"global page made in PCID 1 is used in PCID 2", fxG, func(f *invFixture) { f.b.Map(fxG, newFrame, Size4K, rwUser|PteG) },
			func(f *invFixture) { f.m.WriteCR3(f.b.CR3(2) | CR3NoFlush) }, true, dataBase + (20 << 20), 0},
		{"2M page: INVLPG inside it", fx2M + 0x5000, func(f *invFixture) { f.a.Map(fx2M, newFrame-(2<<20), Size2M, rwUser) },
			func(f *invFixture) { f.m.Invlpg(fx2M + 0x1ff000) }, false, 0, 9 + 3*11 + 18},
		{"2M page: INVLPG of the next page", fx2M + 0x5000, func(f *invFixture) { f.a.Map(fx2M, newFrame-(2<<20), Size2M, rwUser) },
			func(f *invFixture) { f.m.Invlpg(fx2M + mib2) }, true, dataBase + (4 << 20) + 0x5000, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newInvFixture(t)
			// Refill fxO in the STLB-less case: already cached by the fixture.
			c.remap(f)
			c.op(f)
			fr, cycles, code := f.m.Translate(c.va, Read)
			if code != 0 {
				t.Fatalf("Translate: #PF %#x", code)
			}
			want := c.oldPA
			if !c.stale {
				want = newFrame + phys.Addr(c.va)&0xfff
				if c.va >= fx2M && c.va < fx2M+mib2 {
					want = newFrame - (2 << 20) + phys.Addr(c.va-fx2M)
				}
			}
			if !isFrame(f.mem, fr, want) {
				t.Errorf("translated to the wrong frame, want the one at %#x (stale=%v)", want, c.stale)
			}
			if cycles != c.cycles {
				t.Errorf("cycles = %d, want %d", cycles, c.cycles)
			}
		})
	}
}

// TestCR3WithPCIDEOff checks MOV to CR3 with CR4.PCIDE=0: PCID 000H's
// non-global entries go, global ones stay, bit 63 is not a no-flush hint
// and is not retained.
func TestCR3WithPCIDEOff(t *testing.T) {
	mem := phys.New(testMem)
	p := newPageTables(t, mem)
	p.Map(fxL, dataBase, Size4K, rwUser)
	p.Map(fxG, dataBase+0x1000, Size4K, rwUser|PteG)
	m := newMMU(t, mem, DefaultConfig(), p, false, 0)
	for _, cr3 := range []uint64{p.CR3(0), p.CR3(0) | CR3NoFlush} {
		for _, va := range []VirtAddr{fxL, fxG} {
			m.Translate(va, Read)
		}
		m.WriteCR3(cr3)
		if m.Cached(fxL) || !m.Cached(fxG) || m.PSCOccupancy() != 0 {
			t.Errorf("after MOV CR3 %#x: local cached %v (want false), global cached %v (want true), PSC %d (want 0)",
				cr3, m.Cached(fxL), m.Cached(fxG), m.PSCOccupancy())
		}
		if m.CR3() != p.CR3(0) || m.PCID() != 0 {
			t.Errorf("CR3 = %#x PCID %d, want %#x 0", m.CR3(), m.PCID(), p.CR3(0))
		}
	}
}

// TestGlobalNeedsPGE checks that G=1 makes a global entry only with
// CR4.PGE=1.
func TestGlobalNeedsPGE(t *testing.T) {
	mem := phys.New(testMem)
	p := newPageTables(t, mem)
	p.Map(fxG, dataBase, Size4K, rwUser|PteG)
	m := newMMU(t, mem, DefaultConfig(), p, true, 1)
	m.SetCR4(false, true)
	m.Translate(fxG, Read)
	m.WriteCR3(p.CR3(1))
	if m.Cached(fxG) {
		t.Errorf("G=1 with CR4.PGE=0 survived a CR3 flush")
	}
	m.SetCR4(true, true)
	m.Translate(fxG, Read)
	m.WriteCR3(p.CR3(1))
	if !m.Cached(fxG) {
		t.Errorf("G=1 with CR4.PGE=1 did not survive a CR3 flush")
	}
}
