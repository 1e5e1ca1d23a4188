//! What a program does, op by op: each op's outcome and the fields it changed, as the reference
//! model sees them. For reading a regression or a finding, and for checking that a hand-written
//! scenario reaches the path its comment names (see tests/all/regressions.rs).

use crate::oracles::differential::{self, Divergence};
use crate::oracles::stats::Stats;
use crate::oracles::Verdict;
use crate::report;
use delalloc_contract::text::print_op;
use delalloc_contract::{Complaint, FieldDiff, Model, Op, Outcome, Program, Snapshot};
use delalloc_reference::Reference;
use serde::Serialize;

/// One op: what it answered and what it changed (reference's snapshot before → after).
#[derive(Clone, Debug, Serialize)]
pub struct TraceStep {
    /// None for the unmount the oracle adds after the last op.
    pub index: Option<usize>,
    pub op: Op,
    pub outcome: Outcome,
    pub changes: Vec<FieldDiff>,
    /// What the model's own checks said during the op (the kernel's WARN_ON / ASSERT).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub complaints: Vec<Complaint>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Trace {
    pub steps: Vec<TraceStep>,
    /// The reference's snapshot after the last step.
    pub last: Snapshot,
}

/// Runs `program` on the reference model, then the oracle's closing unmount if the program
/// has none, recording every step.
pub fn trace(program: &Program) -> Trace {
    trace_model(program, &mut Reference::new(&program.geometry))
}

/// [`trace`] on any freshly made model of the program's geometry (`trace --against kernel`
/// shows the kernel's own answers and counters).
pub fn trace_model(program: &Program, model: &mut dyn Model) -> Trace {
    let mut before = model.snapshot();
    let mut steps = Vec::with_capacity(program.ops.len() + 1);
    let closing = (!program.ops.contains(&Op::Unmount)).then_some(Op::Unmount);
    let numbered = program.ops.iter().enumerate().map(|(i, op)| (Some(i), op));
    for (index, op) in numbered.chain(closing.iter().map(|op| (None, op))) {
        let outcome = model.apply(op);
        let after = model.snapshot();
        steps.push(TraceStep {
            index,
            op: op.clone(),
            outcome,
            changes: before.diff(&after),
            complaints: model.take_complaints(),
        });
        before = after;
    }
    Trace {
        steps,
        last: before,
    }
}

/// The trace as text: one line per op with its outcome, then one indented line per changed
/// field (`old -> new`), then the oracle's verdict on the program.
pub fn text(program: &Program) -> String {
    text_of(&trace(program), &differential::run(program))
}

/// A trace and the verdict on its program as text, as [`text`] writes them.
pub fn text_of(t: &Trace, verdict: &Verdict<Stats, Divergence>) -> String {
    let mut out = String::new();
    for s in &t.steps {
        let at = s.index.map_or("end".to_string(), |i| i.to_string());
        out += &format!("{at:>4}  {}  => {}\n", print_op(&s.op), s.outcome);
        for c in &s.changes {
            out += &format!("        {}: {} -> {}\n", c.field, c.left, c.right);
        }
        for c in &s.complaints {
            out += &format!("        ! {c}\n");
        }
    }
    out += &match verdict {
        Verdict::Agree(_) => "verdict: the models agree\n".to_string(),
        Verdict::Diverged(d) => format!("verdict: {}\n", report::headline(d)),
    };
    out
}
