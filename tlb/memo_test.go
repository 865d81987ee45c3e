package tlb

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/tlbemu/emu/internal/phys"
)

// The memo tests run two MMUs side by side on two identical memories, one
// with the memo and one without (Config.NoMemo), and require identical
// results, counts, TLB contents, LRU stamps, hook calls and memory (A/D
// bits) after every step.

// Layout of the twin machines: 8 MiB of memory; page tables come from the
// allocator (low frames); 4 KiB data pages at 2 MiB and up; two 2 MiB
// pages at 4 and 6 MiB.
const (
	twMem    = 8 << 20
	twData   = phys.Addr(2 << 20)
	twHuge   = phys.Addr(4 << 20)
	twFrames = twMem >> phys.PageShift
)

// twinVAs are the pages the random test maps: pages 16 apart share an L1
// set in the default geometry (16 sets), so that sets overflow.
var twinVAs = func() []VirtAddr {
	var vas []VirtAddr
	for i := 0; i < 12; i++ {
		vas = append(vas, userVA+VirtAddr(i)*0x1000) // consecutive
	}
	for i := 1; i < 12; i++ {
		vas = append(vas, userVA+VirtAddr(i)*16*0x1000) // one set
	}
	return vas
}()

var twinHugeVAs = []VirtAddr{0x4000_0000, 0x4000_0000 + mib2}

// twinSide is one machine of a twin: memory, two address spaces, the MMU
// and the log of OnStaleWrite calls.
type twinSide struct {
	mem    *phys.Memory
	pt     [2]*pageTables
	m      *MMU
	stale  []staleCall
	frames map[*phys.Frame]phys.PFN
}

func newTwinSide(t *testing.T, cfg Config) *twinSide {
	s := &twinSide{mem: phys.New(twMem), frames: map[*phys.Frame]phys.PFN{}}
	for i := range s.pt {
		s.pt[i] = newPageTables(t, s.mem)
		for j, va := range twinVAs {
			flags := rwUser
			switch {
			case j%7 == 3:
				flags = roUser
			case j == 0: // a global page, in both spaces
				flags |= PteG
			}
			s.pt[i].Map(va, twData+phys.Addr((j+i*len(twinVAs))*0x1000), Size4K, flags)
		}
		s.pt[i].Map(twinHugeVAs[i], twHuge+phys.Addr(i)*phys.Addr(mib2), Size2M, rwUser)
	}
	for p := phys.PFN(0); p < twFrames; p++ {
		s.frames[s.mem.Frame(p)] = p
	}
	s.m = New(s.mem, cfg)
	s.m.SetCR4(true, true)
	s.m.WriteCR3(s.pt[0].CR3(1))
	s.m.OnStaleWrite = func(va VirtAddr, pfn phys.PFN, cur uint64, _ bool) {
		s.stale = append(s.stale, staleCall{va, pfn, cur})
	}
	return s
}

// twin is a pair of machines: a with the memo, b without.
type twin struct {
	t    *testing.T
	a, b *twinSide
	log  []string // the steps so far, for failure messages
	hits int      // translations the memo answered in a
	held int      // compares made while side a held two or more repeated fetch hits unsettled
	// full: compare TLB arrays and memory every full steps (1: always).
	full, steps int
	orig        [2][]uint64 // leaf PTEs of the pool pages as mapped, by space
}

func newTwin(t *testing.T, cfg Config) *twin {
	cfg.NoMemo = false
	a := newTwinSide(t, cfg)
	cfg.NoMemo = true
	b := newTwinSide(t, cfg)
	tw := &twin{t: t, a: a, b: b, full: 1}
	for sp := range tw.orig {
		for _, va := range twinVAs {
			tw.orig[sp] = append(tw.orig[sp], a.pt[sp].Entry(va, 1))
		}
		for _, va := range twinHugeVAs {
			var e uint64
			if ea := a.pt[sp].entryAddr(va, 2, false); ea != 0 {
				e = a.mem.LoadPTE(ea)
			}
			tw.orig[sp] = append(tw.orig[sp], e)
		}
	}
	return tw
}

