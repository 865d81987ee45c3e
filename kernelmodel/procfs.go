package kernelmodel

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// The procfs and sysfs files a guest can read. Each is generated at read
// time from the model's state, as seq_file regenerates a file on every
// read(2) (the read returns the bytes at the file position of a fresh
// rendering), so a program that reads /proc/interrupts before and after a
// run of its own sees the shootdowns in between.

// procFile is a generated file.
type procFile struct {
	gen      func(v *VCPU) []byte
	writable bool
	pagemap  bool // /proc/self/pagemap: read by pagemapRead
}

var procFiles map[string]*procFile

func init() {
	procFiles = map[string]*procFile{
		"/proc/self/maps":                  {gen: (*VCPU).procMaps},
		"/proc/self/smaps":                 {gen: (*VCPU).procSmaps},
		"/proc/self/status":                {gen: (*VCPU).procStatus},
		"/proc/self/comm":                  {gen: func(v *VCPU) []byte { return []byte(v.curr.comm + "\n") }},
		"/proc/self/stat":                  {gen: (*VCPU).procStat},
		"/proc/self/cmdline":               {gen: (*VCPU).procCmdline},
		"/proc/self/pagemap":               {pagemap: true},
		"/proc/interrupts":                 {gen: (*VCPU).procInterrupts},
		"/proc/vmstat":                     {gen: (*VCPU).procVmstat},
		"/sys/devices/system/cpu/online":   {gen: (*VCPU).sysCPUList},
		"/sys/devices/system/cpu/possible": {gen: (*VCPU).sysCPUList},
		"/sys/devices/system/cpu/present":  {gen: (*VCPU).sysCPUList},
	}
}

// procContent renders pf for the current task.
func (v *VCPU) procContent(pf *procFile) []byte { return pf.gen(v) }

// sysCPUList is cpumap_print_to_pagebuf(true, cpu_online_mask): "0" or
// "0-N".
func (v *VCPU) sysCPUList() []byte {
	if n := len(v.m.cpus); n > 1 {
		return fmt.Appendf(nil, "0-%d\n", n-1)
	}
	return []byte("0\n")
}

// procInterrupts renders /proc/interrupts as show_interrupts
// (kernel/irq/proc.c) and arch_show_interrupts (arch/x86/kernel/irq.c,
// v5.10) do for a machine without device interrupts (nr_irqs < 1000, so
// prec is 3): the CPU header, then the architecture rows the model
// counts — CAL (irq_call_count, sysvec_call_function) and TLB
// (irq_tlb_count, flush_tlb_func_remote; the interrupts.TLB counter of
// Stats) — and the rows it has no events for, at zero.
func (v *VCPU) procInterrupts() []byte {
	const prec = 3
	var b strings.Builder
	fmt.Fprintf(&b, "%*s", prec+8, "")
	for i := range v.m.cpus {
		fmt.Fprintf(&b, "CPU%-8d", i)
	}
	b.WriteByte('\n')
	row := func(name string, f func(u *VCPU) uint64, desc string) {
		fmt.Fprintf(&b, "%*s: ", prec, name)
		for _, u := range v.m.cpus {
			fmt.Fprintf(&b, "%10d ", f(u))
		}
		b.WriteString("  " + desc + "\n")
	}
	zero := func(*VCPU) uint64 { return 0 }
	row("NMI", zero, "Non-maskable interrupts")
	row("LOC", zero, "Local timer interrupts")
	row("SPU", zero, "Spurious interrupts")
	row("PMI", zero, "Performance monitoring interrupts")
	row("IWI", zero, "IRQ work interrupts")
	row("RTR", zero, "APIC ICR read retries")
	row("RES", zero, "Rescheduling interrupts")
	row("CAL", func(u *VCPU) uint64 { return u.callIRQs }, "Function call interrupts")
	row("TLB", func(u *VCPU) uint64 { return u.tlbIRQs }, "TLB shootdowns")
	row("TRM", zero, "Thermal event interrupts")
	row("THR", zero, "Threshold APIC interrupts")
	row("MCE", zero, "Machine check exceptions")
	row("MCP", zero, "Machine check polls")
	fmt.Fprintf(&b, "%*s: %10d\n", prec, "ERR", 0)
	fmt.Fprintf(&b, "%*s: %10d\n", prec, "MIS", 0)
	return []byte(b.String())
}

