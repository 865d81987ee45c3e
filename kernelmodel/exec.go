package kernelmodel

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/tlbemu/emu/cpu"
	"github.com/tlbemu/emu/internal/elfload"
	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

const (
	stackTop  = uint64(0x7fff_ffff_f000)
	stackSize = uint64(8 << 20) // RLIMIT_STACK default
)

// Load creates the first process from a static ELF executable with an
// empty environment; the program's path is argv[0].
func (m *Machine) Load(data []byte, argv []string) error {
	path := "/guest"
	if len(argv) > 0 {
		path = argv[0]
	}
	return m.Exec(data, path, argv, nil)
}

// Exec creates the first process from a static ELF executable, as execve
// does (fs/exec.c, fs/binfmt_elf.c load_elf_binary, v5.10): an mm with one
// VMA per PT_LOAD segment, the program break just past the highest
// segment, and a stack holding argc, argv, envp and the auxiliary vector
// (create_elf_tables), and its first thread on CPU 0. path is the
// executable's name as execve received it (AT_EXECFN, /proc/self/exe).
// A static executable's segments are populated eagerly: their pages are
// private anonymous pages with contents, so text never faults (the
// built-in workloads' counts depend on it). PIE and dynamically linked
// programs go through execDynamic (elfdyn.go) and the page cache.
func (m *Machine) Exec(data []byte, path string, argv, envp []string) error {
	if dim, err := elfload.Parse(data); err == nil && (dim.PIE || dim.Interp != "") {
		return m.execDynamic(dim, data, path, argv, envp) // elfdyn.go
	}
	im, err := elfload.Load(data)
	if err != nil {
		return err
	}
	hdr, err := elfHeader(data)
	if err != nil {
		return err
	}
	mm, err := m.newMM()
	if err != nil {
		return err
	}
	mm.files = []*file{{kind: fileStdio, stdio: 0, flags: oRdonly}, {kind: fileStdio, stdio: 1, flags: oWronly}, {kind: fileStdio, stdio: 2, flags: oWronly}}
	for _, s := range im.Segments {
		start := s.Vaddr &^ 0xfff
		end := (s.Vaddr + s.Memsz + 0xfff) &^ 0xfff
		// elf_map's vm_mmap refuses an address below vm.mmap_min_addr
		// (security_mmap_addr), and a segment reaching into the stack
		// (whose top is fixed here: no randomisation) would be clobbered by
		// setup_arg_pages: refuse both instead of running a broken image.
		if start < mmapMinAddr {
			return fmt.Errorf("PT_LOAD at %#x is below vm.mmap_min_addr (%#x)", s.Vaddr, mmapMinAddr)
		}
		if end < start || end > stackTop-stackSize-stackGuardGap {
			return fmt.Errorf("PT_LOAD at %#x-%#x overlaps the stack (%#x-%#x)", s.Vaddr, s.Vaddr+s.Memsz, stackTop-stackSize, stackTop)
		}
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
		img := &segmentImage{vaddr: s.Vaddr, data: s.Data}
		vma := &VMA{start: start, end: end, flags: f | VM_SOFTDIRTY, anon: true, name: "elf", exeBias: int64(hdr.offsets[s.Vaddr]>>12) - int64(start>>12), image: img}
		mm.insertVMA(vma)
		for a := start; a < end; a += 4096 {
			p, err := m.populate(mm, vma, a)
			if err != nil {
				return err
			}
			img.fill(m.mem.Frame(p)[:], a)
		}
		// The model maps segments as populated anonymous pages; in Linux
		// only the writable ones get an anon_vma (the loader's padzero
		// and the program's first stores COW their pages), so a fork
		// copies their PTEs and leaves text and rodata to refault.
		vma.anonVMA = f&VM_WRITE != 0
	}
	mm.brk = im.Brk()
	mm.startBrk = mm.brk
	// load_elf_binary's start_code/end_code (executable segments) and
	// start_data/end_data (the file part of the others).
	mm.startCode = ^uint64(0)
	for _, s := range im.Segments {
		end := s.Vaddr + uint64(len(s.Data))
		if s.Exec {
			mm.startCode = min(mm.startCode, s.Vaddr)
			mm.endCode = max(mm.endCode, end)
		} else {
			if mm.startData == 0 || s.Vaddr < mm.startData {
				mm.startData = s.Vaddr
			}
			mm.endData = max(mm.endData, end)
		}
	}
	if mm.startCode == ^uint64(0) {
		mm.startCode = 0
	}
	stack := &VMA{start: stackTop - stackSize, end: stackTop, flags: VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT | VM_GROWSDOWN | VM_SOFTDIRTY, anon: true, name: "[stack]"}
	mm.insertVMA(stack)
	hdr.entry = im.Entry
	sp, err := m.setupArgs(mm, stack, path, argv, envp, hdr)
	if err != nil {
		return err
	}
	comm := path
	for i := len(comm) - 1; i >= 0; i-- {
		if comm[i] == '/' {
			comm = comm[i+1:]
			break
		}
	}
	if len(comm) > 15 {
		comm = comm[:15] // TASK_COMM_LEN - 1 (__set_task_comm)
	}
	mm.exe = absPath(path) // d_path of the file: relative names resolve against the cwd, "/"
	t := m.newTask(mm, 0, comm)
	t.regs = cpu.InitialRegs(im.Entry, sp)
	v := m.cpus[0]
	t.home = v
	v.runq = append(v.runq, t)
	v.wakeAt = 0
	return nil
}