// result is one call's outcome, with frames as PFNs (0: nil).
type result struct {
	pfn          phys.PFN
	cycles, code uint32
}

func (s *twinSide) pfnOf(f *phys.Frame) phys.PFN {
	if f == nil {
		return 0
	}
	p, ok := s.frames[f]
	if !ok {
		panic("frame outside the twin's memory")
	}
	return p
}

// do runs op on both sides and checks that the machines are still equal.
func (tw *twin) do(what string, op func(s *twinSide) result) result {
	tw.t.Helper()
	tw.log = append(tw.log, what)
	ra, rb := op(tw.a), op(tw.b)
	if ra != rb {
		tw.fail("%s: memo %+v, plain %+v", what, ra, rb)
	}
	tw.compare(what)
	return ra
}

func (tw *twin) fail(format string, args ...any) {
	tw.t.Helper()
	start := max(0, len(tw.log)-20)
	tw.t.Fatalf("%s\nlast steps:\n%s", fmt.Sprintf(format, args...), joinLines(tw.log[start:]))
}

// compare checks the whole modelled state: counters, every TLB and
// paging-structure-cache array (tags, entries, LRU stamps and clock,
// hints), CR3/CR4, hook calls and the page tables in memory.
func (tw *twin) compare(what string) {
	tw.t.Helper()
	a, b := tw.a.m, tw.b.m
	if a.rep.n >= 2 {
		tw.held++
	}
	if tw.steps%tw.full == tw.full-1 {
		a.Settle() // a full compare: the fetch repeat's pending hits applied
	}
	if st := a.Stats; st.ITLBHits+a.rep.n != b.Stats.ITLBHits || func() bool { st.ITLBHits = b.Stats.ITLBHits; return st != b.Stats }() {
		tw.fail("%s: stats differ (%d ITLB hits pending):\nmemo  %+v\nplain %+v", what, a.rep.n, a.Stats, b.Stats)
	}
	if a.cr3 != b.cr3 || a.pcid != b.pcid || a.pge != b.pge || a.pcide != b.pcide {
		tw.fail("%s: control registers differ", what)
	}
	if !reflect.DeepEqual(tw.a.stale, tw.b.stale) {
		tw.fail("%s: OnStaleWrite calls differ:\nmemo  %v\nplain %v", what, tw.a.stale, tw.b.stale)
	}
	if tw.steps++; tw.steps%tw.full != 0 {
		return
	}
	for i := range a.arrs {
		if !sameArray(&a.arrs[i], &b.arrs[i]) {
			tw.fail("%s: TLB array %d differs", what, i)
		}
	}
	for i := range a.psc {
		if !sameArray(&a.psc[i], &b.psc[i]) {
			tw.fail("%s: paging-structure cache %d differs", what, i)
		}
	}
	var ba, bb [phys.PageSize]byte
	for p := phys.PFN(1); p < 64; p++ { // the page tables
		tw.a.mem.Read(p.Addr(), ba[:])
		tw.b.mem.Read(p.Addr(), bb[:])
		if !bytes.Equal(ba[:], bb[:]) {
			tw.fail("%s: frame %#x differs", what, p)
		}
	}
}

func sameArray(a, b *array) bool {
	return slices.Equal(a.tags, b.tags) && slices.Equal(a.ents, b.ents) &&
		slices.Equal(a.stamps, b.stamps) && slices.Equal(a.hint, b.hint) &&
		a.clock == b.clock && a.valid == b.valid && a.nclsv == b.nclsv
}

