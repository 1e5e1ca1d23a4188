//! Reports of a divergence: human text ([`text`]) and JSON ([`json()`]) with the same content:
//! where (op index and the op in text format), what (each differing field with both values, or
//! the two outcomes, the broken invariant, the panic), the program up to that op in text format,
//! and the per-op trace of both models' outcomes. [`page`] draws a divergence as one HTML page,
//! [`concurrent_page`] a rejected concurrent run ([`concurrent`] has its text and JSON).

pub mod concurrent;
pub mod concurrent_page;
mod html;
pub mod page;
mod plots;
pub mod side_by_side;
pub mod trace;

use crate::oracles::differential::{Divergence, DivergenceKind};
use crate::oracles::linearizable::Rejection;
use delalloc_contract::text::{print_op, print_program};
use serde_json::json;
use std::fmt::Write as _;

/// A divergence as a person reads it: one line, the whole text, and the same content as
/// JSON. Every oracle's divergence has one, so that engines and commands report any of them.
pub trait Report {
    /// One line: the kind and the first detail.
    fn headline(&self) -> String;
    /// The whole report.
    fn text(&self) -> String;
    /// The report's content as JSON.
    fn json_value(&self) -> serde_json::Value;
    /// The report as one self-contained HTML page ([`page`]), for the kinds of divergence that
    /// have one (`None`); `source` says where it came from. An error says why it could not be
    /// drawn.
    fn html(&self, _source: &str) -> Option<Result<String, String>> {
        None
    }
}

impl Report for Divergence {
    fn headline(&self) -> String {
        headline(self)
    }

    fn text(&self) -> String {
        text(self)
    }

    fn json_value(&self) -> serde_json::Value {
        json_value(self)
    }

    fn html(&self, source: &str) -> Option<Result<String, String>> {
        Some(page::html(self, source))
    }
}

impl Report for Rejection {
    fn headline(&self) -> String {
        concurrent::headline(self)
    }

    fn text(&self) -> String {
        concurrent::text(self)
    }

    fn json_value(&self) -> serde_json::Value {
        concurrent::json_value(self)
    }

    fn html(&self, source: &str) -> Option<Result<String, String>> {
        Some(concurrent_page::html(self, source))
    }
}

/// `at op 3: writeback ino=0 start=0 len=4K`, or `at teardown: unmount`.
pub fn location(d: &Divergence) -> String {
    match d.op_index {
        Some(i) => format!("at op {i}: {}", print_op(&d.op)),
        None => format!(
            "at teardown (the oracle's final unmount): {}",
            print_op(&d.op)
        ),
    }
}

/// One line naming the divergence: kind, place and the first difference.
pub fn headline(d: &Divergence) -> String {
    let what = match &d.kind {
        DivergenceKind::OutcomeDiffers { left, right } => {
            format!(
                "{} answered {}, {} answered {}",
                d.left_model, left, d.right_model, right
            )
        }
        DivergenceKind::StateDiffers => match d.fields.first() {
            Some(f) => format!(
                "{}: {} {} vs {} {}{}",
                f.field,
                d.left_model,
                f.left,
                d.right_model,
                f.right,
                if d.fields.len() > 1 {
                    format!(" (and {} more fields)", d.fields.len() - 1)
                } else {
                    String::new()
                }
            ),
            None => "snapshots differ".into(),
        },
        DivergenceKind::InvariantBroken {
            model,
            invariant,
            message,
        } => {
            format!("§{invariant} broken in {model} models: {message}")
        }
        DivergenceKind::Panicked { model, message } => format!("{model} panicked: {message}"),
        DivergenceKind::Complained { model, complaint } => format!("{model}: {complaint}"),
    };
    format!("{} {}: {what}", d.kind.name(), location(d))
}

/// The full human report.
pub fn text(d: &Divergence) -> String {
    let mut s = String::new();
    let (l, r) = (d.left_model, d.right_model);
    let _ = writeln!(s, "DIVERGENCE ({}) {}", d.kind.name(), location(d));
    let _ = writeln!(s, "  left = {l}, right = {r}");
    match &d.kind {
        DivergenceKind::OutcomeDiffers { left, right } => {
            let _ = writeln!(s, "outcome:\n  {l}: {left}\n  {r}: {right}");
        }
        DivergenceKind::StateDiffers => {}
        DivergenceKind::InvariantBroken {
            model,
            invariant,
            message,
        } => {
            let _ = writeln!(s, "invariant §{invariant} broken in {model} models (their snapshots are equal):\n  {message}");
        }
        DivergenceKind::Panicked { model, message } => {
            let _ = writeln!(s, "{model} panicked:\n  {message}");
        }
        DivergenceKind::Complained { model, complaint } => {
            let _ = writeln!(
                s,
                "{model}'s own code complained during the op:\n  {complaint}"
            );
        }
    }
    if !d.fields.is_empty() {
        let _ = writeln!(s, "differing fields after the op:");
        for f in &d.fields {
            let _ = writeln!(
                s,
                "  {}\n    {l}: {}\n    {r}: {}",
                f.field, f.left, f.right
            );
        }
    }
    let p = d.program_up_to();
    let _ = writeln!(s, "program up to that op ({} ops):", p.ops.len());
    for line in print_program(&p).lines() {
        let _ = writeln!(s, "  {line}");
    }
    let _ = writeln!(s, "trace ({l} | {r}):");
    let width = d
        .trace
        .iter()
        .map(|st| print_op(&st.op).len())
        .max()
        .unwrap_or(0);
    for (i, st) in d.trace.iter().enumerate() {
        let index = if i < d.program.ops.len() {
            format!("{i:>4}")
        } else {
            "  td".into()
        };
        let mark = if st.left != st.right {
            "   <-- differs"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "  {index}  {:<width$}  {} | {}{mark}",
            print_op(&st.op),
            st.left,
            st.right
        );
    }
    if let DivergenceKind::Panicked { model, .. } = &d.kind {
        let _ = writeln!(
            s,
            "  {}  {:<width$}  ({model} panicked)",
            index_label(d),
            print_op(&d.op)
        );
    }
    s
}

fn index_label(d: &Divergence) -> String {
    d.op_index.map_or("  td".into(), |i| format!("{i:>4}"))
}

/// The same report as JSON (pretty-printed), snapshots included.
pub fn json(d: &Divergence) -> String {
    serde_json::to_string_pretty(&json_value(d))
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// The JSON report as a value, to embed in a larger document.
pub fn json_value(d: &Divergence) -> serde_json::Value {
    let trace: Vec<_> = d
        .trace
        .iter()
        .enumerate()
        .map(|(i, st)| {
            json!({
                "index": if i < d.program.ops.len() { Some(i) } else { None },
                "op": print_op(&st.op),
                "left": st.left.to_string(),
                "right": st.right.to_string(),
            })
        })
        .collect();
    json!({
        "summary": headline(d),
        "kind": d.kind,
        "signature": d.signature(),
        "op_index": d.op_index,
        "op": print_op(&d.op),
        "left_model": d.left_model,
        "right_model": d.right_model,
        "fields": d.fields,
        "program": print_program(&d.program_up_to()),
        "trace": trace,
        "left_snapshot": d.left,
        "right_snapshot": d.right,
    })
}
