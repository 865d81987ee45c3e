package tlb

import "github.com/tlbemu/emu/internal/phys"

// Access is the kind of a memory access.
type Access uint8

// Access kinds. All guest accesses are user-mode (CPL 3): the kernel is not
// guest code.
const (
	Read  Access = 0
	Write Access = 1
	Exec  Access = 2
)

// WalkResult is what a successful 4-level walk found.
type WalkResult struct {
	PFN    phys.PFN  // 4 KiB frame holding the accessed byte
	Base   phys.PFN  // first frame of the (possibly huge) page
	Size   uint8     // Size4K, Size2M or Size1G
	Leaf   uint64    // leaf entry value after the walker's A/D update
	LeafPA phys.Addr // physical address of the leaf entry
	W, U   bool      // effective rights: AND of R/W and U/S over the levels (SDM 4.6)
	NX     bool      // OR of XD over the levels
	Refs   int       // paging-structure entries read (memory references)
}

// physRsvd are the entry bits 51:MAXPHYADDR, reserved at every level.
const physRsvd = 0x000f_ffff_ffff_ffff &^ (uint64(1)<<MaxPhysAddrBits - 1)

// rsvdMask returns the reserved bits of an entry at level with PS as given
// (SDM 4.5, table 4-20; NXE=1, MAXPHYADDR=MaxPhysAddrBits).
func rsvdMask(level int, ps bool) uint64 {
	m := physRsvd // bits 51:MAXPHYADDR
	switch {
	case level == 4:
		m |= PtePS // PS must be 0 in a PML4E
	case level == 3 && ps:
		m |= 0x3fff_e000 // bits 29:13 of a 1 GiB PDPTE
	case level == 2 && ps:
		m |= 0x1f_e000 // bits 20:13 of a 2 MiB PDE
	}
	return m
}

// Walk translates va through the 4-level tables rooted at cr3 for a user-mode
// access, as the hardware page walker does: it checks P and reserved bits at
// every level, computes the effective rights (AND of R/W and U/S, OR of XD),
// and, if the access is permitted, atomically sets A in every entry used and D
// in the leaf on a write (SDM 4.8). On failure it returns the #PF error code
// (always with PFErrUser set) and no A/D bit is changed.
func Walk(mem *phys.Memory, cr3 uint64, va VirtAddr, acc Access) (WalkResult, uint32) {
	var r WalkResult
	var addrs [4]phys.Addr
	var vals [4]uint64
	code := PFErrUser
	switch acc {
	case Write:
		code |= PFErrWrite
	case Exec:
		code |= PFErrInstr
	}
	table := phys.Addr(cr3 & PteAddrMask)
	r.W, r.U = true, true
	n := 0
	for level := 4; level >= 1; level-- {
		ea := table + phys.Addr(va.Index(level)*8)
		if !mem.Valid(ea) {
			return r, code | PFErrRsvd // entry outside guest memory: treat like a reserved-bit fault
		}
		e := mem.LoadPTE(ea)
		r.Refs++
		addrs[n], vals[n] = ea, e
		n++
		if e&PteP == 0 {
			return r, code
		}
		ps := e&PtePS != 0 && level <= 3
		if e&rsvdMask(level, ps) != 0 {
			return r, code | PFErrPresent | PFErrRsvd
		}
		r.W = r.W && e&PteRW != 0
		r.U = r.U && e&PteUS != 0
		r.NX = r.NX || e&PteNX != 0
		if level == 1 || ps {
			sz := uint8(level - 1)
			shift := PageShiftOf(sz)
			base := (e & PteAddrMask) &^ ((uint64(1) << shift) - 1)
			r.Size = sz
			r.Base = phys.PFN(base >> 12)
			r.PFN = phys.PFN((base + (uint64(va) & ((uint64(1) << shift) - 1))) >> 12)
			r.LeafPA = ea
			break
		}
		table = phys.Addr(e & PteAddrMask)
	}
	if !r.U || (acc == Write && !r.W) || (acc == Exec && r.NX) {
		return r, code | PFErrPresent
	}
	if !mem.Valid(r.PFN.Addr()) {
		return r, code | PFErrPresent | PFErrRsvd
	}
	// Set A on every level used and D on the leaf for a write, with a locked
	// RMW so a racing kernel store is never overwritten.
	for i := 0; i < n; i++ {
		want := PteA
		if i == n-1 && acc == Write {
			want |= PteD
		}
		for {
			old := vals[i]
			if old&want == want {
				break
			}
			if mem.CompareAndSwapPTE(addrs[i], old, old|want) {
				vals[i] = old | want
				break
			}
			vals[i] = mem.LoadPTE(addrs[i])
			if vals[i]&PteP == 0 || (i == n-1 && acc == Write && vals[i]&PteRW == 0) {
				// The entry changed under us into one that no longer permits
				// the access: the walk faults.
				if vals[i]&PteP == 0 {
					return r, code
				}
				return r, code | PFErrPresent
			}
		}
	}
	r.Leaf = vals[n-1]
	return r, 0
}
