package kernelmodel

import "github.com/tlbemu/emu/internal/phys"

// The LRU lock (pgdat->lru_lock at v5.10, Machine.lruLock) is taken once
// per batch of pages: by __pagevec_lru_add when a CPU's lru_add pagevec
// drains, and by release_pages when an mmu_gather frees its batch. It is a
// spin_lock_irqsave: the holder and the waiters run with interrupts off, so
// a TLB-flush IPI to a CPU queued on it waits for the lock to come round.

// pagevecSize is PAGEVEC_SIZE (include/linux/pagevec.h, v5.10).
const pagevecSize = 15

// swapClusterMax is SWAP_CLUSTER_MAX (include/linux/swap.h, v5.10): how
// many pages release_pages handles before it drops and retakes the LRU
// lock ("Make sure the IRQ-safe lock-holding time does not get excessive").
const swapClusterMax = 32

// lruLockIRQSave takes the LRU lock with interrupts off (spin_lock_irqsave).
// Taken without waiting after another CPU held it, the lock's line and the
// LRU lists' heads are in that CPU's cache: one line hand-off (lineHandoff:
// within or across a CCX), charged under
// the lock (ASSUMPTION: both lines move as one hand-off; a contended
// acquisition already pays one in spinLock).
func (v *VCPU) lruLockIRQSave() {
	m := v.m
	v.irqOff++
	from := m.lruLockLast
	moved := m.lruLock.owner == nil && from != nil && from != v
	v.spinLock(&m.lruLock)
	m.lruLockLast = v
	if moved {
		v.spend(v.lineHandoff(from))
	}
}

// lruUnlockIRQRestore drops it (spin_unlock_irqrestore); interrupts that
// came in meanwhile are taken at the next preempt.
func (v *VCPU) lruUnlockIRQRestore() {
	v.spinUnlock(&v.m.lruLock)
	v.irqOff--
}

// lruCacheAdd models lru_cache_add: a reference held by this CPU's lru_add
// pagevec until it drains at PAGEVEC_SIZE (15) pages (mm/swap.c).
func (v *VCPU) lruCacheAdd(p phys.PFN) {
	v.c.Clock += v.m.cfg.Costs.RmapLRU // with the caller's page_add_new_anon_rmap
	v.m.getPage(p)
	v.lruAdd = append(v.lruAdd, p)
	if len(v.lruAdd) == pagevecSize {
		v.lruAddDrain()
	}
}

// lruAddDrain models lru_add_drain (mm/swap.c, v5.10: lru_add_drain_cpu of
// this CPU → __pagevec_lru_add): under the LRU lock,
// taken once for the batch, each page goes on the LRU
// (__pagevec_lru_add_fn, LRULockPage cycles); after the unlock the
// pagevec's references are dropped (release_pages; the pages are mapped,
// so none is freed there). Only the calling CPU's pagevec drains.
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
	for _, p := range v.lruAdd {
		m.putPage(p)
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
func (v *VCPU) releasePages(pages []phys.PFN) {
	m := v.m
	locked := false
	batch := 0
	for _, p := range pages {
		if locked {
			if batch++; batch == swapClusterMax {
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
