package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tlbemu/emu/internal/report"
	"github.com/tlbemu/emu/kernelmodel"
)

// broadcastKernels are the -kernel baselines whose flush path has global
// ASIDs and broadcast_tlb_flush (arch/x86/mm/tlb.c, v6.15+).
var broadcastKernels = []string{"6.18"}

// setFlushMech validates -flush against -kernel and the CPU preset and
// sets cfg.Flush. The preset decides what the CPU offers
// (kernelmodel.CheckFlush).
func setFlushMech(cfg *kernelmodel.Config, mech string) error {
	f := kernelmodel.FlushMech(mech)
	if !slices.Contains(kernelmodel.FlushMechs, f) {
		return usagef("unknown -flush %q (valid: %s)", mech, joinNames(kernelmodel.FlushMechNames()))
	}
	if f != kernelmodel.FlushIPI && !slices.Contains(broadcastKernels, cfg.Kernel) {
		return usagef("-flush %s needs -kernel %s (global ASIDs and broadcast_tlb_flush are v6.15+); -kernel %s offers: ipi", f, joinNames(broadcastKernels), cfg.Kernel)
	}
	if f == kernelmodel.FlushIPI {
		return nil // cfg.Flush stays "": the default run and its counter set
	}
	cfg.Flush = f
	if err := kernelmodel.CheckFlush(cfg); err != nil {
		return usagef("%v", err)
	}
	return nil
}

// flushMechLabel is the identity's -flush value: "" for the default (ipi),
// so that default runs keep their identity.
func flushMechLabel(f kernelmodel.FlushMech) string {
	if f == kernelmodel.FlushIPI || f == "" {
		return ""
	}
	return string(f)
}

func joinNames(n []string) string { return strings.Join(n, ", ") }

// cmdABFlush is emu ab -flush M [flags]: side A runs the flags with -flush
// ipi, side B with -flush M (and -patch, if given, on both sides). The
// comparison is labelled a model estimate with the cost keys M depends on.
func cmdABFlush(ctx context.Context, o *options, rest []string, stdout, stderr io.Writer) (err error) {
	ob := *o
	ob.patches = append(slices.Clone(o.basePatch), o.patches...)
	pb, err := newPlan(&ob, rest, modeAB)
	if err != nil {
		return err
	}
	oa := ob
	oa.flushMech = string(kernelmodel.FlushIPI)
	pa, err := newPlan(&oa, rest, modeAB)
	if err != nil {
		return err
	}
	// Side A names its mechanism (the axis reads ipi vs M) and counts the
	// broadcast counters too, at zero, so that B's show as changes.
	pa.cfg.Flush, pa.id.FlushMech = kernelmodel.FlushIPI, string(kernelmodel.FlushIPI)
	label := func(c *report.Comparison, results []*report.Result) {
		c.Estimates = flushEstimate(&pb.cfg)
		if g, ok := results[1].Counter("emu_global_asids"); ok && g.Mean() == 0 {
			c.Notes = append(c.Notes, fmt.Sprintf("no process got a global ASID, so -flush %s flushed nothing by broadcast: consider_global_asid looks once per 32 ticks per thread (a tick is %d cycles) and only at a process running on more than 3 CPUs; run longer (-iterations) or on more -cpus", pb.cfg.Flush, kernelmodel.JiffyCycles))
		}
	}
	return runAB(ctx, o, pa, pb, stdout, stderr, label)
}

// flushEstimate is the model-estimate label of a comparison whose side B
// uses cfg.Flush: the cost keys without a measurement, with B's values.
func flushEstimate(cfg *kernelmodel.Config) []string {
	keys := kernelmodel.FlushEstimateKeys(cfg.Flush)
	if len(keys) == 0 {
		return nil
	}
	var kv []string
	for _, k := range keys {
		v, _ := kernelmodel.CostValue(cfg, k)
		kv = append(kv, fmt.Sprintf("%s=%d", k, v))
	}
	return []string{fmt.Sprintf("-flush %s depends on cost keys no measurement backs (defaults: ASSUMPTION, see 'emu costs'; override with -costs): %s", cfg.Flush, strings.Join(kv, " "))}
}
