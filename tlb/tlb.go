package tlb

import "github.com/tlbemu/emu/internal/phys"

// Entry is one cached translation (SDM 4.10.2.2) or one paging-structure-
// cache entry (SDM 4.10.3.1), without its tag (kept in array.tags). A
// translation holds the page frame, the effective rights of its walk (AND of
// R/W and U/S, OR of XD) and the leaf's dirty flag; its tag holds the page
// number, the page size and either the PCID it was created under or
// "global". LeafPA is not architectural: OnStaleWrite uses it to compare the
// entry with the current leaf. A paging-structure-cache entry holds the
// frame of the next table and the rights of the levels above it.
type Entry struct {
	base   phys.PFN  // TLB: first frame of the page; PSC: frame of the next-level table
	leafPA phys.Addr // TLB: physical address of the leaf entry
	pmask  uint32    // frames per page − 1 (0, 511, 262143)
	perm   uint8     // permU | permW | permX | permD
	cls    uint8     // page size class
}

// Tag layout. The class is the page size (Size4K, Size2M, Size1G) for TLB
// entries; for paging-structure caches it is the size of the region one entry
// covers (Size2M for a PDE, Size1G for a PDPTE, class512G for a PML4E).
const (
	tagPCIDMask   uint64 = 1<<12 - 1 // PCID, bits 11:0 (SDM 4.10.1: 12-bit PCIDs)
	tagGlobal     uint64 = 1 << 12   // global translation: matches every PCID
	tagValid      uint64 = 1 << 13
	tagClassShift        = 14 // 2 bits
	tagVPNShift          = 16 // VPN: at most 36 bits (47:12)

	class512G = 3 // region mapped by one PML4E
)

// classShift is log2 of the region a class covers.
var classShift = [4]uint{12, 21, 30, 39}

// Rights bits of an Entry. permX is the complement of XD so that every right
// an access needs is a 1 bit.
const (
	permU   uint8 = 1 << iota // user access allowed (U/S=1 at every level)
	permW                     // write allowed (R/W=1 at every level)
	permX                     // fetch allowed (XD=0 at every level)
	permD                     // the leaf had D=1 when the entry was made
	permAll = permU | permW | permX
)

// needPerm[acc] are the bits an entry must have to serve acc without a walk:
// a write also needs D=1, otherwise the processor must set D in memory first
// (SDM 4.8). allowPerm[acc] are the rights acc needs; an entry lacking one of
// them faults from the TLB (SDM 4.10.4.3, "spurious" #PF).
var (
	needPerm  = [4]uint8{Read: permU, Write: permU | permW | permD, Exec: permU | permX}
	allowPerm = [4]uint8{Read: permU, Write: permU | permW, Exec: permU | permX}
)

// frame returns the 4 KiB frame of va inside the entry's page.
func (e *Entry) frame(va VirtAddr) phys.PFN {
	return e.base + phys.PFN(uint32(uint64(va)>>12)&e.pmask)
}

// newEntry returns an entry for a page of class cls.
func newEntry(cls uint8, base phys.PFN, leafPA phys.Addr, perm uint8) Entry {
	return Entry{base: base, leafPA: leafPA, pmask: uint32(1)<<(classShift[cls]-12) - 1, perm: perm, cls: cls}
}

// pageKey returns the tag bits that identify va's region of class cls.
func pageKey(va VirtAddr, cls uint8) uint64 {
	vpn := (uint64(va) & vaMask) >> classShift[cls]
	return vpn<<tagVPNShift | uint64(cls)<<tagClassShift | tagValid
}

