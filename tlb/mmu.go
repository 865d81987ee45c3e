package tlb

import "github.com/tlbemu/emu/internal/phys"

// Config is the geometry of one vCPU's translation caches. Defaults are the
// Skylake-SP figures of calibration.md §3.1 (InstLatx64 CPUID dumps).
type Config struct {
	Name             string
	L1D4K, L1D4KWays int // L1 DTLB, 4 KiB pages
	L1D2M, L1D2MWays int // L1 DTLB, 2 MiB pages
	L1D1G, L1D1GWays int // L1 DTLB, 1 GiB pages
	L1I4K, L1I4KWays int // L1 ITLB, 4 KiB pages
	STLB, STLBWays   int // unified second-level TLB (4 KiB and 2 MiB)
	Costs            Costs
}

// Costs are translation latencies in cycles (calibration.md §3.2, §3.3).
type Costs struct {
	STLBHit  uint32 // L1 miss, STLB hit: 12 cycles (W3, Haswell RMMA)
	WalkRef  uint32 // one paging-structure memory reference: 45/4 ≈ 11 cycles (W1: 45-cycle average 4-level walk, IvyBridge)
	SetDirty uint32 // locked A/D update of a leaf on a write through a clean entry: ASSUMPTION 18 cycles (A1: one locked RMW)
	Invlpg   uint32 // INVLPG: 200 cycles (F1)
	Invpcid  uint32 // INVPCID single address: 350 cycles (F1, derived)
	CR3Write uint32 // MOV to CR3: 96 cycles (F5), refills charged as walks
	GlobalFl uint32 // INVPCID type 2: 376 ns ≈ 1130 cycles at 3 GHz (F6)
}

// DefaultConfig returns the Skylake-SP configuration.
func DefaultConfig() Config {
	return Config{
		Name:  "skylake-sp",
		L1D4K: 64, L1D4KWays: 4,
		L1D2M: 32, L1D2MWays: 4,
		L1D1G: 4, L1D1GWays: 4,
		L1I4K: 128, L1I4KWays: 8,
		STLB: 1536, STLBWays: 12,
		Costs: Costs{STLBHit: 12, WalkRef: 11, SetDirty: 18, Invlpg: 200, Invpcid: 350, CR3Write: 96, GlobalFl: 1130},
	}
}

// Stats counts translation events, named after the Intel perf events they
// model (calibration.md §1.12).
type Stats struct {
	DTLBLoadHits            uint64 // L1 DTLB hits on loads
	DTLBStoreHits           uint64
	DTLBLoadMissesSTLBHit   uint64 // dtlb_load_misses.stlb_hit
	DTLBStoreMissesSTLBHit  uint64 // dtlb_store_misses.stlb_hit
	DTLBLoadMissesWalkDone  uint64 // dtlb_load_misses.walk_completed
	DTLBStoreMissesWalkDone uint64 // dtlb_store_misses.walk_completed
	ITLBMissesSTLBHit       uint64 // itlb_misses.stlb_hit
	ITLBMissesWalkDone      uint64 // itlb_misses.walk_completed
	WalkActiveCycles        uint64 // dtlb_*_misses.walk_active + itlb_misses.walk_active
	DirtyAssists            uint64 // writes through a W=1,D=0 entry that re-walked to set D
	PageFaults              uint64 // #PF raised by translation
	Invlpg, Invpcid         uint64
	CR3Writes, CR3NoFlush   uint64
	EntriesInvalidated      uint64
}

// StaleWriteFunc is called when a store completes through a cached entry that
// grants more than the in-memory PTE now does (write permission gone, not
// present, or another frame). cur is the current leaf entry. It must not
// retain e.
type StaleWriteFunc func(va VirtAddr, pfn phys.PFN, cur uint64)

