package kernelmodel

import (
	"encoding/binary"
	"strings"
)

// The file side of the user ABI: the file table, the files a guest can
// open (the device nodes of drivers/char/mem.c and the procfs/sysfs files
// of procfs.go), and the read/write/seek/stat family (fs/read_write.c,
// fs/stat.c, fs/fcntl.c, fs/file.c, v5.10). There is no file system: a
// path that names none of the modelled files does not exist.

// file is an open file description (struct file).
type file struct {
	kind  int
	uffd  *userfaultCtx
	shm   *shmemFile // memfd (fileMemfd)
	pos   uint64     // f_pos
	stdio int        // fileStdio: which of the guest's fds 0-2 it is
	proc  *procFile  // fileProc
	pipe  *pipe      // filePipe
	flags uint64     // f_flags: O_ACCMODE, O_APPEND, O_NONBLOCK
	path  string     // fileReg, fileDir: the canonical path it was opened by
	ino   *inode     // fileReg, fileDir (nil for a modelled directory)
}

const (
	fileStdio = iota // the run's stdin, stdout or stderr
	fileClearRefs
	fileUffd
	fileMemfd
	fileNull    // /dev/null
	fileZero    // /dev/zero
	fileURandom // /dev/urandom, /dev/random
	fileProc    // a generated read-only procfs/sysfs file, or pagemap
	filePipe    // one end of a pipe
	fileReg     // a tmpfs or host regular file (shm is its page cache)
	fileDir     // a directory (getdents64, a dirfd)
)

// open(2) flags (include/uapi/asm-generic/fcntl.h).
const (
	oAccMode   = 0x3
	oRdonly    = 0x0
	oWronly    = 0x1
	oRdwr      = 0x2
	oCreat     = 0x40
	oExcl      = 0x80
	oTrunc     = 0x200
	oAppend    = 0x400
	oDirectory = 0x10000
	oPath      = 0x200000

	atFDCWD         = -100
	atEmptyPath     = 0x1000
	atSymlinkNofoll = 0x100
)

// More errno values (include/uapi/asm-generic/errno-base.h, errno.h).
const (
	EIO     = 5
	ENOTDIR = 20
	EISDIR  = 21
	EMFILE  = 24
	ENOTTY  = 25
	EROFS   = 30
	ERANGE  = 34
)

// maxFDs is the default RLIMIT_NOFILE soft limit.
const maxFDs = 1024

// nofile is the process's RLIMIT_NOFILE soft limit, rlimit(RLIMIT_NOFILE)
// as __alloc_fd, dup2, F_DUPFD and poll read it (fs/file.c,
// fs/fcntl.c, fs/select.c v5.10): prlimit may raise it up to nr_open.
func (mm *MM) nofile() int {
	if !mm.rlimSet {
		return maxFDs
	}
	return int(min(mm.rlim[rlimitNofile][0], nrOpen))
}

func (mm *MM) fd(n int) *file {
	if n < 0 || n >= len(mm.files) {
		return nil
	}
	return mm.files[n]
}

// installFD puts f in the lowest free slot (__alloc_fd).
func (mm *MM) installFD(f *file) int64 { return mm.installFDFrom(f, 0, false) }

// installFDFrom puts f in the lowest free slot ≥ min, with FD_CLOEXEC if
// cloexec; -EMFILE beyond RLIMIT_NOFILE.
func (mm *MM) installFDFrom(f *file, min int, cloexec bool) int64 {
	i := min
	for i < len(mm.files) && mm.files[i] != nil {
		i++
	}
	if i >= mm.nofile() {
		return -EMFILE
	}
	for i >= len(mm.files) {
		mm.files = append(mm.files, nil)
	}
	mm.files[i] = f
	mm.setCloexec(i, cloexec)
	return int64(i)
}

func (mm *MM) setCloexec(fd int, on bool) {
	if on {
		if mm.cloexec == nil {
			mm.cloexec = map[int]bool{}
		}
		mm.cloexec[fd] = true
	} else {
		delete(mm.cloexec, fd)
	}
}

