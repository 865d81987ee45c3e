package kernelmodel

import (
	"encoding/binary"
	"os"
	"sort"
	"strings"
)

// The path system calls over vfs.go's name space (fs/open.c, fs/namei.c,
// fs/stat.c, fs/readdir.c, fs/read_write.c, mm/shmem.c, v5.10).

// More open(2) and *at flags.
const (
	oNofollow   = 0x20000
	oTmpfile    = 0x400000
	atRemoveDir = 0x200
	atEaccess   = 0x200

	renameNoreplace = 1
	renameExchange  = 2
	renameWhiteout  = 4

	EOPNOTSUPP = 95
	umaskMode  = 0o022 // the default umask; umask(2) is not modelled
)

// stat returns what struct stat shows for a tmpfs or host inode.
func (n *inode) stat() statInfo {
	s := statInfo{dev: n.dev, ino: n.ino, mode: uint64(n.mode), blksize: 4096, nlink: uint64(n.nlink), mtime: n.mtime, blocks: n.blocks, hostBlocks: n.host}
	switch n.kind {
	case inoDir:
		s.mode |= sIFDIR
		s.size = 4096
		if !n.host && !n.synth {
			s.size = uint64(len(n.children)+2) * 20 // shmem: BOGO_DIRENT_SIZE per entry
		}
	case inoReg:
		s.mode |= sIFREG
		s.size = n.shm.size
	case inoSymlink:
		s.mode |= sIFLNK
		s.size = uint64(len(n.target))
	case inoSpecial:
		s.mode |= sIFCHR
	}
	return s
}

// sysOpenat models do_sys_openat2 → path_openat: a walk that follows the
// last symlink unless O_NOFOLLOW or O_CREAT|O_EXCL; O_CREAT of a missing
// name creates a tmpfs file (elsewhere -EROFS: host mounts are read-only
// and the modelled files cannot be created); a host file opened for
// writing or with O_TRUNC is -EROFS; O_DIRECTORY of a non-directory
// -ENOTDIR; a directory opened for writing -EISDIR; a symlink with
// O_NOFOLLOW -ELOOP. O_PATH and O_TMPFILE are not modelled (-EINVAL).
func (v *VCPU) sysOpenat(dirfd int64, upath, flags, mode uint64) int64 {
	name, err := v.strncpyFromUser(upath, 4096)
	if err != 0 {
		return err
	}
	if name == "" {
		return -ENOENT
	}
	if flags&oPath != 0 || flags&oTmpfile == oTmpfile {
		return -EINVAL
	}
	excl := flags&(oCreat|oExcl) == oCreat|oExcl
	nd, _, err := v.walkName(dirfd, name, flags&oNofollow == 0 && !excl, false)
	if err != 0 {
		return err
	}
	acc := flags & oAccMode
	n := nd.ino
	if n == nil {
		if flags&oCreat == 0 {
			return -ENOENT
		}
		if strings.HasSuffix(name, "/") {
			return -EISDIR
		}
		dir, last, err := v.tmpfsParent(nd.path)
		if err != 0 {
			return err
		}
		n = v.tmpfsCreate(dir, last, uint32(mode)&^umaskMode)
		n.shm.name = nd.path
	} else if excl {
		return -EEXIST
	}
	if acc == 3 {
		return -EINVAL // no FMODE_READ/FMODE_WRITE combination for 3 in the model
	}
	mm := v.curr.mm
	cloexec := flags&oCloexec != 0
	fl := flags & (oAccMode | oAppend | oNonblock)
	switch n.kind {
	case inoModel:
		return v.openModel(nd.path, flags)
	case inoSymlink:
		return -ELOOP // O_NOFOLLOW (or O_CREAT|O_EXCL) on a symlink
	case inoSpecial:
		return -EACCES
	case inoDir:
		if acc != oRdonly || flags&oCreat != 0 {
			return -EISDIR
		}
		f := &file{kind: fileDir, path: nd.path, flags: fl}
		if !n.synth {
			f.ino = n
		}
		return mm.installFDFrom(f, 0, cloexec)
	}
	// a regular file
	if flags&oDirectory != 0 {
		return -ENOTDIR
	}
	if n.host && (acc != oRdonly || flags&oTrunc != 0) {
		return -EROFS // may_open on a read-only mount
	}
	if flags&oTrunc != 0 && acc != oRdonly && n.shm.size != 0 {
		v.truncateFile(n.shm, 0)
	}
	n.shm.opens++
	r := mm.installFDFrom(&file{kind: fileReg, shm: n.shm, path: nd.path, ino: n, flags: fl}, 0, cloexec)
	if r < 0 {
		n.shm.opens--
	}
	return r
}

