package kernelmodel

import (
	"encoding/binary"

	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// userPage returns the frame backing user address addr for a kernel access
// (copy_from_user/copy_to_user), faulting the page in through
// handle_mm_fault as the kernel's exception fixup path does. The walk sets
// A/D like the hardware walker; it does not go through this CPU's TLB (the
// model's kernel accesses are not TLB-timed).
func (v *VCPU) userPage(addr uint64, write bool) (*phys.Frame, int64) {
	m := v.m
	mm := v.curr.mm
	acc := tlb.Read
	if write {
		acc = tlb.Write
	}
	if !tlb.VirtAddr(addr).Canonical() || addr >= 1<<47 {
		return nil, -EFAULT
	}
	for try := 0; try < 3; try++ {
		r, code := tlb.Walk(m.mem, mm.pgdCR3(), tlb.VirtAddr(addr), acc)
		if code == 0 {
			return m.mem.Frame(r.PFN), 0
		}
		v.mmapReadLock(mm)
		vma := mm.findVMA(addr)
		if vma == nil || (write && vma.flags&VM_WRITE == 0) || (!write && vma.flags&(VM_READ|VM_WRITE) == 0) {
			v.mmapReadUnlock(mm)
			return nil, -EFAULT
		}
		flags := faultFlagDefault
		if write {
			flags |= faultFlagWrite
		}
		ret := v.handleMMFault(vma, addr, flags)
		if ret&vmFaultRetry == 0 {
			v.mmapReadUnlock(mm)
		}
		if ret&vmFaultError != 0 || ret&vmFaultRetry != 0 {
			return nil, -EFAULT
		}
	}
	return nil, -EFAULT
}

func (mm *MM) pgdCR3() uint64 { return uint64(mm.pgd.Addr()) }

// copyFromUser copies len(b) bytes from user address addr.
func (v *VCPU) copyFromUser(b []byte, addr uint64) int64 {
	for len(b) > 0 {
		f, err := v.userPage(addr, false)
		if err != 0 {
			return err
		}
		n := copy(b, f[addr&0xfff:])
		b, addr = b[n:], addr+uint64(n)
	}
	return 0
}

// copyToUser copies b to user address addr.
func (v *VCPU) copyToUser(addr uint64, b []byte) int64 {
	for len(b) > 0 {
		f, err := v.userPage(addr, true)
		if err != 0 {
			return err
		}
		n := copy(f[addr&0xfff:], b)
		b, addr = b[n:], addr+uint64(n)
	}
	return 0
}

func (v *VCPU) getUser32(addr uint64) (uint32, int64) {
	var b [4]byte
	if err := v.copyFromUser(b[:], addr); err != 0 {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), 0
}

func (v *VCPU) putUser32(addr uint64, x uint32) int64 {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], x)
	return v.copyToUser(addr, b[:])
}

func (v *VCPU) getUser64(addr uint64) (uint64, int64) {
	var b [8]byte
	if err := v.copyFromUser(b[:], addr); err != 0 {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), 0
}

func (v *VCPU) putUser64(addr uint64, x uint64) int64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], x)
	return v.copyToUser(addr, b[:])
}

// strncpyFromUser reads a NUL-terminated string of at most max bytes.
func (v *VCPU) strncpyFromUser(addr uint64, max int) (string, int64) {
	var out []byte
	for len(out) < max {
		var b [1]byte
		if err := v.copyFromUser(b[:], addr); err != 0 {
			return "", err
		}
		if b[0] == 0 {
			return string(out), 0
		}
		out = append(out, b[0])
		addr++
	}
	return "", -ENAMETOOLONG
}
