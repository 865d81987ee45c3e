package cpu

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// memoRun is what one run of TestMemoMatchesPlain observed.
type memoRun struct {
	exits  []string
	stats  tlb.Stats
	clock  uint64
	instr  uint64
	regs   Regs
	data   []byte
	stale  int
	hitsOn bool // the MMU memo answered some translations
}

// runHotLoopPhases runs the hot loop through phases that change the TLB
// model between runs: INVLPG of the data pages, a CR3 reload, a write-
// protect without flush (stores through the stale entry, seen by
// OnStaleWrite when hook is set) and then its flush (a store #PF).
func runHotLoopPhases(t *testing.T, noMemo bool, mode OwnMode, hook bool) memoRun {
	m := newHotLoop(t)
	cfg := tlb.DefaultConfig()
	cfg.NoMemo = noMemo
	mmu := tlb.New(m.mem, cfg)
	mmu.WriteCR3(m.mmu.CR3())
	m.mmu, m.cpu.MMU = mmu, mmu
	var r memoRun
	if hook {
		mmu.OnStaleWrite = func(tlb.VirtAddr, phys.PFN, uint64, bool) { r.stale++ }
	}
	c := m.cpu
	if mode != OwnOff {
		c.Owners, c.Own = NewOwners(m.mem.Frames()), mode
	}
	run := func(what string) {
		c.Deadline = c.Clock + 20000
		ex := c.Run()
		r.exits = append(r.exits, fmt.Sprintf("%s: %v %#x %#x rip %#x", what, ex.Kind, ex.Addr, ex.ErrCode, c.Regs.RIP))
	}
	run("warm")
	// A fetch as Run does it (HitExec, else Translate) counts the same
	// either way, once settled.
	before := mmu.Stats.ITLBHits
	if mmu.HitExec(tlb.VirtAddr(c.Regs.RIP)) != nil {
		mmu.Settle()
		r.hitsOn = mmu.Stats.ITLBHits == before+1
	} else {
		mmu.Translate(tlb.VirtAddr(c.Regs.RIP), tlb.Exec)
	}
	run("steady")
	mmu.Invlpg(testData)
	mmu.Invlpg(testData + 0x1000)
	run("after INVLPG")
	mmu.WriteCR3(mmu.CR3())
	run("after CR3")
	// Write-protect the page the loop stores to (RSI) without a flush.
	pte := m.pte(testData + 0x1000)
	if err := m.mem.StorePTE(pte, m.mem.LoadPTE(pte)&^tlb.PteRW); err != nil {
		t.Fatal(err)
	}
	run("stale")
	mmu.Invlpg(testData + 0x1000)
	run("flushed")
	r.stats, r.clock, r.instr, r.regs = mmu.Stats, c.Clock, c.Instructions, c.Regs
	r.data = m.read(testData, 2*pageSize)
	return r
}

// TestMemoMatchesPlain runs the hot loop with and without the MMU's hit
// memo and requires the same exits, counters, cycles, registers and
// memory.
func TestMemoMatchesPlain(t *testing.T) {
	for _, mode := range []OwnMode{OwnOff, OwnAcquire} {
		for _, hook := range []bool{false, true} {
			t.Run(fmt.Sprintf("own=%d/hook=%v", mode, hook), func(t *testing.T) {
				on := runHotLoopPhases(t, false, mode, hook)
				off := runHotLoopPhases(t, true, mode, hook)
				if !on.hitsOn || off.hitsOn {
					t.Fatalf("memo answered: on %v, off %v", on.hitsOn, off.hitsOn)
				}
				if !reflect.DeepEqual(on.exits, off.exits) {
					t.Errorf("exits: with memo %v, without %v", on.exits, off.exits)
				}
				if on.stats != off.stats {
					t.Errorf("tlb stats: with memo\n%+v\nwithout\n%+v", on.stats, off.stats)
				}
				if on.clock != off.clock || on.instr != off.instr || on.stale != off.stale {
					t.Errorf("clock, instructions, stale writes: with memo %d %d %d, without %d %d %d",
						on.clock, on.instr, on.stale, off.clock, off.instr, off.stale)
				}
				if on.regs != off.regs {
					t.Errorf("registers: with memo %+v, without %+v", on.regs.GPR, off.regs.GPR)
				}
				if !bytes.Equal(on.data, off.data) {
					t.Error("data pages differ")
				}
				if hook && on.stale == 0 {
					t.Error("no store went through the stale entry")
				}
				if on.exits[len(on.exits)-1] == on.exits[len(on.exits)-2] {
					t.Errorf("the flush did not change how the loop ends: %v", on.exits)
				}
			})
		}
	}
}
