//! The differential oracle: run one program on two models and decide whether they agree.
//!
//! After every op, in this order:
//! 1. the two outcomes must be equal ([`DivergenceKind::OutcomeDiffers`]);
//! 2. the two snapshots must be equal ([`DivergenceKind::StateDiffers`], with every differing
//!    field from [`Snapshot::diff`], computed only when `==` says they differ);
//! 3. the (equal) snapshot must satisfy SPEC §8 ([`DivergenceKind::InvariantBroken`]).
//!
//! Before those, a model whose own code complained during the op (the kernel model's WARN_ON
//! or ASSERT) is a divergence of its own, [`DivergenceKind::Complained`]: the check that fired
//! is the kernel saying its state went wrong, whatever the other model did.
//!
//! After the last op, if the program did not unmount, both models unmount and are checked again
//! (`op_index: None`), so a reservation leaked at teardown is caught (SPEC §8.6). A model that
//! panics is reported as [`DivergenceKind::Panicked`] rather than taking the fuzzer down.

use crate::generators::{self, Dialect, Level};
use crate::oracles::invariants;
use crate::oracles::panics::guarded;
use crate::oracles::stats::Stats;
use crate::oracles::{Oracle, Verdict};
use delalloc_contract::run_line::RunLine;
use delalloc_contract::text::{print_program, print_program_file};
use delalloc_contract::{Complaint, FieldDiff, Model, Op, Outcome, PartStamps, Program, Snapshot};
use serde::Serialize;
use std::cell::RefCell;

impl Divergence {
    /// The program up to and including the diverging op (all of it for a teardown divergence).
    pub fn program_up_to(&self) -> Program {
        let n = self.op_index.map_or(self.program.ops.len(), |i| i + 1);
        Program {
            geometry: self.program.geometry,
            ops: self.program.ops[..n].to_vec(),
        }
    }

    /// A name for "this bug" that survives shrinking: the kind plus the first differing field
    /// (indices blanked, so `inodes[1].x` and `inodes[0].x` match), the invariant's name, the op
    /// kind whose outcome differed, or the panicking model and location.
    pub fn signature(&self) -> String {
        match &self.kind {
            DivergenceKind::OutcomeDiffers { .. } => {
                format!("outcome differs: {}", self.op.kind().name())
            }
            DivergenceKind::StateDiffers => {
                format!(
                    "state differs: {}",
                    self.fields
                        .first()
                        .map_or(String::new(), |f| blank_indices(&f.field))
                )
            }
            DivergenceKind::InvariantBroken { invariant, .. } => {
                format!("invariant broken: {invariant}")
            }
            DivergenceKind::Panicked { model, message } => {
                format!("{model} panicked: {}", message_shape(message))
            }
            DivergenceKind::Complained { model, complaint } => {
                format!("{model} {} at {}", complaint.kind, complaint.location)
            }
        }
    }
}

/// A field path with its indices blanked, so that one bug's fields match whichever inode or
/// record it hit: `inodes[1].x` -> `inodes[].x`.
pub fn blank_indices(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut inside = false;
    for c in field.chars() {
        match c {
            '[' => inside = true,
            ']' => inside = false,
            _ if inside => continue,
            _ => {}
        }
        out.push(c);
    }
    out
}

/// A failure message's first line without its digits: the location and the words, not the
/// numbers, so that one bug's messages match whatever values the program had.
pub fn message_shape(message: &str) -> String {
    message
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .collect()
}

/// Where and how two models first disagreed.
#[derive(Clone, Debug, Serialize)]
pub struct Divergence {
    pub left_model: &'static str,
    pub right_model: &'static str,
    /// The whole program that was run.
    pub program: Program,
    /// Index of the op in the program; `None` for the unmount the oracle adds at teardown.
    pub op_index: Option<usize>,
    pub op: Op,
    pub kind: DivergenceKind,
    /// Every snapshot field that differs after the op (may be empty for an outcome divergence;
    /// always empty after a panic).
    pub fields: Vec<FieldDiff>,
    pub left: Snapshot,
    pub right: Snapshot,
    /// Every op applied to both models with both outcomes, the diverging op last (except when a
    /// model panicked in it: then it has no outcome and only `op` names it).
    pub trace: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DivergenceKind {
    /// The op answered differently.
    OutcomeDiffers { left: Outcome, right: Outcome },
    /// Same answer, different state.
    StateDiffers,
    /// Both models are in the same state, and it breaks SPEC §8 (the reference is wrong too, or
    /// the spec is).
    InvariantBroken {
        model: &'static str,
        invariant: &'static str,
        message: String,
    },
    /// A model panicked (a debug assertion, an overflow, an index out of bounds...).
    Panicked {
        model: &'static str,
        message: String,
    },
    /// A model's own check fired during the op (the kernel's WARN_ON / ASSERT), the first of
    /// them if several did.
    Complained {
        model: &'static str,
        complaint: Complaint,
    },
}

impl DivergenceKind {
    pub fn name(&self) -> &'static str {
        match self {
            DivergenceKind::OutcomeDiffers { .. } => "outcome differs",
            DivergenceKind::StateDiffers => "state differs",
            DivergenceKind::InvariantBroken { .. } => "invariant broken",
            DivergenceKind::Panicked { .. } => "panicked",
            DivergenceKind::Complained { .. } => "complained",
        }
    }
}