// procVmstat renders the /proc/vmstat lines the model counts, with the
// kernel's names, in vmstat_text order (mm/vmstat.c, v5.10).
func (v *VCPU) procVmstat() []byte {
	m := v.m
	var anon, file, shmem uint64
	for _, mm := range m.mms {
		if mm.dead {
			continue
		}
		a, f, s := m.rss(mm)
		anon, file, shmem = anon+a, file+f, shmem+s
	}
	free := m.mem.Frames() - uint64(m.mem.InUse())
	var b strings.Builder
	line := func(name string, n uint64) { fmt.Fprintf(&b, "%s %d\n", name, n) }
	line("nr_free_pages", free)
	line("nr_anon_pages", anon)
	line("nr_mapped", file)
	line("nr_shmem", shmem)
	line("pgfault", m.pgfault)
	line("thp_fault_alloc", m.thpFaultAlloc)
	line("thp_split_pmd", m.thpSplitPMD)
	line("nr_tlb_remote_flush", m.nrTLBRemoteFlush)
	line("nr_tlb_remote_flush_received", m.nrTLBRemoteFlushReceived)
	line("nr_tlb_local_flush_all", m.nrTLBLocalFlushAll)
	line("nr_tlb_local_flush_one", m.nrTLBLocalFlushOne)
	if m.on.vmaLocks() { // CONFIG_PER_VMA_LOCK_STATS, after the TLB counters in vmstat_text
		line("vma_lock_success", m.vmaLockSuccess)
		line("vma_lock_abort", m.vmaLockAbort)
		line("vma_lock_retry", m.vmaLockRetry)
		line("vma_lock_miss", 0) // cannot happen in the model (lockVMAUnderRCU)
	}
	return []byte(b.String())
}

// pteVisit is called for each mapped page of a walk: the leaf entry (a
// PTE, or the PMD of a huge page, with sub the page's index in it).
type pteVisit func(addr, e uint64, huge bool, sub uint64)

// walkPresent calls fn for every present leaf entry of mm in [start, end),
// skipping missing page-table levels a PMD at a time.
func (m *Machine) walkPresent(mm *MM, start, end uint64, fn pteVisit) {
	for a := start; a < end; {
		next := min((a+1<<21)&^(1<<21-1), end)
		slot, ok := m.pmdSlot(mm, a)
		if !ok {
			a = next
			continue
		}
		pmd := m.mem.LoadPTE(slot)
		switch {
		case pmd&tlb.PteP == 0 && !pmdTransHuge(pmd):
		case pmdTransHuge(pmd):
			for x := a; x < next; x += 4096 {
				fn(x, pmd, true, (x>>12)&511)
			}
		default:
			table := ptePFN(pmd)
			for x := a; x < next; x += 4096 {
				e := m.mem.LoadPTE(table.Addr() + phys.Addr(tlb.VirtAddr(x).Index(1)*8))
				if ptePresent(e) {
					fn(x, e, false, 0)
				}
			}
		}
		a = next
	}
}

// rss counts mm's resident pages as the mm counters MM_ANONPAGES,
// MM_FILEPAGES and MM_SHMEMPAGES would (the zero page is not counted:
// vm_normal_page skips it). The model's ELF segments are anonymous pages.
func (m *Machine) rss(mm *MM) (anon, file, shmem uint64) {
	for _, vma := range mm.vmas {
		m.walkPresent(mm, vma.start, vma.end, func(_, e uint64, huge bool, sub uint64) {
			p := ptePFN(e)
			if p == m.zeroPage && !huge {
				return
			}
			switch {
			case vma.file != nil && vma.file.host == "":
				shmem++
			case m.pages[p].anon:
				anon++
			default:
				file++
			}
		})
	}
	return
}

