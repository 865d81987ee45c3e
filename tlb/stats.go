package tlb

// Stats counts translation and invalidation events of one vCPU. Counters that
// model an Intel perf event (Skylake names, `perf list`) say so; Each reports
// them under those names. Owned by the vCPU goroutine.
//
// A translation that misses the L1 and the second level starts a walk
// (miss_causes_a_walk); a walk that ends in a translation is walk_completed
// (and _4k/_2m_4m/_1g by page size); a faulting walk is not. The re-walk of a
// write through a clean (D=0) entry is a dirty assist, not a miss: it is
// counted in DirtyAssists and its cycles in the store walk_active.
type Stats struct {
	DTLBLoadHits            uint64 // L1 DTLB hits on loads
	DTLBStoreHits           uint64 // L1 DTLB hits on stores
	DTLBLoadMissesSTLBHit   uint64 // dtlb_load_misses.stlb_hit
	DTLBStoreMissesSTLBHit  uint64 // dtlb_store_misses.stlb_hit
	DTLBLoadMissesWalkDone  uint64 // dtlb_load_misses.walk_completed
	DTLBStoreMissesWalkDone uint64 // dtlb_store_misses.walk_completed
	ITLBMissesSTLBHit       uint64 // itlb_misses.stlb_hit
	ITLBMissesWalkDone      uint64 // itlb_misses.walk_completed
	WalkActiveCycles        uint64 // sum of the three *.walk_active counters
	DirtyAssists            uint64 // writes through a W=1,D=0 entry that re-walked to set D
	PageFaults              uint64 // #PF raised by translation
	Invlpg, Invpcid         uint64 // INVLPG and INVPCID (all types) executed
	CR3Writes, CR3NoFlush   uint64 // MOV to CR3; those with bit 63 set and PCIDE=1
	EntriesInvalidated      uint64 // TLB entries dropped by invalidations and faults

	ITLBHits uint64 // L1 ITLB hits

	DTLBLoadMissesWalk       uint64 // dtlb_load_misses.miss_causes_a_walk
	DTLBLoadMissesWalkDone4K uint64 // dtlb_load_misses.walk_completed_4k
	DTLBLoadMissesWalkDone2M uint64 // dtlb_load_misses.walk_completed_2m_4m
	DTLBLoadMissesWalkDone1G uint64 // dtlb_load_misses.walk_completed_1g
	DTLBLoadMissesWalkActive uint64 // dtlb_load_misses.walk_active (cycles)

	DTLBStoreMissesWalk       uint64 // dtlb_store_misses.miss_causes_a_walk
	DTLBStoreMissesWalkDone4K uint64 // dtlb_store_misses.walk_completed_4k
	DTLBStoreMissesWalkDone2M uint64 // dtlb_store_misses.walk_completed_2m_4m
	DTLBStoreMissesWalkDone1G uint64 // dtlb_store_misses.walk_completed_1g
	DTLBStoreMissesWalkActive uint64 // dtlb_store_misses.walk_active (cycles)

	ITLBMissesWalk       uint64 // itlb_misses.miss_causes_a_walk
	ITLBMissesWalkDone4K uint64 // itlb_misses.walk_completed_4k
	ITLBMissesWalkDone2M uint64 // itlb_misses.walk_completed_2m_4m
	ITLBMissesWalkDone1G uint64 // itlb_misses.walk_completed_1g
	ITLBMissesWalkActive uint64 // itlb_misses.walk_active (cycles)

	WalkRefs     uint64 // paging-structure entries read from memory by walks
	PSCPML4EHits uint64 // walks that started from a PML4E-cache entry (read 3 levels or fewer)
	PSCPDPTEHits uint64 // walks that started from a PDPTE-cache entry
	PSCPDEHits   uint64 // walks that started from a PDE-cache entry (read the PTE only)
	ADUpdates    uint64 // locked A/D updates of paging-structure entries
	CachedFaults uint64 // #PF raised from the rights of a cached entry, without a walk
	StaleWrites  uint64 // OnStaleWrite calls (counted only while the hook is set)

	InvpcidByType         [4]uint64 // INVPCID by type 0..3
	CR4Flushes            uint64    // MOV to CR4 that flushed everything
	PSCEntriesInvalidated uint64    // paging-structure-cache entries dropped

	Invlpgb        uint64 // INVLPGB issued by this CPU
	Tlbsync        uint64 // TLBSYNC executed by this CPU
	InvlpgbApplied uint64 // broadcast invalidations performed on this CPU's TLBs (its own and others')
}

