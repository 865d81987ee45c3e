package kernelmodel

import (
	"fmt"
	"math"

	"github.com/tlbemu/emu/ipi"
)

// Idle states and sleeping mmap_lock readers.
//
// With IdleC6 an idle CPU runs the menu governor before it waits
// (do_idle → cpuidle_idle_call → cpuidle_select → menu_select,
// drivers/cpuidle/governors/menu.c, v6.18): the predicted idle time is
// the smaller of the timer-based prediction, the time to this CPU's next
// timer (its earliest sleeping task's timeout; none: unbounded), and
// get_typical_interval of the CPU's last 8 idle periods (typicalInterval;
// menu_update records each period when it ends, less the state's exit
// latency as menu_update deducts it). Not modelled (ASSUMPTION): the
// correction factors on the timer-based prediction, the tick (HZ, the
// tick-stopped override of a short prediction) and the polling state's
// time limit. If need_resched is set (a task queued on v) the CPU does
// not enter cpuidle at all; if an interrupt or a wake-up is already due it
// does not sleep in C6 (the period still counts, ~0 long). Otherwise it
// picks C6 when the prediction is at least Costs.C6Residency (C6's
// target_residency, intel_idle skx_cstates), and a shallower state
// (modelled as poll: no exit latency) else.
//
// Entering C6 does what cpuidle_enter_state (drivers/cpuidle/cpuidle.c,
// v6.18) does for a CPUIDLE_FLAG_TLB_FLUSHED state: leave_mm
// (arch/x86/mm/tlb.c, v6.18), which returns if init_mm is loaded and else
// switch_mm(NULL, &init_mm, NULL) → switch_mm_irqs_off: the CPU stops
// being lazy on the user mm and loads init_mm. Without 209954cbc7d0 that
// switch clears the CPU's bit in the old mm's mm_cpumask, so flushes of
// the mm no longer reach it; with it the CPU stays in the mask, not lazy,
// and the next flush IPI of the mm wakes it (and clears the bit in
// flush_tlb_func). A CPU in C6 wakes Costs.C6ExitCycles after the
// interrupt or wake-up that ends its idle period (the state's
// exit_latency): only then does it run the IPI's handler or the woken task.

// IdleMode is a -idle value.
type IdleMode string

// The idle modes.
const (
	IdlePoll IdleMode = "poll"
	IdleC6   IdleMode = "c6"
)

// IdleModeNames lists the -idle values; the first is the default.
var IdleModeNames = []string{string(IdlePoll), string(IdleC6)}

// ParseIdleMode checks a -idle value ("" is IdlePoll).
func ParseIdleMode(s string) (IdleMode, error) {
	switch IdleMode(s) {
	case "", IdlePoll:
		return IdlePoll, nil
	case IdleC6:
		return IdleC6, nil
	}
	return "", fmt.Errorf("unknown -idle %q (valid: poll, c6)", s)
}

// menuIntervals is INTERVALS of menu.c (1 << INTERVAL_SHIFT): the idle
// periods the governor remembers.
const menuIntervals = 8

// idleGov is a vCPU's governor state (menu.c's struct menu_device, the
// part modelled).
type idleGov struct {
	exit      uint64                // exit latency of the state v is idle in (0: poll)
	ran       bool                  // the governor picked a state for the current period
	intervals [menuIntervals]uint32 // the last idle periods, µs (menu_device.intervals)
	ptr       int                   // interval_ptr: the next slot to overwrite
}

// menuUpdate is menu_update's bookkeeping of an idle period that lasted
// d cycles in a state with exit latency exit (menu.c, v6.18): the exit
// latency is deducted if the period is over twice as long, else the
// period is halved ("assume the state was never reached"); the result, in
// µs, goes into the ring (menu_update_intervals).
func (g *idleGov) menuUpdate(d, exit uint64) {
	if d > 2*exit {
		d -= exit
	} else {
		d /= 2
	}
	us := d / usCycles
	if us > math.MaxUint32 {
		us = math.MaxUint32
	}
	g.intervals[g.ptr] = uint32(us)
	g.ptr = (g.ptr + 1) % menuIntervals
}