// truncateFile sets a tmpfs file's size (shmem_setattr), zapping and
// dropping the pages beyond a smaller end.
func (v *VCPU) truncateFile(s *shmemFile, length uint64) {
	old := s.size
	s.size = length
	if length < old {
		holeBegin := (length + 0xfff) >> 12
		v.unmapMappingRange(s, holeBegin)
		v.shmemTruncatePages(s, holeBegin)
		if off := length & 0xfff; off != 0 {
			if p, ok := s.cache[length>>12]; ok {
				fr := v.m.mem.Frame(p)
				clear(fr[off:])
			}
		}
	}
}

// openModel opens a modelled /dev, /proc or /sys file (canonical path p).
func (v *VCPU) openModel(p string, flags uint64) int64 {
	kind, pf, _ := lookupFile(p)
	if flags&oDirectory != 0 {
		return -ENOTDIR
	}
	mm := v.curr.mm
	cloexec := flags&oCloexec != 0
	if kind == fileStdio {
		i := int(p[len(p)-1] - '0')
		switch p {
		case "/dev/stdin":
			i = 0
		case "/dev/stdout":
			i = 1
		case "/dev/stderr":
			i = 2
		}
		return mm.installFDFrom(&file{kind: fileStdio, stdio: i, flags: flags & (oAccMode | oAppend | oNonblock)}, 0, cloexec)
	}
	if pf != nil && flags&oAccMode != oRdonly && !pf.writable {
		return -EACCES // even root: procfs checks the mode of these 0444 files against the task
	}
	if kind == fileClearRefs && flags&oAccMode == oRdonly {
		return -EACCES // 0200
	}
	f := &file{kind: kind, proc: pf, flags: flags & (oAccMode | oAppend | oNonblock)}
	if pf != nil && pf.pagemap {
		f.proc = &procFile{pagemap: true} // pagemap_open
	}
	return mm.installFDFrom(f, 0, cloexec)
}

// statPath returns the stat of a resolved path.
func (v *VCPU) statPath(nd nameiData) (statInfo, int64) {
	n := nd.ino
	if n == nil {
		return statInfo{}, -ENOENT
	}
	if n.kind == inoModel {
		kind, pf, _ := lookupFile(nd.path)
		if kind == fileStdio {
			return statOf(&file{kind: fileStdio, stdio: 1}, nd.path), 0
		}
		return statOf(&file{kind: kind, proc: pf}, nd.path), 0
	}
	return n.stat(), 0
}

// statAt resolves a stat-family path argument (AT_EMPTY_PATH, and
// AT_SYMLINK_NOFOLLOW for the last component).
func (v *VCPU) statAt(dirfd int64, upath, flags uint64) (statInfo, int64) {
	if flags&^uint64(atEmptyPath|atSymlinkNofoll|0x800|0x6000) != 0 { // AT_NO_AUTOMOUNT, AT_STATX_SYNC_TYPE
		return statInfo{}, -EINVAL
	}
	nd, df, err := v.walkAt(dirfd, upath, flags&atSymlinkNofoll == 0, flags&atEmptyPath != 0)
	if err != 0 {
		return statInfo{}, err
	}
	if df != nil {
		return statOf(df, df.path), 0
	}
	if nd.path == "/proc/self/exe" && (nd.ino == nil || flags&atSymlinkNofoll == 0 && v.lookup(v.curr.mm.exe) == nil) {
		// the executable of a built-in workload, which no mount shows
		return statInfo{dev: 1, ino: 5, mode: sIFREG | 0o755, blksize: 4096}, 0
	}
	return v.statPath(nd)
}

