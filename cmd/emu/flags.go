package main

import (
	"strings"

	"github.com/spf13/pflag"
)

// normalizeSingleDash rewrites Go-style "-name" and "-name=v" into "--name…"
// when name is a registered long flag, so `emu -workload clear_refs` means
// what a Go user expects under pflag (ecosystem.md §3.1: pflag would read it
// as the shorthand cluster -w -o -r …). The value token of a value-taking
// flag is never touched, and everything after "--" is left alone.
func normalizeSingleDash(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if strings.HasPrefix(a, "--") {
			out = append(out, a)
			n := strings.SplitN(a[2:], "=", 2)
			if f := fs.Lookup(n[0]); f != nil && len(n) == 1 && f.NoOptDefVal == "" && i+1 < len(args) {
				i++
				out = append(out, args[i])
			}
			continue
		}
		if len(a) > 2 && a[0] == '-' && !strings.HasPrefix(a, "-test.") {
			n := strings.SplitN(a[1:], "=", 2)
			if f := fs.Lookup(n[0]); f != nil {
				out = append(out, "-"+a)
				if len(n) == 1 && f.NoOptDefVal == "" && i+1 < len(args) {
					i++
					out = append(out, args[i])
				}
				continue
			}
		}
		out = append(out, a)
	}
	return out
}
