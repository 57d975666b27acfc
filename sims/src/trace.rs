//! A readable record of the events leading to the end of a run: a bounded ring of compact
//! entries, rendered to text only when someone reads them (after a violation, or live with
//! `--trace`), so that keeping it costs almost nothing per event.

use std::collections::VecDeque;

use crate::network::NodeIndex;
use crate::queue::VirtualMs;

/// What happened, in brief.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceKind {
    /// A decoded message arrived.
    Message {
        /// The sending validator.
        from: NodeIndex,
        /// The message kind.
        kind: &'static str,
        /// Its round (0 for block sync).
        round: u64,
    },
    /// Bytes arrived that did not decode.
    Undecodable {
        /// The sending validator.
        from: NodeIndex,
        /// How many bytes.
        bytes: usize,
    },
    /// A round timer fired.
    Timer {
        /// Its round.
        round: u64,
    },
    /// The environment delivered a payload.
    Payload {
        /// The round it is for.
        round: u64,
    },
    /// The instance started.
    Start,
    /// The validator crashed.
    Crash,
    /// The validator restarted from its storage.
    Restart,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    at_ms: VirtualMs,
    index: u64,
    instance: usize,
    validator: NodeIndex,
    kind: TraceKind,
}

/// The last `keep` events (all of them when `keep` is 0), optionally echoed to stderr.
#[derive(Debug)]
pub struct Trace {
    entries: VecDeque<Entry>,
    keep: usize,
    live: bool,
    count: u64,
}

impl Trace {
    /// A trace keeping `keep` entries (0: keep none, print live only when `live`).
    pub fn new(keep: usize, live: bool) -> Self {
        Trace { entries: VecDeque::new(), keep, live, count: 0 }
    }

    /// Records one event.
    pub fn push(&mut self, at_ms: VirtualMs, instance: usize, validator: NodeIndex, kind: TraceKind) {
        let entry = Entry { at_ms, index: self.count, instance, validator, kind };
        self.count += 1;
        if self.live {
            eprintln!("{}", render(&entry));
        }
        if self.keep == 0 {
            return;
        }
        if self.entries.len() == self.keep {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// The kept entries as text, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.entries.iter().map(render).collect()
    }
}

fn render(entry: &Entry) -> String {
    let what = match entry.kind {
        TraceKind::Message { from, kind, round } if round > 0 => format!("{kind} of round {round} from v{from}"),
        TraceKind::Message { from, kind, .. } => format!("{kind} from v{from}"),
        TraceKind::Undecodable { from, bytes } => format!("{bytes} undecodable bytes from v{from}"),
        TraceKind::Timer { round } => format!("timer of round {round} fired"),
        TraceKind::Payload { round } => format!("payload for round {round}"),
        TraceKind::Start => "start".to_string(),
        TraceKind::Crash => "crash".to_string(),
        TraceKind::Restart => "restart from storage".to_string(),
    };
    format!("#{:<8} {:>8} ms  v{} (instance {}): {what}", entry.index, entry.at_ms, entry.validator, entry.instance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_last_entries_with_their_event_index() {
        let mut trace = Trace::new(2, false);
        for round in 1..=3 {
            trace.push(round * 10, 0, 0, TraceKind::Timer { round });
        }
        let lines = trace.lines();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("#1 ") && lines[0].contains("timer of round 2"), "{lines:?}");
        assert!(lines[1].contains("30 ms"));
    }
}
