package cpu

import (
	"github.com/tlbemu/emu/internal/hostmem"
	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// Frame ownership for deterministic parallel execution (CoreDet/DMP-O,
// Bergan et al., ASPLOS'10). The scheduler (kernelmodel) runs several vCPUs'
// user code at the same time only where that cannot change the result: in
// a parallel phase a vCPU may read a frame that is shared or private to it
// and write a frame that is private to it, and nothing else touches guest
// memory, so no vCPU observes another's stores. Ownership only changes
// while one vCPU runs alone (a serial phase).
//
// The interpreter enforces this at every translation (instruction fetch,
// load, store, locked RMW), before the access has any architectural effect:
//
//   - OwnOff: no checks (the default; the cost is one compare per access).
//   - OwnAcquire (serial): every access takes what it needs. A write makes
//     the frame private to this vCPU; a read of a frame private to another
//     vCPU makes it shared. Only the baton holder runs in this mode.
//   - OwnParallel: an access the table does not permit ends Run with
//     ExitSerialize, RIP still at the instruction and nothing committed,
//     exactly like a page fault; the scheduler re-runs it serially.
//
// The hardware page walker writes too: it sets A/D bits in page-table
// entries with locked compare-and-swaps. Those updates commute, but their
// side effects do not: which vCPU's walk sets a bit decides who pays
// Costs.SetDirty and counts the update, and a walk that reads the entry
// just before or just after another vCPU's update fills its TLB with a
// different D bit. So in OwnParallel mode a translation may only walk
// entries that need no update: before calling MMU.Translate for a page not
// yet verified in this epoch, verify walks the current tables from CR3
// without side effects and allows the access only if every
// entry on the path has A set (and, for a write, the leaf has D set) or the
// walk faults (a faulting walk writes nothing). The kernel model changes
// page tables only in serial phases, so during a parallel phase the tables
// are read-only and every walk is a pure function of the state at the
// phase's start. (Assumption, as in the kernel: a paging-structure cache
// never holds a pointer to a page table that has been freed; Linux frees
// page tables only after the flush that drops such entries.)
//
// The TLB may still hand back a frame the page tables no longer map (a stale
// entry). Translate's result is therefore compared with the verified frame,
// and a mismatch serializes; a hook that observes such an access (the
// hazard detector's tlb.MMU.OnStaleWrite) calls AbortParallel so that it
// counts nothing in parallel and the access is judged again, serially.
//
// Verified pages are cached per vCPU by virtual page in a small
// direct-mapped table whose keys include an epoch, so the common access
// costs one index and one compare before Translate and one compare after.
// The commonest accesses cost less: the interpreter's inline load and
// fetch paths (memoRead, fetchHit) take the hit memo's answer (tlb.MMU.Hit,
// HitExec) without any check for the page last found fine for reads
// (okRead) or fetches (okExec). The memo's answer for that page is the
// frame checked then: it changes only through MMU.Translate, and every
// Translate here forgets both pages first. Skipping the check itself is
// exact: in OwnParallel mode the tables and ownership are frozen, so the
// check would find the same; in OwnAcquire mode only this vCPU runs, and a
// read or fetch of a frame it may read acquires nothing (its own writes
// only make frames private to it). Both are forgotten at Run entry.
// The epoch changes when the table's epoch does (Owners.NewEpoch, called by
// the scheduler before a parallel phase when page tables or ownership may
// have changed) or CR3 does.

// OwnMode selects how Run treats frame ownership.
type OwnMode uint8

// The modes (see the comment above).
const (
	OwnOff OwnMode = iota
	OwnAcquire
	OwnParallel
)

// faultSerialize is the internal "#PF error code" of an access that must be
// serialized. Bit 30 is never set in a real #PF error code (SDM Vol. 3A 4.7)
// and differs from tlb.FaultGP.
const faultSerialize uint32 = 1 << 30

// Owners is the per-frame ownership table shared by the vCPUs of a machine.
// It may be changed (SetShared, SetPrivate, NewEpoch, and OwnAcquire runs)
// only while no vCPU runs in OwnParallel mode.
type Owners struct {
	own   []uint16 // by PFN: 0 shared, id+1 private to vCPU id
	epoch uint64
}

// NewOwners returns a table for frames frames, all shared.
func NewOwners(frames uint64) *Owners {
	o := &Owners{epoch: 1}
	o.own = hostmem.Table[uint16](o, int(frames), 0) // touched only for frames in use
	return o
}

// Owner returns the vCPU that owns frame p privately, or -1 if it is shared.
func (o *Owners) Owner(p phys.PFN) int {
	if uint64(p) >= uint64(len(o.own)) {
		return -1
	}
	return int(o.own[p]) - 1
}

// SetShared makes frame p shared (readable by every vCPU, writable by none
// in a parallel phase).
func (o *Owners) SetShared(p phys.PFN) {
	if uint64(p) < uint64(len(o.own)) {
		o.own[p] = 0
	}
}

// SetPrivate makes frame p private to vCPU id (0 ≤ id < 65535).
func (o *Owners) SetPrivate(p phys.PFN, id int) {
	if uint64(p) < uint64(len(o.own)) {
		o.own[p] = uint16(id + 1)
	}
}

// NewEpoch invalidates every vCPU's cache of verified pages. Call it before
// a parallel phase if page tables or ownership may have changed since the
// last one.
func (o *Owners) NewEpoch() { o.epoch++ }

// Verified-page cache geometry. A key is vpn<<ocEpochBits | epoch: a
// 52-bit virtual page number and a 12-bit epoch that is never 0, so an
// empty key (0) never matches; when the epoch wraps the cache is cleared.
const (
	ocBits      = 8
	ocSize      = 1 << ocBits
	ocEpochBits = 12
	ocEpochMask = 1<<ocEpochBits - 1
)

// ocIndex returns the cache slot of virtual page vpn (Fibonacci hashing:
// text, data, heap and stack pages a round number of pages apart spread
// over the table).
func ocIndex(vpn uint64) uint64 { return vpn * 0x9e3779b97f4a7c15 >> (64 - ocBits) }

// ocEntry caches what verify found for one virtual page in one epoch.
type ocEntry struct {
	key   [3]uint64   // by tlb.Access: the page's key if that kind may reach frame, else 0
	frame *phys.Frame // the frame the page tables map the page to
}

// AbortParallel makes the access being translated end Run with
// ExitSerialize, as if ownership had forbidden it. It is meant for hooks
// called during an OwnParallel Run (tlb.MMU.OnStaleWrite); elsewhere it
// has no effect.
func (c *CPU) AbortParallel() { c.parAbort = true }

// enterOwned prepares the verified-page cache at Run entry. OwnAcquire
// runs use the cache too, to skip frames they already hold, and fill it
// with entries that are not A/D-verified: a parallel run after them starts
// a new epoch.
func (c *CPU) enterOwned() {
	if c.oc == nil {
		c.oc = new([ocSize]ocEntry)
	}
	cr3 := c.MMU.CR3()
	if c.Owners.epoch != c.ocTable || cr3 != c.ocCR3 || (c.Own == OwnParallel && c.ocAcquired) {
		c.ocTable, c.ocCR3, c.ocAcquired = c.Owners.epoch, cr3, false
		c.ocEpoch = (c.ocEpoch + 1) & ocEpochMask
		if c.ocEpoch == 0 {
			clear(c.oc[:])
			c.ocEpoch = 1
		}
	}
	c.ocAcquired = c.ocAcquired || c.Own == OwnAcquire
	c.parAbort = false
	c.ofVPN = ^uint64(0)
	c.okRead, c.okExec = ^uint64(0), ^uint64(0)
}

// memoRead reports whether the inline load paths may take the hit memo's
// answer (tlb.MMU.Hit) for a read at va as it is: always without ownership
// checks, else when va is on the page okRead names (see the package
// comment on ownership).
func (c *CPU) memoRead(va uint64) bool {
	return c.Own == OwnOff || va>>phys.PageShift == c.okRead
}

// fetchOwned is translateOwned(rip, tlb.Exec) for Run. While fetches stay
// on one page whose verified-page entry still allows execution, the entry
// is not looked up again and the TLB is asked first (HitExec); the outcome
// is translateOwned's: with the entry valid, translateOwned would skip
// verify and ask the TLB in the same way, and what it does with the answer
// is translateOwnedAfter.
func (c *CPU) fetchOwned(rip uint64) (*phys.Frame, uint32, uint32) {
	vpn := rip >> phys.PageShift
	if e := c.ofEntry; vpn == c.ofVPN && e.key[tlb.Exec] == c.ofKey {
		f := c.MMU.HitExec(tlb.VirtAddr(rip))
		if f != nil && f == e.frame {
			c.okExec = vpn
			return f, 0, 0
		}
		return c.translateOwnedAfter(rip, tlb.Exec, e, c.ofKey, f)
	}
	f, extra, pf := c.translateOwned(rip, tlb.Exec)
	if pf == 0 {
		e := &c.oc[ocIndex(vpn)]
		if key := vpn<<ocEpochBits | c.ocEpoch; e.key[tlb.Exec] == key {
			c.ofVPN, c.ofEntry, c.ofKey = vpn, e, key
		}
	}
	return f, extra, pf
}

// translateOwned is MMU.Translate with the ownership rules of c.Own (not
// OwnOff). It returns faultSerialize (OwnParallel only) for an access that
// must run serially; nothing has been translated or charged beyond what
// extra says.
func (c *CPU) translateOwned(va uint64, acc tlb.Access) (*phys.Frame, uint32, uint32) {
	vpn := va >> phys.PageShift
	e := &c.oc[ocIndex(vpn)]
	key := vpn<<ocEpochBits | c.ocEpoch
	if c.Own == OwnParallel && e.key[acc&3] != key {
		if _, ok := c.verify(va, acc, e); !ok {
			return nil, 0, faultSerialize
		}
	}
	// parAbort is false here: it is cleared at Run entry and below. (Hit
	// calls no hook, so it cannot set parAbort.)
	f := c.hit(va, acc)
	if f != nil && e.key[acc&3] == key && f == e.frame {
		// translateOwnedAfter's outcome for a memo hit on the verified (or
		// already acquired) frame, without the call: the hot data path.
		if acc == tlb.Read {
			c.okRead = vpn
		}
		return f, 0, 0
	}
	return c.translateOwnedAfter(va, acc, e, key, f)
}

// translateOwnedAfter finishes translateOwned for an access whose
// verified-page entry e has been looked up (and, in OwnParallel mode, found
// or made valid for acc, or found to fault) and whose TLB memo answered f
// (nil: not answered, so Translate is asked now).
func (c *CPU) translateOwnedAfter(va uint64, acc tlb.Access, e *ocEntry, key uint64, f *phys.Frame) (*phys.Frame, uint32, uint32) {
	var extra, pf uint32
	if f == nil {
		c.okRead, c.okExec = ^uint64(0), ^uint64(0) // the memo may change (see memoRead)
		f, extra, pf = c.MMU.Translate(tlb.VirtAddr(va), acc)
	}
	if c.Own != OwnParallel {
		if pf == 0 && (e.key[acc&3] != key || f != e.frame) {
			c.acquire(f, va, acc, e, key)
		}
		return f, extra, pf
	}
	// The frame verify found: e.frame if e allows acc, else the walk
	// faults (nil).
	var frame *phys.Frame
	if e.key[acc&3] == key {
		frame = e.frame
	}
	if pf == 0 && (f != frame || c.parAbort) {
		c.parAbort = false
		return nil, extra, faultSerialize
	}
	return f, extra, pf
}

// acquire updates the ownership of f (the frame just translated for acc at
// va) in OwnAcquire mode and notes in e (va's cache entry) what this vCPU
// now holds. A frame reached through a stale TLB entry is treated like any
// other: its PFN is exact (phys.Memory.PFNOf), whatever the page tables map
// now.
func (c *CPU) acquire(f *phys.Frame, va uint64, acc tlb.Access, e *ocEntry, key uint64) {
	pfn, ok := c.Mem.PFNOf(f)
	if !ok || uint64(pfn) >= uint64(len(c.Owners.own)) {
		return
	}
	me := uint16(c.ID + 1)
	p := &c.Owners.own[pfn]
	switch {
	case acc == tlb.Write:
		*p = me
	case *p != 0 && *p != me:
		*p = 0
	}
	if e.frame != f {
		*e = ocEntry{frame: f}
	}
	e.key[tlb.Read], e.key[tlb.Exec] = key, key
	if *p == me {
		e.key[tlb.Write] = key
	}
}

// verify decides whether an acc access to va may be translated in a
// parallel phase (see the package comment on ownership) by walking the
// current page tables from CR3 without side effects, and caches the result
// for va's page in e. It returns the frame Translate must return for the
// access to proceed: the mapped frame, or nil when the walk faults (then
// Translate faults too, changing nothing shared, unless a stale TLB entry
// answers, which the caller's compare catches). ok is false if the access
// must be serialized.
func (c *CPU) verify(va uint64, acc tlb.Access, e *ocEntry) (*phys.Frame, bool) {
	if !canonical(va) {
		return nil, true // Translate returns FaultGP and touches nothing
	}
	table := c.MMU.CR3() & tlb.PteAddrMask
	allA := true
	var rights uint64 = tlb.PteUS | tlb.PteRW // AND over the levels
	nx := false                               // OR over the levels
	var leaf uint64
	var pfn phys.PFN
	for level := 4; ; level-- {
		ea := phys.Addr(table + tlb.VirtAddr(va).Index(level)*8)
		if !c.Mem.Valid(ea) {
			return nil, true // the walk faults (table outside memory)
		}
		ent := c.Mem.LoadPTE(ea)
		if ent&tlb.PteP == 0 {
			return nil, true // not present: the walk faults before any update
		}
		allA = allA && ent&tlb.PteA != 0
		rights &= ent
		nx = nx || ent&tlb.PteNX != 0
		if level == 1 || (level <= 3 && ent&tlb.PtePS != 0) {
			span := uint64(1)<<(12+9*uint(level-1)) - 1
			pfn = phys.PFN(((ent&tlb.PteAddrMask)&^span + va&span) >> phys.PageShift)
			leaf = ent
			break
		}
		table = ent & tlb.PteAddrMask
	}
	frame := c.Mem.Frame(pfn)
	if frame == nil || uint64(pfn) >= uint64(len(c.Owners.own)) {
		return nil, true // the walk faults (frame outside memory)
	}
	// The rights the walker computes (SDM 4.6): a user access needs U, a
	// write R/W, a fetch XD clear. A denied access faults without updates.
	own := c.Owners.own[pfn]
	me := uint16(c.ID + 1)
	readable := own == 0 || own == me
	key := va>>phys.PageShift<<ocEpochBits | c.ocEpoch
	*e = ocEntry{frame: frame}
	faults := false
	for k := tlb.Read; k <= tlb.Exec; k++ {
		switch {
		case rights&tlb.PteUS == 0, k == tlb.Write && rights&tlb.PteRW == 0, k == tlb.Exec && nx:
			faults = faults || k == acc
		case !allA, k == tlb.Write && leaf&tlb.PteD == 0:
			// A successful walk would set A or D.
		case k == tlb.Write && own == me, k != tlb.Write && readable:
			e.key[k] = key
		}
	}
	switch {
	case e.key[acc&3] != 0:
		return frame, true
	case faults:
		return nil, true
	}
	return nil, false
}