// execHeader is what create_elf_tables takes from the ELF header.
type execHeader struct {
	phdr         uint64 // load_addr + e_phoff
	phent, phnum uint64
	entry        uint64
	base         uint64            // AT_BASE: the interpreter's load address (0: none)
	offsets      map[uint64]uint64 // p_vaddr → p_offset of each PT_LOAD
}

// elfHeader reads e_phoff, e_phentsize and e_phnum and the first PT_LOAD's
// p_vaddr - p_offset (load_elf_binary's load_addr; the load bias of an
// ET_EXEC file is 0). elfload.Load has validated the file.
func elfHeader(data []byte) (execHeader, error) {
	h := execHeader{offsets: map[uint64]uint64{}}
	le := binary.LittleEndian
	if len(data) < 64 {
		return h, fmt.Errorf("kernelmodel: exec: short ELF header")
	}
	phoff := le.Uint64(data[32:])
	h.phent = uint64(le.Uint16(data[54:]))
	h.phnum = uint64(le.Uint16(data[56:]))
	for i := uint64(0); i < h.phnum; i++ {
		o := phoff + i*h.phent
		if h.phent < 56 || o+56 > uint64(len(data)) || o < phoff {
			return h, fmt.Errorf("kernelmodel: exec: program headers beyond the file")
		}
		if le.Uint32(data[o:]) == 1 { // PT_LOAD
			vaddr, off := le.Uint64(data[o+16:]), le.Uint64(data[o+8:])
			if len(h.offsets) == 0 {
				h.phdr = vaddr - off + phoff
			}
			h.offsets[vaddr] = off
		}
	}
	if len(h.offsets) == 0 {
		return h, fmt.Errorf("kernelmodel: exec: no PT_LOAD")
	}
	return h, nil
}

