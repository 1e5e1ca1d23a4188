//! Minimization of a concurrent program that the concurrent oracle rejects.
//!
//! Passes, repeated until none makes progress: drop whole tasks, drop single task ops (from the
//! back of each task), drop setup ops, shorten the schedule (cut its tail by halves, then drop
//! single bytes), lower schedule bytes (to 0, then by halves), and simplify each op's arguments
//! as the sequential minimizer does. A candidate is kept only if it is valid and still diverges
//! with the same [`ConcurrentDivergence::signature`]. Every kept candidate is strictly smaller,
//! so it ends; [`MAX_RUNS`] bounds the time anyway.

use crate::oracles::linearizable::{ConcurrentDivergence, ConcurrentVerdict};
use crate::shrink::try_simpler;
use delalloc_contract::ConcurrentProgram;

/// Upper bound on oracle runs per minimization.
pub const MAX_RUNS: usize = 5_000;

#[derive(Clone, Debug)]
pub struct ConcurrentMinimized {
    pub program: ConcurrentProgram,
    pub divergence: Box<ConcurrentDivergence>,
    /// Task ops + setup ops + schedule bytes, before and after.
    pub size_before: (usize, usize, usize),
    pub size_after: (usize, usize, usize),
    pub runs: usize,
}

fn size(p: &ConcurrentProgram) -> (usize, usize, usize) {
    (p.task_ops(), p.setup.len(), p.schedule.len())
}

/// Minimizes `program` against `run`; `None` if it does not diverge.
pub fn minimize_concurrent(
    program: &ConcurrentProgram,
    run: impl FnMut(&ConcurrentProgram) -> ConcurrentVerdict,
) -> Option<ConcurrentMinimized> {
    let mut run = run;
    let ConcurrentVerdict::Diverged(first) = run(program) else {
        return None;
    };
    let mut m = Shrinker {
        signature: first.signature(),
        best: program.clone(),
        best_div: first,
        runs: 1,
        run,
    };
    loop {
        let before = m.best.clone();
        m.drop_tasks();
        m.drop_task_ops();
        m.drop_setup_ops();
        m.shorten_schedule();
        m.lower_schedule_bytes();
        m.simplify_ops();
        if m.best == before || m.runs >= MAX_RUNS {
            break;
        }
    }
    Some(ConcurrentMinimized {
        size_before: size(program),
        size_after: size(&m.best),
        program: m.best,
        divergence: m.best_div,
        runs: m.runs,
    })
}

struct Shrinker<F> {
    signature: String,
    best: ConcurrentProgram,
    best_div: Box<ConcurrentDivergence>,
    runs: usize,
    run: F,
}

impl<F: FnMut(&ConcurrentProgram) -> ConcurrentVerdict> Shrinker<F> {
    fn try_candidate(&mut self, c: ConcurrentProgram) -> bool {
        if self.runs >= MAX_RUNS || c == self.best || c.validate().is_err() {
            return false;
        }
        self.runs += 1;
        match (self.run)(&c) {
            ConcurrentVerdict::Diverged(d) if d.signature() == self.signature => {
                self.best = c;
                self.best_div = d;
                true
            }
            _ => false,
        }
    }

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
            while i < self.best.tasks[t].len() && self.runs < MAX_RUNS {
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
        while i < self.best.setup.len() && self.runs < MAX_RUNS {
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
