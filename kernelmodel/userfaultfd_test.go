package kernelmodel

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/tlbemu/emu/tlb"
)

// uffdSetup maps n pages (touched) plus an argument page, opens a
// userfaultfd and does UFFDIO_API. It returns the range, the argument
// page, the fd and its context.
func uffdSetup(t *testing.T, v *VCPU, n int, touch bool) (base, argp uint64, fd int64, c *userfaultCtx) {
	t.Helper()
	base = mmapAnon(t, v, n)
	argp = mmapAnon(t, v, 1)
	if touch {
		for i := 0; i < n; i++ {
			userAccess(v, base+uint64(i)*4096, true)
		}
	}
	fd = v.sysUserfaultfd(oCloexec)
	if fd < 0 {
		t.Fatalf("userfaultfd = %d", fd)
	}
	c = v.curr.mm.fd(int(fd)).uffd
	if r := v.userfaultfdIoctl(c, uffdioRegister, argp); r != -EINVAL {
		t.Errorf("UFFDIO_REGISTER before UFFDIO_API = %d, want -EINVAL", r)
	}
	putWords(t, v, argp, 0xAB, 0, 0)
	if r := v.userfaultfdIoctl(c, uffdioAPI, argp); r != -EINVAL || getWord(t, v, argp) != 0 {
		t.Errorf("UFFDIO_API with a bad version = %d (struct %#x), want -EINVAL and zeroed", r, getWord(t, v, argp))
	}
	putWords(t, v, argp, uffdAPI, 0, 0)
	if r := v.userfaultfdIoctl(c, uffdioAPI, argp); r != 0 {
		t.Fatalf("UFFDIO_API = %d", r)
	}
	if f, io := getWord(t, v, argp+8), getWord(t, v, argp+16); f != uffdAPIFeatures || io != 1<<63|3 {
		t.Errorf("UFFDIO_API answered features %#x ioctls %#x", f, io)
	}
	if r := v.userfaultfdIoctl(c, uffdioAPI, argp); r != -EINVAL {
		t.Errorf("second UFFDIO_API = %d, want -EINVAL", r)
	}
	return
}

func uffdRegister(t *testing.T, v *VCPU, c *userfaultCtx, argp, start, length, mode uint64) (int64, uint64) {
	t.Helper()
	putWords(t, v, argp, start, length, mode, 0)
	r := v.userfaultfdIoctl(c, uffdioRegister, argp)
	return r, getWord(t, v, argp+24)
}

func uffdWP(t *testing.T, v *VCPU, c *userfaultCtx, argp, start, length, mode uint64) int64 {
	t.Helper()
	putWords(t, v, argp, start, length, mode)
	return v.userfaultfdIoctl(c, uffdioWriteprotect, argp)
}

