package cpu

import (
	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// General-purpose register numbers, in x86 encoding order.
const (
	RAX = iota
	RCX
	RDX
	RBX
	RSP
	RBP
	RSI
	RDI
	R8
	R9
	R10
	R11
	R12
	R13
	R14
	R15
)

// ExitKind says why Run returned.
type ExitKind uint8

const (
	ExitDeadline   ExitKind = iota // Clock reached Deadline at an instruction boundary
	ExitSyscall                    // SYSCALL executed: RIP is past it, RCX = return RIP, R11 = RFLAGS
	ExitPageFault                  // #PF: RIP is at the faulting instruction, Addr = CR2, ErrCode = #PF error code
	ExitGP                         // #GP (e.g. non-canonical address, privileged instruction): RIP at the instruction
	ExitUD                         // #UD or an instruction the interpreter does not implement: Err says which
	ExitDE                         // #DE divide error
	ExitBreakpoint                 // INT3
	// ExitSerialize (OwnParallel mode only): the instruction at RIP needs a
	// frame-ownership change or a page walk that would set an A/D bit
	// (owner.go). It has not executed and nothing was committed, as for a
	// #PF; Addr is the address whose translation stopped it.
	ExitSerialize
)

// Exit is the result of Run.
type Exit struct {
	Kind    ExitKind
	ErrCode uint32
	Addr    uint64 // CR2 for #PF
	Err     error  // for ExitUD: *UnimplementedError
}

// Costs are the cycles the interpreter charges per retired user-mode
// instruction, by class (cost.go), beyond what translation costs. Each is
// the reciprocal throughput of the class's representative form, rounded up
// to a whole cycle; the defaults are Skylake-SP's (Agner Fog, "Instruction
// tables", www.agner.org/optimize/instruction_tables.pdf, section "Intel
// Skylake-X"; the -cpu-model presets in kernelmodel set the others, each
// value with its source).
type Costs struct {
	UserALU         uint32 // ADD/SUB/AND/… r,r and MOV r,r: rtp 0.25, floored to 1 (IPC 1)
	UserLoad        uint32 // MOV r64,m: rtp 0.5 → 1
	UserStore       uint32 // MOV m,r64: rtp 1
	UserBranch      uint32 // Jcc not taken: rtp 0.5 → 1
	UserBranchTaken uint32 // a taken JMP/Jcc/CALL/RET: rtp 1-2, the upper end (no loop buffer modelled): 2
	UserMul         uint32 // IMUL r64,r64 and MUL r64: rtp 1
	UserDiv32       uint32 // DIV r32: rtp 6
	UserDiv64       uint32 // DIV r64: rtp 21-83, the lower end (quotients that fit 32 bits): 21
	UserSseFP       uint32 // ADDSD/MULSD xmm,xmm: rtp 0.5 → 1
	UserSseDiv      uint32 // DIVSD xmm,xmm: rtp 4
	UserSseInt      uint32 // PADDD xmm,xmm: rtp 0.33 → 1
	UserX87         uint32 // FADD/FMUL st,st(i): rtp 1
	UserX87Div      uint32 // FDIV st,st(i): rtp 4-5 → 5
	UserLocked      uint32 // LOCK ADD m,r / XCHG m,r: 18 (InstLatx64 0050654_SkylakeX_InstLatX64.txt, LOCK ADD/XCHG 18.1)
	UserString      uint32 // one element of MOVS/STOS (REP): ASSUMPTION 1, the IPC floor (fast strings move 16-32 bytes a cycle)
	UserOther       uint32 // the rest (SYSCALL, CPUID, RDTSC, FXSAVE, …): ASSUMPTION 1
}

// DefaultCosts returns the default (Skylake-SP) instruction costs.
func DefaultCosts() Costs {
	return Costs{
		UserALU: 1, UserLoad: 1, UserStore: 1, UserBranch: 1, UserBranchTaken: 2,
		UserMul: 1, UserDiv32: 6, UserDiv64: 21, UserSseFP: 1, UserSseDiv: 4, UserSseInt: 1,
		UserX87: 1, UserX87Div: 5, UserLocked: 18, UserString: 1, UserOther: 1,
	}
}

// CPU is one vCPU. It is owned by one goroutine at a time.
type CPU struct {
	ID           int
	Regs         Regs
	Clock        uint64 // emulated cycles
	Deadline     uint64 // Run returns ExitDeadline once Clock >= Deadline
	Instructions uint64 // retired user-mode instructions
	MMU          *tlb.MMU
	Mem          *phys.Memory
	Costs        Costs
	// Owners and Own enable frame-ownership checks for deterministic
	// parallel execution (owner.go); Own == OwnOff (the default) disables
	// them and Owners may then be nil.
	Owners *Owners
	Own    OwnMode

	// Interpreter state, owned by the goroutine running the vCPU.
	fl           flagState                  // lazy RFLAGS while Run executes
	next         uint64                     // RIP of the next instruction (branches overwrite it)
	exit         Exit                       // why the current instruction stopped
	running      bool                       // inside Run
	costTab      [numCostClasses * 4]uint32 // cycles per cost index (cost.go), from Costs at Run entry
	takenExtra   uint64                     // UserBranchTaken - UserBranch, charged by a taken branch
	costTabOf    Costs                      // the Costs costTab was built from …
	costTabOK    bool                       // … once it has been built
	dc           *[decodeCacheSize]dcEntry  // decode cache, keyed by guest-physical address
	bc           *[blockCacheSize]block     // block cache (block.go), keyed by guest-physical address
	noSpecialise bool                       // tests: run the generic handlers only (fast.go)
	noBlocks     bool                       // tests: run every instruction through the per-instruction path
	smc          bool                       // a store hit a frame holding code: end the running block
	limit        uint64                     // in runBlock: Deadline, or 0 once smc is set (one test ends the block for both)
	fetchNext    uint64                     // RIP after the last instruction if it fell through within its page, else 0 (fetch rule) …
	fetchFrame   *phys.Frame                // … the frame of the last iTLB lookup …
	fetchMMU     *tlb.MMU                   // … and, after a deadline exit, the MMU …
	fetchGen     uint64                     // … and its ExecGen then
	pendF        *phys.Frame                // RIP's fetch translation done by runBlock …
	pendPF       uint32                     // … and its fault
	codeFrame    *phys.Frame                // frame of the last fetch …
	codePFN      phys.PFN                   // … and its PFN
	dataFrame    *phys.Frame                // frame of the last store …
	dataPFN      phys.PFN                   // … and its PFN
	scratch      uop                        // a uop that cannot be cached (stale translation)
	fetchBuf     [15]byte                   // instruction bytes on a decode-cache miss

	// Ownership state (owner.go).
	oc         *[ocSize]ocEntry // verified pages, allocated by the first owned Run
	ocEpoch    uint64           // current stamp of valid oc entries
	ofVPN      uint64           // page of the last owned fetch (^0: none) …
	ofEntry    *ocEntry         // … its oc entry …
	ofKey      uint64           // … and the key that entry holds for Exec when valid
	ocTable    uint64           // Owners.epoch when ocEpoch was chosen
	ocCR3      uint64           // CR3 when ocEpoch was chosen
	ocAcquired bool             // oc holds entries filled by OwnAcquire runs
	parAbort   bool             // set by AbortParallel during a translation
	okRead     uint64           // page whose memo answers the inline loads may take when owned (^0: none) …
	okExec     uint64           // … and the same for fetches (owner.go: memoRead, fetchHit)
}

// New returns a vCPU.
func New(id int, mem *phys.Memory, mmu *tlb.MMU, costs Costs) *CPU {
	return &CPU{ID: id, Mem: mem, MMU: mmu, Costs: costs} // caches are allocated by the first Run
}
