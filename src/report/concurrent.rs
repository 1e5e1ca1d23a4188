//! Reports of a rejected concurrent run: what failed, the interleaving as a per-task timeline
//! (one column per task, one line per invocation `>` or response `<` in the order they
//! happened), the nearest sequential order the search tried and why it was rejected, and the
//! program. Text ([`text`]) and JSON ([`json_value`]) carry the same content.

use crate::oracles::linearizable::run::RunRecord;
use crate::oracles::linearizable::search::Mismatch;
use crate::oracles::linearizable::{Rejection, RejectionKind};
use delalloc_contract::concurrent_text::print_concurrent_program;
use delalloc_contract::text::print_op;
use delalloc_contract::{ConcurrentProgram, Outcome};
use serde_json::json;
use std::fmt::Write as _;

/// One line: the kind and the first detail.
pub fn headline(d: &Rejection) -> String {
    let detail = match &d.kind {
        RejectionKind::SetupOutcomeDiffers {
            index,
            reference,
            optimized,
        } => format!(
            "setup op {index}: reference answered {reference}, optimized {optimized}"
        ),
        RejectionKind::RunFailed { message } => message.clone(),
        RejectionKind::InvariantBroken {
            when,
            invariant,
            message,
        } => format!("§{invariant} broken {when}: {message}"),
        RejectionKind::Leaked {
            evict_leaks,
            unmount_leaks,
        } => format!("{evict_leaks} evict and {unmount_leaks} unmount WARN(s) after the unmount"),
        RejectionKind::NotLinearizable => match d.nearest.as_ref().map(|n| &n.mismatch) {
            Some(Mismatch::Outcome {
                task,
                index,
                reference,
                run,
            }) => format!(
                "no order explains it; nearest: task {task} op {index} answered {run} in the run, {reference} in the reference"
            ),
            Some(Mismatch::State { fields } | Mismatch::AfterUnmount { fields }) => {
                match fields.first() {
                    Some(f) => format!(
                        "no order explains it; nearest: {} reference {} vs run {}",
                        f.field, f.left, f.right
                    ),
                    None => "no order explains it".into(),
                }
            }
            None => "no order explains it".into(),
        },
    };
    format!("{}: {detail}", d.kind.name())
}

/// The interleaving of a run: one column per task, one line per event.
pub fn timeline(p: &ConcurrentProgram, run: &RunRecord) -> String {
    let mut events = Vec::new();
    for (t, recs) in run.ops.iter().enumerate() {
        for (i, r) in recs.iter().enumerate() {
            let op = print_op(&p.tasks[t][i]);
            events.push((r.invoked, t, format!("> {op}")));
            match (r.returned, r.outcome) {
                (Some(at), Some(o)) => events.push((at, t, format!("< {o}"))),
                _ => events.push((usize::MAX, t, "  (never returned)".into())),
            }
        }
    }
    lanes(p.tasks.len(), events)
}

