package tlb

import "github.com/tlbemu/emu/internal/phys"

// Entry is one cached translation (SDM 4.10.2.2): the page frame, the
// effective access rights of the walk, the leaf's dirty flag, global, the PCID
// it was created under, and the page size. LeafPA is not architectural: the
// stale-TLB hazard detector uses it to compare the entry with the current PTE.
type Entry struct {
	vpn    uint64 // va >> PageShiftOf(size)
	pcid   uint16
	valid  bool
	global bool
	size   uint8
	w, u   bool
	nx     bool
	dirty  bool
	base   phys.PFN
	leafPA phys.Addr
	stamp  uint64 // LRU age
}

// array is one set-associative TLB structure.
type array struct {
	sets, ways int
	e          []Entry // sets*ways
	clock      uint64
}

func newArray(entries, ways int) array {
	if entries <= 0 {
		return array{}
	}
	if ways <= 0 || ways > entries {
		ways = entries
	}
	return array{sets: entries / ways, ways: ways, e: make([]Entry, (entries/ways)*ways)}
}

// lookup returns the entry for vpn visible under pcid, or nil.
func (a *array) lookup(vpn uint64, pcid uint16) *Entry {
	if a.sets == 0 {
		return nil
	}
	s := int(vpn%uint64(a.sets)) * a.ways
	set := a.e[s : s+a.ways]
	for i := range set {
		e := &set[i]
		if e.valid && e.vpn == vpn && (e.pcid == pcid || e.global) {
			a.clock++
			e.stamp = a.clock
			return e
		}
	}
	return nil
}

// insert fills an entry, replacing an entry for the same (vpn, pcid) or the
// least recently used way.
func (a *array) insert(n Entry) {
	if a.sets == 0 {
		return
	}
	s := int(n.vpn%uint64(a.sets)) * a.ways
	set := a.e[s : s+a.ways]
	victim := 0
	for i := range set {
		e := &set[i]
		if e.valid && e.vpn == n.vpn && (e.pcid == n.pcid || e.global) {
			victim = i
			break
		}
		if !e.valid {
			victim = i
			break
		}
		if e.stamp < set[victim].stamp {
			victim = i
		}
	}
	a.clock++
	n.valid = true
	n.stamp = a.clock
	set[victim] = n
}

// invalidate drops the entries for which drop returns true and returns how
// many were dropped.
func (a *array) invalidate(drop func(e *Entry) bool) int {
	k := 0
	for i := range a.e {
		e := &a.e[i]
		if e.valid && drop(e) {
			e.valid = false
			k++
		}
	}
	return k
}

// invalidateVA drops the entries for the page containing va that drop accepts,
// looking only in the set va maps to.
func (a *array) invalidateVA(va VirtAddr, size uint8, drop func(e *Entry) bool) int {
	if a.sets == 0 {
		return 0
	}
	vpn := uint64(va) >> PageShiftOf(size)
	s := int(vpn%uint64(a.sets)) * a.ways
	k := 0
	for i := s; i < s+a.ways; i++ {
		e := &a.e[i]
		if e.valid && e.vpn == vpn && e.size == size && drop(e) {
			e.valid = false
			k++
		}
	}
	return k
}

func (a *array) occupancy() int {
	k := 0
	for i := range a.e {
		if a.e[i].valid {
			k++
		}
	}
	return k
}
