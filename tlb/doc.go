// Package tlb owns one vCPU's paging unit: the x86-64 4-level page walker,
// the TLBs (L1 ITLB, L1 DTLB per page size, a second-level TLB) and the
// paging-structure caches, with their invalidation by INVLPG, INVPCID, MOV
// to CR3/CR4 and page faults.
//
// The model follows Intel SDM Vol. 3A chapter 4 (4.5 formats, 4.6 rights, 4.7
// #PF error code, 4.8 A/D bits, 4.10 caching and invalidation) and
// the INVLPG / INVPCID reference pages of Vol. 2. Where the SDM allows a processor to cache more or to
// invalidate more, the model caches what it walked and invalidates exactly
// what the SDM requires: stale-TLB bugs in the modelled kernel must stay
// visible. Geometry and costs come from Config (config.go);
// every default cites its source or says ASSUMPTION.
//
// Ownership: an MMU belongs to one vCPU goroutine. Page tables live in
// phys.Memory and may be changed concurrently by the kernel model through
// its atomic PTE accessors; the walker reads them atomically and sets A/D
// bits with compare-and-swap (a locked RMW, SDM 4.8).
//
// Hot path: an L1 hit is an index, one or two tag compares and a rights
// check, with no allocation (TestTranslateDoesNotAllocate). A repeated L1
// hit is answered by a host-side memo (memo.go; MMU.Hit, which the
// interpreter inlines) that skips the probe but counts and updates LRU
// state exactly as the probe would (TestMemoEquivalence).
package tlb
