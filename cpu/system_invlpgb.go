package cpu

// INVLPGB (0F 01 FE) and TLBSYNC (0F 01 FF), AMD APM Vol. 3, which x86asm
// v0.32 does not decode. Both are privileged: at CPL 3 they raise #GP(0)
// where the processor implements them (CPUID Fn8000_0008_EBX[3], the
// tlb.Config's InvlpgbCountMax > 0: the Zen presets) and #UD elsewhere. The
// kernel model, which runs at CPL 0 in Go, issues them through tlb.Fabric.

// opBcastInval is INVLPGB (sub 0) or TLBSYNC (sub 1). famSystem + 0xF0
// keeps clear of the family's other opcodes.
const opBcastInval = famSystem + 0xF0

func init() { defOp(opBcastInval, "invlpgb/tlbsync", execBcastInval) }

// bcastInval decodes INVLPGB or TLBSYNC at the start of b.
func bcastInval(b []byte) (uop, bool) {
	if len(b) < 3 || b[0] != 0x0F || b[1] != 0x01 || b[2] != 0xFE && b[2] != 0xFF {
		return uop{}, false
	}
	return uop{op: opBcastInval, sub: b[2] - 0xFE, len: 3, base: regNone, index: regNone}, true
}

func execBcastInval(c *CPU, u *uop) stepResult {
	if !c.MMU.HasInvlpgb() {
		name := "invlpgb"
		if u.sub == 1 {
			name = "tlbsync"
		}
		c.exit = Exit{Kind: ExitUD, Err: &UnimplementedError{RIP: c.Regs.RIP, Bytes: []byte{0x0F, 0x01, 0xFE + u.sub}, Disasm: name, Undefined: true}}
		return stepFault
	}
	c.gp(0)
	return stepFault
}
