package study

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// escalationFactor is how many times the baseline's nr_tlb_local_flush_all
// a variant must reach (besides a significant change) for its full
// flushes to count as escalated.
const escalationFactor = 2

// Verdicts are the study's verdict lines, one per variant, computed from
// the table by the rules in the package documentation.
func Verdicts(st *Study) []string {
	if len(st.Variants) == 0 {
		return nil
	}
	out := []string{st.Variants[0].Name + ": " + baselineVerdict(st)}
	for vi := 1; vi < len(st.Variants); vi++ {
		v := &st.Variants[vi]
		out = append(out, v.Name+": "+lossVerdict(st, v)+"; "+costVerdict(st, v))
	}
	return out
}

// loses reports whether any run of the cell lost something.
func (c *Cell) loses() bool { return c.Lost.Nonzero > 0 }

func cpuList(cs []int) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ", ")
}

// meanRange is "a" or "a–b": the range of the cells' mean losses.
func meanRange(cells []Cell) string {
	lo, hi := cells[0].Lost.Mean, cells[0].Lost.Mean
	for _, c := range cells[1:] {
		lo, hi = min(lo, c.Lost.Mean), max(hi, c.Lost.Mean)
	}
	if lo == hi {
		return num(lo)
	}
	return num(lo) + "–" + num(hi)
}

func baselineVerdict(st *Study) string {
	b := st.Variants[0].Cells
	var at []int
	var losing []Cell
	runs, failing := 0, 0
	for _, c := range b {
		runs += len(c.Lost.Samples)
		failing += c.Lost.Nonzero
		if c.loses() {
			at = append(at, c.CPUs)
			losing = append(losing, c)
		}
	}
	switch {
	case len(at) == 0:
		return "loses nothing at any CPU count"
	case len(at) == len(b):
		return fmt.Sprintf("loses tracking at every CPU count (mean %s lost per run, %d of %d runs)", meanRange(losing), failing, runs)
	}
	return fmt.Sprintf("loses tracking at %s CPUs only (mean %s lost per run there, %d of %d runs)", cpuList(at), meanRange(losing), failing, runs)
}

func lossVerdict(st *Study, v *VariantRow) string {
	base := st.Variants[0].Cells
	var closed, open []int
	var openCells []Cell
	holeAnywhere := false
	runs := 0
	for i, c := range v.Cells {
		runs += len(c.Lost.Samples)
		holeAnywhere = holeAnywhere || base[i].loses()
		if c.loses() {
			open = append(open, c.CPUs)
			openCells = append(openCells, c)
		} else {
			closed = append(closed, c.CPUs)
		}
	}
	switch {
	case len(open) == 0 && holeAnywhere:
		return fmt.Sprintf("closes the hole at every CPU count (0 lost in all %d runs)", runs)
	case len(open) == 0:
		return "no loss on either side"
	case len(closed) == 0:
		return fmt.Sprintf("leaves lost events at every CPU count (mean %s per run; %s: %s)", meanRange(openCells), st.Variants[0].Name, meanRange(base))
	}
	// The closed CPU counts a suffix: a threshold N.
	k := len(v.Cells) - len(closed)
	suffix := true
	for _, c := range v.Cells[k:] {
		if c.loses() {
			suffix = false
		}
	}
	if !suffix {
		return fmt.Sprintf("closes it at %s CPUs only, loses at %s CPUs", cpuList(closed), cpuList(open))
	}
	n := v.Cells[k].CPUs
	s := fmt.Sprintf("closes it only at ≥ %d CPUs (loses at %s)", n, cpuList(open))
	escalated := true
	for i := k; i < len(v.Cells); i++ {
		fa, ok := v.Cells[i].stat(LocalFlushAll)
		fb, _ := base[i].stat(LocalFlushAll)
		if !ok || !fa.Significant || fa.Mean < escalationFactor*fb.Mean || fa.Mean == 0 {
			escalated = false
		}
	}
	if escalated {
		fa, _ := v.Cells[k].stat(LocalFlushAll)
		fb, _ := base[k].stat(LocalFlushAll)
		s += fmt.Sprintf(": the loss disappears together with %s escalation (%s → %s at %d CPUs)", LocalFlushAll, num(fb.Mean), num(fa.Mean), n)
	} else {
		s += ": not explained by " + LocalFlushAll + " escalation"
	}
	for _, c := range v.Cells[:k] {
		if p, ok := c.stat(PendingFlushes); ok && p.Mean > 0 {
			s += fmt.Sprintf(", not with the check (%s flush-pending flushes at %d CPUs leave %s lost)", num(p.Mean), c.CPUs, num(c.Lost.Mean))
			break
		}
	}
	return s
}

func costVerdict(st *Study, v *VariantRow) string {
	base := st.Variants[0].Cells
	var at []int
	var changes []float64
	hazard := false
	for i, c := range v.Cells {
		r, ok := c.stat(RemoteFlush)
		if !ok || !r.Significant {
			continue
		}
		at = append(at, c.CPUs)
		hazard = hazard || base[i].loses()
		if !r.FromZero {
			changes = append(changes, r.Change)
		}
	}
	if len(at) == 0 {
		return "no significant change in remote flushes"
	}
	var what string
	if len(changes) == 0 {
		what = "costs remote flushes where " + st.Variants[0].Name + " has none"
	} else {
		lo, hi := slices.Min(changes), slices.Max(changes)
		switch {
		case hi < 0:
			what = "saves " + pctRange("", -hi, -lo) + " remote flushes"
		case lo > 0:
			what = "costs " + pctRange("+", lo, hi) + " remote flushes"
		default:
			what = "changes remote flushes by " + pct(lo) + " to " + pct(hi)
		}
	}
	what += fmt.Sprintf(" (significant at %s CPUs)", cpuList(at))
	if !hazard {
		what += " for no hazard"
	}
	return what
}

func pct(p float64) string {
	if p >= 0 {
		return "+" + num(p) + " %"
	}
	return "−" + num(-p) + " %"
}

// pctRange is "a %" or "a % to b %", each number after sign.
func pctRange(sign string, a, b float64) string {
	if num(a) == num(b) {
		return sign + num(a) + " %"
	}
	return sign + num(a) + " % to " + sign + num(b) + " %"
}

// num formats v with thousands separators: one decimal below 100 unless
// v is whole, none from 100 on.
func num(v float64) string {
	neg := v < 0
	if neg {
		v = -v
	}
	var s string
	if v < 100 && v != float64(int64(v)) {
		s = strconv.FormatFloat(v, 'f', 1, 64)
	} else {
		s = strconv.FormatFloat(v, 'f', 0, 64)
	}
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
