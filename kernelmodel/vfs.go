package kernelmodel

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/tlbemu/emu/internal/phys"
)

// The guest's name space: path walks (fs/namei.c link_path_walk,
// walk_component, step_into, v5.10) over three kinds of file system:
//
//   - tmpfs at /tmp and /dev/shm (mm/shmem.c): directories, regular
//     files whose data are shmem page caches (shmemFile), symlinks; sized
//     by Config.TmpfsBytes (the size= mount option) in pages;
//   - the host's files below Config.ROMounts, read-only: the model only
//     ever calls Lstat, Readlink, ReadDir and Open(O_RDONLY)+ReadAt on
//     the host, so no guest action can write, create or delete a host
//     file; an open for writing is -EROFS (as on a read-only mount,
//     may_open → sb_rdonly), a path outside the mounts -ENOENT;
//   - the modelled device and procfs/sysfs files of fs.go and procfs.go.
//
// Directories on the way to a mount point (/usr for a mount of /usr/lib)
// exist and list only the names leading to mounts. The working directory
// starts at "/" (chdir/fchdir change it). Host files are snapshotted on first lookup: a host file that
// changes while the guest runs is not seen to change.

// inode kinds.
const (
	inoDir = iota + 1
	inoReg
	inoSymlink
	inoModel   // a modelled /dev, /proc or /sys file (fs.go lookupFile)
	inoSpecial // a host device, FIFO or socket: visible, not openable
)

// inode is a tmpfs or host inode (struct inode + its dentry's name).
type inode struct {
	kind     int
	ino      uint64
	dev      uint64 // st_dev: mkdev(0, n) of the superblock
	mode     uint32 // permission bits
	nlink    int
	children map[string]*inode // tmpfs directory
	target   string            // symlink
	shm      *shmemFile        // regular file data (tmpfs, or the host page cache)
	host     bool              // a host inode (read-only)
	synth    bool              // a directory on the way to a host mount
	mtime    uint64            // seconds
	blocks   uint64            // a host file's st_blocks (its allocation, for du)
}

// st_dev numbers: tmpfs instances and the host mounts.
const (
	devTmp    = 30 // /tmp
	devShm    = 31 // /dev/shm
	devHost   = 40
	devRoot   = 1
	maxLinks  = 40 // MAXSYMLINKS
	ELOOP     = 40
	ENOTEMPTY = 39
	EXDEV     = 18
)

// vfs is the machine's name space (protected by the baton: kernel code
// runs serially).
type vfs struct {
	tmp, shm    *inode
	tmpfsPages  uint64 // pages allocated by all tmpfs files
	tmpfsLimit  uint64 // pages; 0: unlimited
	mounts      []string
	hostInodes  map[string]*inode
	nextIno     uint64
	pagecache   pageCacheStats
	modelDirSet map[string]bool
}

// pageCacheStats are the emulator's page-cache counters.
type pageCacheStats struct {
	hits, misses     uint64 // find_get_page found / did not find the page
	faultAroundPages uint64 // pages filemap_map_pages mapped besides the faulting one
}

func (m *Machine) fs() *vfs {
	if m.vfsState != nil {
		return m.vfsState
	}
	fs := &vfs{hostInodes: map[string]*inode{}, nextIno: 100, modelDirSet: map[string]bool{}}
	fs.tmp = fs.newDir(devTmp, 0o1777)
	fs.shm = fs.newDir(devShm, 0o1777)
	fs.tmpfsLimit = m.cfg.TmpfsBytes / 4096
	for _, d := range m.cfg.ROMounts {
		fs.addMount(d)
	}
	for d := range knownDirs {
		fs.modelDirSet[d] = true
	}
	for p := range procFiles {
		for d := filepath.Dir(p); d != "/"; d = filepath.Dir(d) {
			fs.modelDirSet[d] = true
		}
	}
	fs.modelDirSet["/proc/self/fd"] = true
	m.vfsState = fs
	return fs
}

// addMount adds a host directory (or file) below which the guest sees the
// host read-only; a mount point that is a host symlink adds its target too,
// so that a merged-/usr /lib → usr/lib resolves.
func (fs *vfs) addMount(d string) {
	d = filepath.Clean(d)
	if !filepath.IsAbs(d) {
		return
	}
	fs.mounts = append(fs.mounts, d)
	if r, err := filepath.EvalSymlinks(d); err == nil && r != d {
		fs.mounts = append(fs.mounts, r)
	}
}

func (fs *vfs) newDir(dev uint64, mode uint32) *inode {
	fs.nextIno++
	return &inode{kind: inoDir, ino: fs.nextIno, dev: dev, mode: mode, nlink: 2, children: map[string]*inode{}, mtime: realtimeEpoch}
}

