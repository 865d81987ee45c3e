// Package kernelmodel is the Linux model of emu: tasks, mm_structs, VMAs
// and page tables in guest-physical memory, the page-fault paths (anonymous,
// shmem/memfd, 2 MiB THP),
// the syscalls the guests use, mmu_gather and mm->tlb_flush_pending, the x86
// TLB-flush machinery of arch/x86/mm/tlb.c (tlb_gen, cpu_tlbstate, lazy TLB,
// PCID/ASIDs, PTI), emulated locks, the scheduler, and the stale-TLB hazard
// detector. Every function that models a kernel function is named after it
// and cites it; the behaviour reference is the Linux v5.10 source (read as
// v5.10.13) and the commits named where they apply, and every cost default
// in CostModel cites its measurement or says ASSUMPTION.
//
// # Execution
//
// One goroutine per vCPU. Exactly one goroutine holds the machine's baton at
// a time: the vCPU with the lowest (emulated clock, CPU id) runs until it is
// Config.Quantum cycles ahead of the next-slowest vCPU, then hands the baton
// on (VCPU.preempt). Guest user code runs in cpu.CPU.Run; a trap (syscall,
// #PF, a due IPI) returns to the vCPU goroutine, which runs the kernel model
// on the same goroutine, charging cycles with VCPU.spend. Kernel code may
// block in emulated time (spinning on a lock, waiting for IPI acks, sleeping
// in futex); it hands the baton on while it waits. All Machine, MM, Page and
// per-CPU state is touched only by the baton holder, so it needs no Go
// locks, and every cross-CPU effect is ordered by (time, CPU id): the same
// configuration gives the same result whatever GOMAXPROCS is.
//
// User-mode code also runs in deterministic parallel phases (parallel.go,
// DMP-style): vCPUs behind a common barrier run concurrently, each may read
// frames that are shared or its own and write only frames it owns; any
// access needing an ownership change, an A/D-bit update, a stale-TLB store
// or a trap stops that vCPU before the instruction takes effect, and it
// continues in the serial (baton) protocol, where ownership changes. Frame
// ownership changes only in serial phases, so the result is the same
// whether the phase ran on 1 or N host threads.
//
// # Lock order (emulated locks, held across emulated time)
//
//	mm.mmapLock (rwsem)  →  PTE split lock (Page.ptl of the page-table frame)
//	                      →  mm.pageTableLock (page-table allocation only)
//
// Interrupts stay enabled while spinning on these locks and while waiting
// for IPI acknowledgements (csd_lock_wait), as in Linux, so two CPUs
// flushing each other never deadlock.
package kernelmodel
