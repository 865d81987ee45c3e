package tlb

import (
	"testing"

	"github.com/tlbemu/emu/internal/phys"
)

// Addresses used by the walk tests.
var (
	va4K   = userVA + 0x123
	va2M   = VirtAddr(0x0000_5555_4000_0000) + 3*mib2 + 0x1_2345 // inside the 4th 2 MiB page of a 1 GiB region
	va1G   = VirtAddr(0x0000_6000_0000_0000) + 0x2345_6789
	pa4K   = dataBase + 0x5000
	pa2M   = dataBase + phys.Addr(2*mib2) // 2 MiB aligned
	pa1G   = phys.Addr(gib)               // 1 GiB aligned
	beyond = phys.Addr(1) << 40           // below MAXPHYADDR, beyond guest memory
)

// TestWalk checks the walker against the SDM rules, one row per rule: page
// sizes, P/R/W/U/S/NX at every level with AND/OR combination, reserved bits
// at every level, out-of-memory addresses, non-canonical addresses, the #PF
// error code, and A/D updates (A on every level read, D on the leaf for a
// write, nothing on a fault).
func TestWalk(t *testing.T) {
	type tc struct {
		name  string
		big   bool // needs > 1 GiB of memory
		setup func(p *pageTables)
		va    VirtAddr
		acc   Access
		code  uint32    // expected #PF error code (0: success)
		pa    phys.Addr // expected physical address of va (success only)
		size  uint8
		refs  int
		w, nx bool // expected effective rights (success only)
	}
	map4K := func(flags uint64) func(p *pageTables) {
		return func(p *pageTables) { p.Map(va4K, pa4K, Size4K, flags) }
	}
	// editAt maps va4K read-write, then sets and clears bits at level.
	editAt := func(level int, set, clear uint64) func(p *pageTables) {
		return func(p *pageTables) {
			p.Map(va4K, pa4K, Size4K, rwUser)
			p.Edit(va4K, level, set, clear)
		}
	}
	const (
		U   = PFErrUser
		UW  = PFErrUser | PFErrWrite
		UI  = PFErrUser | PFErrInstr
		P   = PFErrPresent
		RSV = PFErrPresent | PFErrRsvd
	)
	off4K := phys.Addr(va4K) & 0xfff
	cases := []tc{
		{name: "4K read", setup: map4K(rwUser), va: va4K, acc: Read, pa: pa4K + off4K, size: Size4K, refs: 4, w: true},
		{name: "4K write", setup: map4K(rwUser), va: va4K, acc: Write, pa: pa4K + off4K, size: Size4K, refs: 4, w: true},
		{name: "4K fetch", setup: map4K(rwUser), va: va4K, acc: Exec, pa: pa4K + off4K, size: Size4K, refs: 4, w: true},
		{name: "2M read", setup: func(p *pageTables) { p.Map(va2M, pa2M, Size2M, rwUser) }, va: va2M, acc: Read,
			pa: pa2M + phys.Addr(va2M)&(1<<21-1), size: Size2M, refs: 3, w: true},
		{name: "1G write", big: true, setup: func(p *pageTables) { p.Map(va1G, pa1G, Size1G, rwUser) }, va: va1G, acc: Write,
			pa: pa1G + phys.Addr(va1G)&(1<<30-1), size: Size1G, refs: 2, w: true},
		{name: "PTE PAT bit is not reserved", setup: map4K(rwUser | PtePS), va: va4K, acc: Read, pa: pa4K + off4K, size: Size4K, refs: 4, w: true},
		{name: "2M PAT bit 12 is not reserved", setup: func(p *pageTables) { p.Map(va2M, pa2M|1<<12, Size2M, rwUser) }, va: va2M,
			acc: Read, pa: pa2M + phys.Addr(va2M)&(1<<21-1), size: Size2M, refs: 3, w: true},
		{name: "G in a non-leaf entry is ignored", setup: editAt(2, PteG, 0), va: va4K, acc: Read, pa: pa4K + off4K, size: Size4K, refs: 4, w: true},

		// Not present at each level: P=0 in the error code, reserved bits ignored.
		{name: "PML4E not present", setup: editAt(4, 0, PteP), va: va4K, acc: Read, code: U},
		{name: "PDPTE not present", setup: editAt(3, 0, PteP), va: va4K, acc: Write, code: UW},
		{name: "PDE not present", setup: editAt(2, 0, PteP), va: va4K, acc: Exec, code: UI},
		{name: "PTE not present", setup: map4K(PteRW | PteUS), va: va4K, acc: Read, code: U},
		{name: "not present ignores reserved bits", setup: map4K(PteRW | PteUS | 1<<51), va: va4K, acc: Read, code: U},

		// Reserved bits at each level (SDM table 4-20).
		{name: "PML4E PS reserved", setup: editAt(4, PtePS, 0), va: va4K, acc: Read, code: U | RSV},
		{name: "PML4E bit 51 reserved", setup: editAt(4, 1<<51, 0), va: va4K, acc: Read, code: U | RSV},
		{name: "PDPTE bit 46 reserved", setup: editAt(3, 1<<MaxPhysAddrBits, 0), va: va4K, acc: Write, code: UW | RSV},
		{name: "1G PDPTE bit 13 reserved", big: true, setup: func(p *pageTables) { p.Map(va1G, pa1G|1<<13, Size1G, rwUser) },
			va: va1G, acc: Read, code: U | RSV},
		{name: "2M PDE bit 20 reserved", setup: func(p *pageTables) { p.Map(va2M, pa2M|1<<20, Size2M, rwUser) },
			va: va2M, acc: Exec, code: UI | RSV},
		{name: "PTE bit 50 reserved", setup: map4K(rwUser | 1<<50), va: va4K, acc: Read, code: U | RSV},
		{name: "reserved bit beats a permission fault", setup: map4K(roUser | 1<<49), va: va4K, acc: Write, code: UW | RSV},

		// Out of guest memory (below MAXPHYADDR): treated as a reserved bit.
		{name: "PDE points beyond memory", setup: func(p *pageTables) {
			p.Map(va4K, pa4K, Size4K, rwUser)
			p.Set(va4K, 2, uint64(beyond)|upperFlags)
		}, va: va4K, acc: Read, code: U | RSV},
		{name: "page beyond memory", setup: map4K(uint64(beyond) | rwUser), va: va4K, acc: Read, code: U | RSV},
		{name: "2M page beyond memory", setup: func(p *pageTables) { p.Map(va2M, beyond, Size2M, rwUser) }, va: va2M, acc: Read, code: U | RSV},

		// Rights: AND of R/W and U/S, OR of XD, over all levels.
		{name: "write to read-only PTE", setup: map4K(roUser), va: va4K, acc: Write, code: UW | P},
		{name: "read of read-only PTE", setup: map4K(roUser), va: va4K, acc: Read, pa: pa4K + off4K, size: Size4K, refs: 4},
		{name: "R/W=0 in PDE denies write", setup: editAt(2, 0, PteRW), va: va4K, acc: Write, code: UW | P},
		{name: "R/W=0 in PML4E denies write", setup: editAt(4, 0, PteRW), va: va4K, acc: Write, code: UW | P},
		{name: "R/W=0 in PDPTE allows read", setup: editAt(3, 0, PteRW), va: va4K, acc: Read, pa: pa4K + off4K, size: Size4K, refs: 4},
		{name: "U/S=0 in PTE denies user read", setup: map4K(PteP | PteRW), va: va4K, acc: Read, code: U | P},
		{name: "U/S=0 in PDPTE denies user read", setup: editAt(3, 0, PteUS), va: va4K, acc: Read, code: U | P},
		{name: "U/S=0 in PML4E denies user fetch", setup: editAt(4, 0, PteUS), va: va4K, acc: Exec, code: UI | P},
		{name: "U/S=0 in 2M PDE denies write", setup: func(p *pageTables) { p.Map(va2M, pa2M, Size2M, PteP|PteRW) }, va: va2M, acc: Write, code: UW | P},
		{name: "NX in PTE denies fetch", setup: map4K(rwUser | PteNX), va: va4K, acc: Exec, code: UI | P},
		{name: "NX in PTE allows read", setup: map4K(rwUser | PteNX), va: va4K, acc: Read, pa: pa4K + off4K, size: Size4K, refs: 4, w: true, nx: true},
		{name: "NX in PML4E denies fetch", setup: editAt(4, PteNX, 0), va: va4K, acc: Exec, code: UI | P},
		{name: "NX in PDE allows write", setup: editAt(2, PteNX, 0), va: va4K, acc: Write, pa: pa4K + off4K, size: Size4K, refs: 4, w: true, nx: true},

		// Non-canonical: #GP, not #PF.
		{name: "non-canonical", setup: map4K(rwUser), va: 0x0000_8000_0000_0000, acc: Read, code: FaultGP},
		{name: "non-canonical high", setup: map4K(rwUser), va: 0xffff_0000_0000_0000 | va4K, acc: Read, code: FaultGP},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			size := testMem
			if c.big {
				size = bigMem
			}
			mem := phys.New(size)
			p := newPageTables(t, mem)
			c.setup(p)
			before := pathEntries(p, c.va)
			r, code := Walk(mem, p.CR3(0), c.va, c.acc)
			if code != c.code {
				t.Fatalf("Walk(%#x, %d) code = %#x, want %#x", c.va, c.acc, code, c.code)
			}
			after := pathEntries(p, c.va)
			if code != 0 {
				if before != after {
					t.Errorf("faulting walk changed entries: before %#x, after %#x", before, after)
				}
				return
			}
			if got := r.PFN.Addr() + phys.Addr(c.va)&0xfff; got != c.pa {
				t.Errorf("PA = %#x, want %#x", got, c.pa)
			}
			if r.Size != c.size || r.Refs != c.refs || r.W != c.w || r.NX != c.nx || !r.U {
				t.Errorf("size %d refs %d W %v U %v NX %v, want size %d refs %d W %v U true NX %v",
					r.Size, r.Refs, r.W, r.U, r.NX, c.size, c.refs, c.w, c.nx)
			}
			leaf := leafLevel(c.size)
			for l := 4; l >= leaf; l-- {
				e := after[4-l]
				if e&PteA == 0 {
					t.Errorf("level %d entry %#x: A not set", l, e)
				}
				wantD := l == leaf && c.acc == Write
				if (e&PteD != 0) != wantD {
					t.Errorf("level %d entry %#x: D = %v, want %v", l, e, e&PteD != 0, wantD)
				}
				if e&^(PteA|PteD) != before[4-l]&^(PteA|PteD) {
					t.Errorf("level %d entry changed beyond A/D: %#x → %#x", l, before[4-l], e)
				}
			}
			if r.Leaf != after[4-leaf] || r.LeafPA != p.entryAddr(c.va, leaf, false) {
				t.Errorf("Leaf %#x at %#x, want %#x at %#x", r.Leaf, r.LeafPA, after[4-leaf], p.entryAddr(c.va, leaf, false))
			}
			if r.ADUpdates != 5-leaf {
				t.Errorf("ADUpdates = %d, want %d", r.ADUpdates, 5-leaf)
			}
			// A second walk makes no locked update unless it must set D.
			r2, code2 := Walk(mem, p.CR3(0), c.va, c.acc)
			if code2 != 0 || r2.ADUpdates != 0 || r2.PFN != r.PFN {
				t.Errorf("second walk: code %#x ADUpdates %d PFN %#x, want 0 0 %#x", code2, r2.ADUpdates, r2.PFN, r.PFN)
			}
		})
	}
}

