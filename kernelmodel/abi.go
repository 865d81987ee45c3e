package kernelmodel

import (
	"encoding/binary"
	"math/rand/v2"
	"sort"

	"github.com/tlbemu/emu/ipi"
)

// The process-level user ABI a C library's start-up and threads need:
// identity, limits, time, randomness, uname, affinity, arch_prctl, brk
// (kernel/sys.c, kernel/time/*.c, drivers/char/random.c,
// arch/x86/kernel/process_64.c, mm/mmap.c, v5.10).

// Syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl) beyond those
// of syscalls.go and filemap.go.
const (
	sysFstat          = 5
	sysStat           = 4
	sysLstat          = 6
	sysPoll           = 7
	sysLseek          = 8
	sysReadv          = 19
	sysWritev         = 20
	sysAccess         = 21
	sysDup            = 32
	sysDup2           = 33
	sysPause          = 34
	sysGetitimer      = 36
	sysUname          = 63
	sysFcntl          = 72
	sysGetcwd         = 79
	sysReadlink       = 89
	sysGettimeofday   = 96
	sysGetrlimit      = 97
	sysGetuid         = 102
	sysGetgid         = 104
	sysGeteuid        = 107
	sysGetegid        = 108
	sysGetppid        = 110
	sysSetrlimit      = 160
	sysTime           = 201
	sysSchedSetaffin  = 203
	sysSchedGetaffin  = 204
	sysClockGettime   = 228
	sysClockGetres    = 229
	sysClockNanosleep = 230
	sysNewfstatat     = 262
	sysReadlinkat     = 267
	sysFaccessat      = 269
	sysSetRobustList  = 273
	sysDup3           = 292
	sysPreadv         = 295
	sysPwritev        = 296
	sysPrlimit64      = 302
	sysGetrandom      = 318
	sysStatx          = 332
	sysRseq           = 334
	sysClone3         = 435
	sysFaccessat2     = 439
)

// Clock and time of the model. Emulated time is the calling vCPU's cycle
// count at the 3.0 GHz reference clock of the cost model (CostModel:
// every default is in cycles of a 3.0 GHz core). CLOCK_MONOTONIC and
// CLOCK_BOOTTIME count from the machine's start; CLOCK_REALTIME and
// CLOCK_TAI start at realtimeEpoch, so a run's output is deterministic.
const (
	cyclesPerNS = 3 // 3.0 GHz
	// realtimeEpoch is 2020-12-13 00:00:00 UTC, the day v5.10 was
	// released, in seconds since 1970.
	realtimeEpoch = 1607817600
)

// clock ids (include/uapi/linux/time.h).
const (
	clockRealtime        = 0
	clockMonotonic       = 1
	clockProcessCPUTime  = 2
	clockThreadCPUTime   = 3
	clockMonotonicRaw    = 4
	clockRealtimeCoarse  = 5
	clockMonotonicCoarse = 6
	clockBoottime        = 7
	clockRealtimeAlarm   = 8
	clockBoottimeAlarm   = 9
	clockTAI             = 11
	timerAbstime         = 1
)

// monoNS returns CLOCK_MONOTONIC in nanoseconds. The vCPU clocks differ by
// up to a quantum; the model never lets the clock go backwards across
// CPUs (it returns the largest value handed out so far).
func (v *VCPU) monoNS() uint64 {
	ns := v.c.Clock / cyclesPerNS
	if ns < v.m.lastMonoNS {
		return v.m.lastMonoNS
	}
	v.m.lastMonoNS = ns
	return ns
}

// cpuTimeNS is the CPU time of t (thread) or of its thread group, in ns:
// the cycles it spent on a CPU, user and kernel.
func (v *VCPU) cpuTimeNS(t *Task, group bool) uint64 {
	var c uint64
	for _, o := range v.m.tasks {
		if o != t && (!group || o.tgid != t.tgid) {
			continue
		}
		c += o.runtime
		if h := o.home; h != nil && h.curr == o && o.state == taskRunning {
			c += h.c.Clock - h.switchedAt
		}
	}
	return c / cyclesPerNS
}

