package tlb

import (
	"sync/atomic"

	"github.com/tlbemu/emu/internal/phys"
)

// StaleWriteFunc is called when a store completes through a cached entry that
// grants more than the in-memory leaf PTE now does (not present, not
// writable, not user, or another frame). pfn is the 4 KiB frame the store
// went to, cur the current leaf entry, and moved whether cur is present
// but maps another page than the entry did, compared at the entry's page
// size (a 2 MiB or 1 GiB leaf's PFN is its head frame). It must not retain
// anything past the call.
type StaleWriteFunc func(va VirtAddr, pfn phys.PFN, cur uint64, moved bool)

// Indices of the paging-structure caches in MMU.psc, in lookup order
// (longest match first, SDM 4.10.3.3).
const (
	pscPDE   = iota // PDE cache: VA bits 47:21 → page table
	pscPDPTE        // PDPTE cache: VA bits 47:30 → page directory
	pscPML4E        // PML4E cache: VA bits 47:39 → page-directory-pointer table
	nPSC
)

// pscOfLevel maps the level of a non-leaf entry to its cache.
var pscOfLevel = [5]int{2: pscPDE, 3: pscPDPTE, 4: pscPML4E}

// MMU is one vCPU's paging unit: CR3/CR4 state, TLBs and paging-structure
// caches. It is owned by the vCPU goroutine and is not safe for concurrent
// use; the page tables it walks may be changed concurrently through
// phys.Memory's atomic PTE accessors.
type MMU struct {
	mem *phys.Memory
	cfg Config

	// Architectural state.
	cr3   uint64 // without bit 63
	pcide bool   // CR4.PCIDE
	pge   bool   // CR4.PGE
	pcid  uint16 // current PCID (0 when CR4.PCIDE=0)

	// Translation caches. l1d/l1i/l2d/l2i list the distinct arrays probed for
	// data and instruction accesses; *For[class] is the array a translation
	// of that page size is filled into (nil: none). tlbs lists every TLB
	// array once.
	arrs                           [9]array
	l1d, l1i, l2d, l2i, tlbs       []*array
	l1dFor, l1iFor, l2dFor, l2iFor [3]*array
	fast                           [4]fastProbe // by Access
	psc                            [nPSC]array

	// Host-side hit memo (memo.go): not modelled state.
	memo [4][memoSize]memoEntry // by Access
	gen  [2]uint64              // by memo side; bumped on any change to its L1 arrays
	rep  repHit                 // the exec memo being repeated (memo.go)

	// Broadcast invalidations (broadcast.go): posted by another CPU's
	// INVLPGB, performed at their completion time; bcast[bhead:] are
	// pending. syncAt is when everything this CPU issued is complete.
	bcast      []pendingInvlpgb
	bhead      int
	syncAt     uint64
	earlyStall uint64 // stall of invalidations performed early (post's bound)

	Stats Stats
	// OnStaleWrite, if non-nil, observes stores through stale writable
	// entries (the hazard detector). Nil costs one compare per store hit.
	OnStaleWrite StaleWriteFunc
}

// fastProbe is the L1 array and page size Translate probes inline for one
// kind of access; a is nil when that array's sets are not a power of two.
type fastProbe struct {
	a     *array
	shift uint
	bits  uint64 // class<<tagClassShift | tagValid
}