// translate runs Translate on both sides; with
// viaHit, side a first asks Hit, as the interpreter does.
func (tw *twin) translate(va VirtAddr, acc Access, viaHit bool) result {
	tw.t.Helper()
	if tw.a.m.memoLookup(va, acc) != nil || (acc == Exec && tw.a.m.rep.vpn == uint64(va)>>12 && tw.a.m.rep.gen == tw.a.m.gen[memoExec]) {
		tw.hits++
	}
	return tw.do(fmt.Sprintf("translate %#x acc %d hit %v", va, acc, viaHit), func(s *twinSide) result {
		if viaHit && s == tw.a {
			f := s.m.Hit(va, acc)
			if acc == Exec {
				f = s.m.HitExec(va)
			}
			if f != nil {
				return result{pfn: s.pfnOf(f)}
			}
		}
		f, c, code := s.m.Translate(va, acc)
		return result{s.pfnOf(f), c, code}
	})
}

// leaf edits the leaf PTE of va in space sp on both sides (the kernel
// changing a page table without invalidating).
func (tw *twin) leaf(sp int, va VirtAddr, set, clear uint64) {
	tw.t.Helper()
	lvl := 1
	for _, h := range twinHugeVAs {
		if va&^(mib2-1) == h {
			lvl = 2
		}
	}
	tw.do(fmt.Sprintf("edit space %d %#x +%#x -%#x", sp, va, set, clear), func(s *twinSide) result {
		s.pt[sp].Edit(va, lvl, set, clear)
		return result{}
	})
}

// TestMemoEquivalence drives both machines with random translations (with
// locality: most repeat one of the last few accesses), PTE edits and
// invalidations, in three geometries.
func TestMemoEquivalence(t *testing.T) {
	steps := 30000
	if testing.Short() {
		steps = 5000
	}
	var stale uint64
	for _, cfg := range []Config{DefaultConfig(), Zen4Config(), tinyConfig()} {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", cfg.Name, seed), func(t *testing.T) {
				tw := newTwin(t, cfg)
				tw.full = 50
				r := rand.New(rand.NewPCG(seed, 0))
				pool := append(append([]VirtAddr{}, twinVAs...), twinHugeVAs...)
				pool = append(pool, 0x1000, 0x0000_8000_0000_0000) // unmapped, non-canonical
				vaOf := func() VirtAddr {
					va := pool[r.IntN(len(pool))]
					if va&^(mib2-1) == twinHugeVAs[0] || va&^(mib2-1) == twinHugeVAs[1] {
						va += VirtAddr(r.IntN(4)) * 0x1000 // a few 4 KiB pieces of the 2 MiB page
					}
					return va + VirtAddr(r.IntN(4096))
				}
				type access struct {
					va  VirtAddr
					acc Access
				}
				recent := make([]access, 6)
				for i := range recent {
					recent[i] = access{vaOf(), Access(r.IntN(3))}
				}
				translates := 0
				for range steps {
					switch k := r.IntN(100); {
					case k < 75:
						translates++
						a := &recent[r.IntN(len(recent))]
						tw.translate(a.va, a.acc, r.IntN(2) == 0)
					case k < 85:
						translates++
						a := &recent[r.IntN(len(recent))]
						*a = access{vaOf(), Access(r.IntN(3))}
						tw.translate(a.va, a.acc, r.IntN(2) == 0)
					case k < 87:
						va, acc := vaOf(), Access(r.IntN(3))
						tw.do(fmt.Sprintf("TranslatePFN %#x acc %d", va, acc), func(s *twinSide) result {
							p, c, code := s.m.TranslatePFN(va, acc)
							return result{p, c, code}
						})
					case k < 93:
						// Change one leaf without invalidating: restore it
						// to its original value, or clear one bit.
						sp, j := r.IntN(2), r.IntN(len(twinVAs)+len(twinHugeVAs))
						va := pool[j]
						bits := []uint64{PteRW, PteD, PteA, PteP, PteUS}
						if r.IntN(2) == 0 {
							tw.leaf(sp, va, tw.orig[sp][j], ^uint64(0))
						} else {
							tw.leaf(sp, va, 0, bits[r.IntN(len(bits))])
						}
					case k < 95:
						va := vaOf()
						tw.do(fmt.Sprintf("invlpg %#x", va), func(s *twinSide) result { return result{cycles: s.m.Invlpg(va)} })
					case k < 97:
						typ, pcid, va := r.IntN(4), uint16(r.IntN(3)), vaOf()
						tw.do(fmt.Sprintf("invpcid %d pcid %d %#x", typ, pcid, va), func(s *twinSide) result {
							return result{cycles: s.m.Invpcid(typ, pcid, va)}
						})
					case k < 99:
						sp, pcid, nf := r.IntN(2), uint16(r.IntN(3)), uint64(r.IntN(2))<<63
						tw.do(fmt.Sprintf("cr3 space %d pcid %d noflush %v", sp, pcid, nf != 0), func(s *twinSide) result {
							return result{cycles: s.m.WriteCR3(s.pt[sp].CR3(pcid) | nf)}
						})
					default:
						pge, pcide := r.IntN(4) != 0, r.IntN(4) != 0
						tw.do(fmt.Sprintf("cr4 pge %v pcide %v", pge, pcide), func(s *twinSide) result {
							return result{cycles: s.m.SetCR4(pge, pcide)}
						})
					}
				}
				tw.full = 1
				tw.compare("end")
				// The memo must have answered a good share of the
				// translations, or this test would check nothing.
				if tw.hits < translates/10 {
					t.Errorf("the memo answered %d of %d translations", tw.hits, translates)
				}
				if tw.held == 0 {
					t.Error("the fetch repeat never held two hits before settling")
				}
				st := &tw.a.m.Stats
				if st.DirtyAssists == 0 || st.EntriesInvalidated == 0 || st.PageFaults == 0 {
					t.Errorf("the random steps missed a case: %+v", *st)
				}
				stale += st.StaleWrites
			})
		}
	}
	if stale == 0 {
		t.Error("no store went through a stale entry")
	}
}