// MMU is one vCPU's paging unit: control registers and translation caches.
// It is owned by the vCPU goroutine and is not safe for concurrent use.
type MMU struct {
	mem *phys.Memory
	cfg Config

	cr3   uint64 // without bit 63
	pcide bool
	pge   bool
	pcid  uint16 // current PCID (0 when CR4.PCIDE=0)

	l1d4k, l1d2m, l1d1g, l1i, stlb array

	Stats Stats
	// OnStaleWrite, if non-nil, observes stores through stale writable
	// entries (the hazard detector). Nil costs nothing.
	OnStaleWrite StaleWriteFunc
}

// New returns an MMU with empty TLBs, CR3=0, CR4.PGE=1 and CR4.PCIDE=0.
func New(mem *phys.Memory, cfg Config) *MMU {
	return &MMU{
		mem: mem, cfg: cfg, pge: true,
		l1d4k: newArray(cfg.L1D4K, cfg.L1D4KWays),
		l1d2m: newArray(cfg.L1D2M, cfg.L1D2MWays),
		l1d1g: newArray(cfg.L1D1G, cfg.L1D1GWays),
		l1i:   newArray(cfg.L1I4K, cfg.L1I4KWays),
		stlb:  newArray(cfg.STLB, cfg.STLBWays),
	}
}

// Config returns the MMU's configuration.
func (m *MMU) Config() Config { return m.cfg }

// CR3 returns the current CR3 (bit 63 is never retained, SDM 4.10.4.1).
func (m *MMU) CR3() uint64 { return m.cr3 }

// PCID returns the current PCID.
func (m *MMU) PCID() uint16 { return m.pcid }

func (m *MMU) l1For(acc Access, size uint8) *array {
	if acc == Exec {
		if size == Size4K {
			return &m.l1i
		}
		return nil // large-page ITLB entries are not modelled: served by the STLB
	}
	switch size {
	case Size2M:
		return &m.l1d2m
	case Size1G:
		return &m.l1d1g
	}
	return &m.l1d4k
}

// lookupL1 probes the L1 structures for va.
func (m *MMU) lookupL1(va VirtAddr, acc Access) *Entry {
	if acc == Exec {
		return m.l1i.lookup(uint64(va)>>12, m.pcid)
	}
	if e := m.l1d4k.lookup(uint64(va)>>12, m.pcid); e != nil {
		return e
	}
	if e := m.l1d2m.lookup(uint64(va)>>21, m.pcid); e != nil {
		return e
	}
	return m.l1d1g.lookup(uint64(va)>>30, m.pcid)
}

func (m *MMU) lookupSTLB(va VirtAddr) *Entry {
	if e := m.stlb.lookup(uint64(va)>>12, m.pcid); e != nil && e.size == Size4K {
		return e
	}
	if e := m.stlb.lookup(uint64(va)>>21, m.pcid); e != nil && e.size == Size2M {
		return e
	}
	return nil
}

func (e *Entry) frame(va VirtAddr) phys.PFN {
	return e.base + phys.PFN((uint64(va)&((uint64(1)<<PageShiftOf(e.size))-1))>>12)
}

// permits reports whether a cached entry allows acc without a walk. A write
// through an entry with D=0 is not a hit: the processor must set D in memory
// (SDM 4.8), which the model does by re-walking.
func (e *Entry) permits(acc Access) bool {
	if !e.u {
		return false
	}
	switch acc {
	case Write:
		return e.w && e.dirty
	case Exec:
		return !e.nx
	}
	return true
}

// denies reports whether the cached rights alone rule out acc (a fault may be
// raised from TLB contents, SDM 4.10.2.3 / 4.10.4.3: at most one spurious #PF).
func (e *Entry) denies(acc Access) bool {
	if !e.u {
		return true
	}
	switch acc {
	case Write:
		return !e.w
	case Exec:
		return e.nx
	}
	return false
}

