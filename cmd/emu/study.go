package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/tlbemu/emu/internal/study"
	"github.com/tlbemu/emu/workloads"
)

// studyOptions are emu study's flags.
type studyOptions struct {
	cpus, seeds string
	pages       int // the workload's -pages (0: its default)
	iterations  int // the workload's -iterations (0: its default)
	jobs        int
	dir         string
	asJSON      bool
	out         string
	quiet       bool
}

func newStudyFlags(o *studyOptions, out io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet("emu study", pflag.ContinueOnError)
	fs.SetOutput(out)
	fs.SortFlags = false
	fs.StringVar(&o.cpus, "cpus", "2,3,4,8,16", "CPU counts: a list and ranges such as 2,4 or 2-8")
	fs.StringVar(&o.seeds, "seeds", "1-8", "seeds: a list and ranges such as 1-8")
	fs.IntVar(&o.pages, "pages", 0, "the workload's -pages at every point (0: its default), to check a result at another size")
	fs.IntVar(&o.iterations, "iterations", 0, "the workload's -iterations at every point (0: its default)")
	fs.IntVarP(&o.jobs, "jobs", "j", 0, "points run at once (0: one per core)")
	fs.StringVar(&o.dir, "dir", "", "keep the per-point results in this directory (a sweep directory: a second run skips the points already there); default: a temporary one")
	fs.BoolVar(&o.asJSON, "json", false, "write the whole study (every sample, change, p-value and verdict) as JSON")
	fs.StringVarP(&o.out, "output", "o", "", "write the study to this file instead of stdout")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no progress bar on stderr")
	fs.Usage = func() {
		fmt.Fprintln(out, "Usage: emu study [flags] NAME")
		fmt.Fprintf(out, "Runs study NAME (%s): its workload under every variant of the question,\n", strings.Join(study.Names(), ", "))
		fmt.Fprintln(out, "at every CPU count and seed, as one sweep, and prints per variant and CPU count the")
		fmt.Fprintln(out, "lost events and the costs against 5.10 (with their significance), then one verdict")
		fmt.Fprintln(out, "line per variant computed from the table.")
		fmt.Fprintln(out, "\nFlags:")
		fs.PrintDefaults()
		fmt.Fprintln(out, "\nExit status: 0 done, 1 a point failed or the run was interrupted, 2 usage error.")
	}
	return fs
}

// cmdStudy is emu study NAME.
func cmdStudy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := &studyOptions{}
	fs := newStudyFlags(o, stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("emu study: want one study name (valid: %s)", strings.Join(study.Names(), ", "))
	}
	def, err := study.Lookup(fs.Arg(0))
	if err != nil {
		return usagef("emu study: %v", err)
	}
	cpus, err := parseIntList(o.cpus, 1, 256)
	if err != nil {
		return usagef("emu study: -cpus: %v (valid: counts 1..256)", err)
	}
	seedInts, err := parseIntList(o.seeds, 0, 1<<62)
	if err != nil {
		return usagef("emu study: -seeds: %v", err)
	}
	seeds := make([]uint64, len(seedInts))
	for i, s := range seedInts {
		seeds[i] = uint64(s)
	}
	if err := distinct(cpus); err != nil {
		return usagef("emu study: -cpus: %v", err)
	}
	if err := distinct(seedInts); err != nil {
		return usagef("emu study: -seeds: %v", err)
	}
	wl, err := workloads.Lookup(def.Workload)
	if err != nil {
		return err // a study names a built-in workload: a bug
	}
	if o.pages != 0 && (o.pages < max(wl.MinPages, 1) || o.pages > maxWorkloadPages) {
		return usagef("emu study: -pages must be 0 (the default, %d) or %d..%d for workload %s, got %d", wl.Defaults.Pages, max(wl.MinPages, 1), maxWorkloadPages, wl.Name, o.pages)
	}
	if o.iterations < 0 || o.iterations > maxStudyIterations {
		return usagef("emu study: -iterations must be 0 (the default, %d) or 1..%d, got %d", wl.Defaults.Iterations, maxStudyIterations, o.iterations)
	}
	if o.pages > 0 || o.iterations > 0 {
		d := *def
		d.Args = append([]string{}, def.Args...)
		if o.pages > 0 {
			d.Args = append(d.Args, "-pages", fmt.Sprint(o.pages))
		}
		if o.iterations > 0 {
			d.Args = append(d.Args, "-iterations", fmt.Sprint(o.iterations))
		}
		def = &d
	}
	if o.jobs < 0 || o.jobs > 4096 {
		return usagef("emu study: -j must be 0..4096, got %d", o.jobs)
	}
	if err := checkOutputs(outputPath{"-o", o.out}); err != nil {
		return err
	}
	bar := newProgress(stderr, !o.quiet)
	st, err := study.Run(ctx, emuRunner{stderr: &lockedWriter{w: stderr}}, def, study.Options{CPUs: cpus, Seeds: seeds,
		Jobs: o.jobs, Dir: o.dir, Progress: bar.points})
	bar.pointsDone()
	if err != nil {
		return fmt.Errorf("emu study %s: %w", def.Name, err)
	}
	write := func(w io.Writer) error { return study.WriteText(w, st) }
	if o.asJSON {
		write = func(w io.Writer) error { return writeStudyJSON(w, st) }
	}
	return emit(o.out, stdout, stdout, write)
}

func writeStudyJSON(w io.Writer, st *study.Study) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(st)
}

// maxStudyIterations bounds -iterations of a study: every point runs the
// workload that many rounds (the defaults are 5-60).
const maxStudyIterations = 100000

// distinct rejects a value listed twice.
func distinct(vs []int) error {
	seen := map[int]bool{}
	for _, v := range vs {
		if seen[v] {
			return fmt.Errorf("%d is listed twice", v)
		}
		seen[v] = true
	}
	return nil
}
