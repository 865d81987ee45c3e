package cpu

import "math/bits"

// RFLAGS bits (SDM Vol. 1 3.4.3).
const (
	FlagCF   uint64 = 1 << 0
	flagRsv1 uint64 = 1 << 1 // always 1
	FlagPF   uint64 = 1 << 2
	FlagAF   uint64 = 1 << 4
	FlagZF   uint64 = 1 << 6
	FlagSF   uint64 = 1 << 7
	FlagTF   uint64 = 1 << 8
	FlagIF   uint64 = 1 << 9
	FlagDF   uint64 = 1 << 10
	FlagOF   uint64 = 1 << 11
	FlagNT   uint64 = 1 << 14
	FlagRF   uint64 = 1 << 16
	FlagAC   uint64 = 1 << 18
	FlagID   uint64 = 1 << 21

	// FlagsArith are the six status flags the lazy evaluator computes.
	FlagsArith = FlagCF | FlagPF | FlagAF | FlagZF | FlagSF | FlagOF
)

// popfMask are the RFLAGS bits POPFQ may change at CPL 3 with IOPL 0 (SDM
// Vol. 2 POPF: IF and IOPL are left unchanged, VM/VIF/VIP cleared, RF
// cleared). TF is not modelled (no single-step trap), so it is not writable.
const popfMask = FlagsArith | FlagDF | FlagNT | FlagAC | FlagID

// Lazy flag producers. After an instruction that sets the status flags from
// an arithmetic result, the CPU records (kind, size, a, b, result) and
// computes CF, PF, AF, ZF, SF and OF only when something reads them.
const (
	lazyNone  uint8 = iota // rflags holds the status flags
	lazyAdd                // a + b + fcin: CF = carry out
	lazySub                // a - b - fcin: CF = borrow
	lazyInc                // a + 1: CF = fcin (preserved)
	lazyDec                // a - 1: CF = fcin (preserved)
	lazyLogic              // CF = OF = AF = 0
	lazyShift              // SHL/SHR/SAR: CF = cin bit 0, OF = cin bit 1, AF = 0
	lazyMul                // IMUL/MUL: CF = OF = cin bit 0 (= bit 1), AF = ZF = 0; SF, PF from res
)

// flagState is the lazy status-flag state. It is owned by the vCPU goroutine.
type flagState struct {
	rflags uint64 // RFLAGS; bits in FlagsArith are stale while kind != lazyNone
	kind   uint8
	sign   uint64 // sign bit of the operand size
	a, b   uint64 // operands, masked to the operand size
	res    uint64 // result, masked to the operand size
	cin    uint64 // carry in (ADC/SBB) or preserved CF (INC/DEC): 0 or 1; CF | OF<<1 (lazyShift, lazyMul)
}

// signBit returns the sign bit of an operand of size bytes.
func signBit(size uint8) uint64 { return signBits[size] }

// sizeMask returns the mask of an operand of size bytes.
func sizeMask(size uint8) uint64 { return sizeMasks[size] }

// signBits and sizeMasks hold signBit and sizeMask for every size, by
// signBitOf and sizeMaskOf: indexed by a uint8, a load with no bounds check
// replaces a variable shift and its overflow handling on the hot path.
var signBits, sizeMasks = func() (sb, sm [256]uint64) {
	for i := range sb {
		sb[i], sm[i] = signBitOf(uint8(i)), sizeMaskOf(uint8(i))
	}
	return
}()

func signBitOf(size uint8) uint64 { return 1 << (uint(size)*8 - 1) }

