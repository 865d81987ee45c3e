package tlb

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/tlbemu/emu/internal/phys"
)

// Layout of the fuzzed memory: 32 frames; frames 1–4 hold the PML4, PDPT,
// PD and PT the fuzzed entries go into; the rest are data.
const (
	fzFrames = 32
	fzPML4   = 1
	fzData   = 5
)

// fuzzFix bits steer fuzzed entries towards interesting cases.
const (
	fzFixAddr  = 0x0f // bit i: point entry at level 4-i to the next fixed table (or a data frame)
	fzClearRsv = 0x10 // clear bits 51:46 in every entry
	fzPresent  = 0x20 // set P in every entry
	fzUser     = 0x40 // set U/S and R/W in every entry
)

// FuzzWalk puts fuzzed entries at the four levels of one walk and checks
// that Walk never panics, agrees with refWalkBytes (a slow reference written
// from the SDM tables, working on a byte copy of memory) on the fault code,
// the translation and the A/D bits written, and that a fresh MMU's Translate
// agrees too, twice in a row.
func FuzzWalk(f *testing.F) {
	const all = fzFixAddr | fzClearRsv | fzPresent | fzUser
	f.Add(uint64(0x0000_1234_5678_9abc), uint64(0), uint64(0), uint64(0), uint64(0), uint8(Read), uint8(all))
	f.Add(uint64(0x0000_1234_5678_9abc), uint64(0), uint64(0), uint64(0), uint64(0), uint8(Write), uint8(all))
	f.Add(uint64(0x0000_0000_0020_1234), uint64(0), uint64(0), uint64(PtePS), uint64(0), uint8(Write), uint8(all)) // 2 MiB page at 0
	f.Add(uint64(0x0000_0000_0000_5678), uint64(0), uint64(PtePS), uint64(0), uint64(0), uint8(Read), uint8(all))  // 1 GiB page at 0
	f.Add(uint64(0x0000_1234_5678_9abc), uint64(0), uint64(0), uint64(0), uint64(PteNX), uint8(Exec), uint8(all))
	f.Add(uint64(0x0000_1234_5678_9abc), uint64(PtePS), uint64(0), uint64(0), uint64(0), uint8(Read), uint8(all))
	f.Add(uint64(0x0000_1234_5678_9abc), uint64(0), uint64(0), uint64(0), uint64(1<<50), uint8(Read), uint8(all&^fzClearRsv&^0x08))
	f.Add(uint64(0x0000_1234_5678_9abc), uint64(0), uint64(1<<13|PtePS), uint64(0), uint64(0), uint8(Read), uint8(all))
	f.Add(uint64(0x0000_1234_5678_9abc), uint64(0), uint64(0), uint64(0x40_0000), uint64(0), uint8(Read), uint8(all&^0x04)) // PD entry → beyond memory
	f.Add(uint64(0x0000_1234_5678_9abc), uint64(0), uint64(0), uint64(0), uint64(0), uint8(Write), uint8(all&^fzUser))
	f.Add(uint64(0xffff_8000_0000_1000), uint64(0), uint64(0), uint64(0), uint64(0), uint8(Read), uint8(all))
	f.Add(uint64(0x0000_8000_0000_1000), uint64(0), uint64(0), uint64(0), uint64(0), uint8(Read), uint8(all))
	f.Add(uint64(0x0000_1234_5678_9abc), uint64(0xffff_ffff_ffff_ffff), uint64(0x8000_0000_0000_0067), uint64(0x67), uint64(0x1067), uint8(Write), uint8(0))
	f.Fuzz(func(t *testing.T, va, e4, e3, e2, e1 uint64, accB, fix uint8) {
		acc := Access(accB % 3)
		mem := phys.New(fzFrames * phys.PageSize)
		v := VirtAddr(va)
		entries := [4]uint64{e4, e3, e2, e1}
		for i := range entries {
			e := entries[i]
			if fix&fzClearRsv != 0 {
				e &^= physRsvd
			}
			if fix&fzPresent != 0 {
				e |= PteP
			}
			if fix&fzUser != 0 {
				e |= PteUS | PteRW
			}
			if fix&(1<<i) != 0 {
				next := uint64(fzPML4 + 1 + i) // PDPT, PD, PT, then a data frame
				if i == 3 || (i >= 1 && e&PtePS != 0) {
					next = fzData + (e>>12)%(fzFrames-fzData)
					if i < 3 {
						next = 0 // a large page must be aligned: the one at 0
					}
				}
				e = e&^PteAddrMask | next<<12
			}
			entries[i] = e
			table := phys.Addr(fzPML4+i) << 12
			if err := mem.StorePTE(table+phys.Addr(v.Index(4-i)*8), e); err != nil {
				t.Fatal(err)
			}
		}
		before := make([]byte, fzFrames*phys.PageSize)
		if err := mem.Read(0, before); err != nil {
			t.Fatal(err)
		}
		cr3 := uint64(fzPML4 << 12)
		want := refWalkBytes(before, cr3, va, acc)

		r, code := Walk(mem, cr3, v, acc)
		checkWalk(t, "Walk", mem, want, code, r.PFN)

		// A fresh MMU on the same initial memory, twice.
		if err := mem.Write(0, before); err != nil {
			t.Fatal(err)
		}
		m := New(mem, DefaultConfig())
		m.WriteCR3(cr3)
		for i := 0; i < 2; i++ {
			fr, _, code := m.Translate(v, acc)
			var pfn phys.PFN
			if fr != nil {
				pfn = ^phys.PFN(0)
				for p := phys.PFN(0); p < fzFrames; p++ {
					if mem.Frame(p) == fr {
						pfn = p
					}
				}
			}
			checkWalk(t, "Translate", mem, want, code, pfn)
		}
		if code == 0 && (r.W != want.w || r.U != want.u || r.NX != want.nx || r.Size != want.size) {
			t.Errorf("rights/size: W %v U %v NX %v size %d, want %v %v %v %d", r.W, r.U, r.NX, r.Size, want.w, want.u, want.nx, want.size)
		}
	})
}

