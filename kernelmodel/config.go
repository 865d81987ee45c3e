package kernelmodel

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/tlbemu/emu/cpu"
	"github.com/tlbemu/emu/ipi"
	"github.com/tlbemu/emu/tlb"
)

// Patch names a kernel change the model can switch on. Each changes the model
// only in the place the real change does.
type Patch string

// The modelled patches (DESIGN.md "Kernel variants").
const (
	// PatchPTEFaultFlushPending is Yu Zhao's proposal (LKML 23 Dec 2020,
	// Message-ID X+PE38s2Egq4nzKv@google.com): handle_pte_fault flushes the
	// page before do_wp_page when mm_tlb_flush_pending(mm).
	PatchPTEFaultFlushPending Patch = "pte-fault-flush-pending"
	// PatchUffdWPFlushPending is 6ce64428d620 "mm/userfaultfd: fix memory
	// corruption due to writeprotect": the same flush inside do_wp_page,
	// restricted to uffd-wp VMAs.
	PatchUffdWPFlushPending Patch = "uffd-wp-flush-pending"
	// PatchClearRefsFlush is 912efa17e512 "mm: proc: Invalidate TLB after
	// clearing soft-dirty page state": clear_refs flushes before dropping
	// tlb_flush_pending.
	PatchClearRefsFlush Patch = "clear-refs-flush"
	// PatchClearRefsMmapWriteLock is 29a951dfb3c3 "mm: fix clear_refs_write
	// locking": clear_refs_write holds mmap_lock for write.
	PatchClearRefsMmapWriteLock Patch = "clear-refs-mmap-write-lock"
	// PatchUserPCIDFlushMask is Rik van Riel, "[PATCH v2 1/3] x86/mm: Fix
	// potential overflow in user_pcid_flush_mask" (6 Jun 2025, Msg-Id
	// 20250606171112.4013261-2-riel@surriel.com; v1 "x86/mm: resize
	// user_pcid_flush_mask for PTI / broadcast TLB flush combination", 16
	// May 2025): a bit for every PCID instead of v6.18's unsigned short,
	// which cannot hold a global ASID's kPCID (broadcast.go).
	PatchUserPCIDFlushMask Patch = "user-pcid-flush-mask"
	// PatchConcurrentFlush is 4ce94eabac16 "x86/mm/tlb: Flush remote and
	// local TLBs concurrently" with 4c1ba3923e6c "x86/mm/tlb: Unify
	// flush_tlb_func_local() and flush_tlb_func_remote()" (v5.13):
	// flush_tlb_multi sends the IPIs, runs flush_tlb_func locally while
	// they are in flight, then waits; flush_tlb_func counts irq_tlb_count
	// and NR_TLB_REMOTE_FLUSH_RECEIVED only off the initiating CPU
	// (tlbflush618.go). -flush-order concurrent is the same model.
	PatchConcurrentFlush Patch = "concurrent-flush"
	// PatchLazyCPUMask is 209954cbc7d0 "x86/mm/tlb: Update mm_cpumask
	// lazily" (v6.13): switch_mm_irqs_off leaves the CPU in the previous
	// mm's mm_cpumask, and the first flush IPI that reaches it there clears
	// the bit (flush_tlb_func; tlbflush618.go).
	PatchLazyCPUMask Patch = "lazy-cpumask"
	// PatchCPUMaskTrim is 6db2526c1d69 "x86/mm/tlb: Only trim the
	// mm_cpumask once a second" (v6.13): should_flush_tlb sends the flush
	// IPI to a CPU that no longer runs the mm only when should_trim_cpumask
	// (mm->context.next_trim_cpumask) says a second has passed.
	PatchCPUMaskTrim Patch = "cpumask-trim"
	// PatchAnonExclusive is 6c287605fd56 "mm: remember exclusively mapped
	// anonymous pages with PG_anon_exclusive" (v5.19) with d4c470970d45
	// "mm: optimize do_wp_page() for fresh pages in local LRU pagevecs"
	// (v5.18): a page mapped by one process only is PageAnonExclusive
	// until fork shares it, and do_wp_page reuses such a page, or one
	// whose only extra reference was this CPU's LRU pagevec (drained
	// first), instead of copying it (wp_can_reuse_anon_folio, v6.18).
	PatchAnonExclusive Patch = "anon-exclusive"
	// PatchMprotectWritable is 64fe24a3e05e "mm/mprotect: try avoiding
	// write faults for exclusive anonymous pages when changing protection"
	// (v6.0): mprotect(PROT_WRITE) makes the PTEs of exclusive anonymous
	// pages writable at once (MM_CP_TRY_CHANGE_WRITABLE,
	// can_change_pte_writable), unless soft-dirty or uffd-wp tracking needs
	// the write fault.
	PatchMprotectWritable Patch = "mprotect-writable"
	// PatchFolioBatch is the LRU batching of v6.18 (mm/swap.c): 99fbb6bfc16f
	// "mm: make folios_put() the basis of release_pages()" (v6.9) holds the
	// lruvec lock per folio_batch in folios_put_refs instead of
	// release_pages' SWAP_CLUSTER_MAX lock_batch, and 9cecde80aae0 "mm:
	// increase folio batch size" (v6.9) takes PAGEVEC_SIZE from 15 to 31,
	// so the per-CPU lru_add batch drains half as often (lru.go). Both are
	// in v6.18, but -kernel 6.18 leaves this out (-patch adds it): with
	// v6.18's lru_add_drain in zap (see PatchLRUDrainRemoval) the batch
	// drains at every madvise, and the size does not change the lock's
	// rounds on tlb_flush2.
	PatchFolioBatch Patch = "folio-batch"
	// PatchLRUDrainRemoval is Rik van Riel's "mm: remove unnecessary calls
	// to lru_add_drain" (19 Dec 2024, lkml.org/lkml/2024/12/19/1388, the
	// patch his INVLPGB cover letter measures with): zap_page_range_single
	// and free_pages_and_swap_cache no longer drain this CPU's lru_add
	// batch, so madvise(MADV_DONTNEED) takes the LRU lock only to free the
	// pages. Neither function calls lru_add_drain at v6.16+ (mm/memory.c,
	// mm/swap_state.c); -kernel 6.18 leaves it out so that it is the
	// kernel of the INVLPGB measurement, and -patch adds it.
	PatchLRUDrainRemoval Patch = "lru-drain-removal"
	// PatchPerVMALock is the per-VMA lock of v6.4 (5e31275cc997 "mm: add
	// per-VMA lock and helper functions to control it", 50ee32537206 "mm:
	// introduce lock_vma_under_rcu to be used from arch-specific code",
	// 0bff0aaea03e "x86/mm: try VMA lock-based page fault handling
	// first"), as v6.18 has it: a user fault first read-locks its VMA
	// instead of taking mmap_lock, falling back to mmap_lock when the VMA
	// is write-locked or needs an anon_vma; mmap_lock's writers write-lock
	// the VMAs they change (fb49c455323f "fork: lock VMAs of the parent
	// process when forking") until they unlock (vma_lock.go).
	PatchPerVMALock Patch = "per-vma-lock"
	// PatchMadviseVMALock is Barry Song's "mm: use per_vma lock for
	// MADV_DONTNEED" (v6.17; LKML [PATCH v4], June 2025): MADV_DONTNEED and
	// MADV_FREE inside one VMA run under its read lock instead of
	// mmap_lock (madvise_lock, try_vma_read_lock in mm/madvise.c, v6.18).
	PatchMadviseVMALock Patch = "madvise-vma-lock"
)

