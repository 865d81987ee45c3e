package cpu

import "fmt"

func (k ExitKind) String() string {
	switch k {
	case ExitDeadline:
		return "deadline"
	case ExitSyscall:
		return "syscall"
	case ExitPageFault:
		return "#PF"
	case ExitGP:
		return "#GP"
	case ExitUD:
		return "#UD"
	case ExitDE:
		return "#DE"
	case ExitBreakpoint:
		return "breakpoint"
	case ExitSerialize:
		return "serialize"
	}
	return fmt.Sprintf("ExitKind(%d)", uint8(k))
}