/// One op of a run and what each model answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub op: Op,
    pub left: Outcome,
    pub right: Outcome,
}

/// Reference on the left, optimized on the right.
pub fn run(program: &Program) -> Verdict<Stats, Divergence> {
    let mut left = delalloc_reference::Reference::new(&program.geometry);
    let mut right = delalloc_optimized::Optimized::new(&program.geometry);
    run_models(program, &mut left, &mut right)
}

/// Runs `program` on two freshly mounted models of its geometry.
pub fn run_models(
    program: &Program,
    left: &mut dyn Model,
    right: &mut dyn Model,
) -> Verdict<Stats, Divergence> {
    let [ls, rs, checked] = SPARE_SNAPSHOTS.with_borrow_mut(std::mem::take);
    let mut run = Run {
        program,
        left,
        right,
        trace: Vec::with_capacity(program.ops.len() + 1),
        ls,
        rs,
        left_seen: PartStamps::default(),
        right_seen: PartStamps::default(),
        checked,
        any_checked: false,
    };
    let verdict = match run.all() {
        Ok(stats) => Verdict::Agree(stats),
        Err(d) => Verdict::Diverged(d),
    };
    SPARE_SNAPSHOTS.set([run.ls, run.rs, run.checked]);
    verdict
}

thread_local! {
    /// The last run's snapshot buffers on this thread, for the next run to fill: a campaign
    /// runs millions of short programs, and growing three snapshots' vectors from empty in
    /// each was a tenth of the oracle's own time on tree programs. Their contents are never
    /// read before being overwritten.
    static SPARE_SNAPSHOTS: RefCell<[Snapshot; 3]> = RefCell::new(Default::default());
}

struct Run<'a> {
    program: &'a Program,
    left: &'a mut dyn Model,
    right: &'a mut dyn Model,
    trace: Vec<Step>,
    /// The snapshots after the current op; kept across ops so their vectors are reused.
    ls: Snapshot,
    rs: Snapshot,
    /// What each model's [`Model::snapshot_update`] knows of `ls` / `rs`: empty at the start,
    /// as the buffers hold another run's snapshots.
    left_seen: PartStamps,
    right_seen: PartStamps,
    /// The last snapshot that passed the invariants, once `any_checked`: unchanged parts
    /// need no new check.
    checked: Snapshot,
    any_checked: bool,
}