// fget takes another reference on f for a new file-table slot (dup, fork).
func fget(f *file) {
	if f.uffd != nil {
		f.uffd.files++
	}
	if f.shm != nil {
		f.shm.opens++
	}
	if f.pipe != nil {
		if f.canRead() {
			f.pipe.readers++
		} else {
			f.pipe.writers++
		}
	}
}

// canRead and canWrite are FMODE_READ and FMODE_WRITE.
func (f *file) canRead() bool  { return f.flags&oAccMode != oWronly }
func (f *file) canWrite() bool { return f.flags&oAccMode != oRdonly }

// maxRW caps one read or write, as MAX_RW_COUNT caps it in Linux (the
// model copies through a Go buffer).
const maxRW = 1 << 20

func (v *VCPU) sysWrite(fd int, buf, n uint64) int64 {
	f := v.curr.mm.fd(fd)
	if f == nil || !f.canWrite() {
		return -EBADF
	}
	if f.kind == filePipe {
		return v.pipeWrite(f, buf, n, sysWrite, true)
	}
	return v.fileWrite(f, buf, n, -1)
}

// fileWrite is vfs_write at pos (pos < 0: the file position).
func (v *VCPU) fileWrite(f *file, buf, n uint64, pos int64) int64 {
	if f.shm != nil {
		return v.fileRW(f, buf, n, pos, true)
	}
	n = min(n, maxRW)
	switch f.kind {
	case fileNull, fileZero, fileURandom:
		return int64(n) // write_null, write_zero; random_write mixes the bytes in
	case fileStdio, fileClearRefs:
	default:
		return -EINVAL // no write method
	}
	b := make([]byte, n)
	if err := v.copyFromUser(b, buf); err != 0 {
		return err
	}
	if f.kind == fileClearRefs {
		return v.clearRefsWrite(b)
	}
	return v.m.writeStdio(f.stdio, b)
}

func (v *VCPU) sysRead(fd int, buf, n uint64) int64 {
	f := v.curr.mm.fd(fd)
	if f == nil || !f.canRead() {
		return -EBADF
	}
	if f.kind == filePipe {
		return v.pipeRead(f, buf, n, sysRead, true)
	}
	return v.fileRead(f, buf, n, -1)
}

// fileRead is vfs_read at pos (pos < 0: the file position, advanced).
func (v *VCPU) fileRead(f *file, buf, n uint64, pos int64) int64 {
	if f.kind == fileUffd {
		return v.userfaultfdRead(f.uffd, buf, n)
	}
	if f.kind == fileDir {
		return -EISDIR
	}
	if f.shm != nil {
		return v.fileRW(f, buf, n, pos, false)
	}
	n = min(n, maxRW)
	var b []byte
	switch f.kind {
	case fileNull:
		return 0
	case fileZero:
		return v.fillUser(buf, n, func(b []byte) { clear(b) })
	case fileURandom:
		return v.fillUser(buf, n, v.m.randomBytes)
	case fileStdio:
		r := v.m.cfg.Stdin
		if f.stdio != 0 || r == nil {
			return 0 // end of file
		}
		b = make([]byte, n)
		k, _ := r.Read(b)
		b = b[:k]
	case fileProc:
		at := f.pos
		if pos >= 0 {
			at = uint64(pos)
		}
		if f.proc.pagemap {
			return v.pagemapRead(f, buf, n, at, pos < 0)
		}
		content := v.procContent(f.proc)
		if at < uint64(len(content)) {
			b = content[at:min(uint64(len(content)), at+n)]
		}
		if pos < 0 {
			f.pos = at + uint64(len(b))
		}
	default:
		return -EINVAL // no read method (clear_refs)
	}
	if len(b) == 0 {
		return 0
	}
	if err := v.copyToUser(buf, b); err != 0 {
		return err
	}
	return int64(len(b))
}

// iovec arrays (fs/read_write.c do_readv/do_writev, UIO_MAXIOV).
const uioMaxIOV = 1024

