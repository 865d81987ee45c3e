package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/tlbemu/emu/kernelmodel"
)

// maxCost is the largest value of any cost-model key: 10,000,000 cycles
// (3.3 ms at 3 GHz), three orders of magnitude above the largest default,
// so that no sum of costs along a run can wrap a 64-bit clock.
const maxCost = 10_000_000

// minCost is the smallest valid value of a key: 0 unless listed here.
// These are per-step costs of loops that wait for emulated time to pass;
// at 0 the time would never pass.
var minCost = map[string]uint64{
	"cpu.base":            1, // every instruction: time must advance
	"ipi.delivery_cycles": 1, // bounds -quantum
	"kernel.spin_poll":    1, // a spinning CPU's re-check interval
}

// costRange returns the valid range of a cost-model key.
func costRange(key string) (lo, hi uint64) { return minCost[key], maxCost }

// applyCostFile applies the cost file at path to cfg and checks every value
// it sets against its range (costRange).
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
	// ParseCostFile accepted the syntax; every line is now "key = uint".
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		k, v, ok := strings.Cut(text, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		n, err := strconv.ParseUint(strings.ReplaceAll(strings.TrimSpace(v), "_", ""), 10, 64)
		if err != nil {
			continue
		}
		if lo, hi := costRange(k); n < lo || n > hi {
			return usagef("%s: line %d: %s = %d is out of range (valid: %d..%d cycles)", path, line, k, n, lo, hi)
		}
	}
	return nil
}

// costRangesDoc is the one-line summary of the ranges for emu costs.
func costRangesDoc() string {
	return fmt.Sprintf("# Every value is 0..%d cycles (cpu.base, ipi.delivery_cycles, kernel.spin_poll: 1..%d).", maxCost, maxCost)
}
