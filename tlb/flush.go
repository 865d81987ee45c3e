package tlb

// Invalidation exactly as SDM Vol. 3A 4.10.4.1 and the INVLPG / INVPCID
// reference pages (Vol. 2) require, and no more: the architecture allows a
// processor to invalidate more, but the model's users hunt stale-TLB bugs,
// which over-flushing would hide (SDM Vol. 3A 4.10.4.1 on #PF, INVLPG and MOV
// to CR3, the MOV to CR4 rules of the same section, and the INVLPG/INVPCID
// reference pages).

// invalidatePage drops the selected TLB entries for the page holding va, in
// every page size (one INVLPG suffices for a large page, SDM 4.10.4.1).
func (m *MMU) invalidatePage(va VirtAddr, s selector) {
	k := 0
	for _, a := range m.tlbs {
		k += a.invalidateVA(va, s)
	}
	m.Stats.EntriesInvalidated += uint64(k)
}

// invalidateAll drops the selected TLB entries of every structure.
func (m *MMU) invalidateAll(s selector) {
	k := 0
	for _, a := range m.tlbs {
		k += a.invalidate(s)
	}
	m.Stats.EntriesInvalidated += uint64(k)
}

// invalidatePSC drops the selected paging-structure-cache entries (any
// linear address).
func (m *MMU) invalidatePSC(s selector) {
	k := 0
	for i := range m.psc {
		k += m.psc[i].invalidate(s)
	}
	m.Stats.PSCEntriesInvalidated += uint64(k)
}

// Invlpg executes INVLPG va (SDM 4.10.4.1; INVLPG reference page): it drops
// the TLB entries for va's page associated with the current PCID, the global
// entries for that page (whatever PCID they were made under), and every
// paging-structure-cache entry of the current PCID, for any address. Entries
// of other PCIDs survive. A non-canonical operand is a no-op. It returns the
// instruction's cycles.
func (m *MMU) Invlpg(va VirtAddr) uint32 {
	m.Settle()
	m.Stats.Invlpg++
	if va.Canonical() {
		m.invalidatePage(va, pcidOrGlobal(m.pcid))
		m.invalidatePSC(pcidOnly(m.pcid))
	}
	return m.cfg.Costs.Invlpg
}

// Invpcid executes INVPCID of type typ with descriptor (pcid, va) (SDM Vol. 2
// INVPCID; SDM 4.10.4.1):
//
//   - 0 (InvpcidAddr): the non-global TLB entries of pcid for va's page, and
//     the paging-structure-cache entries of pcid;
//   - 1 (InvpcidSingle): all non-global TLB entries of pcid and its
//     paging-structure-cache entries;
//   - 2 (InvpcidAll): everything, global entries included, all PCIDs;
//   - 3 (InvpcidAllNonGlob): all non-global TLB entries of every PCID and
//     all paging-structure-cache entries; global entries survive.
//
// Operands that raise #GP on hardware (an unknown type, a PCID above 4095,
// a non-canonical type-0 address, a PCID other than 0 for types 0/1 with
// CR4.PCIDE=0) are no-ops here; the caller decodes and checks them. It
// returns the instruction's cycles.
func (m *MMU) Invpcid(typ int, pcid uint16, va VirtAddr) uint32 {
	m.Settle()
	m.Stats.Invpcid++
	if typ >= 0 && typ < len(m.Stats.InvpcidByType) {
		m.Stats.InvpcidByType[typ]++
	}
	valid := uint64(pcid) <= tagPCIDMask && (m.pcide || pcid == 0)
	switch typ {
	case InvpcidAddr:
		if valid && va.Canonical() {
			m.invalidatePage(va, pcidOnly(pcid))
			m.invalidatePSC(pcidOnly(pcid))
		}
		return m.cfg.Costs.Invpcid
	case InvpcidSingle:
		if valid {
			m.invalidateAll(pcidOnly(pcid))
			m.invalidatePSC(pcidOnly(pcid))
		}
	case InvpcidAll:
		m.invalidateAll(selEverything)
		m.invalidatePSC(selEverything)
		return m.cfg.Costs.GlobalFl
	case InvpcidAllNonGlob:
		m.invalidateAll(selNonGlobal)
		m.invalidatePSC(selEverything)
	}
	return m.cfg.Costs.InvpcidCtx
}

// WriteCR3 executes MOV to CR3 with source v (SDM 4.10.4.1):
//
//   - CR4.PCIDE=0: it drops the non-global TLB entries of PCID 000H and that
//     PCID's paging-structure-cache entries;
//   - CR4.PCIDE=1, bit 63 clear: the same for the PCID in bits 11:0 of v;
//   - CR4.PCIDE=1, bit 63 set: it invalidates nothing.
//
// Global entries always survive. Bit 63 is not retained in CR3. It returns
// the instruction's cycles.
func (m *MMU) WriteCR3(v uint64) uint32 {
	m.Settle()
	m.Stats.CR3Writes++
	m.bumpAll() // the PCID may change
	noflush := m.pcide && v&CR3NoFlush != 0
	v &^= CR3NoFlush
	m.cr3 = v
	if m.pcide {
		m.pcid = uint16(v & CR3PCIDMask)
	} else {
		m.pcid = 0
	}
	if noflush {
		m.Stats.CR3NoFlush++
		return m.cfg.Costs.CR3NoFlush
	}
	m.invalidateAll(pcidOnly(m.pcid))
	m.invalidatePSC(pcidOnly(m.pcid))
	return m.cfg.Costs.CR3Write
}

// SetCR4 executes a MOV to CR4 that leaves CR4.PGE and CR4.PCIDE as given.
// Changing PGE, or clearing PCIDE, invalidates every TLB entry (global ones
// included) and every paging-structure-cache entry, for all PCIDs (SDM
// 4.10.4.1). Setting PCIDE invalidates nothing; the current PCID becomes
// CR3 bits 11:0 (hardware requires them to be 0, else #GP: the caller's
// check). It returns the instruction's cycles.
func (m *MMU) SetCR4(pge, pcide bool) uint32 {
	m.Settle()
	flush := pge != m.pge || (m.pcide && !pcide)
	m.bumpAll() // the PCID may change
	m.pge, m.pcide = pge, pcide
	if pcide {
		m.pcid = uint16(m.cr3 & CR3PCIDMask)
	} else {
		m.pcid = 0
	}
	if !flush {
		return m.cfg.Costs.CR4Write
	}
	m.Stats.CR4Flushes++
	m.invalidateAll(selEverything)
	m.invalidatePSC(selEverything)
	return m.cfg.Costs.CR4Flush
}

// CR4 returns CR4.PGE and CR4.PCIDE.
func (m *MMU) CR4() (pge, pcide bool) { return m.pge, m.pcide }