// sysReadvWritev models readv/writev (and preadv/pwritev with pos ≥ 0):
// each segment in turn, stopping at a short transfer.
func (v *VCPU) sysReadvWritev(fd int, iov, cnt uint64, pos int64, write bool) int64 {
	f := v.curr.mm.fd(fd)
	if f == nil || (write && !f.canWrite()) || (!write && !f.canRead()) {
		return -EBADF
	}
	if cnt > uioMaxIOV {
		return -EINVAL
	}
	if pos >= 0 && (f.kind == filePipe || f.kind == fileStdio || f.kind == fileUffd) {
		return -ESPIPE
	}
	t := v.curr
	type seg struct{ base, n uint64 }
	segs := make([]seg, cnt)
	var total uint64
	for i := range segs {
		b := make([]byte, 16)
		if err := v.copyFromUser(b, iov+uint64(i)*16); err != 0 {
			return err
		}
		segs[i] = seg{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}
		if int64(segs[i].n) < 0 || int64(total+segs[i].n) < 0 {
			return -EINVAL
		}
		total += segs[i].n
	}
	var done int64
	for _, s := range segs {
		if s.n == 0 {
			continue
		}
		at := int64(-1)
		if pos >= 0 {
			at = pos + done
		}
		var r int64
		switch {
		case f.kind == filePipe && write: // only an empty-handed call may sleep (and restart)
			r = v.pipeWrite(f, s.base, s.n, sysWritev, done == 0)
		case f.kind == filePipe:
			r = v.pipeRead(f, s.base, s.n, sysReadv, done == 0)
		case write:
			r = v.fileWrite(f, s.base, s.n, at)
		default:
			r = v.fileRead(f, s.base, s.n, at)
		}
		if v.curr != t {
			return 0 // asleep in the pipe: the call runs again when woken
		}
		if r < 0 {
			if done > 0 {
				return done
			}
			return r
		}
		done += r
		if uint64(r) < s.n {
			break
		}
	}
	return done
}

// sysPread models pread64/pwrite64 on every file kind: -ESPIPE on the
// unseekable ones (stdio, userfaultfd).
func (v *VCPU) sysPread(fd int, buf, n, off uint64, write bool) int64 {
	f := v.curr.mm.fd(fd)
	if f == nil || (write && !f.canWrite()) || (!write && !f.canRead()) {
		return -EBADF
	}
	if f.shm != nil {
		return v.sysPreadPwrite(fd, buf, n, off, write)
	}
	if int64(off) < 0 {
		return -EINVAL
	}
	if f.kind == fileStdio || f.kind == fileUffd || f.kind == filePipe {
		return -ESPIPE
	}
	if write {
		return v.fileWrite(f, buf, n, int64(off))
	}
	return v.fileRead(f, buf, n, int64(off))
}

// lseek whence values.
const (
	seekSet = 0
	seekCur = 1
	seekEnd = 2
)

// sysLseek models lseek: memfds (shmem_file_llseek → generic), procfs
// files (seq_lseek and mem_lseek: SEEK_SET and SEEK_CUR only), the
// devices (null/zero: noop_llseek keeps 0; urandom: no positioning), and
// -ESPIPE for stdio and userfaultfd.
func (v *VCPU) sysLseek(fd int, off int64, whence uint64) int64 {
	f := v.curr.mm.fd(fd)
	if f == nil {
		return -EBADF
	}
	var size int64
	switch f.kind {
	case fileStdio, fileUffd, filePipe:
		return -ESPIPE
	case fileNull, fileZero, fileURandom:
		if whence > seekEnd {
			return -EINVAL
		}
		return 0
	case fileMemfd, fileReg:
		size = int64(f.shm.size)
	case fileDir:
		if whence != seekSet || off != 0 {
			return -EINVAL // the model's directory position is an entry index: rewind only
		}
	case fileProc:
		if whence == seekEnd {
			return -EINVAL
		}
	case fileClearRefs:
		size = 0
	}
	var at int64
	switch whence {
	case seekSet:
		at = off
	case seekCur:
		at = int64(f.pos) + off
	case seekEnd:
		at = size + off
	default:
		return -EINVAL
	}
	if at < 0 {
		return -EINVAL
	}
	f.pos = uint64(at)
	return at
}

func (v *VCPU) sysClose(fd int) int64 {
	mm := v.curr.mm
	f := mm.fd(fd)
	if f == nil {
		return -EBADF
	}
	mm.files[fd] = nil
	mm.setCloexec(fd, false)
	v.fput(f)
	return 0
}