// sysNewfstatat models newfstatat (and stat/lstat with dirfd AT_FDCWD):
// AT_EMPTY_PATH with "" is fstat of dirfd, as glibc ≥ 2.33 implements
// fstat.
func (v *VCPU) sysNewfstatat(dirfd int64, upath, buf, flags uint64) int64 {
	s, err := v.statAt(dirfd, upath, flags)
	if err != 0 {
		return err
	}
	return v.putStat(buf, s)
}

// statx masks (include/uapi/linux/stat.h).
const (
	statxBasicStats = 0x7ff
	sizeofStatx     = 256
)

// sysStatx models statx: the basic fields of the same stat, with
// STATX_BASIC_STATS in stx_mask (no birth time).
func (v *VCPU) sysStatx(dirfd int64, upath, flags, mask, buf uint64) int64 {
	if mask&0x80000000 != 0 { // STATX__RESERVED
		return -EINVAL
	}
	s, err := v.statAt(dirfd, upath, flags)
	if err != 0 {
		return err
	}
	b := make([]byte, sizeofStatx)
	le := binary.LittleEndian
	le.PutUint32(b[0:], statxBasicStats)
	le.PutUint32(b[4:], uint32(s.blksize))
	le.PutUint32(b[16:], uint32(max(s.nlink, 1)))
	le.PutUint32(b[20:], guestUID)
	le.PutUint32(b[24:], guestGID)
	le.PutUint16(b[28:], uint16(s.mode))
	le.PutUint64(b[32:], s.ino)
	le.PutUint64(b[40:], s.size)
	le.PutUint64(b[48:], s.stBlocks())
	t := uint64(realtimeEpoch)
	if s.mtime != 0 {
		t = s.mtime
	}
	for _, o := range []int{64, 96, 112} { // atime, ctime, mtime
		le.PutUint64(b[o:], t)
	}
	le.PutUint32(b[128:], uint32(s.rdev>>8&0xfff)) // new_decode_dev
	le.PutUint32(b[132:], uint32(s.rdev&0xff|s.rdev>>12&^0xff))
	le.PutUint32(b[136:], uint32(s.dev>>8&0xfff))
	le.PutUint32(b[140:], uint32(s.dev&0xff|s.dev>>12&^0xff))
	return v.copyToUser(buf, b)
}

// sysReadlinkat models readlinkat: the target of a symlink (not
// NUL-terminated, truncated to bufsiz); -EINVAL for anything else.
func (v *VCPU) sysReadlinkat(dirfd int64, upath, buf uint64, bufsiz int64) int64 {
	if bufsiz <= 0 {
		return -EINVAL
	}
	nd, _, err := v.walkAt(dirfd, upath, false, false)
	if err != 0 {
		return err
	}
	if nd.ino == nil {
		return -ENOENT
	}
	if nd.ino.kind != inoSymlink {
		return -EINVAL
	}
	target := []byte(nd.ino.target)
	if int64(len(target)) > bufsiz {
		target = target[:bufsiz]
	}
	if err := v.copyToUser(buf, target); err != 0 {
		return err
	}
	return int64(len(target))
}

// sysFaccessat models access/faccessat for root: a path that exists is
// accessible for reading; W_OK on the read-only host mounts is -EROFS and
// on a read-only procfs file -EACCES; X_OK needs an execute bit on
// anything but a directory (-EACCES).
func (v *VCPU) sysFaccessat(dirfd int64, upath, mode, flags uint64) int64 {
	if mode&^uint64(rOK|wOK|xOK) != 0 {
		return -EINVAL
	}
	nd, df, err := v.walkAt(dirfd, upath, flags&atSymlinkNofoll == 0, flags&atEmptyPath != 0)
	if err != 0 {
		return err
	}
	if df != nil {
		return 0
	}
	n := nd.ino
	if n == nil {
		if nd.path == "/proc/self/exe" {
			return 0
		}
		return -ENOENT
	}
	if n.kind == inoModel {
		kind, pf, _ := lookupFile(nd.path)
		switch {
		case mode&xOK != 0:
			return -EACCES
		case mode&wOK != 0 && pf != nil && !pf.writable:
			return -EACCES
		case mode&rOK != 0 && kind == fileClearRefs:
			return -EACCES
		}
		return 0
	}
	if mode&wOK != 0 && (n.host || n.synth) {
		return -EROFS
	}
	if mode&xOK != 0 && n.kind != inoDir && n.mode&0o111 == 0 {
		return -EACCES
	}
	return 0
}

