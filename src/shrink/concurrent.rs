//! Minimization of a concurrent program that the concurrent oracle rejects.
//!
//! Passes, repeated until none makes progress: drop whole tasks, drop single task ops (from the
//! back of each task), drop setup ops, shorten the schedule (cut its tail by halves, then drop
//! single bytes), lower schedule bytes (to 0, then by halves), and simplify each op's arguments
//! as the sequential minimizer does. A candidate is kept only if it is valid and still diverges
//! with the same [`Rejection::signature`]. Every kept candidate is strictly smaller,
//! so it ends; [`Shrink::MAX_RUNS`] bounds the time anyway.

use crate::oracles::linearizable::{RaceStats, Rejection};
use crate::oracles::Verdict;
use crate::shrink::{driver, try_simpler, Minimized, Shrink, Shrinker};
use delalloc_contract::ConcurrentProgram;

/// A concurrent program: tasks, task ops, setup ops, the schedule, then each op's fields.
impl Shrink for ConcurrentProgram {
    type Divergence = Rejection;
    /// Task ops, setup ops, schedule bytes.
    type Size = (usize, usize, usize);
    const SIZE_UNITS: &'static str = "(task ops, setup ops, schedule bytes)";
    const MAX_RUNS: usize = 5_000;

    fn size(&self) -> (usize, usize, usize) {
        (self.task_ops(), self.setup.len(), self.schedule.len())
    }

    fn validate(&self) -> Result<(), String> {
        ConcurrentProgram::validate(self)
    }

    fn round(m: &mut Shrinker<'_, ConcurrentProgram>) {
        m.drop_tasks();
        m.drop_task_ops();
        m.drop_setup_ops();
        m.shorten_schedule();
        m.lower_schedule_bytes();
        m.simplify_ops();
    }
}

impl Shrinker<'_, ConcurrentProgram> {
    fn drop_tasks(&mut self) {
        let mut t = self.best.tasks.len();
        while t > 0 && self.best.tasks.len() > 1 {
            t -= 1;
            let mut c = self.best.clone();
            c.tasks.remove(t);
            self.try_candidate(c);
        }
    }

    fn drop_task_ops(&mut self) {
        for t in 0..self.best.tasks.len() {
            let mut i = self.best.tasks[t].len();
            while i > 0 {
                i -= 1;
                let mut c = self.best.clone();
                c.tasks[t].remove(i);
                self.try_candidate(c);
            }
        }
    }

    fn drop_setup_ops(&mut self) {
        let mut i = self.best.setup.len();
        while i > 0 {
            i -= 1;
            let mut c = self.best.clone();
            c.setup.remove(i);
            self.try_candidate(c);
        }
    }

    fn shorten_schedule(&mut self) {
        loop {
            let n = self.best.schedule.len();
            let cut = [0, n / 2, n.saturating_sub(1)]
                .into_iter()
                .filter(|&k| k < n)
                .any(|k| {
                    let mut c = self.best.clone();
                    c.schedule.truncate(k);
                    self.try_candidate(c)
                });
            if !cut {
                break;
            }
        }
        let mut i = self.best.schedule.len();
        while i > 0 {
            i -= 1;
            let mut c = self.best.clone();
            c.schedule.remove(i);
            self.try_candidate(c);
        }
    }

    fn lower_schedule_bytes(&mut self) {
        for i in 0..self.best.schedule.len() {
            let mut b = self.best.schedule[i];
            while b > 0 {
                let lowered = [0, b / 2, b - 1].into_iter().any(|v| {
                    let mut c = self.best.clone();
                    c.schedule[i] = v;
                    self.try_candidate(c)
                });
                if !lowered {
                    break;
                }
                b = self.best.schedule[i];
            }
        }
    }

    fn simplify_ops(&mut self) {
        let g = self.best.geometry;
        for t in 0..self.best.tasks.len() {
            let mut i = 0;
            while i < self.best.tasks[t].len() && !self.out_of_runs() {
                let op = self.best.tasks[t][i].clone();
                let taken = try_simpler(&op, &g, |op| {
                    let mut c = self.best.clone();
                    c.tasks[t][i] = op;
                    self.try_candidate(c)
                });
                if !taken {
                    i += 1;
                }
            }
        }
        let mut i = 0;
        while i < self.best.setup.len() && !self.out_of_runs() {
            let op = self.best.setup[i].clone();
            let taken = try_simpler(&op, &g, |op| {
                let mut c = self.best.clone();
                c.setup[i] = op;
                self.try_candidate(c)
            });
            if !taken {
                i += 1;
            }
        }
    }
}

/// Shrinks a concurrent program against `run`, keeping candidates with the first
/// divergence's [`Rejection::signature`]; `None` if it does not diverge.
pub fn minimize(
    program: &ConcurrentProgram,
    run: impl FnMut(&ConcurrentProgram) -> Verdict<RaceStats, Rejection>,
) -> Option<Minimized<ConcurrentProgram>> {
    driver::minimize_with(program, run, Rejection::signature)
}
