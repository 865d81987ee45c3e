//go:build ignore

// Guest source, built by build.sh: the constraint above stops the go command
// from rejecting C files in this non-cgo package.

/*
 * tlb_flush2_lru - tlb_flush2 with 32-page batches: LRU work per flush.
 *
 * The loop of tlb_flush2.c, but each thread stores into 32 consecutive
 * pages before one madvise(MADV_DONTNEED) discards all 32, so one TLB
 * flush (a ranged one: 32 pages is under tlb_single_page_flush_ceiling,
 * 33, arch/x86/mm/tlb.c) covers 32 ops while the per-page LRU work
 * stays: every write fault's lru_cache_add fills this CPU's lru_add
 * pagevec, which drains (__pagevec_lru_add, under the lruvec's
 * lru_lock) at PAGEVEC_SIZE = 15 pages (mm/swap.c, v5.10), twice per
 * batch, then lru_add_drain in madvise_dontneed_single_vma drains the
 * rest, and tlb_finish_mmu -> release_pages takes the pages off the LRU
 * again. This is the mix of Rik van Riel's INVLPGB discussion of
 * tlb_flush2_threads, where, with the flush made cheap, throughput was
 * bound by lru_lock contention. Ops, the report on fd 1 and the
 * parameters are tlb_flush2's.
 */
#define BATCH_PAGES 32
#include "tlb_flush2.c"
