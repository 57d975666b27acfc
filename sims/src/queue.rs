//! The discrete-event queue: events ordered by virtual time, ties broken by insertion order, so
//! that two runs with the same seed pop the same events in the same order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Virtual milliseconds since the start of a run.
pub type VirtualMs = u64;

/// A priority queue of `T` keyed by (time, insertion sequence).
#[derive(Debug)]
pub struct EventQueue<T> {
    heap: BinaryHeap<Reverse<(VirtualMs, u64, Slot<T>)>>,
    next_seq: u64,
}

/// Wraps the payload so that ordering only ever looks at (time, seq), which are unique.
#[derive(Debug)]
struct Slot<T>(T);

impl<T> PartialEq for Slot<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<T> Eq for Slot<T> {}
impl<T> PartialOrd for Slot<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Slot<T> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<T> Default for EventQueue<T> {
    fn default() -> Self {
        EventQueue { heap: BinaryHeap::new(), next_seq: 0 }
    }
}

impl<T> EventQueue<T> {
    /// Schedules `event` at `at`.
    pub fn push(&mut self, at: VirtualMs, event: T) {
        self.heap.push(Reverse((at, self.next_seq, Slot(event))));
        self.next_seq += 1;
    }

    /// Removes and returns the earliest event.
    pub fn pop(&mut self) -> Option<(VirtualMs, T)> {
        self.heap.pop().map(|Reverse((at, _, Slot(event)))| (at, event))
    }

    /// The time of the earliest event.
    pub fn peek_time(&self) -> Option<VirtualMs> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_insertion_order() {
        let mut queue = EventQueue::default();
        queue.push(5, "b");
        queue.push(1, "a");
        queue.push(5, "c");
        queue.push(3, "x");
        let order: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(order, vec![(1, "a"), (3, "x"), (5, "b"), (5, "c")]);
    }
}
