package cpu

import (
	"runtime"
	"testing"

	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// Test address-space layout.
const (
	testCode     = 0x400000 // two code pages, filled with INT3
	testData     = 0x10000  // four writable data pages
	testUnmapped = 0x14000  // never mapped
	testRO       = 0x20000  // one read-only page
	testStackTop = 0x800000 // one stack page below it
	testRSP      = testStackTop - 0x100
)

const pteUser = tlb.PteP | tlb.PteRW | tlb.PteUS

// machine is a vCPU with guest memory and 4-level page tables built by hand.
type machine struct {
	t    testing.TB
	mem  *phys.Memory
	mmu  *tlb.MMU
	cpu  *CPU
	pml4 phys.PFN
}

func newMachine(t testing.TB) *machine {
	t.Helper()
	mem := phys.New(64 << 20)
	mmu := tlb.New(mem, tlb.DefaultConfig())
	m := &machine{t: t, mem: mem, mmu: mmu}
	m.pml4 = m.alloc()
	mmu.WriteCR3(uint64(m.pml4.Addr()))
	m.cpu = New(0, mem, mmu, DefaultCosts())
	m.cpu.Deadline = 1 << 62
	return m
}

func (m *machine) alloc() phys.PFN {
	p, err := m.mem.Alloc()
	if err != nil {
		m.t.Fatal(err)
	}
	return p
}

// pte returns the physical address of va's leaf PTE, creating the
// intermediate tables.
func (m *machine) pte(va uint64) phys.Addr {
	table := m.pml4.Addr()
	for level := 4; level > 1; level-- {
		ea := table + phys.Addr(tlb.VirtAddr(va).Index(level)*8)
		e := m.mem.LoadPTE(ea)
		if e&tlb.PteP == 0 {
			p := m.alloc()
			e = uint64(p.Addr()) | pteUser
			if err := m.mem.StorePTE(ea, e); err != nil {
				m.t.Fatal(err)
			}
		}
		table = phys.Addr(e & tlb.PteAddrMask)
	}
	return table + phys.Addr(tlb.VirtAddr(va).Index(1)*8)
}

// mapPage maps a fresh frame at va with the given PTE flags.
func (m *machine) mapPage(va uint64, flags uint64) phys.PFN {
	p := m.alloc()
	m.mapFrame(va, p, flags)
	return p
}

// mapFrame maps frame p at va.
func (m *machine) mapFrame(va uint64, p phys.PFN, flags uint64) {
	if err := m.mem.StorePTE(m.pte(va), uint64(p.Addr())|flags); err != nil {
		m.t.Fatal(err)
	}
	m.mmu.Invlpg(tlb.VirtAddr(va))
}

// unmap clears va's PTE and flushes it.
func (m *machine) unmap(va uint64) {
	if err := m.mem.StorePTE(m.pte(va), 0); err != nil {
		m.t.Fatal(err)
	}
	m.mmu.Invlpg(tlb.VirtAddr(va))
}

// phys returns the physical address of a mapped va.
func (m *machine) phys(va uint64) phys.Addr {
	e := m.mem.LoadPTE(m.pte(va))
	if e&tlb.PteP == 0 {
		m.t.Fatalf("va %#x not mapped", va)
	}
	return phys.Addr(e&tlb.PteAddrMask) + phys.Addr(va&pageMask)
}

// write copies b to guest-virtual va (functional, bypassing the TLB).
func (m *machine) write(va uint64, b []byte) {
	for len(b) > 0 {
		n := min(len(b), int(pageSize-va&pageMask))
		if err := m.mem.Write(m.phys(va), b[:n]); err != nil {
			m.t.Fatal(err)
		}
		b, va = b[n:], va+uint64(n)
	}
}

// read copies n bytes from guest-virtual va.
func (m *machine) read(va uint64, n int) []byte {
	out := make([]byte, n)
	b := out
	for len(b) > 0 {
		k := min(len(b), int(pageSize-va&pageMask))
		if err := m.mem.Read(m.phys(va), b[:k]); err != nil {
			m.t.Fatal(err)
		}
		b, va = b[k:], va+uint64(k)
	}
	return out
}

func (m *machine) read64(va uint64) uint64 {
	b := m.read(va, 8)
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func (m *machine) write64(va, v uint64) {
	var b [8]byte
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	m.write(va, b[:])
}

// standardLayout maps the test layout: code (filled with INT3), data,
// read-only and stack pages; RIP = testCode, RSP = testRSP.
func (m *machine) standardLayout() {
	for va := uint64(testCode); va < testCode+2*pageSize; va += pageSize {
		m.mapPage(va, tlb.PteP|tlb.PteUS)
		fill := make([]byte, pageSize)
		for i := range fill {
			fill[i] = 0xCC
		}
		m.write(va, fill)
	}
	for va := uint64(testData); va < testUnmapped; va += pageSize {
		m.mapPage(va, pteUser)
	}
	m.mapPage(testRO, tlb.PteP|tlb.PteUS)
	m.mapPage(testStackTop-pageSize, pteUser|tlb.PteNX)
	m.cpu.Regs.RIP = testCode
	m.cpu.Regs.GPR[RSP] = testRSP
	m.cpu.Regs.RFLAGS = 0x202
}

// mallocs returns the process's cumulative heap allocation count.
func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}