// array is one set-associative structure with LRU replacement. It may hold
// several classes (page sizes); each class is probed with its own set index.
// Tags, entries and LRU stamps are kept in parallel slices so that a probe
// scans only the tags of one set.
type array struct {
	tags    []uint64 // sets*ways; set s at [s*ways, (s+1)*ways); 0 = invalid
	ents    []Entry
	stamps  []uint64 // LRU: larger is more recent
	ways    int
	sets    uint64
	setMask uint64 // sets-1 when sets is a power of two
	pow2    bool
	classes [4]uint8 // classes held, in probe order
	nclass  int
	clock   uint64 // LRU clock
	valid   int    // number of valid entries
	nclsv   [4]int // number of valid entries per class (a probe skips empty classes)
	// hint, for wide sets only, maps a hash of a region key to the index of
	// the entry last filled or hit for it, so that a hit in a fully
	// associative structure (e.g. Zen's 72-entry L1 DTLB) does not scan all
	// ways. A hint is only a guess, checked against the tag; it does not
	// change what is found, only how fast.
	hint     []int32
	hintMask uint64
	// gen, for an L1 array, is the MMU's memo generation of its side,
	// bumped by every change to tags (put, drop); nil for other arrays.
	gen *uint64
}

// hintWays is the associativity above which an array keeps hints.
const hintWays = 16

func (a *array) hintSlot(key uint64) *int32 {
	h := key >> tagClassShift // VPN and class
	h ^= h >> 7
	return &a.hint[h&a.hintMask]
}

func newArray(entries, ways int, classes ...uint8) array {
	if entries <= 0 {
		return array{}
	}
	if ways <= 0 || ways > entries {
		ways = entries
	}
	sets := uint64(entries / ways)
	n := int(sets) * ways
	a := array{tags: make([]uint64, n), ents: make([]Entry, n), stamps: make([]uint64, n), ways: ways, sets: sets}
	if sets&(sets-1) == 0 {
		a.pow2, a.setMask = true, sets-1
	}
	a.nclass = copy(a.classes[:], classes)
	if ways > hintWays {
		size := 1
		for size < 2*n {
			size <<= 1
		}
		a.hint, a.hintMask = make([]int32, size), uint64(size-1)
	}
	return a
}

// holds reports whether the array caches class cls.
func (a *array) holds(cls uint8) bool {
	for i := 0; i < a.nclass; i++ {
		if a.classes[i] == cls {
			return true
		}
	}
	return false
}

// setStart returns the index of the first way of the set key (a pageKey)
// maps to.
func (a *array) setStart(key uint64) int {
	vpn := key >> tagVPNShift
	if a.pow2 {
		return int(vpn&a.setMask) * a.ways
	}
	return int(vpn%a.sets) * a.ways
}

// find returns the index of the entry for va visible under pcid (its own or
// a global one), or -1, without touching LRU state.
func (a *array) find(va VirtAddr, pcid uint16) int {
	for c := 0; c < a.nclass; c++ {
		cls := a.classes[c]
		if a.nclsv[cls&3] == 0 {
			continue
		}
		key := pageKey(va, cls)
		want, wantG := key|uint64(pcid), key|tagGlobal
		if a.hint != nil {
			if i := *a.hintSlot(key); a.tags[i] == want || a.tags[i] == wantG {
				return int(i)
			}
		}
		s := a.setStart(key)
		if a.ways == 4 {
			t := a.tags[s : s+4 : s+4]
			switch {
			case t[0] == want || t[0] == wantG:
				return s
			case t[1] == want || t[1] == wantG:
				return s + 1
			case t[2] == want || t[2] == wantG:
				return s + 2
			case t[3] == want || t[3] == wantG:
				return s + 3
			}
			continue
		}
		for i, t := range a.tags[s : s+a.ways] {
			if t == want || t == wantG {
				return s + i
			}
		}
	}
	return -1
}

// touch marks entry i most recently used.
func (a *array) touch(i int) {
	a.clock++
	a.stamps[i] = a.clock
	if a.hint != nil {
		if h := a.hintSlot(a.tags[i] &^ (tagPCIDMask | tagGlobal)); *h != int32(i) {
			*h = int32(i)
			if a.gen != nil { // a hint can decide which of two entries a probe finds
				*a.gen++
			}
		}
	}
}

// lookup is find that marks the entry most recently used.
func (a *array) lookup(va VirtAddr, pcid uint16) int {
	i := a.find(va, pcid)
	if i >= 0 {
		a.touch(i)
	}
	return i
}

