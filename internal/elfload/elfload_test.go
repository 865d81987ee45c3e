package elfload_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/tlbemu/emu/internal/elfload"
	"github.com/tlbemu/emu/workloads"
)

// ELF64 header and program header field offsets (Elf64_Ehdr, Elf64_Phdr).
const (
	offEntry     = 24
	offPhoff     = 32
	offPhentsize = 54
	offPhnum     = 56

	phType   = 0
	phFlags  = 4
	phOffset = 8
	phVaddr  = 16
	phFilesz = 32
	phMemsz  = 40
	phdrSize = 56
)

var le = binary.LittleEndian

// realELF returns a fresh copy of a committed workload ELF.
func realELF(t testing.TB) []byte {
	t.Helper()
	w, err := workloads.Lookup("clear_refs")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(w.ELF)
}

// phdr returns the i-th program header of b.
func phdr(b []byte, i int) []byte {
	off := int(le.Uint64(b[offPhoff:])) + i*int(le.Uint16(b[offPhentsize:]))
	return b[off : off+phdrSize]
}

// loadIndex returns the index of the n-th PT_LOAD program header of b.
func loadIndex(t *testing.T, b []byte, n int) int {
	t.Helper()
	for i := 0; i < int(le.Uint16(b[offPhnum:])); i++ {
		if elf.ProgType(le.Uint32(phdr(b, i)[phType:])) == elf.PT_LOAD {
			if n == 0 {
				return i
			}
			n--
		}
	}
	t.Fatalf("no PT_LOAD #%d", n)
	return -1
}

// checkImage asserts the invariants Load promises for a returned Image.
func checkImage(t testing.TB, im *elfload.Image, data []byte) {
	t.Helper()
	if len(im.Segments) == 0 {
		t.Fatalf("no segments")
	}
	entryOK := false
	for i, s := range im.Segments {
		if s.Memsz == 0 || uint64(len(s.Data)) > s.Memsz {
			t.Errorf("segment %d: memsz %#x, %d data bytes", i, s.Memsz, len(s.Data))
		}
		if s.End() < s.Vaddr || s.End() > elfload.UserAddrLimit {
			t.Errorf("segment %d: [%#x, %#x) outside user space", i, s.Vaddr, s.End())
		}
		if i > 0 && im.Segments[i-1].End() > s.Vaddr {
			t.Errorf("segments %d and %d overlap or are unsorted", i-1, i)
		}
		if len(s.Data) > len(data) {
			t.Errorf("segment %d: %d data bytes from a %d-byte file", i, len(s.Data), len(data))
		}
		if s.Exec && im.Entry >= s.Vaddr && im.Entry < s.Vaddr+uint64(len(s.Data)) {
			entryOK = true
		}
		if brk := im.Brk(); brk%elfload.PageSize != 0 || brk < s.End() {
			t.Errorf("Brk %#x not a page-aligned bound of segment %d ending %#x", brk, i, s.End())
		}
	}
	if !entryOK {
		t.Errorf("entry %#x not in an executable segment's data", im.Entry)
	}
}

func TestLoadWorkloads(t *testing.T) {
	for _, w := range workloads.All() {
		t.Run(w.Name, func(t *testing.T) {
			im, err := elfload.Load(w.ELF)
			if err != nil {
				t.Fatal(err)
			}
			checkImage(t, im, w.ELF)
			// Compare with debug/elf's view of the same file.
			f, err := elf.NewFile(bytes.NewReader(w.ELF))
			if err != nil {
				t.Fatal(err)
			}
			if im.Entry != f.Entry {
				t.Errorf("Entry = %#x, want %#x", im.Entry, f.Entry)
			}
			var want []elfload.Segment
			var end uint64
			for _, p := range f.Progs {
				if p.Type != elf.PT_LOAD || p.Memsz == 0 {
					continue
				}
				want = append(want, elfload.Segment{
					Vaddr: p.Vaddr, Memsz: p.Memsz, Data: w.ELF[p.Off : p.Off+p.Filesz],
					Read: p.Flags&elf.PF_R != 0, Write: p.Flags&elf.PF_W != 0, Exec: p.Flags&elf.PF_X != 0,
				})
				end = max(end, p.Vaddr+p.Memsz)
			}
			if len(im.Segments) != len(want) {
				t.Fatalf("%d segments, want %d", len(im.Segments), len(want))
			}
			for i, s := range im.Segments {
				g := want[i]
				if s.Vaddr != g.Vaddr || s.Memsz != g.Memsz || !bytes.Equal(s.Data, g.Data) ||
					s.Read != g.Read || s.Write != g.Write || s.Exec != g.Exec {
					t.Errorf("segment %d = {%#x %#x %d bytes R%v W%v X%v}, want {%#x %#x %d bytes R%v W%v X%v}",
						i, s.Vaddr, s.Memsz, len(s.Data), s.Read, s.Write, s.Exec,
						g.Vaddr, g.Memsz, len(g.Data), g.Read, g.Write, g.Exec)
				}
			}
			if got, want := im.Brk(), (end+4095)&^4095; got != want {
				t.Errorf("Brk = %#x, want %#x", got, want)
			}
		})
	}
}

