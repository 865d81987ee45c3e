package tlb

import (
	"testing"

	"github.com/tlbemu/emu/internal/phys"
)

// Flags used by the tests.
const (
	upperFlags = PteP | PteRW | PteUS            // non-leaf entries: everything allowed
	rwUser     = PteP | PteRW | PteUS            // a user read-write leaf
	roUser     = PteP | PteUS                    // a user read-only leaf
	dataBase   = phys.Addr(32 << 20)             // data frames live at 32 MiB and up, above the tables
	testMem    = uint64(64 << 20)                // default guest memory
	bigMem     = uint64(3 << 30)                 // for 1 GiB pages
	gib        = VirtAddr(1 << 30)               //
	mib2       = VirtAddr(2 << 20)               //
	userVA     = VirtAddr(0x0000_7f12_3456_7000) // a 4 KiB-aligned user address
)

// tb is the part of testing.TB the helpers use (rapid.T has it too).
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// pageTables builds 4-level page tables in guest-physical memory. Tables are
// allocated from mem's frame allocator (low frames); data pages are chosen by
// the caller.
type pageTables struct {
	tb  tb
	mem *phys.Memory
	cr3 phys.Addr // PML4 address
}

func newPageTables(t tb, mem *phys.Memory) *pageTables {
	t.Helper()
	p := &pageTables{tb: t, mem: mem}
	p.cr3 = p.alloc()
	return p
}

func (p *pageTables) alloc() phys.Addr {
	p.tb.Helper()
	f, err := p.mem.Alloc()
	if err != nil {
		p.tb.Fatalf("alloc page table: %v", err)
	}
	return f.Addr()
}

// entryAddr returns the address of the entry for va at level (4 … 1),
// creating missing tables (with upperFlags) on the way when create is set.
// It returns 0 if a table is missing or the path ends in a large page.
func (p *pageTables) entryAddr(va VirtAddr, level int, create bool) phys.Addr {
	p.tb.Helper()
	table := p.cr3
	for l := 4; ; l-- {
		ea := table + phys.Addr(va.Index(l)*8)
		if l == level {
			return ea
		}
		e := p.mem.LoadPTE(ea)
		// A table is followed even if the entry's P bit is clear, so that
		// tests can edit below a non-present entry.
		if e&PteAddrMask == 0 {
			if !create {
				return 0
			}
			e = uint64(p.alloc()) | upperFlags
			p.store(ea, e)
		} else if l <= 3 && e&PtePS != 0 {
			return 0
		}
		table = phys.Addr(e & PteAddrMask)
	}
}

func (p *pageTables) store(ea phys.Addr, v uint64) {
	p.tb.Helper()
	if err := p.mem.StorePTE(ea, v); err != nil {
		p.tb.Fatalf("store PTE at %#x: %v", ea, err)
	}
}

// leafLevel is the level of the leaf entry for a page of size sz.
func leafLevel(sz uint8) int { return int(sz) + 1 }

// Map maps the page of size sz holding va to the physical page at pa (sz-
// aligned) with leaf flags (PtePS is added for large pages).
func (p *pageTables) Map(va VirtAddr, pa phys.Addr, sz uint8, flags uint64) {
	p.tb.Helper()
	if sz != Size4K {
		flags |= PtePS
	}
	p.store(p.entryAddr(va, leafLevel(sz), true), uint64(pa)|flags)
}

// Entry returns the entry for va at level.
func (p *pageTables) Entry(va VirtAddr, level int) uint64 {
	p.tb.Helper()
	ea := p.entryAddr(va, level, false)
	if ea == 0 {
		p.tb.Fatalf("no level-%d entry for %#x", level, va)
	}
	return p.mem.LoadPTE(ea)
}

// Set stores v as the entry for va at level (the "kernel" editing a table,
// with no invalidation).
func (p *pageTables) Set(va VirtAddr, level int, v uint64) {
	p.tb.Helper()
	ea := p.entryAddr(va, level, false)
	if ea == 0 {
		p.tb.Fatalf("no level-%d entry for %#x", level, va)
	}
	p.store(ea, v)
}

// Edit sets and clears bits of the entry for va at level.
func (p *pageTables) Edit(va VirtAddr, level int, set, clear uint64) {
	p.tb.Helper()
	p.Set(va, level, p.Entry(va, level)&^clear|set)
}

// CR3 returns a CR3 value for these tables with the given PCID.
func (p *pageTables) CR3(pcid uint16) uint64 { return uint64(p.cr3) | uint64(pcid) }

// newMMU returns an MMU with CR4.PGE=1, CR4.PCIDE as given and CR3 loaded
// with the tables and pcid.
func newMMU(tb testing.TB, mem *phys.Memory, cfg Config, p *pageTables, pcide bool, pcid uint16) *MMU {
	tb.Helper()
	m := New(mem, cfg)
	m.SetCR4(true, pcide)
	m.WriteCR3(p.CR3(pcid))
	m.Stats = Stats{}
	return m
}

// isFrame reports whether f is the frame holding physical address pa.
func isFrame(mem *phys.Memory, f *phys.Frame, pa phys.Addr) bool {
	return f != nil && f == mem.Frame(pa.PFN())
}

// cachedUnder reports whether any TLB array holds an entry for va visible
// under pcid.
func (m *MMU) cachedUnder(va VirtAddr, pcid uint16) bool {
	for _, a := range m.tlbs {
		if a.find(va, pcid) >= 0 {
			return true
		}
	}
	return false
}

// pscCached reports whether the paging-structure cache idx holds an entry
// for va under the current PCID.
func (m *MMU) pscCached(idx int, va VirtAddr) bool {
	return m.psc[idx].find(va, m.pcid) >= 0
}

// pscCachedUnder is pscCached for another PCID.
func (m *MMU) pscCachedUnder(idx int, va VirtAddr, pcid uint16) bool {
	return m.psc[idx].find(va, pcid) >= 0
}