// TestUffdRegisterAndWriteprotect: UFFDIO_REGISTER splits the VMA and
// reports the range ioctls (UFFDIO_WRITEPROTECT only for MODE_WP);
// UFFDIO_WRITEPROTECT(WP) write-protects and marks _PAGE_UFFD_WP with one
// deferred flush; un-protect (mode 0) clears the marker but — v5.10's
// MM_CP_UFFD_WP_RESOLVE — also clears the write bit of a PTE that was
// writable (change_pte_range, mm/mprotect.c, v5.10).
func TestUffdRegisterAndWriteprotect(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			base, argp, _, c := uffdSetup(t, v, 4, true)
			r, ioctls := uffdRegister(t, v, c, argp, base+4096, 2*4096, uffdioRegisterModeWP)
			if r != 0 || ioctls != uffdAPIRangeIoctls || ioctls&(1<<_UFFDIO_WRITEPROTECT) == 0 {
				t.Fatalf("UFFDIO_REGISTER(WP) = %d, ioctls %#x", r, ioctls)
			}
			if got, want := vmaLayout(mm, base, base+4*4096), [][3]uint64{{0, 1, 3}, {1, 3, 3}, {3, 4, 3}}; !sameLayout(got, want) {
				t.Errorf("VMAs after register: %v, want %v", got, want)
			}
			if vma := mm.findVMA(base + 4096); vma.uffd != c || vma.flags&VM_UFFD_WP == 0 || mm.findVMA(base).uffd != nil {
				t.Errorf("registered VMA: ctx %v flags %#x", vma.uffd == c, vma.flags)
			}
			for _, cc := range []struct {
				start, len, mode uint64
				want             int64
			}{
				{base + 4096, 4096, uffdioWriteprotectModeWP | uffdioWriteprotectModeDontwake, -EINVAL},
				{base + 4096, 4096, 4, -EINVAL},
				{base + 4097, 4096, 1, -EINVAL},
				{base + 4096, 0, 1, -EINVAL},
				{base, 4096, 1, -ENOENT},            // not registered
				{base + 4096, 3 * 4096, 1, -ENOENT}, // not inside one VMA
			} {
				if got := uffdWP(t, v, c, argp, cc.start, cc.len, cc.mode); got != cc.want {
					t.Errorf("UFFDIO_WRITEPROTECT(%#x, %#x, %d) = %d, want %d", cc.start, cc.len, cc.mode, got, cc.want)
				}
			}
			one := m.nrTLBLocalFlushOne
			if r := uffdWP(t, v, c, argp, base+4096, 2*4096, uffdioWriteprotectModeWP); r != 0 {
				t.Fatalf("UFFDIO_WRITEPROTECT(WP) = %d", r)
			}
			for i := uint64(1); i < 3; i++ {
				if e := pte(m, mm, base+i*4096); pteWrite(e) || !pteUffdWP(e) {
					t.Errorf("page %d after WP: PTE %#x, want read-only with _PAGE_UFFD_WP", i, e)
				}
			}
			if got := m.nrTLBLocalFlushOne - one; got != 2 {
				t.Errorf("INVLPGs = %d, want 2 (one flush_tlb_range of the two pages)", got)
			}
			if r := uffdWP(t, v, c, argp, base+4096, 4096, 0); r != 0 {
				t.Fatalf("UFFDIO_WRITEPROTECT(0) = %d", r)
			}
			if e := pte(m, mm, base+4096); pteWrite(e) || pteUffdWP(e) {
				t.Errorf("after un-protect: PTE %#x, want read-only without _PAGE_UFFD_WP", e)
			}
			// Make page 1 writable again (a write fault reuses it), then
			// un-protect it: RESOLVE takes the write bit away.
			userAccess(v, base+4096, true)
			if !pteWrite(pte(m, mm, base+4096)) {
				t.Fatalf("store did not make the page writable")
			}
			if r := uffdWP(t, v, c, argp, base+4096, 4096, 0); r != 0 {
				t.Fatalf("UFFDIO_WRITEPROTECT(0) = %d", r)
			}
			if e := pte(m, mm, base+4096); pteWrite(e) {
				t.Errorf("un-protect of a writable PTE left %#x writable; v5.10 clears RW", e)
			}
			if mm.tlbFlushPending != 0 || mm.revokeOps != 0 {
				t.Errorf("pending %d revokeOps %d", mm.tlbFlushPending, mm.revokeOps)
			}
			// MISSING-only registration does not offer UFFDIO_WRITEPROTECT.
			if r, io := uffdRegister(t, v, c, argp, base+3*4096, 4096, uffdioRegisterModeMissing); r != 0 || io&(1<<_UFFDIO_WRITEPROTECT) != 0 {
				t.Errorf("UFFDIO_REGISTER(MISSING) = %d, ioctls %#x", r, io)
			}
			if r, _ := uffdRegister(t, v, c, argp, base, 4096, 0); r != -EINVAL {
				t.Errorf("UFFDIO_REGISTER mode 0 = %d, want -EINVAL", r)
			}
			if r, _ := uffdRegister(t, v, c, argp, 1<<46, 4096, 1); r != -EINVAL {
				t.Errorf("UFFDIO_REGISTER of a range no VMA touches = %d, want -EINVAL", r)
			}
			// Unregister everything: one VMA again.
			putWords(t, v, argp, base, 4*4096)
			if r := v.userfaultfdIoctl(c, uffdioUnregister, argp); r != 0 {
				t.Errorf("UFFDIO_UNREGISTER = %d", r)
			}
			if got, want := vmaLayout(mm, base, base+4*4096), [][3]uint64{{0, 4, 3}}; !sameLayout(got, want) {
				t.Errorf("VMAs after unregister: %v, want %v", got, want)
			}
			detach(v)
		},
	})
}