// pathEntries returns the entries for va from PML4E down, stopping at the
// first missing table (0 for levels not reached).
func pathEntries(p *pageTables, va VirtAddr) [4]uint64 {
	var out [4]uint64
	if !va.Canonical() {
		return out
	}
	table := p.cr3
	for l := 4; l >= 1; l-- {
		ea := table + phys.Addr(va.Index(l)*8)
		if !p.mem.Valid(ea) {
			break
		}
		e := p.mem.LoadPTE(ea)
		out[4-l] = e
		if e&PteP == 0 || (l <= 3 && e&PtePS != 0) {
			break
		}
		table = phys.Addr(e & PteAddrMask)
	}
	return out
}

// TestWalkSetsDOnLaterWrite checks that a write after a read sets D (the
// read left it clear) with one locked update.
func TestWalkSetsDOnLaterWrite(t *testing.T) {
	mem := phys.New(testMem)
	p := newPageTables(t, mem)
	p.Map(va4K, pa4K, Size4K, rwUser)
	if _, code := Walk(mem, p.CR3(0), va4K, Read); code != 0 {
		t.Fatalf("read: code %#x", code)
	}
	if e := p.Entry(va4K, 1); e&PteD != 0 || e&PteA == 0 {
		t.Fatalf("after read PTE = %#x, want A=1 D=0", e)
	}
	r, code := Walk(mem, p.CR3(0), va4K, Write)
	if code != 0 || r.ADUpdates != 1 {
		t.Fatalf("write: code %#x ADUpdates %d, want 0 1", code, r.ADUpdates)
	}
	if e := p.Entry(va4K, 1); e&PteD == 0 || r.Leaf != e {
		t.Fatalf("after write PTE = %#x (Leaf %#x), want D=1", e, r.Leaf)
	}
}
