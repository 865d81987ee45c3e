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
	if v.m.on.folioBatch {
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
// wait (spinlock.freeAt). Taken after another CPU held it, the lock's
// line is in that CPU's cache: one locked RMW plus one line hand-off
// (lineHandoff: within or across a CCX), charged under the lock. A CPU
// that had to wait was spinning on the line, and the hand-off to it takes
// Costs.ContendedHandoffLines transfers instead of one: the queue head of
// queued_spin_lock_slowpath (kernel/locking/qspinlock.c, v6.18) reads the
// lock word in atomic_cond_read_acquire, so the holder's
// queued_spin_unlock store must take the line back, the head's read then
// misses, and its set_locked or cmpxchg takes the line exclusive again.
// The lines the list operations then write are charged by lruvecAddFolio
// and lruvecDelFolio.
func (v *VCPU) lruLockIRQSave() {
	m := v.m
	l := &m.lruLock
	v.irqOff++
	start := v.c.Clock
	if l.owner != 0 {
		v.spinWait(spinState{kind: spinLockWait, lock: l})
	}
	if v.c.Clock < l.freeAt {
		v.c.Clock = l.freeAt // spinning, interrupts off
	}
	waited := v.c.Clock - start
	if waited > 0 {
		m.lruLockWaitCycles += waited
		v.trace("lock", l.name.String()+"_wait", start)
	}
	from := l.last // free now, so the last to release it took it last
	v.spinLock(l)  // free now: one locked RMW
	if h, ok := v.handoffFrom(from); ok {
		n := uint64(1)
		if waited > 0 {
			n = max(m.cfg.Costs.ContendedHandoffLines, 1)
		}
		v.spend(n * h)
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
	v.memcgCharge()                    // the page's mem_cgroup_charge (memcg.go)
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
	// Held across emulated time, so other CPUs find it taken.
	for _, p := range v.lruAdd {
		v.lruvecAddFolio(p)
	}
	v.lruUnlockIRQRestore()
	locked := false
	freed := 0
	for _, p := range v.lruAdd { // at most 31 pages: one lock_batch
		pg := &m.pages[p]
		if pg.refcount == 1 && pg.lru {
			if !locked {
				v.lruLockIRQSave()
				locked = true
			}
			v.lruvecDelFolio(p)
		}
		if pg.refcount == 1 {
			freed++
		}
		m.putPage(p)
	}
	if locked {
		v.lruUnlockIRQRestore()
	}
	v.memcgUncharge(freed) // mem_cgroup_uncharge_list / _folios (memcg.go)
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
// mem_cgroup_uncharge_folios and free_unref_folios. The pages freed are
// uncharged from the memcg once per call (v5.10's mem_cgroup_uncharge_list
// at release_pages' end) or once per folio_batch (memcg.go).
func (v *VCPU) releasePages(pages []phys.PFN) {
	m := v.m
	folios := m.on.folioBatch
	locked := false
	batch, freed := 0, 0
	for i, p := range pages {
		if folios && i > 0 && i%folioBatchSize == 0 { // folios_put_refs' end
			if locked || freed > 0 {
				if locked {
					v.lruUnlockIRQRestore()
					locked = false
				}
				v.memcgUncharge(freed)
				freed = 0
				v.preempt()
			}
		} else if locked && !folios {
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
			v.lruvecDelFolio(p)
		}
		if pg.refcount == 1 {
			freed++
		}
		m.putPage(p)
	}
	if locked {
		v.lruUnlockIRQRestore()
	}
	v.memcgUncharge(freed)
	if locked || freed > 0 {
		v.preempt()
	}
}

// The lruvec's LRU lists (struct lruvec, include/linux/mmzone.h: lists[]
// then lru_lock; v5.10 pgdat->lru_lock beside the lruvec of
// mem_cgroup_per_node) as the lines a holder of the LRU lock writes. A
// page goes on a list with lruvec_add_folio and comes off it with
// lruvec_del_folio (include/linux/mm_inline.h, v6.18; v5.10's
// add_page_to_lru_list and del_page_from_lru_list):
//
//   - list_add(&folio->lru, &lruvec->lists[lru]) writes the list head and
//     the first folio's lru.prev; list_del writes the neighbours' links
//     (the head's, for a folio at either end) and poisons the folio's own;
//   - update_lru_size → mem_cgroup_update_lru_size (mm/memcontrol.c, v6.18;
//     "must be called under lru_lock") writes
//     mz->lru_zone_size[zid][lru] of the memcg's mem_cgroup_per_node;
//     __mod_lruvec_state and __mod_zone_page_state are per-CPU counters
//     (their folds into the shared counters, once per stat threshold, are
//     not modelled).
//
// Each of those lines that another CPU wrote last moves to the holder: one
// line hand-off (lineHandoff, within or across a CCX) under the lock. The
// heads of lists[0..3] (inactive/active anon/file, 16 bytes each) share one
// 64-byte line; lru_zone_size is another; each struct page (64 bytes) one.
// The model keeps two lists, anonymous and file (folio_lru_list; it has no
// active list or reclaim, so no page moves between them), and one memcg
// (the model has no cgroups: every task is in the one its workload runs
// in).

// lruListHead stands for a list's head as a page's neighbour.
const lruListHead = ^phys.PFN(0)

// lruLists is the lruvec: each list's first page (lruListHead: empty;
// New empties both, as a zero PFN is a real frame), and the CPUs that last
// wrote the heads' line and the lru_zone_size line.
type lruLists struct {
	first                [2]phys.PFN
	headWriter, szWriter lineWriter
}

// lruWrite charges the hand-off of a line last written by another CPU and
// makes v its writer.
func (v *VCPU) lruWrite(w *lineWriter) {
	if h, ok := v.handoffFrom(*w); ok {
		v.spend(h)
	}
	w.wrote(v)
}

// lruPageWrite charges the struct page line of p (lruListHead: the heads'
// line), as lruWrite.
func (v *VCPU) lruPageWrite(p phys.PFN) {
	if p == lruListHead {
		v.lruWrite(&v.m.lru.headWriter)
		return
	}
	v.lruWrite(&v.m.pages[p].lruWriter)
}

// lruvecAddFolio models lruvec_add_folio under the LRU lock (lru_add's
// folio_set_lru first): update_lru_size, then list_add at the head of the
// page's list, with LRULockPage cycles of work.
func (v *VCPU) lruvecAddFolio(p phys.PFN) {
	m := v.m
	pg := &m.pages[p]
	pg.lru = true // SetPageLRU / folio_set_lru
	v.lruWrite(&m.lru.szWriter)
	l := &m.lru
	i := 0
	if !pg.anon {
		i = 1
	}
	v.lruWrite(&l.headWriter)
	if f := l.first[i]; f != lruListHead {
		v.lruPageWrite(f) // first->lru.prev = &folio->lru
	}
	v.lruPageWrite(p)
	pg.lruList, pg.lruPrev, pg.lruNext = uint8(i+1), lruListHead, l.first[i]
	if f := l.first[i]; f != lruListHead {
		m.pages[f].lruPrev = p
	}
	l.first[i] = p
	v.spend(m.cfg.Costs.LRULockPage)
}

// lruvecDelFolio models __page_cache_release's lruvec_del_folio under the
// LRU lock (release_pages, folios_put_refs, lru_add_drain's release of a
// page unmapped while batched): __ClearPageLRU, list_del (the folio's own
// line, then its neighbours'), update_lru_size, with LRULockPage cycles.
// A page marked on the LRU without links (set up at boot or exec, or a
// THP: not modelled as list members) pays only for its own line and the
// lru_zone_size line.
func (v *VCPU) lruvecDelFolio(p phys.PFN) {
	m := v.m
	pg := &m.pages[p]
	pg.lru = false // __ClearPageLRU
	v.lruPageWrite(p)
	if pg.lruList != 0 {
		v.lruPageWrite(pg.lruPrev)
		if pg.lruNext != pg.lruPrev {
			v.lruPageWrite(pg.lruNext)
		}
		m.lru.unlink(m, p)
	}
	v.lruWrite(&m.lru.szWriter)
	v.spend(m.cfg.Costs.LRULockPage)
}

// unlink takes p off its list (list_del), without cost.
func (l *lruLists) unlink(m *Machine, p phys.PFN) {
	pg := &m.pages[p]
	i := int(pg.lruList) - 1
	if pg.lruPrev == lruListHead {
		l.first[i] = pg.lruNext
	} else {
		m.pages[pg.lruPrev].lruNext = pg.lruNext
	}
	if pg.lruNext != lruListHead {
		m.pages[pg.lruNext].lruPrev = pg.lruPrev
	}
	pg.lruList = 0
}
