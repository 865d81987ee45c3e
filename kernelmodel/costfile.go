package kernelmodel

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode"
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
var minCost = map[string]uint64{
	"cpu.base":            1, // every instruction: time must advance
	"ipi.delivery_cycles": 1, // bounds the quantum
	"ipi.cluster_size":    1, // targets per ICR write
	"kernel.spin_poll":    1, // a spinning CPU's re-check interval
}

// CostRange returns the valid range of a cost-model key ("kernel.zero_page").
func CostRange(key string) (lo, hi uint64) { return minCost[key], MaxCost }

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
			if n := v.Field(i).Uint(); n < minCost[key] || n > MaxCost {
				bad = append(bad, fmt.Sprintf("%s = %d is out of range (valid: %d..%d cycles)", key, n, minCost[key], uint64(MaxCost)))
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

// ParseCostFile applies a cost file to c. The format is one `section.key =
// cycles` per line (sections kernel, ipi, tlb, cpu; keys as CostKeys lists
// them), `#` comments and blank lines allowed. Values are integers in
// cycles within CostRange. Any unknown key, bad number, value out of range
// or duplicate is an error naming the line; c is changed only if the whole
// file parses and every cost is in range.
func ParseCostFile(c *Config, r io.Reader) error {
	work := *c
	secs := work.costSections()
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
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
