// Package cpu is one x86-64 vCPU in user mode (CPL 3): registers, flags, the
// interpreter, and cycle accounting. The vCPU never calls the kernel: Run
// returns an Exit (syscall, #PF, #GP, #UD, #DE, breakpoint, deadline,
// serialize) to its caller, the kernel model, which handles it on the same
// goroutine and calls Run again.
//
// # Decoding
//
// Instructions are decoded once with golang.org/x/arch/x86/x86asm (only in
// the translators) into compact uop values, cached per vCPU in a direct-mapped
// array keyed by the guest-physical address of the first byte. Every fetch
// still translates RIP through the MMU (tlb.Exec), so iTLB hits, misses and
// walks are accounted exactly; the cache is consulted with the physical
// address that translation yields, so it survives CR3/PCID switches and is
// shared by all address spaces mapping the same frames. A cache entry
// records the phys.Memory code generation of its frame(s); every store to a
// frame that holds decoded code bumps the generation (phys.NoteCodeWrite),
// so self-modifying code, loaders and the kernel model's writes are seen by
// the next fetch. An instruction that crosses a page boundary is fetched
// through both pages and tracked on both.
//
// # Families
//
// The ISA is split into families (family.go): integer ALU, data movement,
// branches, strings, system, SSE integer, SSE floating point, x87. Each
// owns a range of uop opcodes and registers, per x86asm opcode, a
// translator (x86asm.Inst → uop) and, per uop opcode, a handler; translate
// handles prefixes and looks the translator up, step calls the handler.
// The register file (state.go) holds the GPRs, RFLAGS, FS/GS bases,
// XMM0-15, MXCSR and the x87/MMX state that FXSAVE covers; InitialRegs is
// the psABI start state. Memory operands are 1, 2, 4 or 8 bytes through
// load/store, and any size up to a page (m80, m128, FXSAVE areas) through
// loadBytes/storeBytes, which translate every page first.
//
// # Faults
//
// An instruction translates every page it touches before it changes any
// architectural state, so a #PF or #GP leaves RIP at the instruction and
// nothing committed; after the kernel resolves the fault, Run re-executes
// it. REP string instructions commit completed iterations (RCX, RSI, RDI
// describe the rest), as the processor does, and also stop between
// iterations when Clock reaches Deadline.
//
// # Flags
//
// CF, PF, AF, ZF, SF and OF are evaluated lazily from the last result
// (flags.go); Regs.RFLAGS is read on entry to Run and materialised on every
// return. Flags the SDM leaves undefined are modelled after the Intel host
// the differential tests run on (diff_amd64_test.go), except OF after a
// shift or rotate by more than one bit.
//
// # Concurrency
//
// A CPU is owned by one goroutine. vCPUs share phys.Memory: LOCK-prefixed
// read-modify-writes and XCHG with memory are host compare-and-swap loops on
// the aligned 8-byte word holding the operand, so they are atomic with
// respect to other vCPUs; operands that cross an 8-byte word (split locks)
// and CMPXCHG16B serialise on one package-wide mutex instead.
//
// For deterministic parallel execution (owner.go) a CPU can enforce
// per-frame ownership (Owners, Own): in OwnParallel mode an access to a
// frame it may not touch, or a page walk that would set an A/D bit, ends
// Run with ExitSerialize before the instruction has any effect, so vCPUs
// running at the same time never observe each other's stores.
//
// # Limitations
//
// AVX and other VEX/EVEX-encoded instructions are #UD (the CPUID model
// reports no AVX). 16-bit addressing, far transfers, ENTER, IRET, INT n
// (other than INT3), 32-bit-address string instructions and
// RDFSBASE/WRFSBASE are not implemented: they exit with ExitUD and an
// *UnimplementedError naming the instruction. The frame → PFN mapping needed
// for the decode cache is recovered from the page tables; through a stale
// TLB entry (the tables now map the page elsewhere) it is not known, so such
// an instruction is decoded but not cached, and a store through such an
// entry does not bump the old frame's code generation.
package cpu
