package cpu_test

import (
	"fmt"

	"github.com/tlbemu/emu/cpu"
	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// mapPage maps va to a fresh frame in the 4-level tables rooted at pml4,
// allocating the intermediate tables, and returns the frame.
func mapPage(mem *phys.Memory, pml4 phys.PFN, va uint64, flags uint64) phys.PFN {
	table := pml4.Addr()
	for level := 4; level > 1; level-- {
		ea := table + phys.Addr(tlb.VirtAddr(va).Index(level)*8)
		e := mem.LoadPTE(ea)
		if e&tlb.PteP == 0 {
			p, _ := mem.Alloc()
			e = uint64(p.Addr()) | tlb.PteP | tlb.PteRW | tlb.PteUS
			mem.StorePTE(ea, e)
		}
		table = phys.Addr(e & tlb.PteAddrMask)
	}
	p, _ := mem.Alloc()
	mem.StorePTE(table+phys.Addr(tlb.VirtAddr(va).Index(1)*8), uint64(p.Addr())|flags)
	return p
}

// A vCPU runs a tiny program until it makes a system call; the caller (the
// kernel model in the emulator) handles it and resumes the vCPU.
func ExampleCPU_Run() {
	mem := phys.New(16 << 20)
	mmu := tlb.New(mem, tlb.DefaultConfig())
	pml4, _ := mem.Alloc()
	mmu.WriteCR3(uint64(pml4.Addr()))

	const code = 0x401000
	text := mapPage(mem, pml4, code, tlb.PteP|tlb.PteUS)
	mem.Write(text.Addr(), []byte{
		0xbf, 0x06, 0x00, 0x00, 0x00, // mov edi, 6
		0x6b, 0xff, 0x07, // imul edi, edi, 7
		0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
		0x0f, 0x05, // syscall
	})

	c := cpu.New(0, mem, mmu, cpu.DefaultCosts())
	c.Regs.RIP, c.Regs.RFLAGS = code, 0x202
	c.Deadline = 1_000_000
	ex := c.Run()
	fmt.Printf("exit %v: syscall %d(%d) after %d instructions, rip %#x\n",
		ex.Kind, c.Regs.GPR[cpu.RAX], c.Regs.GPR[cpu.RDI], c.Instructions, c.Regs.RIP)
	// Output:
	// exit syscall: syscall 60(42) after 4 instructions, rip 0x40100f
}
