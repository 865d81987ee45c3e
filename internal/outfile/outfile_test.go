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
	"testing"
)

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := WriteFile(path, func(w io.Writer) error { _, err := io.WriteString(w, s); return err }); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func noTemps(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left in %s", e.Name(), dir)
		}
	}
}

func TestNewAndRegular(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "r.json")
	write(t, p, "one")
	if got := read(t, p); got != "one" {
		t.Fatalf("new file holds %q", got)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	old, _ := os.Stat(p)
	write(t, p, "two")
	fi, _ := os.Stat(p)
	if got := read(t, p); got != "two" {
		t.Fatalf("replaced file holds %q", got)
	}
	if os.SameFile(old, fi) {
		t.Error("a regular file was rewritten in place, not replaced by rename")
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("replacement has mode %v, want the old file's 0600", fi.Mode().Perm())
	}
	noTemps(t, dir)
}

func TestAbortKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "r.json")
	write(t, p, "old")
	err := WriteFile(p, func(w io.Writer) error {
		io.WriteString(w, "half")
		return errors.New("boom")
	})
	if err == nil || read(t, p) != "old" {
		t.Errorf("err %v, file %q: a failed write must leave the old file", err, read(t, p))
	}
	noTemps(t, dir)
}

func TestSymlinkKeepsLink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "sub", "target.json")
	os.Mkdir(filepath.Dir(target), 0o755)
	write(t, target, "old")
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink("sub/target.json", link); err != nil {
		t.Fatal(err)
	}
	chain := filepath.Join(dir, "chain.json")
	os.Symlink("link.json", chain)
	write(t, chain, "new")
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi.Mode(), err)
	}
	if fi, _ := os.Lstat(chain); fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatal("the chain's first link was replaced")
	}
	if got := read(t, target); got != "new" {
		t.Errorf("target holds %q, want new", got)
	}
	// A dangling link creates its target.
	dangling := filepath.Join(dir, "dangling")
	os.Symlink("sub/created.json", dangling)
	write(t, dangling, "made")
	if got := read(t, filepath.Join(dir, "sub", "created.json")); got != "made" {
		t.Errorf("dangling link's target holds %q", got)
	}
	noTemps(t, dir)
	noTemps(t, filepath.Dir(target))
}

func TestFIFOWrittenDirectly(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	got := make(chan string)
	go func() {
		f, err := os.Open(p)
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(f)
		f.Close()
		got <- string(b)
	}()
	tg, err := Check(p)
	if err != nil || !tg.Direct {
		t.Fatalf("Check: %+v, %v; want direct", tg, err)
	}
	write(t, p, "through the pipe")
	if s := <-got; s != "through the pipe" {
		t.Errorf("reader got %q", s)
	}
	if fi, err := os.Lstat(p); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("the FIFO is gone: %v %v", fi.Mode(), err)
	}
	noTemps(t, dir)
}

func TestProcFDWrittenDirectly(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := fmt.Sprintf("/proc/self/fd/%d", w.Fd())
	if _, err := os.Stat(p); err != nil {
		t.Skip("no /proc:", err)
	}
	tg, err := Resolve(p)
	if err != nil || !tg.Direct {
		t.Fatalf("Resolve(%s): %+v, %v; want direct", p, tg, err)
	}
	write(t, p, "via /proc")
	w.Close()
	b, _ := io.ReadAll(r)
	if string(b) != "via /proc" {
		t.Errorf("pipe got %q", b)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	if _, err := Check(filepath.Join(dir, "missing", "x.json")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing directory: %v", err)
	}
	if _, err := Check(dir); err == nil || !errors.Is(err, syscall.EISDIR) {
		t.Errorf("directory: %v", err)
	}
	loop := filepath.Join(dir, "loop")
	os.Symlink("loop", loop)
	if _, err := Check(loop); err == nil || !errors.Is(err, syscall.ELOOP) {
		t.Errorf("symlink loop: %v", err)
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o555)
		if _, err := Check(filepath.Join(ro, "x")); err == nil {
			t.Error("read-only directory accepted")
		}
	}
	a, err := Check(filepath.Join(dir, "a.json"))
	if err != nil {
		t.Fatal(err)
	}
	os.Symlink("a.json", filepath.Join(dir, "b.json"))
	b, err := Check(filepath.Join(dir, "b.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !Same(a, b) {
		t.Error("a link to a.json and a.json are not the same target")
	}
	c, _ := Check(filepath.Join(dir, "c.json"))
	if Same(a, c) {
		t.Error("a.json and c.json are the same target")
	}
}
