package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/tlbemu/emu/internal/outfile"
)

// outputPath is one output file named on the command line.
type outputPath struct {
	flag, path string
}

// checkOutputs checks, before anything runs, that every output path can be
// written (its directory exists and is writable, it is not a directory)
// and that no two name the same file: a mistake found after a long run
// would lose its result. "-o -" and "-trace -" are stdout and not checked
// (options.checkOutputs checks that only one of them writes there); "-"
// for any other flag is refused rather than made a file named "-".
// Writing the same character device twice (-o /dev/null -trace /dev/null)
// is allowed.
func checkOutputs(paths ...outputPath) error {
	var seen []outputPath
	var targets []*outfile.Target
	for _, p := range paths {
		if p.path == "" {
			continue
		}
		if p.path == "-" {
			if p.flag == "-o" || p.flag == "-trace" {
				continue
			}
			return usagef("%s -: - (stdout) is for -o and -trace only; name a file", p.flag)
		}
		t, err := outfile.Check(p.path)
		if err != nil {
			return usagef("%s %s: %v", p.flag, p.path, err)
		}
		for i, u := range targets {
			if outfile.Same(t, u) && !(t.Info != nil && t.Info.Mode()&fs.ModeCharDevice != 0) {
				return usagef("%s %s and %s %s name the same file", seen[i].flag, seen[i].path, p.flag, p.path)
			}
		}
		seen, targets = append(seen, p), append(targets, t)
	}
	return nil
}

// writeFile writes path with write: a regular or new file atomically (the
// file is complete or absent), anything else in place (internal/outfile).
func writeFile(path string, write func(io.Writer) error) error {
	return outfile.WriteFile(path, write)
}

// startProfiles starts the emulator's own CPU profile and arranges the heap
// profile (go test's -cpuprofile/-memprofile convention); stop writes them.
func startProfiles(cpuPath, memPath string) (stop func() error, err error) {
	var cpuFile *outfile.File
	if cpuPath != "" {
		if cpuFile, err = outfile.Create(cpuPath); err != nil {
			return nil, fmt.Errorf("-cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(cpuFile); err != nil {
			cpuFile.Abort()
			return nil, fmt.Errorf("-cpuprofile: %w", err)
		}
	}
	return func() error {
		if cpuFile != nil {
			pprof.StopCPUProfile()
			if err := cpuFile.Commit(); err != nil {
				return fmt.Errorf("-cpuprofile: %w", err)
			}
		}
		if memPath != "" {
			runtime.GC()
			err := writeFile(memPath, func(w io.Writer) error { return pprof.Lookup("allocs").WriteTo(w, 0) })
			if err != nil {
				return fmt.Errorf("-memprofile: %w", err)
			}
		}
		return nil
	}, nil
}

// Input size caps: emu reads its inputs whole, so each has a bound, and a
// larger (or endless, as /dev/zero) input is refused before it is read.
const (
	maxProgramBytes = 256 << 20 // emu run PROG: a static executable
	maxResultBytes  = 64 << 20  // emu compare: one -json result
	maxCostBytes    = 1 << 20   // -costs FILE
)

// openInput opens an input file that emu reads whole: a regular file of at
// most max bytes, or a FIFO (a shell's <(…)), read up to max bytes.
// Devices, directories and sockets are refused.
func openInput(path string, max int64) (*os.File, error) {
	// Stat first: opening a device can have effects (a tape rewinds).
	if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if m := fi.Mode(); !m.IsRegular() && m&fs.ModeNamedPipe == 0 {
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, fileKind(m))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	switch m := fi.Mode(); {
	case m.IsRegular():
		if fi.Size() > max {
			f.Close()
			return nil, fmt.Errorf("%s: %d bytes, larger than the %d MiB limit", path, fi.Size(), max>>20)
		}
	case m&fs.ModeNamedPipe != 0:
	default:
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, fileKind(m))
	}
	return f, nil
}

// readInput reads an input opened by openInput, at most max bytes.
func readInput(path string, max int64) ([]byte, error) {
	f, err := openInput(path, max)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than the %d MiB limit", path, max>>20)
	}
	return b, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	}
	return m.Type().String()
}
