// Package sweep runs a grid of emu runs: workloads × CPU counts × kernels ×
// patch sets × knobs × seeds, expanded into an ordered, deterministic list
// of points, each an independent, deterministic emu run with its own JSON
// result file. The same list is what a local run with -j workers, a Slurm
// array job and a Kubernetes Indexed Job execute: task i runs point i.
//
// The API:
//
//	g := sweep.Grid{Workloads: []string{"clear_refs"}, CPUs: []int{2, 4},
//		Kernels: []string{"5.10", "5.10-stable"}, Seeds: []uint64{1, 2, 3}}
//	points, err := g.Points(runner)          // validated, named, in grid order
//	sum, err := sweep.Run(ctx, runner, points, dir, sweep.Options{Jobs: 2})
//	results, err := sweep.Load(dir)          // every result in dir, by file name
//	merged, err := sweep.Merge(results)      // one runs=N result per identity
//
// A Runner resolves and runs one point's emu command line; cmd/emu
// supplies one that calls the same code `emu` runs (in-process, one
// machine per point, so runs are deterministic at any -j).
//
// A point's name and file name are derived from its run identity
// (report.Identity): the benchmark name's settings (workload, cpus,
// kernel, patch and every non-default setting that shapes the counters),
// the non-default max-cycles and fail-on-hazard, and the seed. Its result
// is written through internal/outfile, so a file is complete or absent; a
// point whose file exists and holds a result of the same emu version,
// command and configuration is skipped, which makes a sweep resumable
// after an interruption or on a second machine sharing the directory.
package sweep

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tlbemu/emu/internal/outfile"
	"github.com/tlbemu/emu/internal/report"
)

// MaxPoints bounds a grid: the product of its dimensions.
const MaxPoints = 100_000

// maxResultBytes bounds one result file read back (Load, resume).
const maxResultBytes = 64 << 20

// Grid is a sweep's dimensions. An empty dimension is emu's default for it
// (the flag is not passed); Seeds empty means seed 1 only.
type Grid struct {
	Workloads []string
	CPUs      []int
	Kernels   []string
	// PatchSets are the -patch sets, each run on every kernel; an empty
	// set is the kernel alone.
	PatchSets [][]string
	// Knobs are further emu flags, each with its values (e.g. thp: false,
	// true); every combination is run.
	Knobs []Knob
	Seeds []uint64
	// Args are emu flags added to every point (e.g. -iterations 5).
	Args []string
}

// Knob is an emu flag (without the dash) and the values it takes.
type Knob struct {
	Flag   string
	Values []string
}

// Point is one run of the grid.
type Point struct {
	Index int
	// Args is the emu command line of the run, without "emu": the grid's
	// flags in dimension order, the seed last.
	Args []string
	ID   *report.Identity
	name string
}

// Name is the point's stable name, derived from its identity:
// "workload=W/cpus=N/kernel=K/patch=P[/key=value…]/seed=S".
func (p *Point) Name() string { return p.name }

// File is the base name of the point's result file in a sweep directory:
// Name with "/" as ",", characters outside [A-Za-z0-9._=+,@-] as "_", and
// names longer than a file name allows shortened with a hash.
func (p *Point) File() string { return fileName(p.name) }

// Runner resolves and runs one emu command line (a Point's Args).
type Runner interface {
	// Identity validates args and returns the identity of the run they
	// make, without running anything.
	Identity(args []string) (*report.Identity, error)
	// Run runs args. A run that ends early (a hazard with
	// -fail-on-hazard, -max-cycles) returns its result, whose Status says
	// how it ended, and the error; a nil result means nothing ran.
	Run(ctx context.Context, args []string) (*report.Result, error)
}

// Size is the number of points of g.
func (g *Grid) Size() int {
	n := 1
	mul := func(k int) {
		if k > 0 {
			n = min(n*k, MaxPoints+1)
		}
	}
	mul(len(g.Workloads))
	mul(len(g.CPUs))
	mul(len(g.Kernels))
	mul(len(g.PatchSets))
	for _, k := range g.Knobs {
		mul(len(k.Values))
	}
	mul(len(g.Seeds))
	return n
}