// tmpfsOf returns the tmpfs root and the components below it for a
// canonical path, or nil.
func (fs *vfs) tmpfsOf(p string) (*inode, []string) {
	for _, mt := range []struct {
		at   string
		root *inode
	}{{"/tmp", fs.tmp}, {"/dev/shm", fs.shm}} {
		if p == mt.at {
			return mt.root, nil
		}
		if strings.HasPrefix(p, mt.at+"/") {
			if fs.mountedInside(mt.at, p) {
				return nil, nil
			}
			return mt.root, strings.Split(p[len(mt.at)+1:], "/")
		}
	}
	return nil, nil
}

// mountedInside reports whether p, below the tmpfs at root, is a host
// mount stacked strictly inside that tmpfs, below one, or a directory on
// the way to one (-ro-mount /tmp/build/out: the guest sees the host there,
// as a mount over a tmpfs directory shadows it). Mounts at or above root
// are under the tmpfs and do not count. Deviation: the directories on the
// way are read-only synthesized ones, not tmpfs directories.
func (fs *vfs) mountedInside(root, p string) bool {
	for _, d := range fs.mounts {
		if !strings.HasPrefix(d, root+"/") {
			continue
		}
		if p == d || strings.HasPrefix(p, d+"/") || strings.HasPrefix(d, p+"/") {
			return true
		}
	}
	return false
}