// New returns an MMU with empty TLBs, CR3=0, CR4.PGE=1 and CR4.PCIDE=0.
func New(mem *phys.Memory, cfg Config) *MMU {
	m := &MMU{mem: mem, cfg: cfg, pge: true}
	k := 0
	add := func(entries, ways int, classes ...uint8) *array {
		if entries <= 0 {
			return nil
		}
		m.arrs[k] = newArray(entries, ways, classes...)
		a := &m.arrs[k]
		k++
		m.tlbs = append(m.tlbs, a)
		return a
	}
	list := func(l *[]*array, f *[3]*array, as ...*array) {
		for _, a := range as {
			if a == nil {
				continue
			}
			*l = append(*l, a)
			for c := uint8(0); c < 3; c++ {
				if f[c] == nil && a.holds(c) {
					f[c] = a
				}
			}
		}
	}
	if cfg.L1DAllSizes {
		list(&m.l1d, &m.l1dFor, add(cfg.L1D4K, cfg.L1D4KWays, Size4K, Size2M, Size1G))
	} else {
		list(&m.l1d, &m.l1dFor,
			add(cfg.L1D4K, cfg.L1D4KWays, Size4K),
			add(cfg.L1D2M, cfg.L1D2MWays, Size2M),
			add(cfg.L1D1G, cfg.L1D1GWays, Size1G))
	}
	if cfg.L1IAllSizes {
		list(&m.l1i, &m.l1iFor, add(cfg.L1I4K, cfg.L1I4KWays, Size4K, Size2M, Size1G))
	} else {
		list(&m.l1i, &m.l1iFor,
			add(cfg.L1I4K, cfg.L1I4KWays, Size4K),
			add(cfg.L1I2M, cfg.L1I2MWays, Size2M))
	}
	var stlb *array
	if cfg.STLB2M > 0 {
		stlb = add(cfg.STLB, cfg.STLBWays, Size4K)
	} else {
		stlb = add(cfg.STLB, cfg.STLBWays, Size4K, Size2M)
	}
	list(&m.l2d, &m.l2dFor, stlb,
		add(cfg.STLB2M, cfg.STLB2MWays, Size2M),
		add(cfg.STLB1G, cfg.STLB1GWays, Size1G))
	if cfg.L2I > 0 {
		list(&m.l2i, &m.l2iFor, add(cfg.L2I, cfg.L2IWays, Size4K, Size2M, Size1G))
	} else {
		m.l2i, m.l2iFor = m.l2d, m.l2dFor
	}
	for acc, l1 := range [...][]*array{Read: m.l1d, Write: m.l1d, Exec: m.l1i} {
		if len(l1) > 0 && l1[0].pow2 {
			c := l1[0].classes[0]
			m.fast[acc] = fastProbe{a: l1[0], shift: classShift[c], bits: uint64(c)<<tagClassShift | tagValid}
		}
	}
	for side, l1 := range [2][]*array{memoData: m.l1d, memoExec: m.l1i} {
		m.gen[side] = 1
		for _, a := range l1 {
			if a.gen != nil {
				panic("tlb: an L1 array serves both data and instructions")
			}
			a.gen = &m.gen[side]
		}
	}
	m.psc[pscPDE] = newArray(cfg.PDECache, cfg.PDECacheWays, Size2M)
	m.psc[pscPDPTE] = newArray(cfg.PDPTECache, cfg.PDPTECacheWays, Size1G)
	m.psc[pscPML4E] = newArray(cfg.PML4ECache, cfg.PML4ECacheWays, class512G)
	return m
}

// Config returns the MMU's configuration.
func (m *MMU) Config() Config { return m.cfg }

// CR3 returns the current CR3 (bit 63 is never retained, SDM 4.10.4.1).
func (m *MMU) CR3() uint64 { return m.cr3 }

// PCID returns the current PCID.
func (m *MMU) PCID() uint16 { return m.pcid }

