package kernelmodel

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tlbemu/emu/cpu"
	"github.com/tlbemu/emu/internal/elfload"
	"github.com/tlbemu/emu/internal/phys"
)

// elfETDynBase is ELF_ET_DYN_BASE on x86-64 (arch/x86/include/asm/elf.h,
// v5.10): DEFAULT_MAP_WINDOW / 3 * 2 = 0x555555554aaa, where a PIE with an
// interpreter is loaded (load_elf_binary: load_bias =
// ELF_PAGESTART(ELF_ET_DYN_BASE - vaddr) = 0x555555554000 for vaddr 0;
// no randomisation: the model runs with randomize_va_space 0).
const elfETDynBase = (uint64(1)<<47 - 4096) / 3 * 2

// ErrNoInterpreter is returned by Exec for a dynamically linked program
// whose PT_INTERP names no host file.
var ErrNoInterpreter = fmt.Errorf("kernelmodel: exec: interpreter not found")

// execDynamic models load_elf_binary (fs/binfmt_elf.c, v5.10) for a PIE
// or dynamically linked executable: its PT_LOAD segments are private
// mappings of the file (elf_map → vm_mmap), paged in on demand through
// the page cache, the bss a zeroed tail of the last file page (padzero:
// a COW copy) and anonymous pages (set_brk → vm_brk_flags); the
// interpreter named by PT_INTERP is read from the host and mapped the
// same way at an address get_unmapped_area picks for its whole span
// (load_elf_interp with total_mapping_size); execution starts at the
// interpreter's entry with AT_BASE, AT_ENTRY and AT_PHDR set as
// create_elf_tables does. A PIE without an interpreter (static-pie) is
// placed by get_unmapped_area too (load_bias 0, no MAP_FIXED).
func (m *Machine) execDynamic(im *elfload.Image, data []byte, path string, argv, envp []string) error {
	mm, err := m.newMM()
	if err != nil {
		return err
	}
	mm.files = []*file{{kind: fileStdio, stdio: 0, flags: oRdonly}, {kind: fileStdio, stdio: 1, flags: oWronly}, {kind: fileStdio, stdio: 2, flags: oWronly}}
	exe := absPath(path)
	fs := m.fs()
	// The executable's page cache: the bytes execve read (the file the
	// kernel opened), shared with later opens of the same path.
	var exeFile *shmemFile
	if n := fs.hostInode(exe); n != nil && n.kind == inoReg {
		exeFile = n.shm
	} else { // not a host file (a test's image): an inode of its own
		exeFile = &shmemFile{name: exe, cache: map[uint64]phys.PFN{}, host: exe}
		fs.nextIno++
		exeFile.ino = &inode{kind: inoReg, ino: fs.nextIno, dev: devHost, mode: 0o755, nlink: 1, host: true, shm: exeFile}
		fs.hostInodes[exe] = exeFile.ino
	}
	exeFile.backing, exeFile.size = data, uint64(len(data))

	first := im.Segments[0].Vaddr &^ 0xfff
	var bias uint64
	if im.PIE {
		if im.Interp != "" {
			bias = (elfETDynBase - im.Segments[0].Vaddr) &^ 0xfff
		} else {
			a := mm.getUnmappedArea(totalMappingSize(im))
			if a == 0 {
				return fmt.Errorf("kernelmodel: exec: no room for the executable")
			}
			bias = a - first
		}
	}
	if err := m.mapELF(mm, exeFile, im, bias); err != nil {
		return err
	}
	var end uint64
	mm.startCode = ^uint64(0)
	for _, s := range im.Segments {
		end = max(end, s.Vaddr+s.Memsz+bias)
		fend := s.Vaddr + bias + uint64(len(s.Data))
		if s.Exec {
			mm.startCode = min(mm.startCode, s.Vaddr+bias)
			mm.endCode = max(mm.endCode, fend)
		} else {
			if mm.startData == 0 || s.Vaddr+bias < mm.startData {
				mm.startData = s.Vaddr + bias
			}
			mm.endData = max(mm.endData, fend)
		}
	}
	if mm.startCode == ^uint64(0) {
		mm.startCode = 0
	}
	mm.brk = (end + 0xfff) &^ 0xfff
	mm.startBrk = mm.brk
	h := execHeader{phent: im.Phentsize, phnum: im.Phnum, entry: im.Entry + bias}
	s0 := im.Segments[0]
	h.phdr = s0.Vaddr - s0.Off + im.Phoff + bias // load_addr + e_phoff
	rip := h.entry
	if im.Interp != "" {
		base, ientry, err := m.loadInterp(mm, im.Interp)
		if err != nil {
			return err
		}
		h.base = base
		rip = ientry
	}
	stack := &VMA{start: stackTop - stackSize, end: stackTop, flags: VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT | VM_GROWSDOWN | VM_SOFTDIRTY, anon: true, name: "[stack]"}
	if !mm.free(stack.start, stack.end) {
		return fmt.Errorf("kernelmodel: exec: the program's segments overlap the stack")
	}
	mm.insertVMA(stack)
	sp, err := m.setupArgs(mm, stack, path, argv, envp, h)
	if err != nil {
		return err
	}
	mm.exe = exe
	t := m.newTask(mm, 0, taskComm(path))
	t.regs = cpu.InitialRegs(rip, sp)
	v := m.cpus[0]
	t.home = v
	v.runq = append(v.runq, t)
	v.wakeAt = 0
	return nil
}