// dims are the grid's dimensions as flag lists, outermost first.
func (g *Grid) dims() [][][]string {
	var dims [][][]string
	add := func(vals [][]string) {
		if len(vals) > 0 {
			dims = append(dims, vals)
		}
	}
	var d [][]string
	for _, w := range g.Workloads {
		d = append(d, []string{"-workload", w})
	}
	add(d)
	d = nil
	for _, c := range g.CPUs {
		d = append(d, []string{"-cpus", strconv.Itoa(c)})
	}
	add(d)
	d = nil
	for _, k := range g.Kernels {
		d = append(d, []string{"-kernel", k})
	}
	add(d)
	d = nil
	for _, ps := range g.PatchSets {
		if len(ps) == 0 {
			d = append(d, nil)
			continue
		}
		d = append(d, []string{"-patch", strings.Join(ps, ",")})
	}
	add(d)
	for _, k := range g.Knobs {
		d = nil
		for _, v := range k.Values {
			d = append(d, []string{"-" + k.Flag + "=" + v})
		}
		add(d)
	}
	seeds := g.Seeds
	if len(seeds) == 0 {
		seeds = []uint64{report.DefaultSeed}
	}
	d = nil
	for _, s := range seeds {
		d = append(d, []string{"-seed", strconv.FormatUint(s, 10)})
	}
	add(d)
	return dims
}

// Points expands g in order (the last dimension, the seed, varies
// fastest), resolves every point's identity with r and names it. Two
// points of the same identity are an error, as is a grid of more than
// MaxPoints points.
func (g *Grid) Points(r Runner) ([]Point, error) {
	if n := g.Size(); n > MaxPoints {
		return nil, fmt.Errorf("the grid has more than %d points", MaxPoints)
	}
	dims := g.dims()
	var points []Point
	idx := make([]int, len(dims))
	for {
		var args []string
		for i, d := range dims {
			if i == len(dims)-1 {
				args = append(args, g.Args...) // fixed flags before the seed
			}
			args = append(args, d[idx[i]]...)
		}
		id, err := r.Identity(args)
		if err != nil {
			return nil, fmt.Errorf("point %d (%s): %w", len(points), strings.Join(args, " "), err)
		}
		points = append(points, Point{Index: len(points), Args: args, ID: id, name: Name(id)})
		i := len(dims) - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < len(dims[i]) {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			break
		}
	}
	seen := map[string]int{}
	for _, p := range points {
		if j, ok := seen[p.File()]; ok {
			return nil, fmt.Errorf("points %d (%s) and %d (%s) are the same run (%s)", j, strings.Join(points[j].Args, " "),
				p.Index, strings.Join(p.Args, " "), p.name)
		}
		seen[p.File()] = p.Index
	}
	return points, nil
}

// Name is the sweep name of a run identity: its benchmark name without
// "BenchmarkWorkload/", the non-default max-cycles and fail-on-hazard,
// and the seed.
func Name(id *report.Identity) string {
	return groupName(id) + "/seed=" + strconv.FormatUint(id.Seed, 10)
}

// groupName is Name without the seed: the name shared by the per-seed
// runs that Merge folds.
func groupName(id *report.Identity) string {
	n := strings.TrimPrefix(id.BenchName(), "BenchmarkWorkload/")
	if id.MaxCycles != id.DefMaxCycles {
		n += "/max_cycles=" + strconv.FormatUint(id.MaxCycles, 10)
	}
	if id.FailOnHazard {
		n += "/fail_on_hazard=on"
	}
	return n
}

// maxNameBytes keeps a file name under NAME_MAX (255) with room for
// outfile's temporary-name decoration.
const maxNameBytes = 180

func fileName(name string) string {
	s := strings.Map(func(r rune) rune {
		switch {
		case r == '/':
			return ','
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("._=+,@-", r):
			return r
		}
		return '_'
	}, name)
	if len(s) > maxNameBytes {
		h := sha256.Sum256([]byte(name))
		s = s[:maxNameBytes-17] + "," + hex.EncodeToString(h[:8])
	}
	return s + ".json"
}

// Options are Run's settings.
type Options struct {
	// Jobs is the number of points run at once (0: runtime.NumCPU()).
	Jobs int
	// Progress, if set, is called after each point ends (or is skipped),
	// from one goroutine at a time.
	Progress func(done, total int, p *Point)
}

// Summary is what Run did.
type Summary struct {
	Ran, Skipped int
	// Failed lists the points whose run ended with an error; their
	// results (if any ran) are written all the same, with their status.
	Failed []Failure
}

