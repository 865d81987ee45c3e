// Package elfload parses the x86-64 Linux ELF executables that emu runs as
// guests, and returns what a loader needs to build the initial address
// space: the entry point and the PT_LOAD segments. Load accepts static,
// non-PIE executables only; Parse also PIEs, shared objects and
// dynamically linked programs (their PT_INTERP).
//
// Load never panics and never trusts the input: every rejection is one of
// the package's sentinel errors (test with errors.Is), wrapped with a
// detail. Segment data is copied out of the input.
package elfload

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// PageSize is the guest page size in bytes.
const PageSize = 4096

// UserAddrLimit is the exclusive upper bound of user virtual addresses:
// x86-64 TASK_SIZE_MAX with 4-level paging, (1<<47) - PageSize.
const UserAddrLimit = 0x7fff_ffff_f000

// ehdrSize is the size of an ELF64 file header (Elf64_Ehdr) in bytes.
const ehdrSize = 64

// Errors returned by Load. Each error Load returns wraps exactly one of them.
var (
	ErrNotELF        = errors.New("elfload: not an ELF file")
	ErrTruncated     = errors.New("elfload: truncated file")
	ErrMalformed     = errors.New("elfload: malformed ELF")
	ErrNotELF64      = errors.New("elfload: not a 64-bit ELF (ELFCLASS64)")
	ErrBigEndian     = errors.New("elfload: not a little-endian ELF")
	ErrNotX86_64     = errors.New("elfload: not an x86-64 (EM_X86_64) executable")
	ErrPIE           = errors.New("elfload: PIE executables are not supported; link with -static -no-pie")
	ErrNotExecutable = errors.New("elfload: not an executable (ET_EXEC)")
	ErrDynamic       = errors.New("elfload: not a static executable")
	ErrSegment       = errors.New("elfload: bad PT_LOAD segment")
	ErrAddress       = errors.New("elfload: segment outside the user address range")
	ErrOverlap       = errors.New("elfload: overlapping PT_LOAD segments")
	ErrNoLoad        = errors.New("elfload: no PT_LOAD segment")
	ErrEntry         = errors.New("elfload: entry point not in an executable segment") // nor in its file-backed part
)

// Image is a parsed guest executable.
type Image struct {
	Entry    uint64    // initial RIP (virtual address; for a PIE before the load bias)
	Segments []Segment // the non-empty PT_LOAD segments, sorted by Vaddr, non-overlapping
	// Set by Parse only (Load refuses such files):
	PIE    bool   // ET_DYN: position independent, loaded at a bias
	Interp string // PT_INTERP: the program interpreter's path
	// The program headers' place, for AT_PHDR/AT_PHENT/AT_PHNUM.
	Phoff, Phentsize, Phnum uint64
}

// Segment is one PT_LOAD program header with its file contents.
//
// The loader maps [Vaddr, Vaddr+Memsz) with the given permissions, copies
// Data to Vaddr and leaves the rest (the .bss part) zero. Two segments never
// overlap byte-wise but may share a page (as Linux allows); Vaddr need not be
// page-aligned.
type Segment struct {
	Vaddr, Memsz      uint64 // virtual address and size in bytes; Memsz > 0
	Data              []byte // the first Filesz bytes (len(Data) <= Memsz), a copy
	Read, Write, Exec bool   // PF_R, PF_W, PF_X
	Off               uint64 // p_offset: where Data starts in the file
}

// End returns the exclusive end address of the segment.
func (s Segment) End() uint64 { return s.Vaddr + s.Memsz }

// Brk returns the initial program break: the end of the highest segment,
// rounded up to a page boundary.
func (im *Image) Brk() uint64 {
	var end uint64
	for _, s := range im.Segments {
		end = max(end, s.End())
	}
	return (end + PageSize - 1) &^ (PageSize - 1)
}

// Load parses data as a static, non-PIE, little-endian x86-64 ELF
// executable. It rejects anything else with an error wrapping one of the
// Err* sentinels.
func Load(data []byte) (im *Image, err error) {
	// debug/elf has panicked on malformed input in past releases; never let
	// that reach the caller.
	defer func() {
		if r := recover(); r != nil {
			im, err = nil, fmt.Errorf("%w: parser panic: %v", ErrMalformed, r)
		}
	}()
	if err := checkHeader(data); err != nil {
		return nil, err
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, parseError(err)
	}
	return image(f, data, true)
}

// Parse is Load for dynamically linked and position-independent
// executables and shared objects too (ET_EXEC or ET_DYN, with or without
// PT_INTERP and PT_DYNAMIC), as load_elf_binary and load_elf_interp
// accept them (fs/binfmt_elf.c, v5.10).
func Parse(data []byte) (im *Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			im, err = nil, fmt.Errorf("%w: parser panic: %v", ErrMalformed, r)
		}
	}()
	if err := checkHeader(data); err != nil && !errors.Is(err, ErrPIE) {
		return nil, err
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, parseError(err)
	}
	return image(f, data, false)
}

