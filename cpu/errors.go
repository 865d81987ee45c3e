package cpu

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnimplemented is the sentinel an *UnimplementedError for an instruction
// the interpreter does not implement wraps.
var ErrUnimplemented = errors.New("cpu: unimplemented instruction")

// ErrUndefined is the sentinel an *UnimplementedError for an architecturally
// undefined instruction (UD0/UD1/UD2, a LOCK prefix where LOCK is not
// allowed) wraps: the guest itself asked for #UD.
var ErrUndefined = errors.New("cpu: undefined instruction")

// UnimplementedError is Exit.Err for ExitUD: the instruction at RIP either is
// not implemented by the interpreter or is architecturally undefined
// (Undefined). The caller (the kernel model) typically delivers SIGILL.
type UnimplementedError struct {
	RIP       uint64 // guest RIP of the instruction
	Bytes     []byte // its encoding (for an undecodable sequence: up to 8 bytes from RIP)
	Disasm    string // Intel-syntax disassembly, or "(bad)"
	Undefined bool   // architectural #UD (UD2, invalid LOCK, …) rather than a gap in the interpreter
}

func (e *UnimplementedError) Error() string {
	what := "unimplemented instruction"
	if e.Undefined {
		what = "undefined instruction (#UD)"
	}
	var hex strings.Builder
	for i, b := range e.Bytes {
		if i > 0 {
			hex.WriteByte(' ')
		}
		fmt.Fprintf(&hex, "%02x", b)
	}
	return fmt.Sprintf("cpu: %s at rip %#x: %s (%s)", what, e.RIP, hex.String(), e.Disasm)
}

// Unwrap returns ErrUndefined or ErrUnimplemented, so callers can use
// errors.Is.
func (e *UnimplementedError) Unwrap() error {
	if e.Undefined {
		return ErrUndefined
	}
	return ErrUnimplemented
}