// vmaName is what show_map_vma prints after the header: the file, or
// [heap] for the VMA holding the brk area, or [stack].
func (mm *MM) vmaName(vma *VMA) string {
	switch {
	case vma.name == "elf":
		return mm.exe
	case vma.file != nil && (vma.file.host != "" || vma.file.linked): // a host or named tmpfs file
		return vma.file.name
	case vma.file != nil: // an unlinked shmem file: "/memfd:NAME (deleted)", "/dev/zero (deleted)"
		name := "/" + strings.TrimPrefix(vma.name, "/")
		if !strings.HasSuffix(name, " (deleted)") {
			name += " (deleted)"
		}
		return name
	case vma.start <= mm.brk && vma.end >= mm.startBrk && mm.brk > mm.startBrk:
		return "[heap]"
	case vma.name == "[stack]":
		return "[stack]"
	}
	return ""
}

// procMaps renders /proc/self/maps as show_map_vma (fs/proc/task_mmu.c,
// v5.10): "start-end perms offset major:minor inode", padded to column 73
// before the name. The model has no block devices: every mapping shows
// device 00:00 and inode 0.
func (v *VCPU) procMaps() []byte {
	mm := v.curr.mm
	var b strings.Builder
	for _, vma := range mm.vmas {
		perm := []byte("---p")
		if vma.flags&VM_READ != 0 {
			perm[0] = 'r'
		}
		if vma.flags&VM_WRITE != 0 {
			perm[1] = 'w'
		}
		if vma.flags&VM_EXEC != 0 {
			perm[2] = 'x'
		}
		if vma.flags&VM_MAYSHARE != 0 {
			perm[3] = 's'
		}
		var pgoff uint64
		switch {
		case vma.file != nil:
			pgoff = vma.pgoff() << 12
		case vma.name == "elf":
			pgoff = uint64(int64(vma.start>>12)+vma.exeBias) << 12
		}
		line := fmt.Sprintf("%08x-%08x %s %08x 00:00 0 ", vma.start, vma.end, perm, pgoff)
		if name := mm.vmaName(vma); name != "" {
			if len(line) < 72 {
				line += strings.Repeat(" ", 72-len(line))
			}
			line += " " + name
		}
		b.WriteString(line + "\n")
	}
	return []byte(b.String())
}

// procStatus renders the lines of /proc/self/status (fs/proc/array.c
// proc_pid_status, task_mem) the model knows.
func (v *VCPU) procStatus() []byte {
	t := v.curr
	mm := t.mm
	m := v.m
	anon, file, shmem := m.rss(mm)
	var size, data, stk, exe uint64
	for _, vma := range mm.vmas {
		n := (vma.end - vma.start) >> 10
		size += n
		switch {
		case vma.flags&VM_GROWSDOWN != 0:
			stk += n
		case vma.flags&(VM_WRITE|VM_SHARED) == VM_WRITE:
			data += n
		case vma.flags&(VM_EXEC|VM_WRITE) == VM_EXEC:
			exe += n
		}
	}
	threads := 0
	for _, o := range m.tasks {
		if o.tgid == t.tgid && o.state != taskDead {
			threads++
		}
	}
	ppid := 0
	if t.parent != nil {
		ppid = t.parent.tgid
	}
	var b strings.Builder
	kb := func(name string, n uint64) { fmt.Fprintf(&b, "%s:\t%8d kB\n", name, n) }
	fmt.Fprintf(&b, "Name:\t%s\nUmask:\t0022\nState:\tR (running)\n", t.comm)
	fmt.Fprintf(&b, "Tgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t0\n", t.tgid, t.tid, ppid)
	fmt.Fprintf(&b, "Uid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\n", guestUID, guestUID, guestUID, guestUID, guestGID, guestGID, guestGID, guestGID)
	fdsize := 64
	for fdsize < len(mm.files) {
		fdsize *= 2
	}
	fmt.Fprintf(&b, "FDSize:\t%d\nGroups:\t\n", fdsize)
	kb("VmSize", size)
	kb("VmRSS", (anon+file+shmem)*4)
	kb("RssAnon", anon*4)
	kb("RssFile", file*4)
	kb("RssShmem", shmem*4)
	kb("VmData", data)
	kb("VmStk", stk)
	kb("VmExe", exe)
	fmt.Fprintf(&b, "Threads:\t%d\n", threads)
	sig := v.sigState()
	fmt.Fprintf(&b, "SigPnd:\t%016x\nShdPnd:\t%016x\nSigBlk:\t%016x\nSigIgn:\t%016x\nSigCgt:\t%016x\n", t.sigPending, sig.pending, t.sigBlocked, sig.ignored(), sig.caught())
	var mask uint64
	for i := range m.cpus {
		if i < 64 {
			mask |= 1 << i
		}
	}
	fmt.Fprintf(&b, "Cpus_allowed:\t%x\nCpus_allowed_list:\t%s", mask, v.sysCPUList())
	return []byte(b.String())
}

