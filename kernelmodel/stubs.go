package kernelmodel

// userfaultCtx is a userfaultfd context (struct userfaultfd_ctx).
type userfaultCtx struct{}

// The calls below are not modelled yet: they answer as a kernel built
// without the feature would.

func (v *VCPU) sysMprotect(addr, length, prot uint64) int64  { return -ENOSYS }
func (v *VCPU) sysMadvise(addr, length, advice uint64) int64 { return -ENOSYS }
func (v *VCPU) sysFork() int64                               { return -ENOSYS }
func (v *VCPU) sysWait4(pid int64, status uint64) int64      { return -ECHILD }
func (v *VCPU) sysUserfaultfd(flags uint64) int64            { return -ENOSYS }
func (v *VCPU) userfaultfdRead(c *userfaultCtx, buf, n uint64) int64 {
	return -EINVAL
}
func (v *VCPU) userfaultfdIoctl(c *userfaultCtx, cmd, arg uint64) int64 { return -EINVAL }

// handleUserfault: without a userfaultfd context the fault is a SIGBUS
// (handle_userfault's "no ctx" bail-out).
func (v *VCPU) handleUserfault(vmf *vmFault, reason uint64) int { return vmFaultSIGBUS }
