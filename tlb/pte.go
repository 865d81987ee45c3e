package tlb

// Page-table entry bits of the x86-64 4-level paging format (Intel SDM Vol. 3A
// 4.5, tables 4-14 … 4-19). The same layout is used at every level; PS is only
// meaningful in PDPTEs and PDEs.
const (
	PteP     uint64 = 1 << 0 // present
	PteRW    uint64 = 1 << 1 // writable
	PteUS    uint64 = 1 << 2 // user accessible
	PtePWT   uint64 = 1 << 3 // page-level write-through
	PtePCD   uint64 = 1 << 4 // page-level cache disable
	PteA     uint64 = 1 << 5 // accessed, set by the walker (SDM 4.8)
	PteD     uint64 = 1 << 6 // dirty (leaf only), set by the walker on a write (SDM 4.8)
	PtePS    uint64 = 1 << 7 // page size: 1 GiB in a PDPTE, 2 MiB in a PDE
	PteG     uint64 = 1 << 8 // global (leaf only, when CR4.PGE=1)
	PteSoft1 uint64 = 1 << 9 // software bits 9-11 (ignored by hardware)
	PteSoft2 uint64 = 1 << 10
	PteSoft3 uint64 = 1 << 11
	PteNX    uint64 = 1 << 63 // execute disable (IA32_EFER.NXE=1)

	// Linux's software bits on x86-64 (arch/x86/include/asm/pgtable_types.h, v5.10).
	PteSpecial          = PteSoft1 // _PAGE_SPECIAL (bit 9)
	PteUffdWP    uint64 = 1 << 10  // _PAGE_UFFD_WP (bit 10, _PAGE_BIT_SOFTW2)
	PteSoftDirty uint64 = 1 << 11  // _PAGE_SOFT_DIRTY (bit 11, _PAGE_BIT_SOFTW3)

	// PteAddrMask selects the physical-address bits 51:12 of an entry.
	PteAddrMask uint64 = 0x000f_ffff_ffff_f000
	// MaxPhysAddrBits is MAXPHYADDR of the modelled CPU (CPUID 80000008H);
	// address bits at or above it in an entry are reserved (SDM 4.5, table 4-20).
	MaxPhysAddrBits = 46
)

// CR3 fields with CR4.PCIDE=1 (SDM 4.10.4.1, 4.5).
const (
	CR3PCIDMask uint64 = 0xfff   // bits 11:0: the current PCID
	CR3NoFlush  uint64 = 1 << 63 // on a MOV to CR3: do not invalidate the new PCID's entries
)

// #PF error-code bits (SDM Vol. 3A 4.7, figure 4-12).
const (
	PFErrPresent uint32 = 1 << 0 // 0: non-present page; 1: protection violation
	PFErrWrite   uint32 = 1 << 1 // the access was a write
	PFErrUser    uint32 = 1 << 2 // the access was made in user mode (CPL 3)
	PFErrRsvd    uint32 = 1 << 3 // a reserved bit was set in a paging-structure entry
	PFErrInstr   uint32 = 1 << 4 // the access was an instruction fetch (reported because IA32_EFER.NXE=1)
)

// FaultGP is returned by Walk and (*MMU).Translate instead of a #PF error code
// when the linear address is not canonical: the access raises #GP(0), not #PF
// (SDM Vol. 1 3.3.7.1, Vol. 3A 6.15 "#GP"). Bit 31 is never set in a real #PF
// error code (SDM Vol. 3A 4.7, figure 4-12: bits 31:16 other than 15 are
// reserved), so callers can test pfErr == FaultGP before treating pfErr as a
// #PF error code. No TLB entry is invalidated for it.
const FaultGP uint32 = 1 << 31

// INVPCID types (SDM Vol. 2 INVPCID; Linux arch/x86/include/asm/invpcid.h).
const (
	InvpcidAddr       = 0 // individual address: non-global entries for (PCID, address)
	InvpcidSingle     = 1 // single context: all non-global entries of a PCID
	InvpcidAll        = 2 // all contexts, including global entries
	InvpcidAllNonGlob = 3 // all contexts except global entries
)

// Page sizes.
const (
	Size4K = 0
	Size2M = 1
	Size1G = 2
)

// vaMask selects the 48 translated bits of a canonical linear address
// (4-level paging, SDM 4.5).
const vaMask uint64 = 1<<48 - 1

// PageShiftOf returns the log2 of the size of a page of class sz.
func PageShiftOf(sz uint8) uint { return 12 + 9*uint(sz) }

// VirtAddr is a guest-linear (virtual) address.
type VirtAddr uint64

// Canonical reports whether v is canonical for 4-level paging (bits 63:47 all
// equal to bit 47, SDM Vol. 1 3.3.7.1).
func (v VirtAddr) Canonical() bool {
	top := int64(v) >> 47
	return top == 0 || top == -1
}

// VPN returns the page number of v for a page of class sz (bits 47:12, 47:21
// or 47:30).
func (v VirtAddr) VPN(sz uint8) uint64 { return (uint64(v) & vaMask) >> PageShiftOf(sz) }

// PageBase returns the first address of the page of class sz holding v.
func (v VirtAddr) PageBase(sz uint8) VirtAddr { return v &^ VirtAddr(uint64(1)<<PageShiftOf(sz)-1) }

// Index returns the page-table index of v at level (4 = PML4 … 1 = PT).
func (v VirtAddr) Index(level int) uint64 { return (uint64(v) >> (12 + 9*uint(level-1))) & 511 }

// PTEPFN returns the physical frame number an entry points to.
func PTEPFN(e uint64) uint64 { return (e & PteAddrMask) >> 12 }