// checkHeader validates the identification and the type fields of the ELF
// header by hand, before debug/elf, so that those rejections get precise
// errors.
func checkHeader(data []byte) error {
	if len(data) < len(elf.ELFMAG) || string(data[:len(elf.ELFMAG)]) != elf.ELFMAG {
		return ErrNotELF
	}
	if len(data) < ehdrSize {
		return fmt.Errorf("%w: %d bytes, shorter than the ELF header", ErrTruncated, len(data))
	}
	if c := elf.Class(data[elf.EI_CLASS]); c != elf.ELFCLASS64 {
		return fmt.Errorf("%w: class %v", ErrNotELF64, c)
	}
	if d := elf.Data(data[elf.EI_DATA]); d != elf.ELFDATA2LSB {
		return fmt.Errorf("%w: data encoding %v", ErrBigEndian, d)
	}
	typ := elf.Type(binary.LittleEndian.Uint16(data[16:]))
	machine := elf.Machine(binary.LittleEndian.Uint16(data[18:]))
	if machine != elf.EM_X86_64 {
		return fmt.Errorf("%w: machine %v", ErrNotX86_64, machine)
	}
	switch typ {
	case elf.ET_EXEC:
		return nil
	case elf.ET_DYN:
		return ErrPIE
	default:
		return fmt.Errorf("%w: type %v", ErrNotExecutable, typ)
	}
}

// parseError classifies an error from debug/elf.
func parseError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: reading the headers: %v", ErrTruncated, err)
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// image checks the program headers of f (parsed from data) and builds the
// Image.
func image(f *elf.File, data []byte, static bool) (*Image, error) {
	im := &Image{Entry: f.Entry, PIE: f.Type == elf.ET_DYN}
	im.Phoff = binary.LittleEndian.Uint64(data[32:])
	im.Phentsize = uint64(binary.LittleEndian.Uint16(data[54:]))
	im.Phnum = uint64(len(f.Progs))
	for i, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			if static {
				return nil, fmt.Errorf("%w: has PT_INTERP%s", ErrDynamic, staticHint)
			}
			if p.Filesz < 2 || p.Filesz > maxInterp || p.Off > uint64(len(data)) || p.Filesz > uint64(len(data))-p.Off {
				return nil, fmt.Errorf("%w: bad PT_INTERP", ErrMalformed)
			}
			im.Interp = string(bytes.TrimRight(data[p.Off:p.Off+p.Filesz], "\x00"))
			if im.Interp == "" || strings.IndexByte(im.Interp, 0) >= 0 {
				return nil, fmt.Errorf("%w: bad PT_INTERP", ErrMalformed)
			}
			continue
		case elf.PT_DYNAMIC:
			if static {
				return nil, fmt.Errorf("%w: has PT_DYNAMIC%s", ErrDynamic, staticHint)
			}
			continue
		case elf.PT_LOAD:
		default:
			continue
		}
		if p.Filesz > p.Memsz {
			return nil, fmt.Errorf("%w: program header %d: filesz %#x > memsz %#x", ErrSegment, i, p.Filesz, p.Memsz)
		}
		end := p.Vaddr + p.Memsz
		if end < p.Vaddr || end > UserAddrLimit {
			return nil, fmt.Errorf("%w: program header %d: [%#x, +%#x) is not below %#x", ErrAddress, i, p.Vaddr, p.Memsz, uint64(UserAddrLimit))
		}
		fileEnd := p.Off + p.Filesz
		if fileEnd < p.Off || fileEnd > uint64(len(data)) {
			return nil, fmt.Errorf("%w: program header %d: file range [%#x, +%#x) beyond %d bytes", ErrTruncated, i, p.Off, p.Filesz, len(data))
		}
		if p.Memsz == 0 {
			continue // maps nothing
		}
		im.Segments = append(im.Segments, Segment{
			Vaddr: p.Vaddr,
			Memsz: p.Memsz,
			Data:  bytes.Clone(data[p.Off:fileEnd:fileEnd]),
			Read:  p.Flags&elf.PF_R != 0,
			Write: p.Flags&elf.PF_W != 0,
			Exec:  p.Flags&elf.PF_X != 0,
			Off:   p.Off,
		})
	}
	if len(im.Segments) == 0 {
		return nil, ErrNoLoad
	}
	sort.SliceStable(im.Segments, func(i, j int) bool { return im.Segments[i].Vaddr < im.Segments[j].Vaddr })
	for i := 1; i < len(im.Segments); i++ {
		a, b := im.Segments[i-1], im.Segments[i]
		if b.Vaddr < a.End() {
			return nil, fmt.Errorf("%w: [%#x, %#x) and [%#x, %#x)", ErrOverlap, a.Vaddr, a.End(), b.Vaddr, b.End())
		}
	}
	for _, s := range im.Segments {
		if s.Exec && im.Entry >= s.Vaddr && im.Entry < s.Vaddr+uint64(len(s.Data)) {
			return im, nil
		}
	}
	return nil, fmt.Errorf("%w: entry %#x", ErrEntry, im.Entry)
}