// patchesOn is the patches a machine runs with, one field each for those
// the model tests on its fault, page and flush paths (Machine.on).
type patchesOn struct {
	pteFaultFlushPending, uffdWPFlushPending, anonExclusive bool
	clearRefsMmapWriteLock, clearRefsFlush                  bool
	mprotectWritable, folioBatch, lruDrainRemoval           bool
	userPCIDFlushMask                                       bool
	perVMALock, madviseVMALock                              bool
}

func newPatchesOn(c *Config) patchesOn {
	return patchesOn{
		pteFaultFlushPending: c.Has(PatchPTEFaultFlushPending), uffdWPFlushPending: c.Has(PatchUffdWPFlushPending),
		anonExclusive: c.Has(PatchAnonExclusive), clearRefsMmapWriteLock: c.Has(PatchClearRefsMmapWriteLock),
		clearRefsFlush: c.Has(PatchClearRefsFlush), mprotectWritable: c.Has(PatchMprotectWritable),
		folioBatch: c.Has(PatchFolioBatch), lruDrainRemoval: c.Has(PatchLRUDrainRemoval),
		userPCIDFlushMask: c.Has(PatchUserPCIDFlushMask),
		perVMALock:        c.Has(PatchPerVMALock), madviseVMALock: c.Has(PatchMadviseVMALock),
	}
}

