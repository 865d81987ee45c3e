package kernelmodel

// vmaModifyCharged is mm.vmaModify charged with Costs.VMAAdjust for every
// VMA the split adds or the merge removes (each is one __vma_adjust in
// mm/mmap.c, v5.10).
func (v *VCPU) vmaModifyCharged(mm *MM, vma *VMA, start, end, flags uint64, uffd *userfaultCtx) (*VMA, int64) {
	v.vmaStartWriteRange(mm, start, end, true)
	before := len(mm.vmas)
	r, err := mm.vmaModify(vma, start, end, flags, uffd)
	n := len(mm.vmas) - before
	if n < 0 {
		n = -n
	}
	v.spend(uint64(n) * v.m.cfg.Costs.VMAAdjust)
	return r, err
}
