package tlb

import "github.com/tlbemu/emu/internal/phys"

// The hit memo: a host-side shortcut in front of the L1 probe, in the
// spirit of QEMU softmmu's CPUTLBEntry addend (accel/tcg/cputlb.c,
// tlb_hit/tlb_entry). It is not part of the modelled machine: with or
// without it, Translate returns the same results and leaves every modelled
// count, every TLB entry and every LRU stamp in the same state
// (TestMemoEquivalence runs both side by side).
//
// For each kind of access a small direct-mapped table, indexed by the
// 4 KiB virtual page number, remembers the last L1 hit for that page: the
// frame returned, the entry, and where its LRU stamp lives. A memo is used
// only while nothing the L1 probe depends on has changed:
//
//  1. The L1 arrays probed for that kind of access hold the same tags. Every
//     change to an L1 array's tags goes through array.put or array.drop,
//     which bump the array's side generation (gen[memoData] for the L1 DTLB
//     arrays, gen[memoExec] for the L1 ITLB arrays); a memo records the
//     generation it was made in. Second-level and paging-structure caches
//     are not consulted by an L1 hit, so their changes do not count.
//  2. The current PCID is the same (a non-global entry of another PCID is
//     invisible). WriteCR3 and SetCR4 bump both generations, whatever they
//     change.
//  3. For an array with hints (wide sets), the hints are the same: when two
//     visible entries match one page (a global and a PCID-local one made
//     under different PCIDs), the hint decides which one the probe
//     returns. array.touch bumps the side generation when it changes a
//     hint of an L1 array; a probe's hit through the hint leaves it as it
//     is, and so does a memo hit.
//
// Entries are never changed in place (a dirty assist or a refill replaces
// the entry through put), so the rights checked when the memo was made are
// still the entry's rights: a write memo exists only for an entry with W, U
// and D set, and a write through a clean entry keeps taking the slow path
// (the dirty assist). A memo hit does what the probe's hit does: it bumps
// the array's LRU clock and stores it in the entry's stamp, counts the hit,
// and for a store calls checkStale when OnStaleWrite is set; it skips the
// set scan, the rights check and phys.Memory.Frame's atomic load (a frame's
// backing store never changes once it exists).

// Memo geometry: 64 pages per kind of access (the L1 DTLB holds 64 4 KiB
// entries; a 64-page code working set is larger than the built-in
// workloads').
const (
	memoBits = 6
	memoSize = 1 << memoBits
)

// Memo sides: the generation an access kind's memos depend on is
// MMU.gen[acc>>1].
const (
	memoData = 0 // Read and Write: the L1 DTLB arrays
	memoExec = 1 // Exec: the L1 ITLB arrays
)

// memoEntry is one remembered L1 hit. It is valid while gen equals the
// MMU's generation of its side.
type memoEntry struct {
	vpn   uint64      // va >> 12 of the page
	gen   uint64      // side generation when made; 0 never matches
	frame *phys.Frame // what Translate returned
	stamp *uint64     // the entry's LRU stamp
	clock *uint64     // its array's LRU clock
	count *uint64     // the Stats counter of a hit of this kind
	ent   *Entry      // the entry hit (for checkStale)
}

// The fetch repeat: instruction fetches hit the same L1 ITLB entry many
// times in a row (every instruction of a loop on one page). Each such hit
// bumps the array's LRU clock, stamps the entry with it and counts an
// ITLB hit; k hits in a row leave the clock k higher, the entry stamped
// with the last value and the counter k higher, and nothing else in the
// L1 ITLB arrays or the counters changes in between if no other exec
// translation, flush or CR3/CR4 write happens (data accesses touch only
// the L1 DTLB arrays, and a data miss only the second level). So the MMU
// remembers the last exec memo it answered from (rep) and only counts
// repeated hits on it (rep.n); Settle applies them, and every entry point
// that could observe or change the L1 ITLB state or Stats settles first:
// Translate, the flushes, WriteCR3, SetCR4, a Hit for another page, and
// the interpreter when Run returns. Stats are exact only after Settle.

// repHit is the exec memo being repeated.
type repHit struct {
	vpn   uint64      // its page
	gen   uint64      // gen[memoExec] when taken; 0 never matches
	frame *phys.Frame // what Translate returned
	stamp *uint64     // the entry's LRU stamp
	clock *uint64     // its array's LRU clock
	count *uint64     // Stats.ITLBHits
	n     uint64      // repeated hits not applied yet
}

// Settle applies the repeated instruction-fetch hits counted since the last
// Settle (see the fetch repeat above), leaving the LRU state and Stats as
// the hits one by one would have.
func (m *MMU) Settle() {
	if r := &m.rep; r.n != 0 {
		*r.clock += r.n
		*r.stamp = *r.clock
		*r.count += r.n
		r.n = 0
	}
}