// vmaLocks reports whether anything takes VMA locks, so that mmap_lock's
// writers must write-lock what they change (vma_lock.go).
func (p *patchesOn) vmaLocks() bool { return p.perVMALock || p.madviseVMALock }

// PatchInfo describes a patch for `emu list` and -h.
type PatchInfo struct {
	Name    Patch
	Origin  string
	Summary string
}

// Patches lists every modelled patch.
var Patches = []PatchInfo{
	{PatchAnonExclusive, "6c287605fd56, d4c470970d45", "PG_anon_exclusive: do_wp_page reuses an exclusive anonymous page (or one held only by this CPU's LRU pagevec, drained first) instead of copying it"},
	{PatchClearRefsFlush, "912efa17e512", "clear_refs: inc_tlb_flush_pending; walk; flush_tlb_mm; dec_tlb_flush_pending (instead of an empty mmu_gather)"},
	{PatchClearRefsMmapWriteLock, "29a951dfb3c3", "clear_refs_write takes mmap_lock for write for the whole operation"},
	{PatchConcurrentFlush, "4ce94eabac16, 4c1ba3923e6c", "flush_tlb_multi: IPIs first, the initiator's flush_tlb_func while they are in flight, then the wait; the initiator's own call is not counted as a remote one"},
	{PatchCPUMaskTrim, "6db2526c1d69", "should_flush_tlb skips CPUs in mm_cpumask that run another mm, except once a second (should_trim_cpumask) to clear their bits"},
	{PatchFolioBatch, "99fbb6bfc16f, 9cecde80aae0", "folio_batch of 31 (PAGEVEC_SIZE 15 -> 31): lru_add drains every 31 pages; release_pages holds the lruvec lock per batch of 31 in folios_put_refs"},
	{PatchLazyCPUMask, "209954cbc7d0", "switch_mm_irqs_off keeps the CPU in the old mm's mm_cpumask; a flush IPI to a CPU not running the mm clears its bit"},
	{PatchLRUDrainRemoval, "LKML lkml.org/lkml/2024/12/19/1388 (Rik van Riel, 19 Dec 2024)", "zap_page_range_single and free_pages_and_swap_cache do not lru_add_drain: madvise(MADV_DONTNEED) takes the LRU lock only to free pages"},
	{PatchMadviseVMALock, "Barry Song, \"mm: use per_vma lock for MADV_DONTNEED\" (v6.17)", "MADV_DONTNEED/MADV_FREE inside one VMA run under the VMA's read lock (try_vma_read_lock), not mmap_lock"},
	{PatchMprotectWritable, "64fe24a3e05e", "mprotect(PROT_WRITE) maps exclusive anonymous pages writable at once (MM_CP_TRY_CHANGE_WRITABLE) unless soft-dirty or uffd-wp tracking needs the write fault"},
	{PatchPerVMALock, "5e31275cc997, 50ee32537206, 0bff0aaea03e, fb49c455323f", "user faults read-lock their VMA (lock_vma_under_rcu) instead of mmap_lock; mmap_lock writers write-lock the VMAs they change"},
	{PatchPTEFaultFlushPending, "LKML X+PE38s2Egq4nzKv@google.com (Yu Zhao, 23 Dec 2020)", "handle_pte_fault: flush_tlb_page before do_wp_page while mm_tlb_flush_pending"},
	{PatchUffdWPFlushPending, "6ce64428d620", "do_wp_page: flush_tlb_page for uffd-wp VMAs while mm_tlb_flush_pending"},
	{PatchUserPCIDFlushMask, "LKML 20250606171112.4013261-2-riel@surriel.com (Rik van Riel, 6 Jun 2025)", "user_pcid_flush_mask holds every PCID, so PTI's deferred user-PCID flush of a global ASID is not lost"},
}

