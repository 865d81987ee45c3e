package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

func TestZZScratch(t *testing.T) {
	broadcastKernels = append(broadcastKernels, "5.10")
	args := strings.Fields(os.Getenv("EMU_ARGS"))
	var out, errb bytes.Buffer
	code := run(context.Background(), args, nil, &out, &errb)
	t.Logf("code %d\n%s\n%s", code, out.String(), errb.String())
}
