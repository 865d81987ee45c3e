// Package realprog holds the end-to-end tests that run real static
// programs under `emu run`: small C programs of our own (testdata/*.c)
// built with musl-gcc and with glibc's gcc -static, each run natively and
// under emu, with stdout, stderr and the exit status required to be
// byte-identical to the native run.
//
// The musl builds are committed (testdata/bin/*.musl) so that the tests
// run without a C compiler; TestCommittedBinariesReproducible rebuilds
// them when musl-gcc is installed and requires the same bytes (regenerate
// with `go test ./internal/realprog -run TestCommittedBinariesReproducible
// -update`). The glibc builds are made in the test when gcc is installed
// and skipped, naming gcc, otherwise.
//
// The package has no non-test code.
package realprog