// underMount reports whether p is a host mount or below one.
func (fs *vfs) underMount(p string) bool {
	for _, d := range fs.mounts {
		if p == d || d == "/" || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// synthChildren returns the names of the directory p on the way to host
// mounts (nil, false if p is not such a directory).
func (fs *vfs) synthChildren(p string) ([]string, bool) {
	var names []string
	ok := false
	for _, d := range fs.mounts {
		if p == d || !strings.HasPrefix(d, strings.TrimSuffix(p, "/")+"/") {
			continue
		}
		ok = true
		rest := strings.TrimPrefix(d, strings.TrimSuffix(p, "/")+"/")
		names = append(names, strings.SplitN(rest, "/", 2)[0])
	}
	return names, ok
}

// lookup returns the inode at the canonical path p, or nil.
func (v *VCPU) lookup(p string) *inode {
	fs := v.m.fs()
	if root, comps := fs.tmpfsOf(p); root != nil {
		n := root
		for _, c := range comps {
			if n.kind != inoDir {
				return nil
			}
			if n = n.children[c]; n == nil {
				return nil
			}
		}
		return n
	}
	if p == "/proc/self/exe" {
		return &inode{kind: inoSymlink, ino: 4, dev: 4, mode: 0o777, nlink: 1, target: v.curr.mm.exe}
	}
	if _, _, ok := lookupFile(p); ok {
		return &inode{kind: inoModel}
	}
	if fs.modelDirSet[p] {
		return &inode{kind: inoDir, ino: 2, dev: 4, mode: 0o555, nlink: 2, synth: true}
	}
	if fs.underMount(p) {
		return fs.hostInode(p)
	}
	if _, ok := fs.synthChildren(p); ok || p == "/" {
		return &inode{kind: inoDir, ino: 2, dev: devRoot, mode: 0o755, nlink: 2, synth: true}
	}
	return nil
}

// hostInode returns the (cached) inode of the host file p, below a mount.
func (fs *vfs) hostInode(p string) *inode {
	if n, ok := fs.hostInodes[p]; ok {
		return n
	}
	fi, err := os.Lstat(p)
	if err != nil {
		fs.hostInodes[p] = nil
		return nil
	}
	fs.nextIno++
	n := &inode{ino: fs.nextIno, dev: devHost, mode: uint32(fi.Mode().Perm()), nlink: 1, host: true, mtime: uint64(fi.ModTime().Unix())}
	n.blocks, n.nlink = hostBlocks(fi, n.nlink)
	switch {
	case fi.Mode().IsRegular():
		n.kind = inoReg
		n.shm = &shmemFile{name: p, size: uint64(fi.Size()), cache: map[uint64]phys.PFN{}, host: p, ino: n}
	case fi.IsDir():
		n.kind = inoDir
		n.nlink = 2
	case fi.Mode()&os.ModeSymlink != 0:
		n.kind = inoSymlink
		t, err := os.Readlink(p)
		if err != nil {
			fs.hostInodes[p] = nil
			return nil
		}
		n.target = t
	default:
		n.kind = inoSpecial
	}
	fs.hostInodes[p] = n
	return n
}

// nameiData is the result of a path walk: the canonical path and its
// inode (nil: the last component does not exist, its parent does).
type nameiData struct {
	path string
	ino  *inode
}

// walk resolves name relative to the canonical directory base
// (path_lookupat): "." and ".." are applied to the resolved path,
// symlinks are followed (the last one only if follow), at most 40 of
// them (-ELOOP); a non-directory in the middle is -ENOTDIR, a missing one
// -ENOENT. A missing last component is returned with ino nil.
func (v *VCPU) walk(base, name string, follow bool) (nameiData, int64) {
	if len(name) >= 4096 {
		return nameiData{}, -ENAMETOOLONG
	}
	cur := base
	if strings.HasPrefix(name, "/") {
		cur = "/"
	}
	trailingSlash := strings.HasSuffix(name, "/")
	comps := strings.Split(name, "/")
	links := 0
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		last := true
		for _, r := range comps {
			if r != "" && r != "." {
				last = false
			}
		}
		if c == "" || c == "." {
			if len(comps) == 0 {
				return nameiData{path: cur, ino: v.lookup(cur)}, 0
			}
			continue
		}
		if len(c) > 255 {
			return nameiData{}, -ENAMETOOLONG
		}
		var next string
		if c == ".." {
			next = filepath.Dir(cur)
		} else {
			if cur == "/proc" && (c == strconv.Itoa(v.curr.tgid) || c == "thread-self") {
				c = "self"
			}
			next = strings.TrimSuffix(cur, "/") + "/" + c
		}
		n := v.lookup(next)
		if n == nil {
			if last {
				return nameiData{path: next}, 0
			}
			return nameiData{}, -ENOENT
		}
		if n.kind == inoSymlink && (!last || follow || trailingSlash) {
			links++
			if links > maxLinks {
				return nameiData{}, -ELOOP
			}
			if n.target == "" {
				return nameiData{}, -ENOENT
			}
			if strings.HasPrefix(n.target, "/") {
				cur = "/"
			}
			comps = append(strings.Split(n.target, "/"), comps...)
			continue
		}
		if !last && n.kind != inoDir {
			return nameiData{}, -ENOTDIR
		}
		cur = next
		if last {
			if trailingSlash && n.kind != inoDir {
				return nameiData{}, -ENOTDIR
			}
			return nameiData{path: cur, ino: n}, 0
		}
	}
	return nameiData{path: cur, ino: v.lookup(cur)}, 0
}

// walkAt resolves a user path argument against dirfd (AT_FDCWD: "/"): an
// empty path is -ENOENT (unless emptyOK: then the dirfd itself).
func (v *VCPU) walkAt(dirfd int64, upath uint64, follow, emptyOK bool) (nameiData, *file, int64) {
	name, err := v.strncpyFromUser(upath, 4096)
	if err != 0 {
		return nameiData{}, nil, err
	}
	return v.walkName(dirfd, name, follow, emptyOK)
}

func (v *VCPU) walkName(dirfd int64, name string, follow, emptyOK bool) (nameiData, *file, int64) {
	base := v.curr.mm.cwd
	if base == "" {
		base = "/"
	}
	var df *file
	if name == "" && !emptyOK {
		return nameiData{}, nil, -ENOENT
	}
	if (name == "" || name[0] != '/') && int32(dirfd) != atFDCWD {
		df = v.curr.mm.fd(int(int32(dirfd)))
		if df == nil {
			return nameiData{}, nil, -EBADF
		}
		if name == "" && emptyOK {
			return nameiData{}, df, 0
		}
		if df.kind != fileDir {
			return nameiData{}, nil, -ENOTDIR
		}
		base = df.path
	}
	if name == "" {
		if emptyOK {
			return nameiData{path: base, ino: v.lookup(base)}, nil, 0
		}
		return nameiData{}, nil, -ENOENT
	}
	nd, err := v.walk(base, name, follow)
	return nd, nil, err
}

// tmpfsParent returns the tmpfs directory holding the canonical path p
// and the last name, or -EROFS (host or modelled) / -ENOENT.
func (v *VCPU) tmpfsParent(p string) (*inode, string, int64) {
	fs := v.m.fs()
	root, comps := fs.tmpfsOf(p)
	if root == nil || len(comps) == 0 {
		if v.lookup(p) != nil || v.lookup(filepath.Dir(p)) != nil {
			return nil, "", -EROFS
		}
		return nil, "", -ENOENT
	}
	dir := root
	for _, c := range comps[:len(comps)-1] {
		dir = dir.children[c]
		if dir == nil {
			return nil, "", -ENOENT
		}
		if dir.kind != inoDir {
			return nil, "", -ENOTDIR
		}
	}
	return dir, comps[len(comps)-1], 0
}

// tmpfsCreate creates a regular file (shmem_mknod) named name in dir.
func (v *VCPU) tmpfsCreate(dir *inode, name string, mode uint32) *inode {
	fs := v.m.fs()
	fs.nextIno++
	n := &inode{kind: inoReg, ino: fs.nextIno, dev: dir.dev, mode: mode & 0o7777, nlink: 1, mtime: realtimeEpoch}
	n.shm = &shmemFile{name: name, cache: map[uint64]phys.PFN{}, tmpfs: true, ino: n, linked: true}
	dir.children[name] = n
	return n
}

// sortedNames returns a tmpfs directory's names in order (the model's
// stable readdir order).
func sortedNames(m map[string]*inode) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}
