package kernelmodel

import "github.com/tlbemu/emu/internal/phys"

// The LRU lock (pgdat->lru_lock at v5.10, Machine.lruLock) is taken once
// per batch of pages: by __pagevec_lru_add when a CPU's lru_add pagevec
// drains, and by release_pages when an mmu_gather frees its batch. It is a
// spin_lock_irqsave: the holder and the waiters run with interrupts off, so
// a TLB-flush IPI to a CPU queued on it waits for the lock to come round.

// pagevecSize is PAGEVEC_SIZE (include/linux/pagevec.h, v5.10).
const pagevecSize = 15

// folioBatchSize is PAGEVEC_SIZE from 9cecde80aae0 "mm: increase folio
// batch size" (v6.9) on, the size of a struct folio_batch
// (include/linux/pagevec.h, v6.18: "31 pointers + header").
const folioBatchSize = 31

// lruBatch is how many pages the per-CPU lru_add batch holds before it
// drains: a pagevec (v5.10) or, with PatchFolioBatch, a folio_batch.
func (v *VCPU) lruBatch() int {
	if v.m.cfg.Has(PatchFolioBatch) {
		return folioBatchSize
	}
	return pagevecSize
}

// swapClusterMax is SWAP_CLUSTER_MAX (include/linux/swap.h, v5.10): how
// many pages release_pages handles before it drops and retakes the LRU
// lock ("Make sure the IRQ-safe lock-holding time does not get excessive").
const swapClusterMax = 32

// lruLockIRQSave takes the LRU lock with interrupts off (spin_lock_irqsave).
// A CPU that finds it held spins until the release. The lock is taken in
// machine order, so a release that happened at a time still ahead of this
// CPU's clock (the releaser ran up to a quantum ahead) is waited for too:
// the holds are serialised in emulated time, and a saturated lock shows as
// wait (spinlock.freeAt). Taken after another CPU held it, the
// lock's line and the LRU lists' heads are in that CPU's cache: one locked
// RMW plus one line hand-off (lineHandoff: within or across a CCX), charged
// under the lock (ASSUMPTION: both lines move as one hand-off).
func (v *VCPU) lruLockIRQSave() {
	m := v.m
	l := &m.lruLock
	v.irqOff++
	start := v.c.Clock
	if l.owner != nil {
		v.spinWait(spinState{kind: spinLockWait, lock: l})
	}
	if v.c.Clock < l.freeAt {
		v.c.Clock = l.freeAt // spinning, interrupts off
	}
	if waited := v.c.Clock - start; waited > 0 {
		m.lruLockWaitCycles += waited
		v.trace("lock", l.name+"_wait", start)
	}
	from := l.last // free now, so the last to release it took it last
	v.spinLock(l)  // free now: one locked RMW
	if from != nil && from != v {
		v.spend(v.lineHandoff(from))
	}
}

// lruUnlockIRQRestore drops it (spin_unlock_irqrestore); interrupts that
// came in meanwhile are taken at the next preempt.
func (v *VCPU) lruUnlockIRQRestore() {
	v.spinUnlock(&v.m.lruLock) // sets freeAt and last
	v.irqOff--
}

// lruCacheAdd models lru_cache_add: a reference held by this CPU's lru_add
// pagevec until it drains at PAGEVEC_SIZE (15) pages (mm/swap.c). With
// PatchFolioBatch it is folio_add_lru → __folio_batch_add_and_move
// (mm/swap.c, v6.18), which moves the batch to the LRU when
// folio_batch_add leaves no space: at 31 folios (lruBatch).
func (v *VCPU) lruCacheAdd(p phys.PFN) {
	v.c.Clock += v.m.cfg.Costs.RmapLRU // with the caller's page_add_new_anon_rmap
	v.m.getPage(p)
	v.lruAdd = append(v.lruAdd, p)
	if len(v.lruAdd) == v.lruBatch() {
		v.lruAddDrain()
	}
}

// lruAddDrain models lru_add_drain (mm/swap.c, v5.10: lru_add_drain_cpu of
// this CPU → __pagevec_lru_add): under the LRU lock,
// taken once for the batch, each page goes on the LRU
// (__pagevec_lru_add_fn, LRULockPage cycles); after the unlock the
// pagevec's references are dropped (release_pages; v6.18's
// folio_batch_move_lru → folios_put). A page unmapped while it waited in
// the pagevec (PatchLRUDrainRemoval: zap no longer drains first) loses its
// last reference there and comes off the LRU under the lock again, as
// release_pages does it. Only the calling CPU's pagevec drains.
func (v *VCPU) lruAddDrain() {
	if len(v.lruAdd) == 0 {
		return
	}
	m := v.m
	v.lruLockIRQSave()
	for _, p := range v.lruAdd {
		m.pages[p].lru = true
	}
	// Held across emulated time, so other CPUs find it taken.
	v.spend(uint64(len(v.lruAdd)) * m.cfg.Costs.LRULockPage)
	v.lruUnlockIRQRestore()
	locked := false
	for _, p := range v.lruAdd { // at most 31 pages: one lock_batch
		if pg := &m.pages[p]; pg.refcount == 1 && pg.lru {
			if !locked {
				v.lruLockIRQSave()
				locked = true
			}
			pg.lru = false // __ClearPageLRU
			v.spend(m.cfg.Costs.LRULockPage)
		}
		m.putPage(p)
	}
	if locked {
		v.lruUnlockIRQRestore()
	}
	v.lruAdd = v.lruAdd[:0]
	v.preempt()
}

// releasePages models release_pages (mm/swap.c, v5.10) for an mmu_gather's
// batch: each page's reference is dropped; a page whose last reference
// goes and that is on the LRU is taken off it under the LRU lock
// (LRULockPage cycles), which is taken at the first such page and dropped
// and retaken every SWAP_CLUSTER_MAX pages (lock_batch, counted over every
// page seen while it is held) and at the end.
//
// With PatchFolioBatch it is v6.18's: free_pages_and_swap_cache gathers
// the pages into a folio_batch of 31 and hands each full batch to
// folios_put_refs (99fbb6bfc16f "mm: make folios_put() the basis of
// release_pages()", v6.9), which takes the lruvec lock at the batch's
// first LRU folio whose last reference goes (__page_cache_release →
// folio_lruvec_relock_irqsave) and drops it at the batch's end, before
// mem_cgroup_uncharge_folios and free_unref_folios.
func (v *VCPU) releasePages(pages []phys.PFN) {
	m := v.m
	folios := m.cfg.Has(PatchFolioBatch)
	locked := false
	batch := 0
	for i, p := range pages {
		if locked {
			if folios {
				if i%folioBatchSize == 0 { // folios_put_refs' end
					v.lruUnlockIRQRestore()
					locked = false
					v.preempt()
				}
			} else if batch++; batch == swapClusterMax {
				v.lruUnlockIRQRestore()
				locked = false
				v.preempt()
			}
		}
		pg := &m.pages[p]
		pg.gathered--
		if pg.refcount == 1 && pg.lru { // put_page_testzero, then PageLRU
			if !locked {
				v.lruLockIRQSave()
				locked, batch = true, 0
			}
			pg.lru = false // __ClearPageLRU
			v.spend(m.cfg.Costs.LRULockPage)
		}
		m.putPage(p)
	}
	if locked {
		v.lruUnlockIRQRestore()
		v.preempt()
	}
}