// Failure is a point whose run failed.
type Failure struct {
	Point *Point
	Err   error
}

// Run runs points with opts.Jobs workers, writing each result to
// dir/p.File() as JSON (report.WriteJSON). A point whose file already
// holds its result (Done) is skipped, and counts as failed again if it
// had failed. A failing point does not stop the others; a failure to write a file, an interruption (ctx) or a run that
// returned no result does, and Run returns that error after the running
// points end.
func Run(ctx context.Context, r Runner, points []Point, dir string, opts Options) (Summary, error) {
	var sum Summary
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return sum, err
	}
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu   sync.Mutex
		done int
		next = make(chan *Point)
		wg   sync.WaitGroup
	)
	finish := func(p *Point, skipped bool, ferr error) {
		mu.Lock()
		defer mu.Unlock()
		done++
		switch {
		case skipped:
			sum.Skipped++
		default:
			sum.Ran++
		}
		if ferr != nil {
			sum.Failed = append(sum.Failed, Failure{p, ferr})
		}
		if opts.Progress != nil {
			opts.Progress(done, len(points), p)
		}
	}
	for range min(jobs, max(len(points), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range next {
				path := filepath.Join(dir, p.File())
				if prev := stored(path, p); prev != nil {
					// A point that failed before fails again: runs are
					// deterministic, and so is the sweep's exit status.
					var ferr error
					if prev.Error != "" {
						ferr = errors.New(prev.Error)
					}
					finish(p, true, ferr)
					continue
				}
				res, err := r.Run(ctx, p.Args)
				if ctx.Err() != nil {
					// An interrupted run's counters are partial: its file
					// stays absent, so a resumed sweep runs it again.
					continue
				}
				if res == nil || res.Runs() == 0 {
					if err == nil {
						err = errors.New("the run produced no result")
					}
					cancel(fmt.Errorf("point %d (%s): %w", p.Index, p.name, err))
					continue
				}
				if werr := outfile.WriteFile(path, func(w io.Writer) error { return report.WriteJSON(w, res) }); werr != nil {
					cancel(fmt.Errorf("point %d: %w", p.Index, werr))
					continue
				}
				finish(p, false, err)
			}
		}()
	}
feed:
	for i := range points {
		select {
		case next <- &points[i]:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	slices.SortFunc(sum.Failed, func(a, b Failure) int { return a.Point.Index - b.Point.Index })
	return sum, context.Cause(ctx)
}

// Done reports whether path holds p's result: an emu result of p's emu
// version, command line and configuration.
func Done(path string, p *Point) bool { return stored(path, p) != nil }

// stored is the result at path if it is p's, else nil.
func stored(path string, p *Point) *report.Result {
	res, err := ReadResult(path)
	if err != nil {
		return nil
	}
	want := &report.Result{}
	want.SetIdentity(p.ID)
	if res.Version == want.Version && res.Command == want.Command &&
		configString(res.Identity().Config()) == configString(want.Config) {
		return res
	}
	return nil
}

func configString(kv []report.KV) string {
	var b strings.Builder
	for _, e := range kv {
		fmt.Fprintf(&b, "%s=%v;", e.Key, e.Value)
	}
	return b.String()
}

// ReadResult reads one point's result file: a regular file of at most
// 64 MiB holding an emu JSON result.
func ReadResult(path string) (*report.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxResultBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxResultBytes {
		return nil, fmt.Errorf("%s: larger than %d MiB", path, maxResultBytes>>20)
	}
	return report.ReadJSON(bytes.NewReader(data), path)
}

// Load reads every emu result in dir (the *.json files, in file-name
// order; hidden files, such as outfile's temporary ones, are not read).
// A JSON file that is not an emu result is an error naming it.
func Load(dir string) ([]*report.Result, []string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var results []*report.Result
	var names []string
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, ".json") || strings.HasPrefix(n, ".") || !e.Type().IsRegular() {
			continue
		}
		res, err := ReadResult(filepath.Join(dir, n))
		if err != nil {
			return nil, nil, err
		}
		results = append(results, res)
		names = append(names, n)
	}
	if len(results) == 0 {
		return nil, nil, fmt.Errorf("%s: no emu results (*.json) in the directory", dir)
	}
	return results, names, nil
}
