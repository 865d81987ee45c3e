package sweep

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tlbemu/emu/internal/report"
)

// Merge folds results that differ only in their seeds into one result
// each, as `emu -r N` collects its runs (report.Result.AddRun: counters
// become mean and relative standard error, histograms are summed), so
// that `emu compare` tests the differences between the merged results.
// Results are grouped by emu version and identity without the seed; the
// groups keep the order of their first result, and a group's runs are
// taken in seed order. A seed that appears twice in a group is an error.
//
// The merged command line is the first run's with its trailing "-seed S"
// replaced by "-seed S -r N" when the seeds are S…S+N-1 (what emu -r
// runs); otherwise the merged seeds are named after it.
func Merge(results []*report.Result) ([]*report.Result, error) {
	type group struct {
		key     string
		members []*report.Result
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, r := range results {
		id := r.Identity()
		key := r.Version + "\x00" + groupName(id) + "\x00" + configString(withoutSeed(id.Config()))
		g := byKey[key]
		if g == nil {
			g = &group{key: key}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.members = append(g.members, r)
	}
	out := make([]*report.Result, 0, len(groups))
	for _, g := range groups {
		m, err := mergeGroup(g.members)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func withoutSeed(kv []report.KV) []report.KV {
	return slices.DeleteFunc(slices.Clone(kv), func(e report.KV) bool { return e.Key == "seed" })
}

// run is one run of a result: its seed and index.
type run struct {
	res  *report.Result
	i    int
	seed uint64
}

func mergeGroup(members []*report.Result) (*report.Result, error) {
	var runs []run
	for _, r := range members {
		for i, s := range r.Seeds {
			runs = append(runs, run{r, i, s})
		}
	}
	slices.SortStableFunc(runs, func(a, b run) int {
		switch {
		case a.seed < b.seed:
			return -1
		case a.seed > b.seed:
			return 1
		}
		return 0
	})
	for i := 1; i < len(runs); i++ {
		if runs[i].seed == runs[i-1].seed {
			return nil, fmt.Errorf("%s: seed %d appears twice", groupName(members[0].Identity()), runs[i].seed)
		}
	}
	first := runs[0].res
	id := *first.Identity()
	id.Seed = runs[0].seed
	m := &report.Result{}
	m.SetIdentity(&id)
	m.Command = mergedCommand(first.Command, runs)
	status := ""
	for k, r := range runs {
		// A run's histograms are only known summed over its result's runs:
		// they are added with the result's first run.
		var hists []report.Hist
		if r.i == 0 {
			hists = r.res.Hists
		}
		perCPU := make([][]report.Sample, len(r.res.PerCPU))
		for c, row := range r.res.PerCPU {
			perCPU[c] = samples(row.Counters, r.i)
		}
		m.AddRun(r.seed, samples(r.res.Counters, r.i), perCPU, hists)
		if r.res.Error != "" {
			m.Error = r.res.Error
		}
		if k == 0 || status == "completed" {
			status = r.res.Status
		}
	}
	m.Status = status
	return m, nil
}

// samples are run i's values of cs, exact where cs holds them exactly.
func samples(cs []report.Counter, i int) []report.Sample {
	out := make([]report.Sample, 0, len(cs))
	for _, c := range cs {
		if len(c.Exact) == len(c.Samples) {
			out = append(out, report.Count(c.Name, c.Unit, c.Exact[i]))
		} else {
			out = append(out, report.Sample{Name: c.Name, Unit: c.Unit, Value: c.Samples[i]})
		}
	}
	return out
}

func mergedCommand(cmd string, runs []run) string {
	base, _, ok := cutLastSeed(cmd)
	if !ok {
		return cmd
	}
	consecutive := true
	for i := range runs {
		if runs[i].seed != runs[0].seed+uint64(i) {
			consecutive = false
		}
	}
	s0 := strconv.FormatUint(runs[0].seed, 10)
	if len(runs) == 1 {
		return base + " -seed " + s0
	}
	if consecutive {
		return base + " -seed " + s0 + " -r " + strconv.Itoa(len(runs))
	}
	seeds := make([]string, len(runs))
	for i, r := range runs {
		seeds[i] = strconv.FormatUint(r.seed, 10)
	}
	return base + " -seed " + s0 + " (merged seeds " + strings.Join(seeds, ",") + ")"
}

// cutLastSeed splits "… -seed S" into "…" and S.
func cutLastSeed(cmd string) (string, string, bool) {
	i := strings.LastIndex(cmd, " -seed ")
	if i < 0 {
		return cmd, "", false
	}
	s := cmd[i+len(" -seed "):]
	if _, err := strconv.ParseUint(s, 10, 64); err != nil {
		return cmd, "", false
	}
	return cmd[:i], s, true
}

// MergedFile is the file name of a merged result (emu merge -o DIR): its
// name without the seed, as Point.File makes it.
func MergedFile(r *report.Result) string { return fileName(groupName(r.Identity())) }
