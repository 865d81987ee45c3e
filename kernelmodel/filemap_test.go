package kernelmodel

import (
	"errors"
	"testing"

	"github.com/tlbemu/emu/tlb"
)

// memfd creates a memfd of size bytes for the current task; scratch is a
// user page used for the name.
func memfd(t *testing.T, v *VCPU, scratch uint64, size uint64) int {
	t.Helper()
	putWords(t, v, scratch, 0x6d) // "m"
	fd := v.sysMemfdCreate(scratch, mfdCloexec)
	if fd < 0 {
		t.Fatalf("memfd_create = %d", fd)
	}
	if r := v.sysFtruncate(int(fd), size); r != 0 {
		t.Fatalf("ftruncate = %d", r)
	}
	return int(fd)
}

// pwriteWord and preadWord move one u64 through pwrite64/pread64 via the
// scratch user page.
func pwriteWord(t *testing.T, v *VCPU, fd int, scratch, off, x uint64) {
	t.Helper()
	putWords(t, v, scratch+8, x)
	if r := v.sysPreadPwrite(fd, scratch+8, 8, off, true); r != 8 {
		t.Fatalf("pwrite64(%#x) = %d", off, r)
	}
}

func preadWord(t *testing.T, v *VCPU, fd int, scratch, off uint64) uint64 {
	t.Helper()
	if r := v.sysPreadPwrite(fd, scratch+16, 8, off, false); r != 8 {
		t.Fatalf("pread64(%#x) = %d", off, r)
	}
	return getWord(t, v, scratch+16)
}

// TestMemfdSharedMapping: a write through a MAP_SHARED mapping
// (do_shared_fault: the cache page mapped writable and dirty) is seen by
// pread64 and by a second mapping at an offset (do_read_fault on a shared
// writable VMA maps the same page writable and clean); write(2) is seen
// through the mappings. The cache page is referenced by the cache and by
// each PTE, and mapped twice.
func TestMemfdSharedMapping(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			scratch := mmapAnon(t, v, 1)
			fd := memfd(t, v, scratch, 2*4096)
			a := v.mmapFile(0, 2*4096, protRead|protWrite, mapShared, int64(fd), 0)
			b := v.mmapFile(0, 4096, protRead|protWrite, mapShared, int64(fd), 4096)
			if a < 0 || b < 0 {
				t.Fatalf("mmap = %d, %d", a, b)
			}
			ua, ub := uint64(a), uint64(b)
			if !userAccess(v, ua+4096, true) {
				t.Fatal("write fault failed")
			}
			putWords(t, v, ua+4096, 0xabc)
			if got := preadWord(t, v, fd, scratch, 4096); got != 0xabc {
				t.Errorf("pread64 = %#x, want 0xabc", got)
			}
			if got := getWord(t, v, ub); got != 0xabc {
				t.Errorf("second mapping reads %#x, want 0xabc", got)
			}
			ea, eb := pte(m, mm, ua+4096), pte(m, mm, ub)
			if ptePFN(ea) != ptePFN(eb) || ptePFN(ea) != mm.files[fd].shm.cache[1] {
				t.Errorf("PTEs %#x, %#x do not both map cache page 1", ea, eb)
			}
			if !pteWrite(ea) || ea&tlb.PteD == 0 {
				t.Errorf("written shared PTE %#x: want writable and dirty", ea)
			}
			if !pteWrite(eb) || eb&tlb.PteD != 0 {
				t.Errorf("read-faulted shared writable PTE %#x: want writable and clean", eb)
			}
			v.lruAddDrain()
			if pg := pageOf(m, mm, ub); pg.anon || pg.mapcount != 2 || pg.refcount != 3 {
				t.Errorf("cache page anon=%v mapcount=%d refcount=%d, want false, 2, 3", pg.anon, pg.mapcount, pg.refcount)
			}
			// write(2) at f_pos 0 is visible through the first mapping.
			putWords(t, v, scratch+8, 0x77)
			if r := v.sysWrite(fd, scratch+8, 8); r != 8 {
				t.Fatalf("write = %d", r)
			}
			if got := getWord(t, v, ua); got != 0x77 {
				t.Errorf("mapping after write(2) reads %#x, want 0x77", got)
			}
			// read(2) continues at f_pos 8: the zeros after the word.
			if r := v.sysRead(fd, scratch+16, 8); r != 8 || getWord(t, v, scratch+16) != 0 {
				t.Errorf("read at f_pos 8 = %d", r)
			}
			// clear_refs 4 write-protects the shared PTE; the next write
			// is do_wp_page → wp_page_shared: same cache page, made
			// writable again, no copy, no flush.
			if r := v.clearRefsWrite([]byte("4")); r != 1 {
				t.Fatalf("clear_refs = %d", r)
			}
			if pteWrite(pte(m, mm, ub)) {
				t.Fatalf("clear_refs left PTE %#x writable", pte(m, mm, ub))
			}
			gen, reuse, copies := mm.tlbGen, m.wpReuse, m.wpCopy
			if !userAccess(v, ub, true) {
				t.Fatal("write fault failed")
			}
			if e := pte(m, mm, ub); !pteWrite(e) || ptePFN(e) != mm.files[fd].shm.cache[1] || e&tlb.PteSoftDirty == 0 {
				t.Errorf("after wp_page_shared PTE %#x: want writable, soft-dirty, cache page 1", e)
			}
			if m.wpReuse != reuse+1 || m.wpCopy != copies || mm.tlbGen != gen {
				t.Errorf("reuse +%d, copies +%d, flushes +%d; want 1, 0, 0", m.wpReuse-reuse, m.wpCopy-copies, mm.tlbGen-gen)
			}
			detach(v)
		},
	})
}

