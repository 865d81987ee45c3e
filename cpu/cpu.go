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

// Costs are the cycle costs the interpreter charges (beyond translation).
type Costs struct {
	Base   uint32 // every instruction: ASSUMPTION 1 cycle (IPC 1)
	Locked uint32 // locked RMW (LOCK prefix, XCHG with memory): 18 cycles (InstLatx64 0050654_SkylakeX_InstLatX64.txt, LOCK ADD/XCHG 18.1, Skylake-X)
	Mul    uint32 // IMUL/MUL: ASSUMPTION 3 cycles
	Div    uint32 // DIV/IDIV 64-bit: ASSUMPTION 40 cycles
}

// DefaultCosts returns the default instruction costs.
func DefaultCosts() Costs { return Costs{Base: 1, Locked: 18, Mul: 3, Div: 40} }

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
	fl        flagState                 // lazy RFLAGS while Run executes
	next      uint64                    // RIP of the next instruction (branches overwrite it)
	exit      Exit                      // why the current instruction stopped
	running   bool                      // inside Run
	costTab   [numCostClasses]uint32    // cycles per cost class, from Costs at Run entry
	dc        *[decodeCacheSize]dcEntry // decode cache, keyed by guest-physical address
	codeFrame *phys.Frame               // frame of the last fetch …
	codePFN   phys.PFN                  // … and its PFN
	dataFrame *phys.Frame               // frame of the last store …
	dataPFN   phys.PFN                  // … and its PFN
	scratch   uop                       // a uop that cannot be cached (stale translation)
	fetchBuf  [15]byte                  // instruction bytes on a decode-cache miss

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
}

// New returns a vCPU.
func New(id int, mem *phys.Memory, mmu *tlb.MMU, costs Costs) *CPU {
	return &CPU{ID: id, Mem: mem, MMU: mmu, Costs: costs} // caches are allocated by the first Run
}
