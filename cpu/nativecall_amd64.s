//go:build amd64

#include "textflag.h"

// func nativeCall(fn, arg uintptr)
TEXT ·nativeCall(SB), NOSPLIT, $0-16
	MOVQ fn+0(FP), AX
	MOVQ arg+8(FP), DI
	CALL AX
	RET
