package kernelmodel

import (
	"os"
	"syscall"
)

// syscallStatfs is what statfsOf takes from the host's statfs(2).
type syscallStatfs struct{ typ, bsize, blocks, bavail uint64 }

// hostStatfs reads the host's statfs of path (a read-only query).
func hostStatfs(path string, st *syscallStatfs) bool {
	var s syscall.Statfs_t
	if syscall.Statfs(path, &s) != nil {
		return false
	}
	st.typ, st.bsize, st.blocks, st.bavail = uint64(s.Type), uint64(s.Bsize), s.Blocks, s.Bavail
	return true
}

// hostBlocks returns a host file's st_blocks and st_nlink (nlink as given
// if the host's stat is not a syscall.Stat_t).
func hostBlocks(fi os.FileInfo, nlink int) (uint64, int) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, nlink
	}
	return uint64(st.Blocks), int(st.Nlink)
}
