//! A program run on several models at once, shown side by side (`trace`): per op each model's
//! outcome, then each field that changed in any model with each model's value before and after,
//! every row where the models' values differ marked with `!`. A concurrent program's run is
//! shown as its timeline, with the ops a bug set changed marked against the fixed model's run
//! under the same schedule.

use crate::oracles::differential::Divergence;
use crate::oracles::linearizable::run::RunRecord;
use crate::oracles::linearizable::Rejection;
use crate::oracles::panics::guarded;
use crate::oracles::stats::Stats;
use crate::oracles::Verdict;
use crate::report;
use delalloc_contract::text::print_op;
use delalloc_contract::{Complaint, ConcurrentProgram, Model, Op, Outcome, Program, Snapshot};
use serde_json::json;
use std::fmt::Write as _;

/// What one model did in one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelStep {
    /// `None` if the model panicked in this op or an earlier one.
    pub outcome: Option<Outcome>,
    /// The panic's message, in the op it happened in.
    pub panicked: Option<String>,
    /// What the model's own checks said (the kernel's WARN_ON / ASSERT).
    pub complaints: Vec<Complaint>,
}

/// One field that changed in some model: each model's value before and after the op (`None`
/// for a model that panicked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRow {
    pub field: String,
    pub values: Vec<Option<(String, String)>>,
}

impl FieldRow {
    /// Whether the models' values after the op differ.
    pub fn differs(&self) -> bool {
        let mut afters = self.values.iter().map(|v| v.as_ref().map(|(_, a)| a));
        let first = afters.next().flatten();
        afters.any(|a| a != first)
    }
}

/// One op on every model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// `None` for the unmount the oracle adds after the last op.
    pub index: Option<usize>,
    pub op: Op,
    /// Per model, in the trace's order.
    pub models: Vec<ModelStep>,
    pub fields: Vec<FieldRow>,
}

impl Step {
    /// Whether the models answered differently.
    pub fn outcomes_differ(&self) -> bool {
        let first = self.models.first().map(|m| m.outcome);
        self.models.iter().any(|m| Some(m.outcome) != first)
    }
}

/// A program's run on each model.
#[derive(Clone, Debug)]
pub struct SideBySide {
    /// The models' names, as the columns are headed.
    pub models: Vec<&'static str>,
    /// Fields that differ between the models right after the mount (normally none): each
    /// model's value as before = after.
    pub at_mount: Vec<FieldRow>,
    pub steps: Vec<Step>,
}