// sysDup models dup: the lowest free fd, without FD_CLOEXEC.
func (v *VCPU) sysDup(oldfd int) int64 {
	mm := v.curr.mm
	f := mm.fd(oldfd)
	if f == nil {
		return -EBADF
	}
	fget(f)
	r := mm.installFD(f)
	if r < 0 {
		v.fput(f)
	}
	return r
}

// sysDup3 models dup2 (flags < 0) and dup3.
func (v *VCPU) sysDup3(oldfd, newfd int, flags int64) int64 {
	mm := v.curr.mm
	f := mm.fd(oldfd)
	if flags > 0 && flags&^oCloexec != 0 {
		return -EINVAL
	}
	if flags >= 0 && oldfd == newfd {
		return -EINVAL // dup3 refuses oldfd == newfd
	}
	if f == nil {
		return -EBADF
	}
	if newfd < 0 || newfd >= mm.nofile() {
		return -EBADF
	}
	if oldfd == newfd {
		return int64(newfd) // dup2 of a valid fd to itself
	}
	for newfd >= len(mm.files) {
		mm.files = append(mm.files, nil)
	}
	if old := mm.files[newfd]; old != nil {
		v.fput(old)
	}
	fget(f)
	mm.files[newfd] = f
	mm.setCloexec(newfd, flags > 0 && flags&oCloexec != 0)
	return int64(newfd)
}

// fcntl commands (include/uapi/asm-generic/fcntl.h, linux/fcntl.h).
const (
	fDupFD        = 0
	fGetFD        = 1
	fSetFD        = 2
	fGetFL        = 3
	fSetFL        = 4
	fDupFDCloexec = 1030
	fdCloexecFlag = 1
)

// sysFcntl models the descriptor-flag and file-status-flag commands of
// do_fcntl; F_SETFL changes only O_APPEND and O_NONBLOCK (SETFL_MASK
// without the async-I/O bits). Locks, leases and signals: -EINVAL.
func (v *VCPU) sysFcntl(fd int, cmd, arg uint64) int64 {
	mm := v.curr.mm
	f := mm.fd(fd)
	if f == nil {
		return -EBADF
	}
	switch cmd {
	case fDupFD, fDupFDCloexec:
		if arg >= uint64(mm.nofile()) {
			return -EINVAL
		}
		fget(f)
		r := mm.installFDFrom(f, int(arg), cmd == fDupFDCloexec)
		if r < 0 {
			v.fput(f)
		}
		return r
	case fGetFD:
		if mm.cloexec[fd] {
			return fdCloexecFlag
		}
		return 0
	case fSetFD:
		mm.setCloexec(fd, arg&fdCloexecFlag != 0)
		return 0
	case fGetFL:
		return int64(f.flags)
	case fSetFL:
		const mask = oAppend | oNonblock
		f.flags = f.flags&^mask | arg&mask
		return 0
	}
	return -EINVAL
}

// sysIoctl: userfaultfd's ioctls; every other file is not a terminal and
// has no ioctls (vfs_ioctl: -ENOTTY), which is what isatty(3) sees for
// TCGETS and TIOCGWINSZ.
func (v *VCPU) sysIoctl(fd int, cmd, arg uint64) int64 {
	f := v.curr.mm.fd(fd)
	if f == nil {
		return -EBADF
	}
	if f.kind == fileUffd {
		return v.userfaultfdIoctl(f.uffd, cmd, arg)
	}
	return -ENOTTY
}

// absPath resolves path against the working directory "/", dropping "."
// and empty components and applying "..".
func absPath(path string) string {
	var out []string
	for _, c := range strings.Split(path, "/") {
		switch c {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, c)
		}
	}
	return "/" + strings.Join(out, "/")
}

// directories that exist (for access, stat and O_DIRECTORY); nothing can be
// listed.
var knownDirs = map[string]bool{"/": true, "/dev": true, "/proc": true, "/proc/self": true, "/sys": true, "/sys/devices": true, "/sys/devices/system": true, "/sys/devices/system/cpu": true}