// TestMemfdPrivateCOW: MAP_PRIVATE read faults map the cache page
// read-only (do_read_fault); a later write copies it (do_wp_page:
// vm_normal_page is not anon → wp_page_copy, with the flush); a first-touch
// write copies straight away (do_cow_fault). Neither changes the file.
func TestMemfdPrivateCOW(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			scratch := mmapAnon(t, v, 1)
			fd := memfd(t, v, scratch, 2*4096)
			pwriteWord(t, v, fd, scratch, 0, 0x1111)
			pwriteWord(t, v, fd, scratch, 4096, 0x3333)
			r := v.mmapFile(0, 2*4096, protRead|protWrite, mapPrivate, int64(fd), 0)
			if r < 0 {
				t.Fatalf("mmap = %d", r)
			}
			p := uint64(r)
			cache0 := mm.files[fd].shm.cache[0]
			if got := getWord(t, v, p); got != 0x1111 {
				t.Fatalf("private read = %#x", got)
			}
			if e := pte(m, mm, p); pteWrite(e) || ptePFN(e) != cache0 {
				t.Errorf("read fault PTE %#x: want read-only on cache page %#x", e, cache0)
			}
			gen, copies := mm.tlbGen, m.wpCopy
			if !userAccess(v, p, true) {
				t.Fatal("write fault failed")
			}
			e := pte(m, mm, p)
			if !pteWrite(e) || ptePFN(e) == cache0 || !m.pages[ptePFN(e)].anon {
				t.Errorf("after COW PTE %#x: want writable private anon page", e)
			}
			if m.wpCopy != copies+1 || mm.tlbGen != gen+1 {
				t.Errorf("wp_page_copy count +%d, flushes +%d; want 1, 1", m.wpCopy-copies, mm.tlbGen-gen)
			}
			if m.pages[cache0].mapcount != 0 {
				t.Errorf("cache page mapcount %d after COW, want 0", m.pages[cache0].mapcount)
			}
			putWords(t, v, p, 0x2222)
			if got := getWord(t, v, p); got != 0x2222 {
				t.Errorf("private copy reads %#x, want 0x2222", got)
			}
			if got := preadWord(t, v, fd, scratch, 0); got != 0x1111 {
				t.Errorf("file page 0 = %#x after private write, want 0x1111", got)
			}
			// do_cow_fault: first touch is a write.
			if !userAccess(v, p+4096, true) {
				t.Fatal("cow fault failed")
			}
			e = pte(m, mm, p+4096)
			if !pteWrite(e) || !m.pages[ptePFN(e)].anon || ptePFN(e) == mm.files[fd].shm.cache[1] {
				t.Errorf("do_cow_fault PTE %#x: want writable private anon page", e)
			}
			if got := getWord(t, v, p+4096); got != 0x3333 {
				t.Errorf("COW page reads %#x, want the file's 0x3333", got)
			}
			putWords(t, v, p+4096, 0x4444)
			if got := preadWord(t, v, fd, scratch, 4096); got != 0x3333 {
				t.Errorf("file page 1 = %#x after private write, want 0x3333", got)
			}
			detach(v)
		},
	})
}

