package tlb

import (
	"sync/atomic"
	"unsafe"

	"github.com/tlbemu/emu/internal/phys"
)

// Access is the kind of a memory access.
type Access uint8

// Access kinds. All guest accesses are user-mode (CPL 3): the kernel is not
// guest code.
const (
	Read  Access = 0
	Write Access = 1
	Exec  Access = 2
)

// accErr are the #PF error-code bits an access contributes (SDM 4.7): U/S
// always (CPL 3), W/R for a write, I/D for a fetch (IA32_EFER.NXE=1).
var accErr = [4]uint32{
	Read:  PFErrUser,
	Write: PFErrUser | PFErrWrite,
	Exec:  PFErrUser | PFErrInstr,
	3:     PFErrUser,
}

// WalkResult is what a 4-level walk found. On a fault only Refs (and the
// fields of the levels reached) are meaningful.
type WalkResult struct {
	PFN    phys.PFN  // 4 KiB frame holding the accessed byte
	Base   phys.PFN  // first frame of the (possibly huge) page
	Size   uint8     // Size4K, Size2M or Size1G
	Leaf   uint64    // leaf entry value after the walker's A/D update
	LeafPA phys.Addr // physical address of the leaf entry
	W, U   bool      // effective rights: AND of R/W and U/S over the levels (SDM 4.6)
	NX     bool      // OR of XD over the levels
	Refs   int       // paging-structure entries read (memory references)
	// ADUpdates is the number of locked A/D updates the walk made.
	ADUpdates int

	perm uint8 // W, U, NX as Entry rights
}

// physRsvd are the entry bits 51:MAXPHYADDR, reserved at every level.
const physRsvd = 0x000f_ffff_ffff_ffff &^ (uint64(1)<<MaxPhysAddrBits - 1)

// rsvdMask returns the reserved bits of an entry at level with PS as given
// (SDM 4.5, tables 4-15 … 4-20; IA32_EFER.NXE=1, so bit 63 is XD, and
// MAXPHYADDR=MaxPhysAddrBits). Bits 62:52 are ignored (no protection keys).
func rsvdMask(level int, ps bool) uint64 {
	m := physRsvd // bits 51:MAXPHYADDR
	switch {
	case level == 4:
		m |= PtePS // bit 7 of a PML4E is reserved
	case level == 3 && ps:
		m |= 0x3fff_e000 // bits 29:13 of a 1 GiB PDPTE (bit 12 is PAT)
	case level == 2 && ps:
		m |= 0x1f_e000 // bits 20:13 of a 2 MiB PDE (bit 12 is PAT)
	}
	return m
}

// entryPerm returns the rights one entry grants.
func entryPerm(e uint64) uint8 {
	p := permX
	if e&PteUS != 0 {
		p |= permU
	}
	if e&PteRW != 0 {
		p |= permW
	}
	if e&PteNX != 0 {
		p = p &^ permX
	}
	return p
}

// walkStart is where a walk begins: at CR3 (level 4, all rights), or below a
// paging-structure-cache entry (the table it names and the rights of the
// levels above).
type walkStart struct {
	level int
	table phys.Addr
	perm  uint8
}

// walkTrace records the non-leaf entries a successful walk read, for filling
// the paging-structure caches: level, the next table's frame, and the rights
// of the levels down to and including this one.
type walkTrace struct {
	n     int
	level [3]int8
	next  [3]phys.PFN
	perm  [3]uint8
}

// Walk translates va through the 4-level tables rooted at cr3 for a user-mode
// access, as the hardware page walker does with empty paging-structure
// caches (SDM 4.5, 4.6, 4.8):
//
//   - every level: P=0 → #PF (P=0 in the error code); a reserved bit set
//     (table 4-20) → #PF with P|RSVD; a table or page frame outside guest
//     memory is treated like a reserved bit (P|RSVD) so that a bad entry never
//     panics the emulator;
//   - the effective rights are the AND of R/W and U/S and the OR of XD over
//     the levels; a user access needs U, a write W (CR0.WP is irrelevant at
//     CPL 3), a fetch XD=0 → otherwise #PF with P;
//   - if the access is permitted, A is set in every entry read and D in the
//     leaf on a write, each by a locked compare-and-swap, so a racing kernel
//     store is never overwritten; if an entry changed meanwhile (other than
//     in A/D), the walk restarts and sees the new value;
//   - a faulting walk changes no A/D bit (a model choice: the SDM lets the
//     processor set A in upper levels before faulting, 4.8).
//
// The #PF error code always has U/S set, W/R for a write and I/D for a fetch
// (SDM 4.7). A non-canonical va returns FaultGP.
func Walk(mem *phys.Memory, cr3 uint64, va VirtAddr, acc Access) (WalkResult, uint32) {
	if !va.Canonical() {
		return WalkResult{}, FaultGP
	}
	var tr walkTrace
	var r WalkResult
	code := walkFrom(mem, walkStart{level: 4, table: phys.Addr(cr3 & PteAddrMask), perm: permAll}, va, acc, &tr, &r)
	return r, code
}

