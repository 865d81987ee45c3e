package study

import (
	"fmt"
	"math"
	"slices"

	"github.com/tlbemu/emu/internal/report"
)

// LostName is the name of the per-run sum of a study's loss counters.
const LostName = "lost"

// Study is a study's table and verdicts: what `emu study -json` writes.
type Study struct {
	Study      string   `json:"study"`
	Workload   string   `json:"workload"`
	Summary    string   `json:"summary"`
	EmuVersion string   `json:"emu_version"`
	Args       []string `json:"args"`
	CPUs       []int    `json:"cpus"`
	Seeds      []uint64 `json:"seeds"`
	// Loss are the loss counters; Lost sums them per run.
	Loss     []string     `json:"loss_counters"`
	Cost     []string     `json:"cost_counters"`
	Variants []VariantRow `json:"variants"`
	Verdicts []string     `json:"verdicts"`
}

// VariantRow is one variant's results, per CPU count.
type VariantRow struct {
	Name    string   `json:"name"`
	Kernel  string   `json:"kernel"`
	Patches []string `json:"patches"`
	Cells   []Cell   `json:"cells"` // one per Study.CPUs, in order
}

// Cell is one variant at one CPU count: every counter over the seeds.
type Cell struct {
	CPUs int `json:"cpus"`
	// Lost is the sum of the loss counters; Loss each of them; Cost the
	// cost counters, in Study order.
	Lost Stat   `json:"lost"`
	Loss []Stat `json:"loss"`
	Cost []Stat `json:"cost"`
	// LossSeeds are the seeds whose runs lost something (for -trace).
	LossSeeds []uint64 `json:"loss_seeds"`
}

// Stat is one counter over a cell's runs, against the baseline's cell at
// the same CPU count (for the baseline itself Change is 0 and P 1).
type Stat struct {
	Name    string   `json:"name"`
	Samples []uint64 `json:"samples"` // per seed, in Study.Seeds order
	Mean    float64  `json:"mean"`
	Min     uint64   `json:"min"`
	Max     uint64   `json:"max"`
	Nonzero int      `json:"nonzero_runs"`
	// Change is the % change of the mean against the baseline's
	// ((v-b)/b·100; 0 when both are 0; FromZero when only b is).
	Change   float64 `json:"change_percent"`
	FromZero bool    `json:"from_zero,omitempty"`
	// P is the p-value of report.Significance (Mann-Whitney U) against
	// the baseline's samples; Significant is P < α.
	P           float64 `json:"p"`
	Significant bool    `json:"significant"`
}

func newStat(name string, samples []uint64) Stat {
	s := Stat{Name: name, Samples: samples, P: 1}
	if len(samples) == 0 {
		return s
	}
	s.Min, s.Max = slices.Min(samples), slices.Max(samples)
	var sum float64
	for _, v := range samples {
		sum += float64(v)
		if v != 0 {
			s.Nonzero++
		}
	}
	s.Mean = sum / float64(len(samples))
	return s
}

// against sets s's change and significance against the baseline's b.
func (s *Stat) against(b Stat) {
	switch {
	case b.Mean == 0 && s.Mean == 0:
		s.Change = 0
	case b.Mean == 0:
		s.FromZero = true
	default:
		s.Change = 100 * (s.Mean - b.Mean) / b.Mean
	}
	t := report.Significance(floats(b.Samples), floats(s.Samples))
	s.P = t.P
	if math.IsNaN(s.P) {
		s.P = 1
	}
	s.Significant = s.P < t.Alpha
}

func floats(v []uint64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// Build makes d's study from results, one per point of d.Points(cpus,
// seeds), in that order (variant, CPU count, seed). A counter a result
// does not have is an error naming the point: a study of counters the
// model does not count would show zeros that mean nothing.
func Build(d *Def, cpus []int, seeds []uint64, results []*report.Result) (*Study, error) {
	if want := len(d.Variants) * len(cpus) * len(seeds); len(results) != want {
		return nil, fmt.Errorf("study %s: %d results for %d points", d.Name, len(results), want)
	}
	st := &Study{Study: d.Name, Workload: d.Workload, Summary: d.Summary, Args: append([]string{}, d.Args...),
		CPUs: cpus, Seeds: seeds, Loss: d.Loss, Cost: d.Cost}
	if len(results) > 0 {
		st.EmuVersion = results[0].Version
	}
	i := 0
	for _, v := range d.Variants {
		row := VariantRow{Name: v.Name, Kernel: v.Kernel, Patches: append([]string{}, v.Patches...)}
		for _, c := range cpus {
			rs := results[i : i+len(seeds)]
			i += len(seeds)
			cell, err := buildCell(d, c, seeds, rs)
			if err != nil {
				return nil, fmt.Errorf("study %s, variant %s, %d CPUs: %w", d.Name, v.Name, c, err)
			}
			row.Cells = append(row.Cells, cell)
		}
		st.Variants = append(st.Variants, row)
	}
	st.compare()
	st.Verdicts = Verdicts(st)
	return st, nil
}

func buildCell(d *Def, cpus int, seeds []uint64, rs []*report.Result) (Cell, error) {
	cell := Cell{CPUs: cpus, LossSeeds: []uint64{}}
	get := func(name string) ([]uint64, error) {
		out := make([]uint64, len(rs))
		for j, r := range rs {
			c, ok := r.Counter(name)
			if !ok || r.Runs() != 1 {
				return nil, fmt.Errorf("seed %d: the result has no counter %s (or not one run)", seeds[j], name)
			}
			if len(c.Exact) == 1 {
				out[j] = c.Exact[0]
			} else {
				out[j] = uint64(c.Samples[0])
			}
		}
		return out, nil
	}
	lost := make([]uint64, len(rs))
	for _, name := range d.Loss {
		v, err := get(name)
		if err != nil {
			return cell, err
		}
		for j := range v {
			lost[j] += v[j]
		}
		cell.Loss = append(cell.Loss, newStat(name, v))
	}
	cell.Lost = newStat(LostName, lost)
	for j, l := range lost {
		if l != 0 {
			cell.LossSeeds = append(cell.LossSeeds, seeds[j])
		}
	}
	for _, name := range d.Cost {
		v, err := get(name)
		if err != nil {
			return cell, err
		}
		cell.Cost = append(cell.Cost, newStat(name, v))
	}
	return cell, nil
}

// compare sets every stat's change and significance against the
// baseline's (the first variant's) cell at the same CPU count.
func (st *Study) compare() {
	if len(st.Variants) == 0 {
		return
	}
	base := st.Variants[0]
	for vi := range st.Variants {
		for ci := range st.Variants[vi].Cells {
			c, b := &st.Variants[vi].Cells[ci], base.Cells[ci]
			c.Lost.against(b.Lost)
			for k := range c.Loss {
				c.Loss[k].against(b.Loss[k])
			}
			for k := range c.Cost {
				c.Cost[k].against(b.Cost[k])
			}
		}
	}
}

// stat is the cell's stat named name (the lost sum, a loss or a cost
// counter); ok is false if the study has no such counter.
func (c *Cell) stat(name string) (Stat, bool) {
	if name == LostName {
		return c.Lost, true
	}
	for _, s := range c.Loss {
		if s.Name == name {
			return s, true
		}
	}
	for _, s := range c.Cost {
		if s.Name == name {
			return s, true
		}
	}
	return Stat{}, false
}