/// Runs `program` on each of `models` (fresh, of its geometry), then the oracle's closing
/// unmount if it has none. A model that panics is shown panicking and stops there.
pub fn trace(program: &Program, models: Vec<(&'static str, Box<dyn Model>)>) -> SideBySide {
    crate::oracles::panics::quiet_model_panics();
    let (names, mut models): (Vec<_>, Vec<_>) = models.into_iter().unzip();
    let mut before: Vec<Option<Snapshot>> = models
        .iter()
        .map(|m| guarded(|| m.snapshot()).ok())
        .collect();
    let at_mount = rows(&before, &before, |s| {
        let first = s[0].as_ref();
        s.iter()
            .flatten()
            .flat_map(|x| first.map_or(Vec::new(), |f| f.diff(x)))
            .map(|d| d.field)
            .collect()
    });
    let closing = (!program.ops.contains(&Op::Unmount)).then_some(Op::Unmount);
    let numbered = program.ops.iter().enumerate().map(|(i, op)| (Some(i), op));
    let mut steps = Vec::with_capacity(program.ops.len() + 1);
    for (index, op) in numbered.chain(closing.iter().map(|op| (None, op))) {
        let mut after = before.clone();
        let mut done = Vec::with_capacity(models.len());
        for (m, model) in models.iter_mut().enumerate() {
            if before[m].is_none() {
                done.push(ModelStep {
                    outcome: None,
                    panicked: None,
                    complaints: Vec::new(),
                });
                continue;
            }
            let step = guarded(|| model.apply(op)).and_then(|o| {
                let s = guarded(|| model.snapshot())?;
                Ok((o, s))
            });
            let complaints = guarded(|| model.take_complaints()).unwrap_or_default();
            done.push(match step {
                Ok((outcome, s)) => {
                    after[m] = Some(s);
                    ModelStep {
                        outcome: Some(outcome),
                        panicked: None,
                        complaints,
                    }
                }
                Err(message) => {
                    after[m] = None;
                    ModelStep {
                        outcome: None,
                        panicked: Some(message),
                        complaints,
                    }
                }
            });
        }
        let fields = rows(&before, &after, |_| {
            before
                .iter()
                .zip(&after)
                .filter_map(|(b, a)| Some(b.as_ref()?.diff(a.as_ref()?)))
                .flatten()
                .map(|d| d.field)
                .collect()
        });
        steps.push(Step {
            index,
            op: op.clone(),
            models: done,
            fields,
        });
        before = after;
    }
    SideBySide {
        models: names,
        at_mount,
        steps,
    }
}

/// The rows of the fields `which` names (each once, in the order named), with each model's
/// values in `before` and `after`.
fn rows(
    before: &[Option<Snapshot>],
    after: &[Option<Snapshot>],
    which: impl Fn(&[Option<Snapshot>]) -> Vec<String>,
) -> Vec<FieldRow> {
    let mut names: Vec<String> = Vec::new();
    for f in which(before) {
        if !names.contains(&f) {
            names.push(f);
        }
    }
    names
        .into_iter()
        .map(|field| {
            let values = before
                .iter()
                .zip(after)
                .map(|(b, a)| {
                    let (b, a) = (b.as_ref()?, a.as_ref()?);
                    Some((b.field_value(&field)?, a.field_value(&field)?))
                })
                .collect();
            FieldRow { field, values }
        })
        .collect()
}

/// `old -> new`, or the value alone when the model left it.
fn cell(v: &Option<(String, String)>) -> String {
    match v {
        None => "-".into(),
        Some((b, a)) if b == a => a.clone(),
        Some((b, a)) => format!("{b} -> {a}"),
    }
}

/// Columns wider than this are not padded further: the row grows instead.
const MAX_WIDTH: usize = 40;

/// The trace as text: a header naming the columns, per op its line (the diverging one marked
/// with `<-` and the verdict's kind), each model's outcome, each changed field with each
/// model's value, `!` before every row where the models differ; then `verdict`.
pub fn text(t: &SideBySide, verdict: Option<&Verdict<Stats, Divergence>>) -> String {
    // Each row: mark, label, one cell per model.
    let mut table: Vec<(Option<String>, bool, String, Vec<String>)> = Vec::new();
    let diverged_at = verdict
        .and_then(Verdict::divergence)
        .map(|d| (d.op_index, d.kind.name()));
    if !t.at_mount.is_empty() {
        table.push((Some("mount".into()), false, String::new(), Vec::new()));
        for f in &t.at_mount {
            let cells = f.values.iter().map(cell).collect();
            table.push((None, f.differs(), f.field.clone(), cells));
        }
    }
    for s in &t.steps {
        let at = s.index.map_or("end".to_string(), |i| i.to_string());
        let mut line = format!("{at:>4}  {}", print_op(&s.op));
        if let Some((index, kind)) = diverged_at {
            if index == s.index {
                let _ = write!(line, "   <- {kind}");
            }
        }
        table.push((Some(line), false, String::new(), Vec::new()));
        let outcomes = s
            .models
            .iter()
            .map(|m| match (&m.outcome, &m.panicked) {
                (Some(o), _) => format!("=> {o}"),
                (None, Some(_)) => "=> panicked".into(),
                (None, None) => "-".into(),
            })
            .collect();
        table.push((None, s.outcomes_differ(), "outcome".into(), outcomes));
        for f in &s.fields {
            let cells = f.values.iter().map(cell).collect();
            table.push((None, f.differs(), f.field.clone(), cells));
        }
        for (name, m) in t.models.iter().zip(&s.models) {
            if let Some(p) = &m.panicked {
                table.push((
                    Some(format!("      ! {name} panicked: {p}")),
                    true,
                    String::new(),
                    Vec::new(),
                ));
            }
            for c in &m.complaints {
                table.push((
                    Some(format!("      ! {name}: {c}")),
                    true,
                    String::new(),
                    Vec::new(),
                ));
            }
        }
    }
    let label_w = table
        .iter()
        .filter(|r| r.0.is_none())
        .map(|r| r.2.len())
        .max()
        .unwrap_or(0)
        .clamp(7, MAX_WIDTH);
    let widths: Vec<usize> = (0..t.models.len())
        .map(|m| {
            table
                .iter()
                .filter_map(|r| r.3.get(m).map(String::len))
                .chain([t.models[m].len()])
                .max()
                .unwrap_or(0)
                .min(MAX_WIDTH)
        })
        .collect();
    let row = |mark: bool, label: &str, cells: &[&str]| {
        let mut s = format!("    {} {label:<label_w$}", if mark { '!' } else { ' ' });
        for (c, w) in cells.iter().zip(&widths) {
            let _ = write!(s, "  {c:<w$}");
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = format!("trace of {}", t.models.join(" | "));
    out += if t.models.len() > 1 {
        "; `!` marks where the models differ\n"
    } else {
        "\n"
    };
    out += &row(false, "", &t.models);
    for (line, mark, label, cells) in &table {
        match line {
            Some(l) => {
                out += l;
                out.push('\n');
            }
            None => {
                let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
                out += &row(*mark, label, &cells);
            }
        }
    }
    if let Some(v) = verdict {
        out += &match v {
            Verdict::Agree(_) => "verdict: the models agree\n".to_string(),
            Verdict::Diverged(d) => format!("verdict: {}\n", report::headline(d)),
        };
    }
    out
}

/// The trace as JSON: the models, then per step each model's outcome, complaints and its own
/// before/after of every changed field (`models.<name>`), and `differs`: what the models differ
/// on after the op (`outcome` and field names).
pub fn json_value(
    t: &SideBySide,
    verdict: Option<&Verdict<Stats, Divergence>>,
) -> serde_json::Value {
    let per_model = |values: &dyn Fn(usize) -> serde_json::Value| {
        let mut map = serde_json::Map::new();
        for (m, name) in t.models.iter().enumerate() {
            map.insert((*name).to_string(), values(m));
        }
        serde_json::Value::Object(map)
    };
    let changes = |fields: &[FieldRow], m: usize| {
        fields
            .iter()
            .filter_map(|f| {
                let (b, a) = f.values.get(m)?.as_ref()?;
                Some(json!({ "field": f.field, "before": b, "after": a }))
            })
            .collect::<Vec<_>>()
    };
    let differs = |fields: &[FieldRow]| {
        fields
            .iter()
            .filter(|f| f.differs())
            .map(|f| f.field.clone())
            .collect::<Vec<_>>()
    };
    let steps: Vec<serde_json::Value> = t
        .steps
        .iter()
        .map(|s| {
            let mut d = differs(&s.fields);
            if s.outcomes_differ() {
                d.insert(0, "outcome".into());
            }
            json!({
                "index": s.index,
                "op": s.op,
                "text": print_op(&s.op),
                "models": per_model(&|m| {
                    let ms = &s.models[m];
                    json!({
                        "outcome": ms.outcome,
                        "panicked": ms.panicked,
                        "complaints": ms.complaints,
                        "changes": changes(&s.fields, m),
                    })
                }),
                "differs": d,
            })
        })
        .collect();
    json!({
        "models": t.models,
        "at_mount": {
            "models": per_model(&|m| json!(changes(&t.at_mount, m))),
            "differs": differs(&t.at_mount),
        },
        "steps": steps,
        "verdict": verdict.map(|v| v.divergence().map(report::json_value)),
    })
}

/// A concurrent program's run (`with`, the model with the bug set) as its timeline, one column
/// per task; with `without` (the fixed model's run under the same schedule), every op that
/// answered differently there is marked `!` with the fixed model's answer, and the fields that
/// differ after the run follow.
pub fn concurrent_text(
    p: &ConcurrentProgram,
    with: &RunRecord,
    without: Option<&RunRecord>,
) -> String {
    let mut events = Vec::new();
    for (t, recs) in with.ops.iter().enumerate() {
        for (i, r) in recs.iter().enumerate() {
            let op = print_op(&p.tasks[t][i]);
            events.push((r.invoked, t, format!("> {op}")));
            let other =
                without.map(|w| w.ops.get(t).and_then(|o| o.get(i)).and_then(|o| o.outcome));
            let mark = match other {
                Some(o) if o != r.outcome => format!(
                    "   ! fixed model: {}",
                    o.map_or("(never returned)".into(), |o| o.to_string())
                ),
                _ => String::new(),
            };
            match (r.returned, r.outcome) {
                (Some(at), Some(o)) => events.push((at, t, format!("< {o}{mark}"))),
                _ => events.push((usize::MAX, t, format!("  (never returned){mark}"))),
            }
        }
    }
    let mut s = super::concurrent::lanes(p.tasks.len(), events);
    if let Some(w) = without {
        for (when, a, b) in [
            ("quiescent", with.quiescent.as_ref(), w.quiescent.as_ref()),
            (
                "after the unmount",
                with.after_unmount.as_ref(),
                w.after_unmount.as_ref(),
            ),
        ] {
            let (Some(a), Some(b)) = (a, b) else { continue };
            let diff = a.diff(b);
            if diff.is_empty() {
                continue;
            }
            let _ = writeln!(s, "{when}, with the bugs | the fixed model:");
            for f in diff {
                let _ = writeln!(s, "  ! {}: {} | {}", f.field, f.left, f.right);
            }
        }
        let setup_differs = with
            .setup_outcomes
            .iter()
            .zip(&w.setup_outcomes)
            .enumerate()
            .filter(|(_, (a, b))| a != b);
        for (i, (a, b)) in setup_differs {
            let _ = writeln!(s, "  ! setup op {i}: {a} | fixed model {b}");
        }
    }
    s
}

/// The verdict of a concurrent run as one line.
pub fn concurrent_verdict(
    v: &Verdict<crate::oracles::linearizable::RaceStats, Rejection>,
) -> String {
    match v {
        Verdict::Agree(_) => "agree (linearizable, nothing leaked)".into(),
        Verdict::Diverged(d) => format!("DIVERGED: {}", report::concurrent::headline(d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use delalloc_contract::text::parse_program;
    use delalloc_reference::Reference;

    /// The reference, but evict panics and every buffered write reserves one extent more.
    struct Off(Reference, u64);

    impl Model for Off {
        fn name(&self) -> &'static str {
            "off"
        }
        fn apply(&mut self, op: &Op) -> Outcome {
            match op {
                Op::Evict { .. } => panic!("evict is broken here"),
                Op::BufferedWrite { .. } => self.1 += 1,
                _ => {}
            }
            self.0.apply(op)
        }
        fn snapshot(&self) -> Snapshot {
            let mut s = self.0.snapshot();
            *s.inodes[0].reserved_extents.get_or_insert(0) += self.1;
            s
        }
    }

    fn models(p: &Program) -> Vec<(&'static str, Box<dyn Model>)> {
        vec![
            ("reference", Box::new(Reference::new(&p.geometry))),
            ("off", Box::new(Off(Reference::new(&p.geometry), 0))),
        ]
    }

    #[test]
    fn each_model_has_its_values_and_differences_are_marked() {
        let p = parse_program("geometry inodes=1\nbuffered_write ino=0 pos=0 len=4K\ncommit\n")
            .unwrap();
        let t = trace(&p, models(&p));
        assert_eq!(t.models, ["reference", "off"]);
        assert!(t.at_mount.is_empty());
        assert_eq!(t.steps.len(), 3, "two ops and the closing unmount");
        let write = &t.steps[0];
        assert!(!write.outcomes_differ());
        let row = |s: &Step, f: &str| s.fields.iter().find(|r| r.field == f).cloned().unwrap();
        let reserved = row(write, "inodes[0].reserved_extents");
        assert!(reserved.differs());
        assert_eq!(
            reserved.values,
            [
                Some(("0".into(), "1".into())),
                Some(("0".into(), "2".into()))
            ]
        );
        assert!(!row(write, "inodes[0].outstanding_extents").differs());
        let text = text(&t, None);
        assert!(
            text.lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .any(|l| l == "! inodes[0].reserved_extents 0 -> 1 0 -> 2"),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("      inodes[0].outstanding_extents")),
            "{text}"
        );
        let v = json_value(&t, None);
        assert_eq!(
            v["steps"][0]["differs"][0], "inodes[0].reserved_extents",
            "{v}"
        );
        assert_eq!(
            v["steps"][0]["models"]["off"]["changes"]
                .as_array()
                .map(Vec::len),
            v["steps"][0]["models"]["reference"]["changes"]
                .as_array()
                .map(Vec::len)
        );
    }

    #[test]
    fn a_model_that_panics_stops_there_and_says_so() {
        let p = parse_program("geometry inodes=1\nevict ino=0\ncommit\n").unwrap();
        let t = trace(&p, models(&p));
        let evict = &t.steps[0];
        assert!(evict.outcomes_differ());
        assert!(evict.models[1]
            .panicked
            .as_deref()
            .unwrap()
            .contains("evict is broken here"));
        assert_eq!(
            t.steps[1].models[1],
            ModelStep {
                outcome: None,
                panicked: None,
                complaints: Vec::new()
            }
        );
        let text = text(&t, None);
        assert!(
            text.contains("      ! off panicked: evict is broken here"),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("    ! outcome") && l.ends_with("=> panicked")),
            "{text}"
        );
    }
}