// Directory entry types (include/linux/fs.h DT_*).
const (
	dtUnknown = 0
	dtChr     = 2
	dtDir     = 4
	dtReg     = 8
	dtLnk     = 10
)

type dirent struct {
	name string
	ino  uint64
	typ  uint8
}

// listDir returns a directory's entries, "." and ".." first (dcache_readdir
// order is creation order; the model sorts names).
func (v *VCPU) listDir(f *file) []dirent {
	ents := []dirent{{".", 2, dtDir}, {"..", 2, dtDir}}
	n := f.ino
	switch {
	case n != nil && !n.host:
		for _, name := range sortedNames(n.children) {
			c := n.children[name]
			ents = append(ents, dirent{name, c.ino, direntType(c.kind)})
		}
	case n != nil && n.host:
		des, _ := os.ReadDir(f.path)
		for _, d := range des {
			c := v.lookup(strings.TrimSuffix(f.path, "/") + "/" + d.Name())
			if c == nil {
				continue
			}
			ents = append(ents, dirent{d.Name(), c.ino, direntType(c.kind)})
		}
	default: // a synthetic or modelled directory: the names below it
		seen := map[string]bool{}
		var names []string
		add := func(s string) {
			if !seen[s] {
				seen[s] = true
				names = append(names, s)
			}
		}
		fs := v.m.fs()
		if c, ok := fs.synthChildren(f.path); ok {
			for _, s := range c {
				add(s)
			}
		}
		prefix := strings.TrimSuffix(f.path, "/") + "/"
		for _, p := range append(modelPaths(), "/tmp", "/dev/shm") {
			if strings.HasPrefix(p, prefix) {
				add(strings.SplitN(p[len(prefix):], "/", 2)[0])
			}
		}
		for d := range fs.modelDirSet {
			if strings.HasPrefix(d, prefix) {
				add(strings.SplitN(d[len(prefix):], "/", 2)[0])
			}
		}
		for _, s := range sortedKeys(seen) {
			c := v.lookup(prefix + s)
			if c == nil {
				continue
			}
			typ := direntType(c.kind)
			if c.kind == inoModel {
				typ = dtReg
				if strings.HasPrefix(prefix, "/dev/") {
					typ = dtChr
				}
			}
			ents = append(ents, dirent{s, c.ino, typ})
		}
	}
	return ents
}

func sortedKeys(m map[string]bool) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// modelPaths lists the modelled files' paths.
func modelPaths() []string {
	ps := []string{"/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", "/dev/stdin", "/dev/stdout", "/dev/stderr", "/proc/self/clear_refs", "/proc/self/exe"}
	for p := range procFiles {
		ps = append(ps, p)
	}
	return ps
}

func direntType(kind int) uint8 {
	switch kind {
	case inoDir:
		return dtDir
	case inoReg:
		return dtReg
	case inoSymlink:
		return dtLnk
	case inoSpecial:
		return dtChr
	}
	return dtUnknown
}

// sysGetdents64 models getdents64: struct linux_dirent64 records (d_ino,
// d_off, d_reclen, d_type, d_name NUL-terminated, 8-byte aligned) from
// the file position (an entry index) while they fit; -EINVAL if not even
// one fits.
func (v *VCPU) sysGetdents64(fd int, buf, count uint64) int64 {
	f := v.curr.mm.fd(fd)
	if f == nil {
		return -EBADF
	}
	if f.kind != fileDir {
		return -ENOTDIR
	}
	ents := v.listDir(f)
	var out []byte
	i := f.pos
	for ; i < uint64(len(ents)); i++ {
		e := ents[i]
		reclen := (19 + len(e.name) + 1 + 7) &^ 7
		if uint64(len(out)+reclen) > count {
			break
		}
		rec := make([]byte, reclen)
		binary.LittleEndian.PutUint64(rec[0:], e.ino)
		binary.LittleEndian.PutUint64(rec[8:], i+1)
		binary.LittleEndian.PutUint16(rec[16:], uint16(reclen))
		rec[18] = e.typ
		copy(rec[19:], e.name)
		out = append(out, rec...)
	}
	if len(out) == 0 {
		if i < uint64(len(ents)) {
			return -EINVAL
		}
		return 0
	}
	if err := v.copyToUser(buf, out); err != 0 {
		return err
	}
	f.pos = i
	return int64(len(out))
}