// procCmdline is proc_pid_cmdline_read: the argument strings as they are
// now in the process's memory, NUL-separated.
func (v *VCPU) procCmdline() []byte {
	mm := v.curr.mm
	if mm.argEnd <= mm.argStart {
		return nil
	}
	b := make([]byte, mm.argEnd-mm.argStart)
	if v.copyFromUser(b, mm.argStart) != 0 {
		return nil
	}
	return b
}

// pagemap entry bits (fs/proc/task_mmu.c, v5.10; Documentation/
// admin-guide/mm/pagemap.rst).
const (
	pmPFrameMask     = 1<<55 - 1
	pmSoftDirty      = 1 << 55
	pmMMapExclusive  = 1 << 56
	pmUffdWP         = 1 << 57
	pmFile           = 1 << 61
	pmSwap           = 1 << 62
	pmPresent        = 1 << 63
	pagemapChunkPage = 512 // entries built and copied out at a time
)

// pagemapEntry is pte_to_pagemap_entry / the pagemap_pmd_range THP case
// for addr in vma, given its leaf entry e (0 for none). The guest is root,
// so the PFN is shown (pm->show_pfn).
func (m *Machine) pagemapEntry(vma *VMA, e uint64, huge bool, sub uint64) uint64 {
	var flags, frame uint64
	present := ptePresent(e) || (huge && pmdTransHuge(e))
	if present {
		p := ptePFN(e)
		frame = uint64(p) + sub
		flags |= pmPresent
		if e&tlb.PteSoftDirty != 0 {
			flags |= pmSoftDirty
		}
		if e&tlb.PteUffdWP != 0 {
			flags |= pmUffdWP
		}
		if huge || p != m.zeroPage { // vm_normal_page: the zero page has no struct page for this
			pg := &m.pages[p]
			if !pg.anon {
				flags |= pmFile
			}
			if pg.mapcount == 1 {
				flags |= pmMMapExclusive
			}
		}
	}
	if vma.flags&VM_SOFTDIRTY != 0 {
		flags |= pmSoftDirty
	}
	return frame&pmPFrameMask | flags
}