// HitExec is Hit for an instruction fetch, answering only a repeat: a
// fetch from the page of the last exec memo hit costs one compare and an
// increment. Otherwise it returns nil and the caller calls Translate, which
// settles, answers from the memo or the probe, and makes the page the one
// repeated.
func (m *MMU) HitExec(va VirtAddr) *phys.Frame {
	if r := &m.rep; r.vpn == uint64(va)>>12 && r.gen == m.gen[memoExec] {
		r.n++
		return r.frame
	}
	return nil
}

// HitExecFrame is HitExec answering only a repeat whose frame is want: it
// reports whether it did (and counted the hit); otherwise it changes
// nothing. (The interpreter's ownership checks accept a hit only on the
// frame they verified.)
func (m *MMU) HitExecFrame(va VirtAddr, want *phys.Frame) bool {
	if r := &m.rep; r.vpn == uint64(va)>>12 && r.gen == m.gen[memoExec] && r.frame == want {
		r.n++
		return true
	}
	return false
}

// repeat makes the exec memo e the one repeated (Translate, after a hit
// through it).
func (m *MMU) repeat(e *memoEntry) {
	m.rep = repHit{vpn: e.vpn, gen: e.gen, frame: e.frame, stamp: e.stamp, clock: e.clock, count: e.count}
}

// Hit answers a translation from the memo: if acc at va would be an L1 hit
// that the memo remembers, it does everything Translate would (counts the
// hit, updates LRU state) and returns the frame, which costs 0 cycles;
// otherwise it returns nil and changes nothing, and the caller calls
// Translate. It never answers a write while OnStaleWrite is set (Translate
// does, calling the hook) and never an instruction fetch (HitExec does).
// Hit is small enough to be inlined into the
// interpreter's fetch, load and store paths.
func (m *MMU) Hit(va VirtAddr, acc Access) *phys.Frame {
	vpn := uint64(va) >> 12
	e := &m.memo[acc&3][vpn&(memoSize-1)]
	if e.vpn != vpn || e.gen != m.gen[acc>>1&1] || acc == Exec || (acc == Write && m.OnStaleWrite != nil) {
		return nil
	}
	e.hit()
	return e.frame
}

// HitFrame is Hit answering only a memo whose frame is want: it reports
// whether it did (and counted the hit); otherwise it changes nothing.
func (m *MMU) HitFrame(va VirtAddr, acc Access, want *phys.Frame) bool {
	vpn := uint64(va) >> 12
	e := &m.memo[acc&3][vpn&(memoSize-1)]
	if e.vpn != vpn || e.gen != m.gen[acc>>1&1] || e.frame != want || acc == Exec || (acc == Write && m.OnStaleWrite != nil) {
		return false
	}
	e.hit()
	return true
}

// hit does what an L1 hit does to the array and the counters: the entry
// becomes the most recently used of its array, and the hit is counted.
func (e *memoEntry) hit() {
	*e.clock++
	*e.stamp = *e.clock
	*e.count++
}

// memoLookup returns the valid memo for va and acc, or nil.
func (m *MMU) memoLookup(va VirtAddr, acc Access) *memoEntry {
	vpn := uint64(va) >> 12
	e := &m.memo[acc&3][vpn&(memoSize-1)]
	if e.vpn != vpn || e.gen != m.gen[acc>>1&1] {
		return nil
	}
	return e
}

// memoize remembers an L1 hit of acc at va on entry i of a, which returned
// frame f. The caller has already counted the hit and updated LRU state.
func (m *MMU) memoize(va VirtAddr, acc Access, a *array, i int, f *phys.Frame) {
	if f == nil || acc > Exec || m.cfg.NoMemo {
		return
	}
	vpn := uint64(va) >> 12
	m.memo[acc][vpn&(memoSize-1)] = memoEntry{
		vpn: vpn, gen: m.gen[acc>>1], frame: f,
		stamp: &a.stamps[i], clock: &a.clock, count: m.hitCounter(acc), ent: &a.ents[i],
	}
}

// hitCounter returns the Stats counter of an L1 hit of kind acc.
func (m *MMU) hitCounter(acc Access) *uint64 {
	switch acc {
	case Read:
		return &m.Stats.DTLBLoadHits
	case Write:
		return &m.Stats.DTLBStoreHits
	}
	return &m.Stats.ITLBHits
}

// ExecGen returns the generation of the L1 ITLB arrays: it changes
// whenever a tag in them changes (a fill, an eviction, an invalidation, a
// hint that decides between two entries), and at every CR3 or CR4 write, so
// while it is unchanged an instruction fetch finds what the last one found.
// The interpreter's fetch rule uses it across a deadline exit; it does not
// depend on Config.NoMemo.
func (m *MMU) ExecGen() uint64 { return m.gen[memoExec] }

// bumpAll invalidates every memo (the PCID or CR4 changed).
func (m *MMU) bumpAll() {
	m.gen[memoData]++
	m.gen[memoExec]++
}