/// The full human report.
pub fn text(d: &Rejection) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "CONCURRENT DIVERGENCE ({})", headline(d));
    let r = &d.run;
    let _ = writeln!(
        s,
        "run: {} scheduling decisions, {} of {} schedule bytes used",
        r.decisions,
        r.bytes_used,
        d.program.schedule.len()
    );
    if !d.program.setup.is_empty() {
        let _ = writeln!(s, "setup (alone, reference | optimized):");
        for (i, op) in d.program.setup.iter().enumerate() {
            let o = r
                .setup_outcomes
                .get(i)
                .map_or("-".into(), Outcome::to_string);
            let _ = writeln!(s, "  {i:>4}  {}  {o}", print_op(op));
        }
    }
    let _ = writeln!(s, "timeline (> invoked, < returned):");
    s.push_str(&timeline(&d.program, &d.run));
    if let Some(n) = &d.nearest {
        let order: Vec<String> = n.order.iter().map(|(t, i)| format!("t{t}.{i}")).collect();
        let _ = writeln!(
            s,
            "nearest sequential order tried (task.op): {}",
            order.join(" ")
        );
        match &n.mismatch {
            Mismatch::Outcome {
                task,
                index,
                reference,
                run,
            } => {
                let _ = writeln!(
                    s,
                    "  rejected at t{task}.{index} ({}): run answered {}, reference {}",
                    print_op(&d.program.tasks[*task][*index]),
                    run,
                    reference
                );
            }
            Mismatch::State { fields } | Mismatch::AfterUnmount { fields } => {
                let when = if matches!(n.mismatch, Mismatch::State { .. }) {
                    "state after a sync"
                } else {
                    "state after the unmount"
                };
                let _ = writeln!(s, "  every op agreed; the {when} differs:");
                for f in fields {
                    let _ = writeln!(
                        s,
                        "    {}\n      reference: {}\n      run:       {}",
                        f.field, f.left, f.right
                    );
                }
            }
        }
    }
    if let (Some(q), RejectionKind::Leaked { .. } | RejectionKind::InvariantBroken { .. }) =
        (&r.after_unmount, &d.kind)
    {
        let dirty: Vec<String> = q
            .inodes
            .iter()
            .enumerate()
            .filter(|(_, i)| {
                let rsv = i.block_rsv.unwrap_or_default();
                i.csum_bytes
                    + i.outstanding_extents
                    + i.reserved_extents.unwrap_or(0)
                    + rsv.reserved
                    + rsv.size
                    > 0
            })
            .map(|(n, i)| {
                let reserved = match (i.reserved_extents, i.block_rsv) {
                    (Some(extents), _) => format!("reserved {extents}"),
                    (None, Some(r)) => format!("block_rsv {}/{}", r.reserved, r.size),
                    (None, None) => String::new(),
                };
                format!(
                    "inodes[{n}]: outstanding {} {reserved} csum {}",
                    i.outstanding_extents, i.csum_bytes
                )
            })
            .collect();
        // Era B's fs-wide delalloc reserve; era C's inode reservations are in `dirty`.
        let delalloc = q
            .delalloc_rsv
            .map(|r| format!(" delalloc rsv {}/{}", r.reserved, r.size))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "after the unmount: data may_use {} meta may_use {}{delalloc} {}",
            q.data.bytes_may_use,
            q.meta.bytes_may_use,
            dirty.join("; ")
        );
    }
    let _ = writeln!(s, "program:");
    for line in print_concurrent_program(&d.program).lines() {
        let _ = writeln!(s, "  {line}");
    }
    s
}

/// The same report as a JSON value.
pub fn json_value(d: &Rejection) -> serde_json::Value {
    json!({
        "summary": headline(d),
        "kind": d.kind,
        "signature": d.signature(),
        "timeline": timeline(&d.program, &d.run),
        "run": d.run,
        "nearest": d.nearest,
        "program": print_concurrent_program(&d.program),
    })
}

/// Timeline events `(sequence number, task, text)` as text, one column per task, in sequence
/// order (`usize::MAX`: never happened, printed `-`, last).
pub(crate) fn lanes(tasks: usize, mut events: Vec<(usize, usize, String)>) -> String {
    events.sort();
    let width = events
        .iter()
        .map(|(_, _, s)| s.len())
        .max()
        .unwrap_or(10)
        .clamp(10, 60)
        + 2;
    let mut s = String::new();
    let _ = write!(s, "  {:>4}", "seq");
    for t in 0..tasks {
        let _ = write!(s, "  {:<width$}", format!("task {t}"));
    }
    s.push('\n');
    for (seq, t, text) in events {
        let seq = if seq == usize::MAX {
            "-".to_string()
        } else {
            seq.to_string()
        };
        let _ = writeln!(s, "  {seq:>4}  {}{text}", " ".repeat((width + 2) * t));
    }
    s
}