// Translate translates a user-mode access to va. It returns the 4 KiB frame
// holding the byte, the cycles the translation cost beyond an L1 hit, and a
// #PF error code (0 on success; FaultGP for a non-canonical va, which raises
// #GP and invalidates nothing).
//
// An L1 hit that permits the access costs 0 cycles. A write through an entry
// with D=0 is not a hit: it re-walks (a "dirty assist") so that D is set in
// memory, and faults if the in-memory PTE no longer permits the write (SDM
// 4.8; commit 0b02a82082c5 "x86/mm: Introduce _PAGE_SAVED_DIRTY" on Write=0
// PTEs). An entry whose cached rights deny the access
// raises #PF without a walk (SDM 4.10.4.3). Every #PF invalidates the TLB
// entries for va's page used under the current PCID (its own and global
// ones) and the paging-structure-cache entries of the current PCID for va
// (SDM 4.10.4.1), so a fault caused only by stale cached state does not
// recur.
func (m *MMU) Translate(va VirtAddr, acc Access) (*phys.Frame, uint32, uint32) {
	m.Settle()
	if e := m.memoLookup(va, acc); e != nil {
		// A repeated L1 hit (memo.go): what the hit below does, without
		// the probe. A memo's page is canonical.
		e.hit()
		switch {
		case acc == Exec:
			m.repeat(e)
		case acc == Write && m.OnStaleWrite != nil:
			m.checkStale(va, e.ent)
		}
		return e.frame, 0, 0
	}
	if !va.Canonical() {
		return nil, 0, FaultGP
	}
	// Fast path: the first L1 array and page size for this kind of access,
	// probed inline: one set (or, in a fully associative array, the hinted
	// entry), one or two compares per way.
	if fp := &m.fast[acc&3]; fp.a != nil {
		a := fp.a
		vpn := (uint64(va) & vaMask) >> fp.shift
		key := vpn<<tagVPNShift | fp.bits
		want, wantG := key|uint64(m.pcid), key|tagGlobal
		hit := -1
		if a.hint == nil {
			s := int(vpn&a.setMask) * a.ways
			for i, t := range a.tags[s : s+a.ways] {
				if t == want || t == wantG {
					hit = s + i
					break
				}
			}
		} else if i := int(*a.hintSlot(key)); a.tags[i] == want || a.tags[i] == wantG {
			hit = i
		}
		if hit >= 0 {
			e := &a.ents[hit]
			if need := needPerm[acc&3]; e.perm&need != need {
				return m.frameResult(m.notPermitted(va, acc, e, 0))
			}
			a.clock++
			a.stamps[hit] = a.clock
			switch acc {
			case Read:
				m.Stats.DTLBLoadHits++
			case Write:
				m.Stats.DTLBStoreHits++
				if m.OnStaleWrite != nil {
					m.checkStale(va, e)
				}
			default:
				m.Stats.ITLBHits++
			}
			f := m.mem.Frame(e.base + phys.PFN(uint32(uint64(va)>>12)&e.pmask))
			m.memoize(va, acc, a, hit, f)
			if acc == Exec {
				if e := m.memoLookup(va, acc); e != nil {
					m.repeat(e)
				}
			}
			return f, 0, 0
		}
	}
	return m.frameResult(m.slowL1(va, acc, true))
}

// frameResult converts a PFN result into Translate's.
func (m *MMU) frameResult(pfn phys.PFN, cycles, code uint32) (*phys.Frame, uint32, uint32) {
	if code != 0 {
		return nil, cycles, code
	}
	return m.mem.Frame(pfn), cycles, 0
}

// TranslatePFN is Translate returning the frame number instead of the
// frame's backing store (0 on a fault), with the same effects and costs.
// For a stale cached entry it is the frame the entry still maps, which a
// walk of the current tables would not find. It skips Translate's inline
// fast path, so an L1 hit costs the host a few ns more.
func (m *MMU) TranslatePFN(va VirtAddr, acc Access) (phys.PFN, uint32, uint32) {
	m.Settle()
	if !va.Canonical() {
		return 0, 0, FaultGP
	}
	return m.slowL1(va, acc, false)
}

// slowL1 probes the L1 arrays (after the fast path, with skipFast, those it
// did not cover) and continues with missL1. Its hit accounting repeats
// Translate's fast path on purpose: a shared helper is not inlined and
// costs every L1 hit 0.7-1.5 ns (measured with BenchmarkTranslate).
func (m *MMU) slowL1(va VirtAddr, acc Access, skipFast bool) (phys.PFN, uint32, uint32) {
	l1 := m.l1d
	if acc == Exec {
		l1 = m.l1i
	}
	if skipFast && m.fast[acc&3].a != nil && l1[0].nclass == 1 && l1[0].hint == nil {
		l1 = l1[1:] // the fast path probed all of l1[0]
	}
	for _, a := range l1 {
		if i := a.lookup(va, m.pcid); i >= 0 {
			e := &a.ents[i]
			if need := needPerm[acc&3]; e.perm&need != need {
				return m.notPermitted(va, acc, e, 0)
			}
			switch acc {
			case Read:
				m.Stats.DTLBLoadHits++
			case Write:
				m.Stats.DTLBStoreHits++
				if m.OnStaleWrite != nil {
					m.checkStale(va, e)
				}
			default:
				m.Stats.ITLBHits++
			}
			if skipFast { // called by Translate, which needs the frame
				f := m.mem.Frame(e.frame(va))
				m.memoize(va, acc, a, i, f)
			}
			return e.frame(va), 0, 0
		}
	}
	return m.missL1(va, acc)
}

