package cpu

import (
	"debug/elf"
	"path/filepath"
	"testing"
)

// TestWorkloadInstructions decodes every instruction in the executable
// sections of the guest workloads (workloads/bin/*.elf, built by the
// workloads package) with a linear sweep and checks that the interpreter
// implements each one.
func TestWorkloadInstructions(t *testing.T) {
	files, err := filepath.Glob("../workloads/bin/*.elf")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("no workloads/bin/*.elf")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := elf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != elf.EM_X86_64 {
				t.Fatalf("machine %v, want x86-64", f.Machine)
			}
			total, bad := 0, 0
			for _, sec := range f.Sections {
				if sec.Type != elf.SHT_PROGBITS || sec.Flags&elf.SHF_EXECINSTR == 0 {
					continue
				}
				text, err := sec.Data()
				if err != nil {
					t.Fatal(err)
				}
				for off := 0; off < len(text); {
					var buf [15]byte
					n := copy(buf[:], text[off:])
					addr := sec.Addr + uint64(off)
					u, ln, st := decode(buf[:])
					if st != decOK || ln > n {
						bad++
						if bad <= 20 {
							t.Errorf("%s+%#x: %v", sec.Name, off, newUDError(addr, buf[:n], false))
						}
						off++ // resynchronise
						continue
					}
					if int(u.len) != ln {
						t.Errorf("%s+%#x: uop length %d, decoded length %d", sec.Name, off, u.len, ln)
					}
					total++
					off += ln
				}
			}
			if total == 0 {
				t.Fatal("no instructions found")
			}
			t.Logf("%d instructions, %d not implemented", total, bad)
		})
	}
}
