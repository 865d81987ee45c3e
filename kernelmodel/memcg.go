package kernelmodel

// The memory cgroup's page counters (mm/memcontrol.c, mm/page_counter.c,
// v6.18). Every anonymous and page-cache page is charged to the task's
// memcg when it is allocated and uncharged when it is freed; the counts
// live in one page_counter per level of the cgroup hierarchy
// (Costs.MemcgLevels), each a shared atomic_long_t that every CPU of the
// workload writes. The per-page bookkeeping that stays on the CPU
// (commit_charge, the per-CPU statistics) is part of Costs.RmapLRU.
//
//   - Charge: charge_memcg → try_charge first takes the page from this
//     CPU's memcg_stock (consume_stock); when the stock is empty it
//     charges MEMCG_CHARGE_BATCH (64) pages at once with
//     page_counter_try_charge, one atomic_long_add_return per level, and
//     keeps the rest in the stock (refill_stock).
//   - Uncharge: folios_put_refs (release_pages before v6.9) calls
//     mem_cgroup_uncharge_folios for the batch it freed, after dropping
//     the lruvec lock; uncharge_batch → memcg_uncharge →
//     page_counter_uncharge → page_counter_cancel, one
//     atomic_long_sub_return per level, once per batch (the model has one
//     memcg, so one uncharge_batch per call). Uncharges do not go through
//     the stock.
//
// The charge is made from lruCacheAdd, which every new anonymous or page-
// cache page reaches a few steps after do_anonymous_page's (or
// wp_page_copy's, or the page cache's) mem_cgroup_charge, within the same
// fault: the cost lands a little later in the same path, not in another.
//
// Each level's atomic is one locked RMW; when another CPU wrote the
// counters last, their lines move here first (one lineHandoff per level:
// the levels are written together, so one last writer stands for all).
// Frees outside the batched paths (a lone put_page's __folio_put →
// mem_cgroup_uncharge) are not charged.

// memcgChargeBatch is MEMCG_CHARGE_BATCH (include/linux/memcontrol.h).
const memcgChargeBatch = 64

// memcg holds the CPU that last wrote the page counters.
type memcg struct{ writer lineWriter }

// pageCounterRMW charges one atomic on each level's page_counter.
func (v *VCPU) pageCounterRMW() {
	m := v.m
	c := &m.cfg.Costs
	per := c.LockedRMW
	if h, ok := v.handoffFrom(m.memcg.writer); ok {
		per += h
	}
	v.spend(c.MemcgLevels * per)
	m.memcg.writer.wrote(v)
}

// memcgCharge models mem_cgroup_charge of one page (charge_memcg →
// try_charge): from the per-CPU stock, refilled a batch at a time.
func (v *VCPU) memcgCharge() {
	if v.memcgStock == 0 {
		v.pageCounterRMW() // page_counter_try_charge of the batch
		v.memcgStock = memcgChargeBatch
	}
	v.memcgStock--
}

// memcgUncharge models mem_cgroup_uncharge_folios of a batch in which
// pages were freed (n > 0).
func (v *VCPU) memcgUncharge(n int) {
	if n > 0 {
		v.pageCounterRMW()
	}
}
