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
// them), `#` comments and blank lines allowed. Values are non-negative
// integers in cycles. Any unknown key, bad number or duplicate is an error
// naming the line; c is changed only if the whole file parses.
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
		bits := field.Type().Bits()
		n, err := strconv.ParseUint(strings.ReplaceAll(val, "_", ""), 10, bits)
		if err != nil {
			return fmt.Errorf("%w: line %d: %s: %q is not a cycle count (0..%d)", ErrCostFile, line, k, val, uint64(1)<<bits-1)
		}
		field.SetUint(n)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: line %d: %v", ErrCostFile, line+1, err)
	}
	if work.IPICosts.DeliveryCycles == 0 {
		return fmt.Errorf("%w: ipi.delivery_cycles must be > 0 (it bounds the quantum)", ErrCostFile)
	}
	*c = work
	return nil
}