// TestMemfdFaultBeyondEOF: faults at or past i_size are SIGBUS, also after
// ftruncate shrinks a mapped file (which zaps the mapping of the tail).
func TestMemfdFaultBeyondEOF(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			scratch := mmapAnon(t, v, 1)
			fd := memfd(t, v, scratch, 2*4096)
			r := v.mmapFile(0, 3*4096, protRead|protWrite, mapShared, int64(fd), 0)
			if r < 0 {
				t.Fatalf("mmap = %d", r)
			}
			p := uint64(r)
			putWords(t, v, p+4096, 5, 6)
			fault := func(addr uint64, write bool) int {
				v.mmapReadLock(mm)
				defer v.mmapReadUnlock(mm)
				flags := faultFlagDefault | faultFlagUser
				if write {
					flags |= faultFlagWrite
				}
				return v.handleMMFault(mm.findVMA(addr), addr, flags)
			}
			if got := fault(p+2*4096, false); got != vmFaultSIGBUS {
				t.Errorf("read fault past EOF = %#x, want SIGBUS", got)
			}
			gen := mm.tlbGen
			if r := v.sysFtruncate(fd, 4096+8); r != 0 {
				t.Fatalf("ftruncate = %d", r)
			}
			// holebegin rounds up: the partial last page stays mapped, no flush.
			if !ptePresent(pte(m, mm, p+4096)) || mm.tlbGen != gen {
				t.Errorf("shrink into page 1: PTE %#x, flushes +%d; want present, 0", pte(m, mm, p+4096), mm.tlbGen-gen)
			}
			if got := getWord(t, v, p+4096); got != 5 {
				t.Errorf("first word of the partial page = %d, want 5", got)
			}
			if got := getWord(t, v, p+4096+8); got != 0 {
				t.Errorf("word past i_size in the partial page = %d, want 0", got)
			}
			if r := v.sysFtruncate(fd, 4096); r != 0 {
				t.Fatalf("ftruncate = %d", r)
			}
			if !pteNone(pte(m, mm, p+4096)) || mm.tlbGen != gen+1 {
				t.Errorf("truncate to one page: PTE %#x, flushes +%d; want none, 1", pte(m, mm, p+4096), mm.tlbGen-gen)
			}
			if got := fault(p+4096, false); got != vmFaultSIGBUS {
				t.Errorf("fault after truncate = %#x, want SIGBUS", got)
			}
			detach(v)
		},
	})
}

// TestMemfdLifetime: the page cache lives while the file is open or
// mapped, and is freed when the last of both goes.
func TestMemfdLifetime(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			scratch := mmapAnon(t, v, 1)
			putWords(t, v, scratch, 0)
			v.lruAddDrain()
			before := m.mem.InUse()
			fd := memfd(t, v, scratch, 4096)
			s := mm.files[fd].shm
			r := v.mmapFile(0, 4096, protRead|protWrite, mapShared, int64(fd), 0)
			putWords(t, v, uint64(r), 9)
			v.lruAddDrain()
			if r := v.sysClose(fd); r != 0 {
				t.Fatalf("close = %d", r)
			}
			if s.freed || getWord(t, v, uint64(r)) != 9 {
				t.Fatalf("file released while mapped")
			}
			if e := v.sysMunmap(uint64(r), 4096); e != 0 {
				t.Fatalf("munmap = %d", e)
			}
			if !s.freed || len(s.cache) != 0 {
				t.Errorf("file not released after close and munmap")
			}
			if got := m.mem.InUse(); got != before {
				t.Errorf("frames in use %d, want %d", got, before)
			}
			detach(v)
		},
	})
}

// TestMemfdErrors: argument checking of the new calls.
func TestMemfdErrors(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			scratch := mmapAnon(t, v, 1)
			fd := memfd(t, v, scratch, 4096)
			long := make([]byte, mfdNameMaxLen+1)
			for i := range long {
				long[i] = 'x'
			}
			if e := v.copyToUser(scratch+64, append(long, 0)); e != 0 {
				t.Fatal(e)
			}
			so := v.curr.mm.installFD(&file{kind: fileStdio, stdio: 1})
			cases := []struct {
				name string
				got  int64
				want int64
			}{
				{"memfd_create bad flags", v.sysMemfdCreate(scratch, 8), -EINVAL},
				{"memfd_create hugetlb", v.sysMemfdCreate(scratch, mfdHugetlb), -EINVAL},
				{"memfd_create name too long", v.sysMemfdCreate(scratch+64, 0), -EINVAL},
				{"memfd_create bad name", v.sysMemfdCreate(0x1000, 0), -EFAULT},
				{"ftruncate bad fd", v.sysFtruncate(99, 0), -EBADF},
				{"ftruncate not memfd", v.sysFtruncate(int(so), 0), -EINVAL},
				{"ftruncate negative", v.sysFtruncate(fd, 1<<63), -EINVAL},
				{"mmap unaligned offset", v.mmapFile(0, 4096, protRead, mapShared, int64(fd), 1), -EINVAL},
				{"mmap bad fd", v.sysMmap(0, 4096, protRead, mapShared, 99), -EBADF},
				{"mmap not memfd", v.sysMmap(0, 4096, protRead, mapShared, so), -ENODEV},
				{"mmap no type", v.sysMmap(0, 4096, protRead, 0, int64(fd)), -EINVAL},
				{"pread64 negative offset", v.sysPreadPwrite(fd, scratch, 8, 1<<63, false), -EINVAL},
				{"pread64 not seekable", v.sysPreadPwrite(int(so), scratch, 8, 0, false), -ESPIPE},
				{"pread64 at EOF", v.sysPreadPwrite(fd, scratch, 8, 4096, false), 0},
				{"pwrite64 bad buffer", v.sysPreadPwrite(fd, 0x1000, 8, 0, true), -EFAULT},
			}
			for _, c := range cases {
				if c.got != c.want {
					t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
				}
			}
			detach(v)
		},
	})
}