// Kernels maps a -kernel baseline to the patches it contains.
var Kernels = map[string][]Patch{
	"5.10": nil,
	// 5.10-stable: v5.10 plus the fixes that were merged instead of the
	// proposal (backported to 5.10.y by ≈5.10.20-5.10.24).
	"5.10-stable": {PatchClearRefsMmapWriteLock, PatchClearRefsFlush, PatchUffdWPFlushPending},
	// 6.18: the 5.10-stable fixes (all merged by v5.12) and the x86 flush
	// path as arch/x86/mm/tlb.c has it at v6.18: concurrent local and
	// remote flushes, the lazily updated mm_cpumask and its once-a-second
	// trim (tlbflush618.go). With -flush invlpgb|rar also its global ASIDs
	// and broadcast_tlb_flush (global_asid.go, broadcast.go). Not in v6.18:
	// the proposals pte-fault-flush-pending and user-pcid-flush-mask. The
	// fault path's v5.18-v6.0 changes that these workloads meet:
	// PG_anon_exclusive reuse and mprotect's direct write upgrade; the
	// per-VMA locks of faults (v6.4) and of MADV_DONTNEED (v6.17).
	"6.18": {PatchClearRefsMmapWriteLock, PatchClearRefsFlush, PatchUffdWPFlushPending, PatchConcurrentFlush, PatchLazyCPUMask, PatchCPUMaskTrim, PatchAnonExclusive, PatchMprotectWritable, PatchPerVMALock, PatchMadviseVMALock},
}

