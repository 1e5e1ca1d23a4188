//! The shuttle scheduler of the concurrent oracle: its choices come from the program's schedule
//! bytes, so that an interleaving is a pure function of the program file (SPEC §10).
//!
//! A choice is made only where it matters:
//! - at a yield point ([`delalloc_optimized_shuttle::sync::yield_point`], where the kernel drops
//!   its locks), the next byte picks among the runnable tasks (`byte % count`): the yielding
//!   task itself included, so a byte can also say "go on";
//! - when the running task blocks (a lock, a range-lock wait, a join) or finishes, the next byte
//!   picks who runs among the rest;
//! - everywhere else (every other lock and atomic operation) the running task goes on.
//!
//! When the bytes run out, the running task goes on while it can, and then the lowest-numbered
//! runnable task runs: every program, however short its schedule, runs to the end.
//! Interleavings at ordinary lock operations are thereby left out: a preemption just before
//! taking a lock is equivalent to one at the last point the task gave a lock up, and those
//! points are the yields.

use shuttle::scheduler::{Schedule, Scheduler, Task, TaskId};

/// Chooses from `bytes`, one byte per decision; one execution only.
#[derive(Clone, Debug)]
pub struct ByteScheduler {
    bytes: Vec<u8>,
    next: usize,
    started: bool,
    /// Decisions made, bytes or not: the length of the interleaving.
    pub decisions: usize,
}

impl ByteScheduler {
    pub fn new(bytes: &[u8]) -> ByteScheduler {
        ByteScheduler {
            bytes: bytes.to_vec(),
            next: 0,
            started: false,
            decisions: 0,
        }
    }

    /// Schedule bytes consumed so far.
    pub fn bytes_used(&self) -> usize {
        self.next
    }

    fn byte(&mut self) -> Option<u8> {
        let b = self.bytes.get(self.next).copied();
        if b.is_some() {
            self.next += 1;
        }
        b
    }
}

impl Scheduler for ByteScheduler {
    fn new_execution(&mut self) -> Option<Schedule> {
        if self.started {
            return None;
        }
        self.started = true;
        Some(Schedule::new(0))
    }

    fn next_task(
        &mut self,
        runnable: &[&Task],
        current: Option<TaskId>,
        is_yielding: bool,
    ) -> Option<TaskId> {
        let current_runnable = current.filter(|c| runnable.iter().any(|t| t.id() == *c));
        if let Some(c) = current_runnable {
            if !is_yielding || runnable.len() == 1 {
                return Some(c);
            }
        } else if runnable.len() == 1 {
            return Some(runnable[0].id());
        }
        self.decisions += 1;
        match self.byte() {
            Some(b) => Some(runnable[usize::from(b) % runnable.len()].id()),
            None => Some(current_runnable.unwrap_or_else(|| runnable[0].id())),
        }
    }

    fn next_u64(&mut self) -> u64 {
        // Nothing in the model asks shuttle for random numbers; answer deterministically anyway.
        0
    }
}
