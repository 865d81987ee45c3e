package cpu

import (
	"github.com/tlbemu/emu/internal/hostmem"
	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// Decode cache geometry: direct-mapped, keyed by the guest-physical address
// of an instruction's first byte. 2^14 entries of 56 bytes (920 KiB per vCPU,
// allocated on the first Run) hold a 16 KiB contiguous code working set
// without conflicts; the built-in workloads have under 10 KiB of text.
const (
	decodeCacheBits = 14
	decodeCacheSize = 1 << decodeCacheBits
)

// dcEntry is one decode-cache entry. It is valid while the code generation
// of its frame (and of the second frame, for an instruction that crosses a
// page boundary) is unchanged.
type dcEntry struct {
	tag  uint64 // pa<<1 | 1; 0 = empty
	gen  uint32 // Mem.CodeGen of the first frame when decoded
	gen2 uint32 // Mem.CodeGen of the second frame
	pfn2 uint64 // second frame's PFN + 1 for a page-crossing instruction, else 0
	u    uop
}

func dcIndex(pa uint64) uint64 { return (pa ^ pa>>decodeCacheBits) & (decodeCacheSize - 1) }

// stepResult says how an instruction ended.
type stepResult uint8

const (
	stepOK    stepResult = iota // retired; continue
	stepFault                   // not retired (fault, #UD, deadline inside REP): return c.exit, RIP unchanged
	stepExit                    // retired, then return c.exit (SYSCALL, INT3)
)

// Run executes user-mode instructions from Regs.RIP until an exit. It reads
// Regs.RFLAGS on entry and materialises it on return.
//
// Cycle accounting: every retired instruction adds the cost of its class
// (cost.go: Costs.UserALU, UserLoad, …, the largest of the class and its
// memory access) to Clock, a taken branch UserBranchTaken - UserBranch
// more, and every translation (instruction fetch and each data access) adds
// the extra cycles tlb.MMU.Translate reports, whether or not the
// instruction retires. A REP string instruction costs Costs.UserString per
// element.
//
// Instruction fetch: the iTLB is looked up once per 16-byte fetch block,
// not once per instruction (fetchLines).
//
// Preconditions:
//   - c.Mem and c.MMU are set and c.MMU's CR3 maps the guest.
//   - Only the goroutine that owns c calls Run.
func (c *CPU) Run() Exit {
	c.enter()
	fetched := false // c.pendF, c.pendPF hold the first lookup for RIP (runBlock)
	for {
		rip := c.Regs.RIP
		var f *phys.Frame
		var pf uint32
		done := 1 // fetch-block lookups made so far for the instruction at rip
		switch {
		case fetched:
			f, pf, fetched = c.pendF, c.pendPF, false
		case c.Clock >= c.Deadline:
			return c.leaveDeadline()
		case rip == c.fetchNext && rip&15 != 0:
			// The instruction starts in the fetch block the previous one
			// ended in: no lookup.
			f, done = c.fetchFrame, 0
		default:
			if f = c.fetchHit(rip); f == nil {
				f, pf = c.fetchLookup(rip)
			}
		}
		if pf == 0 && f != c.codeFrame {
			if pfn, known := c.Mem.PFNOf(f); known {
				c.codeFrame, c.codePFN = f, pfn
			}
		}
		// The block cache (block.go) runs whole blocks; the instructions it
		// cannot hold take the per-instruction path below.
		if pf == 0 && f == c.codeFrame && !c.noBlocks {
			if b := c.lookupBlock(rip & pageMask); b != nil {
				switch c.runBlock(b, done) {
				case blockExit:
					return c.leave(c.exit)
				case blockFetched:
					fetched = true
				}
				continue
			}
		}
		u := c.fetch(f, pf)
		if u == nil {
			return c.leave(c.exit)
		}
		// The fetch of an instruction that crosses a page boundary looked up
		// its second page (fetch); any other looks up its other fetch blocks
		// now, before it executes.
		crosses := rip&pageMask+uint64(u.len) > pageSize
		if !crosses && !c.fetchRest(rip, u.len, done) {
			return c.leave(c.exit)
		}
		c.next = rip + uint64(u.len)
		c.smc = false
		r := c.step(u)
		if r == stepFault {
			return c.leave(c.exit)
		}
		c.retire(u)
		c.fetchNext = 0
		if c.next == rip+uint64(u.len) && !crosses && !c.smc {
			c.fetchNext = c.next
		}
		if r == stepExit {
			return c.leave(c.exit)
		}
	}
}

// The fetch rule. The processor's legacy decode pipeline looks the
// instruction up in the ITLB and the instruction cache and fetches 16
// aligned bytes of it a cycle into the predecoder (Intel 64 and IA-32
// Architectures Optimization Reference Manual, order no. 248966, "Legacy
// Decode Pipeline", "Instruction Fetch and PreDecode": "the ITLB and
// instruction cache" ... "16 aligned bytes"). So the interpreter looks the
// iTLB up once per 16-byte fetch block an instruction occupies, not once
// per instruction: an instruction that starts in the fetch block its
// predecessor ended in, having fallen through to it (no taken branch, no
// exception, no store to code in between), needs no lookup for that block;
// every other fetch block it occupies costs one. After a taken branch, an
// exit from Run (except a deadline at an instruction boundary, which is no
// architectural event: the next Run continues the fetch block if no L1
// ITLB entry, PCID or CR4 changed in between, tlb.MMU.ExecGen), a store to
// a frame holding code (a machine clear) or an instruction that crosses a
// page boundary, the next instruction's first block is looked up again.

// fetchLines returns the number of iTLB lookups the instruction of n bytes
// at rip needs under the fetch rule (n >= 1; the instruction does not cross
// a page boundary).
func (c *CPU) fetchLines(rip uint64, n uint8) int {
	k := int((rip+uint64(n)-1)>>4-rip>>4) + 1
	if rip == c.fetchNext && rip&15 != 0 {
		k--
	}
	return k
}

// fetchLookup looks va up in the iTLB for a fetch, charging the extra
// cycles, and returns the frame (remembered for the fetch rule) and fault.
func (c *CPU) fetchLookup(va uint64) (*phys.Frame, uint32) {
	var f *phys.Frame
	var extra, pf uint32
	if c.Own == OwnOff {
		if f = c.MMU.HitExec(tlb.VirtAddr(va)); f == nil {
			f, extra, pf = c.MMU.Translate(tlb.VirtAddr(va), tlb.Exec)
		}
	} else {
		f, extra, pf = c.fetchOwned(va)
	}
	c.Clock += uint64(extra)
	c.fetchFrame = f
	return f, pf
}

// fetchHit is fetchLookup's fast path, small enough to inline: a repeated
// iTLB hit (tlb.MMU.HitExec, 0 extra cycles) returns the frame, remembered
// for the fetch rule; otherwise it returns nil, having changed nothing, and
// the caller calls fetchLookup. With ownership checks it returns nil;
// runBlock asks fetchHitOwned then.
func (c *CPU) fetchHit(va uint64) *phys.Frame {
	if c.Own != OwnOff && va>>phys.PageShift != c.okExec { // owner.go: okExec
		return nil
	}
	f := c.MMU.HitExec(tlb.VirtAddr(va))
	if f != nil {
		c.fetchFrame = f
	}
	return f
}

// fetchHitOwned is fetchHit with ownership checks: fetchOwned's outcome
// for a repeated iTLB hit on the page and frame of the last owned fetch,
// whose verified-page entry still allows execution (fetchOwned returns
// that frame with no extra cycles); nil, having changed nothing, otherwise.
func (c *CPU) fetchHitOwned(va uint64) *phys.Frame {
	e := c.ofEntry
	if va>>phys.PageShift != c.ofVPN || e.key[tlb.Exec] != c.ofKey || !c.MMU.HitExecFrame(tlb.VirtAddr(va), e.frame) {
		return nil
	}
	c.fetchFrame = e.frame
	return e.frame
}

// fetchRest makes the fetch-block lookups of the instruction of n bytes at
// rip that are still due, done having been made. On a fault it records the
// exit and returns false.
func (c *CPU) fetchRest(rip uint64, n uint8, done int) bool {
	k := c.fetchLines(rip, n)
	if k <= done {
		return true
	}
	va := (rip+uint64(n)-1)&^15 - uint64(k-done-1)*16 // the first block not looked up yet
	for ; done < k; done++ {
		if _, pf := c.fetchLookup(va); pf != 0 {
			c.xfault(va, pf)
			return false
		}
		va += 16
	}
	return true
}

func (c *CPU) retire(u *uop) {
	c.Regs.RIP = c.next
	c.Clock += uint64(c.costTab[u.cost])
	c.Instructions++
}

// enter loads the state the kernel may have changed since the last Run.
func (c *CPU) enter() {
	dispatchOnce.Do(buildDispatch)
	if c.dc == nil {
		// Touched only where code is cached (hostmem): from the Go heap
		// both were cleared whenever it reused freed memory.
		c.dc = (*[decodeCacheSize]dcEntry)(hostmem.Table[dcEntry](c, decodeCacheSize, 0))
		c.bc = (*[blockCacheSize]block)(hostmem.Table[block](c, blockCacheSize, 0))
	}
	c.fl = flagState{rflags: c.Regs.RFLAGS | flagRsv1}
	if c.fetchMMU != c.MMU || c.MMU.ExecGen() != c.fetchGen {
		c.fetchNext = 0 // the fetch block may be gone (fetch rule)
	}
	c.buildCostTab()
	if c.Own != OwnOff {
		c.enterOwned()
	}
	c.running = true
}

// leaveDeadline returns ExitDeadline at an instruction boundary: the next
// Run may continue the fetch block (fetch rule).
func (c *CPU) leaveDeadline() Exit {
	next := c.fetchNext
	e := c.leave(Exit{Kind: ExitDeadline})
	c.fetchNext, c.fetchMMU, c.fetchGen = next, c.MMU, c.MMU.ExecGen()
	return e
}

// leave materialises RFLAGS and returns e. The next instruction's fetch
// starts afresh.
func (c *CPU) leave(e Exit) Exit {
	c.fetchNext = 0
	c.MMU.Settle() // the fetch repeat's pending ITLB hits (tlb/memo.go)
	c.Regs.RFLAGS = c.fl.value()
	c.running = false
	c.exit = Exit{}
	return e
}

// FlagsValue returns the current RFLAGS: the lazily evaluated flags while Run
// is executing (e.g. from a hook), Regs.RFLAGS otherwise.
func (c *CPU) FlagsValue() uint64 {
	if c.running {
		return c.fl.value()
	}
	return c.Regs.RFLAGS
}

// InvalidateDecodeCache drops every cached uop (for tests and for callers
// that rewrite guest memory behind phys' back).
func (c *CPU) InvalidateDecodeCache() {
	if c.dc != nil {
		clear(c.dc[:])
		clear(c.bc[:])
		c.fetchNext = 0
	}
}

// fetch returns the uop at RIP, given the result of translating RIP through
// the iTLB (Run does that for every instruction, so iTLB accounting is exact,
// and handles the common decode-cache hit itself). On a fault it records the
// exit and returns nil.
func (c *CPU) fetch(f *phys.Frame, pf uint32) *uop {
	rip := c.Regs.RIP
	if pf != 0 {
		c.xfault(rip, pf) // #GP for a non-canonical RIP
		return nil
	}
	pfn := c.codePFN
	if f != c.codeFrame {
		var known bool
		if pfn, known = c.Mem.PFNOf(f); !known {
			return c.fetchMiss(rip, f, pfn, false, nil)
		}
		c.codeFrame, c.codePFN = f, pfn
	}
	pa := uint64(pfn)<<phys.PageShift | rip&pageMask
	e := &c.dc[dcIndex(pa)]
	if e.tag != pa<<1|1 || e.gen != c.Mem.CodeGen(pfn) {
		return c.fetchMiss(rip, f, pfn, true, nil)
	}
	if e.pfn2 == 0 {
		return &e.u
	}
	// The instruction continues on the next page: fetch that page too.
	va2 := (rip + pageSize) &^ pageMask
	if !canonical(va2) {
		c.gp(va2)
		return nil
	}
	f2 := c.xlate(va2, tlb.Exec)
	if f2 == nil {
		return nil
	}
	if p2, ok := c.Mem.PFNOf(f2); ok && uint64(p2)+1 == e.pfn2 && e.gen2 == c.Mem.CodeGen(p2) {
		return &e.u
	}
	return c.fetchMiss(rip, f, pfn, true, f2)
}

// fetchMiss decodes the instruction at rip (first byte in frame f). It hands
// the decoder 15 bytes: when the instruction may continue on the next page
// it first decodes the bytes of this page alone (zero padded) and only
// translates the next page if the instruction really extends into it, as
// the processor does. f2, if non-nil, is the next page's frame, already
// translated.
func (c *CPU) fetchMiss(rip uint64, f *phys.Frame, pfn phys.PFN, cacheable bool, f2 *phys.Frame) *uop {
	var gen, gen2 uint32
	if cacheable {
		c.Mem.MarkCode(pfn)
		gen = c.Mem.CodeGen(pfn)
	}
	off := rip & pageMask
	buf := &c.fetchBuf
	n := copy(buf[:], f[off:])
	clear(buf[n:])
	u, ln, st := decode(buf[:])
	fetched := n // bytes really read from guest memory
	var pfn2 uint64
	if n < len(buf) && (st == decInvalid || ln > n) {
		va2 := rip + uint64(n)
		if f2 == nil {
			if !canonical(va2) {
				c.gp(va2)
				return nil
			}
			if f2 = c.xlate(va2, tlb.Exec); f2 == nil {
				return nil
			}
		}
		if p2, ok := c.Mem.PFNOf(f2); ok && cacheable {
			c.Mem.MarkCode(p2)
			gen2 = c.Mem.CodeGen(p2)
			pfn2 = uint64(p2) + 1
		} else {
			cacheable = false
		}
		copy(buf[n:], f2[:])
		fetched = len(buf)
		u, ln, st = decode(buf[:])
		if ln <= n {
			pfn2 = 0
		}
	}
	switch {
	case st == decInvalid:
		c.exit = Exit{Kind: ExitUD, Err: newUDError(rip, buf[:fetched], false)}
		return nil
	case st == decUnsupported:
		c.exit = Exit{Kind: ExitUD, Err: newUDError(rip, buf[:fetched], false)}
		return nil
	case u.op == opUD:
		c.exit = Exit{Kind: ExitUD, Err: newUDError(rip, buf[:fetched], true)}
		return nil
	}
	u.x = c.specialise(&u)
	if !cacheable {
		c.scratch = u
		return &c.scratch
	}
	pa := uint64(pfn)<<phys.PageShift | off
	e := &c.dc[dcIndex(pa)]
	*e = dcEntry{tag: pa<<1 | 1, gen: gen, gen2: gen2, pfn2: pfn2, u: u}
	return &e.u
}

// reg reads register r at size bytes.
func (c *CPU) reg(r, size uint8) uint64 {
	switch size {
	case 8:
		return c.Regs.GPR[r&15]
	case 4:
		return uint64(uint32(c.Regs.GPR[r&15]))
	case 2:
		return uint64(uint16(c.Regs.GPR[r&15]))
	}
	if r >= regAH {
		return uint64(uint8(c.Regs.GPR[r&3] >> 8))
	}
	return uint64(uint8(c.Regs.GPR[r&15]))
}

// setReg writes register r at size bytes with the x86-64 rules: a 32-bit
// write zero-extends to 64 bits, 8- and 16-bit writes merge.
func (c *CPU) setReg(r, size uint8, v uint64) {
	p := &c.Regs.GPR[r&15]
	switch size {
	case 8:
		*p = v
	case 4:
		*p = uint64(uint32(v))
	case 2:
		*p = *p&^0xFFFF | v&0xFFFF
	default:
		if r >= regAH {
			p = &c.Regs.GPR[r&3]
			*p = *p&^0xFF00 | (v&0xFF)<<8
		} else {
			*p = *p&^0xFF | v&0xFF
		}
	}
}

// srcVal reads u's source operand at u.size.
func (c *CPU) srcVal(u *uop) (uint64, bool) {
	switch u.sk {
	case kindReg:
		return c.reg(u.r1, u.size), true
	case kindImm:
		return u.imm, true
	case kindMem:
		return c.load(c.ea(u), u.size)
	}
	return 0, true
}

// dstVal reads u's destination operand (a register or memory) at u.size.
func (c *CPU) dstVal(u *uop) (uint64, bool) {
	if u.dk == kindReg {
		return c.reg(u.r0, u.size), true
	}
	return c.load(c.ea(u), u.size)
}

// jump sets the next RIP to target, raising #GP for a non-canonical target
// (reported at the branch, as Intel processors do).
func (c *CPU) jump(target uint64) bool {
	if !canonical(target) {
		c.gp(target)
		return false
	}
	c.next = target
	c.Clock += c.takenExtra
	return true
}
