// Package outfile writes emu's output files without destroying what is at
// the path.
//
// A regular file, or a path where nothing exists yet, is replaced
// atomically: the data goes to a temporary file in the same directory,
// which is fsync'ed and renamed over the path (rename(2) is atomic within a
// file system), so a reader sees the old file or the whole new one, never
// a part. A symbolic link is followed to its target, which is replaced; the
// link stays. Anything else — a character device such as /dev/null or a
// terminal, a FIFO, a socket, or a /proc/self/fd link such as /dev/stdout —
// is opened and written directly, as a shell redirection would: it cannot
// be replaced without destroying it, and its reader expects the bytes in it.
package outfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/google/renameio/v2"
)

// maxHops bounds the symbolic links followed, as the kernel's MAXSYMLINKS
// (40, include/linux/namei.h) does.
const maxHops = 40

// Target is where a path's bytes will go.
type Target struct {
	Path   string      // the path as given
	Real   string      // the file written: Path with every symbolic link resolved
	Direct bool        // written in place (not a regular file, or reached through /proc)
	Info   os.FileInfo // the existing file (nil: it will be created)
}

// Resolve finds what writing path would write, without creating or
// opening anything. It fails when the parent directory does not exist,
// path is a directory, or the symbolic links loop.
func Resolve(path string) (*Target, error) {
	if path == "" {
		return nil, errors.New("empty path")
	}
	t := &Target{Path: path}
	p := path
	for hop := 0; ; hop++ {
		if hop > maxHops {
			return nil, &fs.PathError{Op: "resolve", Path: path, Err: syscall.ELOOP}
		}
		dir, err := filepath.EvalSymlinks(filepath.Dir(p))
		if err != nil {
			return nil, fmt.Errorf("directory %s: %w", filepath.Dir(p), unwrapPath(err))
		}
		if dir, err = filepath.Abs(dir); err != nil {
			return nil, err
		}
		p = filepath.Join(dir, filepath.Base(p))
		if isProc(p) {
			// /proc/self/fd/N and the like are "magic" links the kernel
			// resolves to the open file itself (a pipe, a terminal, a
			// file opened for appending): write through them.
			fi, err := os.Stat(p)
			if err != nil {
				return nil, unwrapPath(err)
			}
			if fi.IsDir() {
				return nil, &fs.PathError{Op: "open", Path: path, Err: syscall.EISDIR}
			}
			t.Real, t.Direct, t.Info = p, true, fi
			return t, nil
		}
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			t.Real = p
			return t, nil
		}
		if err != nil {
			return nil, err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			link, err := os.Readlink(p)
			if err != nil {
				return nil, err
			}
			if !filepath.IsAbs(link) {
				link = filepath.Join(dir, link)
			}
			p = link
			continue
		}
		if fi.IsDir() {
			return nil, &fs.PathError{Op: "open", Path: path, Err: syscall.EISDIR}
		}
		t.Real, t.Info, t.Direct = p, fi, !fi.Mode().IsRegular()
		return t, nil
	}
}

func isProc(p string) bool { return p == "/proc" || strings.HasPrefix(p, "/proc/") }

// unwrapPath drops the *fs.PathError wrapper of err, whose path the caller
// names itself.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Check tells whether path can be written, before any work is done: for a
// file to create or replace, the directory must exist and be writable; an
// existing file written in place must be writable. It creates and opens
// nothing (opening a FIFO would wait for its reader).
func Check(path string) (*Target, error) {
	t, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	if t.Direct {
		if err := syscall.Access(t.Real, 2 /* W_OK */); err != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return t, nil
	}
	dir := filepath.Dir(t.Real)
	if err := syscall.Access(dir, 2|1 /* W_OK|X_OK */); err != nil {
		return nil, fmt.Errorf("directory %s: %w", dir, err)
	}
	return t, nil
}

// Same reports whether a and b are the same file: the same resolved path,
// or the same existing inode.
func Same(a, b *Target) bool {
	if a.Real == b.Real {
		return true
	}
	return a.Info != nil && b.Info != nil && os.SameFile(a.Info, b.Info)
}

// File is an output file being written. Commit makes it visible (or, for
// one written in place, closes it); Abort throws a replacement away.
type File struct {
	w       io.Writer
	pending *renameio.PendingFile // atomic replacement
	direct  *os.File              // written in place
	dir     string
}

// Create starts writing path (see the package comment for how).
func Create(path string) (*File, error) {
	t, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	if t.Direct {
		// No O_CREATE or O_TRUNC: the file exists. A regular file reached
		// through /proc (a shell's "> file" seen as /dev/stdout) is
		// appended to, after what was written to it through the
		// descriptor.
		flag := os.O_WRONLY
		if t.Info.Mode().IsRegular() {
			flag |= os.O_APPEND
		}
		f, err := os.OpenFile(t.Real, flag, 0)
		if err != nil {
			return nil, err
		}
		return &File{w: f, direct: f}, nil
	}
	dir := filepath.Dir(t.Real)
	pf, err := renameio.NewPendingFile(t.Real, renameio.WithTempDir(dir),
		renameio.WithPermissions(0o644), renameio.WithExistingPermissions())
	if err != nil {
		return nil, err
	}
	return &File{w: pf, pending: pf, dir: dir}, nil
}

// Write writes to the file.
func (f *File) Write(p []byte) (int, error) { return f.w.Write(p) }

// Commit finishes the file: fsync and rename over the target, then fsync
// its directory so the rename itself is durable; a file written in place
// is closed.
func (f *File) Commit() error {
	if f.direct != nil {
		return f.direct.Close()
	}
	if err := f.pending.CloseAtomicallyReplace(); err != nil {
		f.pending.Cleanup()
		return err
	}
	d, err := os.Open(f.dir)
	if err != nil {
		return nil // the file is in place; the directory sync is best effort
	}
	d.Sync()
	d.Close()
	return nil
}

// Abort removes the temporary file of an atomic replacement, leaving what
// was at the path untouched; a file written in place is closed.
func (f *File) Abort() {
	if f.direct != nil {
		f.direct.Close()
		return
	}
	f.pending.Cleanup()
}

// WriteFile writes path with write, whole or not at all (for a file
// replaced atomically).
func WriteFile(path string, write func(io.Writer) error) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}