// Each calls fn for every counter, in a fixed order, with its perf event name
// (lower case, dotted) or, for counters with no hardware event, an "emu."
// name. It does not allocate.
func (s *Stats) Each(fn func(name string, v uint64)) {
	fn("dtlb_load_misses.miss_causes_a_walk", s.DTLBLoadMissesWalk)
	fn("dtlb_load_misses.walk_completed", s.DTLBLoadMissesWalkDone)
	fn("dtlb_load_misses.walk_completed_4k", s.DTLBLoadMissesWalkDone4K)
	fn("dtlb_load_misses.walk_completed_2m_4m", s.DTLBLoadMissesWalkDone2M)
	fn("dtlb_load_misses.walk_completed_1g", s.DTLBLoadMissesWalkDone1G)
	fn("dtlb_load_misses.walk_active", s.DTLBLoadMissesWalkActive)
	fn("dtlb_load_misses.stlb_hit", s.DTLBLoadMissesSTLBHit)
	fn("dtlb_store_misses.miss_causes_a_walk", s.DTLBStoreMissesWalk)
	fn("dtlb_store_misses.walk_completed", s.DTLBStoreMissesWalkDone)
	fn("dtlb_store_misses.walk_completed_4k", s.DTLBStoreMissesWalkDone4K)
	fn("dtlb_store_misses.walk_completed_2m_4m", s.DTLBStoreMissesWalkDone2M)
	fn("dtlb_store_misses.walk_completed_1g", s.DTLBStoreMissesWalkDone1G)
	fn("dtlb_store_misses.walk_active", s.DTLBStoreMissesWalkActive)
	fn("dtlb_store_misses.stlb_hit", s.DTLBStoreMissesSTLBHit)
	fn("itlb_misses.miss_causes_a_walk", s.ITLBMissesWalk)
	fn("itlb_misses.walk_completed", s.ITLBMissesWalkDone)
	fn("itlb_misses.walk_completed_4k", s.ITLBMissesWalkDone4K)
	fn("itlb_misses.walk_completed_2m_4m", s.ITLBMissesWalkDone2M)
	fn("itlb_misses.walk_completed_1g", s.ITLBMissesWalkDone1G)
	fn("itlb_misses.walk_active", s.ITLBMissesWalkActive)
	fn("itlb_misses.stlb_hit", s.ITLBMissesSTLBHit)
	fn("emu.dtlb_load_hits", s.DTLBLoadHits)
	fn("emu.dtlb_store_hits", s.DTLBStoreHits)
	fn("emu.itlb_hits", s.ITLBHits)
	fn("emu.walk_active_cycles", s.WalkActiveCycles)
	fn("emu.walk_refs", s.WalkRefs)
	fn("emu.psc_pml4e_hits", s.PSCPML4EHits)
	fn("emu.psc_pdpte_hits", s.PSCPDPTEHits)
	fn("emu.psc_pde_hits", s.PSCPDEHits)
	fn("emu.ad_updates", s.ADUpdates)
	fn("emu.dirty_assists", s.DirtyAssists)
	fn("emu.page_faults", s.PageFaults)
	fn("emu.cached_faults", s.CachedFaults)
	fn("emu.stale_writes", s.StaleWrites)
	fn("emu.invlpg", s.Invlpg)
	fn("emu.invpcid", s.Invpcid)
	fn("emu.invpcid.type0", s.InvpcidByType[0])
	fn("emu.invpcid.type1", s.InvpcidByType[1])
	fn("emu.invpcid.type2", s.InvpcidByType[2])
	fn("emu.invpcid.type3", s.InvpcidByType[3])
	fn("emu.cr3_writes", s.CR3Writes)
	fn("emu.cr3_noflush", s.CR3NoFlush)
	fn("emu.cr4_flushes", s.CR4Flushes)
	fn("emu.entries_invalidated", s.EntriesInvalidated)
	fn("emu.psc_entries_invalidated", s.PSCEntriesInvalidated)
	fn("emu.invlpgb", s.Invlpgb)
	fn("emu.tlbsync", s.Tlbsync)
	fn("emu.invlpgb_applied", s.InvlpgbApplied)
}

func (s *Stats) walkStarted(acc Access) {
	switch acc {
	case Read:
		s.DTLBLoadMissesWalk++
	case Write:
		s.DTLBStoreMissesWalk++
	default:
		s.ITLBMissesWalk++
	}
}

func (s *Stats) walkActive(acc Access, cycles uint32) {
	c := uint64(cycles)
	s.WalkActiveCycles += c
	switch acc {
	case Read:
		s.DTLBLoadMissesWalkActive += c
	case Write:
		s.DTLBStoreMissesWalkActive += c
	default:
		s.ITLBMissesWalkActive += c
	}
}

func (s *Stats) walkCompleted(acc Access, sz uint8) {
	var total, k4, m2, g1 *uint64
	switch acc {
	case Read:
		total, k4, m2, g1 = &s.DTLBLoadMissesWalkDone, &s.DTLBLoadMissesWalkDone4K, &s.DTLBLoadMissesWalkDone2M, &s.DTLBLoadMissesWalkDone1G
	case Write:
		total, k4, m2, g1 = &s.DTLBStoreMissesWalkDone, &s.DTLBStoreMissesWalkDone4K, &s.DTLBStoreMissesWalkDone2M, &s.DTLBStoreMissesWalkDone1G
	default:
		total, k4, m2, g1 = &s.ITLBMissesWalkDone, &s.ITLBMissesWalkDone4K, &s.ITLBMissesWalkDone2M, &s.ITLBMissesWalkDone1G
	}
	*total++
	switch sz {
	case Size4K:
		*k4++
	case Size2M:
		*m2++
	default:
		*g1++
	}
}