// Translate translates a user-mode access to va. It returns the 4 KiB frame
// holding the byte, the extra cycles the translation cost beyond an L1 hit,
// and a #PF error code (0 on success). A fault invalidates the TLB entries for
// va's page (SDM 4.10.4.1), so a fault caused only by stale state does not
// recur. va must be canonical (the caller raises #GP otherwise).
func (m *MMU) Translate(va VirtAddr, acc Access) (*phys.Frame, uint32, uint32) {
	if e := m.lookupL1(va, acc); e != nil {
		if e.permits(acc) {
			if acc == Write {
				m.Stats.DTLBStoreHits++
				if m.OnStaleWrite != nil {
					m.checkStale(va, e)
				}
			} else if acc == Read {
				m.Stats.DTLBLoadHits++
			}
			return m.mem.Frame(e.frame(va)), 0, 0
		}
		if e.denies(acc) {
			return nil, 0, m.fault(va, acc, PFErrPresent)
		}
		// W=1, D=0 write: fall through to a walk that sets D.
	}
	var cycles uint32
	{
		if e := m.lookupSTLB(va); e != nil && e.permits(acc) {
			cycles += m.cfg.Costs.STLBHit
			switch acc {
			case Read:
				m.Stats.DTLBLoadMissesSTLBHit++
			case Write:
				m.Stats.DTLBStoreMissesSTLBHit++
				if m.OnStaleWrite != nil {
					m.checkStale(va, e)
				}
			case Exec:
				m.Stats.ITLBMissesSTLBHit++
			}
			n := *e
			if l1 := m.l1For(acc, n.size); l1 != nil {
				l1.insert(n)
			}
			return m.mem.Frame(n.frame(va)), cycles, 0
		}
	}
	r, code := Walk(m.mem, m.cr3, va, acc)
	wc := uint32(r.Refs) * m.cfg.Costs.WalkRef
	cycles += wc
	m.Stats.WalkActiveCycles += uint64(wc)
	if code != 0 {
		return nil, cycles, m.fault(va, acc, code)
	}
	switch acc {
	case Read:
		m.Stats.DTLBLoadMissesWalkDone++
	case Write:
		m.Stats.DTLBStoreMissesWalkDone++
	case Exec:
		m.Stats.ITLBMissesWalkDone++
	}
	n := Entry{
		vpn: uint64(va) >> PageShiftOf(r.Size), pcid: m.pcid, size: r.Size,
		global: m.pge && r.Leaf&PteG != 0,
		w:      r.W, u: r.U, nx: r.NX, dirty: r.Leaf&PteD != 0,
		base: r.Base, leafPA: r.LeafPA,
	}
	if r.Size != Size1G {
		m.stlb.insert(n)
	}
	if l1 := m.l1For(acc, r.Size); l1 != nil {
		l1.insert(n)
	}
	return m.mem.Frame(r.PFN), cycles, 0
}

func (m *MMU) checkStale(va VirtAddr, e *Entry) {
	cur := m.mem.LoadPTE(e.leafPA)
	if cur&PteP == 0 || cur&PteRW == 0 || phys.PFN(PTEPFN(cur)) != e.base {
		m.OnStaleWrite(va, e.frame(va), cur)
	}
}

func (m *MMU) fault(va VirtAddr, acc Access, code uint32) uint32 {
	m.Stats.PageFaults++
	m.invalidatePage(va, func(e *Entry) bool { return e.pcid == m.pcid || e.global })
	if code == 0 {
		code = PFErrUser
	}
	code |= PFErrUser
	if acc == Write {
		code |= PFErrWrite
	} else if acc == Exec {
		code |= PFErrInstr
	}
	return code
}

func (m *MMU) all() []*array { return []*array{&m.l1d4k, &m.l1d2m, &m.l1d1g, &m.l1i, &m.stlb} }

// invalidatePage drops the entries of every size that map va and satisfy drop.
func (m *MMU) invalidatePage(va VirtAddr, drop func(e *Entry) bool) int {
	k := m.l1d4k.invalidateVA(va, Size4K, drop)
	k += m.l1i.invalidateVA(va, Size4K, drop)
	k += m.l1d2m.invalidateVA(va, Size2M, drop)
	k += m.l1d1g.invalidateVA(va, Size1G, drop)
	k += m.stlb.invalidateVA(va, Size4K, drop)
	k += m.stlb.invalidateVA(va, Size2M, drop)
	m.Stats.EntriesInvalidated += uint64(k)
	return k
}