// walkFrom walks from st down to the leaf (see Walk) into *r, restarting
// when a locked A/D update finds the entry changed, and returns the #PF
// error code (0 on success).
func walkFrom(mem *phys.Memory, st walkStart, va VirtAddr, acc Access, tr *walkTrace, r *WalkResult) uint32 {
	for {
		code, retry := walkOnce(mem, st, va, acc, tr, r)
		if !retry {
			return code
		}
	}
}

// pteAt returns the entry word at ea, or nil if ea lies outside guest
// memory. Frames are 8-byte aligned (phys.Frame), so the word may be
// accessed atomically, as phys.Memory's PTE accessors do; reading it here
// directly saves a second frame lookup per level on the walk path.
func pteAt(mem *phys.Memory, ea phys.Addr) *uint64 {
	f := mem.Frame(ea.PFN())
	if f == nil {
		return nil
	}
	return (*uint64)(unsafe.Pointer(&f[ea.Offset()&^7]))
}

func walkOnce(mem *phys.Memory, st walkStart, va VirtAddr, acc Access, tr *walkTrace, r *WalkResult) (code uint32, retry bool) {
	code = accErr[acc&3]
	var ptrs [4]*uint64
	var vals [4]uint64
	n := 0
	tr.n = 0
	table, perm := st.table, st.perm
	for level := st.level; level >= 1; level-- {
		ea := table + phys.Addr(va.Index(level)*8)
		p := pteAt(mem, ea)
		if p == nil {
			return code | PFErrPresent | PFErrRsvd, false // the table lies outside guest memory
		}
		e := atomic.LoadUint64(p)
		r.Refs++
		ptrs[n&3], vals[n&3] = p, e
		n++
		if e&PteP == 0 {
			return code, false
		}
		ps := e&PtePS != 0 && (level == 3 || level == 2)
		if e&rsvdMask(level, ps) != 0 {
			return code | PFErrPresent | PFErrRsvd, false
		}
		perm &= entryPerm(e)
		if level == 1 || ps {
			sz := uint8(level - 1)
			mask := uint64(1)<<PageShiftOf(sz) - 1
			base := e & PteAddrMask &^ mask
			r.Size = sz
			r.Base = phys.PFN(base >> 12)
			r.PFN = phys.PFN((base + uint64(va)&mask) >> 12)
			r.LeafPA = ea
			f := mem.Frame(r.PFN)
			if f == nil {
				return code | PFErrPresent | PFErrRsvd, false // the page lies outside guest memory
			}
			// The access that needed this walk reads or writes va next:
			// the host fetches its line while the TLBs are filled (a
			// hint: nothing modelled or architectural depends on it).
			prefetch(unsafe.Pointer(&f[uint64(va)&(phys.PageSize-1)]))
			break
		}
		table = phys.Addr(e & PteAddrMask)
		tr.level[tr.n], tr.next[tr.n], tr.perm[tr.n] = int8(level), table.PFN(), perm
		tr.n++
	}
	r.perm = perm
	r.W, r.U, r.NX = perm&permW != 0, perm&permU != 0, perm&permX == 0
	if perm&allowPerm[acc&3] != allowPerm[acc&3] {
		return code | PFErrPresent, false
	}
	// Set A on every level read and D on the leaf for a write, with locked
	// RMWs (SDM 4.8).
	for i := 0; i < n; i++ {
		want := PteA
		if i == n-1 && acc == Write {
			want |= PteD
		}
		old := vals[i]
		for old&want != want {
			if atomic.CompareAndSwapUint64(ptrs[i], old, old|want) {
				old |= want
				r.ADUpdates++
				break
			}
			cur := atomic.LoadUint64(ptrs[i])
			if (cur^old)&^(PteA|PteD) != 0 {
				return 0, true // changed under us: walk again
			}
			old = cur
		}
		vals[i] = old
	}
	r.Leaf = vals[(n-1)&3]
	return 0, false
}
