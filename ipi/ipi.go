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

// CostModel is the cost of one IPI-based remote function call, split into
// send, delivery, interrupt entry/exit and acknowledgement. For one target
// the parts sum to ≈ 2,150 cycles, the measured increment a remote TLB
// shootdown adds to a 1-page operation on Haswell: 4655−2499 cycles for a
// 1-page mprotect with 2 threads vs 1 (Nadav Amit, "[RFC PATCH 00/14] mm:
// relaxed TLB flushes and other optimi.", LKML, 18 Jul 2022, Msg-Id
// 20220718120212.3180-1-namit@vmware.com); cross-check +775 ns ≈ 2,300
// cycles at 3 GHz, 1436−661 ns for MADV_DONTNEED+touch with 2 threads vs 1
// (Nadav Amit, "[RFC PATCH 0/6] x86/mm: Flush remote and local TLBs
// concurrently", LKML, 25 May 2019, Msg-Id
// 20190525082203.6531-1-namit@vmware.com).
type CostModel struct {
	// SendCycles is the initiator's cost to queue the call and write the
	// ICR for the first target. No measurement of the x2APIC ICR write was
	// found;
	// ASSUMPTION: 200 cycles, taken from the per-extra-target increment.
	SendCycles uint64
	// SendPerExtraTarget is the initiator's cost per additional target:
	// ≈ +70 ns ≈ 210 cycles [D] = (1571−1436 ns)/2 for 4 threads vs 2, serial
	// flush (Amit, 25 May 2019, above).
	SendPerExtraTarget uint64
	// DeliveryCycles is the latency from the ICR write until the target
	// takes the interrupt. [D] the +775 ns first-target increment (Amit,
	// 25 May 2019) minus a ≈200 ns responder lower bound (self-IPI round
	// trip plus one INVLPG) leaves ≈550–600 ns of non-responder work; minus
	// send and ack ≈ 1,100 cycles.
	DeliveryCycles uint64
	// IRQEntryCycles and IRQExitCycles are the target's interrupt entry and
	// exit: [D] half each of the 110–150 ns KVM guest self-IPI round trip
	// with APICv (111 ns: Zeng Guang, "[PATCH v4 0/6] IPI virtualization
	// support for VM", kvm list, 9 Aug 2021; 150 ns: Wanpeng Li, commit
	// 4180bf1b655a "KVM: X86: Implement 'send IPI' hypercall") ≈ 200 cycles
	// each.
	IRQEntryCycles uint64
	IRQExitCycles  uint64
	// AckCycles is the time for the target's acknowledgement (the csd lock
	// release) to become visible to the waiting initiator: one contended
	// cache-line hand-off, 45–50 ns on a server mesh ≈ 150 cycles
	// (CAS ping-pong medians, Cascade Lake 47–48 ns, Ice Lake-SP 51 ns:
	// nviennot/core-to-core-latency README).
	AckCycles uint64
}

// DefaultCostModel returns the bare-metal Skylake-class costs.
func DefaultCostModel() CostModel {
	return CostModel{SendCycles: 200, SendPerExtraTarget: 210, DeliveryCycles: 1100,
		IRQEntryCycles: 200, IRQExitCycles: 200, AckCycles: 150}
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