// sysMkdirat models mkdirat in tmpfs (shmem_mkdir): -EEXIST if the name
// exists, -EROFS elsewhere.
func (v *VCPU) sysMkdirat(dirfd int64, upath, mode uint64) int64 {
	nd, _, err := v.walkAt(dirfd, upath, false, false)
	if err != 0 {
		return err
	}
	if nd.ino != nil {
		return -EEXIST
	}
	dir, last, err := v.tmpfsParent(nd.path)
	if err != 0 {
		return err
	}
	n := v.m.fs().newDir(dir.dev, uint32(mode)&0o7777&^umaskMode)
	dir.children[last] = n
	dir.nlink++
	return 0
}

// sysUnlinkat models unlinkat (unlink, and rmdir with AT_REMOVEDIR) in
// tmpfs: a file's pages go when its last fd and mapping do.
func (v *VCPU) sysUnlinkat(dirfd int64, upath, flags uint64) int64 {
	if flags&^uint64(atRemoveDir) != 0 {
		return -EINVAL
	}
	nd, _, err := v.walkAt(dirfd, upath, false, false)
	if err != 0 {
		return err
	}
	if nd.ino == nil {
		return -ENOENT
	}
	dir, last, err := v.tmpfsParent(nd.path)
	if err != 0 {
		return err
	}
	n := nd.ino
	if flags&atRemoveDir != 0 {
		if n.kind != inoDir {
			return -ENOTDIR
		}
		if len(n.children) > 0 {
			return -ENOTEMPTY
		}
		dir.nlink--
	} else if n.kind == inoDir {
		return -EISDIR
	}
	delete(dir.children, last)
	v.dropInode(n)
	return 0
}

// dropInode is the last unlink of a tmpfs inode.
func (v *VCPU) dropInode(n *inode) {
	n.nlink = 0
	if n.shm != nil {
		n.shm.linked = false
		v.shmemRelease(n.shm)
	}
}

// sysRenameat2 models renameat2 within one tmpfs (shmem_rename2):
// RENAME_NOREPLACE is -EEXIST on an existing target; replacing a
// directory needs an empty directory, a non-directory a non-directory;
// moving a directory below itself is -EINVAL; across file systems -EXDEV;
// RENAME_EXCHANGE and RENAME_WHITEOUT: -EINVAL.
func (v *VCPU) sysRenameat2(olddfd int64, oldp uint64, newdfd int64, newp uint64, flags uint64) int64 {
	if flags&^uint64(renameNoreplace) != 0 {
		return -EINVAL
	}
	ond, _, err := v.walkAt(olddfd, oldp, false, false)
	if err != 0 {
		return err
	}
	if ond.ino == nil {
		return -ENOENT
	}
	nnd, _, err := v.walkAt(newdfd, newp, false, false)
	if err != 0 {
		return err
	}
	odir, olast, err := v.tmpfsParent(ond.path)
	if err != 0 {
		return err
	}
	ndir, nlast, err := v.tmpfsParent(nnd.path)
	if err != 0 {
		return err
	}
	if odir.dev != ndir.dev {
		return -EXDEV
	}
	n := ond.ino
	if ond.path == nnd.path {
		return 0
	}
	if n.kind == inoDir && strings.HasPrefix(nnd.path, ond.path+"/") {
		return -EINVAL
	}
	if t := nnd.ino; t != nil {
		if flags&renameNoreplace != 0 {
			return -EEXIST
		}
		if n.kind == inoDir && t.kind != inoDir {
			return -ENOTDIR
		}
		if n.kind != inoDir && t.kind == inoDir {
			return -EISDIR
		}
		if t.kind == inoDir && len(t.children) > 0 {
			return -ENOTEMPTY
		}
		if t.kind == inoDir {
			ndir.nlink--
		}
		delete(ndir.children, nlast)
		v.dropInode(t)
	}
	delete(odir.children, olast)
	ndir.children[nlast] = n
	if n.kind == inoDir && odir != ndir {
		odir.nlink--
		ndir.nlink++
	}
	if n.shm != nil {
		n.shm.name = nnd.path
	}
	return 0
}

