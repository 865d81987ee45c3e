// Package workloads holds emu's built-in guest programs: small
// freestanding C programs (this directory) compiled into static, non-PIE
// x86-64 ELF executables that are committed under bin/ and embedded, so a
// checkout runs them without a C compiler.
//
// Every program takes the positional arguments THREADS PAGES ITERATIONS
// SEED (decimal), is silent on success and exits 0. `go generate
// ./workloads` rebuilds the ELFs with build.sh (gcc, general-purpose
// registers only) and records the hash of the sources in
// bin/SOURCES.sha256; the package test fails when the sources and the
// recorded hash disagree.
package workloads

//go:generate bash build.sh

import (
	"embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

//go:embed bin/*.elf
var bin embed.FS

// Params are a workload's positional arguments.
type Params struct {
	// Threads is the number of worker threads beside the main thread. In
	// Defaults, 0 means one per vCPU beside main: the caller resolves it to
	// cpus-1, at least 1. The guests reject 0.
	Threads    int
	Pages      int    // size of the workload's main mapping, in 4 KiB pages
	Iterations int    // rounds of the workload's main loop
	Seed       uint64 // seed of the guest's xorshift64* generators
}

// Workload is one built-in guest program.
type Workload struct {
	Name     string // program name, also the ELF's base name in bin/
	Summary  string // one line, for `emu list` and -h
	Doc      string // a paragraph: what it models and which kernel paths it exercises
	ELF      []byte // the static x86-64 executable
	Defaults Params // default arguments
	// CPUs is the vCPU count emu uses for this workload when -cpus is not
	// given (0: emu's default, 2).
	CPUs int
	// MinPages is the smallest PAGES the guest accepts (0: 1); the CLI
	// refuses smaller values instead of letting the guest fail.
	MinPages int
	// Reports are the counters the guest computes itself and prints on
	// stdout at exit, one "name value" line each, in this order (nil: the
	// guest is silent). Report reads them back.
	Reports []string
	// Ops marks a will-it-scale style guest, whose report is one
	// "emu-ops THREAD OPS CYCLES" line per thread (ParseOps): Report turns
	// it into emu_ops, emu_op_cycles and per_thread_ops.
	Ops bool
}

// Report reads what the guest wrote on stdout into counters, appended by
// emu after the model's own: the ops report of an Ops workload, else the
// Reports lines, exactly those and in order. Anything else means the
// guest did not finish its report. A silent workload reports nothing.
func (w *Workload) Report(out []byte) ([]Counter, error) {
	if w.Ops {
		o, ok, err := ParseOps(out)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", w.Name, err)
		}
		if !ok {
			return nil, fmt.Errorf("%s: the guest printed no ops report (emu-ops THREAD OPS CYCLES)", w.Name)
		}
		return o.Counters(), nil
	}
	if len(w.Reports) == 0 {
		return nil, nil
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(w.Reports) {
		return nil, fmt.Errorf("%s: guest reported %d lines on stdout, want %d (%s)", w.Name, len(lines), len(w.Reports), strings.Join(w.Reports, ", "))
	}
	cs := make([]Counter, len(lines))
	for i, l := range lines {
		name, val, ok := strings.Cut(l, " ")
		v, err := strconv.ParseUint(val, 10, 64)
		if !ok || name != w.Reports[i] || err != nil {
			return nil, fmt.Errorf("%s: guest report line %d is %q, want \"%s N\"", w.Name, i+1, l, w.Reports[i])
		}
		cs[i] = Counter{Name: name, Value: v}
	}
	return cs, nil
}

// ErrUnknown is wrapped by Lookup's error for a name that is not a workload.
var ErrUnknown = errors.New("unknown workload")

// Argv returns the guest's argument vector: {"/NAME", THREADS, PAGES,
// ITERATIONS, SEED}.
//
// Preconditions:
//   - p.Threads >= 1 (resolve Defaults' 0 first); the guests reject 0.
func (w *Workload) Argv(p Params) []string {
	return []string{
		"/" + w.Name,
		strconv.Itoa(p.Threads),
		strconv.Itoa(p.Pages),
		strconv.Itoa(p.Iterations),
		strconv.FormatUint(p.Seed, 10),
	}
}

// Lookup returns the workload with the given name. The error for an unknown
// name wraps ErrUnknown and lists the valid names.
func Lookup(name string) (*Workload, error) {
	for _, w := range all {
		if w.Name == name {
			return w, nil
		}
	}
	names := make([]string, len(all))
	for i, w := range all {
		names[i] = w.Name
	}
	return nil, fmt.Errorf("%w %q (valid: %s)", ErrUnknown, name, strings.Join(names, ", "))
}

// All returns every workload, sorted by name. The slice is new; the
// workloads are shared and must not be modified.
func All() []*Workload {
	return slices.Clone(all)
}

// all is the table of workloads, sorted by name (checked by init).
var all = []*Workload{
	{
		Name:    "clear_refs",
		Summary: "CRIU soft-dirty tracking: writers vs. repeated writes of 4 to /proc/self/clear_refs",
		Doc: "Models CRIU-style soft-dirty tracking, the scenario of the December 2020 LKML thread: " +
			"THREADS writers store into random words of random pages of a PAGES-page anonymous mapping " +
			"while main writes \"4\" to /proc/self/clear_refs ITERATIONS times. Exercises clear_refs_write " +
			"(clear_soft_dirty write-protects every PTE under mmap_read_lock with tlb_flush_pending raised " +
			"and, in v5.10, no TLB flush) and the write faults that follow: handle_pte_fault -> do_wp_page " +
			"-> wp_page_reuse / wp_page_copy, racing with stale writable TLB entries.",
		Defaults: Params{Threads: 0, Pages: 4096, Iterations: 20, Seed: 1},
	},
	{
		Name:    "clear_refs_predump",
		Summary: "CRIU pre-dump: clear_refs \"4\", writers store to a TLB-resident set, pagemap read-back",
		Doc: "Models CRIU's iterative pre-dump against threads with a hot working set: THREADS writers each " +
			"store, pass after pass, into one word of every page of their own PAGES-page set (default 32: " +
			"the set fits the L1 dTLB) with all loop state in registers, while main, ITERATIONS times, writes " +
			"\"4\" to /proc/self/clear_refs, spins INTERVAL register-loop iterations (an optional fifth " +
			"argument, default 20000; emu run PROG only) and reads the set's entries from /proc/self/pagemap. " +
			"Every page of a writer that completed two passes in the interval was written after the clear; " +
			"each that reads present without PM_SOFT_DIRTY (bit 55) is one lost page, reported by the guest " +
			"as emu_guest_lost_soft_dirty_pages beside the model's emu_lost_soft_dirty_pages. Exercises " +
			"clear_refs_write -> clear_soft_dirty (v5.10: no TLB flush before 912efa17e512), stores through " +
			"stale writable dTLB entries, and pagemap_read -> pte_to_pagemap_entry.",
		Defaults: Params{Threads: 0, Pages: 32, Iterations: 20, Seed: 1},
		Reports:  []string{"emu_guest_lost_soft_dirty_pages", "emu_guest_checked_pages", "emu_guest_unchecked_sets"},
	},
	{
		Name:    "fork_cow",
		Summary: "fork while threads write: COW faults against fork's write-protect and flush",
		Doc: "Models a multithreaded process that forks while its THREADS writers keep storing into PAGES " +
			"pages: main forks ITERATIONS times, each child stores into 8 pages and exits, the parent waits. " +
			"Exercises dup_mmap -> copy_present_pte (write-protecting the parent's PTEs under " +
			"mmap_write_lock) and its flush_tlb_mm, then do_wp_page -> wp_page_copy while the child maps the " +
			"page and wp_page_reuse after it has exited.",
		Defaults: Params{Threads: 0, Pages: 1024, Iterations: 10, Seed: 1},
	},
	{
		Name:    "madvise",
		Summary: "MADV_DONTNEED churn, one page at a time (will-it-scale tlb_flush2)",
		Doc: "After will-it-scale's tlb_flush2: each of THREADS threads owns PAGES/THREADS pages of one " +
			"mapping and, ITERATIONS times per page, stores a byte, discards the page with " +
			"madvise(MADV_DONTNEED) and reads it back as zero. Exercises zap_page_range under " +
			"mmap_read_lock with an mmu_gather (tlb_flush_pending raised, flush_tlb_mm_range of one page " +
			"with IPIs to the other CPUs running the mm), zero-page read faults and write faults on the " +
			"zero page (wp_page_copy).",
		Defaults: Params{Threads: 0, Pages: 256, Iterations: 10, Seed: 1},
	},
	{
		Name:    "madvise_ipi",
		Ops:     true,
		Summary: "Nadav Amit's 2019 shootdown benchmark: one thread madvises and re-reads a page, the others are IPI targets (per_thread_ops)",
		Doc: "After Nadav Amit's microbenchmark for 4ce94eabac16 (LKML Msg-Id " +
			"20190525082203.6531-1-namit@vmware.com; emu calibrate's S1-S5): thread 0 runs ITERATIONS " +
			"rounds of madvise(MADV_DONTNEED) of one page of a PAGES-page mapping and a read of it (the " +
			"re-fault maps the zero page), while THREADS-1 helpers spin in the same mm, so each round is " +
			"one flush_tlb_mm_range with one IPI per helper. One op is one round; only thread 0 reports, " +
			"so 1e9 / per_thread_ops is the ns per round the benchmark printed.",
		Defaults: Params{Threads: 2, Pages: 1, Iterations: 2000, Seed: 1},
	},
	{
		Name:     "mprotect",
		MinPages: 2, // the mapping is split into a written and a read half (mprotect.c)
		Summary:  "mprotect RO/RW flips of a range that writer threads read",
		Doc: "THREADS threads store into the lower half of a PAGES-page mapping and read the upper half, " +
			"while main flips the upper half read-only and back ITERATIONS times and then stores into up " +
			"to 64 of its pages. Exercises mprotect -> change_protection -> change_pte_range under " +
			"mmap_write_lock with flush_tlb_range to the readers' CPUs, VMA split and merge, and " +
			"do_wp_page -> wp_page_reuse for main's stores (anonymous PTEs stay read-only after " +
			"mprotect(RW)).",
		Defaults: Params{Threads: 0, Pages: 2048, Iterations: 20, Seed: 1},
	},
	{
		Name:    "munmap_unrelated",
		Summary: "write faults while an unrelated munmap raises tlb_flush_pending (Lutomirski's objection)",
		Doc: "Andy Lutomirski's objection to the December 2020 proposal: tlb_flush_pending is per mm, so " +
			"an munmap of an unrelated range makes the proposed check flush on every write fault. THREADS " +
			"writers store into PAGES pages, one thread loops mmap + touch + munmap of an unrelated " +
			"64-page range, and main forks ITERATIONS times (write-protecting the writers' pages). " +
			"Exercises unmap_region's mmu_gather (inc/dec_tlb_flush_pending, flush_tlb_mm_range), " +
			"dup_mmap's write-protect and flush, and do_wp_page faults taken while the count is raised.",
		Defaults: Params{Threads: 0, Pages: 2048, Iterations: 10, Seed: 1},
	},
	{
		Name:    "page_fault",
		Summary: "mmap / first touch / munmap churn (will-it-scale page_fault1)",
		Doc: "After will-it-scale's page_fault1: each of THREADS threads, ITERATIONS times, mmaps " +
			"PAGES/THREADS anonymous pages, stores one byte into each and unmaps them. Exercises " +
			"do_anonymous_page (no flush: the PTE was not present) and munmap -> unmap_region -> " +
			"tlb_finish_mmu -> flush_tlb_mm_range with freed_tables (IPIs to lazy CPUs too) and the " +
			"range vs. full flush choice against tlb_single_page_flush_ceiling.",
		Defaults: Params{Threads: 0, Pages: 256, Iterations: 10, Seed: 1},
	},
	{
		Name:    "tlb_flush2",
		Ops:     true,
		Summary: "will-it-scale tlb_flush2, threads: per-page MADV_DONTNEED of a private 1 MiB mmap (per_thread_ops)",
		Doc: "will-it-scale's tlb_flush2 in thread mode: each of THREADS threads, ITERATIONS times, mmaps " +
			"a private PAGES-page mapping of its own (256: the testcase's 1 MiB), stores a byte into each " +
			"page, discards it with madvise(MADV_DONTNEED), reads it back as zero, and unmaps it. One op is " +
			"one page; the guest reports each thread's ops and TSC cycles, which emu prints as emu_ops, " +
			"emu_op_cycles and per_thread_ops (ops per emulated second per thread). Exercises " +
			"do_anonymous_page -> lru_cache_add, madvise_dontneed_single_vma -> lru_add_drain and " +
			"zap_page_range (flush_tlb_mm_range of one page with IPIs to every CPU running the mm), " +
			"zero-page read faults and munmap's freed_tables flush.",
		Defaults: Params{Threads: 0, Pages: 256, Iterations: 4, Seed: 1},
	},
	{
		Name:    "tlb_flush2_away",
		Ops:     true,
		Summary: "tlb_flush2 whose CPUs leave the mm every 2 ops for another process (the LKP run's shape)",
		Doc: "tlb_flush2 with a neighbour process of one spinning thread per CPU: every 2 ops each thread " +
			"yields and its CPU runs the neighbour (another mm) for 16,000 cycles, the shape of the LKP " +
			"robot's 104-CPU tlb_flush2 run whose CPUs left the mm when threads slept on mmap_lock (≈ 0.46 " +
			"departures per op, 44 % idle). Exercises switch_mm_irqs_off between two mms (mm_cpumask " +
			"cleared at once on 5.10, left set with lazy-cpumask until a flush IPI finds the CPU elsewhere, " +
			"skipped by should_flush_tlb with cpumask-trim) besides tlb_flush2's paths. Ops, report and " +
			"parameters as tlb_flush2.",
		Defaults: Params{Threads: 0, Pages: 256, Iterations: 4, Seed: 1},
	},
	{
		Name:    "tlb_flush2_lru",
		Ops:     true,
		Summary: "tlb_flush2 with one MADV_DONTNEED per 32 stored pages: LRU pagevec work per flush",
		Doc: "tlb_flush2 with its pages discarded 32 at a time: each thread stores into 32 consecutive " +
			"pages, then one madvise(MADV_DONTNEED) discards them (a ranged flush, under " +
			"tlb_single_page_flush_ceiling), so a flush covers 32 ops while each page still goes through " +
			"lru_cache_add, the lru_add pagevec drain at 15 pages (__pagevec_lru_add under lru_lock), " +
			"lru_add_drain and release_pages: the LRU-bound mix of Rik van Riel's INVLPGB tlb_flush2 " +
			"discussion (each drain and each release_pages batch takes the one LRU lock: " +
			"emu_lru_lock_wait_cycles). Ops, report and " +
			"parameters as tlb_flush2.",
		Defaults: Params{Threads: 0, Pages: 256, Iterations: 4, Seed: 1},
	},
	{
		Name:     "uffd_wp",
		MinPages: 16, // writers store into a window of HOT_PAGES = 16 pages (uffd_wp.c)
		Summary:  "userfaultfd write-protect / un-protect with a monitor thread (the selftest pattern)",
		Doc: "The Linux userfaultfd selftest's write-protect pattern: THREADS writers store into PAGES " +
			"registered pages, a monitor thread reads uffd messages and resolves write-protect faults, and " +
			"main write-protects and un-protects the whole range ITERATIONS times. Exercises " +
			"UFFDIO_WRITEPROTECT -> mwriteprotect_range -> change_protection (MM_CP_UFFD_WP and " +
			"MM_CP_UFFD_WP_RESOLVE, under mmap_read_lock with a deferred flush), handle_userfault " +
			"(blocking the writer until the monitor resolves), and do_wp_page -> wp_page_copy after " +
			"un-protect cleared the RW bit of already-writable PTEs (Nadav Amit's race).",
		CPUs:     4,
		Defaults: Params{Threads: 3, Pages: 2048, Iterations: 60, Seed: 1},
	},
}

func init() {
	for i, w := range all {
		if i > 0 && all[i-1].Name >= w.Name {
			panic("workloads: table not sorted by name at " + w.Name)
		}
		b, err := bin.ReadFile("bin/" + w.Name + ".elf")
		if err != nil {
			panic("workloads: missing embedded ELF: " + err.Error())
		}
		w.ELF = b
	}
}
