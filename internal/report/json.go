package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// The JSON document (one object, indented). Counter objects borrow the key
// names of `perf stat -j` (tools/perf/util/stat-display.c: "counter-value", "unit",
// "event", "variance" = relative standard error in percent, with -r) and
// add the raw per-run "samples"; histogram buckets are bpftrace -f json's
// {min, max, count} with max inclusive and FULL as min = max = -1.
type jsonDoc struct {
	Tool          string     `json:"tool"`
	FormatVersion int        `json:"format_version"`
	Version       string     `json:"emu_version"`
	Command       string     `json:"command"`
	Workload      string     `json:"workload"`
	Variant       string     `json:"variant"`
	Runs          int        `json:"runs"`
	Seeds         []uint64   `json:"seeds"`
	Config        orderedKV  `json:"config"`
	Counters      jsonCounts `json:"counters"`
	PerCPU        []jsonCPU  `json:"per_cpu"`
	Hists         []jsonHist `json:"histograms"`
	Error         string     `json:"error,omitempty"`
	Status        string     `json:"status,omitempty"`
}

// jsonCounts is the "counters" object: keyed by the counter's name (the
// kernel's, e.g. nr_tlb_remote_flush), in report order, each value a perf
// stat -j record.
type jsonCounts []jsonCount

func (cs jsonCounts) MarshalJSON() ([]byte, error) {
	return marshalObject(len(cs), func(i int) (string, any) { return cs[i].Event, cs[i] })
}

func (cs *jsonCounts) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return errors.New("counters is not an object keyed by counter name")
	}
	*cs = nil
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		var c jsonCount
		if err := dec.Decode(&c); err != nil {
			return err
		}
		if c.Event == "" {
			c.Event = key
		}
		if c.Event != key {
			return fmt.Errorf("counter %q has event %q", key, c.Event)
		}
		*cs = append(*cs, c)
	}
	return nil
}

// jsonCount is one counter. Its numbers are json.Number so that counts
// above 2^53 are written and read exactly (a float64 is not).
type jsonCount struct {
	Event    string        `json:"event"`
	Value    json.Number   `json:"counter-value"`
	Unit     string        `json:"unit"`
	Variance *float64      `json:"variance,omitempty"`
	Samples  []json.Number `json:"samples"`
}

type jsonCPU struct {
	CPU      int        `json:"cpu"`
	Counters jsonCounts `json:"counters"`
}

type jsonHist struct {
	Name  string           `json:"name"`
	Key   string           `json:"key,omitempty"`
	Log2  bool             `json:"log2,omitempty"`
	Count uint64           `json:"count"`
	P50   *int64           `json:"p50_below,omitempty"`
	P99   *int64           `json:"p99_below,omitempty"`
	Data  []jsonHistBucket `json:"data"`
}

type jsonHistBucket struct {
	Min   int64  `json:"min"`
	Max   int64  `json:"max"`
	Count uint64 `json:"count"`
}

// orderedKV is a JSON object whose keys keep the order of Config.
type orderedKV []KV

func (o orderedKV) MarshalJSON() ([]byte, error) {
	return marshalObject(len(o), func(i int) (string, any) { return o[i].Key, o[i].Value })
}

// marshalObject writes a JSON object of n members in the order kv gives
// them (encoding/json would sort a map's keys).
func marshalObject(n int, kv func(i int) (string, any)) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := 0; i < n; i++ {
		key, val := kv(i)
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(val)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (o *orderedKV) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return errors.New("config is not an object")
	}
	*o = nil
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return err
		}
		*o = append(*o, KV{key, normalizeJSON(v)})
	}
	return nil
}

// normalizeJSON turns decoded numbers into int64 where they are integers
// and string arrays into []string, so a read Result formats like a written
// one.
func normalizeJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		s := make([]string, 0, len(x))
		for _, e := range x {
			str, ok := e.(string)
			if !ok {
				return x
			}
			s = append(s, str)
		}
		return s
	}
	return v
}

func toJSONCounts(cs []Counter) jsonCounts {
	out := make([]jsonCount, 0, len(cs))
	for _, c := range cs {
		jc := jsonCount{Event: c.Name, Value: c.meanJSON(), Unit: c.Unit, Samples: []json.Number{}}
		for i, v := range c.Samples {
			if len(c.Exact) == len(c.Samples) {
				jc.Samples = append(jc.Samples, json.Number(strconv.FormatUint(c.Exact[i], 10)))
			} else {
				jc.Samples = append(jc.Samples, jsonFloat(v))
			}
		}
		if len(c.Samples) > 1 {
			v := round2(c.RelStderr())
			jc.Variance = &v
		}
		out = append(out, jc)
	}
	return out
}