// minimalELF builds a two-segment executable by hand: code at 0x401000
// (entry 0x401004) and a RW segment at 0x402800 with 4 file bytes and
// 0x1000 bytes in memory.
func minimalELF() []byte {
	const phoff, nph = 64, 2
	code := []byte{0x90, 0x90, 0x90, 0x90, 0x0f, 0x05}
	rw := []byte{1, 2, 3, 4}
	codeOff := uint64(phoff + nph*phdrSize)
	rwOff := codeOff + uint64(len(code))
	b := make([]byte, rwOff+uint64(len(rw)))
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	b[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	b[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	le.PutUint16(b[16:], uint16(elf.ET_EXEC))
	le.PutUint16(b[18:], uint16(elf.EM_X86_64))
	le.PutUint32(b[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(b[offEntry:], 0x401004)
	le.PutUint64(b[offPhoff:], phoff)
	le.PutUint16(b[52:], 64) // e_ehsize
	le.PutUint16(b[offPhentsize:], phdrSize)
	le.PutUint16(b[offPhnum:], nph)
	put := func(i int, flags elf.ProgFlag, off, vaddr, filesz, memsz uint64) {
		p := b[phoff+i*phdrSize:]
		le.PutUint32(p[phType:], uint32(elf.PT_LOAD))
		le.PutUint32(p[phFlags:], uint32(flags))
		le.PutUint64(p[phOffset:], off)
		le.PutUint64(p[phVaddr:], vaddr)
		le.PutUint64(p[24:], vaddr)
		le.PutUint64(p[phFilesz:], filesz)
		le.PutUint64(p[phMemsz:], memsz)
		le.PutUint64(p[48:], 0x1000)
	}
	// Listed out of address order on purpose: Load sorts.
	put(0, elf.PF_R|elf.PF_W, rwOff, 0x402800, uint64(len(rw)), 0x1000)
	put(1, elf.PF_R|elf.PF_X, codeOff, 0x401000, uint64(len(code)), uint64(len(code)))
	copy(b[codeOff:], code)
	copy(b[rwOff:], rw)
	return b
}

func TestLoadMinimal(t *testing.T) {
	data := minimalELF()
	im, err := elfload.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, im, data)
	if im.Entry != 0x401004 {
		t.Errorf("Entry = %#x, want 0x401004", im.Entry)
	}
	want := []elfload.Segment{
		{Vaddr: 0x401000, Memsz: 6, Data: []byte{0x90, 0x90, 0x90, 0x90, 0x0f, 0x05}, Read: true, Exec: true},
		{Vaddr: 0x402800, Memsz: 0x1000, Data: []byte{1, 2, 3, 4}, Read: true, Write: true},
	}
	if len(im.Segments) != len(want) {
		t.Fatalf("got %d segments, want %d", len(im.Segments), len(want))
	}
	for i, s := range im.Segments {
		w := want[i]
		if s.Vaddr != w.Vaddr || s.Memsz != w.Memsz || !bytes.Equal(s.Data, w.Data) ||
			s.Read != w.Read || s.Write != w.Write || s.Exec != w.Exec {
			t.Errorf("segment %d = %+v, want %+v", i, s, w)
		}
	}
	if got := im.Brk(); got != 0x404000 {
		t.Errorf("Brk = %#x, want 0x404000", got)
	}
	// Data is a copy.
	data[len(data)-1] = 99
	if im.Segments[1].Data[3] != 4 {
		t.Errorf("segment data changed with the input")
	}
}

func TestLoadRejects(t *testing.T) {
	type mutation func(t *testing.T, b []byte) []byte
	setPh := func(n, field int, v uint64) mutation { // on the n-th PT_LOAD
		return func(t *testing.T, b []byte) []byte {
			le.PutUint64(phdr(b, loadIndex(t, b, n))[field:], v)
			return b
		}
	}
	setNonLoadType := func(typ elf.ProgType) mutation {
		return func(t *testing.T, b []byte) []byte {
			for i := 0; i < int(le.Uint16(b[offPhnum:])); i++ {
				p := phdr(b, i)
				if elf.ProgType(le.Uint32(p[phType:])) != elf.PT_LOAD {
					le.PutUint32(p[phType:], uint32(typ))
					return b
				}
			}
			t.Fatal("no non-load program header")
			return nil
		}
	}
	tests := []struct {
		name string
		mut  mutation
		want error
		text string // substring of the error message, if set
	}{
		{"empty", func(*testing.T, []byte) []byte { return nil }, elfload.ErrNotELF, "not an ELF file"},
		{"text", func(*testing.T, []byte) []byte { return []byte("#!/bin/sh\necho hi\n") }, elfload.ErrNotELF, ""},
		{"bad magic", func(_ *testing.T, b []byte) []byte { b[1] = 'X'; return b }, elfload.ErrNotELF, ""},
		{"header truncated", func(_ *testing.T, b []byte) []byte { return b[:40] }, elfload.ErrTruncated, "truncated"},
		{"32-bit", func(_ *testing.T, b []byte) []byte { b[elf.EI_CLASS] = byte(elf.ELFCLASS32); return b }, elfload.ErrNotELF64, "ELFCLASS64"},
		{"big-endian", func(_ *testing.T, b []byte) []byte { b[elf.EI_DATA] = byte(elf.ELFDATA2MSB); return b }, elfload.ErrBigEndian, "little-endian"},
		{"aarch64", func(_ *testing.T, b []byte) []byte { le.PutUint16(b[18:], uint16(elf.EM_AARCH64)); return b }, elfload.ErrNotX86_64, "EM_AARCH64"},
		{"i386", func(_ *testing.T, b []byte) []byte { le.PutUint16(b[18:], uint16(elf.EM_386)); return b }, elfload.ErrNotX86_64, ""},
		{"PIE", func(_ *testing.T, b []byte) []byte { le.PutUint16(b[16:], uint16(elf.ET_DYN)); return b }, elfload.ErrPIE,
			"elfload: PIE executables are not supported; link with -static -no-pie"},
		{"relocatable", func(_ *testing.T, b []byte) []byte { le.PutUint16(b[16:], uint16(elf.ET_REL)); return b }, elfload.ErrNotExecutable, "ET_REL"},
		{"core", func(_ *testing.T, b []byte) []byte { le.PutUint16(b[16:], uint16(elf.ET_CORE)); return b }, elfload.ErrNotExecutable, ""},
		{"PT_INTERP", setNonLoadType(elf.PT_INTERP), elfload.ErrDynamic, "elfload: not a static executable: has PT_INTERP"},
		{"PT_DYNAMIC", setNonLoadType(elf.PT_DYNAMIC), elfload.ErrDynamic, "elfload: not a static executable: has PT_DYNAMIC"},
		{"filesz > memsz", func(t *testing.T, b []byte) []byte {
			p := phdr(b, loadIndex(t, b, 0))
			le.PutUint64(p[phFilesz:], le.Uint64(p[phMemsz:])+1)
			return b
		}, elfload.ErrSegment, "filesz"},
		{"upper half", setPh(1, phVaddr, 0xffff_8000_0000_0000), elfload.ErrAddress, ""},
		{"address overflow", func(t *testing.T, b []byte) []byte {
			p := phdr(b, loadIndex(t, b, 1))
			le.PutUint64(p[phVaddr:], 0xffff_ffff_ffff_f000)
			le.PutUint64(p[phMemsz:], 0x2000)
			return b
		}, elfload.ErrAddress, ""},
		{"end above TASK_SIZE", func(t *testing.T, b []byte) []byte {
			p := phdr(b, loadIndex(t, b, 0))
			le.PutUint64(p[phVaddr:], elfload.UserAddrLimit-le.Uint64(p[phMemsz:])+1)
			return b
		}, elfload.ErrAddress, ""},
		{"overlap", func(t *testing.T, b []byte) []byte {
			// Move the first segment (the headers) onto the code segment.
			code := le.Uint64(phdr(b, loadIndex(t, b, 1))[phVaddr:])
			le.PutUint64(phdr(b, loadIndex(t, b, 0))[phVaddr:], code+8)
			return b
		}, elfload.ErrOverlap, ""},
		{"no PT_LOAD", func(t *testing.T, b []byte) []byte {
			for i := 0; i < int(le.Uint16(b[offPhnum:])); i++ {
				if p := phdr(b, i); elf.ProgType(le.Uint32(p[phType:])) == elf.PT_LOAD {
					le.PutUint32(p[phType:], uint32(elf.PT_NOTE))
				}
			}
			return b
		}, elfload.ErrNoLoad, ""},
		{"no program headers", func(_ *testing.T, b []byte) []byte { le.PutUint16(b[offPhnum:], 0); return b }, elfload.ErrNoLoad, ""},
		{"entry in data", func(t *testing.T, b []byte) []byte {
			le.PutUint64(b[offEntry:], le.Uint64(phdr(b, loadIndex(t, b, 3))[phVaddr:]))
			return b
		}, elfload.ErrEntry, ""},
		{"entry zero", func(_ *testing.T, b []byte) []byte { le.PutUint64(b[offEntry:], 0); return b }, elfload.ErrEntry, "entry 0x0"},
		{"code not executable", func(t *testing.T, b []byte) []byte {
			le.PutUint32(phdr(b, loadIndex(t, b, 1))[phFlags:], uint32(elf.PF_R))
			return b
		}, elfload.ErrEntry, ""},
		{"program headers truncated", func(_ *testing.T, b []byte) []byte { return b[:100] }, elfload.ErrTruncated, ""},
		{"segment data truncated", func(t *testing.T, b []byte) []byte {
			p := phdr(b, loadIndex(t, b, 1))
			return b[:le.Uint64(p[phOffset:])+le.Uint64(p[phFilesz:])-1]
		}, elfload.ErrTruncated, ""},
		{"segment offset beyond file", setPh(1, phOffset, 1<<40), elfload.ErrTruncated, ""},
		{"section headers truncated", func(_ *testing.T, b []byte) []byte { return b[:len(b)-8] }, elfload.ErrTruncated, ""},
		{"phentsize too small", func(_ *testing.T, b []byte) []byte { le.PutUint16(b[offPhentsize:], 8); return b }, elfload.ErrMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.mut(t, realELF(t))
			im, err := elfload.Load(b)
			if err == nil {
				t.Fatalf("Load succeeded (%d segments), want %v", len(im.Segments), tt.want)
			}
			if im != nil {
				t.Errorf("Load returned an Image with error %v", err)
			}
			t.Logf("%v", err)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %q, want errors.Is %q", err, tt.want)
			}
			if tt.text != "" && !bytes.Contains([]byte(err.Error()), []byte(tt.text)) {
				t.Errorf("error %q does not contain %q", err, tt.text)
			}
			if !bytes.HasPrefix([]byte(err.Error()), []byte("elfload: ")) {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestSkipsEmptyLoad(t *testing.T) {
	b := realELF(t)
	// Turn the first PT_LOAD (the read-only headers) into an empty one.
	p := phdr(b, loadIndex(t, b, 0))
	le.PutUint64(p[phFilesz:], 0)
	le.PutUint64(p[phMemsz:], 0)
	im, err := elfload.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := elfload.Load(realELF(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Segments) != len(orig.Segments)-1 {
		t.Errorf("%d segments, want %d", len(im.Segments), len(orig.Segments)-1)
	}
	checkImage(t, im, b)
}

func FuzzLoad(f *testing.F) {
	f.Add(realELF(f))
	f.Add(minimalELF())
	f.Add([]byte(elf.ELFMAG))
	f.Fuzz(func(t *testing.T, data []byte) {
		if pim, err := elfload.Parse(data); err == nil {
			for _, s := range pim.Segments {
				if s.Off+uint64(len(s.Data)) > uint64(len(data)) || !bytes.Equal(s.Data, data[s.Off:s.Off+uint64(len(s.Data))]) {
					t.Fatalf("Parse: segment at %#x: Data is not the file's bytes at Off %#x", s.Vaddr, s.Off)
				}
			}
		} else if pim != nil {
			t.Fatalf("Parse: Image with error %v", err)
		}
		im, err := elfload.Load(data)
		if err != nil {
			if im != nil {
				t.Fatalf("Image with error %v", err)
			}
			return
		}
		checkImage(t, im, data)
	})
}

// countingReader is an io.ReaderAt that counts the bytes read.
type countingReader struct {
	r *bytes.Reader
	n int
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += n
	return n, err
}

func TestCheckHeaders(t *testing.T) {
	good := realELF(t)
	cr := &countingReader{r: bytes.NewReader(good)}
	if err := elfload.CheckHeaders(cr, int64(len(good))); err != nil {
		t.Fatalf("a workload ELF: %v", err)
	}
	if cr.n >= len(good)/2 {
		t.Errorf("read %d of %d bytes: want only the headers", cr.n, len(good))
	}
	interp := func(path string) []byte {
		b := realELF(t)
		for i := 0; i < int(le.Uint16(b[offPhnum:])); i++ {
			p := phdr(b, i)
			if elf.ProgType(le.Uint32(p[phType:])) != elf.PT_LOAD {
				le.PutUint32(p[phType:], uint32(elf.PT_INTERP))
				off := uint64(len(b))
				b = append(b, path...)
				b = append(b, 0)
				le.PutUint64(p[phOffset:], off)
				le.PutUint64(p[phFilesz:], uint64(len(path)+1))
				return b
			}
		}
		t.Fatal("no non-load program header")
		return nil
	}
	pie := func(b []byte) []byte { le.PutUint16(b[16:], uint16(elf.ET_DYN)); return b }
	for _, tc := range []struct {
		name string
		b    []byte
		want error
		text string
	}{
		{"not ELF", []byte("#!/bin/sh\n"), elfload.ErrNotELF, ""},
		{"empty", nil, elfload.ErrNotELF, ""},
		{"short", good[:40], elfload.ErrTruncated, ""},
		{"static PIE", pie(realELF(t)), elfload.ErrPIE, "link with -static -no-pie"},
		{"dynamic", interp("/lib64/ld-linux-x86-64.so.2"), elfload.ErrDynamic,
			"dynamically linked (interpreter /lib64/ld-linux-x86-64.so.2); link with -static -no-pie"},
		{"dynamic PIE", pie(interp("/lib/ld-musl-x86_64.so.1")), elfload.ErrDynamic, "interpreter /lib/ld-musl-x86_64.so.1"},
		{"phdrs beyond the file", good[:100], elfload.ErrTruncated, ""},
		{"aarch64", func() []byte { b := realELF(t); le.PutUint16(b[18:], uint16(elf.EM_AARCH64)); return b }(), elfload.ErrNotX86_64, ""},
	} {
		err := elfload.CheckHeaders(bytes.NewReader(tc.b), int64(len(tc.b)))
		if !errors.Is(err, tc.want) || !bytes.Contains([]byte(errText(err)), []byte(tc.text)) {
			t.Errorf("%s: %v, want %v containing %q", tc.name, err, tc.want, tc.text)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestParseDynamic: Parse accepts what Load refuses, a PIE (ET_DYN) and a
// program with PT_INTERP, and reports them; Load's errors are unchanged.
func TestParseDynamic(t *testing.T) {
	pie := minimalELF()
	le.PutUint16(pie[16:], uint16(elf.ET_DYN))
	im, err := elfload.Parse(pie)
	if err != nil || !im.PIE || im.Interp != "" || im.Phoff != 64 || im.Phnum != 2 || im.Phentsize != phdrSize {
		t.Fatalf("Parse(PIE) = %+v, %v", im, err)
	}
	if im.Segments[0].Off != 64+2*phdrSize {
		t.Errorf("code segment offset %#x, want %#x", im.Segments[0].Off, 64+2*phdrSize)
	}
	if _, err := elfload.Load(pie); !errors.Is(err, elfload.ErrPIE) {
		t.Errorf("Load(PIE) = %v, want ErrPIE", err)
	}
	// Turn the RW segment's header into PT_INTERP naming a path appended
	// to the file.
	dyn := minimalELF()
	const path = "/lib64/ld-linux-x86-64.so.2"
	p := dyn[64:]
	le.PutUint32(p[phType:], uint32(elf.PT_INTERP))
	le.PutUint64(p[phOffset:], uint64(len(dyn)))
	le.PutUint64(p[phFilesz:], uint64(len(path)+1))
	dyn = append(dyn, path+"\x00"...)
	im, err = elfload.Parse(dyn)
	if err != nil || im.PIE || im.Interp != path || len(im.Segments) != 1 {
		t.Fatalf("Parse(dynamic) = %+v, %v", im, err)
	}
	if _, err := elfload.Load(dyn); !errors.Is(err, elfload.ErrDynamic) {
		t.Errorf("Load(dynamic) = %v, want ErrDynamic", err)
	}
	h, err := elfload.ReadHeaders(bytes.NewReader(dyn), int64(len(dyn)))
	if err != nil || h.Interp != path || h.PIE {
		t.Errorf("ReadHeaders = %+v, %v", h, err)
	}
	// A PT_INTERP with an embedded NUL is malformed.
	bad := bytes.Clone(dyn)
	bad[len(bad)-5] = 0
	if _, err := elfload.Parse(bad); !errors.Is(err, elfload.ErrMalformed) {
		t.Errorf("Parse(PT_INTERP with a NUL) = %v, want ErrMalformed", err)
	}
}