// lookupFile returns the kind (and procfs file) of a modelled path, or
// ok false.
func lookupFile(path string) (kind int, pf *procFile, ok bool) {
	switch path {
	case "/dev/null":
		return fileNull, nil, true
	case "/dev/zero":
		return fileZero, nil, true
	case "/dev/urandom", "/dev/random":
		return fileURandom, nil, true
	case "/dev/stdin", "/dev/stdout", "/dev/stderr", "/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2":
		return fileStdio, nil, true
	case "/proc/self/clear_refs":
		return fileClearRefs, nil, true
	}
	if g, ok := procFiles[path]; ok {
		return fileProc, g, true
	}
	return 0, nil, false
}

// File modes (include/uapi/linux/stat.h).
const (
	sIFIFO = 0o010000
	sIFCHR = 0o020000
	sIFDIR = 0o040000
	sIFREG = 0o100000
	sIFLNK = 0o120000
)

// statInfo is what the model reports in struct stat.
type statInfo struct {
	dev, ino, mode, rdev, size, blksize uint64
	nlink, mtime                        uint64 // 0: 1 and the epoch
	blocks                              uint64 // st_blocks if hostBlocks
	hostBlocks                          bool
}

// stBlocks is st_blocks: the host's for a host file, else the size.
func (s statInfo) stBlocks() uint64 {
	if s.hostBlocks {
		return s.blocks
	}
	return (s.size + 511) / 512
}

// mkdev is new_encode_dev for a stat's st_dev/st_rdev.
func mkdev(major, minor uint64) uint64 {
	return minor&0xff | major<<8 | (minor&^0xff)<<12
}

// statOf describes an open file: device nodes with their drivers/char/mem.c
// numbers on devtmpfs (st_dev 0:5), procfs files as regular files of size
// 0 (st_dev 0:4), sysfs files of size 4096 (0:20), stdio as pipes (the
// model does not know what the host fds are, and a pipe makes a C library
// choose full buffering as it would for any non-terminal), memfds as
// shmem regular files (0:1). Inode numbers are small fixed values.
func statOf(f *file, path string) statInfo {
	switch f.kind {
	case fileNull:
		return statInfo{dev: 5, ino: 4, mode: sIFCHR | 0o666, rdev: mkdev(1, 3), blksize: 4096}
	case fileZero:
		return statInfo{dev: 5, ino: 5, mode: sIFCHR | 0o666, rdev: mkdev(1, 5), blksize: 4096}
	case fileURandom:
		return statInfo{dev: 5, ino: 9, mode: sIFCHR | 0o666, rdev: mkdev(1, 9), blksize: 4096}
	case fileStdio:
		return statInfo{dev: 12, ino: uint64(f.stdio) + 1, mode: sIFIFO | 0o600, blksize: 4096}
	case fileMemfd:
		return statInfo{dev: 1, ino: 1000, mode: sIFREG | 0o777, size: f.shm.size, blksize: 4096}
	case fileReg, fileDir:
		if f.ino != nil {
			return f.ino.stat()
		}
		return statInfo{dev: 4, ino: 2, mode: sIFDIR | 0o555, size: 0, blksize: 1024}
	case fileClearRefs:
		return statInfo{dev: 4, ino: 2, mode: sIFREG | 0o200, blksize: 1024}
	case fileProc:
		if strings.HasPrefix(path, "/sys/") {
			return statInfo{dev: 20, ino: 3, mode: sIFREG | 0o444, size: 4096, blksize: 4096}
		}
		mode := uint64(0o444)
		if f.proc.pagemap {
			mode = 0o400
		}
		return statInfo{dev: 4, ino: 3, mode: sIFREG | mode, blksize: 1024}
	case fileUffd:
		return statInfo{dev: 13, ino: 1, mode: 0o600, blksize: 4096}
	case filePipe:
		return statInfo{dev: 12, ino: 100, mode: sIFIFO | 0o600, blksize: 4096}
	}
	return statInfo{}
}

// sizeofStat is sizeof(struct stat) on x86-64
// (arch/x86/include/uapi/asm/stat.h).
const sizeofStat = 144