// KernelNames returns the valid -kernel values, sorted.
func KernelNames() []string {
	var n []string
	for k := range Kernels {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// ParsePatches validates patch names.
func ParsePatches(names []string) ([]Patch, error) {
	var out []Patch
	for _, n := range names {
		ok := false
		for _, p := range Patches {
			if string(p.Name) == n {
				ok = true
			}
		}
		if !ok {
			var valid []string
			for _, p := range Patches {
				valid = append(valid, string(p.Name))
			}
			return nil, fmt.Errorf("unknown patch %q (valid: %s)", n, strings.Join(valid, ", "))
		}
		out = append(out, Patch(n))
	}
	return out, nil
}

// Config is everything that shapes a run. It is immutable once the machine
// is built.
type Config struct {
	CPUs      int
	MemBytes  uint64
	Kernel    string
	Patches   []Patch
	PCID      bool   // CR4.PCIDE=1 and Linux's 6 dynamic ASIDs per CPU
	Quantum   uint64 // cycles a vCPU may run ahead of the slowest other vCPU
	MaxCycles uint64 // stop the run when any vCPU clock passes this (0: no limit)
	Timeslice uint64 // scheduler time slice in cycles when a run queue has waiters
	FlushCeil int    // tlb_single_page_flush_ceiling (pages)
	TLB       tlb.Config
	// CPUModel and Virt name the -cpu-model and -virt presets the TLB
	// geometry and costs come from (ApplyPreset, costs_presets.go); a cost
	// file's per-preset sections apply when they match.
	CPUModel, Virt string
	CPUCosts       cpu.Costs
	IPICosts       ipi.CostModel
	Costs          CostModel
	FailHazard     bool // stop the run at the first stale-TLB hazard
	// PTI models page-table isolation: user PCID twins and the deferred
	// user-PCID flush (invalidate_user_asid, arch/x86/mm/tlb.c, v5.10).
	PTI bool
	// ConcurrentFlush models 4ce94eabac16 (≈v5.13): flush_tlb_mm_range
	// sends the IPIs first and overlaps the local flush with them instead of
	// v5.10's local-then-remote order. It is the same model as
	// PatchConcurrentFlush (-flush-order concurrent).
	ConcurrentFlush bool
	// Flush is the remote invalidation mechanism for processes with a
	// global ASID (broadcast.go): FlushIPI ("" too) as every kernel does
	// without one, FlushINVLPGB (AMD, v6.15+), FlushRAR (Intel, RFC). The
	// CPU preset must offer it (CheckFlush).
	Flush FlushMech
	// THP models transparent huge pages for anonymous memory
	// (huge_memory.go): 2 MiB PMD mappings on faults in aligned ranges.
	THP bool
	// Trace, if set, receives the run's timeline (faults, flushes,
	// interrupts, lock waits, syscalls, user time), in emulated-time order
	// per CPU. It is called by one goroutine at a time and must not retain
	// Args.
	Trace func(TraceEvent)
	// TraceStaleStores is how many stale-TLB hazard stores of a run are
	// marked on the trace as instants (the first N; 0: none).
	TraceStaleStores int
	// Stdin, Stdout and Stderr are the guest's file descriptors 0, 1 and 2
	// (emu run passes its own through, as perf stat does). Writes reach
	// Stdout/Stderr as the guest makes them, in the model's deterministic
	// syscall order. Nil Stdin reads as end of file; nil Stdout/Stderr
	// keep a bounded capture (Machine.Output) instead.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Seed keys the guest's randomness: the AT_RANDOM bytes, getrandom(2)
	// and /dev/urandom (emu run's -seed).
	Seed uint64
	// NoJitter turns off the seed's timing jitter (jitter.go): every IPI
	// and lock hand-off costs exactly its calibrated mean. emu calibrate
	// measures the mean path this way; runs and studies keep the jitter.
	NoJitter bool
	// The guest file system (vfs.go): TmpfsBytes is the size limit of the
	// tmpfs at /tmp and /dev/shm together (0: unlimited); ROMounts are the
	// host directories (or files) the guest sees read-only below the same
	// paths; FaultAroundBytes is fault_around_bytes (mm/memory.c, v5.10:
	// 65536; 4096 or less turns fault-around off).
	TmpfsBytes       uint64
	ROMounts         []string
	FaultAroundBytes uint64
	// Idle is what an idle CPU does (idle.go): IdlePoll ("" too) waits
	// at no cost and stays lazy on the last user mm; IdleC6 picks C6 when
	// the menu governor's predicted idle time (the next timer, capped by
	// the typical interval of the last 8 idle periods) reaches
	// Costs.C6Residency, leaving the mm
	// first (cpuidle_enter_state's leave_mm) and paying Costs.C6ExitCycles
	// when woken.
	Idle IdleMode
	// MmapLockSleep makes a reader waiting for mmap_lock sleep
	// (rwsem_down_read_slowpath → schedule(), as since 617f3ef95177
	// "locking/rwsem: Remove reader optimistic spinning", Nov 2020) instead of spinning; a
	// writer spins on a reader-owned rwsem only until rwsem_rspin_threshold
	// and then sleeps too (rwsem_optimistic_spin, v6.18; locks.go). idle.go.
	MmapLockSleep bool
}

// TraceEvent is one event of a run's timeline. Times are emulated cycles.
//
//   - TraceSlice: a span from Start to Start+Dur on CPU's timeline, or an
//     instant at Start when Dur is 0 (cat "hazard": a stale-TLB store).
//   - TraceFlowOut / TraceFlowIn: the two ends of an arrow with id ID, from
//     a flush initiator's flush_tlb_mm_range (when it posts the IPI) to the
//     receiver's call_function_interrupt (when flush_tlb_func_remote runs).
//   - TraceCounter: the values (Args) of the machine-wide counter track Name
//     from Start on: "tlb_flush_pending mmN", "mmap_lock mmN" (readers,
//     writer), "ptl_waiters". A track's times never go back, although CPUs
//     run up to a quantum apart: a sample earlier than the track's last is
//     moved up to it.
type TraceEvent struct {
	Kind  TraceKind
	CPU   int
	Cat   string // "user", "fault", "flush", "irq", "lock", "syscall", "hazard"
	Name  string
	Start uint64
	Dur   uint64
	ID    uint64
	Args  []TraceArg
}

// TraceKind says what a TraceEvent is.
type TraceKind uint8

const (
	TraceSlice TraceKind = iota
	TraceFlowOut
	TraceFlowIn
	TraceCounter
)

// TraceArg is one named integer argument of a TraceEvent.
type TraceArg struct {
	Key   string
	Value int64
}

// DefaultConfig returns a 2-CPU v5.10 machine.
func DefaultConfig() Config {
	return Config{
		CPUs:      2,
		MemBytes:  512 << 20,
		Kernel:    "5.10",
		PCID:      true,
		Quantum:   1000, // ≤ the shortest cross-CPU latency, ipi.CostModel.DeliveryCycles
		Timeslice: 3_000_000,
		FlushCeil: 33, // tlb_single_page_flush_ceiling default (arch/x86/mm/tlb.c, v5.10; a5102476a24b)
		TLB:       tlb.DefaultConfig(),
		CPUModel:  "skylake-sp",
		Virt:      "none",
		CPUCosts:  cpu.DefaultCosts(),
		IPICosts:  ipi.DefaultCostModel(),
		Costs:     DefaultCostModel(),

		TmpfsBytes:       64 << 20,
		FaultAroundBytes: 65536,
	}
}

// Has reports whether patch p is in effect (from -kernel or -patch).
func (c *Config) Has(p Patch) bool {
	for _, q := range c.Patches {
		if q == p {
			return true
		}
	}
	for _, q := range Kernels[c.Kernel] {
		if q == p {
			return true
		}
	}
	return false
}

// CostModel holds the kernel-path costs in cycles (3.0 GHz reference). Each default cites its source or is marked ASSUMPTION.
type CostModel struct {
	// SyscallEntryExit: null syscall round trip, 100 ns (getpid 93 ns in a
	// KVM guest: Kevlar OS blog "M6.6: Syscall Performance Benchmarking",
	// levkropp.github.io [S]).
	SyscallEntryExit uint64
	// FaultEntryExit: the exception entry and exit of a user page fault
	// (asm_exc_page_fault, do_user_addr_fault's checks, irqentry_exit,
	// IRET), half on each side of the handler. [D] 400 cycles: the 110–150
	// ns round trip of a KVM guest self-IPI with APICv, an interrupt's entry
	// and exit on the same kind of path without a VM exit (111 ns: Zeng
	// Guang, "[PATCH v4 0/6] IPI virtualization support for VM", kvm list,
	// 9 Aug 2021; 150 ns: Wanpeng Li, commit 4180bf1b655a "KVM: X86:
	// Implement 'send IPI' hypercall"), ≈ 330–450 cycles at 3 GHz.
	FaultEntryExit uint64
	// HandleMMFault: the __handle_mm_fault walk (pgd/p4d/pud/pmd offsets and
	// checks) and handle_pte_fault's dispatch, without the locks, the page
	// allocation, the zeroing, the rmap/LRU work and the PTE store, which
	// are charged on their own. ASSUMPTION 200 cycles (no measurement of
	// the handler's parts exists).
	HandleMMFault uint64
	// RmapLRU: page_add_new_anon_rmap plus lru_cache_add for a new anonymous
	// page (mem_cgroup charge included). ASSUMPTION 150 cycles.
	RmapLRU uint64
	// LRULockPage: the per-page work done under the LRU lock, adding a page
	// to an LRU list (__pagevec_lru_add_fn: SetPageLRU,
	// add_page_to_lru_list) or taking a freed one off it (release_pages:
	// __ClearPageLRU, del_page_from_lru_list), mm/swap.c at v5.10.
	// ASSUMPTION 50 cycles (a few stores to struct pages and list heads
	// that are cache-hot), bounded by emu calibrate's S9 (madvise of 1 and
	// 10 pages: Nadav Amit, "[RFC PATCH v2] x86/mm/tlb: Defer PTI flushes",
	// LKML, Aug 2019, lkml mail-archive msg2086904):
	// each page pays it twice (drain and release), and the model's
	// per-page slope without it is already 580 cycles against the
	// published 519, so S9/10 stays within ±25 % only below about 75.
	LRULockPage uint64
	// PTESet: set_pte_at and update_mmu_cache of a fault that installs a
	// PTE (the PTE lock is charged as a lock). ASSUMPTION 50 cycles.
	PTESet uint64
	// VMAAdjust: one __vma_adjust (mm/mmap.c, v5.10) as __split_vma and
	// vma_merge do it: vm_area_dup or remove_vma, the VMA tree, the
	// anon_vma interval tree and the gap updates; charged per VMA a split
	// adds or a merge removes in mprotect and madvise. [D] 500 cycles: a
	// 1-page mprotect inside a larger mapping splits twice (PROT_READ) or
	// merges two neighbours away (PROT_READ|PROT_WRITE); the rest of the
	// modelled call is ≈ 1,500 cycles against 2,499 and 2,529 measured
	// (Nadav Amit, "[RFC PATCH 00/14] mm: relaxed TLB flushes and other
	// optimi.", LKML, 18 Jul 2022, Haswell), (2,500 − 1,500)/2.
	VMAAdjust uint64
	// ZeroPage: clear a 4 KiB page, 0.3 µs DRAM-bound (rep stosq 13.7 GB/s in
	// 4 KB chunks on AMD Milan: Ankur Arora, "[PATCH v6 14/15]
	// x86/clear_page: Introduce clear_pages()", 2 Sep 2025).
	ZeroPage uint64
	// CopyPage: copy a 4 KiB page, ≈ 300 cycles cache-hot (REP MOVS model
	// of the Intel Optimization Reference Manual §2.4.6, ≈ 296 cycles [S];
	// memcpy median 280 cycles on Westmere, FreeBSD LibCSSE wiki; Go memmove
	// 4096 B 93.9 ns, Go commit "runtime: use MOVSB instead of MOVSQ for
	// unaligned moves").
	CopyPage uint64
	// AllocPage: page allocator fast path. ASSUMPTION 200 cycles (no source).
	AllocPage uint64
	// LockedRMW: one uncontended locked RMW, 18 cycles (InstLatx64
	// 0050654_SkylakeX_InstLatX64.txt, LOCK ADD/XCHG 18.1), the cost
	// of an uncontended spin_lock, atomic_inc, xchg of a PTE.
	LockedRMW uint64
	// LineHandoff: one contended cache-line hand-off, 150 cycles ≈ 50 ns
	// server mesh (CAS ping-pong medians, Cascade Lake 47–48 ns:
	// nviennot/core-to-core-latency); charged to a lock acquired after
	// waiting. With CCXCores set, it is the figure within one CCX.
	LineHandoff uint64
	// LineHandoffCrossCCX: the same hand-off between CPUs in different
	// CCXs (CCXCores); unused while CCXCores is 0. Default 150, as
	// LineHandoff.
	LineHandoffCrossCCX uint64
	// CCXCores: CPUs per CCX (the cores that share one L3), counting
	// vCPUs from 0 in order (Linux numbers a Zen socket's cores CCX by
	// CCX); 0 means one cache domain, so every hand-off is LineHandoff.
	// A count, not cycles.
	CCXCores uint64
	// SpinPoll: granularity at which a waiting CPU re-checks a lock or an
	// IPI acknowledgement. ASSUMPTION 50 cycles (a modelling step, not a
	// hardware figure).
	SpinPoll uint64
	// PTEUpdate: per-PTE work of a page-table walker such as
	// clear_soft_dirty or change_pte_range (xchg + store + loop).
	// ASSUMPTION 30 cycles (one locked xchg, as LockedRMW, plus loop
	// overhead).
	PTEUpdate uint64
	// FlushTLBMMRange: software overhead of flush_tlb_mm_range excluding
	// the INVLPG/INVPCID/CR3 work and flush_tlb_func_common (FlushFunc).
	// Skylake: [D] 444 ≈ 450 cycles = 1,094 cycles for a 1-page flush with
	// PTI − 550 for INVLPG + INVPCID − FlushFunc (Skylake desktop, kernel
	// compile, tracepoint-timed; Dave Hansen, "x86 TLB flushing: INVPCID
	// vs. deferred CR3 write", linux-mm, 5 Dec 2017). The older cores of the
	// haswell preset take 800 (kernelmodel/costs_presets.go).
	FlushTLBMMRange uint64
	// FlushFunc: flush_tlb_func_common bookkeeping on a target. ASSUMPTION
	// 100 cycles (no measurement exists).
	FlushFunc uint64
	// ContextSwitch: __schedule + switch_to without the mm switch.
	// ASSUMPTION 1,500 cycles (no bare-metal measurement found).
	ContextSwitch uint64
	// CPUMaskUpdate: mm_cpumask set/clear on an mm switch, "dozens or a
	// couple hundred cycles" (Dave Hansen's estimate in reply to "[PATCH]
	// x86,tlb: update mm_cpumask lazily", Nov 2024): 100 cycles.
	CPUMaskUpdate uint64
	// Wakeup: try_to_wake_up latency to a remote CPU. ASSUMPTION: one IPI
	// delivery (ipi.CostModel.DeliveryCycles).
	Wakeup uint64
	// ContendedHandoffLines: the cache-line transfers on the critical path
	// of a spinlock passed to a CPU that was spinning for it: the
	// holder's unlock store takes the line back from the spinner's shared
	// copy, the spinner's read misses, its locked RMW takes it exclusive
	// (the queue head's loop in queued_spin_lock_slowpath,
	// kernel/locking/qspinlock.c, v6.18). A count, not cycles; each
	// transfer costs a lineHandoff. Used for the LRU lock (lru.go).
	// ASSUMPTION 3 (from the MESI/MOESI protocol, not a measurement; an
	// uncontended acquisition after another CPU's hold is one transfer).
	ContendedHandoffLines uint64
	// MemcgLevels: the page_counters a memcg charge or uncharge walks, the
	// workload's cgroup and its ancestors up to the root
	// (page_counter_try_charge, page_counter_cancel: mm/page_counter.c,
	// v6.18). A count, not cycles. ASSUMPTION 3 (a task in a systemd
	// unit, /system.slice/x.service, under the root); memcg.go.
	MemcgLevels uint64
	// C6ExitCycles: the exit latency of the C6 idle state, 133 µs on
	// Skylake-SP (drivers/idle/intel_idle.c, skx_cstates "C6"
	// .exit_latency = 133) = 399,000 cycles at the 3 GHz reference
	// clock: a CPU woken from C6 runs nothing for that long (idle.go).
	C6ExitCycles uint64
	// C6Residency: C6's target residency, 600 µs (skx_cstates "C6"
	// .target_residency = 600) = 1,800,000 cycles at 3 GHz: the governor
	// picks C6 when it predicts at least this much idle time (idle.go).
	C6Residency uint64

	// Intel RAR (rar.go). No measurement of RAR has been published; every
	// value is an ASSUMPTION (model estimate), to be replaced from a cost
	// file.
	//
	// RARPayload: set_payload's 64-byte payload write. ASSUMPTION (model
	// estimate) 50 cycles, one local cache-line write.
	RARPayload uint64
	// RARActionWrite: set_action_entry, one store to a target's action
	// vector line. ASSUMPTION (model estimate) 150 cycles, one contended
	// line hand-off (as ipi.queue_cycles).
	RARActionWrite uint64
	// RARDelivery: from the APIC write until the target's microcode takes
	// the RAR signal. ASSUMPTION (model estimate) 1,100 cycles, as an IPI's
	// delivery (ipi.delivery_cycles): RAR "goes through (emulated?) APIC
	// writes" (RFC v3 cover letter).
	RARDelivery uint64
	// RARHandle: the target's microcode reading the payload and
	// invalidating, during which the target does nothing else.
	// ASSUMPTION (model estimate) 300 cycles, about one INVPCID (350 on
	// Skylake, tlb.invpcid) without interrupt entry or exit.
	RARHandle uint64
}

// DefaultCostModel returns the cited defaults.
func DefaultCostModel() CostModel {
	return CostModel{
		SyscallEntryExit: 300, FaultEntryExit: 400, HandleMMFault: 200,
		RmapLRU: 150, LRULockPage: 50, PTESet: 50, VMAAdjust: 500, ZeroPage: 900, CopyPage: 300, AllocPage: 200, LockedRMW: 18,
		LineHandoff: 150, LineHandoffCrossCCX: 150, CCXCores: 0, SpinPoll: 50, PTEUpdate: 30, FlushTLBMMRange: 450,
		FlushFunc: 100, ContextSwitch: 1500, CPUMaskUpdate: 100, Wakeup: 1100,
		ContendedHandoffLines: 3, MemcgLevels: 3, C6ExitCycles: 399_000, C6Residency: 1_800_000,
		RARPayload: 50, RARActionWrite: 150, RARDelivery: 1100, RARHandle: 300,
	}
}