// clockNS reads clock id for the current task; ok is false for an invalid
// clock. The coarse clocks read the same time (the model has no tick to
// round to).
func (v *VCPU) clockNS(id int64) (uint64, bool) {
	switch id {
	case clockRealtime, clockRealtimeCoarse, clockRealtimeAlarm, clockTAI:
		return realtimeEpoch*1e9 + v.monoNS(), true
	case clockMonotonic, clockMonotonicRaw, clockMonotonicCoarse, clockBoottime, clockBoottimeAlarm:
		return v.monoNS(), true
	case clockProcessCPUTime:
		return v.cpuTimeNS(v.curr, true), true
	case clockThreadCPUTime:
		return v.cpuTimeNS(v.curr, false), true
	}
	return 0, false
}

func (v *VCPU) putTimespec(addr, ns uint64) int64 {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], ns/1e9)
	binary.LittleEndian.PutUint64(b[8:], ns%1e9)
	return v.copyToUser(addr, b[:])
}

// getTimespec reads a struct timespec; -EINVAL if it is not normalised.
func (v *VCPU) getTimespec(addr uint64) (uint64, int64) {
	sec, e1 := v.getUser64(addr)
	nsec, e2 := v.getUser64(addr + 8)
	if e1 != 0 || e2 != 0 {
		return 0, -EFAULT
	}
	if nsec >= 1e9 || int64(sec) < 0 {
		return 0, -EINVAL
	}
	if sec >= ktimeMaxNS/1_000_000_000 {
		return ktimeMaxNS, 0 // KTIME_MAX: an hrtimer that never expires
	}
	return sec*1e9 + nsec, 0
}

// ktimeMaxNS is the longest timeout the model represents (KTIME_MAX in
// the kernel, scaled so that it fits the cycle clock); a timeout of at
// least this long never expires.
const ktimeMaxNS = (1<<63 - 1) / cyclesPerNS

// timeoutCycles converts a relative timeout in ns to cycles: ipi.Never for
// KTIME_MAX or more, so a sleep that long only ends by a signal (or the run
// ends as a deadlock), as hrtimer_nanosleep of KTIME_MAX does.
func timeoutCycles(ns uint64) uint64 {
	if ns >= ktimeMaxNS {
		return ipi.Never
	}
	return ns * cyclesPerNS
}

func (v *VCPU) sysClockGettime(id int64, tp uint64) int64 {
	ns, ok := v.clockNS(id)
	if !ok {
		return -EINVAL
	}
	return v.putTimespec(tp, ns)
}

// sysClockGetres: 1 ns for the high-resolution clocks (hrtimer_resolution
// with high-resolution timers), a tick (4 ms at HZ=250) for the coarse
// ones.
func (v *VCPU) sysClockGetres(id int64, tp uint64) int64 {
	if _, ok := v.clockNS(id); !ok {
		return -EINVAL
	}
	res := uint64(1)
	if id == clockRealtimeCoarse || id == clockMonotonicCoarse {
		res = 4_000_000
	}
	if tp == 0 {
		return 0
	}
	return v.putTimespec(tp, res)
}

func (v *VCPU) sysGettimeofday(tv, tz uint64) int64 {
	ns, _ := v.clockNS(clockRealtime)
	if tv != 0 {
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:], ns/1e9)
		binary.LittleEndian.PutUint64(b[8:], ns%1e9/1000)
		if err := v.copyToUser(tv, b[:]); err != 0 {
			return err
		}
	}
	if tz != 0 {
		if err := v.copyToUser(tz, make([]byte, 8)); err != 0 { // UTC, no DST
			return err
		}
	}
	return 0
}

func (v *VCPU) sysTime(tloc uint64) int64 {
	ns, _ := v.clockNS(clockRealtime)
	s := ns / 1e9
	if tloc != 0 {
		if err := v.putUser64(tloc, s); err != 0 {
			return err
		}
	}
	return int64(s)
}