// TestHandleUserfaultBlocksReadsWakes: a write to a uffd-wp page queues a
// UFFD_EVENT_PAGEFAULT message (flags WRITE|WP, page address) and puts the
// task to sleep with its registers at the faulting instruction; read(2)
// returns the message; un-protect wakes the task; and read(2) of an empty
// queue sleeps (the reader is woken by the next fault).
func TestHandleUserfaultBlocksReadsWakes(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			mon := attach(v, mm, 0)
			base, argp, fd, c := uffdSetup(t, v, 2, true)
			if r, _ := uffdRegister(t, v, c, argp, base, 2*4096, uffdioRegisterModeWP); r != 0 {
				t.Fatalf("register = %d", r)
			}
			if r := uffdWP(t, v, c, argp, base, 2*4096, uffdioWriteprotectModeWP); r != 0 {
				t.Fatalf("WP = %d", r)
			}
			detach(v)
			w := attach(v, mm, mon.tgid)
			v.c.Regs.RIP = 0x401234
			if userAccess(v, base+4096+8, true) {
				t.Fatalf("store to a uffd-wp page completed")
			}
			if w.state != taskBlocked || v.curr != nil || w.regs.RIP != 0x401234 {
				t.Fatalf("writer: state %v, regs.RIP %#x; want asleep at the faulting instruction", w.state, w.regs.RIP)
			}
			if len(c.pending) != 1 || c.pending[0].flags != uffdPagefaultFlagWrite|uffdPagefaultFlagWP || c.pending[0].address != base+4096 {
				t.Fatalf("pending messages %+v", c.pending)
			}
			if mm.mmapLock.readers != 0 {
				t.Errorf("mmap_lock still held for read by the sleeping fault")
			}
			// The monitor reads it.
			v.curr = mon
			mon.state = taskRunning
			v.switchMMIrqsOff(mm)
			if n := v.sysRead(int(fd), argp, 64); n != sizeofUffdMsg {
				t.Fatalf("read = %d, want one message", n)
			}
			var msg [32]byte
			if v.copyFromUser(msg[:], argp) != 0 {
				t.Fatal("copy")
			}
			if msg[0] != uffdEventPagefault || binary.LittleEndian.Uint64(msg[8:]) != 3 || binary.LittleEndian.Uint64(msg[16:]) != base+4096 {
				t.Errorf("message % x", msg)
			}
			if len(c.pending) != 0 || len(c.waiting) != 1 {
				t.Errorf("after read: %d pending, %d read-but-waiting", len(c.pending), len(c.waiting))
			}
			// Un-protect of another page does not wake it; of its page does.
			if uffdWP(t, v, c, argp, base, 4096, 0) != 0 || w.state != taskBlocked {
				t.Errorf("un-protect of another page woke the writer")
			}
			if uffdWP(t, v, c, argp, base+4096, 4096, 0) != 0 || w.state != taskRunnable || !slices.Contains(w.home.runq, w) {
				t.Errorf("un-protect of its page did not wake the writer (state %v)", w.state)
			}
			if len(c.waiting) != 0 {
				t.Errorf("woken fault still queued")
			}
			w.home.runq = slices.DeleteFunc(w.home.runq, func(x *Task) bool { return x == w })
			w.state = taskBlocked
			// An empty queue: read sleeps, restartable (RIP back on SYSCALL).
			v.c.Regs.RIP = 0x402002
			if v.sysRead(int(fd), argp, 64); mon.state != taskBlocked || mon.regs.RIP != 0x402000 || mon.regs.GPR[0] != sysRead {
				t.Errorf("read of an empty queue: state %v RIP %#x RAX %d", mon.state, mon.regs.RIP, mon.regs.GPR[0])
			}
			if len(c.readers) != 1 {
				t.Errorf("readers %d, want 1", len(c.readers))
			}
			detach(v)
		},
	})
}

