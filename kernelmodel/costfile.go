package kernelmodel

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// ErrCostFile is wrapped by every cost-file parse error.
var ErrCostFile = errors.New("kernelmodel: cost file")

// MaxCost is the largest value of any cost-model key: 10,000,000 cycles
// (3.3 ms at 3 GHz), three orders of magnitude above the largest default.
// With every cost at most this, a step's cost (at most a few costs times a
// page count) stays far below 2^64, and the clock would need over 10^12
// such steps to wrap: cycle arithmetic cannot overflow in any run.
const MaxCost = 10_000_000

// minCost is the smallest valid value of a key: 0 unless listed here.
// These are per-step costs of loops that wait for emulated time to pass;
// at 0 the time would never pass.
// Every cpu.* key (the user-mode instruction classes) is at least 1: every
// instruction, and every element of a REP string instruction, must advance
// time (CostRange).
var minCost = map[string]uint64{
	"ipi.delivery_cycles": 1, // bounds the quantum
	"ipi.cluster_size":    1, // targets per ICR write
	"kernel.spin_poll":    1, // a spinning CPU's re-check interval
}

// CostRange returns the valid range of a cost-model key ("kernel.zero_page").
func CostRange(key string) (lo, hi uint64) {
	if strings.HasPrefix(key, "cpu.") {
		return 1, MaxCost
	}
	return minCost[key], MaxCost
}

// CheckCosts reports the first cost of c, in CostKeys order, outside its
// range (CostRange), naming the key. New refuses such a configuration.
func CheckCosts(c *Config) error {
	var bad []string
	for sec, v := range c.costSections() {
		for i := 0; i < v.NumField(); i++ {
			if !v.Type().Field(i).IsExported() {
				continue
			}
			key := sec + "." + snake(v.Type().Field(i).Name)
			if lo, hi := CostRange(key); v.Field(i).Uint() < lo || v.Field(i).Uint() > hi {
				bad = append(bad, fmt.Sprintf("%s = %d is out of range (valid: %d..%d cycles)", key, v.Field(i).Uint(), lo, hi))
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("%w: %s", ErrCostFile, bad[0])
}

// costSections maps a cost-file section prefix to the struct it sets.
func (c *Config) costSections() map[string]reflect.Value {
	return map[string]reflect.Value{
		"kernel": reflect.ValueOf(&c.Costs).Elem(),
		"ipi":    reflect.ValueOf(&c.IPICosts).Elem(),
		"tlb":    reflect.ValueOf(&c.TLB.Costs).Elem(),
		"cpu":    reflect.ValueOf(&c.CPUCosts).Elem(),
	}
}

// snake turns a Go field name into the cost file's key ("FaultEntryExit" →
// "fault_entry_exit", "STLBHit" → "stlb_hit").
func snake(s string) string {
	var b strings.Builder
	r := []rune(s)
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 && (unicode.IsLower(r[i-1]) || (i+1 < len(r) && unicode.IsLower(r[i+1]))) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// CostKeys lists every key a cost file may set, sorted, with its default.
func CostKeys(c Config) []string {
	var out []string
	for sec, v := range c.costSections() {
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			out = append(out, fmt.Sprintf("%s.%s = %v", sec, snake(f.Name), v.Field(i).Interface()))
		}
	}
	sort.Strings(out)
	return out
}

// ParseCostFile applies a cost file to c: YAML (below), or the first
// format of one `section.key = cycles` per line (parseLegacyCostFile),
// recognised by a first line of that form.
//
// The YAML file is a mapping of sections kernel, ipi, tlb and cpu (each a
// mapping of key to cycles, keys as CostKeys lists them), applied to every
// run, and of sections per preset: `cpu-model: {NAME: {SECTION: {...}}}`
// for a -cpu-model, `virt: {NAME: {...}}` for a -virt, applied in that
// order after the plain sections when c's CPUModel or Virt is NAME:
//
//	kernel:
//	  zero_page: 900
//	cpu-model:
//	  haswell:
//	    tlb:
//	      invlpg: 260
//	virt:
//	  nested:
//	    ipi:
//	      icr_write: 14000
//
// Values are integers (underscores allowed) within CostRange. An unknown
// section, key or preset, a value that is not an integer, out of range, a
// duplicate key or a YAML alias is an error naming the key and its line; c
// is changed only if the whole file parses and every cost is in range.
func ParseCostFile(c *Config, r io.Reader) error {
	return ParseCostFileSources(c, r, "", nil)
}

// ParseCostFileSources is ParseCostFile that also records in src, for
// every key the file sets, "NAME:LINE" (src may be nil).
func ParseCostFileSources(c *Config, r io.Reader, name string, src Sources) error {
	data, err := io.ReadAll(io.LimitReader(r, maxCostFileBytes+1))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCostFile, err)
	}
	if len(data) > maxCostFileBytes {
		return fmt.Errorf("%w: larger than %d bytes", ErrCostFile, maxCostFileBytes)
	}
	if name == "" {
		name = "cost file"
	}
	if isLegacyCostFile(data) {
		return parseLegacyCostFile(c, data, name, src)
	}
	return parseYAMLCostFile(c, data, name, src)
}

// maxCostFileBytes bounds a cost file: 1 MiB, far more than every key of
// every preset needs.
const maxCostFileBytes = 1 << 20

var legacyLine = regexp.MustCompile(`^\s*[A-Za-z0-9_]+\.[A-Za-z0-9_]+\s*=`)

// isLegacyCostFile reports whether the first line that is not blank or a
// comment is `section.key = ...`.
func isLegacyCostFile(data []byte) bool {
	for _, l := range strings.Split(string(data), "\n") {
		if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		return legacyLine.MatchString(l)
	}
	return false
}

func parseYAMLCostFile(c *Config, data []byte, name string, src Sources) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%w: %v", ErrCostFile, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // empty file: no change
	}
	root := doc.Content[0]
	work := *c
	set := Sources{}
	if err := costMapping(root, "", func(k string, v *yaml.Node) error {
		switch k {
		case "cpu-model", "virt":
			return nil // after the plain sections
		}
		return costSection(&work, k, v, set, name)
	}); err != nil {
		return err
	}
	for _, ps := range []struct {
		key, sel string
		valid    []string
	}{{"cpu-model", work.CPUModel, CPUModelNames}, {"virt", work.Virt, VirtNames}} {
		if err := costMapping(root, "", func(k string, v *yaml.Node) error {
			if k != ps.key {
				return nil
			}
			return costMapping(v, k+".", func(preset string, pv *yaml.Node) error {
				if !slices.Contains(ps.valid, preset) {
					return fmt.Errorf("%w: line %d: unknown %s preset %q (valid: %s)", ErrCostFile, pv.Line, ps.key, preset, strings.Join(ps.valid, ", "))
				}
				return costMapping(pv, ps.key+"."+preset+".", func(sec string, sv *yaml.Node) error {
					if preset != ps.sel {
						// Still checked, not applied.
						scratch := work
						return costSection(&scratch, sec, sv, Sources{}, name)
					}
					return costSection(&work, sec, sv, set, name)
				})
			})
		}); err != nil {
			return err
		}
	}
	if err := CheckCosts(&work); err != nil {
		return err
	}
	*c = work
	for k, v := range set {
		if src != nil {
			src[k] = v
		}
	}
	return nil
}

