package kernelmodel

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzSyscalls runs guest programs made of random system calls (and user
// loads and stores) with arguments drawn mostly from interesting values —
// addresses inside and around the mappings, page-boundary lengths, flag
// words, ioctl numbers — through the real path: the interpreter traps on
// SYSCALL and v.syscall dispatches to the model. Whatever the arguments,
// the model must answer with an errno or a signal to the guest, never a Go
// panic ("internal error"), and the run must be deterministic.

// fuzzFixed is where the programs map memory with MAP_FIXED.
const fuzzFixed = 0x10000000

// fuzzSyscalls are the calls the fuzzer makes; a program byte indexes it.
var fuzzSyscalls = []uint64{
	sysRead, sysWrite, sysClose, sysMmap, sysMprotect, sysMunmap, sysMadvise,
	sysIoctl, sysFork, sysWait4, sysClone, sysUserfaultfd, sysOpenat, sysGetpid,
	sysSchedYield, sysExit, sysMmap, sysIoctl, sysMadvise, sysMprotect,
}

// fuzzPool is the table of argument values; other values are encoded raw.
var fuzzPool = []uint64{
	0, 1, 2, 3, 4, 5, 8, 17, 0x20, 0x21, 0x22, 0x32, 0x12, 4095, 4096, 8192, 0x3000,
	0x10000, 0x200000, guestData, guestData + 8, guestData + 0x100, guestData + 0x800,
	guestData + 0x1000, guestData + 0xfff, guestData + 0x3ff8, guestText, fuzzFixed,
	fuzzFixed + 4096, fuzzFixed + 0x3000, fuzzFixed + 0x1ff000, fuzzFixed + 0x8000,
	0x7ffffffff000, 0x7ffffffe0000, 1 << 47, ^uint64(0), ^uint64(4095), 0xffffffff,
	0x80000, 0x800, uffdioAPI, uffdioRegister, uffdioUnregister, uffdioWake, uffdioCopy,
	uffdioZeropage, uffdioWriteprotect, uffdAPI, 6, 7, 10, 18, 20, 100, 0x01000000,
	0x3d0f00, 0x50f00, 0x1000000, 1<<31 | 1, wNoHang, 0x40000000,
}

// fuzzProgram decodes data into a guest program: a prologue that puts
// "/proc/self/clear_refs" and "4" in the data segment and a uffdio_api
// there, then one operation per step, then exit_group(0).
func fuzzProgram(data []byte) []byte {
	var a asm
	for i, w := range stringWords("/proc/self/clear_refs") {
		a.store(guestData+0x800+uint64(8*i), w)
	}
	a.store(guestData+0x900, '4'|'\n'<<8)
	a.store(guestData+0x100, uffdAPI) // struct uffdio_api
	arg := func() uint64 {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		if int(b) < len(fuzzPool) {
			return fuzzPool[b]
		}
		if b < 0xf0 || len(data) < 8 {
			return uint64(b) // a small integer
		}
		v := uint64(0)
		for i := 0; i < 8; i++ {
			v |= uint64(data[i]) << (8 * i)
		}
		data = data[8:]
		return v
	}
	forks := 0
	for steps := 0; len(data) > 0 && steps < 48; steps++ {
		op := data[0]
		data = data[1:]
		switch {
		case op >= 0xf0:
			a.store(arg(), arg())
		case op >= 0xe0:
			a.load(arg())
		default:
			nr := fuzzSyscalls[int(op)%len(fuzzSyscalls)]
			var args [6]uint64
			for i := range args {
				args[i] = arg()
			}
			if nr == sysFork || nr == sysClone {
				// Every process runs the rest of the program: cap the
				// doubling.
				if forks++; forks > 3 {
					nr = sysGetpid
				}
			}
			if nr == sysOpenat {
				args[1] = guestData + 0x800 // the clear_refs path
			}
			a.syscall(nr, args[:]...)
			a.storeRAX(guestData + 0x3ff8)
		}
	}
	a.exitGroup(0)
	return a.b
}

func stringWords(s string) []uint64 {
	b := append([]byte(s), 0)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	var w []uint64
	for i := 0; i < len(b); i += 8 {
		var x uint64
		for j := 0; j < 8; j++ {
			x |= uint64(b[i+j]) << (8 * j)
		}
		w = append(w, x)
	}
	return w
}

// fuzzArg encodes one argument value for the seed corpus.
func fuzzArg(v uint64) []byte {
	if j := slices.Index(fuzzPool, v); j >= 0 {
		return []byte{byte(j)}
	}
	out := []byte{0xff}
	for k := 0; k < 8; k++ {
		out = append(out, byte(v>>(8*k)))
	}
	return out
}

// fuzzOp encodes one system call for the seed corpus.
func fuzzOp(nr uint64, args ...uint64) []byte {
	out := []byte{byte(slices.Index(fuzzSyscalls, nr))}
	for i := 0; i < 6; i++ {
		var v uint64
		if i < len(args) {
			v = args[i]
		}
		out = append(out, fuzzArg(v)...)
	}
	return out
}

// fuzzStore encodes a user store for the seed corpus.
func fuzzStore(addr, v uint64) []byte {
	return slices.Concat([]byte{0xf0}, fuzzArg(addr), fuzzArg(v))
}

// checkRun fails unless err is one of the ways a guest run may end.
func checkRun(t *testing.T, err error) {
	t.Helper()
	var sig *GuestSignal
	switch {
	case err == nil, errors.Is(err, ErrDeadlock), errors.Is(err, ErrMaxCycles), errors.As(err, &sig):
	default:
		if strings.Contains(err.Error(), "internal error") {
			t.Fatalf("Go panic in the model: %v", err)
		}
		// The guest corrupted its own code (mprotect + store): an
		// interpreter error naming the instruction is a legitimate end.
		if !strings.Contains(err.Error(), "cpu ") {
			t.Fatalf("unexpected run error: %v", err)
		}
	}
}

func fuzzSeeds() [][]byte {
	cat := func(ops ...[]byte) []byte { return slices.Concat(ops...) }
	fx := uint64(fuzzFixed)
	return [][]byte{
		// mmap fixed, mprotect pieces, madvise, munmap.
		cat(fuzzOp(sysMmap, fx, 0x8000, 3, 0x32, ^uint64(0), 0),
			fuzzStore(fx+4096, 7),
			fuzzOp(sysMprotect, fx+4096, 8192, 1),
			fuzzOp(sysMprotect, fx, 0x8000, 3),
			fuzzOp(sysMadvise, fx, 0x3000, 4),
			fuzzOp(sysMadvise, fx, 0x8000, 8),
			fuzzOp(sysMadvise, fx+4096, 4096, 18),
			fuzzOp(sysMunmap, fx+4096, 4096)),
		// userfaultfd: API, register WP, write-protect, un-protect,
		// unregister, close, and a store to the protected page with nobody
		// to resolve it.
		cat(fuzzOp(sysMmap, fx, 0x8000, 3, 0x32, ^uint64(0), 0),
			fuzzStore(fx, 1),
			fuzzOp(sysUserfaultfd, 0x80800), // O_NONBLOCK: read returns EAGAIN
			fuzzOp(sysIoctl, 3, uffdioAPI, guestData+0x100),
			fuzzStore(guestData+0x200, fx), fuzzStore(guestData+0x208, 0x8000), fuzzStore(guestData+0x210, 3),
			fuzzOp(sysIoctl, 3, uffdioRegister, guestData+0x200),
			fuzzStore(guestData+0x210, 1),
			fuzzOp(sysIoctl, 3, uffdioWriteprotect, guestData+0x200),
			fuzzStore(guestData+0x210, 0),
			fuzzOp(sysIoctl, 3, uffdioWriteprotect, guestData+0x200),
			fuzzOp(sysIoctl, 3, uffdioZeropage, guestData+0x200),
			fuzzOp(sysRead, 3, guestData+0x300, 64),
			fuzzStore(guestData+0x210, 1),
			fuzzOp(sysIoctl, 3, uffdioWriteprotect, guestData+0x200),
			fuzzStore(fx, 2)),
		// fork, wait4 in both processes.
		cat(fuzzStore(guestData+8, 5),
			fuzzOp(sysFork),
			fuzzOp(sysWait4, ^uint64(0), guestData, 0, 0),
			fuzzOp(sysWait4, ^uint64(0), guestData, wNoHang, 0),
			fuzzOp(sysClone, 17, 0, 0, 0, 0)),
		// clear_refs.
		cat(fuzzOp(sysOpenat, ^uint64(99), guestData+0x800, 1),
			fuzzOp(sysWrite, 3, guestData+0x900, 2),
			fuzzOp(sysWrite, 3, guestData+0x900, 0x4000)),
		// garbage.
		{0x07, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 0xfe, 0xfd, 0x11, 0x22, 0x33},
	}
}

// FuzzSyscalls runs each input's program twice and checks that the model
// neither panics nor differs between the runs. An input's host time is
// bounded: the program is straight-line (at most 48 operations, at most
// three forks, no loops), and MaxCycles stops any vCPU after 20 M cycles,
// which also bounds sleeps and timeouts (they advance the clock), far
// below go test's 10 s per-input limit.
func FuzzSyscalls(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		code := fuzzProgram(data)
		cfg := DefaultConfig()
		cfg.CPUs = 2
		cfg.MemBytes = 32 << 20
		cfg.MaxCycles = 20_000_000
		m1, err1 := runGuest(t, cfg, code)
		checkRun(t, err1)
		m2, err2 := runGuest(t, cfg, code)
		if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() {
			t.Fatalf("not deterministic: %v, then %v", err1, err2)
		}
		if s1, s2 := m1.Stats(), m2.Stats(); !slices.Equal(s1.Counters, s2.Counters) {
			t.Fatalf("not deterministic: counters differ")
		}
	})
}