// TestMemoInvalidation checks, case by case, that a memo made by a
// repeated hit is dropped by each change that may alter what the L1 probe
// finds, survives changes that cannot, and that afterwards both machines
// still agree.
func TestMemoInvalidation(t *testing.T) {
	page, other, glob := twinVAs[1], twinVAs[2], twinVAs[0]
	sameSet := twinVAs[12:] // pages sharing page's L1 set in the default geometry
	cases := []struct {
		name   string
		va     VirtAddr
		acc    Access
		action func(tw *twin)
		keep   bool // the memo for va survives the action
	}{
		{"INVLPG of the page", page, Read, func(tw *twin) { tw.do("invlpg", func(s *twinSide) result { return result{cycles: s.m.Invlpg(page)} }) }, false},
		{"INVLPG of an uncached page", page, Read, func(tw *twin) {
			tw.do("invlpg", func(s *twinSide) result { return result{cycles: s.m.Invlpg(0x1000)} })
		}, true},
		{"INVLPG of the page, fetch", page, Exec, func(tw *twin) { tw.do("invlpg", func(s *twinSide) result { return result{cycles: s.m.Invlpg(page)} }) }, false},
		{"CR3 write, same PCID", page, Read, func(tw *twin) {
			tw.do("cr3", func(s *twinSide) result { return result{cycles: s.m.WriteCR3(s.pt[0].CR3(1))} })
		}, false},
		{"CR3 write, other PCID, no flush", page, Read, func(tw *twin) {
			tw.do("cr3", func(s *twinSide) result { return result{cycles: s.m.WriteCR3(s.pt[1].CR3(2) | CR3NoFlush)} })
		}, false},
		{"CR3 write, no flush, global page", glob, Read, func(tw *twin) {
			tw.do("cr3", func(s *twinSide) result { return result{cycles: s.m.WriteCR3(s.pt[1].CR3(2) | CR3NoFlush)} })
		}, false},
		{"CR4.PCIDE cleared", page, Write, func(tw *twin) {
			tw.do("cr4", func(s *twinSide) result { return result{cycles: s.m.SetCR4(true, false)} })
		}, false},
		{"INVPCID type 0, this PCID", page, Read, func(tw *twin) {
			tw.do("invpcid", func(s *twinSide) result { return result{cycles: s.m.Invpcid(InvpcidAddr, 1, page)} })
		}, false},
		{"INVPCID type 0, other PCID", page, Read, func(tw *twin) {
			tw.do("invpcid", func(s *twinSide) result { return result{cycles: s.m.Invpcid(InvpcidAddr, 2, page)} })
		}, true},
		{"INVPCID type 1, this PCID", page, Exec, func(tw *twin) {
			tw.do("invpcid", func(s *twinSide) result { return result{cycles: s.m.Invpcid(InvpcidSingle, 1, 0)} })
		}, false},
		{"INVPCID type 1, other PCID, global page", glob, Read, func(tw *twin) {
			tw.do("invpcid", func(s *twinSide) result { return result{cycles: s.m.Invpcid(InvpcidSingle, 2, 0)} })
		}, true},
		{"INVPCID type 2", glob, Read, func(tw *twin) {
			tw.do("invpcid", func(s *twinSide) result { return result{cycles: s.m.Invpcid(InvpcidAll, 0, 0)} })
		}, false},
		{"INVPCID type 3", page, Write, func(tw *twin) {
			tw.do("invpcid", func(s *twinSide) result { return result{cycles: s.m.Invpcid(InvpcidAllNonGlob, 0, 0)} })
		}, false},
		{"eviction from the set", sameSet[0], Read, func(tw *twin) {
			for _, va := range sameSet[1:5] { // 4 ways
				tw.translate(va, Read, false)
			}
		}, false},
		{"walk filling another L1 array", page, Read, func(tw *twin) { tw.translate(twinHugeVAs[0], Read, false) }, false},
		{"data fill does not touch the fetch memo", page, Exec, func(tw *twin) { tw.translate(other, Read, false) }, true},
		{"fetch fill does not touch the data memo", page, Read, func(tw *twin) { tw.translate(other, Exec, false) }, true},
		{"PTE change without invalidation", page, Write, func(tw *twin) { tw.leaf(0, page, 0, PteRW) }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tw := newTwin(t, DefaultConfig())
			if c.acc == Write {
				tw.translate(c.va, Write, false) // sets D: a write memo needs a dirty entry
			}
			tw.translate(c.va, c.acc, false)
			tw.translate(c.va, c.acc, false)
			if tw.a.m.memoLookup(c.va, c.acc) == nil {
				t.Fatal("no memo after a repeated hit")
			}
			c.action(tw)
			if got := tw.a.m.memoLookup(c.va, c.acc) != nil; got != c.keep {
				t.Errorf("memo valid after the action: %v, want %v", got, c.keep)
			}
			tw.translate(c.va, c.acc, true)
			tw.translate(c.va, c.acc, true)
		})
	}
}

