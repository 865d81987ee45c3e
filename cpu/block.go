package cpu

import (
	"encoding/binary"
	"unsafe"

	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// The block cache: decoded uops grouped into basic blocks, so that the
// decode-cache probe, the code-generation check and the instruction count
// are paid once per block instead of once per instruction (QEMU's
// translation blocks, accel/tcg/cpu-exec.c tb_lookup, without the code
// generation).
//
// A block is the run of instructions starting at one guest-physical address
// up to and including the first unconditional control transfer (JMP, CALL,
// RET, LOOP, JRCXZ, SYSCALL, INT3), the last instruction that ends on the
// page, or blockMax instructions, whichever comes first. A conditional
// branch (Jcc) does not end a block: taken, it leaves it there (a side
// exit, as in a superblock); not taken, the block goes on with the
// instruction after it, which is where the processor goes too. It never holds an
// instruction that crosses a page boundary, one that does not decode or
// one the interpreter does not implement: those run through the
// per-instruction path (Run's slow path), which reports them exactly as
// before. A block is built from the decode cache, decoding only bytes of
// its own frame, so building one has no architectural or modelled effect
// (nothing is translated, nothing is counted).
//
// Validity: a block records its frame's code generation (phys.Memory
// CodeGen) when built and is used only while it is unchanged. A store to a
// frame holding code bumps that generation (noteWrite) and also sets
// CPU.smc, which ends the running block after the storing instruction, so
// the next instruction is fetched again and a block holding overwritten
// bytes is rebuilt: a store that modifies the next instruction takes
// effect at once, as on the processor (SDM Vol. 3 8.1.3, self-modifying
// code). A store by another vCPU is seen at this vCPU's next block entry;
// cross-modifying code needs a serialising instruction on the processor
// too (SDM Vol. 3 8.1.3), and in deterministic runs only one vCPU at a time
// may write a frame (owner.go).
//
// Precise state: the uops of a block run one at a time with the same
// per-instruction work as the slow path (deadline check, retire; runBlock
// holds RIP and the cycle count in locals while it runs the frequent forms
// inline, and stores them before anything else can look); the
// decode-cache probe and the instruction count are paid per block, and the
// iTLB lookups per 16-byte fetch block (the fetch rule, run.go), counted
// for each instruction when it is reached. A fault in the k-th instruction
// leaves the k-1 before it retired and counted and the k-th unexecuted,
// with RIP at it.

// Block cache geometry: direct-mapped, keyed by the guest-physical address
// of a block's first instruction. 2^10 blocks of up to 16 uops (672 KiB
// per vCPU, allocated on the first Run) hold the hot loops of the built-in
// workloads and of CoreMark without conflicts.
const (
	blockCacheBits = 10
	blockCacheSize = 1 << blockCacheBits
	blockMax       = 16
)

// block is one block-cache entry.
type block struct {
	tag uint64 // pa<<1 | 1 of the first instruction; 0 = empty
	gen uint32 // Mem.CodeGen of the frame when built
	n   uint8  // uops in u (1..blockMax)
	// lines0 is the number of 16-byte fetch blocks u[0] occupies; u[i].lines
	// (i >= 1) is the number of iTLB lookups u[i] needs after u[i-1] (fetch
	// rule, run.go): the fetch blocks it occupies, less the one u[i-1] ended
	// in.
	lines0 uint8
	u      [blockMax]uop
}

func bcIndex(pa uint64) uint64 { return (pa ^ pa>>blockCacheBits) & (blockCacheSize - 1) }

// endsBlock reports whether op always transfers control (or may end Run),
// so that nothing after it belongs to its block (Jcc falls through when not
// taken: runBlock ends the block at a taken one).
func endsBlock(op opcode) bool {
	return op >= opJmp && op <= opRet && op != opJcc || op == opSyscall || op == opInt3 || op == opGP
}

// lookupBlock returns the valid block starting at offset off of the code
// frame (c.codeFrame, c.codePFN), building it if needed, or nil if the
// instruction there must take the per-instruction path.
func (c *CPU) lookupBlock(off uint64) *block {
	pfn := c.codePFN
	pa := uint64(pfn)<<phys.PageShift | off
	gen := c.Mem.CodeGen(pfn)
	b := &c.bc[bcIndex(pa)]
	if b.tag == pa<<1|1 && b.gen == gen {
		return b
	}
	return c.buildBlock(b, pa, off, gen)
}

// buildBlock fills b with the block at offset off of the code frame, whose
// code generation is gen. It returns nil (leaving b empty) if the first
// instruction cannot be in a block.
func (c *CPU) buildBlock(b *block, pa, off uint64, gen uint32) *block {
	b.tag = 0
	n := 0
	for n < blockMax {
		if !c.decodeAt(off, gen, &b.u[n]) {
			break
		}
		b.u[n].cyc = c.costTab[b.u[n].cost]
		op := b.u[n].op
		end := off + uint64(b.u[n].len)
		if n > 0 {
			b.u[n].lines = uint8((end-1)>>4 - (off-1)>>4)
		} else {
			b.lines0 = uint8((end-1)>>4-off>>4) + 1 // all of u[0]'s (fetchLines before any fall-through)
		}
		off = end
		n++
		if endsBlock(op) || off >= pageSize {
			break
		}
	}
	if n == 0 {
		return nil
	}
	b.tag, b.gen, b.n = pa<<1|1, gen, uint8(n)
	return b
}

// decodeAt decodes the instruction at offset off of the code frame into
// *u, through the decode cache. It reports false, changing nothing but *u,
// for an instruction that does not lie wholly in the frame or that the
// per-instruction path must report (invalid, unimplemented, #UD).
func (c *CPU) decodeAt(off uint64, gen uint32, u *uop) bool {
	pfn := c.codePFN
	pa := uint64(pfn)<<phys.PageShift | off
	e := &c.dc[dcIndex(pa)]
	if e.tag == pa<<1|1 && e.gen == gen && e.pfn2 == 0 {
		*u = e.u
		return true
	}
	var buf [15]byte
	n := copy(buf[:], c.codeFrame[off:])
	d, ln, st := decode(buf[:])
	if st != decOK || ln > n || d.op == opUD || handlers[d.op] == nil {
		return false
	}
	d.x = c.specialise(&d)
	c.Mem.MarkCode(pfn) // the frame holds decoded code from now on (before the entry is usable)
	*e = dcEntry{tag: pa<<1 | 1, gen: gen, u: d}
	*u = d
	return true
}

// blockEnd says how runBlock ended.
type blockEnd uint8

const (
	blockNext    blockEnd = iota // continue at RIP: check the deadline, fetch
	blockFetched                 // continue at RIP, already translated: c.pendF, c.pendPF
	blockExit                    // return c.exit
)

// runBlock executes b, whose first instruction is at RIP and has had done
// of its fetch-block lookups made (Run). When a block ends with nothing for
// Run to do (no store to code, the clock before the deadline) and the next
// instruction's first fetch block is in the code frame, it runs the block
// there itself, doing exactly what Run's loop would: the same lookups in
// the same order (chaining saves Run's loop and a call per block; the idea
// and its measurement are the speed branch's commit d109449).
func (c *CPU) runBlock(b *block, done int) blockEnd {
	rip := c.Regs.RIP
	cont := rip == c.fetchNext && rip&15 != 0 // rip continues the last fetch block (fetch rule)
	c.smc = false
	for {
		c.limit = c.Deadline
		// fetchRest's test inline: k = fetchLines(rip, b.u[0].len).
		k := int(b.lines0)
		if cont {
			k--
		}
		if k > done && !c.fetchRest(rip, b.u[0].len, done) {
			return blockExit
		}
		// pend holds the base cycles of the instructions retired so far in
		// this block, not yet added to Clock; RIP and the next RIP are kept
		// in rip and next. The forms inlined below read neither Clock nor
		// RIP, and call nothing that does; before anything else runs
		// (slowStep, a fetch lookup, a return) Clock, RIP and c.next are
		// made what the per-instruction path would have made them, so
		// nothing can tell the difference (TestBlockEquivalence,
		// TestBlockDeadlineEquivalence).
		// room is the cycles left before c.limit: the block ends once pend
		// reaches it.
		pend, room := uint64(0), c.room()
		u, last := &b.u[0], &b.u[(b.n-1)&(blockMax-1)]
		var next uint64
		for {
			next = rip + uint64(u.len)
			switch u.x {
			case xMovRR64:
				c.Regs.GPR[u.r0&15] = c.Regs.GPR[u.r1&15]
			case xMovRR32:
				c.Regs.GPR[u.r0&15] = uint64(uint32(c.Regs.GPR[u.r1&15]))
			case xMovRI64:
				c.Regs.GPR[u.r0&15] = u.imm
			case xMovRI32:
				c.Regs.GPR[u.r0&15] = uint64(uint32(u.imm))
			case xMovzxRR:
				c.Regs.GPR[u.r0&15] = c.Regs.GPR[u.r1&15] & sizeMask(u.ssize)
			case xNop:
			case xAddRR, xAddRI:
				m := sizeMask(u.size)
				d := &c.Regs.GPR[u.r0&15]
				a, v := *d&m, u.imm&m
				if u.x == xAddRR {
					v = c.Regs.GPR[u.r1&15] & m
				}
				res := (a + v) & m
				c.fl.setLazy(lazyAdd, u.size, a, v, res, 0)
				*d = res
			case xSubRR, xSubRI, xCmpRR, xCmpRI:
				m := sizeMask(u.size)
				d := &c.Regs.GPR[u.r0&15]
				a, v := *d&m, u.imm&m
				if u.x == xSubRR || u.x == xCmpRR {
					v = c.Regs.GPR[u.r1&15] & m
				}
				res := (a - v) & m
				c.fl.setLazy(lazySub, u.size, a, v, res, 0)
				if u.x <= xSubRI {
					*d = res
				}
			case xXorRR, xXorRI:
				m := sizeMask(u.size)
				d := &c.Regs.GPR[u.r0&15]
				v := u.imm
				if u.x == xXorRR {
					v = c.Regs.GPR[u.r1&15]
				}
				res := (*d ^ v) & m
				c.fl.setLazy(lazyLogic, u.size, 0, 0, res, 0)
				*d = res
			case xAndRR, xAndRI, xTestRR, xTestRI:
				d := &c.Regs.GPR[u.r0&15]
				v := u.imm
				if u.x == xAndRR || u.x == xTestRR {
					v = c.Regs.GPR[u.r1&15]
				}
				res := *d & v & sizeMask(u.size)
				c.fl.setLazy(lazyLogic, u.size, 0, 0, res, 0)
				if u.x <= xAndRI {
					*d = res
				}
			case xLoad64, xLoad32, xImulRM, xMovzxRM, xLea64:
				// LEA, and fLoad64, fLoad32, fImulRM and fMovzxRM's memo
				// hit (with ownership checks, hitOwned's); anything else
				// (a miss, a split, an operand ea computes in full, IMUL
				// r64) takes slowStep.
				var va uint64
				switch u.eak {
				case eaBaseDisp:
					va = c.Regs.GPR[u.base&15] + uint64(u.disp)
				case eaBaseIndexDisp:
					va = c.Regs.GPR[u.base&15] + c.Regs.GPR[u.index&15]<<u.scale + uint64(u.disp)
				case eaRIPDisp:
					va = next + uint64(u.disp)
				default:
					goto slow
				}
				if u.x == xLea64 {
					c.Regs.GPR[u.r0&15] = va
					goto done
				}
				if va&pageMask > pageSize-8 || u.x == xImulRM && u.size != 4 {
					goto slow
				}
				var f *phys.Frame
				if c.Own == OwnOff {
					if f = c.MMU.Hit(tlb.VirtAddr(va), tlb.Read); f == nil {
						goto slow
					}
				} else if f = c.hitOwned(va); f == nil {
					goto slow
				}
				d := &c.Regs.GPR[u.r0&15]
				switch u.x {
				case xLoad64:
					*d = binary.LittleEndian.Uint64(f[va&pageMask:])
				case xLoad32:
					*d = uint64(binary.LittleEndian.Uint32(f[va&pageMask:]))
				case xMovzxRM:
					if u.ssize == 1 {
						*d = uint64(f[va&pageMask])
					} else {
						*d = uint64(binary.LittleEndian.Uint16(f[va&pageMask:]))
					}
				default: // imulWide(4, …), inline
					p := int64(int32(*d)) * int64(int32(binary.LittleEndian.Uint32(f[va&pageMask:])))
					lo := uint64(uint32(p))
					o := b2u(p != int64(int32(p)))
					c.fl.setLazy(lazyMul, 4, 0, 0, lo, o|o<<1)
					*d = lo
				}
			case xJmp:
				target := next + u.imm
				if !canonical(target) {
					goto slow
				}
				next = target
				pend += c.takenExtra + uint64(u.cyc)
				goto end // a JMP ends its block
			case xIncR, xDecR:
				// fIncR and fDecR: CF preserved through cin.
				m := sizeMask(u.size)
				d := &c.Regs.GPR[u.r0&15]
				a := *d & m
				cin := b2u(c.fl.cf())
				if u.x == xIncR {
					res := (a + 1) & m
					c.fl.setLazy(lazyInc, u.size, a, 1, res, cin)
					*d = res
				} else {
					res := (a - 1) & m
					c.fl.setLazy(lazyDec, u.size, a, 1, res, cin)
					*d = res
				}
			case xJccE, xJccB, xJccBE, xJccL, xJccLE:
				// fJcc*'s fast paths: the flags of a CMP/SUB (or, for E/NE,
				// of a logic operation) and a canonical target.
				fl := &c.fl
				var t bool
				switch {
				case fl.kind == lazySub && fl.cin == 0:
					switch u.x {
					case xJccE:
						t = fl.a == fl.b
					case xJccB:
						t = fl.a < fl.b
					case xJccBE:
						t = fl.a <= fl.b
					case xJccL:
						t = int64(fl.a^fl.sign)-int64(fl.sign) < int64(fl.b^fl.sign)-int64(fl.sign)
					default:
						t = int64(fl.a^fl.sign)-int64(fl.sign) <= int64(fl.b^fl.sign)-int64(fl.sign)
					}
				case fl.kind == lazyLogic && u.x == xJccE:
					t = fl.res == 0
				default:
					goto slow
				}
				if t != (u.sub&1 != 0) {
					target := next + u.imm
					if !canonical(target) {
						goto slow
					}
					next = target
					pend += c.takenExtra + uint64(u.cyc)
					goto end // a taken branch ends the block
				}
			default:
				goto slow
			}
			goto done
		slow:
			if r := c.slowStep(u, rip, next, pend); r != stepOK {
				i := b.index(u)    // retired before u
				if r == stepExit { // retired, then Run returns
					c.Regs.RIP = c.next
					c.Clock += uint64(u.cyc)
					i++
				}
				c.Instructions += uint64(i)
				return blockExit
			}
			pend, next, room = 0, c.next, c.room()
			if next != rip+uint64(u.len) { // a taken branch ends the block
				pend += uint64(u.cyc)
				goto end
			}
		done:
			pend += uint64(u.cyc)
			if u == last || pend >= room { // room: to the deadline, or 0 after a store to code
				goto end
			}
			// The next instruction follows on this page (fetch rule: its
			// lookups are u.lines, the first for the block at va).
			rip = next
			u = (*uop)(unsafe.Add(unsafe.Pointer(u), unsafe.Sizeof(*u))) // &b.u[i]: i < n
			if k := u.lines; k != 0 {
				va := rip
				if rip&15 != 0 {
					va = rip&^15 + 16
				}
				f := c.fetchHit(va)
				if f == nil && c.Own != OwnOff {
					f = c.fetchHitOwned(va)
				}
				if f == nil || f != c.codeFrame || k > 1 {
					// A lookup that may cost cycles, or a return: Clock
					// and RIP first.
					c.Regs.RIP, c.next = rip, rip
					c.Clock += pend
					pend = 0
					pf := uint32(0)
					if f == nil {
						f, pf = c.fetchLookup(va)
					}
					if pf != 0 || f != c.codeFrame {
						c.Instructions += uint64(b.index(u))
						c.fetchNext = rip // Run's next lookups follow this one
						c.pendF, c.pendPF = f, pf
						return blockFetched
					}
					for ; k > 1; k-- {
						va += 16
						if _, pf := c.fetchLookup(va); pf != 0 {
							c.xfault(va, pf)
							c.Instructions += uint64(b.index(u))
							return blockExit
						}
					}
					room = c.room()
				}
			}
		}
	end:
		c.Clock += pend
		c.Regs.RIP, c.next = next, next
		c.Instructions += uint64(b.index(u) + 1)
		fell := next == rip+uint64(u.len) && !c.smc
		c.fetchNext = 0
		if fell {
			c.fetchNext = next
		}
		if c.Clock >= c.limit {
			return blockNext // Run stops at the deadline or refetches after a store to code
		}
		// Run's loop for the instruction at the new RIP, the deadline not
		// reached: its first fetch block, then its block.
		rip = next
		if cont = fell && rip&15 != 0; cont {
			if c.fetchFrame != c.codeFrame {
				return blockNext // Run makes the same choice, with no lookup
			}
			done = 0
		} else {
			f, pf := c.fetchHit(rip), uint32(0)
			if f == nil && c.Own != OwnOff {
				f = c.fetchHitOwned(rip)
			}
			if f == nil {
				f, pf = c.fetchLookup(rip)
			}
			if pf != 0 || f != c.codeFrame {
				c.pendF, c.pendPF = f, pf
				return blockFetched
			}
			done = 1
		}
		// lookupBlock, inline.
		pfn := c.codePFN
		pa := uint64(pfn)<<phys.PageShift | rip&pageMask
		gen := c.Mem.CodeGen(pfn)
		nb := &c.bc[bcIndex(pa)]
		if nb.tag != pa<<1|1 || nb.gen != gen {
			nb = c.buildBlock(nb, pa, rip&pageMask, gen)
		}
		if nb == nil { // the per-instruction path: Run, with the lookup made
			if done == 0 {
				return blockNext
			}
			c.pendF, c.pendPF = c.codeFrame, 0
			return blockFetched
		}
		b = nb
	}
}

// slowStep runs u through its handler from runBlock, with RIP, the next
// RIP and Clock (less pend, the cycles runBlock holds back) as the
// per-instruction path has them.
func (c *CPU) slowStep(u *uop, rip, next, pend uint64) stepResult {
	c.Regs.RIP, c.next = rip, next
	c.Clock += pend
	return c.step(u)
}

// room returns the cycles left before c.limit (0 once reached).
func (c *CPU) room() uint64 {
	if c.Clock >= c.limit {
		return 0
	}
	return c.limit - c.Clock
}

// index returns the position of u, one of b's uops, in b.u.
func (b *block) index(u *uop) int {
	return int((uintptr(unsafe.Pointer(u)) - uintptr(unsafe.Pointer(&b.u[0]))) / unsafe.Sizeof(*u))
}

// hitOwned is translateOwned's outcome for a read at va that the hit memo
// answers with the frame va's verified-page entry holds for reads (that
// frame, no extra cycles), or nil, having changed nothing.
func (c *CPU) hitOwned(va uint64) *phys.Frame {
	vpn := va >> phys.PageShift
	e := &c.oc[ocIndex(vpn)]
	if e.key[tlb.Read] != vpn<<ocEpochBits|c.ocEpoch || !c.MMU.HitFrame(tlb.VirtAddr(va), tlb.Read, e.frame) {
		return nil
	}
	return e.frame
}