// fallocate modes (include/uapi/linux/falloc.h).
const (
	fallocKeepSize  = 1
	fallocPunchHole = 2
)

// sysFallocate models shmem_fallocate for a tmpfs file opened for
// writing: mode 0 or FALLOC_FL_KEEP_SIZE allocates the range's pages
// (-ENOSPC beyond the size limit) and, without KEEP_SIZE, extends i_size;
// PUNCH_HOLE|KEEP_SIZE zaps the mappings of the whole pages of the range
// and frees them. Other modes: -EOPNOTSUPP. Memfds are shmem too.
func (v *VCPU) sysFallocate(fd int, mode uint64, off, length int64) int64 {
	f := v.curr.mm.fd(fd)
	if f == nil {
		return -EBADF
	}
	if off < 0 || length <= 0 {
		return -EINVAL
	}
	if !f.canWrite() {
		return -EBADF
	}
	if f.shm == nil || f.shm.host != "" {
		return -ENODEV
	}
	s := f.shm
	end := uint64(off) + uint64(length)
	if end < uint64(off) || end > maxShmemSize {
		return -EFBIG
	}
	switch mode {
	case fallocPunchHole | fallocKeepSize:
		// Only cached pages can hold data: visit those in the range.
		for _, idx := range s.indexes(uint64(off) >> 12) {
			if idx<<12 >= end {
				break
			}
			pos, pend := max(uint64(off), idx<<12), min(end, (idx+1)<<12)
			p := s.cache[idx]
			if pos == idx<<12 && pend == (idx+1)<<12 { // a whole page: zap and free it
				v.unmapMappingRangeOne(s, idx)
				delete(s.cache, idx)
				v.m.putPage(p)
				if s.tmpfs {
					v.m.fs().tmpfsPages--
				}
				continue
			}
			clear(v.m.mem.Frame(p)[pos&0xfff : pos&0xfff+(pend-pos)]) // a partial page is zeroed (shmem_undo_range)
		}
		return 0
	case 0, fallocKeepSize:
		first, last := uint64(off)>>12, (end+0xfff)>>12
		fs := v.m.fs()
		if s.tmpfs && fs.tmpfsLimit != 0 && last-first > fs.tmpfsLimit {
			return -ENOSPC // shmem_fallocate: larger than the whole file system
		}
		var added []uint64
		for i := first; i < last; i++ {
			if _, ok := s.cache[i]; ok {
				continue
			}
			if _, err := v.shmemGetPage(s, i, true); err != nil {
				for _, j := range added { // "undone": drop what this call allocated
					p := s.cache[j]
					delete(s.cache, j)
					v.m.putPage(p)
					if s.tmpfs {
						fs.tmpfsPages--
					}
				}
				return -ENOSPC
			}
			added = append(added, i)
		}
		if mode == 0 && end > s.size {
			s.size = end
		}
		return 0
	}
	return -EOPNOTSUPP
}

// unmapMappingRangeOne zaps the mappings of one file page (the page's
// part of unmap_mapping_range in shmem_fallocate's punch).
func (v *VCPU) unmapMappingRangeOne(s *shmemFile, index uint64) {
	for _, mm := range v.m.mms {
		if mm.dead {
			continue
		}
		v.mmapReadLock(mm)
		var addrs []uint64
		for _, vma := range mm.vmas {
			if vma.file == s && index >= vma.pgoff() && index < vma.pgoff()+(vma.end-vma.start)>>12 {
				addrs = append(addrs, vma.start+(index-vma.pgoff())<<12)
			}
		}
		for _, a := range addrs {
			t := v.tlbGatherMMU(mm, a, a+4096)
			v.zapRange(t, a, a+4096)
			v.tlbFinishMMU(t)
		}
		v.mmapReadUnlock(mm)
	}
}

