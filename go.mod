module github.com/tlbemu/emu

go 1.26.8

require (
	github.com/spf13/pflag v1.1.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	go.uber.org/zap v1.28.0 // indirect
	golang.org/x/arch v0.32.0 // indirect
	pgregory.net/rapid v1.3.0 // indirect
)
