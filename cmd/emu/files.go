package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// atomicFile is a file written under a temporary name in the target's
// directory and renamed into place by commit, so readers see the whole file
// or none of it.
type atomicFile struct {
	*os.File
	path string
}

func createAtomic(path string) (*atomicFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, err
	}
	// CreateTemp makes the file 0600; results are ordinary files.
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &atomicFile{File: f, path: path}, nil
}

func (f *atomicFile) commit() error {
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), f.path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

func (f *atomicFile) abort() {
	f.Close()
	os.Remove(f.Name())
}

// writeFileAtomic writes path via a temporary file in the same directory
// and a rename, so the file is either complete or absent.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := createAtomic(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.abort()
		return err
	}
	return f.commit()
}

// startProfiles starts the emulator's own CPU profile and arranges the heap
// profile (go test's -cpuprofile/-memprofile convention); stop writes them.
func startProfiles(cpuPath, memPath string) (stop func() error, err error) {
	var cpuFile *atomicFile
	if cpuPath != "" {
		if cpuFile, err = createAtomic(cpuPath); err != nil {
			return nil, fmt.Errorf("-cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(cpuFile); err != nil {
			cpuFile.abort()
			return nil, fmt.Errorf("-cpuprofile: %w", err)
		}
	}
	return func() error {
		if cpuFile != nil {
			pprof.StopCPUProfile()
			if err := cpuFile.commit(); err != nil {
				return fmt.Errorf("-cpuprofile: %w", err)
			}
		}
		if memPath != "" {
			runtime.GC()
			err := writeFileAtomic(memPath, func(w io.Writer) error { return pprof.Lookup("allocs").WriteTo(w, 0) })
			if err != nil {
				return fmt.Errorf("-memprofile: %w", err)
			}
		}
		return nil
	}, nil
}