// taskComm is __set_task_comm's name: the last path component, at most
// TASK_COMM_LEN-1 bytes.
func taskComm(path string) string {
	comm := filepath.Base(path)
	if len(comm) > 15 {
		comm = comm[:15]
	}
	return comm
}

// totalMappingSize is total_mapping_size: the span of the PT_LOADs.
func totalMappingSize(im *elfload.Image) uint64 {
	last := im.Segments[len(im.Segments)-1]
	return (last.Vaddr+last.Memsz+0xfff)&^0xfff - im.Segments[0].Vaddr&^0xfff
}

// loadInterp models load_elf_interp: read the interpreter from the host
// (a missing one is ErrNoInterpreter with its path), map it where
// get_unmapped_area puts its total span, and return its load address
// (AT_BASE) and entry point.
func (m *Machine) loadInterp(mm *MM, interp string) (base, entry uint64, err error) {
	real, err := filepath.EvalSymlinks(interp)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %s: %v", ErrNoInterpreter, interp, err)
	}
	data, err := os.ReadFile(real)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %s: %v", ErrNoInterpreter, interp, err)
	}
	im, err := elfload.Parse(data)
	if err != nil {
		return 0, 0, fmt.Errorf("kernelmodel: exec: interpreter %s: %w", interp, err)
	}
	if im.Interp != "" {
		return 0, 0, fmt.Errorf("kernelmodel: exec: interpreter %s has an interpreter itself", interp)
	}
	fs := m.fs()
	n := fs.hostInode(real)
	if n == nil || n.kind != inoReg {
		return 0, 0, fmt.Errorf("%w: %s", ErrNoInterpreter, interp)
	}
	n.shm.backing = data // the bytes read here are the file's cached contents
	var bias uint64
	if im.PIE {
		a := mm.getUnmappedArea(totalMappingSize(im))
		if a == 0 {
			return 0, 0, fmt.Errorf("kernelmodel: exec: no room for the interpreter")
		}
		bias = a - im.Segments[0].Vaddr&^0xfff
	}
	if err := m.mapELF(mm, n.shm, im, bias); err != nil {
		return 0, 0, err
	}
	return bias, im.Entry + bias, nil
}

// mapELF maps im's PT_LOAD segments at bias as private mappings of s
// (elf_map), each segment's bss as the zeroed tail of its last file page
// (padzero, a private copy made now) and anonymous memory beyond
// (vm_brk_flags).
func (m *Machine) mapELF(mm *MM, s *shmemFile, im *elfload.Image, bias uint64) error {
	for _, seg := range im.Segments {
		va := seg.Vaddr + bias
		start := va &^ 0xfff
		fileEnd := va + uint64(len(seg.Data))
		memEnd := va + seg.Memsz
		if start < mmapMinAddr || memEnd > stackTop-stackSize-stackGuardGap || memEnd < va {
			return fmt.Errorf("kernelmodel: exec: PT_LOAD at %#x-%#x outside the user range", va, memEnd)
		}
		f := uint64(VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_SOFTDIRTY)
		if seg.Read {
			f |= VM_READ
		}
		if seg.Write {
			f |= VM_WRITE | VM_ACCOUNT
		}
		if seg.Exec {
			f |= VM_EXEC
		}
		mapEnd := (fileEnd + 0xfff) &^ 0xfff
		if len(seg.Data) > 0 {
			off := seg.Off - (seg.Vaddr & 0xfff) // p_offset - ELF_PAGEOFFSET(p_vaddr)
			if !mm.free(start, mapEnd) {
				return fmt.Errorf("kernelmodel: exec: PT_LOAD at %#x overlaps another", va)
			}
			vma := &VMA{start: start, end: mapEnd, flags: f, name: s.name, file: s, fileBias: int64(off>>12) - int64(start>>12)}
			mm.insertVMA(vma)
			if memEnd > fileEnd && fileEnd&0xfff != 0 {
				// padzero: clear_user of the rest of the last file page
				src, err := m.bootCachePage(s, vma.linearPageIndex(fileEnd&^0xfff))
				if err != nil {
					return err
				}
				p, err := m.populate(mm, vma, fileEnd&^0xfff)
				if err != nil {
					return err
				}
				fr := m.mem.Frame(p)
				*fr = *m.mem.Frame(src)
				clear(fr[fileEnd&0xfff:])
			}
		} else {
			mapEnd = start
		}
		if bssEnd := (memEnd + 0xfff) &^ 0xfff; bssEnd > mapEnd {
			if !mm.free(mapEnd, bssEnd) {
				return fmt.Errorf("kernelmodel: exec: bss at %#x overlaps another segment", mapEnd)
			}
			bf := uint64(VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT | VM_SOFTDIRTY)
			if seg.Exec {
				bf |= VM_EXEC
			}
			mm.insertVMA(&VMA{start: mapEnd, end: bssEnd, flags: bf, anon: true})
		}
	}
	return nil
}

// bootCachePage is shmemGetPage for a file-backed cache at exec time
// (before any vCPU runs: no locks, no cycles).
func (m *Machine) bootCachePage(s *shmemFile, index uint64) (phys.PFN, error) {
	if p, ok := s.cache[index]; ok {
		return p, nil
	}
	p, err := m.allocPage()
	if err != nil {
		return 0, err
	}
	if err := s.readPage(index, m.mem.Frame(p)[:]); err != nil {
		m.putPage(p)
		return 0, err
	}
	m.fs().pagecache.misses++
	m.pages[p].lru = true
	s.cache[index] = p
	return p, nil
}