// missL1 continues a translation that missed the L1 TLBs.
func (m *MMU) missL1(va VirtAddr, acc Access) (phys.PFN, uint32, uint32) {
	l2, l1For := m.l2d, &m.l1dFor
	if acc == Exec {
		l2, l1For = m.l2i, &m.l1iFor
	}
	for _, a := range l2 {
		i := a.lookup(va, m.pcid)
		if i < 0 {
			continue
		}
		e := &a.ents[i]
		cycles := m.cfg.Costs.STLBHit
		if need := needPerm[acc&3]; e.perm&need != need {
			return m.notPermitted(va, acc, e, cycles)
		}
		switch acc {
		case Read:
			m.Stats.DTLBLoadMissesSTLBHit++
		case Write:
			m.Stats.DTLBStoreMissesSTLBHit++
			if m.OnStaleWrite != nil {
				m.checkStale(va, e)
			}
		default:
			m.Stats.ITLBMissesSTLBHit++
		}
		n, tag := *e, a.tags[i]
		if l1 := l1For[n.cls]; l1 != nil {
			l1.fill(tag, n) // every L1 array has just missed
		}
		return n.frame(va), cycles, 0
	}
	return m.walkAndFill(va, acc, 0, false)
}

// notPermitted handles a cached entry e that does not let acc through: a
// #PF if its rights deny acc, otherwise (a write through a clean entry) a
// dirty assist.
func (m *MMU) notPermitted(va VirtAddr, acc Access, e *Entry, cycles uint32) (phys.PFN, uint32, uint32) {
	if allow := allowPerm[acc&3]; e.perm&allow != allow {
		m.Stats.CachedFaults++
		return 0, cycles, m.fault(va, accErr[acc&3]|PFErrPresent)
	}
	m.Stats.DirtyAssists++
	return m.walkAndFill(va, acc, cycles, true)
}

// walkAndFill walks for va (using the paging-structure caches) and fills the
// TLBs. assist marks the re-walk of a write through a clean entry.
func (m *MMU) walkAndFill(va VirtAddr, acc Access, cycles uint32, assist bool) (phys.PFN, uint32, uint32) {
	var r WalkResult
	code := m.walk(va, acc, &r)
	c := &m.cfg.Costs
	wc := c.WalkBase + uint32(r.Refs)*c.WalkRef
	if r.ADUpdates > 0 {
		wc += c.SetDirty
	}
	cycles += wc
	m.Stats.walkActive(acc, wc)
	if !assist {
		m.Stats.walkStarted(acc)
	}
	if code != 0 {
		return 0, cycles, m.fault(va, code)
	}
	if !assist {
		m.Stats.walkCompleted(acc, r.Size)
	}
	key := uint64(m.pcid)
	if m.pge && r.Leaf&PteG != 0 {
		key = tagGlobal
	}
	perm := r.perm
	if r.Leaf&PteD != 0 {
		perm |= permD
	}
	tag, n := pageKey(va, r.Size)|key, newEntry(r.Size, r.Base, r.LeafPA, perm)
	l1For, l2For := &m.l1dFor, &m.l2dFor
	if acc == Exec {
		l1For, l2For = &m.l1iFor, &m.l2iFor
	}
	// After a miss no entry for va is visible in any TLB array; a dirty
	// assist replaces the clean entry that caused it.
	for _, a := range [2]*array{l2For[r.Size], l1For[r.Size]} {
		switch {
		case a == nil:
		case assist:
			a.insert(tag, n, m.pcid)
		default:
			a.fill(tag, n)
		}
	}
	return r.PFN, cycles, 0
}