func checkWalk(t *testing.T, what string, mem *phys.Memory, want refResult, code uint32, pfn phys.PFN) {
	t.Helper()
	if code != want.code {
		t.Fatalf("%s: code %#x, want %#x", what, code, want.code)
	}
	if code == 0 && uint64(pfn) != want.pfn {
		t.Fatalf("%s: PFN %#x, want %#x", what, pfn, want.pfn)
	}
	after := make([]byte, fzFrames*phys.PageSize)
	if err := mem.Read(0, after); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, want.mem) {
		for i := 0; i < len(after); i += 8 {
			if a, b := binary.LittleEndian.Uint64(after[i:]), binary.LittleEndian.Uint64(want.mem[i:]); a != b {
				t.Fatalf("%s: memory at %#x = %#x, want %#x", what, i, a, b)
			}
		}
	}
}

// refResult is what refWalkBytes computed.
type refResult struct {
	code     uint32
	pfn      uint64
	size     uint8
	w, u, nx bool
	mem      []byte // memory after the walk
}

// refWalkBytes is a deliberately naive reference walker over a byte image
// of guest-physical memory: SDM 4.5 tables 4-15…4-20 (reserved bits, with
// MAXPHYADDR 46 and NXE=1), 4.6 (rights), 4.7 (error code), 4.8 (A/D), with
// the model's choice that an address outside memory faults as a reserved
// bit and that a faulting walk writes nothing.
func refWalkBytes(img []byte, cr3, va uint64, acc Access) refResult {
	out := refResult{mem: bytes.Clone(img)}
	if top := va >> 47; top != 0 && top != 0x1ffff {
		out.code = FaultGP
		return out
	}
	code := uint32(4) // U/S: user mode
	if acc == Write {
		code |= 2
	}
	if acc == Exec {
		code |= 16
	}
	bits := func(hi, lo uint) uint64 { return (uint64(1)<<(hi+1) - 1) &^ (uint64(1)<<lo - 1) }
	var offs []int
	w, u, x := true, true, true
	table := cr3 & bits(51, 12)
	for level := 4; level >= 1; level-- {
		shift := 12 + 9*uint(level-1)
		off := table + (va>>shift&511)*8
		if off+8 > uint64(len(img)) {
			out.code = code | 1 | 8
			return out
		}
		e := binary.LittleEndian.Uint64(img[off:])
		offs = append(offs, int(off))
		if e&1 == 0 {
			out.code = code
			return out
		}
		large := (level == 3 || level == 2) && e&(1<<7) != 0
		rsvd := e&bits(51, 46) != 0 ||
			level == 4 && e&(1<<7) != 0 ||
			level == 3 && large && e&bits(29, 13) != 0 ||
			level == 2 && large && e&bits(20, 13) != 0
		if rsvd {
			out.code = code | 1 | 8
			return out
		}
		w = w && e&2 != 0
		u = u && e&4 != 0
		x = x && e&(1<<63) == 0
		if level == 1 || large {
			base := e & bits(51, shift)
			pa := base | va&(uint64(1)<<shift-1)
			if pa>>12 >= uint64(len(img)/4096) {
				out.code = code | 1 | 8
				return out
			}
			out.w, out.u, out.nx, out.size = w, u, !x, uint8(level-1)
			if !u || acc == Write && !w || acc == Exec && !x {
				out.code = code | 1
				return out
			}
			out.pfn = pa >> 12
			for i, o := range offs {
				e := binary.LittleEndian.Uint64(out.mem[o:]) | 1<<5
				if i == len(offs)-1 && acc == Write {
					e |= 1 << 6
				}
				binary.LittleEndian.PutUint64(out.mem[o:], e)
			}
			return out
		}
		table = e & bits(51, 12)
	}
	panic("unreachable")
}