func (v *VCPU) putStat(addr uint64, s statInfo) int64 {
	b := make([]byte, sizeofStat)
	le := binary.LittleEndian
	le.PutUint64(b[0:], s.dev)
	le.PutUint64(b[8:], s.ino)
	le.PutUint64(b[16:], max(s.nlink, 1)) // st_nlink
	le.PutUint32(b[24:], uint32(s.mode))
	le.PutUint32(b[28:], guestUID)
	le.PutUint32(b[32:], guestGID)
	le.PutUint64(b[40:], s.rdev)
	le.PutUint64(b[48:], s.size)
	le.PutUint64(b[56:], s.blksize)
	le.PutUint64(b[64:], s.stBlocks())
	now := uint64(realtimeEpoch)
	if s.mtime != 0 {
		now = s.mtime
	}
	le.PutUint64(b[72:], now) // st_atime, st_mtime, st_ctime
	le.PutUint64(b[88:], now)
	le.PutUint64(b[104:], now)
	return v.copyToUser(addr, b)
}

func (v *VCPU) sysFstat(fd int, buf uint64) int64 {
	f := v.curr.mm.fd(fd)
	if f == nil {
		return -EBADF
	}
	return v.putStat(buf, statOf(f, ""))
}

// access mode bits.
const (
	xOK = 1
	wOK = 2
	rOK = 4
)

// sysGetcwd models getcwd: the working directory with its NUL; -ERANGE
// if size is too small.
func (v *VCPU) sysGetcwd(buf, size uint64) int64 {
	cwd := v.curr.mm.cwd
	if cwd == "" {
		cwd = "/"
	}
	b := append([]byte(cwd), 0)
	if size < uint64(len(b)) {
		return -ERANGE
	}
	if err := v.copyToUser(buf, b); err != 0 {
		return err
	}
	return int64(len(b))
}

// poll events.
const (
	pollIn   = 0x1
	pollOut  = 0x4
	pollNval = 0x20
)

// sysPoll models poll for the model's files, which never block: every
// readable file is POLLIN, every writable one POLLOUT (stdin included: a
// read returns data or end of file), a closed fd POLLNVAL. The timeout is
// irrelevant as something is always ready unless no fd is given, and then
// the call sleeps for it (a negative timeout with no fds would sleep
// forever: -EINVAL instead of a deadlock is not Linux's, so it sleeps 0).
func (v *VCPU) sysPoll(fds, nfds uint64, timeout int64) (int64, uint64) {
	mm := v.curr.mm
	if nfds > uint64(mm.nofile()) {
		return -EINVAL, 0
	}
	ready := int64(0)
	for i := uint64(0); i < nfds; i++ {
		b := make([]byte, 8)
		if err := v.copyFromUser(b, fds+i*8); err != 0 {
			return err, 0
		}
		fd := int32(binary.LittleEndian.Uint32(b))
		events := binary.LittleEndian.Uint16(b[4:])
		var rev uint16
		if fd >= 0 {
			f := mm.fd(int(fd))
			switch {
			case f == nil:
				rev = pollNval
			case f.kind == filePipe:
				p := f.pipe
				if f.canRead() && (len(p.buf) > 0 || p.writers == 0) {
					rev |= pollIn
				}
				if f.canRead() && p.writers == 0 {
					rev |= 0x10 // POLLHUP
				}
				if f.canWrite() && (len(p.buf) < pipeBufSz || p.readers == 0) {
					rev |= pollOut
				}
				if f.canWrite() && p.readers == 0 {
					rev |= 0x8 // POLLERR
				}
				rev &= events | 0x18
			default:
				if f.canRead() && f.kind != fileClearRefs {
					rev |= pollIn
				}
				if f.canWrite() && f.kind != fileProc {
					rev |= pollOut
				}
				rev &= events | 0x18 // POLLERR|POLLHUP always
			}
		}
		binary.LittleEndian.PutUint16(b[6:], rev)
		if err := v.copyToUser(fds+i*8+6, b[6:8]); err != 0 {
			return err, 0
		}
		if rev != 0 {
			ready++
		}
	}
	if ready == 0 && timeout > 0 {
		return 0, uint64(timeout) * 1_000_000
	}
	return ready, 0
}

// Pipes (fs/pipe.c): a 64 KiB buffer (16 pages, the default pipe size)
// between the descriptions of its two ends.
const (
	sysPipe   = 22
	sysPipe2  = 293
	pipeBufSz = 16 * 4096
	EPIPE     = 32
)

