package main

import (
	"slices"

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

func joinNames(n []string) string {
	s := ""
	for i, x := range n {
		if i > 0 {
			s += ", "
		}
		s += x
	}
	return s
}