// sleepNS returns how long clock_nanosleep(id, flags, req) sleeps, in ns.
func (v *VCPU) sleepNS(id int64, flags uint64, req uint64) (uint64, int64) {
	switch id {
	case clockRealtime, clockMonotonic, clockBoottime, clockTAI:
	case clockThreadCPUTime:
		return 0, -EINVAL
	default:
		return 0, -EINVAL // the model does not sleep on CPU-time or alarm clocks
	}
	d, err := v.getTimespec(req)
	if err != 0 {
		return 0, err
	}
	if flags&timerAbstime != 0 {
		now, _ := v.clockNS(id)
		if d <= now {
			return 0, 0
		}
		d -= now
	}
	return d, 0
}

// utsname fields (struct new_utsname, 65 bytes each).
var utsname = [6]string{"Linux", "emu", "5.10.0-emu", "#1 SMP emu", "x86_64", "(none)"}

func (v *VCPU) sysUname(buf uint64) int64 {
	b := make([]byte, 6*65)
	for i, s := range utsname {
		copy(b[i*65:], s)
	}
	return v.copyToUser(buf, b)
}

// arch_prctl codes (arch/x86/include/uapi/asm/prctl.h).
const (
	archSetGS = 0x1001
	archSetFS = 0x1002
	archGetFS = 0x1003
	archGetGS = 0x1004
)

// sysArchPrctl models do_arch_prctl_64: a base at or above TASK_SIZE_MAX
// is -EPERM; other codes (CPUID faulting, vDSO mapping) -EINVAL.
func (v *VCPU) sysArchPrctl(code, addr uint64) int64 {
	r := &v.c.Regs
	switch code {
	case archSetFS, archSetGS:
		if addr >= taskSize {
			return -EPERM
		}
		if code == archSetFS {
			r.FSBase = addr
		} else {
			r.GSBase = addr
		}
		return 0
	case archGetFS:
		return v.putUser64(addr, r.FSBase)
	case archGetGS:
		return v.putUser64(addr, r.GSBase)
	}
	return -EINVAL
}

// rlimit resources (include/uapi/asm-generic/resource.h).
const (
	rlimitStack  = 3
	rlimitNofile = 7
	rlimNlimits  = 16
	rlimInfinity = ^uint64(0)
	nrOpen       = 1 << 20 // sysctl_nr_open
)

// defaultRlimits returns INIT_RLIMITS (include/asm-generic/resource.h,
// v5.10) with RLIMIT_NPROC and RLIMIT_SIGPENDING as fork_init sets them
// from the machine's memory (max_threads/2), and RLIMIT_STACK at the
// usual 8 MiB soft limit.
func (m *Machine) defaultRlimits() [rlimNlimits][2]uint64 {
	inf := rlimInfinity
	nproc := m.mem.Frames() / 32 / 2 // max_threads = totalram_pages / (8 * THREAD_SIZE / PAGE_SIZE)
	return [rlimNlimits][2]uint64{
		{inf, inf},           // CPU
		{inf, inf},           // FSIZE
		{inf, inf},           // DATA
		{stackSize, inf},     // STACK
		{0, inf},             // CORE
		{inf, inf},           // RSS
		{nproc, nproc},       // NPROC
		{maxFDs, 4096},       // NOFILE (INR_OPEN_CUR, INR_OPEN_MAX)
		{64 << 10, 64 << 10}, // MEMLOCK (MLOCK_LIMIT)
		{inf, inf},           // AS
		{inf, inf},           // LOCKS
		{nproc, nproc},       // SIGPENDING
		{819200, 819200},     // MSGQUEUE (MQ_BYTES_MAX)
		{0, 0},               // NICE
		{0, 0},               // RTPRIO
		{inf, inf},           // RTTIME
	}
}