type pipe struct {
	buf              []byte
	readers, writers int     // open descriptions' file-table references per end
	waiters          []*Task // tasks sleeping in read or write (sleepInSyscall)
}

// wake makes the pipe's sleepers runnable; each re-runs its call.
func (v *VCPU) wakePipe(p *pipe) {
	for _, t := range p.waiters {
		if t.state == taskBlocked && t.pipeWait {
			t.pipeWait = false
			v.wakeUpTask(t)
		}
	}
	p.waiters = p.waiters[:0]
}

// sysPipe2 models pipe2 (and pipe): two descriptions, read end first.
func (v *VCPU) sysPipe2(fds, flags uint64) int64 {
	if flags&^uint64(oCloexec|oNonblock) != 0 {
		return -EINVAL
	}
	mm := v.curr.mm
	p := &pipe{readers: 1, writers: 1}
	r := mm.installFDFrom(&file{kind: filePipe, pipe: p, flags: oRdonly | flags&oNonblock}, 0, flags&oCloexec != 0)
	if r < 0 {
		return r
	}
	w := mm.installFDFrom(&file{kind: filePipe, pipe: p, flags: oWronly | flags&oNonblock}, 0, flags&oCloexec != 0)
	if w < 0 {
		mm.files[r] = nil
		return w
	}
	var b [8]byte
	binary.LittleEndian.PutUint32(b[:], uint32(r))
	binary.LittleEndian.PutUint32(b[4:], uint32(w))
	if err := v.copyToUser(fds, b[:]); err != 0 {
		mm.files[r], mm.files[w] = nil, nil
		mm.setCloexec(int(r), false)
		mm.setCloexec(int(w), false)
		return err
	}
	return 0
}

// pipeRead is pipe_read: data if any, end of file without writers,
// -EAGAIN with O_NONBLOCK, else sleep until a writer acts.
func (v *VCPU) pipeRead(f *file, buf, n uint64, nr uint64, mayBlock bool) int64 {
	p := f.pipe
	if n == 0 {
		return 0
	}
	if len(p.buf) == 0 {
		if p.writers == 0 {
			return 0
		}
		if f.flags&oNonblock != 0 || !mayBlock {
			return -EAGAIN
		}
		p.waiters = append(p.waiters, v.curr)
		v.curr.pipeWait = true
		v.sleepInSyscall(nr)
		return 0
	}
	k := min(n, uint64(len(p.buf)))
	if err := v.copyToUser(buf, p.buf[:k]); err != 0 {
		return err
	}
	p.buf = append(p.buf[:0], p.buf[k:]...)
	v.wakePipe(p)
	return int64(k)
}

// pipeWrite is pipe_write: -EPIPE and SIGPIPE without readers; as much as
// fits, or -EAGAIN / sleep when full.
func (v *VCPU) pipeWrite(f *file, buf, n uint64, nr uint64, mayBlock bool) int64 {
	p := f.pipe
	if p.readers == 0 {
		v.sendSignal(v.curr, SIGPIPE, true)
		return -EPIPE
	}
	if n == 0 {
		return 0
	}
	room := uint64(pipeBufSz - len(p.buf))
	if room == 0 {
		if f.flags&oNonblock != 0 || !mayBlock {
			return -EAGAIN
		}
		p.waiters = append(p.waiters, v.curr)
		v.curr.pipeWait = true
		v.sleepInSyscall(nr)
		return 0
	}
	k := min(n, room)
	b := make([]byte, k)
	if err := v.copyFromUser(b, buf); err != 0 {
		return err
	}
	p.buf = append(p.buf, b...)
	v.wakePipe(p)
	return int64(k)
}

// pipeRelease drops one file-table reference of a pipe end.
func (v *VCPU) pipeRelease(f *file) {
	if f.canRead() {
		f.pipe.readers--
	} else {
		f.pipe.writers--
	}
	v.wakePipe(f.pipe)
}

// putPipes drops a dead process's pipe ends (exit_files, for the files
// whose release others can observe: a reader sees end of file, a writer
// EPIPE); its other files are released when it is reaped.
func (v *VCPU) putPipes(mm *MM) {
	for i, f := range mm.files {
		if f != nil && f.pipe != nil {
			mm.files[i] = nil
			v.fput(f)
		}
	}
}
