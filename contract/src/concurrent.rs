//! Concurrent programs: a few tasks, each a sequence of ops, started together after an optional
//! sequential setup, and the schedule bytes that choose every context switch (SPEC §10).
//!
//! A one-task program without setup is the sequential case: [`ConcurrentProgram::from_sequential`]
//! and [`ConcurrentProgram::as_sequential`] go between the two forms.

use crate::op::Program;
use crate::{Geometry, Op};
use serde::{Deserialize, Serialize};

/// At most this many tasks.
pub const MAX_TASKS: usize = 4;

/// At most this many ops in one task of a program file. Generated programs keep to
/// [`LINEARIZABILITY_OPS_PER_TASK`]; longer ones are still run, see the oracle's search budget.
pub const MAX_TASK_OPS: usize = 32;

/// The size of program the linearizability search is sized for (SPEC §10): up to [`MAX_TASKS`]
/// tasks of this many ops each.
pub const LINEARIZABILITY_OPS_PER_TASK: usize = 6;

/// At most this many ops in the setup.
pub const MAX_SETUP_OPS: usize = 64;

/// At most this many schedule bytes.
pub const MAX_SCHEDULE_BYTES: usize = 4096;

/// A concurrent test case. The setup runs first, op by op, on one task; then every task starts
/// and runs its ops in order, interleaved as `schedule` says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConcurrentProgram {
    /// The file system's geometry.
    pub geometry: Geometry,
    /// Ops run alone, in order, before any task starts.
    pub setup: Vec<Op>,
    /// Each task's ops, run in order by that task.
    pub tasks: Vec<Vec<Op>>,
    /// The scheduler's choices, one byte per decision (SPEC §10); when they run out, the running
    /// task keeps going as long as it can.
    pub schedule: Vec<u8>,
}

impl ConcurrentProgram {
    /// The sequential program as a one-task concurrent program.
    pub fn from_sequential(p: &Program) -> ConcurrentProgram {
        ConcurrentProgram {
            geometry: p.geometry,
            setup: Vec::new(),
            tasks: vec![p.ops.clone()],
            schedule: Vec::new(),
        }
    }

    /// The same program as a sequential one when it has no concurrency: one task (or none),
    /// the setup first. `None` with two tasks or more.
    pub fn as_sequential(&self) -> Option<Program> {
        if self.tasks.len() > 1 {
            return None;
        }
        let mut ops = self.setup.clone();
        ops.extend(self.tasks.iter().flatten().cloned());
        Some(Program {
            geometry: self.geometry,
            ops,
        })
    }

    /// Ops in the tasks (the setup not counted).
    pub fn task_ops(&self) -> usize {
        self.tasks.iter().map(Vec::len).sum()
    }

    /// Validates the geometry, the shape and every op; the error names the place.
    pub fn validate(&self) -> Result<(), String> {
        self.geometry
            .validate()
            .map_err(|e| format!("geometry: {e}"))?;
        if self.tasks.is_empty() || self.tasks.len() > MAX_TASKS {
            return Err(format!(
                "{} tasks: a concurrent program has 1 to {MAX_TASKS}",
                self.tasks.len()
            ));
        }
        if self.setup.len() > MAX_SETUP_OPS {
            return Err(format!(
                "setup has {} ops, at most {MAX_SETUP_OPS}",
                self.setup.len()
            ));
        }
        if self.schedule.len() > MAX_SCHEDULE_BYTES {
            return Err(format!(
                "schedule has {} bytes, at most {MAX_SCHEDULE_BYTES}",
                self.schedule.len()
            ));
        }
        for (i, op) in self.setup.iter().enumerate() {
            op.validate(&self.geometry)
                .map_err(|e| format!("setup op {i} ({}): {e}", op.kind().name()))?;
        }
        for (t, ops) in self.tasks.iter().enumerate() {
            if ops.len() > MAX_TASK_OPS {
                return Err(format!(
                    "task {t} has {} ops, at most {MAX_TASK_OPS}",
                    ops.len()
                ));
            }
            for (i, op) in ops.iter().enumerate() {
                op.validate(&self.geometry)
                    .map_err(|e| format!("task {t} op {i} ({}): {e}", op.kind().name()))?;
            }
        }
        Ok(())
    }
}