// usCycles is one microsecond in cycles.
const usCycles = 1000 * cyclesPerNS

// typicalInterval is get_typical_interval (drivers/cpuidle/governors/menu.c,
// v6.18, after the revert of "cpuidle: menu: Avoid discarding useful
// information") on the ring, in µs: the average of the periods still
// considered if their variance is at most 400 µs² or the average exceeds
// six standard deviations with at least 6 of the 8 periods considered;
// otherwise, while more than 6 are considered, drop the outliers on the
// side farther from the average (all periods at or below the current
// minimum if avg-min > max-avg, else all at or above the maximum) and try
// again; else math.MaxUint32 (UINT_MAX: no pattern). Integer arithmetic as
// the kernel's: variance = mean of squares - avg², shifts for 8 periods.
func (g *idleGov) typicalInterval() uint32 {
	minThresh, maxThresh := int64(-1), int64(math.MaxUint32)
	for {
		var max, divisor uint64
		min := uint64(math.MaxUint32)
		var avg, variance uint64
		for _, x := range g.intervals {
			value := int64(x)
			if value <= minThresh || value >= maxThresh {
				continue
			}
			divisor++
			avg += uint64(x)
			variance += uint64(x) * uint64(x)
			if uint64(x) > max {
				max = uint64(x)
			}
			if uint64(x) < min {
				min = uint64(x)
			}
		}
		if max == 0 {
			return math.MaxUint32
		}
		if divisor == menuIntervals {
			avg >>= 3
			variance >>= 3
		} else {
			avg /= divisor
			variance /= divisor
		}
		avgSq := avg * avg
		variance -= avgSq
		if variance <= math.MaxUint64/36 {
			if (avgSq > variance*36 && divisor*4 >= menuIntervals*3) || variance <= 400 {
				return uint32(avg)
			}
		}
		if divisor*4 <= menuIntervals*3 {
			return math.MaxUint32
		}
		if avg-min > max-avg {
			minThresh = int64(min)
		} else {
			maxThresh = int64(max)
		}
	}
}

// idleCounters are the -idle c6 counters.
type idleCounters struct {
	c6Entries    uint64 // idle periods spent in C6
	c6ExitCycles uint64 // cycles woken CPUs spent leaving C6
	leaveMMs     uint64 // leave_mm calls that switched to init_mm
	lockSleeps   uint64 // mmap_lock waiters that slept (MmapLockSleep): readers, and writers past the spin threshold
}

// predictIdle is menu_select's predicted idle time from now, in cycles
// (ipi.Never: neither a timer pending nor a typical interval), given the
// CPU's next timer: min(time to the timer, typicalInterval).
func (v *VCPU) predictIdle(nextTimer uint64) uint64 {
	timer := uint64(0)
	switch {
	case nextTimer == ipi.Never:
		timer = ipi.Never
	case nextTimer > v.c.Clock:
		timer = nextTimer - v.c.Clock
	}
	if typ := v.gov.typicalInterval(); typ != math.MaxUint32 {
		timer = min(timer, uint64(typ)*usCycles)
	}
	return timer
}

// selectIdleState runs the governor for an idle period starting now and,
// if it picks C6, enters it: leave_mm, then the exit latency is owed on
// wake-up (gov.exit). It reports whether v is in C6.
func (v *VCPU) selectIdleState(runqWakes bool) bool {
	m := v.m
	v.gov.exit, v.gov.ran = 0, false
	if m.cfg.Idle != IdleC6 {
		return false
	}
	next := v.wakeSleepers() // first: it may queue a task whose timeout passed
	if runqWakes && len(v.runq) > 0 {
		return false // need_resched: do_idle does not enter cpuidle
	}
	v.gov.ran = true
	if v.mbox.Earliest() <= v.c.Clock || v.kickAt <= v.c.Clock {
		return false // an interrupt pending: no deep sleep
	}
	if v.predictIdle(next) < m.cfg.Costs.C6Residency {
		return false
	}
	m.idle.c6Entries++
	v.leaveMM()
	v.gov.exit = m.cfg.Costs.C6ExitCycles
	return true
}

