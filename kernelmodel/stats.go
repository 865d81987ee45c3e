package kernelmodel

import "github.com/tlbemu/emu/tlb"

// Stats returns what the run counted. Names follow the kernel (vmstat,
// /proc/interrupts, perf) and carry an emu_ prefix where the count exists
// only in the emulator.
func (m *Machine) Stats() Stats {
	var s Stats
	var instr, cycles, tlbTotal uint64
	var tstats tlb.Stats
	for _, v := range m.cpus {
		instr += v.c.Instructions
		busy := v.c.Clock - v.idleCycles
		if v.idle {
			busy = v.idleSince - v.idleCycles
		}
		cycles += busy
		s.CPUCycles = append(s.CPUCycles, busy)
		s.TLBIRQs = append(s.TLBIRQs, v.tlbIRQs)
		tlbTotal += v.tlbIRQs
		if v.c.Clock > s.Elapsed {
			s.Elapsed = v.c.Clock
		}
		st := v.c.MMU.Stats
		tstats.DTLBLoadMissesWalkDone += st.DTLBLoadMissesWalkDone
		tstats.DTLBStoreMissesWalkDone += st.DTLBStoreMissesWalkDone
		tstats.DTLBLoadMissesSTLBHit += st.DTLBLoadMissesSTLBHit
		tstats.DTLBStoreMissesSTLBHit += st.DTLBStoreMissesSTLBHit
		tstats.ITLBMissesWalkDone += st.ITLBMissesWalkDone
		tstats.WalkActiveCycles += st.WalkActiveCycles
	}
	hazards := m.writeAfterCOW + m.lostSoftDirty + m.missedUffdWP + m.writeToWrprotected
	add := func(name string, v uint64, unit string) { s.Counters = append(s.Counters, Counter{name, v, unit}) }
	add("nr_tlb_remote_flush", m.nrTLBRemoteFlush, "")
	add("nr_tlb_remote_flush_received", m.nrTLBRemoteFlushReceived, "")
	add("nr_tlb_local_flush_one", m.nrTLBLocalFlushOne, "")
	add("nr_tlb_local_flush_all", m.nrTLBLocalFlushAll, "")
	add("interrupts.TLB", tlbTotal, "")
	add("page-faults", m.pgfault, "")
	add("instructions", instr, "")
	add("emu_parallel_instructions", m.parallelInstructions(), "")
	add("cycles", cycles, "cycles")
	add("emu_elapsed_cycles", s.Elapsed, "cycles")
	add("emu_ipis_sent", m.ipisSent, "")
	add("emu_flush_pending_flushes", m.flushPendingFlushes, "")
	add("emu_anon_faults", m.anonFaults, "")
	add("emu_wp_reuse", m.wpReuse, "")
	add("emu_wp_copy", m.wpCopy, "")
	add("emu_wp_copy_page_count", m.wpCopyPageCount, "")
	add("emu_context_switches", m.contextSwitches, "")
	add("emu_ptl_wait_cycles", m.ptlWaitCycles, "cycles")
	add("emu_mmap_lock_wait_cycles", m.mmapLockWaitCycles, "cycles")
	add("emu_lru_lock_wait_cycles", m.lruLockWaitCycles, "cycles")
	if m.on.vmaLocks() { // only with per-VMA locks, so the v5.10 counter set is unchanged
		add("vma_lock_success", m.vmaLockSuccess, "")
		add("vma_lock_abort", m.vmaLockAbort, "")
		add("vma_lock_retry", m.vmaLockRetry, "")
		add("emu_vma_lock_wait_cycles", m.vmaLockWaitCycles, "cycles")
	}
	add("dtlb_load_misses.walk_completed", tstats.DTLBLoadMissesWalkDone, "")
	add("dtlb_store_misses.walk_completed", tstats.DTLBStoreMissesWalkDone, "")
	add("dtlb_load_misses.stlb_hit", tstats.DTLBLoadMissesSTLBHit, "")
	add("dtlb_store_misses.stlb_hit", tstats.DTLBStoreMissesSTLBHit, "")
	add("itlb_misses.walk_completed", tstats.ITLBMissesWalkDone, "")
	add("dtlb_misses.walk_active", tstats.WalkActiveCycles, "cycles")
	if h, mi, fa := m.PageCacheCounts(); h+mi > 0 { // only for runs that used a file (pagecache.go)
		add("emu_pagecache_hits", h, "")
		add("emu_pagecache_misses", mi, "")
		add("emu_fault_around_pages", fa, "pages")
	}
	if m.cfg.THP { // only with THP, so the THP-off counter set is unchanged
		add("thp_fault_alloc", m.thpFaultAlloc, "")
		add("thp_split_pmd", m.thpSplitPMD, "")
	}
	if m.cfg.Flush != "" { // only with a -flush chosen, so the default counter set is unchanged
		var lost uint64
		for _, v := range m.cpus {
			lost += v.bcv.lostUserPCIDFlushes
		}
		add("emu_global_asids", m.bc.gasid.assigned, "")
		add("emu_broadcast_flushes", m.bc.bcastFlushes, "")
		add("emu_invlpgb", m.bc.invlpgbs, "")
		add("emu_tlbsync_wait_cycles", m.bc.tlbsyncWait, "cycles")
		add("emu_rar_requests", m.bc.rar.reqs, "")
		add("emu_rar_actions", m.bc.rar.actions, "")
		add("emu_rar_stall_cycles", m.bc.stallCycles, "cycles")
		add("emu_lost_user_pcid_flushes", lost, "")
		add("emu_tlb_invalidation_cycles", m.bc.invalCycles+m.bc.stallCycles, "cycles")
	}
	if m.k6.lazyCPUMask { // only with 209954cbc7d0, so the v5.10 counter set is unchanged
		add("tlb:tlb_flush.TLB_REMOTE_WRONG_CPU", m.k6.wrongCPU, "") // 2815a56e4b72
	}
	if m.k6.trimCPUMask {
		add("emu_cpumask_trim_flushes", m.k6.trimFlushes, "")
	}
	if m.cfg.Idle == IdleC6 { // only with -idle c6, so the default counter set is unchanged
		add("emu_c6_entries", m.idle.c6Entries, "")
		add("emu_c6_exit_cycles", m.idle.c6ExitCycles, "cycles")
		add("emu_idle_leave_mm", m.idle.leaveMMs, "")
	}
	if m.cfg.MmapLockSleep {
		add("emu_mmap_lock_sleeps", m.idle.lockSleeps, "")
	}
	add("emu_stale_tlb_writes", hazards, "")
	add("emu_write_after_cow", m.writeAfterCOW, "")
	add("emu_lost_soft_dirty", m.lostSoftDirty, "")
	add("emu_lost_soft_dirty_pages", m.lostSoftDirtyPages, "")
	add("emu_lost_soft_dirty_pages_clearer", m.lostSoftDirtyClearer, "")
	add("emu_missed_uffd_wp", m.missedUffdWP, "")
	add("emu_lost_uffd_wp_faults", m.lostUffdWPFaults, "")
	add("emu_lost_cow_pages", m.lostCOWPages, "")
	add("emu_write_to_wrprotected", m.writeToWrprotected, "")
	add("emu_stale_tlb_writes_in_window", m.staleInWindow, "")
	for r := FlushReason(0); r < nrFlushReasons; r++ {
		var n uint64
		for _, c := range m.flushEvents[r] {
			n += c
		}
		add("tlb:tlb_flush."+r.String(), n, "")
	}
	for r := FlushReason(0); r < nrFlushReasons; r++ {
		h := Hist{Name: "tlb_flush_pages", Key: r.String()}
		for pages, c := range m.flushEvents[r] {
			h.Buckets = append(h.Buckets, Bucket{pages, c})
		}
		sortBuckets(h.Buckets)
		if len(h.Buckets) > 0 {
			s.Hists = append(s.Hists, h)
		}
	}
	s.Hists = append(s.Hists,
		Hist{Name: "ipis_per_flush", Buckets: sortedBuckets(m.ipisPerFlush)},
		Hist{Name: "flush_cycles", Log2: true, Buckets: sortedBuckets(m.flushCycles)},
		Hist{Name: "fault_cycles", Log2: true, Buckets: sortedBuckets(m.faultCycles)},
		Hist{Name: "ptl_wait_cycles", Log2: true, Buckets: sortedBuckets(m.ptlWaits)},
	)
	return s
}