// sysPrlimit64 models prlimit64 (and getrlimit/setrlimit with pid 0):
// limits are per process; the guest is root (CAP_SYS_RESOURCE), so a
// hard limit may be raised, except RLIMIT_NOFILE beyond nr_open (-EPERM).
// The model keeps the values; nothing else enforces them.
func (v *VCPU) sysPrlimit64(pid int64, res, newp, oldp uint64) int64 {
	if res >= rlimNlimits {
		return -EINVAL
	}
	mm := v.curr.mm
	if int32(pid) != 0 {
		var t *Task
		for _, o := range v.m.tasks {
			if o.tid == int(int32(pid)) && o.state != taskDead {
				t = o
			}
		}
		if t == nil {
			return -ESRCH
		}
		mm = t.mm
	}
	if !mm.rlimSet {
		mm.rlim = v.m.defaultRlimits()
		mm.rlimSet = true
	}
	var nl [2]uint64
	if newp != 0 {
		var e1, e2 int64
		nl[0], e1 = v.getUser64(newp)
		nl[1], e2 = v.getUser64(newp + 8)
		if e1 != 0 || e2 != 0 {
			return -EFAULT
		}
		if nl[0] > nl[1] {
			return -EINVAL
		}
		if res == rlimitNofile && nl[1] > nrOpen {
			return -EPERM
		}
	}
	if oldp != 0 {
		if err := v.putUser64(oldp, mm.rlim[res][0]); err != 0 {
			return err
		}
		if err := v.putUser64(oldp+8, mm.rlim[res][1]); err != 0 {
			return err
		}
	}
	if newp != 0 {
		mm.rlim[res] = nl
	}
	return 0
}

// getrandom flags (include/uapi/linux/random.h).
const (
	grndNonblock = 1
	grndRandom   = 2
	grndInsecure = 4
)

// randomBytes fills b from the machine's random stream: ChaCha8 keyed by
// the run's seed, so AT_RANDOM, getrandom and /dev/urandom are the same
// for the same seed.
func (m *Machine) randomBytes(b []byte) {
	if m.rng == nil {
		var key [32]byte
		binary.LittleEndian.PutUint64(key[:], m.cfg.Seed)
		copy(key[8:], "emu AT_RANDOM/getrandom")
		m.rng = rand.NewChaCha8(key)
	}
	m.rng.Read(b)
}

func (v *VCPU) sysGetrandom(buf, n, flags uint64) int64 {
	if flags&^uint64(grndNonblock|grndRandom|grndInsecure) != 0 || flags&(grndInsecure|grndRandom) == grndInsecure|grndRandom {
		return -EINVAL
	}
	return v.fillUser(buf, min(n, maxRW), v.m.randomBytes)
}

// fillUser copies n generated bytes to buf a page at a time, as the
// kernel's copy loops do: a fault ends the copy, which returns the bytes
// copied before it, or -EFAULT if none were.
func (v *VCPU) fillUser(buf, n uint64, gen func([]byte)) int64 {
	var chunk [4096]byte
	var done uint64
	for done < n {
		k := min(n-done, 4096-(buf+done)&0xfff)
		gen(chunk[:k])
		if err := v.copyToUser(buf+done, chunk[:k]); err != 0 {
			if done > 0 {
				return int64(done)
			}
			return err
		}
		done += k
	}
	return int64(done)
}

// taskByPid returns the live task with tid pid, the caller for 0.
func (v *VCPU) taskByPid(pid int64) *Task {
	if int32(pid) == 0 {
		return v.curr
	}
	for _, t := range v.m.tasks {
		if t.tid == int(int32(pid)) && t.state != taskDead {
			return t
		}
	}
	return nil
}

// sysSchedGetaffinity: every online CPU (the model does not pin). The
// result is cpumask_size() bytes, BITS_TO_LONGS(nr_cpu_ids) longs.
func (v *VCPU) sysSchedGetaffinity(pid int64, size, mask uint64) int64 {
	n := uint64(len(v.m.cpus))
	if size*8 < n || size&7 != 0 {
		return -EINVAL
	}
	if v.taskByPid(pid) == nil {
		return -ESRCH
	}
	out := (n + 63) / 64 * 8
	b := make([]byte, out)
	for i := uint64(0); i < n; i++ {
		b[i/8] |= 1 << (i % 8)
	}
	if err := v.copyToUser(mask, b); err != 0 {
		return err
	}
	return int64(out)
}

