package kernelmodel

import (
	"encoding/binary"
	"fmt"

	"github.com/tlbemu/emu/cpu"
	"github.com/tlbemu/emu/internal/elfload"
	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

const (
	stackTop  = uint64(0x7fff_ffff_f000)
	stackSize = uint64(8 << 20) // RLIMIT_STACK default
)

// Load creates the first process from a static ELF executable, as execve
// does: an mm with one VMA per PT_LOAD segment and a stack holding argc,
// argv, envp and the auxiliary vector, and its first thread on CPU 0.
// Segments are populated eagerly (the model has no page cache): their pages
// are private anonymous pages with contents, so text never faults.
func (m *Machine) Load(data []byte, argv []string) error {
	im, err := elfload.Load(data)
	if err != nil {
		return err
	}
	mm, err := m.newMM()
	if err != nil {
		return err
	}
	mm.files = []*file{{kind: fileStdout}, {kind: fileStdout}, {kind: fileStdout}}
	for _, s := range im.Segments {
		start := s.Vaddr &^ 0xfff
		end := (s.Vaddr + s.Memsz + 0xfff) &^ 0xfff
		f := VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC // a private file mapping (elf_map)
		if s.Read {
			f |= VM_READ
		}
		if s.Write {
			f |= VM_WRITE | VM_ACCOUNT
		}
		if s.Exec {
			f |= VM_EXEC
		}
		vma := &VMA{start: start, end: end, flags: f | VM_SOFTDIRTY, anon: true, name: "elf"}
		mm.insertVMA(vma)
		for a := start; a < end; a += 4096 {
			p, err := m.populate(mm, vma, a)
			if err != nil {
				return err
			}
			// copy the part of the file image that falls in this page
			lo, hi := max(a, s.Vaddr), min(a+4096, s.Vaddr+uint64(len(s.Data)))
			if lo < hi {
				copy(m.mem.Frame(p)[lo-a:hi-a], s.Data[lo-s.Vaddr:hi-s.Vaddr])
			}
		}
	}
	mm.brk = im.Brk()
	stack := &VMA{start: stackTop - stackSize, end: stackTop, flags: VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT | VM_GROWSDOWN | VM_SOFTDIRTY, anon: true, name: "[stack]"}
	mm.insertVMA(stack)
	sp, err := m.setupArgs(mm, stack, argv)
	if err != nil {
		return err
	}
	comm := "guest"
	if len(argv) > 0 {
		comm = argv[0]
		for i := len(comm) - 1; i >= 0; i-- {
			if comm[i] == '/' {
				comm = comm[i+1:]
				break
			}
		}
	}
	t := m.newTask(mm, 0, comm)
	t.regs = cpu.InitialRegs(im.Entry, sp)
	v := m.cpus[0]
	t.home = v
	v.runq = append(v.runq, t)
	v.wakeAt = 0
	return nil
}

// populate maps a fresh zeroed page at addr with the VMA's protection.
func (m *Machine) populate(mm *MM, vma *VMA, addr uint64) (phys.PFN, error) {
	p, err := m.allocPage()
	if err != nil {
		return 0, err
	}
	slot, err := m.pteAllocBoot(mm, addr)
	if err != nil {
		return 0, err
	}
	e := mkPTE(p, vmPageProt(vma.flags)) | tlb.PteA
	if vma.flags&VM_WRITE != 0 {
		e = pteMkwrite(pteMkdirty(e))
	}
	m.pages[p].anon = true
	m.pages[p].mapcount = 1
	m.pages[p].lru = true
	m.mem.StorePTE(slot, e)
	return p, nil
}

// pteAllocBoot allocates page-table levels for addr outside any vCPU
// context (exec time: nothing runs yet, so no locks are needed).
func (m *Machine) pteAllocBoot(mm *MM, addr uint64) (phys.Addr, error) {
	table := mm.pgd
	for level := 4; level >= 2; level-- {
		ea := table.Addr() + phys.Addr(tlb.VirtAddr(addr).Index(level)*8)
		e := m.mem.LoadPTE(ea)
		if e&tlb.PteP == 0 {
			p, err := m.allocPage()
			if err != nil {
				return 0, err
			}
			e = uint64(p.Addr()) | tableEntry
			m.mem.StorePTE(ea, e)
		}
		table = ptePFN(e)
	}
	return table.Addr() + phys.Addr(tlb.VirtAddr(addr).Index(1)*8), nil
}

// setupArgs lays out the initial stack (create_elf_tables) and returns the
// initial RSP, which points at argc.
func (m *Machine) setupArgs(mm *MM, stack *VMA, argv []string) (uint64, error) {
	var strs []byte
	var offs []uint64
	for _, a := range argv {
		offs = append(offs, uint64(len(strs)))
		strs = append(strs, a...)
		strs = append(strs, 0)
	}
	random := [16]byte{0x37, 0x13, 0x42, 0x24, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	strBase := (stackTop - 64 - uint64(len(strs))) &^ 15
	randAddr := strBase - 16
	// words: argc, argv..., NULL, envp NULL, auxv pairs (AT_PAGESZ, AT_RANDOM, AT_NULL)
	words := []uint64{uint64(len(argv))}
	for _, o := range offs {
		words = append(words, strBase+o)
	}
	words = append(words, 0, 0, 6, 4096, 25, randAddr, 0, 0)
	sp := (randAddr - uint64(len(words))*8) &^ 15
	if stackTop-sp > 64<<10 {
		return 0, fmt.Errorf("kernelmodel: argument list too long (%d bytes)", stackTop-sp)
	}
	for a := sp &^ 0xfff; a < stackTop; a += 4096 {
		if _, err := m.populate(mm, stack, a); err != nil {
			return 0, err
		}
	}
	buf := make([]byte, stackTop-sp)
	for i, w := range words {
		binary.LittleEndian.PutUint64(buf[i*8:], w)
	}
	copy(buf[randAddr-sp:], random[:])
	copy(buf[strBase-sp:], strs)
	if err := m.writeUser(mm, sp, buf); err != nil {
		return 0, err
	}
	return sp, nil
}

// writeUser writes b at a user address of mm through its page tables (exec
// time only; the pages must be present).
func (m *Machine) writeUser(mm *MM, addr uint64, b []byte) error {
	for len(b) > 0 {
		r, code := tlb.Walk(m.mem, mm.pgdCR3(), tlb.VirtAddr(addr), tlb.Read)
		if code != 0 {
			return fmt.Errorf("kernelmodel: exec: %#x not mapped", addr)
		}
		n := copy(m.mem.Frame(r.PFN)[addr&0xfff:], b)
		b, addr = b[n:], addr+uint64(n)
	}
	return nil
}