// TestGuestMemfdSIGBUS drives the calls through the syscall entry from a
// guest: memfd_create, ftruncate to one page, a shared two-page mapping at
// a fixed address, a store in the first page seen by pread64, then a
// store to the second page: SIGBUS, reported like show_signal_msg.
func TestGuestMemfdSIGBUS(t *testing.T) {
	const at = 0x10000000
	var a asm
	a.store(guestData, 0x6d) // name "m"
	a.syscall(sysMemfdCreate, guestData, 0)
	a.storeRAX(guestData + 8)
	a.syscall(sysFtruncate, 3, 4096)
	a.syscall(sysMmap, at, 2*4096, protRead|protWrite, mapShared|mapFixed, 3, 0)
	a.storeRAX(guestData + 16)
	a.store(at, 0x55)
	a.syscall(sysPread64, 3, guestData+24, 8, 0)
	a.dump()
	a.store(at+4096, 1)
	a.exitGroup(0)
	cfg := DefaultConfig()
	cfg.MemBytes = 64 << 20
	m, err := runGuest(t, cfg, a.b)
	var sig *GuestSignal
	if !errors.As(err, &sig) || sig.Sig != SIGBUS || sig.Addr != at+4096 {
		t.Fatalf("run: %v, want SIGBUS at %#x", err, at+4096)
	}
	if got := guestWord(t, m, guestData+8); got != 3 {
		t.Errorf("memfd_create = %d, want 3", got)
	}
	if got := guestWord(t, m, guestData+16); got != at {
		t.Errorf("mmap = %#x, want %#x", got, at)
	}
	if got := guestWord(t, m, guestData+24); got != 0x55 {
		t.Errorf("pread64 read %#x, want 0x55", got)
	}
}

// TestSharedAnonymousMapping: MAP_SHARED|MAP_ANONYMOUS is shmem-backed
// (shmem_zero_setup): stores land in its page cache, and the pages are freed
// when the last mapping goes.
func TestSharedAnonymousMapping(t *testing.T) {
	m, _ := newTestMachine(t, 1)
	mm, err := m.newMM()
	if err != nil {
		t.Fatal(err)
	}
	task := m.newTask(mm, 0, "t")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			v.curr = task
			v.switchMMIrqsOff(mm)
			addr := uint64(v.sysMmap(0, 2*4096, protRead|protWrite, mapShared|mapAnonymous, -1))
			if int64(addr) < 0 {
				t.Fatalf("mmap: %d", int64(addr))
			}
			vma := mm.findVMA(addr)
			if vma == nil || vma.anon || vma.file == nil || vma.flags&VM_SHARED == 0 {
				t.Fatalf("shared anonymous VMA %+v: want shmem-backed", vma)
			}
			if err := v.putUser64(addr+4096, 0xfeed); err != 0 {
				t.Fatalf("store to the shared mapping: %d", err)
			}
			if got, err := v.getUser64(addr + 4096); err != 0 || got != 0xfeed {
				t.Fatalf("read back %#x (%d), want 0xfeed", got, err)
			}
			if n := len(vma.file.cache); n != 1 {
				t.Errorf("page cache holds %d pages, want 1", n)
			}
			file := vma.file
			if r := v.sysMunmap(addr, 2*4096); r != 0 {
				t.Fatalf("munmap: %d", r)
			}
			if !file.freed || len(file.cache) != 0 {
				t.Errorf("shmem file not released after the last unmap (freed %v, %d pages)", file.freed, len(file.cache))
			}
		},
	})
}