// sysSchedSetaffinity accepts a mask that contains an online CPU; the
// model's scheduler does not honour it (-EINVAL for a mask without one,
// as sched_setaffinity does).
func (v *VCPU) sysSchedSetaffinity(pid int64, size, mask uint64) int64 {
	if v.taskByPid(pid) == nil {
		return -ESRCH
	}
	n := min(size, uint64(len(v.m.cpus)+7)/8)
	b := make([]byte, n)
	if err := v.copyFromUser(b, mask); err != 0 {
		return err
	}
	for i := range uint64(len(v.m.cpus)) {
		if i/8 < n && b[i/8]&(1<<(i%8)) != 0 {
			return 0
		}
	}
	return -EINVAL
}

// sysSetRobustList keeps the robust-futex list head (the model does not
// walk it at exit). len must be sizeof(struct robust_list_head).
func (v *VCPU) sysSetRobustList(head, n uint64) int64 {
	if n != 24 {
		return -EINVAL
	}
	v.curr.robustList = head
	return 0
}

// brk VMA flags: VM_DATA_DEFAULT_FLAGS | VM_ACCOUNT | mm->def_flags, and
// VM_SOFTDIRTY as a new VMA.
const brkFlags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT | VM_SOFTDIRTY

// sysBrk models brk (mm/mmap.c, v5.10) under mmap_write_lock: below
// start_brk or when the growth would come within a page of the next
// mapping, the break stays; a shrink unmaps; a growth extends the heap
// VMA (do_brk_flags: vma_merge with the previous brk VMA) or creates it.
// The new pages fault in lazily.
func (v *VCPU) sysBrk(brk uint64) int64 {
	mm := v.curr.mm
	v.mmapWriteLock(mm)
	defer v.mmapWriteUnlock(mm)
	if brk < mm.startBrk || brk >= taskSize {
		return int64(mm.brk)
	}
	newbrk := (brk + 0xfff) &^ 0xfff
	oldbrk := (mm.brk + 0xfff) &^ 0xfff
	if newbrk == oldbrk {
		mm.brk = brk
		return int64(brk)
	}
	if brk <= mm.brk {
		v.doMunmapLocked(mm, newbrk, oldbrk)
		mm.brk = brk
		return int64(brk)
	}
	if next := mm.findVMAAbove(oldbrk); next != nil && newbrk+4096 > next.start {
		return int64(mm.brk)
	}
	if !mm.free(oldbrk, newbrk) {
		return int64(mm.brk)
	}
	var prev *VMA
	for _, vma := range mm.vmas {
		if vma.end == oldbrk {
			prev = vma
		}
	}
	if prev != nil && prev.heap && prev.flags == brkFlags && prev.uffd == nil {
		v.vmaStartWrite(mm, prev)
		prev.end = newbrk
	} else {
		mm.insertVMA(&VMA{start: oldbrk, end: newbrk, flags: brkFlags, anon: true, heap: true})
	}
	mm.brk = brk
	return int64(brk)
}

// UnimplementedSyscall is one system call the guest made that the model
// does not implement (it returned -ENOSYS), with how often it was made.
type UnimplementedSyscall struct {
	Name  string
	Count uint64
}