// pagemapRead models pagemap_read: n bytes of 8-byte entries for the
// virtual pages from at/8, up to TASK_SIZE; position and count must be
// multiples of 8 (-EINVAL). Holes between VMAs read as 0, pages of a VMA
// without a page table as soft-dirty only if the VMA is VM_SOFTDIRTY
// (pagemap_pte_hole). The walk holds mmap_lock for read and charges
// PTEUpdate per entry.
func (v *VCPU) pagemapRead(f *file, buf, n, at uint64, advance bool) int64 {
	if at%8 != 0 || n%8 != 0 {
		return -EINVAL
	}
	m := v.m
	mm := v.curr.mm
	const endVPN = taskSize >> 12
	vpn := at / 8
	if vpn >= endVPN || n == 0 {
		return 0
	}
	count := min(n/8, endVPN-vpn)
	var done uint64
	chunk := make([]byte, pagemapChunkPage*8)
	for done < count {
		k := min(count-done, pagemapChunkPage)
		start := (vpn + done) << 12
		end := start + k<<12
		clear(chunk)
		v.mmapReadLock(mm)
		for _, vma := range mm.vmas {
			if vma.end <= start || vma.start >= end {
				continue
			}
			lo, hi := max(vma.start, start), min(vma.end, end)
			if vma.flags&VM_SOFTDIRTY != 0 {
				for a := lo; a < hi; a += 4096 {
					binary.LittleEndian.PutUint64(chunk[(a-start)>>12*8:], pmSoftDirty)
				}
			}
			m.walkPresent(mm, lo, hi, func(a, e uint64, huge bool, sub uint64) {
				binary.LittleEndian.PutUint64(chunk[(a-start)>>12*8:], m.pagemapEntry(vma, e, huge, sub))
			})
		}
		v.mmapReadUnlock(mm)
		m.checkSoftDirtyRead(mm, start, end, chunk)
		v.spend(m.cfg.Costs.PTEUpdate * k)
		if err := v.copyToUser(buf+done*8, chunk[:k*8]); err != 0 {
			if done > 0 {
				break
			}
			return err
		}
		done += k
	}
	if advance {
		f.pos = at + done*8
	}
	return int64(done * 8)
}

// vmFlagNames are show_smap_vma_flags' two-letter mnemonics for the flags
// the model uses, in bit order (the order they are printed in).
var vmFlagNames = []struct {
	bit  uint64
	name string
}{
	{VM_READ, "rd"}, {VM_WRITE, "wr"}, {VM_EXEC, "ex"}, {VM_SHARED, "sh"}, {VM_MAYREAD, "mr"},
	{VM_MAYWRITE, "mw"}, {VM_MAYEXEC, "me"}, {VM_MAYSHARE, "ms"}, {VM_GROWSDOWN, "gd"},
	{VM_UFFD_MISSING, "um"}, {VM_PFNMAP, "pf"}, {VM_UFFD_WP, "uw"}, {VM_LOCKED, "lo"}, {VM_IO, "io"}, {VM_SEQ_READ, "sr"}, {VM_RAND_READ, "rr"},
	{VM_DONTCOPY, "dc"}, {VM_DONTEXPAND, "de"}, {VM_ACCOUNT, "ac"}, {VM_NORESERVE, "nr"},
	{VM_HUGETLB, "ht"}, {VM_WIPEONFORK, "wf"}, {VM_DONTDUMP, "dd"}, {VM_SOFTDIRTY, "sd"},
	{VM_MIXEDMAP, "mm"}, {VM_HUGEPAGE, "hg"}, {VM_NOHUGEPAGE, "nh"}, {VM_MERGEABLE, "mg"},
}