impl Run<'_> {
    fn all(&mut self) -> Result<Stats, Box<Divergence>> {
        let mut stats = Stats {
            programs: 1,
            ..Stats::default()
        };
        let g = self.program.geometry;
        stats.count_geometry(&g);
        for (i, op) in self.program.ops.iter().enumerate() {
            // The size of the op's inode before it: `checked` is the last op's state.
            let i_size = match op.ino() {
                Some(ino) if self.any_checked => self
                    .checked
                    .inodes
                    .get(usize::from(ino))
                    .map_or(0, |inode| inode.i_size),
                _ => 0,
            };
            let outcome = self.step(Some(i), op)?;
            stats.count_op(op, &outcome, &g, i_size);
            // `checked` is the state after the op (its step passed).
            stats.features.counters(&self.checked, op);
        }
        if !self.program.ops.iter().any(|op| matches!(op, Op::Unmount)) {
            self.step(None, &Op::Unmount)?;
        }
        if self.any_checked {
            stats.count_warn_paths(&self.checked, g.era);
        }
        Ok(stats)
    }

    /// Applies `op` to both models and checks them; the outcome they agree on.
    fn step(&mut self, index: Option<usize>, op: &Op) -> Result<Outcome, Box<Divergence>> {
        let lo = guarded(|| self.left.apply(op))
            .map_err(|m| self.diverged(index, op, Panic(self.left.name(), m)))?;
        let ro = guarded(|| self.right.apply(op))
            .map_err(|m| self.diverged(index, op, Panic(self.right.name(), m)))?;
        self.trace.push(Step {
            op: op.clone(),
            left: lo,
            right: ro,
        });
        let complaints = [
            (self.left.name(), self.left.take_complaints()),
            (self.right.name(), self.right.take_complaints()),
        ];
        for (model, complaints) in complaints {
            if let Some(complaint) = complaints.into_iter().next() {
                let kind = DivergenceKind::Complained { model, complaint };
                return Err(self.diverged(index, op, kind.into()));
            }
        }
        if lo != ro {
            return Err(self.diverged(
                index,
                op,
                DivergenceKind::OutcomeDiffers {
                    left: lo,
                    right: ro,
                }
                .into(),
            ));
        }
        guarded(|| self.left.snapshot_update(&mut self.ls, &mut self.left_seen))
            .map_err(|m| self.diverged(index, op, Panic(self.left.name(), m)))?;
        // `rs` is only ever updated by the right model, so the parts it did not write are those
        // of the previous op's `rs`, which equalled the snapshot in `checked`.
        let written = guarded(|| {
            self.right
                .snapshot_update(&mut self.rs, &mut self.right_seen)
        })
        .map_err(|m| self.diverged(index, op, Panic(self.right.name(), m)))?;
        if self.ls != self.rs {
            let (ls, rs) = (self.ls.clone(), self.rs.clone());
            return Err(self.diverged_with(index, op, DivergenceKind::StateDiffers, ls, rs));
        }
        // Equal snapshots: one check speaks for both models; a part the right model did not
        // write equals the one checked after the previous op.
        let g = &self.program.geometry;
        let verdict = if self.any_checked {
            invariants::check_since(&self.checked, &self.ls, g, written)
        } else {
            invariants::check(&self.ls, g)
        };
        if let Err(v) = verdict {
            let kind = DivergenceKind::InvariantBroken {
                model: "both",
                invariant: v.invariant,
                message: v.message,
            };
            let (ls, rs) = (self.ls.clone(), self.rs.clone());
            return Err(self.diverged_with(index, op, kind, ls, rs));
        }
        // The snapshot just checked becomes `checked`; the old one's buffers take the next.
        // `ls` now holds an older snapshot than the left model's last: it must start afresh.
        std::mem::swap(&mut self.checked, &mut self.ls);
        self.left_seen.clear();
        self.any_checked = true;
        Ok(lo)
    }

    fn diverged(&mut self, index: Option<usize>, op: &Op, why: Why) -> Box<Divergence> {
        let kind = match why {
            Why::Kind(k) => k,
            Panic(model, message) => DivergenceKind::Panicked { model, message },
        };
        // After a panic a model may be in any state, and its snapshot may panic too.
        let ls = guarded(|| self.left.snapshot()).unwrap_or_default();
        let rs = guarded(|| self.right.snapshot()).unwrap_or_default();
        let mut d = self.diverged_with(index, op, kind, ls, rs);
        if matches!(d.kind, DivergenceKind::Panicked { .. }) {
            // One model ran the op and the other did not finish it: a field diff would only
            // list the op's own effects.
            d.fields.clear();
        }
        d
    }

    fn diverged_with(
        &mut self,
        index: Option<usize>,
        op: &Op,
        kind: DivergenceKind,
        ls: Snapshot,
        rs: Snapshot,
    ) -> Box<Divergence> {
        Box::new(Divergence {
            left_model: self.left.name(),
            right_model: self.right.name(),
            program: self.program.clone(),
            op_index: index,
            op: op.clone(),
            kind,
            fields: if ls == rs { Vec::new() } else { ls.diff(&rs) },
            left: ls,
            right: rs,
            trace: std::mem::take(&mut self.trace),
        })
    }
}

enum Why {
    Kind(DivergenceKind),
    Panic(&'static str, String),
}
use Why::Panic;

impl From<DivergenceKind> for Why {
    fn from(k: DivergenceKind) -> Why {
        Why::Kind(k)
    }
}

/// The differential oracle as an engine runs it: generated programs of `level` through `run`
/// ([`run`] for the real models; the scoreboard passes one with a bug re-introduced).
pub struct Differential<F> {
    /// Which ops the generated programs use.
    pub level: Level,
    /// What the model under test takes: every generated program is adapted to it.
    pub dialect: Dialect,
    /// Both models on one program.
    pub run: F,
}

impl<F: Fn(&Program) -> Verdict<Stats, Divergence> + Sync> Oracle for Differential<F> {
    type Program = Program;
    type Stats = Stats;
    type Divergence = Divergence;

    fn generate(&self, seed: u64) -> Program {
        let mut p = generators::program_from_seed(seed, self.level);
        self.dialect.adapt(&mut p);
        p
    }

    fn check(&self, program: &Program) -> Verdict<Stats, Divergence> {
        (self.run)(program)
    }

    fn signature(divergence: &Divergence) -> String {
        divergence.signature()
    }

    fn print(program: &Program) -> String {
        print_program(program)
    }

    fn print_file(program: &Program, run: &RunLine) -> String {
        print_program_file(program, run)
    }

    fn label(&self) -> String {
        self.level.to_string()
    }

    fn level(&self) -> Option<Level> {
        Some(self.level)
    }

    fn flags(&self) -> String {
        format!("--level {}", self.level)
    }

    /// [`crate::input::mutate`]'s op-level mutation (through the literal encoding), adapted to
    /// the dialect as a generated program is.
    fn mutate(&self, program: &Program, seed: u64) -> Option<Program> {
        let bytes = crate::input::encode(program);
        let out = crate::input::mutate::mutate(&bytes, self.level, MUTANT_MAX_BYTES, seed)?;
        let mut p = crate::input::decode(&out, self.level);
        self.dialect.adapt(&mut p);
        Some(p)
    }
}

/// The byte bound a mutant's literal encoding must fit: far above what [`generators::MAX_OPS`]
/// ops take, so the op cap, not this, bounds a mutant.
const MUTANT_MAX_BYTES: usize = 1 << 16;
