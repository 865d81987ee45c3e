package study

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteText writes st as two tables (lost events, then costs), one row
// per variant and CPU count, and the verdict lines.
func WriteText(w io.Writer, st *Study) error {
	// bufio.Writer keeps the first write error and returns it from Flush.
	ew := bufio.NewWriter(w)
	fmt.Fprintf(ew, "emu study %s: %s\n", st.Study, st.Summary)
	args := "default flags"
	if len(st.Args) > 0 {
		args = strings.Join(st.Args, " ")
	}
	fmt.Fprintf(ew, "workload %s (%s), CPUs %s, seeds %s: %d runs per cell\n\n", st.Workload, args, cpuList(st.CPUs),
		seedList(st.Seeds), len(st.Seeds))

	fmt.Fprintf(ew, "Lost events per run (%s = %s): mean (min–max) runs with any loss/runs\n", LostName, strings.Join(st.Loss, " + "))
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	head := []string{"variant", "cpus", LostName}
	head = append(head, st.Loss...)
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, v := range st.Variants {
		for _, c := range v.Cells {
			cols := []string{v.Name, strconv.Itoa(c.CPUs), lossCell(c.Lost)}
			for _, s := range c.Loss {
				cols = append(cols, lossCell(s))
			}
			fmt.Fprintln(tw, strings.Join(cols, "\t"))
		}
	}
	tw.Flush()

	fmt.Fprintf(ew, "\nCosts: mean per run, change against %s at the same CPU count (~: not significant, Mann-Whitney U, α = 0.05)\n",
		st.Variants[0].Name)
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	head = append([]string{"variant", "cpus"}, st.Cost...)
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for vi, v := range st.Variants {
		for _, c := range v.Cells {
			cols := []string{v.Name, strconv.Itoa(c.CPUs)}
			for _, s := range c.Cost {
				cols = append(cols, costCell(s, vi == 0))
			}
			fmt.Fprintln(tw, strings.Join(cols, "\t"))
		}
	}
	tw.Flush()
	fmt.Fprintln(ew)
	for _, v := range st.Verdicts {
		fmt.Fprintf(ew, "verdict: %s\n", v)
	}
	return ew.Flush()
}

func lossCell(s Stat) string {
	r := num(s.Mean)
	if s.Min != s.Max {
		r += " (" + num(float64(s.Min)) + "–" + num(float64(s.Max)) + ")"
	}
	return r + " " + strconv.Itoa(s.Nonzero) + "/" + strconv.Itoa(len(s.Samples))
}

func costCell(s Stat, baseline bool) string {
	r := num(s.Mean)
	if baseline {
		return r
	}
	switch {
	case s.FromZero:
		r += " (from 0)"
	case s.Change == 0:
		r += " +0 %"
	default:
		r += " " + pct(s.Change)
	}
	if !s.Significant {
		r += " ~"
	}
	return r
}

// seedList is "1–8" for consecutive seeds, else the list.
func seedList(seeds []uint64) string {
	consecutive := len(seeds) > 1
	for i := 1; i < len(seeds); i++ {
		if seeds[i] != seeds[i-1]+1 {
			consecutive = false
		}
	}
	if consecutive {
		return strconv.FormatUint(seeds[0], 10) + "–" + strconv.FormatUint(seeds[len(seeds)-1], 10)
	}
	s := make([]string, len(seeds))
	for i, v := range seeds {
		s[i] = strconv.FormatUint(v, 10)
	}
	return strings.Join(s, ", ")
}