// leaveMM models leave_mm (arch/x86/mm/tlb.c, v6.18): nothing if init_mm
// is loaded, else switch_mm_irqs_off to init_mm.
func (v *VCPU) leaveMM() {
	if v.tlbs.loadedMM == v.m.initMM {
		return
	}
	v.m.idle.leaveMMs++
	v.switchMMIrqsOff(v.m.initMM)
}

// idleWait is one idle period of the idle task: pick a state, sleep until
// an interrupt or a wake-up is due (with runqWakes, also a task queued on
// v), leave the state (its exit latency), take the interrupts. The idle
// task is a kernel thread, so the CPU is lazy on the user mm (or, after
// C6's leave_mm, in init_mm).
func (v *VCPU) idleWait(runqWakes bool) {
	c6 := v.selectIdleState(runqWakes)
	exit := v.gov.exit
	v.idle = true
	v.idleSince = v.c.Clock
	for {
		wake := min(v.mbox.Earliest(), v.kickAt, v.wakeSleepers())
		if runqWakes && len(v.runq) > 0 && v.kickAt == ipi.Never {
			wake = v.c.Clock
		}
		if wake != ipi.Never {
			wake = max(wake, v.c.Clock) // an idle CPU wakes no earlier than it went idle
			wake += exit
		}
		v.wakeAt = wake
		o := v.m.pick(v)
		if v.wakeAt == ipi.Never && (o == nil || o.eff() == ipi.Never) {
			v.m.stop(ErrDeadlock)
			panic(errStop{})
		}
		if o != nil && (o.eff() < v.wakeAt || (o.eff() == v.wakeAt && o.id < v.id)) {
			v.handoff(o)
			continue
		}
		break
	}
	if v.wakeAt > v.c.Clock {
		v.c.Clock = v.wakeAt
	}
	if c6 {
		v.m.idle.c6ExitCycles += exit
	}
	if v.gov.ran {
		v.gov.menuUpdate(v.c.Clock-v.idleSince, exit)
		v.gov.ran = false
	}
	v.idleCycles += v.c.Clock - v.idleSince
	v.idle = false
	v.gov.exit = 0
	v.wakeAt = ipi.Never
	if v.kickAt <= v.c.Clock {
		v.kickAt = ipi.Never
	}
	v.handleIRQs()
}

// rwsemSleep is a reader's sleep in rwsem_down_read_slowpath (v6.18:
// queue, then schedule() until rwsem_mark_wake grants the lock and wakes
// it). The model has no kernel stack to switch away from, so the task
// stays v's current task while v runs the idle task in its place: v
// switches to idle (enter_lazy_tlb), passes idle periods (idleWait, so it
// may enter C6 and leave the mm) until the grant's wake-up, then switches
// back to the task (a context switch and switch_mm_irqs_off to its mm).
// Another task queued on v meanwhile waits (ASSUMPTION: the workloads
// that use MmapLockSleep run one task per CPU).
func (v *VCPU) rwsemSleep(w *rwWaiter) {
	t := v.curr
	m := v.m
	m.idle.lockSleeps++
	w.sleeping = true
	v.c.Clock += m.cfg.Costs.ContextSwitch // __schedule to the idle task
	v.enterLazyTLB()
	for !w.granted {
		v.idleWait(false)
	}
	w.sleeping = false
	m.contextSwitches++
	v.c.Clock += m.cfg.Costs.ContextSwitch
	if t.mm != nil {
		v.switchMMIrqsOff(t.mm)
	}
}