// TestMemoDirtyAndStale checks the two store rules: a store through an
// entry made by a read (D=0 in its walk) is a dirty assist, never a memo
// hit; a store through a memo calls OnStaleWrite when the PTE has lost
// write permission, and Hit leaves stores to Translate while the hook is
// set.
func TestMemoDirtyAndStale(t *testing.T) {
	page := twinVAs[1]
	tw := newTwin(t, DefaultConfig())
	tw.translate(page, Read, false)
	tw.translate(page, Read, false)
	if tw.a.m.memoLookup(page, Read) == nil {
		t.Fatal("no read memo after a repeated hit")
	}
	if tw.a.m.memoLookup(page, Write) != nil {
		t.Fatal("write memo from reads")
	}
	tw.translate(page, Write, true)
	if got := tw.a.m.Stats.DirtyAssists; got != 1 {
		t.Fatalf("dirty assists %d, want 1", got)
	}
	if tw.a.pt[0].Entry(page, 1)&PteD == 0 {
		t.Fatal("D not set by the store")
	}
	tw.translate(page, Write, false)
	if tw.a.m.memoLookup(page, Write) == nil {
		t.Fatal("no write memo after a repeated store hit")
	}
	if tw.a.m.Hit(page, Write) != nil {
		t.Fatal("Hit answered a store with OnStaleWrite set")
	}
	tw.leaf(0, page, 0, PteRW) // write-protect without a flush
	tw.translate(page, Write, true)
	tw.translate(page, Write, true)
	if n := len(tw.a.stale); n != 2 {
		t.Fatalf("%d OnStaleWrite calls, want 2", n)
	}
	if tw.a.m.memoLookup(page, Write) == nil {
		t.Fatal("the stale entry's memo is gone (the TLB still holds the entry)")
	}
	// Without the hook, Hit answers stores.
	tw.a.m.OnStaleWrite, tw.b.m.OnStaleWrite = nil, nil
	before := tw.a.m.Stats.DTLBStoreHits
	if f := tw.a.m.Hit(page, Write); f == nil || tw.a.m.Stats.DTLBStoreHits != before+1 {
		t.Fatal("Hit did not answer a store without the hook")
	}
}