// costMapping calls f for each key of the mapping n (prefix names n in
// errors).
func costMapping(n *yaml.Node, prefix string, f func(string, *yaml.Node) error) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return fmt.Errorf("%w: line %d: %s: YAML anchors and aliases are not allowed", ErrCostFile, n.Line, strings.TrimSuffix(prefix, "."))
	}
	if n.Kind != yaml.MappingNode {
		what := strings.TrimSuffix(prefix, ".")
		if what == "" {
			what = "the file"
		}
		return fmt.Errorf("%w: line %d: %s: want a mapping of keys", ErrCostFile, n.Line, what)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("%w: line %d: %s: want a plain key", ErrCostFile, k.Line, strings.TrimSuffix(prefix, "."))
		}
		if prev, dup := seen[k.Value]; dup {
			return fmt.Errorf("%w: line %d: %s%s already set on line %d", ErrCostFile, k.Line, prefix, k.Value, prev)
		}
		seen[k.Value] = k.Line
		if err := f(k.Value, v); err != nil {
			return err
		}
	}
	return nil
}

// costSection applies section sec (kernel, ipi, tlb, cpu) of mapping v to c.
func costSection(c *Config, sec string, v *yaml.Node, src Sources, name string) error {
	if _, ok := c.costSections()[sec]; !ok {
		return fmt.Errorf("%w: line %d: unknown section %q (sections: cpu, ipi, kernel, tlb; presets: cpu-model, virt)", ErrCostFile, v.Line, sec)
	}
	return costMapping(v, sec+".", func(key string, n *yaml.Node) error {
		k := sec + "." + key
		f, ok := costField(c, k)
		if !ok {
			return fmt.Errorf("%w: line %d: unknown key %q", ErrCostFile, n.Line, k)
		}
		lo, hi := CostRange(k)
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!str") || n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			return fmt.Errorf("%w: line %d: %s: want a cycle count (%d..%d)", ErrCostFile, n.Line, k, lo, hi)
		}
		u, err := strconv.ParseUint(strings.ReplaceAll(n.Value, "_", ""), 10, 64)
		if err != nil {
			return fmt.Errorf("%w: line %d: %s: %q is not a cycle count (%d..%d)", ErrCostFile, n.Line, k, n.Value, lo, hi)
		}
		if u < lo || u > hi {
			return fmt.Errorf("%w: line %d: %s = %d is out of range (valid: %d..%d cycles)", ErrCostFile, n.Line, k, u, lo, hi)
		}
		f.SetUint(u)
		src[k] = fmt.Sprintf("%s:%d", name, n.Line)
		return nil
	})
}

