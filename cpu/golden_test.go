package cpu

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The golden ISA tables in testdata/*.txt have one case per line:
//
//	hex bytes | initial state | expected state    # comment
//
// The bytes are written at RIP (default testCode, in two code pages filled
// with INT3), so execution runs until the INT3 after the last instruction
// (or a branch target's INT3) and exits with ExitBreakpoint. State is a list
// of space-separated key=value tokens:
//
//	rax … r15, rip  register (rip in the expected state is the address of
//	                the INT3 for exit=bp, i.e. Regs.RIP-1)
//	fs, gs          FSBase, GSBase (initial only)
//	f=CPAZSOD       flags that are set (others clear)
//	fm=CZ           expected only: compare only these flags (default CPAZSOD)
//	m8@A, m16@A, m32@A, m64@A = V   memory at virtual address A
//	exit=bp|syscall|pf|gp|ud|de|deadline   expected exit (default bp)
//	addr=A err=E    expected Exit.Addr and Exit.ErrCode
//	n=N             expected retired instructions (including the INT3)
//	dl=N            initial Deadline (default: none)
//	unmap=A         initial: unmap the page at A first
//
// Registers, flags and memory not named in the expected state must equal
// their initial values. Values are Go integer literals (0x…, negative ok).

var gprNames = [16]string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}

const flagLetters = "CPAZSOD"

var flagBits = map[byte]uint64{'C': FlagCF, 'P': FlagPF, 'A': FlagAF, 'Z': FlagZF, 'S': FlagSF, 'O': FlagOF, 'D': FlagDF}

var exitNames = map[string]ExitKind{"bp": ExitBreakpoint, "syscall": ExitSyscall, "pf": ExitPageFault,
	"gp": ExitGP, "ud": ExitUD, "de": ExitDE, "deadline": ExitDeadline}

type memCheck struct {
	addr uint64
	size int
	val  uint64
}

type goldenCase struct {
	where    string
	code     []byte
	init     map[string]uint64
	initMem  []memCheck
	want     map[string]uint64
	wantMem  []memCheck
	flags    uint64 // initial arithmetic flags + DF
	hasWantF bool
	wantF    uint64
	fmask    uint64
}

func parseNum(s string) (uint64, error) {
	if strings.HasPrefix(s, "-") {
		v, err := strconv.ParseInt(s, 0, 64)
		return uint64(v), err
	}
	return strconv.ParseUint(s, 0, 64)
}

func parseFlags(s string) (uint64, error) {
	var v uint64
	for i := 0; i < len(s); i++ {
		b, ok := flagBits[s[i]]
		if !ok {
			return 0, fmt.Errorf("bad flag letter %q", s[i])
		}
		v |= b
	}
	return v, nil
}

func parseState(s string, vals map[string]uint64, mem *[]memCheck) (flags uint64, hasF bool, fmask uint64, err error) {
	fmask, _ = parseFlags(flagLetters)
	for _, tok := range strings.Fields(s) {
		k, v, ok := strings.Cut(tok, "=")
		if !ok {
			return 0, false, 0, fmt.Errorf("token %q: want key=value", tok)
		}
		switch {
		case k == "f":
			if flags, err = parseFlags(v); err != nil {
				return
			}
			hasF = true
		case k == "fm":
			if fmask, err = parseFlags(v); err != nil {
				return
			}
		case k == "exit":
			if _, ok := exitNames[v]; !ok {
				return 0, false, 0, fmt.Errorf("unknown exit %q", v)
			}
			vals["exit="+v] = 1
		case strings.HasPrefix(k, "m") && strings.Contains(k, "@"):
			sz, addr, _ := strings.Cut(k[1:], "@")
			n, err1 := strconv.Atoi(sz)
			a, err2 := parseNum(addr)
			x, err3 := parseNum(v)
			if err1 != nil || err2 != nil || err3 != nil || (n != 8 && n != 16 && n != 32 && n != 64) {
				return 0, false, 0, fmt.Errorf("bad memory token %q", tok)
			}
			*mem = append(*mem, memCheck{a, n / 8, x})
		default:
			x, err := parseNum(v)
			if err != nil {
				return 0, false, 0, fmt.Errorf("token %q: %v", tok, err)
			}
			vals[k] = x
		}
	}
	return
}

func loadGolden(t testing.TB, path string) []goldenCase {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []goldenCase
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.Index(text, "#"); i >= 0 {
			text = text[:i]
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		where := fmt.Sprintf("%s:%d", filepath.Base(path), line)
		parts := strings.Split(text, "|")
		if len(parts) != 3 {
			t.Fatalf("%s: want 3 |-separated fields", where)
		}
		code, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(parts[0]), " ", ""))
		if err != nil || len(code) == 0 {
			t.Fatalf("%s: bad bytes: %v", where, err)
		}
		gc := goldenCase{where: where, code: code, init: map[string]uint64{}, want: map[string]uint64{}}
		if gc.flags, _, _, err = parseState(parts[1], gc.init, &gc.initMem); err != nil {
			t.Fatalf("%s: initial state: %v", where, err)
		}
		if gc.wantF, gc.hasWantF, gc.fmask, err = parseState(parts[2], gc.want, &gc.wantMem); err != nil {
			t.Fatalf("%s: expected state: %v", where, err)
		}
		cases = append(cases, gc)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	total := 0
	for _, path := range files {
		for _, gc := range loadGolden(t, path) {
			total++
			runGolden(t, gc)
		}
	}
	t.Logf("%d golden cases", total)
}

func memValue(m *machine, mc memCheck) uint64 {
	b := m.read(mc.addr, mc.size)
	var v uint64
	for i := mc.size - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func runGolden(t *testing.T, gc goldenCase) {
	t.Helper()
	m := newMachine(t)
	m.standardLayout()
	c := m.cpu
	rip := uint64(testCode)
	if v, ok := gc.init["rip"]; ok {
		rip = v
	}
	if v, ok := gc.init["unmap"]; ok {
		m.unmap(v)
	}
	m.write(rip, gc.code)
	c.Regs.RIP = rip
	for i, name := range gprNames {
		if v, ok := gc.init[name]; ok {
			c.Regs.GPR[i] = v
		}
	}
	c.Regs.FSBase, c.Regs.GSBase = gc.init["fs"], gc.init["gs"]
	c.Regs.RFLAGS = 0x202 | gc.flags
	if v, ok := gc.init["dl"]; ok {
		c.Deadline = v
	}
	for _, mc := range gc.initMem {
		var b [8]byte
		for i := range b {
			b[i] = byte(mc.val >> (8 * i))
		}
		m.write(mc.addr, b[:mc.size])
	}
	before := c.Regs
	beforeMem := make([]uint64, len(gc.wantMem))
	for i, mc := range gc.wantMem {
		beforeMem[i] = memValue(m, mc)
	}

	ex := c.Run()
	prefix := fmt.Sprintf("%s [% x]", gc.where, gc.code)

	wantExit := ExitBreakpoint
	for name, k := range exitNames {
		if gc.want["exit="+name] == 1 {
			wantExit = k
		}
	}
	if ex.Kind != wantExit {
		t.Errorf("%s: exit got %v (err %v, addr %#x) want %v", prefix, ex.Kind, ex.Err, ex.Addr, wantExit)
		return
	}
	if v, ok := gc.want["addr"]; ok && ex.Addr != v {
		t.Errorf("%s: Exit.Addr got %#x want %#x", prefix, ex.Addr, v)
	}
	if v, ok := gc.want["err"]; ok && uint64(ex.ErrCode) != v {
		t.Errorf("%s: Exit.ErrCode got %#x want %#x", prefix, ex.ErrCode, v)
	}
	if v, ok := gc.want["n"]; ok && c.Instructions != v {
		t.Errorf("%s: instructions got %d want %d", prefix, c.Instructions, v)
	}

	gotRIP := c.Regs.RIP
	wantRIP, ok := gc.want["rip"]
	switch {
	case wantExit == ExitBreakpoint:
		gotRIP--
		if !ok {
			wantRIP = rip + uint64(len(gc.code))
		}
	case !ok && wantExit == ExitSyscall:
		wantRIP = rip + uint64(len(gc.code)) // the SYSCALL is the last instruction
	case !ok:
		wantRIP = rip // faults leave RIP at the instruction
	}
	if gotRIP != wantRIP {
		t.Errorf("%s: rip got %#x want %#x", prefix, gotRIP, wantRIP)
	}
	for i, name := range gprNames {
		want, ok := gc.want[name]
		if !ok {
			want = before.GPR[i]
			if wantExit == ExitSyscall && (i == RCX || i == R11) {
				continue
			}
		}
		if got := c.Regs.GPR[i]; got != want {
			t.Errorf("%s: %s got %#x want %#x", prefix, name, got, want)
		}
	}
	fm := gc.fmask
	wantF := gc.wantF
	if !gc.hasWantF {
		wantF = before.RFLAGS
	}
	if got := c.Regs.RFLAGS; got&fm != wantF&fm {
		t.Errorf("%s: flags got %s want %s", prefix, flagString(got&fm), flagString(wantF&fm))
	}
	if got := c.Regs.RFLAGS; got&flagRsv1 == 0 {
		t.Errorf("%s: RFLAGS bit 1 clear: %#x", prefix, got)
	}
	for i, mc := range gc.wantMem {
		if got := memValue(m, mc); got != mc.val {
			t.Errorf("%s: m%d@%#x got %#x want %#x (before %#x)", prefix, mc.size*8, mc.addr, got, mc.val, beforeMem[i])
		}
	}
}

func flagString(f uint64) string {
	var b strings.Builder
	for i := 0; i < len(flagLetters); i++ {
		if f&flagBits[flagLetters[i]] != 0 {
			b.WriteByte(flagLetters[i])
		} else {
			b.WriteByte('.')
		}
	}
	return b.String()
}