// staticHint ends the message of a dynamically linked executable.
const staticHint = " (dynamically linked); link with -static -no-pie"

// Header sizes a CheckHeaders caller may rely on.
const (
	phdrSize  = 56   // Elf64_Phdr
	maxPhnum  = 4096 // more program headers than any linker emits
	maxInterp = 4096 // PATH_MAX
)

// CheckHeaders validates the ELF header and the program headers of the
// size-byte file r without reading the rest, so that a wrong file (a
// dynamic or PIE executable, a huge non-ELF) is refused before it is read
// whole. It returns the same sentinel errors as Load; a dynamically linked
// executable's error names its interpreter. A file that passes may still
// fail Load.
func CheckHeaders(r io.ReaderAt, size int64) error {
	h, err := ReadHeaders(r, size)
	if err != nil {
		return err
	}
	if h.Interp != "" {
		return fmt.Errorf("%w: dynamically linked (interpreter %s); link with -static -no-pie", ErrDynamic, h.Interp)
	}
	if h.Dynamic && !h.PIE {
		return fmt.Errorf("%w: has PT_DYNAMIC%s", ErrDynamic, staticHint)
	}
	if h.PIE {
		return ErrPIE
	}
	return nil
}

// Headers is what ReadHeaders found.
type Headers struct {
	PIE     bool   // ET_DYN
	Interp  string // PT_INTERP's path ("" without one)
	Dynamic bool   // has PT_DYNAMIC
}

// ReadHeaders validates the ELF header and the program headers of the
// size-byte file r without reading the rest, as CheckHeaders does, but
// accepts PIE and dynamically linked executables and reports them.
func ReadHeaders(r io.ReaderAt, size int64) (Headers, error) {
	var h Headers
	var eh [ehdrSize]byte
	n, err := r.ReadAt(eh[:], 0)
	if n < len(elf.ELFMAG) || string(eh[:len(elf.ELFMAG)]) != elf.ELFMAG {
		if err != nil && !errors.Is(err, io.EOF) {
			return h, fmt.Errorf("%w: %v", ErrTruncated, err)
		}
		return h, ErrNotELF
	}
	if n < ehdrSize {
		return h, fmt.Errorf("%w: %d bytes, shorter than the ELF header", ErrTruncated, n)
	}
	herr := checkHeader(eh[:])
	if herr != nil && !errors.Is(herr, ErrPIE) {
		return h, herr
	}
	h.PIE = herr != nil
	phoff := binary.LittleEndian.Uint64(eh[32:])
	phentsize := binary.LittleEndian.Uint16(eh[54:])
	phnum := uint64(binary.LittleEndian.Uint16(eh[56:]))
	if phnum == 0 || phnum == 0xffff { // none, or PN_XNUM: Load decides
		return h, nil
	}
	if phentsize != phdrSize {
		return h, fmt.Errorf("%w: program header size %d, want %d", ErrMalformed, phentsize, phdrSize)
	}
	if phnum > maxPhnum || phoff > uint64(size) || phnum*phdrSize > uint64(size)-phoff {
		return h, fmt.Errorf("%w: %d program headers at %#x beyond %d bytes", ErrTruncated, phnum, phoff, size)
	}
	ph := make([]byte, phnum*phdrSize)
	if _, err := r.ReadAt(ph, int64(phoff)); err != nil {
		return h, fmt.Errorf("%w: reading the program headers: %v", ErrTruncated, err)
	}
	for i := uint64(0); i < phnum; i++ {
		p := ph[i*phdrSize:]
		switch elf.ProgType(binary.LittleEndian.Uint32(p)) {
		case elf.PT_INTERP:
			off, sz := binary.LittleEndian.Uint64(p[8:]), binary.LittleEndian.Uint64(p[32:])
			interp := ""
			if sz > 1 && sz <= maxInterp && off <= uint64(size) && sz <= uint64(size)-off {
				b := make([]byte, sz)
				if _, err := r.ReadAt(b, int64(off)); err == nil {
					interp = string(bytes.TrimRight(b, "\x00"))
				}
			}
			if interp == "" {
				return h, fmt.Errorf("%w: has PT_INTERP%s", ErrDynamic, staticHint)
			}
			h.Interp = interp
		case elf.PT_DYNAMIC:
			h.Dynamic = true
		}
	}
	return h, nil
}
