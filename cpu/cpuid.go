package cpu

import (
	"encoding/binary"

	"github.com/tlbemu/emu/tlb"
)

// The CPUID model (SDM Vol. 2A CPUID). The vCPU reports a fixed
// GenuineIntel processor, family 6 model 0x55 stepping 4 (Skylake-SP,
// matching tlb.DefaultConfig), and exactly the features the interpreter
// implements, so libraries that dispatch on CPUID (glibc's ifuncs,
// init_cpu_features in sysdeps/x86/cpu-features.c) pick code it can run:
//
//   - leaf 1 EDX: FPU TSC CX8 CMOV CLFSH MMX FXSR SSE SSE2
//   - leaf 1 ECX: SSE3 SSSE3 CX16 SSE4.1 SSE4.2 MOVBE POPCNT; no XSAVE,
//     OSXSAVE, AVX, FMA, AES, PCLMULQDQ, F16C, RDRAND (XGETBV is #UD)
//   - leaf 7 EBX: ERMS (REP MOVSB/STOSB are implemented; the bit is a
//     performance hint); no BMI1/2, AVX2, FSGSBASE (RDFSBASE is not
//     implemented), ADX
//   - extended leaf 1: LAHF/SAHF, LZCNT, SYSCALL, NX, RDTSCP, LM
//   - leaves 2 and 4: the cache hierarchy (L1d/L1i 32 KiB 8-way, L2 1 MiB
//     16-way, L3 32 MiB 16-way, 64-byte lines), which glibc's
//     init_cacheinfo reads to size memcpy's thresholds.
//
// Leaves above the maximum return the highest basic leaf, as Intel
// processors do.
const (
	cpuidMaxBasic    = 0x7
	cpuidMaxExtended = 0x80000008
	cpuidSignature   = 0x00050654 // family 6, model 0x55, stepping 4

	cpuid1EDX = 1<<0 | 1<<4 | 1<<8 | 1<<15 | 1<<19 | 1<<23 | 1<<24 | 1<<25 | 1<<26 // FPU TSC CX8 CMOV CLFSH MMX FXSR SSE SSE2
	cpuid1ECX = 1<<0 | 1<<9 | 1<<13 | 1<<19 | 1<<20 | 1<<22 | 1<<23                // SSE3 SSSE3 CX16 SSE4.1 SSE4.2 MOVBE POPCNT
	cpuid7EBX = 1 << 9                                                             // ERMS

	cpuidExt1ECX = 1<<0 | 1<<5                   // LAHF/SAHF, LZCNT (ABM)
	cpuidExt1EDX = 1<<11 | 1<<20 | 1<<27 | 1<<29 // SYSCALL, NX, RDTSCP, LM
)

// HWCAP is CPUID.1:EDX, the value Linux passes as AT_HWCAP on x86
// (arch/x86/include/asm/elf.h ELF_HWCAP at v5.10).
const HWCAP = cpuid1EDX

var cpuidBrand = [48]byte([]byte("emu x86-64 vCPU (Skylake-SP model)\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))

// cpuidCache is one leaf-4 subleaf: type (1 data, 2 instruction, 3
// unified), level, ways, sets; 64-byte lines, one partition.
type cpuidCache struct{ typ, level, ways, sets uint32 }

var cpuidCaches = [...]cpuidCache{
	{1, 1, 8, 64},     // L1d 32 KiB
	{2, 1, 8, 64},     // L1i 32 KiB
	{3, 2, 16, 1024},  // L2 1 MiB
	{3, 3, 16, 32768}, // L3 32 MiB
}

func (c *CPU) cpuid() {
	leaf := uint32(c.Regs.GPR[RAX])
	sub := uint32(c.Regs.GPR[RCX])
	if (leaf < 0x80000000 && leaf > cpuidMaxBasic) || leaf > cpuidMaxExtended {
		leaf = cpuidMaxBasic
	}
	var a, b, cx, d uint32
	switch leaf {
	case 0:
		a, b, d, cx = cpuidMaxBasic, 0x756e6547, 0x49656e69, 0x6c65746e // "Genu" "ineI" "ntel"
	case 1:
		a = cpuidSignature
		b = uint32(c.ID&0xFF)<<24 | 1<<16 | 8<<8 // initial APIC ID, 1 logical CPU, CLFLUSH 64 bytes
		cx, d = cpuid1ECX, cpuid1EDX
	case 2:
		a = 0xFF01 // one iteration; descriptor 0xFF: "use leaf 4"
	case 4:
		if sub < uint32(len(cpuidCaches)) {
			k := cpuidCaches[sub]
			a = k.typ | k.level<<5 | 1<<8 // self-initialising; one logical processor shares it
			b = 63 | (k.ways-1)<<22       // 64-byte lines, one partition
			cx = k.sets - 1
		}
	case 7:
		if sub == 0 {
			b = cpuid7EBX
		}
	case 0x80000000:
		a = cpuidMaxExtended
	case 0x80000001:
		cx, d = cpuidExt1ECX, cpuidExt1EDX
	case 0x80000002, 0x80000003, 0x80000004:
		p := cpuidBrand[(leaf-0x80000002)*16:]
		a = binary.LittleEndian.Uint32(p[0:])
		b = binary.LittleEndian.Uint32(p[4:])
		cx = binary.LittleEndian.Uint32(p[8:])
		d = binary.LittleEndian.Uint32(p[12:])
	case 0x80000008:
		a = uint32(tlb.MaxPhysAddrBits) | 48<<8 // physical and linear address bits
		if n := c.MMU.Config().InvlpgbCountMax; n > 0 {
			// AMD APM Vol. 3 CPUID Fn8000_0008: EBX[3] INVLPGB/TLBSYNC,
			// EDX[15:0] the INVLPGB page count limit minus one.
			b, d = 1<<3, uint32(n-1)&0xffff
		}
	}
	c.setReg(RAX, 4, uint64(a))
	c.setReg(RBX, 4, uint64(b))
	c.setReg(RCX, 4, uint64(cx))
	c.setReg(RDX, 4, uint64(d))
}
