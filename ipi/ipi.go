// Package ipi models inter-processor interrupts between vCPUs: per-CPU
// mailboxes of pending interrupts delivered in emulated time, and the cost of
// sending, delivering and acknowledging them.
//
// Delivery is ordered by (delivery time, sender CPU, sequence number), so the
// order in which a vCPU takes its interrupts never depends on host scheduling.
package ipi

import (
	"math"
	"sort"
)

// Never is the delivery time of an empty mailbox.
const Never = math.MaxUint64

// CostModel is the cost of one IPI-based remote function call
// (smp_call_function_many_cond, kernel/smp.c, v5.10), split into the
// initiator's per-target queueing, the APIC ICR writes, delivery,
// interrupt entry/exit and the acknowledgements the initiator collects one
// target at a time. For one target the parts sum to ≈ 2,150 cycles, the
// measured increment a remote TLB shootdown adds to a 1-page operation on
// Haswell: 4655−2499 cycles for a 1-page mprotect with 2 threads vs 1
// (Nadav Amit, "[RFC PATCH 00/14] mm: relaxed TLB flushes and other
// optimi.", LKML, 18 Jul 2022, Msg-Id 20220718120212.3180-1-namit@vmware.com);
// cross-check +775 ns ≈ 2,300 cycles at 3 GHz, 1436−661 ns for
// MADV_DONTNEED+touch with 2 threads vs 1 (Nadav Amit, "[RFC PATCH 0/6]
// x86/mm: Flush remote and local TLBs concurrently", LKML, 25 May 2019,
// Msg-Id 20190525082203.6531-1-namit@vmware.com).
type CostModel struct {
	// QueueCycles is the initiator's cost per target to lock the target's
	// csd and llist_add it to the target's call_single_queue: one contended
	// cache-line hand-off (the target last wrote both lines), 150 cycles ≈
	// 50 ns on a server mesh (CAS ping-pong medians, Cascade Lake 47–48 ns:
	// nviennot/core-to-core-latency README).
	QueueCycles uint64
	// ICRWrite is one write of the x2APIC interrupt command register
	// (WRMSR 0x830). No measurement exists; ASSUMPTION 100 cycles, a
	// non-serialising WRMSR (SDM Vol. 3A §10.12.3). Under -virt it is the
	// VM exit that emulates it.
	ICRWrite uint64
	// ClusterSize is how many targets one ICR write reaches: 16 in x2APIC
	// cluster mode (x2apic_cluster.c: one write per cluster of 16 logical
	// CPUs, the logical destination mask), 1 in physical mode
	// (x2apic_phys.c: one write per target). A count, not cycles.
	ClusterSize uint64
	// DeliveryCycles is the latency from the ICR write until the target
	// takes the interrupt. [D] the +775 ns first-target increment (Amit,
	// 25 May 2019) minus a ≈200 ns responder lower bound (self-IPI round
	// trip plus one INVLPG) leaves ≈550–600 ns of non-responder work; minus
	// queueing, the ICR write and the ack ≈ 1,100 cycles.
	DeliveryCycles uint64
	// IRQEntryCycles and IRQExitCycles are the target's interrupt entry and
	// exit: [D] half each of the 110–150 ns KVM guest self-IPI round trip
	// with APICv (111 ns: Zeng Guang, "[PATCH v4 0/6] IPI virtualization
	// support for VM", kvm list, 9 Aug 2021; 150 ns: Wanpeng Li, commit
	// 4180bf1b655a "KVM: X86: Implement 'send IPI' hypercall") ≈ 200 cycles
	// each. Under -virt nested the entry includes the EOI write's VM exit
	// (sysvec_call_function acks the APIC before it runs the function,
	// arch/x86/kernel/smp.c, v5.10).
	IRQEntryCycles uint64
	IRQExitCycles  uint64
	// AckCycles is the time for one target's acknowledgement (the csd lock
	// release) to become visible to the waiting initiator, which checks
	// the targets' csds one after the other (csd_lock_wait per target):
	// one contended cache-line hand-off per target, 150 cycles (as
	// QueueCycles).
	AckCycles uint64
}

// DefaultCostModel returns the bare-metal Skylake-class costs.
func DefaultCostModel() CostModel {
	return CostModel{QueueCycles: 150, ICRWrite: 100, ClusterSize: 16, DeliveryCycles: 1100,
		IRQEntryCycles: 200, IRQExitCycles: 200, AckCycles: 150}
}

// ICRWrites returns how many ICR writes reach targets targets.
func (c *CostModel) ICRWrites(targets uint64) uint64 {
	if targets == 0 {
		return 0
	}
	n := max(c.ClusterSize, 1)
	return (targets + n - 1) / n
}

// Message is one pending interrupt.
type Message struct {
	From      int
	SentAt    uint64
	DeliverAt uint64
	Seq       uint64
	Payload   any
}

// Mailbox is one vCPU's queue of pending interrupts. Its owner (the vCPU
// goroutine holding the machine's baton) is the only one touching it at a
// time; it is not safe for concurrent use.
type Mailbox struct {
	q   []Message // sorted by (DeliverAt, From, Seq)
	seq uint64
}

// Post queues msg (its Seq is assigned here).
func (m *Mailbox) Post(msg Message) {
	m.seq++
	msg.Seq = m.seq
	i := sort.Search(len(m.q), func(i int) bool { return less(msg, m.q[i]) })
	m.q = append(m.q, Message{})
	copy(m.q[i+1:], m.q[i:])
	m.q[i] = msg
}

func less(a, b Message) bool {
	if a.DeliverAt != b.DeliverAt {
		return a.DeliverAt < b.DeliverAt
	}
	if a.From != b.From {
		return a.From < b.From
	}
	return a.Seq < b.Seq
}

// Earliest returns the delivery time of the first pending interrupt, or
// Never.
func (m *Mailbox) Earliest() uint64 {
	if len(m.q) == 0 {
		return Never
	}
	return m.q[0].DeliverAt
}

// PopDue removes and returns the first interrupt due at or before now.
func (m *Mailbox) PopDue(now uint64) (Message, bool) {
	if len(m.q) == 0 || m.q[0].DeliverAt > now {
		return Message{}, false
	}
	msg := m.q[0]
	copy(m.q, m.q[1:])
	m.q = m.q[:len(m.q)-1]
	return msg, true
}

// Len returns the number of pending interrupts.
func (m *Mailbox) Len() int { return len(m.q) }