// meanJSON is c's mean as a JSON number: as encoding/json writes the
// float64, or exactly (an integer, or six decimals) for counts above 2^53.
func (c Counter) meanJSON() json.Number {
	if r := c.exactMean(); r != nil && r.IsInt() {
		return json.Number(r.Num().String())
	} else if r != nil {
		return json.Number(r.FloatString(6))
	}
	return jsonFloat(c.Mean())
}

// jsonFloat is v as encoding/json writes a float64.
func jsonFloat(v float64) json.Number {
	b, err := json.Marshal(v)
	if err != nil { // NaN or ±Inf, which no counter mean is
		return "0"
	}
	return json.Number(b)
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// WriteJSON writes r as one indented JSON object: provenance, config (in
// display order), counters with per-run samples, per-CPU counters and
// histograms.
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(toJSONDoc(r))
}

func toJSONDoc(r *Result) jsonDoc {
	doc := jsonDoc{
		Tool: r.Tool, FormatVersion: FormatVersion, Version: r.Version, Command: r.Command,
		Workload: r.Workload, Variant: r.Variant(), Runs: r.Runs(), Seeds: r.Seeds,
		Config: orderedKV(r.Config), Counters: toJSONCounts(r.Counters),
		PerCPU: []jsonCPU{}, Hists: []jsonHist{}, Error: r.Error, Status: r.Status,
	}
	if doc.Seeds == nil {
		doc.Seeds = []uint64{}
	}
	if doc.Config == nil {
		doc.Config = orderedKV{}
	}
	for _, row := range r.PerCPU {
		doc.PerCPU = append(doc.PerCPU, jsonCPU{CPU: row.CPU, Counters: toJSONCounts(row.Counters)})
	}
	for _, h := range r.Hists {
		jh := jsonHist{Name: h.Name, Key: h.Key, Log2: h.Log2, Count: h.Total(), Data: []jsonHistBucket{}}
		for _, b := range h.Buckets {
			jh.Data = append(jh.Data, jsonHistBucket{b.Value, h.high(b.Value) - 1, b.Count})
			if b.Value == -1 {
				jh.Data[len(jh.Data)-1].Max = -1
			}
		}
		if h.Log2 {
			if _, hi, ok := h.Quantile(0.5); ok {
				jh.P50 = &hi
			}
			if _, hi, ok := h.Quantile(0.99); ok {
				jh.P99 = &hi
			}
		}
		doc.Hists = append(doc.Hists, jh)
	}
	return doc
}

// The JSON document of a comparison (emu ab -json): every result in
// full, the rows of the %change table, the hazard counters' fail:runs
// and the verdict lines.
type jsonCompare struct {
	Tool          string       `json:"tool"`
	FormatVersion int          `json:"format_version"`
	Kind          string       `json:"kind"`
	Labels        []string     `json:"labels"`
	AxisKeys      []string     `json:"axes"`
	Results       []jsonDoc    `json:"results"`
	Changes       []jsonChange `json:"changes"`
	Hazards       []jsonHazard `json:"hazards"`
	Verdicts      []string     `json:"verdicts"`
	Estimates     []string     `json:"model_estimate,omitempty"` // Comparison.Estimates
	Notes         []string     `json:"notes,omitempty"`          // Comparison.Notes
}

type jsonChange struct {
	Counter string        `json:"counter"`
	Means   []json.Number `json:"means"` // exact, as the results' counter-value
	// Change is the % change of each non-baseline result's mean.
	Change []float64  `json:"change_percent"`
	P      []*float64 `json:"p_value,omitempty"`
}

type jsonHazard struct {
	Counter      string    `json:"counter"`
	Fails        []int     `json:"fails"`
	Runs         []int     `json:"runs"`
	Means        []float64 `json:"means"`
	Reproduction []float64 `json:"reproduction_percent"`
}

