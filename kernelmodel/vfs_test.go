package kernelmodel

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlbemu/emu/tlb"
)

// withFS runs f as a task of a 1-CPU machine whose host mounts are dirs.
func withFS(t *testing.T, mounts []string, tmpfsBytes, faultAround uint64, f func(v *VCPU, s uint64)) *Machine {
	t.Helper()
	m, mm := newTestMachine(t, 1)
	m.cfg.ROMounts = mounts
	m.cfg.TmpfsBytes = tmpfsBytes
	m.cfg.FaultAroundBytes = faultAround
	mm.files = []*file{{kind: fileStdio, stdio: 0}, {kind: fileStdio, stdio: 1, flags: oWronly}, {kind: fileStdio, stdio: 2, flags: oWronly}}
	mm.exe = "/bin/test"
	runScripts(t, m, map[int]func(*VCPU){0: func(v *VCPU) {
		attach(v, mm, 0)
		f(v, mmapAnon(t, v, 8))
		detach(v)
	}})
	return m
}

// hostTree makes a host directory with a file, a subdirectory, a symlink
// inside and one pointing out of the mount.
func hostTree(t *testing.T) (dir string, data []byte) {
	// in the package directory; TestHostMountInsideTmpfs covers /tmp
	dir, err := os.MkdirTemp(".", "vfstest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if dir, err = filepath.Abs(dir); err != nil {
		t.Fatal(err)
	}
	data = bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80000 bytes: 20 pages
	if err := os.WriteFile(filepath.Join(dir, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../f", filepath.Join(dir, "sub", "up")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/hostname", filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop2", filepath.Join(dir, "loop1")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop1", filepath.Join(dir, "loop2")); err != nil {
		t.Fatal(err)
	}
	return dir, data
}

func TestVFSPathsAndErrnos(t *testing.T) {
	dir, data := hostTree(t)
	withFS(t, []string{dir}, 1<<20, 65536, func(v *VCPU, s uint64) {
		p := func(str string) uint64 { return putStr(t, v, s+4096, str) }
		open := func(path string, flags uint64) int64 { return v.sysOpenat(atFDCWD, p(path), flags, 0o644) }
		cases := []struct {
			name string
			got  func() int64
			want int64
		}{
			{"host O_WRONLY", func() int64 { return open(dir+"/f", oWronly) }, -EROFS},
			{"host O_RDWR", func() int64 { return open(dir+"/f", oRdwr) }, -EROFS},
			{"host O_CREAT new", func() int64 { return open(dir+"/new", oCreat|oWronly) }, -EROFS},
			{"host O_TRUNC", func() int64 { return open(dir+"/f", oRdonly|oTrunc) }, -EROFS},
			{"outside the mounts", func() int64 { return open("/etc/passwd", oRdonly) }, -ENOENT},
			{"symlink out of the mount", func() int64 { return open(dir+"/out", oRdonly) }, -ENOENT},
			{"O_NOFOLLOW on a symlink", func() int64 { return open(dir+"/sub/up", oRdonly|oNofollow) }, -ELOOP},
			{"O_DIRECTORY on a file", func() int64 { return open(dir+"/f", oRdonly|oDirectory) }, -ENOTDIR},
			{"file as a directory", func() int64 { return open(dir+"/f/x", oRdonly) }, -ENOTDIR},
			{"symlink loop", func() int64 { return open(dir+"/loop1", oRdonly) }, -ELOOP},
			{"empty path", func() int64 { return open("", oRdonly) }, -ENOENT},
			{"name too long", func() int64 { return open("/tmp/"+strings.Repeat("n", 256), oCreat|oRdwr) }, -ENAMETOOLONG},
			{"path too long", func() int64 { return open("/"+strings.Repeat("a/", 2100), oRdonly) }, -ENAMETOOLONG},
			{".. above /", func() int64 { return v.sysFaccessat(atFDCWD, p("/../../tmp/.."), rOK, 0) }, 0},
			{"trailing slash on a file", func() int64 { return open(dir+"/f/", oRdonly) }, -ENOTDIR},
			{"O_CREAT a directory name", func() int64 { return open("/tmp/newdir/", oCreat|oRdwr) }, -EISDIR},
			{"host unlink", func() int64 { return v.sysUnlinkat(atFDCWD, p(dir+"/f"), 0) }, -EROFS},
			{"host mkdir", func() int64 { return v.sysMkdirat(atFDCWD, p(dir+"/d"), 0o755) }, -EROFS},
			{"host rename", func() int64 { return v.sysRenameat2(atFDCWD, p(dir+"/f"), atFDCWD, putStr(t, v, s+8192, dir+"/g"), 0) }, -EROFS},
			{"access W_OK host", func() int64 { return v.sysFaccessat(atFDCWD, p(dir+"/f"), wOK, 0) }, -EROFS},
			{"access R_OK host", func() int64 { return v.sysFaccessat(atFDCWD, p(dir+"/f"), rOK, 0) }, 0},
			{"open via symlink and ..", func() int64 { return open(dir+"/sub/../sub/up", oRdonly) }, 3},
			{"fd 3 is read-only: write", func() int64 { return v.sysWrite(3, s, 1) }, -EBADF},
			{"ftruncate host", func() int64 { return v.sysFtruncate(3, 0) }, -EINVAL},
			{"mmap shared writable host", func() int64 { return v.mmapFile(0, 4096, protRead|protWrite, mapShared, 3, 0) }, -EACCES},
			{"lseek end", func() int64 { return v.sysLseek(3, 0, seekEnd) }, int64(len(data))},
			{"pread", func() int64 { return v.sysPread(3, s, 16, 4096+16, false) }, 16},
			{"tmpfs create", func() int64 { return open("/tmp/a", oCreat|oRdwr|oExcl) }, 4},
			{"tmpfs O_EXCL again", func() int64 { return open("/tmp/a", oCreat|oRdwr|oExcl) }, -EEXIST},
			{"tmpfs write", func() int64 { return v.sysWrite(4, s, 100) }, 100},
			{"tmpfs mkdir", func() int64 { return v.sysMkdirat(atFDCWD, p("/tmp/d"), 0o755) }, 0},
			{"tmpfs mkdir again", func() int64 { return v.sysMkdirat(atFDCWD, p("/tmp/d"), 0o755) }, -EEXIST},
			{"tmpfs rename into d", func() int64 {
				return v.sysRenameat2(atFDCWD, p("/tmp/a"), atFDCWD, putStr(t, v, s+8192, "/tmp/d/b"), 0)
			}, 0},
			{"old name gone", func() int64 { return open("/tmp/a", oRdonly) }, -ENOENT},
			{"openat dirfd", func() int64 { return open("/tmp/d", oRdonly|oDirectory) }, 5},
			{"openat relative to dirfd", func() int64 { return v.sysOpenat(5, p("b"), oRdonly, 0) }, 6},
			{"rmdir non-empty", func() int64 { return v.sysUnlinkat(atFDCWD, p("/tmp/d"), atRemoveDir) }, -ENOTEMPTY},
			{"unlink dir", func() int64 { return v.sysUnlinkat(atFDCWD, p("/tmp/d"), 0) }, -EISDIR},
			{"rename across tmpfs", func() int64 {
				return v.sysRenameat2(atFDCWD, p("/tmp/d/b"), atFDCWD, putStr(t, v, s+8192, "/dev/shm/b"), 0)
			}, -EXDEV},
			{"unlink b", func() int64 { return v.sysUnlinkat(5, p("b"), 0) }, 0},
			{"read unlinked but open", func() int64 { return v.sysPread(6, s, 200, 0, false) }, 100},
			{"rmdir", func() int64 { return v.sysUnlinkat(atFDCWD, p("/tmp/d"), atRemoveDir) }, 0},
			{"fallocate beyond the size limit", func() int64 { return v.sysFallocate(4, 0, 0, 2<<20) }, -ENOSPC},
			{"fallocate", func() int64 { return v.sysFallocate(4, 0, 0, 8192) }, 0},
			{"fstat size after fallocate", func() int64 { v.sysFstat(4, s+512); return int64(getWord(t, v, s+512+48)) }, 8192},
			{"msync unaligned", func() int64 { return v.sysMsync(s+1, 4096, msSync) }, -EINVAL},
			{"msync async|sync", func() int64 { return v.sysMsync(s, 4096, msSync|msAsync) }, -EINVAL},
			{"msync unmapped", func() int64 { return v.sysMsync(0x10000, 4096, msSync) }, -ENOMEM},
			{"msync", func() int64 { return v.sysMsync(s, 4096, msSync) }, 0},
			{"statfs /tmp f_type", func() int64 { v.sysStatfs(sysStatfs, p("/tmp"), s+512); return int64(getWord(t, v, s+512)) }, tmpfsMagic},
			{"statfs /tmp f_blocks", func() int64 { v.sysStatfs(sysStatfs, p("/tmp"), s+512); return int64(getWord(t, v, s+512+16)) }, 256},
			{"statfs host read-only", func() int64 { v.sysStatfs(sysStatfs, p(dir), s+512); return int64(getWord(t, v, s+512+80) & stRdonly) }, stRdonly},
			{"statfs missing", func() int64 { return v.sysStatfs(sysStatfs, p("/nope"), s+512) }, -ENOENT},
			{"fstatfs bad fd", func() int64 { return v.sysStatfs(sysFstatfs, 99, s+512) }, -EBADF},
			{"lgetxattr", func() int64 { return v.xattrSyscall(sysLgetxattr, p(dir+"/f")) }, -ENODATA},
			{"listxattr", func() int64 { return v.xattrSyscall(sysListxattr, p(dir+"/f")) }, 0},
			{"getxattr missing", func() int64 { return v.xattrSyscall(sysGetxattr, p(dir+"/nope")) }, -ENOENT},
		}
		for _, c := range cases {
			if got := c.got(); got != c.want {
				t.Errorf("%s = %d, want %d", c.name, got, c.want)
			}
		}
		// pread of the host file returned the host's bytes
		b := make([]byte, 16)
		v.copyFromUser(b, s)
		if !bytes.Equal(b, data[4096+16:4096+32]) {
			t.Errorf("pread = %q, want %q", b, data[4096+16:4096+32])
		}
		// readlink, stat through a symlink and lstat
		if n := v.sysReadlinkat(atFDCWD, p(dir+"/sub/up"), s, 64); n != 4 {
			t.Errorf("readlink = %d", n)
		}
		if r := v.sysNewfstatat(atFDCWD, p(dir+"/sub/up"), s, 0); r != 0 || getWord(t, v, s+48) != uint64(len(data)) || uint32(getWord(t, v, s+24))&sIFREG == 0 {
			t.Errorf("stat via symlink: %d, size %d", r, getWord(t, v, s+48))
		}
		if r := v.sysNewfstatat(atFDCWD, p(dir+"/sub/up"), s, atSymlinkNofoll); r != 0 || uint32(getWord(t, v, s+24))&0o170000 != sIFLNK {
			t.Errorf("lstat: %d mode %o", r, uint32(getWord(t, v, s+24)))
		}
		// statx: the same stat in struct statx
		if r := v.sysStatx(atFDCWD, p(dir+"/sub/up"), 0, statxBasicStats, s); r != 0 {
			t.Errorf("statx = %d", r)
		}
		if size, mode, mask := getWord(t, v, s+40), uint16(getWord(t, v, s+24)>>32), uint32(getWord(t, v, s)); size != uint64(len(data)) || uint32(mode)&0o170000 != sIFREG || mask != statxBasicStats {
			t.Errorf("statx: size %d mode %o mask %#x", size, mode, mask)
		}
		if r := v.sysStatx(atFDCWD, p(dir+"/sub/up"), atSymlinkNofoll, statxBasicStats, s); r != 0 || uint32(uint16(getWord(t, v, s+24)>>32))&0o170000 != sIFLNK {
			t.Errorf("statx AT_SYMLINK_NOFOLLOW: %d", r)
		}
		if r := v.sysStatx(atFDCWD, p(dir+"/nope"), 0, statxBasicStats, s); r != -ENOENT {
			t.Errorf("statx missing = %d", r)
		}
		// getdents64 of the host directory and of /tmp
		names := func(path string) []string {
			fd := v.sysOpenat(atFDCWD, p(path), oRdonly|oDirectory, 0)
			if fd < 0 {
				t.Fatalf("open %s: %d", path, fd)
			}
			defer v.sysClose(int(fd))
			var out []string
			for {
				n := v.sysGetdents64(int(fd), s, 4096)
				if n <= 0 {
					break
				}
				b := make([]byte, n)
				v.copyFromUser(b, s)
				for len(b) > 0 {
					rl := binary.LittleEndian.Uint16(b[16:])
					out = append(out, strings.TrimRight(string(b[19:rl]), "\x00"))
					b = b[rl:]
				}
			}
			return out
		}
		if got := strings.Join(names(dir), " "); got != ". .. f loop1 loop2 out sub" {
			t.Errorf("getdents64 %s = %q", dir, got)
		}
		if got := strings.Join(names("/tmp"), " "); got != ". .." {
			t.Errorf("getdents64 /tmp = %q", got)
		}
		if got := names("/"); !strings.Contains(strings.Join(got, " "), "tmp") || !strings.Contains(strings.Join(got, " "), "proc") {
			t.Errorf("getdents64 / = %q", got)
		}
	})
}

// TestHostMountInsideTmpfs mounts a host directory below the host's /tmp
// (where a clean clone or t.TempDir lives): the mount shadows the guest's
// tmpfs there, as a mount over a tmpfs directory does, while the rest of
// /tmp stays the guest's writable tmpfs.
func TestHostMountInsideTmpfs(t *testing.T) {
	dir, err := os.MkdirTemp("/tmp", "emu-mount")
	if err != nil {
		t.Skip("no host /tmp:", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("host bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	withFS(t, []string{dir}, 0, 0, func(v *VCPU, s uint64) {
		fd := v.sysOpenat(atFDCWD, putStr(t, v, s, dir+"/f"), oRdonly, 0)
		if fd < 0 {
			t.Fatalf("open %s/f = %d", dir, fd)
		}
		if n := v.sysPread(int(fd), s+1024, 64, 0, false); n != 10 {
			t.Fatalf("pread = %d, want 10", n)
		}
		b := make([]byte, 10)
		v.copyFromUser(b, s+1024)
		if string(b) != "host bytes" {
			t.Errorf("read %q, want the host's bytes", b)
		}
		if r := v.sysOpenat(atFDCWD, putStr(t, v, s, dir+"/new"), oWronly|oCreat, 0o644); r != -EROFS {
			t.Errorf("create inside the mount = %d, want -EROFS", r)
		}
		if r := v.sysOpenat(atFDCWD, putStr(t, v, s, "/tmp/guest-file"), oWronly|oCreat, 0o644); r < 0 {
			t.Errorf("create in the rest of /tmp = %d, want an fd", r)
		}
	})
}

// TestFaultAround maps a host file privately and reads one page: with
// fault_around_bytes 64 KiB the cached pages of the 16-page window are
// mapped read-only too, so a store to the next page is a write-protect
// COW (a flush), not a do_cow_fault; with 4096 only the faulting page is.
func TestFaultAround(t *testing.T) {
	dir, data := hostTree(t)
	for _, fa := range []uint64{65536, 4096} {
		m := withFS(t, []string{dir}, 0, fa, func(v *VCPU, s uint64) {
			m := v.m
			fd := v.sysOpenat(atFDCWD, putStr(t, v, s, dir+"/f"), oRdonly, 0)
			if fd < 0 {
				t.Fatalf("open: %d", fd)
			}
			// warm the cache: read the whole file (20 pages)
			buf := mmapAnon(t, v, 20)
			if n := v.sysRead(int(fd), buf, uint64(len(data))); n != int64(len(data)) {
				t.Fatalf("read = %d", n)
			}
			a := v.mmapFile(0x40000000, 20*4096, protRead|protWrite, mapPrivate|mapFixed, fd, 0) // 64 KiB-aligned
			if a < 0 {
				t.Fatalf("mmap: %d", a)
			}
			addr := uint64(a)
			if !userAccess(v, addr+4096, false) {
				t.Fatal("read fault failed")
			}
			mapped := 0
			for i := uint64(0); i < 20; i++ {
				if e := pte(m, v.curr.mm, addr+i<<12); e&tlb.PteP != 0 {
					mapped++
					if e&tlb.PteRW != 0 {
						t.Errorf("page %d mapped writable", i)
					}
				}
			}
			want := 1
			if fa == 65536 {
				want = 16 // the aligned 64 KiB window, clipped to nothing: pages 0-15
			}
			if mapped != want {
				t.Errorf("fault_around_bytes %d: %d pages mapped, want %d", fa, mapped, want)
			}
			wpBefore := m.wpCopy
			if !userAccess(v, addr+2*4096, true) {
				t.Fatal("write fault failed")
			}
			if got := m.wpCopy - wpBefore; (fa == 65536) != (got == 1) {
				t.Errorf("fault_around_bytes %d: %d wp_page_copy for the store to the next page", fa, got)
			}
			// the COW copy has the file's bytes; the host file is untouched
			b := make([]byte, 16)
			v.copyFromUser(b, addr+2*4096)
			if !bytes.Equal(b, data[2*4096:2*4096+16]) {
				t.Errorf("COW page = %q", b)
			}
		})
		_, misses, around := m.PageCacheCounts()
		if misses != 20 {
			t.Errorf("page-cache misses %d, want 20 (each page read in once)", misses)
		}
		if fa == 65536 && around != 15 || fa == 4096 && around != 0 {
			t.Errorf("fault_around_bytes %d: %d fault-around pages", fa, around)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); !bytes.Equal(b, data) {
		t.Error("the host file changed")
	}
}

// flushCalls counts flush_tlb_mm_range calls that flushed locally.
func flushCalls(m *Machine) uint64 {
	var n uint64
	for _, c := range m.flushEvents[TLBLocalMMShootdown] {
		n += c
	}
	return n
}

// TestSharedTmpfsMapping: a MAP_SHARED mapping of a tmpfs file writes the
// file's page cache (read() sees the store, msync succeeds), and munmap of
// dirty shared pages flushes each PTE table's range under its PTE lock
// (zap_pte_range's force_flush) instead of once at tlb_finish_mmu: a
// 4 MiB mapping dirty in its first and last page (two PTE tables) takes
// one flush per table plus tlb_finish_mmu's for the freed page tables, 3;
// a clean one a single flush at tlb_finish_mmu.
func TestSharedTmpfsMapping(t *testing.T) {
	var flushes [2]uint64
	for i, dirty := range []bool{false, true} {
		withFS(t, nil, 0, 65536, func(v *VCPU, s uint64) {
			m := v.m
			fd := v.sysOpenat(atFDCWD, putStr(t, v, s, "/dev/shm/seg"), oCreat|oRdwr, 0o600)
			const size = 4 << 20
			if fd < 0 || v.sysFtruncate(int(fd), size) != 0 {
				t.Fatalf("open/ftruncate: %d", fd)
			}
			a := v.mmapFile(0, size, protRead|protWrite, mapShared, fd, 0)
			if a < 0 {
				t.Fatalf("mmap: %d", a)
			}
			addr := uint64(a)
			if dirty {
				if err := v.copyToUser(addr+4096+8, []byte("shared!")); err != 0 {
					t.Fatalf("store: %d", err)
				}
				if err := v.copyToUser(addr+size-8, []byte("end")); err != 0 {
					t.Fatalf("store: %d", err)
				}
				if r := v.sysPread(int(fd), s, 7, 4096+8, false); r != 7 {
					t.Fatalf("pread = %d", r)
				}
				b := make([]byte, 7)
				v.copyFromUser(b, s)
				if string(b) != "shared!" {
					t.Errorf("read() after a store through MAP_SHARED = %q", b)
				}
			} else if !userAccess(v, addr+4096, false) || !userAccess(v, addr+size-8, false) {
				t.Fatal("read fault failed")
			}
			if r := v.sysMsync(addr, size, msSync); r != 0 {
				t.Errorf("msync = %d", r)
			}
			before := flushCalls(m)
			if r := v.sysMunmap(addr, size); r != 0 {
				t.Fatalf("munmap = %d", r)
			}
			flushes[i] = flushCalls(m) - before
		})
	}
	if flushes[0] != 1 || flushes[1] != 3 {
		t.Errorf("munmap flushes: clean %d, dirty %d; want 1 and 3 (force_flush per dirty PTE table, then the freed tables)", flushes[0], flushes[1])
	}
}

// TestTmpfsSizeLimit: tmpfs pages are charged against the size= limit:
// a write beyond it is -ENOSPC, a fault beyond it SIGBUS; unlinking the
// file returns the pages.
func TestTmpfsSizeLimit(t *testing.T) {
	withFS(t, nil, 4*4096, 65536, func(v *VCPU, s uint64) {
		fd := v.sysOpenat(atFDCWD, putStr(t, v, s, "/tmp/big"), oCreat|oRdwr, 0o600)
		buf := mmapAnon(t, v, 8)
		if r := v.sysWrite(int(fd), buf, 4*4096); r != 4*4096 {
			t.Fatalf("write = %d, want %d", r, 4*4096)
		}
		if r := v.sysWrite(int(fd), buf, 4096); r != -ENOSPC {
			t.Errorf("write beyond the limit = %d, want -ENOSPC", r)
		}
		v.sysClose(int(fd))
		if r := v.sysUnlinkat(atFDCWD, putStr(t, v, s, "/tmp/big"), 0); r != 0 {
			t.Fatalf("unlink = %d", r)
		}
		if got := v.m.fs().tmpfsPages; got != 0 {
			t.Errorf("%d tmpfs pages after the unlink of the last reference", got)
		}
		fd = v.sysOpenat(atFDCWD, putStr(t, v, s, "/tmp/again"), oCreat|oRdwr, 0o600)
		if r := v.sysWrite(int(fd), buf, 4096); r != 4096 {
			t.Errorf("write after the space came back = %d", r)
		}
	})
}

// TestFaultAroundBytesRounding follows fault_around_bytes_set.
func TestFaultAroundBytesRounding(t *testing.T) {
	m, _ := newTestMachine(t, 1)
	for _, c := range []struct{ bytes, pages uint64 }{{0, 1}, {4096, 1}, {8191, 1}, {8192, 2}, {65536, 16}, {100000, 16}, {2 << 20, 512}} {
		m.cfg.FaultAroundBytes = c.bytes
		if got := m.faultAroundPages(); got != c.pages {
			t.Errorf("fault_around_bytes %d: %d pages, want %d", c.bytes, got, c.pages)
		}
	}
}

// TestChdir: chdir/fchdir move the working directory that relative paths
// and getcwd use.
func TestChdir(t *testing.T) {
	withFS(t, nil, 0, 65536, func(v *VCPU, s uint64) {
		p := func(str string) uint64 { return putStr(t, v, s+4096, str) }
		cwd := func() string {
			n := v.sysGetcwd(s, 256)
			if n <= 0 {
				t.Fatalf("getcwd = %d", n)
			}
			b := make([]byte, n-1)
			v.copyFromUser(b, s)
			return string(b)
		}
		if got := cwd(); got != "/" {
			t.Errorf("initial cwd %q", got)
		}
		if r := v.sysMkdirat(atFDCWD, p("/tmp/w"), 0o755); r != 0 {
			t.Fatal(r)
		}
		if r := v.pathSyscall(sysChdir, p("/tmp/w"), 0, 0, 0, 0); r != 0 {
			t.Fatalf("chdir = %d", r)
		}
		if got := cwd(); got != "/tmp/w" {
			t.Errorf("cwd %q, want /tmp/w", got)
		}
		fd := v.sysOpenat(atFDCWD, p("f"), oCreat|oRdwr, 0o644)
		if r := v.sysNewfstatat(atFDCWD, p("/tmp/w/f"), s+512, 0); fd < 0 || r != 0 {
			t.Errorf("relative create: fd %d, stat %d", fd, r)
		}
		if r := v.pathSyscall(sysChdir, p("f"), 0, 0, 0, 0); r != -ENOTDIR {
			t.Errorf("chdir to a file = %d", r)
		}
		if r := v.pathSyscall(sysChdir, p(".."), 0, 0, 0, 0); r != 0 || cwd() != "/tmp" {
			t.Errorf("chdir .. = %d, cwd %q", r, cwd())
		}
		dfd := v.sysOpenat(atFDCWD, p("/proc"), oRdonly|oDirectory, 0)
		if r := v.pathSyscall(sysFchdir, uint64(dfd), 0, 0, 0, 0); r != 0 || cwd() != "/proc" {
			t.Errorf("fchdir = %d, cwd %q", r, cwd())
		}
		if r := v.pathSyscall(sysFchdir, uint64(fd), 0, 0, 0, 0); r != -ENOTDIR {
			t.Errorf("fchdir of a file = %d", r)
		}
		if r := v.sysGetcwd(s, 3); r != -ERANGE {
			t.Errorf("getcwd short = %d", r)
		}
	})
}

// TestPunchHole: FALLOC_FL_PUNCH_HOLE frees whole pages (their mappings
// zapped) and zeroes partial ones; a huge range is cheap.
func TestPunchHole(t *testing.T) {
	withFS(t, nil, 0, 65536, func(v *VCPU, s uint64) {
		fd := int(v.sysOpenat(atFDCWD, putStr(t, v, s, "/tmp/p"), oCreat|oRdwr, 0o600))
		buf := mmapAnon(t, v, 3)
		for i := uint64(0); i < 3*4096; i += 8 {
			putWords(t, v, buf+i, 0x0101010101010101)
		}
		if r := v.sysWrite(fd, buf, 3*4096); r != 3*4096 {
			t.Fatalf("write = %d", r)
		}
		a := uint64(v.mmapFile(0, 3*4096, protRead, mapShared, int64(fd), 0))
		if !userAccess(v, a+4096, false) {
			t.Fatal("fault")
		}
		// punch [100, 2*4096+100): page 0 partly, page 1 whole, page 2 partly
		if r := v.sysFallocate(fd, fallocPunchHole|fallocKeepSize, 100, 2*4096); r != 0 {
			t.Fatalf("punch = %d", r)
		}
		if pte(v.m, v.curr.mm, a+4096)&tlb.PteP != 0 {
			t.Error("the punched page is still mapped")
		}
		if _, ok := v.m.fs().tmp.children["p"].shm.cache[1]; ok {
			t.Error("the punched page is still cached")
		}
		b := make([]byte, 3*4096)
		v.sysPread(fd, buf, 3*4096, 0, false)
		v.copyFromUser(b, buf)
		for i, c := range b {
			want := byte(1)
			if i >= 100 && i < 2*4096+100 {
				want = 0
			}
			if c != want {
				t.Fatalf("byte %d = %d after the punch, want %d", i, c, want)
			}
		}
		if r := v.sysFallocate(fd, fallocPunchHole|fallocKeepSize, 0, 1<<60); r != 0 {
			t.Errorf("huge punch = %d", r)
		}
	})
}

// TestMmapReadahead: a cold read fault on a host file reads around it
// (ra_pages 32 centred on the fault, PG_readahead 8 pages before the
// end) after fault-around found nothing cached; the next fault's
// fault-around maps the window's cached pages but the marked one,
// and a fault on the marked page reads the next window ahead; with
// MADV_RANDOM a fault reads only its page.
func TestMmapReadahead(t *testing.T) {
	dir, _ := hostTree(t)
	big := bytes.Repeat([]byte{7}, 100*4096)
	if err := os.WriteFile(filepath.Join(dir, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	withFS(t, []string{dir}, 0, 65536, func(v *VCPU, s uint64) {
		m := v.m
		fd := v.sysOpenat(atFDCWD, putStr(t, v, s, dir+"/big"), oRdonly, 0)
		a := v.mmapFile(0x40000000, 100*4096, protRead, mapPrivate|mapFixed, fd, 0) // 64 KiB-aligned: the windows below
		if fd < 0 || a < 0 {
			t.Fatalf("open %d mmap %d", fd, a)
		}
		addr := uint64(a)
		sh := m.fs().hostInodes[dir+"/big"].shm
		cached := func() (lo, hi uint64, n int) {
			lo = ^uint64(0)
			for i := range sh.cache {
				lo, hi, n = min(lo, i), max(hi, i), n+1
			}
			return
		}
		if !userAccess(v, addr+50*4096, false) {
			t.Fatal("fault")
		}
		if lo, hi, n := cached(); lo != 34 || hi != 65 || n != 32 {
			t.Errorf("after the cold fault: cached %d-%d (%d pages), want 34-65 (32)", lo, hi, n)
		}
		// do_read_fault ran fault-around before filemap_fault read the
		// pages in: only the faulting page is mapped; the next fault maps
		// the window.
		if pte(m, v.curr.mm, addr+51*4096)&tlb.PteP != 0 {
			t.Error("page 51 mapped by the cold fault")
		}
		if !userAccess(v, addr+51*4096, false) {
			t.Fatal("fault")
		}
		mapped := 0
		for i := uint64(48); i < 64; i++ {
			if pte(m, v.curr.mm, addr+i*4096)&tlb.PteP != 0 {
				mapped++
			} else if i != 58 {
				t.Errorf("page %d not mapped by fault-around", i)
			}
		}
		if mapped != 15 {
			t.Errorf("fault-around mapped %d pages, want 15 (the PG_readahead page 58 skipped)", mapped)
		}
		if !userAccess(v, addr+58*4096, false) {
			t.Fatal("fault")
		}
		if lo, hi, n := cached(); lo != 34 || hi != 97 || n != 64 {
			t.Errorf("after the marker fault: cached %d-%d (%d pages), want 34-97 (64)", lo, hi, n)
		}
		if !sh.raMark[66] {
			t.Error("the next window's first page is not PG_readahead")
		}
		// MADV_RANDOM: the fault reads its page only
		if r := v.sysMadvise(addr, 4096*10, 1); r != 0 { // MADV_RANDOM
			t.Fatalf("madvise = %d", r)
		}
		if !userAccess(v, addr+5*4096, false) {
			t.Fatal("fault")
		}
		if _, _, n := cached(); n != 65 {
			t.Errorf("after a MADV_RANDOM fault: %d pages cached, want 65", n)
		}
	})
}
