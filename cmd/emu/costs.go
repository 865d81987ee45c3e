package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

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
	if err := kernelmodel.ParseCostFile(cfg, bytes.NewReader(data)); err != nil {
		return usagef("%s: %v", path, err)
	}
	return nil
}

// costRangesDoc is the one-line summary of the ranges for emu costs.
func costRangesDoc() string {
	return fmt.Sprintf("# Every value is 0..%d cycles (cpu.base, ipi.cluster_size, ipi.delivery_cycles, kernel.spin_poll: 1..%d; ipi.cluster_size counts targets per ICR write).", kernelmodel.MaxCost, kernelmodel.MaxCost)
}