// WriteCompareJSON writes c as one indented JSON object (kind
// "comparison").
func WriteCompareJSON(w io.Writer, c *Comparison) error {
	doc := jsonCompare{Tool: "emu", FormatVersion: FormatVersion, Kind: "comparison",
		Labels: c.Labels, AxisKeys: c.AxisKeys, Results: []jsonDoc{}, Changes: []jsonChange{},
		Hazards: []jsonHazard{}, Verdicts: c.Verdicts(), Estimates: c.Estimates, Notes: c.Notes}
	if doc.Verdicts == nil {
		doc.Verdicts = []string{}
	}
	for _, r := range c.Results {
		doc.Results = append(doc.Results, toJSONDoc(r))
	}
	for _, row := range c.Rows {
		jc := jsonChange{Counter: row.Name, Change: row.Changes}
		for _, r := range c.Results {
			ctr, _ := r.Counter(row.Name)
			jc.Means = append(jc.Means, ctr.meanJSON())
		}
		for _, t := range row.Tests {
			p := t.P
			jc.P = append(jc.P, &p)
		}
		doc.Changes = append(doc.Changes, jc)
	}
	for _, h := range c.Hazards {
		jh := jsonHazard{Counter: h.Name, Fails: h.Fails, Runs: h.Runs, Means: h.Means, Reproduction: []float64{}}
		for i := 1; i < len(c.Results); i++ {
			jh.Reproduction = append(jh.Reproduction, h.Reproduction(i))
		}
		doc.Hazards = append(doc.Hazards, jh)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// ReadJSON reads a document written by WriteJSON. name is used in errors,
// which are one line: "NAME: not an emu result (…)" for foreign JSON,
// "NAME: truncated or malformed JSON (…)" for broken files.
func ReadJSON(r io.Reader, name string) (*Result, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	var doc jsonDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &se):
			return nil, fmt.Errorf("%s: truncated or malformed JSON (%v)", name, oneLine(err))
		case errors.As(err, &te):
			if te.Field == "" {
				return nil, fmt.Errorf("%s: not an emu result (the top level is not an object)", name)
			}
			return nil, fmt.Errorf("%s: not an emu result (field %q has the wrong type)", name, te.Field)
		}
		return nil, fmt.Errorf("%s: not an emu result (%v)", name, oneLine(err))
	}
	if doc.Tool != "emu" {
		return nil, fmt.Errorf("%s: not an emu result (no \"tool\": \"emu\"; write one with emu -json)", name)
	}
	if doc.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%s: emu JSON format version %d, this emu reads version %d", name, doc.FormatVersion, FormatVersion)
	}
	if doc.Runs < 1 || len(doc.Seeds) != doc.Runs || len(doc.Counters) == 0 {
		return nil, fmt.Errorf("%s: incomplete emu result (runs %d, %d seeds, %d counters)", name, doc.Runs, len(doc.Seeds), len(doc.Counters))
	}
	res := &Result{
		Tool: doc.Tool, Version: doc.Version, Command: doc.Command, Workload: doc.Workload,
		Config: []KV(doc.Config), Seeds: doc.Seeds, Error: doc.Error, Status: doc.Status,
	}
	fromJSON := func(jcs []jsonCount) ([]Counter, error) {
		var cs []Counter
		for _, jc := range jcs {
			if len(jc.Samples) != doc.Runs {
				return nil, fmt.Errorf("%s: counter %q has %d samples for %d runs", name, jc.Event, len(jc.Samples), doc.Runs)
			}
			c := Counter{Name: jc.Event, Unit: jc.Unit, Samples: make([]float64, len(jc.Samples)), Exact: make([]uint64, 0, len(jc.Samples))}
			for i, n := range jc.Samples {
				v, err := n.Float64()
				if err != nil {
					return nil, fmt.Errorf("%s: counter %q sample %q is not a number", name, jc.Event, n)
				}
				c.Samples[i] = v
				if u, err := strconv.ParseUint(string(n), 10, 64); err == nil && c.Exact != nil {
					c.Exact = append(c.Exact, u)
				} else {
					c.Exact = nil
				}
			}
			cs = append(cs, c)
		}
		return cs, nil
	}
	if res.Counters, err = fromJSON(doc.Counters); err != nil {
		return nil, err
	}
	for _, jr := range doc.PerCPU {
		cs, err := fromJSON(jr.Counters)
		if err != nil {
			return nil, err
		}
		res.PerCPU = append(res.PerCPU, CPURow{CPU: jr.CPU, Counters: cs})
	}
	for _, jh := range doc.Hists {
		h := Hist{Name: jh.Name, Key: jh.Key, Log2: jh.Log2}
		for _, b := range jh.Data {
			h.Buckets = append(h.Buckets, Bucket{b.Min, b.Count})
		}
		res.Hists = append(res.Hists, h)
	}
	return res, nil
}

func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", " ")
}