func (m *MMU) invalidateAll(drop func(e *Entry) bool) int {
	k := 0
	for _, a := range m.all() {
		k += a.invalidate(drop)
	}
	m.Stats.EntriesInvalidated += uint64(k)
	return k
}

// Invlpg executes INVLPG va: it drops the entries for va's page associated
// with the current PCID and global entries for it (SDM 4.10.4.1). A
// non-canonical operand is a no-op. It returns the instruction's cycles.
func (m *MMU) Invlpg(va VirtAddr) uint32 {
	m.Stats.Invlpg++
	if va.Canonical() {
		m.invalidatePage(va, func(e *Entry) bool { return e.pcid == m.pcid || e.global })
	}
	return m.cfg.Costs.Invlpg
}

// Invpcid executes INVPCID of the given type (SDM Vol. 2, INVPCID).
func (m *MMU) Invpcid(typ int, pcid uint16, va VirtAddr) uint32 {
	m.Stats.Invpcid++
	switch typ {
	case InvpcidAddr:
		m.invalidatePage(va, func(e *Entry) bool { return e.pcid == pcid && !e.global })
		return m.cfg.Costs.Invpcid
	case InvpcidSingle:
		m.invalidateAll(func(e *Entry) bool { return e.pcid == pcid && !e.global })
	case InvpcidAll:
		m.invalidateAll(func(e *Entry) bool { return true })
		return m.cfg.Costs.GlobalFl
	case InvpcidAllNonGlob:
		m.invalidateAll(func(e *Entry) bool { return !e.global })
	}
	return m.cfg.Costs.Invpcid
}

// WriteCR3 executes MOV to CR3. With CR4.PCIDE=1 and bit 63 set it
// invalidates nothing; otherwise it drops the non-global entries of the new
// PCID (PCID 0 when PCIDE=0). Bit 63 is not retained (SDM 4.10.4.1).
func (m *MMU) WriteCR3(v uint64) uint32 {
	m.Stats.CR3Writes++
	noflush := m.pcide && v&CR3NoFlush != 0
	v &^= CR3NoFlush
	m.cr3 = v
	if m.pcide {
		m.pcid = uint16(v & CR3PCIDMask)
	} else {
		m.pcid = 0
	}
	if noflush {
		m.Stats.CR3NoFlush++
	} else {
		pcid := m.pcid
		m.invalidateAll(func(e *Entry) bool { return e.pcid == pcid && !e.global })
	}
	return m.cfg.Costs.CR3Write
}

// SetCR4 sets CR4.PGE and CR4.PCIDE. Changing PGE, or clearing PCIDE,
// invalidates every entry including global ones (SDM 4.10.4.1).
func (m *MMU) SetCR4(pge, pcide bool) uint32 {
	if pge != m.pge || (m.pcide && !pcide) {
		m.invalidateAll(func(e *Entry) bool { return true })
	}
	m.pge, m.pcide = pge, pcide
	if !pcide {
		m.pcid = 0
	} else {
		m.pcid = uint16(m.cr3 & CR3PCIDMask)
	}
	return m.cfg.Costs.GlobalFl
}

// Cached reports whether some TLB structure holds an entry for va visible
// under the current PCID (for tests and the hazard detector's diagnostics).
func (m *MMU) Cached(va VirtAddr) bool {
	return m.lookupL1(va, Read) != nil || m.l1i.lookup(uint64(va)>>12, m.pcid) != nil || m.lookupSTLB(va) != nil
}

// Occupancy returns the number of valid entries across all structures.
func (m *MMU) Occupancy() int {
	k := 0
	for _, a := range m.all() {
		k += a.occupancy()
	}
	return k
}
