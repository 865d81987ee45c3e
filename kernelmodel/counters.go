package kernelmodel

import "sort"

// FlushReason is the kernel's enum tlb_flush_reason (include/linux/mm_types.h,
// v5.10), the reason field of the tlb:tlb_flush tracepoint.
type FlushReason int

// The reasons, in the kernel's order.
const (
	TLBFlushOnTaskSwitch FlushReason = iota // "flush on task switch"
	TLBRemoteShootdown                      // "remote shootdown"
	TLBLocalShootdown                       // "local shootdown"
	TLBLocalMMShootdown                     // "local mm shootdown"
	TLBRemoteSendIPI                        // "remote ipi send"
	nrFlushReasons
)

// FlushAll is the tracepoint's pages value for a full flush (TLB_FLUSH_ALL
// printed with %ld).
const FlushAll = -1

var reasonNames = [...]string{"TLB_FLUSH_ON_TASK_SWITCH", "TLB_REMOTE_SHOOTDOWN", "TLB_LOCAL_SHOOTDOWN", "TLB_LOCAL_MM_SHOOTDOWN", "TLB_REMOTE_SEND_IPI"}
var reasonStrings = [...]string{"flush on task switch", "remote shootdown", "local shootdown", "local mm shootdown", "remote ipi send"}

// String returns the enum name.
func (r FlushReason) String() string { return reasonNames[r] }

// Text returns the string the tracepoint prints.
func (r FlushReason) Text() string { return reasonStrings[r] }

// counters are the run's event counts, each counted at the code point the
// kernel counts it (count_vm_tlb_event, inc_irq_stat, trace_tlb_flush in
// arch/x86/mm/tlb.c at v5.10). Only the vCPU holding the baton
// touches them.
type counters struct {
	nrTLBRemoteFlush         uint64 // native_flush_tlb_others, once per request
	nrTLBRemoteFlushReceived uint64 // flush_tlb_func_remote after the loaded_mm check
	nrTLBLocalFlushAll       uint64 // flush_tlb_func_common full path, local only
	nrTLBLocalFlushOne       uint64 // flush_tlb_func_common partial path, local only, pages
	pgfault                  uint64 // handle_mm_fault: count_vm_event(PGFAULT)
	wpReuse, wpCopy          uint64 // do_wp_page outcomes
	wpCopyPageCount          uint64 // copies forced by page_count != 1 of an exclusively mapped page
	anonFaults               uint64 // do_anonymous_page
	thpFaultAlloc            uint64 // THP_FAULT_ALLOC
	thpSplitPMD              uint64 // THP_SPLIT_PMD
	ipisSent                 uint64
	flushPendingFlushes      uint64 // flushes issued by the pte-fault/uffd-wp pending checks
	writeAfterCOW            uint64
	lostSoftDirty            uint64
	lostSoftDirtyPages       uint64 // (page, clear_refs interval) pairs written but not soft-dirty at its end
	lostSoftDirtyClearer     uint64 // the same, for pages only the clearing thread stored to
	missedUffdWP             uint64
	writeToWrprotected       uint64
	staleInWindow            uint64
	ptlWaitCycles            uint64
	mmapLockWaitCycles       uint64
	vmaLockWaitCycles        uint64 // vma_start_write waiting for a VMA's readers (vma_lock.go)
	vmaLockSuccess           uint64 // VMA_LOCK_SUCCESS (CONFIG_PER_VMA_LOCK_STATS)
	vmaLockAbort             uint64 // VMA_LOCK_ABORT
	vmaLockRetry             uint64 // VMA_LOCK_RETRY
	lruLockWaitCycles        uint64 // contended lru_lock acquisitions (lru.go)
	contextSwitches          uint64
	flushEvents              [nrFlushReasons]map[int64]uint64 // pages → events
	flushCycles              map[uint64]uint64                // initiator cycles per flush_tlb_mm_range, log2 bucket → count
	ipisPerFlush             map[uint64]uint64                // IPIs sent per flush_tlb_mm_range → count
	faultCycles              map[uint64]uint64                // page-fault latency in cycles, log2 bucket → count
	ptlWaits                 map[uint64]uint64                // PTE-lock wait cycles per contended acquisition, log2 bucket → count
	sdIntervals              map[*MM]*sdInterval              // open clear_refs intervals (clear_refs.go)
	lostCOWPages             uint64                           // lost COW copies: (old frame, nth copy of it) pairs (hazard.go)
	lostUffdWPFaults         uint64                           // missed uffd-wp faults: (mm, page, UFFDIO_WRITEPROTECT epoch) triples (hazard.go)
	lostCOWSeen              map[cowCopy]bool
	lostUffdWPSeen           map[uffdWPFault]bool
}

func (c *counters) init() {
	for i := range c.flushEvents {
		c.flushEvents[i] = map[int64]uint64{}
	}
	c.flushCycles = map[uint64]uint64{}
	c.ipisPerFlush = map[uint64]uint64{}
	c.faultCycles = map[uint64]uint64{}
	c.ptlWaits = map[uint64]uint64{}
	c.sdIntervals = map[*MM]*sdInterval{}
	c.lostCOWSeen = map[cowCopy]bool{}
	c.lostUffdWPSeen = map[uffdWPFault]bool{}
}

// traceTLBFlush models trace_tlb_flush(reason, pages).
func (c *counters) traceTLBFlush(r FlushReason, pages int64) { c.flushEvents[r][pages]++ }

func log2Bucket(v uint64) uint64 {
	if v == 0 {
		return 0
	}
	b := uint64(1)
	for b <= v/2 {
		b <<= 1
	}
	return b
}

// Counter is one named count of a finished run.
type Counter struct {
	Name  string
	Value uint64
	Unit  string // "" for events, "cycles", "pages"
}

// Hist is an exact or log2-bucketed histogram: Buckets maps the low bound
// (or the exact value) to a count.
type Hist struct {
	Name    string
	Key     string // e.g. the flush reason
	Log2    bool   // buckets are [b, 2b)
	Buckets []Bucket
}

// Bucket is one histogram bucket.
type Bucket struct {
	Value int64
	Count uint64
}

// Stats is what a run counted, in report order.
type Stats struct {
	Counters  []Counter
	TLBIRQs   []uint64 // /proc/interrupts TLB row, per CPU
	CPUCycles []uint64 // busy cycles per CPU
	Hists     []Hist
	Elapsed   uint64 // the largest vCPU clock at the end
}

// Get returns the value of the named counter.
func (s *Stats) Get(name string) (uint64, bool) {
	for _, c := range s.Counters {
		if c.Name == name {
			return c.Value, true
		}
	}
	return 0, false
}

func sortedBuckets(m map[uint64]uint64) []Bucket {
	var b []Bucket
	for k, v := range m {
		b = append(b, Bucket{int64(k), v})
	}
	sortBuckets(b)
	return b
}

func sortBuckets(b []Bucket) {
	sort.Slice(b, func(i, j int) bool { return b[i].Value < b[j].Value })
}
