package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/tlbemu/emu/kernelmodel"
)

// applyCostFile applies the cost file at path to cfg; every value it sets
// must be within its range (kernelmodel.CostRange).
func applyCostFile(cfg *kernelmodel.Config, path string) error {
	_, err := applyCostFileHash(cfg, path)
	return err
}

// applyCostFileHash is applyCostFile that also returns the hex SHA-256 of
// the file's content ("" for no file), for the run identity: two files of
// one name but different costs must not give one result name.
func applyCostFileHash(cfg *kernelmodel.Config, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	data, err := readInput(path, maxCostBytes)
	if err != nil {
		return "", usagef("-costs: %v", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), checkCostFile(cfg, path, data)
}

func checkCostFile(cfg *kernelmodel.Config, path string, data []byte) error {
	return checkCostFileSources(cfg, path, data, nil)
}

func checkCostFileSources(cfg *kernelmodel.Config, path string, data []byte, src kernelmodel.Sources) error {
	if err := kernelmodel.ParseCostFileSources(cfg, bytes.NewReader(data), path, src); err != nil {
		return usagef("%s: %v", path, err)
	}
	return nil
}

// costRangesDoc is the one-line summary of the ranges for emu costs.
func costRangesDoc() string {
	return fmt.Sprintf("# Every value is 0..%d cycles (cpu.*, ipi.cluster_size, ipi.delivery_cycles, kernel.spin_poll: 1..%d; ipi.cluster_size counts targets per ICR write).", kernelmodel.MaxCost, kernelmodel.MaxCost)
}

// cmdCosts prints every cost-model key with its value and source: the
// defaults, or the values of -cpu-model and -virt, then -costs FILE.
func cmdCosts(args []string, w, stderr io.Writer) error {
	fs := pflag.NewFlagSet("emu costs", pflag.ContinueOnError)
	fs.SetOutput(w) // only -h writes there: parse errors are returned
	file := fs.String("costs", "", "apply this cost file after the presets and print the resulting values")
	cpuModel := fs.String("cpu-model", "", "CPU preset: "+strings.Join(kernelmodel.CPUModelNames, ", ")+" (default skylake-sp)")
	virt := fs.String("virt", "", "virtualisation preset: "+strings.Join(kernelmodel.VirtNames, ", ")+" (default none)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("emu costs: unexpected argument %q", fs.Arg(0))
	}
	cfg := kernelmodel.DefaultConfig()
	p, err := kernelmodel.ApplyPreset(&cfg, *cpuModel, *virt)
	if err != nil {
		return usagef("%v", err)
	}
	if *file != "" {
		data, err := readInput(*file, maxCostBytes)
		if err != nil {
			return usagef("-costs: %v", err)
		}
		set := kernelmodel.Sources{}
		if err := checkCostFileSources(&cfg, *file, data, set); err != nil {
			return err
		}
		for k, v := range set {
			p.Sources[k] = "cost file " + v
		}
	}
	return printCosts(w, cfg, p)
}

// printDefaultCosts prints the default cost table (emu list -costs).
func printDefaultCosts(w io.Writer) error {
	cfg := kernelmodel.DefaultConfig()
	p, err := kernelmodel.ApplyPreset(&cfg, "", "")
	if err != nil {
		return err
	}
	return printCosts(w, cfg, p)
}

// printCosts prints cfg's costs as a YAML cost file, each value with its
// source as a comment.
func printCosts(w io.Writer, cfg kernelmodel.Config, p kernelmodel.Preset) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# emu cost model for -cpu-model %s -virt %s, in cycles (%.1f GHz turns cycles into time).\n", p.CPUModel, p.Virt, p.GHz)
	fmt.Fprintf(&b, "# TLB geometry %s: %s\n", cfg.TLB.Name, p.Sources["tlb.geometry"])
	b.WriteString("# A cost file (-costs FILE) in this format sets any of these; a section\n")
	b.WriteString("# cpu-model: {NAME: {...}} or virt: {NAME: {...}} applies only under that preset.\n")
	b.WriteString(costRangesDoc() + "\n")
	sec := ""
	for _, k := range kernelmodel.CostNames() {
		s, key, _ := strings.Cut(k, ".")
		if s != sec {
			fmt.Fprintf(&b, "%s:\n", s)
			sec = s
		}
		v, _ := kernelmodel.CostValue(&cfg, k)
		fmt.Fprintf(&b, "  %s: %d # %s\n", key, v, p.Sources[k])
	}
	_, err := io.WriteString(w, b.String())
	return err
}