func sizeMaskOf(size uint8) uint64 {
	if size >= 8 {
		return ^uint64(0)
	}
	return 1<<(uint(size)*8) - 1
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// setLazy records an arithmetic result. a, b and res must be masked to size.
func (f *flagState) setLazy(kind, size uint8, a, b, res, cin uint64) {
	f.kind, f.sign, f.a, f.b, f.res, f.cin = kind, signBit(size), a, b, res, cin
}

func (f *flagState) cf() bool {
	switch f.kind {
	case lazyNone:
		return f.rflags&FlagCF != 0
	case lazyAdd:
		return f.res < f.a || (f.cin != 0 && f.res == f.a)
	case lazySub:
		return f.a < f.b || (f.cin != 0 && f.a == f.b)
	case lazyInc, lazyDec:
		return f.cin != 0
	case lazyShift, lazyMul:
		return f.cin&1 != 0
	}
	return false
}

func (f *flagState) zf() bool {
	switch f.kind {
	case lazyNone:
		return f.rflags&FlagZF != 0
	case lazyMul:
		return false
	}
	return f.res == 0
}

func (f *flagState) sf() bool {
	if f.kind == lazyNone {
		return f.rflags&FlagSF != 0
	}
	return f.res&f.sign != 0
}

func (f *flagState) of() bool {
	switch f.kind {
	case lazyNone:
		return f.rflags&FlagOF != 0
	case lazyAdd, lazyInc:
		return (f.a^f.res)&(f.b^f.res)&f.sign != 0
	case lazySub, lazyDec:
		return (f.a^f.b)&(f.a^f.res)&f.sign != 0
	case lazyShift, lazyMul:
		return f.cin&2 != 0
	}
	return false
}

func (f *flagState) pf() bool {
	if f.kind == lazyNone {
		return f.rflags&FlagPF != 0
	}
	return bits.OnesCount8(uint8(f.res))&1 == 0
}

func (f *flagState) af() bool {
	switch f.kind {
	case lazyNone:
		return f.rflags&FlagAF != 0
	case lazyLogic, lazyShift, lazyMul:
		return false
	}
	return (f.a^f.b^f.res)&0x10 != 0
}

// value returns the materialised RFLAGS.
func (f *flagState) value() uint64 {
	if f.kind == lazyNone {
		return f.rflags | flagRsv1
	}
	v := f.rflags&^FlagsArith | flagRsv1
	if f.cf() {
		v |= FlagCF
	}
	if f.pf() {
		v |= FlagPF
	}
	if f.af() {
		v |= FlagAF
	}
	if f.zf() {
		v |= FlagZF
	}
	if f.sf() {
		v |= FlagSF
	}
	if f.of() {
		v |= FlagOF
	}
	return v
}

// materialise folds the lazy state into rflags.
func (f *flagState) materialise() {
	if f.kind != lazyNone {
		f.rflags = f.value()
		f.kind = lazyNone
	}
}

// setArith replaces the status flags in mask by the bits of v.
func (f *flagState) setArith(mask, v uint64) {
	f.materialise()
	f.rflags = f.rflags&^mask | v&mask
}

// szp returns SF, ZF and PF for a result of size bytes.
func szp(res uint64, size uint8) uint64 {
	res &= sizeMask(size)
	var v uint64
	if res == 0 {
		v |= FlagZF
	}
	if res&signBit(size) != 0 {
		v |= FlagSF
	}
	if bits.OnesCount8(uint8(res))&1 == 0 {
		v |= FlagPF
	}
	return v
}

// cond evaluates condition code cc (SDM Vol. 1 appendix B).
func (f *flagState) cond(cc uint8) bool {
	var t bool
	if f.kind == lazySub && f.cin == 0 {
		// CMP/SUB fast path: compare the operands directly.
		switch cc >> 1 {
		case ccB >> 1:
			t = f.a < f.b
		case ccE >> 1:
			t = f.a == f.b
		case ccBE >> 1:
			t = f.a <= f.b
		case ccL >> 1:
			t = int64(f.a^f.sign)-int64(f.sign) < int64(f.b^f.sign)-int64(f.sign)
		case ccLE >> 1:
			t = int64(f.a^f.sign)-int64(f.sign) <= int64(f.b^f.sign)-int64(f.sign)
		default:
			return f.condSlow(cc)
		}
		return t != (cc&1 != 0)
	}
	return f.condSlow(cc)
}

func (f *flagState) condSlow(cc uint8) bool {
	var t bool
	switch cc >> 1 {
	case ccO >> 1:
		t = f.of()
	case ccB >> 1:
		t = f.cf()
	case ccE >> 1:
		t = f.zf()
	case ccBE >> 1:
		t = f.cf() || f.zf()
	case ccS >> 1:
		t = f.sf()
	case ccP >> 1:
		t = f.pf()
	case ccL >> 1:
		t = f.sf() != f.of()
	default: // ccLE
		t = f.zf() || f.sf() != f.of()
	}
	return t != (cc&1 != 0)
}