// walk performs a page walk for va under the current CR3/PCID, starting
// below the longest-matching paging-structure-cache entry (SDM 4.10.3.3),
// and on success caches the non-leaf entries it read (SDM 4.10.3.1: they
// are present, have no reserved bit set and have A=1 by then).
func (m *MMU) walk(va VirtAddr, acc Access, r *WalkResult) uint32 {
	st := walkStart{level: 4, table: phys.Addr(m.cr3 & PteAddrMask), perm: permAll}
	for i := range m.psc {
		a := &m.psc[i]
		if j := a.lookup(va, m.pcid); j >= 0 {
			e := &a.ents[j]
			st = walkStart{level: 1 + i, table: e.base.Addr(), perm: e.perm}
			switch i {
			case pscPDE:
				m.Stats.PSCPDEHits++
			case pscPDPTE:
				m.Stats.PSCPDPTEHits++
			default:
				m.Stats.PSCPML4EHits++
			}
			break
		}
	}
	var tr walkTrace
	code := walkFrom(m.mem, st, va, acc, &tr, r)
	m.Stats.WalkRefs += uint64(r.Refs)
	m.Stats.ADUpdates += uint64(r.ADUpdates)
	if code == 0 {
		for i := 0; i < tr.n; i++ {
			lvl := tr.level[i]
			a := &m.psc[pscOfLevel[lvl]]
			// The lookups above missed at this level (the walk read it).
			a.fill(pageKey(va, classOfLevel(lvl))|uint64(m.pcid), Entry{base: tr.next[i], perm: tr.perm[i]})
		}
	}
	return code
}

// classOfLevel returns the tag class of a paging-structure-cache entry made
// from a non-leaf entry at level (the region it covers).
func classOfLevel(level int8) uint8 { return uint8(level - 1) }

// checkStale calls OnStaleWrite if the leaf PTE behind e no longer grants a
// user write to e's frame.
func (m *MMU) checkStale(va VirtAddr, e *Entry) {
	var cur uint64
	if p := pteAt(m.mem, e.leafPA); p != nil {
		cur = atomic.LoadUint64(p)
	}
	other := phys.PFN(cur&PteAddrMask>>12)&^phys.PFN(e.pmask) != e.base
	if cur&(PteP|PteRW|PteUS) != PteP|PteRW|PteUS || other {
		m.Stats.StaleWrites++
		m.OnStaleWrite(va, e.frame(va), cur, cur&PteP != 0 && other)
	}
}

// fault counts a #PF and performs its invalidations (SDM 4.10.4.1): the TLB
// entries for va's page used under the current PCID, and the paging-
// structure-cache entries of the current PCID that would be used for va.
func (m *MMU) fault(va VirtAddr, code uint32) uint32 {
	m.Stats.PageFaults++
	m.invalidatePage(va, pcidOrGlobal(m.pcid))
	k := 0
	for i := range m.psc {
		k += m.psc[i].invalidateVA(va, pcidOnly(m.pcid))
	}
	m.Stats.PSCEntriesInvalidated += uint64(k)
	return code
}

// Cached reports whether some TLB structure holds a translation for va
// visible under the current PCID (for tests and the hazard detector's
// diagnostics). It does not change LRU state.
func (m *MMU) Cached(va VirtAddr) bool {
	for _, a := range m.tlbs {
		if a.find(va, m.pcid) >= 0 {
			return true
		}
	}
	return false
}

// Occupancy returns the number of valid TLB entries across all structures
// (paging-structure caches excluded; see PSCOccupancy).
func (m *MMU) Occupancy() int {
	k := 0
	for _, a := range m.tlbs {
		k += a.occupancy()
	}
	return k
}

// PSCOccupancy returns the number of valid paging-structure-cache entries.
func (m *MMU) PSCOccupancy() int {
	k := 0
	for i := range m.psc {
		k += m.psc[i].occupancy()
	}
	return k
}