// Syscall numbers of the path calls (arch/x86/entry/syscalls/syscall_64.tbl).
const (
	sysCreat      = 85
	sysMkdir      = 83
	sysRmdir      = 84
	sysUnlink     = 87
	sysRename     = 82
	sysChdir      = 80
	sysFchdir     = 81
	sysGetdents64 = 217
	sysMkdirat    = 258
	sysUnlinkat   = 263
	sysRenameat   = 264
	sysRenameat2  = 316
	sysFallocate  = 285
	sysFadvise64  = 221
)

// pathSyscall dispatches the file-system calls of this file.
func (v *VCPU) pathSyscall(nr, a0, a1, a2, a3, a4 uint64) int64 {
	switch nr {
	case sysCreat:
		return v.sysOpenat(atFDCWD, a0, oCreat|oWronly|oTrunc, a1)
	case sysMkdir:
		return v.sysMkdirat(atFDCWD, a0, a1)
	case sysMkdirat:
		return v.sysMkdirat(int64(a0), a1, a2)
	case sysUnlink:
		return v.sysUnlinkat(atFDCWD, a0, 0)
	case sysRmdir:
		return v.sysUnlinkat(atFDCWD, a0, atRemoveDir)
	case sysUnlinkat:
		return v.sysUnlinkat(int64(a0), a1, a2)
	case sysRename:
		return v.sysRenameat2(atFDCWD, a0, atFDCWD, a1, 0)
	case sysRenameat:
		return v.sysRenameat2(int64(a0), a1, int64(a2), a3, 0)
	case sysRenameat2:
		return v.sysRenameat2(int64(a0), a1, int64(a2), a3, a4)
	case sysGetdents64:
		return v.sysGetdents64(int(int32(a0)), a1, a2)
	case sysFallocate:
		return v.sysFallocate(int(int32(a0)), a1, int64(a2), int64(a3))
	case sysMsync:
		return v.sysMsync(a0, a1, a2)
	case sysFadvise64:
		return v.sysFadvise64(int(int32(a0)), int64(a2), a3)
	case sysStatfs, sysFstatfs:
		return v.sysStatfs(nr, a0, a1)
	case sysGetxattr, sysLgetxattr, sysFgetxattr, sysListxattr, sysLlistxattr, sysFlistxattr:
		return v.xattrSyscall(nr, a0)
	case sysChdir:
		nd, _, err := v.walkAt(atFDCWD, a0, true, false)
		if err != 0 {
			return err
		}
		return v.setCwd(nd)
	case sysFchdir:
		f := v.curr.mm.fd(int(int32(a0)))
		if f == nil {
			return -EBADF
		}
		if f.kind != fileDir {
			return -ENOTDIR
		}
		return v.setCwd(nameiData{path: f.path, ino: v.lookup(f.path)})
	}
	return -ENOSYS
}

// sysFadvise64 models fadvise64 (mm/fadvise.c generic_fadvise, v5.10):
// the advice is checked and, for the model's page caches, has no effect
// (no readahead, no writeback to start, nothing to drop that a later
// read would notice); a pipe is -ESPIPE, a negative length -EINVAL.
func (v *VCPU) sysFadvise64(fd int, length int64, advice uint64) int64 {
	f := v.curr.mm.fd(fd)
	if f == nil {
		return -EBADF
	}
	if f.kind == filePipe {
		return -ESPIPE
	}
	if advice > 5 || length < 0 { // POSIX_FADV_NORMAL … POSIX_FADV_NOREUSE
		return -EINVAL
	}
	return 0
}

// Syscall numbers of the xattr and statfs calls.
const (
	sysStatfs       = 137
	sysFstatfs      = 138
	sysGetxattr     = 191
	sysLgetxattr    = 192
	sysFgetxattr    = 193
	sysListxattr    = 194
	sysLlistxattr   = 195
	sysFlistxattr   = 196
	ENODATA         = 61
	tmpfsMagic      = 0x01021994
	procSuperMagic  = 0x9fa0
	sysfsMagic      = 0x62656572
	stRdonly        = 1
	stNosuid        = 2
	stNodev         = 4
	stValid         = 0x20
	sizeofStatfs    = 120
	statfsNameLen   = 255
	statfsBlockSize = 4096
)