// TestMemoHintDuplicate checks rule 3 of memo.go in the Zen 4 geometry
// (a fully associative L1 with hints): with a global and a PCID-local entry
// for one page both visible, the hint decides which one a probe returns, so
// a touch that moves the hint must drop the memo.
func TestMemoHintDuplicate(t *testing.T) {
	tw := newTwin(t, Zen4Config())
	va := twinVAs[1]
	l1 := tw.a.m.l1d[0]
	if l1.hint == nil {
		t.Fatal("the Zen 4 L1 DTLB has no hints")
	}
	// v2: a page whose hint slot is va's.
	v2 := VirtAddr(0)
	for k := VirtAddr(64); k < 1<<16; k++ {
		c := userVA + k*0x1000
		if l1.hintSlot(pageKey(c, Size4K)) == l1.hintSlot(pageKey(va, Size4K)) {
			v2 = c
			break
		}
	}
	if v2 == 0 {
		t.Fatal("no page shares va's hint slot")
	}
	cr3 := func(pcid uint16) {
		tw.do(fmt.Sprintf("cr3 pcid %d no flush", pcid), func(s *twinSide) result {
			return result{cycles: s.m.WriteCR3(s.pt[0].CR3(pcid) | CR3NoFlush)}
		})
	}
	tw.do("map v2", func(s *twinSide) result { s.pt[0].Map(v2, twData+0x100000, Size4K, rwUser); return result{} })
	tw.translate(v2, Read, false) // way 0
	tw.translate(va, Read, false) // way 1: PCID 1's entry
	cr3(2)
	tw.do("make va global, elsewhere", func(s *twinSide) result {
		s.pt[0].Set(va, 1, uint64(twData+0x101000)|rwUser|PteG)
		return result{}
	})
	tw.translate(va, Read, false) // way 2: the global entry; the hint names it
	cr3(1)
	g := tw.translate(va, Read, false) // through the hint: the global entry
	tw.translate(va, Read, false)
	if tw.a.m.memoLookup(va, Read) == nil {
		t.Fatal("no memo")
	}
	tw.translate(v2, Read, false) // misses the hint, moves it to v2
	if tw.a.m.memoLookup(va, Read) != nil {
		t.Error("memo survived a hint change")
	}
	if l := tw.translate(va, Read, true); l == g {
		t.Errorf("the probe found the global entry again (%+v): the scenario did not happen", l)
	}
}
