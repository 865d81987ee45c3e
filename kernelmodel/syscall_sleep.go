package kernelmodel

import "github.com/tlbemu/emu/cpu"

// sleepInSyscall puts the current task to sleep inside the system call nr
// it is executing (a wait-queue sleep in Linux: wait4 waiting for a child,
// read(2) of a userfaultfd waiting for a fault). The model has no kernel
// stack to sleep on, so the sleep is modelled as a restart, like the
// kernel's -ERESTARTNOINTR: the task's RIP is moved back over the 2-byte
// SYSCALL instruction and RAX is set to nr again, so that when it is woken
// it executes the call afresh and finds what it waited for. The call's
// entry cost is charged again then (a wake-up and return from schedule()
// in Linux).
//
// Preconditions:
//   - called from the syscall path of the current task, holding no lock;
//   - the caller has registered the task where its waker will find it, and
//     returns without touching the task's registers (v.curr has changed).
func (v *VCPU) sleepInSyscall(nr uint64) {
	v.c.Regs.RIP -= 2
	v.c.Regs.GPR[cpu.RAX] = nr
	v.block()
}