// UnimplementedSyscalls returns the system calls the guest made that the
// model answered with -ENOSYS because it does not implement them, most
// frequent first (ties by name). Calls the model deliberately answers
// with -ENOSYS as a v5.10 kernel built without them would (rseq, clone3)
// are not included; operations of implemented calls the model lacks are,
// as "futex_op_N" (-ENOSYS) and "prctl_op_N" (-EINVAL, as Linux answers
// an unknown option). cmd/emu prints them at the end of a run.
func (m *Machine) UnimplementedSyscalls() []UnimplementedSyscall {
	var out []UnimplementedSyscall
	for n, c := range m.unimplemented {
		out = append(out, UnimplementedSyscall{n, c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func (v *VCPU) countUnimplemented(name string) int64 {
	m := v.m
	if m.unimplemented == nil {
		m.unimplemented = map[string]uint64{}
	}
	m.unimplemented[name]++
	return -ENOSYS
}

// ExitStatus returns how the guest ended: its exit_group status, or the
// number of the signal that killed it (code is then 0), as cmd/emu needs
// them to exit with code or 128+signal. A run stopped for another reason
// (an error, --max-cycles) reports (0, 0).
func (m *Machine) ExitStatus() (code, signal int) {
	if m.exitSignal != 0 {
		return 0, m.exitSignal
	}
	return m.exitCode, 0
}

// Output returns what the guest wrote to its fds 1 and 2 when Config.Stdout
// or Config.Stderr is nil: the last outputCap bytes at most.
func (m *Machine) Output() []byte {
	if len(m.stdout) > outputCap {
		return m.stdout[len(m.stdout)-outputCap:]
	}
	return m.stdout
}

// outputCap bounds the in-memory capture of a guest's stdout/stderr; the
// buffer holds at most twice this plus one write.
const outputCap = 4 << 20

// writeStdio writes b to the guest's fd 1 or 2 (Config.Stdout/Stderr, or
// the bounded capture) as the guest makes the call.
func (m *Machine) writeStdio(i int, b []byte) int64 {
	var w = m.cfg.Stdout
	if i == 2 {
		w = m.cfg.Stderr
	}
	if i == 0 {
		w = nil // fd 0 written: the capture, as the model always did
	}
	if w != nil {
		n, err := w.Write(b)
		if err != nil && n == 0 {
			return -EIO
		}
		return int64(n)
	}
	m.stdout = append(m.stdout, b...)
	if len(m.stdout) > 2*outputCap {
		keep := make([]byte, outputCap, 2*outputCap)
		copy(keep, m.stdout[len(m.stdout)-outputCap:])
		m.stdout = keep
	}
	return int64(len(b))
}

// getIDs handles the identity calls: the guest is root, pid = tgid.
func (v *VCPU) getID(nr uint64) int64 {
	t := v.curr
	switch nr {
	case sysGetuid, sysGeteuid:
		return guestUID
	case sysGetgid, sysGetegid:
		return guestGID
	case sysGetppid:
		if t.parent != nil {
			return int64(t.parent.tgid)
		}
		return 0 // the first process's parent is outside the machine
	}
	return -ENOSYS
}

// negErrno is -errno as a register value.
func negErrno(e int64) uint64 { return uint64(-e) }

// Syscall numbers of getrusage and sysinfo.
const (
	sysGetrusage = 98
	sysSysinfo   = 99
)

// sysGetrusage models getrusage for RUSAGE_SELF (0), RUSAGE_THREAD (1)
// and RUSAGE_CHILDREN (-1): ru_utime is the CPU time (the model does not
// split user from system time: ru_stime is 0); the other fields are 0
// except ru_maxrss (the current resident set in KiB) and ru_minflt (the
// machine's page faults for SELF).
func (v *VCPU) sysGetrusage(who int64, ru uint64) int64 {
	b := make([]byte, sizeofRusage)
	le := binary.LittleEndian
	switch who {
	case 0, 1:
		ns := v.cpuTimeNS(v.curr, who == 0)
		le.PutUint64(b[0:], ns/1e9)
		le.PutUint64(b[8:], ns%1e9/1000)
		a, f, s := v.m.rss(v.curr.mm)
		le.PutUint64(b[32:], (a+f+s)*4) // ru_maxrss
		if who == 0 {
			le.PutUint64(b[64:], v.m.pgfault) // ru_minflt
		}
	case -1:
	default:
		return -EINVAL
	}
	return v.copyToUser(ru, b)
}

// sysSysinfo models sysinfo: uptime from CLOCK_MONOTONIC, the machine's
// memory and free frames, no swap, the live task count, mem_unit 1.
func (v *VCPU) sysSysinfo(info uint64) int64 {
	m := v.m
	b := make([]byte, 112)
	le := binary.LittleEndian
	le.PutUint64(b[0:], v.monoNS()/1e9)
	le.PutUint64(b[32:], m.mem.Frames()*4096)
	le.PutUint64(b[40:], (m.mem.Frames()-uint64(m.mem.InUse()))*4096)
	procs := 0
	for _, t := range m.tasks {
		if t.state != taskDead {
			procs++
		}
	}
	le.PutUint16(b[80:], uint16(procs))
	le.PutUint32(b[104:], 1)
	return v.copyToUser(info, b)
}

// Syscall numbers of prctl and mincore.
const (
	sysPrctl   = 157
	sysMincore = 27
)

// prctl options (include/uapi/linux/prctl.h).
const (
	prSetPdeathsig  = 1
	prGetPdeathsig  = 2
	prGetDumpable   = 3
	prSetDumpable   = 4
	prSetName       = 15
	prGetName       = 16
	prSetTHPDisable = 41
	prGetTHPDisable = 42
	taskCommLen     = 16
)

// sysPrctl models the prctl options programs use to name threads and to
// query or set their process's flags. The model keeps the values; THP
// disable is recorded but the THP model (Config.THP) does not consult it.
// Other options are -EINVAL, counted as unimplemented ("prctl_op_N").
func (v *VCPU) sysPrctl(op, a1 uint64) int64 {
	t := v.curr
	switch op {
	case prSetPdeathsig:
		if a1 > nSig {
			return -EINVAL
		}
		t.pdeathSig = int(a1)
		return 0
	case prGetPdeathsig:
		return v.putUser32(a1, uint32(t.pdeathSig))
	case prGetDumpable:
		if t.mm.notDumpable {
			return 0
		}
		return 1
	case prSetDumpable:
		if a1 > 1 {
			return -EINVAL
		}
		t.mm.notDumpable = a1 == 0
		return 0
	case prSetName:
		name, err := v.strncpyFromUser(a1, taskCommLen)
		if err == -ENAMETOOLONG {
			b := make([]byte, taskCommLen-1)
			if e := v.copyFromUser(b, a1); e != 0 {
				return e
			}
			name, err = string(b), 0
		}
		if err != 0 {
			return err
		}
		t.comm = name
		return 0
	case prGetName:
		b := make([]byte, taskCommLen)
		copy(b, t.comm)
		return v.copyToUser(a1, b)
	case prSetTHPDisable:
		t.mm.thpDisable = a1 != 0
		return 0
	case prGetTHPDisable:
		if t.mm.thpDisable {
			return 1
		}
		return 0
	}
	v.countUnimplemented("prctl_op_" + itoa(int(op)))
	return -EINVAL
}

// sysMincore models mincore: one byte per page of [start, start+len),
// bit 0 set when the page is resident — a present PTE (the zero page
// included), or for a memfd/shared-anonymous VMA a page in its page
// cache. -EINVAL for an unaligned start, -ENOMEM for a range that is not
// entirely mapped.
func (v *VCPU) sysMincore(start, length, vec uint64) int64 {
	if start&0xfff != 0 {
		return -EINVAL
	}
	if length > taskSize || start+length > taskSize {
		return -ENOMEM
	}
	pages := (length + 0xfff) >> 12
	if pages == 0 {
		return 0
	}
	m := v.m
	mm := v.curr.mm
	pages = min(pages, 1<<20) // one call answers at most 4 GiB here: a short vector, never a wrong one
	end := start + pages<<12
	out := make([]byte, pages)
	v.mmapReadLock(mm)
	for a := start; a < end; {
		vma := mm.findVMA(a)
		if vma == nil {
			v.mmapReadUnlock(mm)
			return -ENOMEM // do_mincore: a hole in the range
		}
		hi := min(vma.end, end)
		if vma.file != nil {
			for x := a; x < hi; x += 4096 {
				if _, ok := vma.file.cache[vma.linearPageIndex(x)]; ok {
					out[(x-start)>>12] = 1
				}
			}
		}
		m.walkPresent(mm, a, hi, func(x, _ uint64, _ bool, _ uint64) { out[(x-start)>>12] = 1 })
		a = hi
	}
	v.mmapReadUnlock(mm)
	return v.copyToUser(vec, out)
}