// parseLegacyCostFile applies a cost file of the first format: one `section.key =
// cycles` per line (sections kernel, ipi, tlb, cpu; keys as CostKeys lists
// them), `#` comments and blank lines allowed. Values are integers in
// cycles within CostRange. Any unknown key, bad number, value out of range
// or duplicate is an error naming the line; c is changed only if the whole
// file parses and every cost is in range.
func parseLegacyCostFile(c *Config, data []byte, name string, src Sources) error {
	work := *c
	secs := work.costSections()
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		k, val, ok := strings.Cut(text, "=")
		if !ok {
			return fmt.Errorf("%w: line %d: want section.key = value", ErrCostFile, line)
		}
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		sec, key, ok := strings.Cut(k, ".")
		sv, okSec := secs[sec]
		if !ok || !okSec {
			return fmt.Errorf("%w: line %d: unknown key %q (sections: cpu, ipi, kernel, tlb)", ErrCostFile, line, k)
		}
		var field reflect.Value
		for i := 0; i < sv.NumField(); i++ {
			if sv.Type().Field(i).IsExported() && snake(sv.Type().Field(i).Name) == key {
				field = sv.Field(i)
			}
		}
		if !field.IsValid() {
			return fmt.Errorf("%w: line %d: unknown key %q", ErrCostFile, line, k)
		}
		if prev, dup := seen[k]; dup {
			return fmt.Errorf("%w: line %d: %s already set on line %d", ErrCostFile, line, k, prev)
		}
		seen[k] = line
		lo, hi := CostRange(k)
		n, err := strconv.ParseUint(strings.ReplaceAll(val, "_", ""), 10, 64)
		if err != nil {
			return fmt.Errorf("%w: line %d: %s: %q is not a cycle count (%d..%d)", ErrCostFile, line, k, val, lo, hi)
		}
		if n < lo || n > hi {
			return fmt.Errorf("%w: line %d: %s = %d is out of range (valid: %d..%d cycles)", ErrCostFile, line, k, n, lo, hi)
		}
		field.SetUint(n) // every cost field has at least 32 bits (TestCostFieldsHoldMaxCost)
		if src != nil {
			src[k] = fmt.Sprintf("%s:%d", name, line)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: line %d: %v", ErrCostFile, line+1, err)
	}
	if err := CheckCosts(&work); err != nil {
		return err
	}
	*c = work
	return nil
}

// costField returns the settable field of c that key ("kernel.zero_page")
// names.
func costField(c *Config, key string) (reflect.Value, bool) {
	sec, name, ok := strings.Cut(key, ".")
	sv, okSec := c.costSections()[sec]
	if !ok || !okSec {
		return reflect.Value{}, false
	}
	for i := 0; i < sv.NumField(); i++ {
		if sv.Type().Field(i).IsExported() && snake(sv.Type().Field(i).Name) == name {
			return sv.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// CostValue returns the value of the cost key ("kernel.zero_page") in c.
func CostValue(c *Config, key string) (uint64, bool) { return costValue(c, key) }

// costValue returns the value of the cost key in c.
func costValue(c *Config, key string) (uint64, bool) {
	f, ok := costField(c, key)
	if !ok {
		return 0, false
	}
	return f.Uint(), true
}

// setCost sets the cost key in c, which must be within CostRange.
func setCost(c *Config, key string, v uint64) error {
	f, ok := costField(c, key)
	if !ok {
		return fmt.Errorf("%w: unknown key %q", ErrCostFile, key)
	}
	if lo, hi := CostRange(key); v < lo || v > hi {
		return fmt.Errorf("%w: %s = %d is out of range (valid: %d..%d)", ErrCostFile, key, v, lo, hi)
	}
	f.SetUint(v)
	return nil
}

// CostNames lists every cost key, sorted.
func CostNames() []string {
	c := DefaultConfig()
	var out []string
	for sec, v := range c.costSections() {
		for i := 0; i < v.NumField(); i++ {
			if f := v.Type().Field(i); f.IsExported() {
				out = append(out, sec+"."+snake(f.Name))
			}
		}
	}
	sort.Strings(out)
	return out
}
