//go:build amd64

package cpu

// nativeCall calls the machine code at fn with arg in RDI. It exists for the
// differential tests' generic harness (xstate_amd64_test.go), which builds
// a thunk that switches to its own stack, loads a full register state,
// executes one instruction and saves the state again.
func nativeCall(fn, arg uintptr)
