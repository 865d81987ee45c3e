package main

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tlbemu/emu/internal/sweep"
)

// experimentKeys are the keys of an experiment file (emu sweep -f), one per
// grid dimension:
//
//	workloads: [clear_refs, uffd_wp]
//	cpus: 2-4               # or [2, 4]
//	kernels: ["5.10", 5.10-stable]
//	patch_sets: [none, clear-refs-flush, [clear-refs-flush, clear-refs-mmap-write-lock]]
//	knobs: {thp: [false, true]}
//	seeds: 1-8              # or [1, 2, 3]
//	args: [-iterations, 5]  # flags of every point
var experimentKeys = []string{"workloads", "cpus", "kernels", "patch_sets", "knobs", "seeds", "args"}

// parseExperiment reads an experiment file. Scalars are taken as written
// (5.10 is the kernel "5.10", not the number 5.1); an unknown key is an
// error naming it and its line.
func parseExperiment(data []byte) (sweep.Grid, error) {
	var g sweep.Grid
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return g, fmt.Errorf("%s", strings.ReplaceAll(err.Error(), "\n", " "))
	}
	if doc.Kind == 0 {
		return g, fmt.Errorf("empty experiment file (keys: %s)", strings.Join(experimentKeys, ", "))
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return g, fmt.Errorf("line %d: the file is not a mapping of %s", root.Line, strings.Join(experimentKeys, ", "))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if seen[k.Value] {
			return g, fmt.Errorf("line %d: key %q given twice", k.Line, k.Value)
		}
		seen[k.Value] = true
		var err error
		switch k.Value {
		case "workloads":
			g.Workloads, err = scalars(v, k.Value)
		case "kernels":
			g.Kernels, err = scalars(v, k.Value)
		case "args":
			g.Args, err = scalars(v, k.Value)
		case "cpus":
			var s []string
			if s, err = scalars(v, k.Value); err == nil {
				g.CPUs, err = parseIntList(strings.Join(s, ","), 1, 256)
			}
		case "seeds":
			var s []string
			var seeds []int
			if s, err = scalars(v, k.Value); err == nil {
				seeds, err = parseIntList(strings.Join(s, ","), 0, 1<<62)
			}
			for _, x := range seeds {
				g.Seeds = append(g.Seeds, uint64(x))
			}
		case "patch_sets":
			g.PatchSets, err = patchSets(v)
		case "knobs":
			g.Knobs, err = knobs(v)
		default:
			return g, fmt.Errorf("line %d: unknown key %q (valid: %s)", k.Line, k.Value, strings.Join(experimentKeys, ", "))
		}
		if err != nil {
			return g, fmt.Errorf("line %d: %s: %v", v.Line, k.Value, err)
		}
	}
	return g, nil
}

// scalars is a scalar or a sequence of scalars, as written.
func scalars(n *yaml.Node, key string) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("want a list of values")
			}
			out = append(out, e.Value)
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a value or a list of values")
}

// patchSets is a list whose items are a set each: "none", "a,b", or a
// list of patch names.
func patchSets(n *yaml.Node) ([][]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("want a list of patch sets (none, a patch, or a list of patches)")
	}
	var out [][]string
	for _, e := range n.Content {
		switch e.Kind {
		case yaml.ScalarNode:
			out = append(out, parsePatchSet(e.Value))
		case yaml.SequenceNode:
			ps, err := scalars(e, "patch_sets")
			if err != nil {
				return nil, err
			}
			out = append(out, ps)
		default:
			return nil, fmt.Errorf("want a list of patch sets (none, a patch, or a list of patches)")
		}
	}
	return out, nil
}

// knobs is a mapping of emu flag to its values, in file order.
func knobs(n *yaml.Node) ([]sweep.Knob, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("want a mapping of flag: [values] (flags: %s)", strings.Join(sweepKnobs, ", "))
	}
	var out []sweep.Knob
	for i := 0; i+1 < len(n.Content); i += 2 {
		vals, err := scalars(n.Content[i+1], "knobs")
		if err != nil {
			return nil, fmt.Errorf("%s: %v", n.Content[i].Value, err)
		}
		out = append(out, sweep.Knob{Flag: n.Content[i].Value, Values: vals})
	}
	return out, nil
}