// TestUffdMissingCopyZeropage: MISSING faults are resolved by UFFDIO_COPY
// and UFFDIO_ZEROPAGE, which map the page, write the result field and
// wake the faulting task; EEXIST for a mapped page, ENOENT outside a
// registered VMA; closing the fd releases the context.
func TestUffdMissingCopyZeropage(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			mon := attach(v, mm, 0)
			base, argp, fd, c := uffdSetup(t, v, 3, false)
			src := mmapAnon(t, v, 1)
			putWords(t, v, src, 0x1111, 0x2222)
			if r, _ := uffdRegister(t, v, c, argp, base, 3*4096, uffdioRegisterModeMissing); r != 0 {
				t.Fatalf("register = %d", r)
			}
			detach(v)
			w := attach(v, mm, mon.tgid)
			if userAccess(v, base, false) {
				t.Fatalf("read of a missing page completed")
			}
			if len(c.pending) != 1 || c.pending[0].flags != 0 {
				t.Fatalf("pending %+v, want one read fault", c.pending)
			}
			v.curr = mon
			mon.state = taskRunning
			v.switchMMIrqsOff(mm)
			// UFFDIO_ZEROPAGE of page 0 wakes the reader.
			putWords(t, v, argp, base, 4096, 0, 0)
			if r := v.userfaultfdIoctl(c, uffdioZeropage, argp); r != 0 || getWord(t, v, argp+24) != 4096 {
				t.Errorf("UFFDIO_ZEROPAGE = %d, zeropage field %d", r, int64(getWord(t, v, argp+24)))
			}
			if e := pte(m, mm, base); ptePFN(e) != m.zeroPage || pteWrite(e) || w.state != taskRunnable {
				t.Errorf("after ZEROPAGE: PTE %#x, writer %v", e, w.state)
			}
			w.home.runq = slices.DeleteFunc(w.home.runq, func(x *Task) bool { return x == w })
			w.state = taskBlocked
			// UFFDIO_COPY of page 1 from src.
			putWords(t, v, argp, base+4096, src, 4096, 0, 0)
			if r := v.userfaultfdIoctl(c, uffdioCopy, argp); r != 0 || getWord(t, v, argp+32) != 4096 {
				t.Errorf("UFFDIO_COPY = %d, copy field %d", r, int64(getWord(t, v, argp+32)))
			}
			if e := pte(m, mm, base+4096); !pteWrite(e) || e&tlb.PteD == 0 || getWord(t, v, base+4096+8) != 0x2222 {
				t.Errorf("after COPY: PTE %#x, word %#x", e, getWord(t, v, base+4096+8))
			}
			if r := v.userfaultfdIoctl(c, uffdioCopy, argp); r != -EEXIST || int64(getWord(t, v, argp+32)) != -EEXIST {
				t.Errorf("UFFDIO_COPY of a mapped page = %d, want -EEXIST", r)
			}
			putWords(t, v, argp, src, src, 4096, 0, 0)
			if r := v.userfaultfdIoctl(c, uffdioCopy, argp); r != -ENOENT {
				t.Errorf("UFFDIO_COPY outside a registered VMA = %d, want -ENOENT", r)
			}
			putWords(t, v, argp, base+2*4096, src, 4096, 4, 0)
			if r := v.userfaultfdIoctl(c, uffdioCopy, argp); r != -EINVAL {
				t.Errorf("UFFDIO_COPY with a bad mode = %d, want -EINVAL", r)
			}
			// close → userfaultfd_release: the VMA is unregistered.
			if v.sysClose(int(fd)) != 0 {
				t.Fatal("close")
			}
			if vma := mm.findVMA(base); vma.uffd != nil || vma.flags&(VM_UFFD_MISSING|VM_UFFD_WP) != 0 || !c.released {
				t.Errorf("after close: VMA ctx %v flags %#x released %v", vma.uffd != nil, vma.flags, c.released)
			}
			detach(v)
		},
	})
}