// populate maps a fresh zeroed page at addr with the VMA's protection: an
// anonymous page the kernel writes (the stack's strings and auxv, a bss
// page), so the VMA has an anon_vma.
func (m *Machine) populate(mm *MM, vma *VMA, addr uint64) (phys.PFN, error) {
	vma.anonVMA = true
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
	m.pageAddNewAnonRmap(p)
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

// Auxiliary vector types (include/uapi/linux/auxvec.h,
// arch/x86/include/uapi/asm/auxvec.h).
const (
	atNull        = 0
	atPhdr        = 3
	atPhent       = 4
	atPhnum       = 5
	atPagesz      = 6
	atBase        = 7
	atFlags       = 8
	atEntry       = 9
	atUID         = 11
	atEUID        = 12
	atGID         = 13
	atEGID        = 14
	atPlatform    = 15
	atHwcap       = 16
	atClktck      = 17
	atSecure      = 23
	atRandom      = 25
	atHwcap2      = 26
	atExecfn      = 31
	atMinSigStkSz = 51
)

// hwcap is ELF_HWCAP on x86 (boot_cpu_data.x86_capability[CPUID_1_EDX]):
// CPUID.1:EDX of the modelled vCPU, FPU TSC CX8 CMOV CLFSH MMX FXSR SSE
// SSE2 (TestAuxvHWCAPMatchesCPUID checks it against the CPU model).
const hwcap = 1<<0 | 1<<4 | 1<<8 | 1<<15 | 1<<19 | 1<<23 | 1<<24 | 1<<25 | 1<<26

// minSigStkSz is AT_MINSIGSTKSZ, get_sigframe_size() (arch/x86/kernel/
// signal.c init_sigframe_size, 1c33bb050750 in v5.14; v5.10 does not pass
// it, glibc then assumes its constant): sizeof(struct rt_sigframe) 440 +
// FRAME_ALIGNMENT-1 + the 512-byte FXSAVE fpstate of a CPU without XSAVE +
// 63 bytes of XSAVE alignment padding, rounded up to 16.
const minSigStkSz = (440 + 15 + 512 + 63 + 15) &^ 15

// Credentials of the first process: root, so that /proc/self/pagemap
// shows PFNs (pagemap_open: CAP_SYS_ADMIN).
const (
	guestUID = 0
	guestGID = 0
)

// Limits of execve's arguments (include/uapi/linux/binfmts.h,
// include/uapi/linux/limits.h, include/linux/resource.h).
const (
	maxArgStrlen = 32 * 4096 // MAX_ARG_STRLEN: one string with its NUL
	argMaxBytes  = 32 * 4096 // ARG_MAX: the least room bprm_stack_limits gives
	stkLim       = 8 << 20   // _STK_LIM
)

// argSpace returns the bytes the filename, argument and environment strings
// take on the stack (each with its NUL), or E2BIG as v5.10 does
// (fs/exec.c): copy_strings and copy_string_kernel refuse a string longer
// than MAX_ARG_STRLEN and strings that end below bprm->argmin, which
// bprm_stack_limits puts max(min(_STK_LIM/4*3, RLIMIT_STACK/4), ARG_MAX)
// (2 MiB with the 8 MiB stack) below the start, less one pointer per argv
// and envp entry.
func argSpace(path string, argv, envp []string) (uint64, error) {
	limit := max(min(stkLim/4*3, stackSize/4), argMaxBytes)
	ptrs := uint64(len(argv)+len(envp)) * 8
	if limit <= ptrs {
		return 0, fmt.Errorf("kernelmodel: exec: argument list too long (E2BIG): %d argv and envp pointers exceed the %d-byte limit", len(argv)+len(envp), limit)
	}
	total := uint64(0)
	for i, s := range slices.Concat([]string{path}, argv, envp) {
		n := uint64(len(s)) + 1
		if n > maxArgStrlen {
			what := "the filename"
			if i > 0 && i <= len(argv) {
				what = fmt.Sprintf("argv[%d]", i-1)
			} else if i > len(argv) {
				what = fmt.Sprintf("envp[%d]", i-1-len(argv))
			}
			return 0, fmt.Errorf("kernelmodel: exec: argument list too long (E2BIG): %s is %d bytes with its NUL (MAX_ARG_STRLEN %d)", what, n, maxArgStrlen)
		}
		total += n
	}
	if total > limit-ptrs {
		return 0, fmt.Errorf("kernelmodel: exec: argument list too long (E2BIG): %d bytes of strings and %d of pointers exceed the %d-byte limit", total, ptrs, limit)
	}
	return total, nil
}

// setupArgs lays out the initial stack as v5.10 does with stack
// randomization off (fs/exec.c copy_strings, fs/binfmt_elf.c
// create_elf_tables) and returns the initial RSP, which points at argc and
// is 16-byte aligned. From the top: a NULL word, the filename (AT_EXECFN),
// the environment and argument strings, the platform string "x86_64", the
// 16 AT_RANDOM bytes, then argc, argv[], NULL, envp[], NULL and the
// auxiliary vector.
func (m *Machine) setupArgs(mm *MM, stack *VMA, path string, argv, envp []string, h execHeader) (uint64, error) {
	// bprm->p starts one pointer below the top; copy_string_kernel puts
	// the filename there, then copy_strings copies envp and argv, each
	// array from its last string down, so the strings read upwards in
	// order: argv[0] … argv[argc-1] envp[0] … filename NUL-word.
	p := stackTop - 8
	p -= uint64(len(path)) + 1
	execfn := p
	var strs []byte
	var argvAt, envpAt []uint64
	total, err := argSpace(path, argv, envp)
	if err != nil {
		return 0, err
	}
	strBase := execfn - (total - uint64(len(path)) - 1)
	for _, a := range argv {
		argvAt = append(argvAt, strBase+uint64(len(strs)))
		strs = append(strs, a...)
		strs = append(strs, 0)
	}
	for _, e := range envp {
		envpAt = append(envpAt, strBase+uint64(len(strs)))
		strs = append(strs, e...)
		strs = append(strs, 0)
	}
	strs = append(strs, path...)
	strs = append(strs, 0)
	// create_elf_tables
	p = strBase &^ 15 // arch_align_stack
	const platform = "x86_64"
	p -= uint64(len(platform)) + 1
	uPlatform := p
	p -= 16
	uRandom := p
	var random [16]byte
	m.randomBytes(random[:])
	auxv := []uint64{
		atMinSigStkSz, minSigStkSz, // ARCH_DLINFO (no vDSO: no AT_SYSINFO_EHDR)
		atHwcap, hwcap,
		atPagesz, 4096,
		atClktck, 100, // CLOCKS_PER_SEC (USER_HZ)
		atPhdr, h.phdr,
		atPhent, h.phent,
		atPhnum, h.phnum,
		atBase, h.base,
		atFlags, 0,
		atEntry, h.entry,
		atUID, guestUID,
		atEUID, guestUID,
		atGID, guestGID,
		atEGID, guestGID,
		atSecure, 0,
		atRandom, uRandom,
		atHwcap2, 0,
		atExecfn, execfn,
		atPlatform, uPlatform,
		atNull, 0,
	}
	items := uint64(len(argv)+1) + uint64(len(envp)+1) + 1
	sp := (p - uint64(len(auxv))*8 - items*8) &^ 15 // STACK_ADD, STACK_ROUND
	words := []uint64{uint64(len(argv))}
	words = append(words, argvAt...)
	words = append(words, 0)
	words = append(words, envpAt...)
	words = append(words, 0)
	words = append(words, auxv...)
	for a := sp &^ 0xfff; a < stackTop; a += 4096 {
		if _, err := m.populate(mm, stack, a); err != nil {
			return 0, err
		}
	}
	buf := make([]byte, stackTop-sp)
	for i, w := range words {
		binary.LittleEndian.PutUint64(buf[i*8:], w)
	}
	copy(buf[uRandom-sp:], random[:])
	copy(buf[uPlatform-sp:], platform)
	copy(buf[strBase-sp:], strs)
	if err := m.writeUser(mm, sp, buf); err != nil {
		return 0, err
	}
	mm.argStart = strBase
	mm.envStart = strBase
	for _, a := range argv {
		mm.envStart += uint64(len(a)) + 1
	}
	mm.argEnd = mm.envStart
	mm.envEnd = execfn
	mm.startStack = sp
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