// insert fills an entry with tag and contents n, as seen under pcid.
// Entries for the same region visible under pcid are replaced (the first
// one's way is reused and any other is dropped); otherwise it is fill. It
// returns the index used.
func (a *array) insert(tag uint64, n Entry, pcid uint16) int {
	if a.ways == 0 {
		return -1
	}
	key := tag &^ (tagPCIDMask | tagGlobal)
	want, wantG := key|uint64(pcid), key|tagGlobal
	s := a.setStart(key)
	victim := -1
	for i := s; i < s+a.ways; i++ {
		if t := a.tags[i]; t == want || t == wantG {
			a.drop(i)
			if victim < 0 {
				victim = i
			}
		}
	}
	if victim < 0 {
		return a.fill(tag, n)
	}
	a.put(victim, tag, n)
	return victim
}

// fill puts an entry with tag and contents n into an invalid way of its set,
// or else the least recently used one. The caller guarantees that no entry
// for the same region is visible under the entry's PCID (it has just missed
// a lookup). Invalid ways have stamp 0, older than any valid way, so one
// scan for the smallest stamp finds either.
func (a *array) fill(tag uint64, n Entry) int {
	if a.ways == 0 {
		return -1
	}
	s := a.setStart(tag)
	stamps := a.stamps[s : s+a.ways]
	victim, oldest := 0, stamps[0]
	for i := 1; i < len(stamps); i++ {
		if st := stamps[i]; st < oldest {
			oldest, victim = st, i
		}
	}
	victim += s
	if a.tags[victim] != 0 {
		a.drop(victim)
	}
	a.put(victim, tag, n)
	return victim
}

// put stores a valid entry into the invalid way i.
func (a *array) put(i int, tag uint64, n Entry) {
	if a.gen != nil {
		*a.gen++
	}
	a.tags[i] = tag
	a.ents[i] = n
	a.valid++
	a.nclsv[(tag>>tagClassShift)&3]++
	a.touch(i)
}

// drop invalidates entry i, which must be valid.
func (a *array) drop(i int) {
	if a.gen != nil {
		*a.gen++
	}
	a.nclsv[(a.tags[i]>>tagClassShift)&3]--
	a.valid--
	a.tags[i] = 0
	a.stamps[i] = 0
}

// selector chooses entries to invalidate by their key (PCID or global).
type selector struct {
	pcid    uint16
	global  bool // global entries
	local   bool // non-global entries of pcid (of every PCID with anyPCID)
	anyPCID bool
}

var (
	selEverything = selector{global: true, local: true, anyPCID: true}
	selNonGlobal  = selector{local: true, anyPCID: true}
)

// pcidOrGlobal selects what is used for an address under pcid: the PCID's
// own entries and global ones.
func pcidOrGlobal(pcid uint16) selector { return selector{pcid: pcid, global: true, local: true} }

// pcidOnly selects the non-global entries of pcid.
func pcidOnly(pcid uint16) selector { return selector{pcid: pcid, local: true} }

func (s selector) match(tag uint64) bool {
	if tag&tagGlobal != 0 {
		return s.global
	}
	return s.local && (s.anyPCID || tag&tagPCIDMask == uint64(s.pcid))
}

// invalidateVA drops the selected entries for the region holding va, in
// every class the array holds, and returns how many it dropped.
func (a *array) invalidateVA(va VirtAddr, s selector) int {
	if a.valid == 0 {
		return 0
	}
	k := 0
	for c := 0; c < a.nclass; c++ {
		key := pageKey(va, a.classes[c])
		st := a.setStart(key)
		for i := st; i < st+a.ways; i++ {
			if t := a.tags[i]; t&^(tagPCIDMask|tagGlobal) == key && s.match(t) {
				a.drop(i)
				k++
			}
		}
	}
	return k
}

// invalidate drops every selected entry and returns how many it dropped.
func (a *array) invalidate(s selector) int {
	if a.valid == 0 {
		return 0
	}
	k := 0
	for i, t := range a.tags {
		if t != 0 && s.match(t) {
			a.drop(i)
			k++
		}
	}
	return k
}

func (a *array) occupancy() int { return a.valid }