// xattrSyscall models the getxattr and listxattr families for files that
// carry no extended attributes (tmpfs without security labels, the
// model's files, and the host's, whose attributes are not shown): get is
// -ENODATA, list returns an empty list. The path still has to resolve.
func (v *VCPU) xattrSyscall(nr, a0 uint64) int64 {
	switch nr {
	case sysFgetxattr, sysFlistxattr:
		if v.curr.mm.fd(int(int32(a0))) == nil {
			return -EBADF
		}
	default:
		nd, _, err := v.walkAt(atFDCWD, a0, nr == sysGetxattr || nr == sysListxattr, false)
		if err != 0 {
			return err
		}
		if nd.ino == nil && nd.path != "/proc/self/exe" {
			return -ENOENT
		}
	}
	if nr == sysGetxattr || nr == sysLgetxattr || nr == sysFgetxattr {
		return -ENODATA
	}
	return 0
}

// statfsOf describes the file system holding the canonical path p: the
// tmpfs instances with their size limit, procfs and sysfs, and for the
// host mounts the host's own statfs, marked read-only.
func (v *VCPU) statfsOf(p string) []byte {
	fs := v.m.fs()
	b := make([]byte, sizeofStatfs)
	le := binary.LittleEndian
	typ, flags := uint64(tmpfsMagic), uint64(stValid)
	blocks := v.m.cfg.MemBytes / statfsBlockSize
	free := blocks
	var fsid uint64
	switch root, _ := fs.tmpfsOf(p); {
	case root != nil:
		if fs.tmpfsLimit != 0 {
			blocks = fs.tmpfsLimit
		}
		free = blocks - min(blocks, fs.tmpfsPages)
		flags |= stNosuid | stNodev
		fsid = root.dev
	case p == "/proc" || strings.HasPrefix(p, "/proc/"):
		typ, blocks, free, fsid = procSuperMagic, 0, 0, 4
	case p == "/sys" || strings.HasPrefix(p, "/sys/"):
		typ, blocks, free, fsid = sysfsMagic, 0, 0, 20
	case fs.underMount(p):
		var st syscallStatfs
		if hostStatfs(p, &st) {
			typ, blocks, free = st.typ, st.blocks*st.bsize/statfsBlockSize, st.bavail*st.bsize/statfsBlockSize
		}
		flags |= stRdonly
		fsid = devHost
	default:
		flags |= stRdonly
		fsid = devRoot
	}
	le.PutUint64(b[0:], typ)
	le.PutUint64(b[8:], statfsBlockSize)
	le.PutUint64(b[16:], blocks)
	le.PutUint64(b[24:], free)
	le.PutUint64(b[32:], free)
	le.PutUint64(b[40:], blocks)
	le.PutUint64(b[48:], free)
	le.PutUint64(b[56:], fsid)
	le.PutUint64(b[64:], statfsNameLen)
	le.PutUint64(b[72:], statfsBlockSize)
	le.PutUint64(b[80:], flags)
	return b
}

// sysStatfs models statfs (path) and fstatfs (fd).
func (v *VCPU) sysStatfs(nr, a0, buf uint64) int64 {
	var p string
	if nr == sysFstatfs {
		f := v.curr.mm.fd(int(int32(a0)))
		if f == nil {
			return -EBADF
		}
		p = f.path
		if p == "" {
			p = "/dev" // the device nodes, pipes and anonymous files: tmpfs-like
		}
	} else {
		nd, _, err := v.walkAt(atFDCWD, a0, true, false)
		if err != 0 {
			return err
		}
		if nd.ino == nil {
			return -ENOENT
		}
		p = nd.path
	}
	return v.copyToUser(buf, v.statfsOf(p))
}

// setCwd is set_fs_pwd after chdir's checks: the path must be a
// directory (-ENOTDIR), and exist (-ENOENT).
func (v *VCPU) setCwd(nd nameiData) int64 {
	if nd.ino == nil {
		return -ENOENT
	}
	if nd.ino.kind != inoDir {
		return -ENOTDIR
	}
	v.curr.mm.cwd = nd.path
	return 0
}