// procSmaps renders /proc/self/smaps as show_smap (fs/proc/task_mmu.c,
// v5.10): each maps line followed by the VMA's memory accounting from its
// present PTEs (smaps_pte_entry/smaps_account: shared when mapcount ≥ 2,
// dirty from the PTE's D bit, referenced from A, PSS in 1/mapcount
// shares) and its VmFlags. Swap and hugetlb are absent from the model.
func (v *VCPU) procSmaps() []byte {
	mm := v.curr.mm
	m := v.m
	maps := strings.SplitAfter(string(v.procMaps()), "\n")
	var b strings.Builder
	for i, vma := range mm.vmas {
		var rss, pss, sc, sd, pc, pd, ref, anon, anonHuge uint64 // bytes; pss in bytes << 12
		m.walkPresent(mm, vma.start, vma.end, func(_, e uint64, huge bool, _ uint64) {
			p := ptePFN(e)
			if !huge && p == m.zeroPage {
				return
			}
			pg := &m.pages[p]
			mc := uint64(max(pg.mapcount, 1))
			dirty := e&tlb.PteD != 0
			rss += 4096
			pss += 4096 << 12 / mc
			switch {
			case mc >= 2 && dirty:
				sd += 4096
			case mc >= 2:
				sc += 4096
			case dirty:
				pd += 4096
			default:
				pc += 4096
			}
			if e&tlb.PteA != 0 {
				ref += 4096
			}
			if pg.anon {
				anon += 4096
				if huge {
					anonHuge += 4096
				}
			}
		})
		b.WriteString(maps[i])
		kb := func(name string, n uint64) { fmt.Fprintf(&b, "%-16s%8d kB\n", name+":", n>>10) }
		kb("Size", vma.end-vma.start)
		kb("KernelPageSize", 4096)
		kb("MMUPageSize", 4096)
		kb("Rss", rss)
		kb("Pss", pss>>12)
		kb("Shared_Clean", sc)
		kb("Shared_Dirty", sd)
		kb("Private_Clean", pc)
		kb("Private_Dirty", pd)
		kb("Referenced", ref)
		kb("Anonymous", anon)
		kb("LazyFree", 0)
		kb("AnonHugePages", anonHuge)
		kb("ShmemPmdMapped", 0)
		kb("FilePmdMapped", 0)
		kb("Shared_Hugetlb", 0)
		kb("Private_Hugetlb", 0)
		kb("Swap", 0)
		kb("SwapPss", 0)
		kb("Locked", 0)
		thp := 0
		if m.cfg.THP && vmaIsAnonymous(vma) && vma.flags&VM_NOHUGEPAGE == 0 {
			thp = 1
		}
		fmt.Fprintf(&b, "THPeligible:    %d\nVmFlags:", thp)
		for _, f := range vmFlagNames {
			if vma.flags&f.bit != 0 {
				b.WriteString(" " + f.name)
			}
		}
		b.WriteString(" \n")
	}
	return []byte(b.String())
}

// procStat renders /proc/self/stat as do_task_stat (fs/proc/array.c,
// v5.10) for the thread group: times in USER_HZ (100) ticks of CPU time
// (all counted as user time), minflt the machine's page faults, rss in
// pages; fields the model has no notion of (tty, scheduling policy,
// delay accounting, guest time) are 0, the start time is the machine's
// start.
func (v *VCPU) procStat() []byte {
	t := v.curr
	mm := t.mm
	m := v.m
	ppid := 0
	if t.parent != nil {
		ppid = t.parent.tgid
	}
	threads := 0
	for _, o := range m.tasks {
		if o.tgid == t.tgid && o.state != taskDead {
			threads++
		}
	}
	var vsize uint64
	for _, vma := range mm.vmas {
		vsize += vma.end - vma.start
	}
	a, f, sh := m.rss(mm)
	s := mm.sigHand()
	ticks := v.cpuTimeNS(t, true) / 10_000_000
	return fmt.Appendf(nil, "%d (%s) R %d 1 1 0 -1 0 %d 0 0 0 %d 0 0 0 20 0 %d 0 0 %d %d %d %d %d %d 0 0 %d %d %d %d 0 0 0 17 %d 0 0 0 0 0 %d %d %d %d %d %d %d 0\n",
		t.tgid, t.comm, ppid, m.pgfault, ticks, threads, vsize, a+f+sh, rlimInfinity,
		mm.startCode, mm.endCode, mm.startStack,
		s.pending|t.sigPending, t.sigBlocked, s.ignored(), s.caught(), v.id,
		mm.startData, mm.endData, mm.startBrk, mm.argStart, mm.argEnd, mm.envStart, mm.envEnd)
}
