//! A rejected concurrent run as one self-contained HTML page (`report FINDING --html OUT` on a
//! concurrent program file, and beside each finding of `fuzz --concurrent`): no script, no
//! network, the pictures inlined as SVG ([`super::plots`]), the structure and style of the
//! sequential page ([`super::html`]). Top to bottom:
//!
//! 1. what was rejected and why: the kind, its detail, and the nearest sequential order's
//!    verdict, with each field in which the run's state and that order's differ;
//! 2. the program: its geometry, the setup (the run's and the reference's answers), the schedule
//!    bytes (those the run used, those it did not), the file's text;
//! 3. the run as a timeline, a lane per task over the run's steps (each op a bar from its
//!    invocation to its response, with its answer), and below it the nearest sequential order
//!    in the same lanes; then each task op with its answer in the run and in that order, beside
//!    the order itself. The op the order could not explain (its answer differs) is marked
//!    (`id="unexplained-op"`); when every answer is explained and the state is not, the order's
//!    last row, the state compared, is (`id="unexplained-state"`);
//! 4. the final states, when the run's and the nearest order's differ: the fields that differ
//!    and the extent maps of both.
//!
//! The nearest order is the oracle's ([`Rejection::nearest`]) for a run no order explains. For a
//! run the oracle rejected before searching (an invariant of its own snapshot broken, a leak at
//! the unmount) the page runs the same search ([`search::search`]) itself, so that those pages
//! show an order too; it compares the states the oracle would have. A run that did not finish
//! (a panic, a deadlock) or a setup op answered differently has no order: the page marks the ops
//! that never returned, or that setup op.

use super::concurrent::headline;
use super::html::{self, esc, MapState};
use super::plots::{self, Bar, BarMark};
use crate::oracles::linearizable::run::sync;
use crate::oracles::linearizable::search::{
    self, after_unmount_view, background, synced_view, Mismatch, OpId, OrderSearch,
};
use crate::oracles::linearizable::{Rejection, RejectionKind};
use crate::oracles::panics::guarded;
use delalloc_contract::concurrent_text::print_concurrent_program;
use delalloc_contract::text::{print_geometry, print_op};
use delalloc_contract::{FieldDiff, Model, Op, Outcome, Snapshot};
use delalloc_reference::Reference;
use std::fmt::Write as _;

/// The nearest sequential order and the reference's answers along it.
struct Order {
    ops: Vec<OpId>,
    /// The reference's answer to each op of `ops`, in that order.
    answers: Vec<Outcome>,
    /// What stopped it; `None`: it explains every answer and the states the search compares.
    mismatch: Option<Mismatch>,
    /// The page searched it (the oracle had rejected the run before searching).
    searched_here: bool,
}

/// The run's state and the order's at one point the oracle looks at.
struct Stage {
    /// `when the tasks ended`, `after the sync`, `after the unmount`.
    when: &'static str,
    run: Snapshot,
    order: Snapshot,
}

/// The run's states and the order's (complete), and where they are compared.
struct Compared {
    /// Each point whose run snapshot the record has.
    stages: Vec<Stage>,
    /// The stage the rejection is about: where the order's state differs, or where the
    /// invariant broke when the order explains the states the search compares.
    main: usize,
    /// The fields that differ there, as the oracle compares them (`left`: the reference in the
    /// order, `right`: the run).
    fields: Vec<FieldDiff>,
}

impl Compared {
    fn main(&self) -> &Stage {
        &self.stages[self.main]
    }
}

/// What the page shows besides the rejection itself.
struct Analysis {
    /// The reference's answer to each setup op.
    setup: Vec<Outcome>,
    order: Option<Order>,
    /// Why there is no order.
    no_order: String,
    compared: Option<Compared>,
}

fn replay_err(what: &str, m: String) -> String {
    format!("the reference panicked replaying {what}: {m}")
}

fn analyse(d: &Rejection) -> Result<Analysis, String> {
    let p = &d.program;
    let mut reference = Reference::new(&p.geometry);
    let mut setup = Vec::with_capacity(p.setup.len());
    for (i, op) in p.setup.iter().enumerate() {
        let o =
            guarded(|| reference.apply(op)).map_err(|m| replay_err(&format!("setup op {i}"), m))?;
        setup.push(o);
    }
    let run = &d.run;
    let finished = run.failure.is_none() && run.synced.is_some() && run.after_unmount.is_some();
    let found = match (&d.nearest, &d.kind) {
        (Some(n), _) => Ok((n.order.clone(), Some(n.mismatch.clone()), false)),
        (None, RejectionKind::InvariantBroken { .. } | RejectionKind::Leaked { .. })
            if finished =>
        {
            match guarded(|| search::search(p, run, &reference))
                .map_err(|m| replay_err("an order", m))?
            {
                OrderSearch::Linearizable { order, .. } => Ok((order, None, true)),
                OrderSearch::NotLinearizable { nearest, .. } => {
                    Ok((nearest.order, Some(nearest.mismatch), true))
                }
                OrderSearch::Inconclusive { nodes } => Err(format!(
                    "the page searched an order and ran out of the search's budget ({nodes} \
                     reference steps) first"
                )),
            }
        }
        (None, RejectionKind::SetupOutcomeDiffers { .. }) => Err(
            "a setup op, run alone, already answered otherwise than the reference: no order of \
             the task ops starts from the same state"
                .to_string(),
        ),
        (None, _) => Err("the run did not finish, so there is no state to explain".to_string()),
    };
    let (ops, mismatch, searched_here) = match found {
        Ok(o) => o,
        Err(no_order) => {
            return Ok(Analysis {
                setup,
                order: None,
                no_order,
                compared: None,
            })
        }
    };
    let mut m = reference.clone();
    let mut answers = Vec::with_capacity(ops.len());
    for &(t, i) in &ops {
        let op = task_op(p, (t, i))?;
        answers.push(guarded(|| m.apply(op)).map_err(|e| replay_err(&format!("t{t}.{i}"), e))?);
    }
    let compared = if matches!(mismatch, Some(Mismatch::Outcome { .. })) {
        None
    } else {
        compare(d, &mut m, mismatch.as_ref())?
    };
    Ok(Analysis {
        setup,
        order: Some(Order {
            ops,
            answers,
            mismatch,
            searched_here,
        }),
        no_order: String::new(),
        compared,
    })
}

/// The task op `(t, i)` of `p`.
fn task_op(p: &delalloc_contract::ConcurrentProgram, (t, i): OpId) -> Result<&Op, String> {
    p.tasks
        .get(t)
        .and_then(|ops| ops.get(i))
        .ok_or_else(|| format!("the run names t{t}.{i}, which the program does not have"))
}

/// The run's states and the order's (`m`, the reference after the order's ops): when the tasks
/// ended, after the sync, after the unmount.
fn compare(
    d: &Rejection,
    m: &mut Reference,
    mismatch: Option<&Mismatch>,
) -> Result<Option<Compared>, String> {
    let run = &d.run;
    let quiescent = m.snapshot();
    guarded(|| sync(&d.program.geometry, &mut |op| m.apply(op)))
        .map_err(|e| replay_err("the sync", e))?;
    let synced = m.snapshot();
    guarded(|| m.apply(&Op::Unmount)).map_err(|e| replay_err("the unmount", e))?;
    let after = m.snapshot();
    let (Some(rq), Some(rs), Some(ra)) = (&run.quiescent, &run.synced, &run.after_unmount) else {
        return Ok(None);
    };
    let (main, fields) = match (mismatch, &d.kind) {
        (Some(Mismatch::State { .. }), _) => (1, synced_view(&synced).diff(&synced_view(rs))),
        (_, RejectionKind::InvariantBroken { when, .. }) if *when == "quiescent" => {
            (0, quiescent.diff(rq))
        }
        _ => (2, after_unmount_view(&after).diff(&after_unmount_view(ra))),
    };
    let stage = |when, run: &Snapshot, order| Stage {
        when,
        run: run.clone(),
        order,
    };
    Ok(Some(Compared {
        stages: vec![
            stage("when the tasks ended", rq, quiescent),
            stage("after the sync", rs, synced),
            stage("after the unmount", ra, after),
        ],
        main,
        fields,
    }))
}

/// The page of `d`; `source` says where the finding came from (a file, a campaign).
pub fn html(d: &Rejection, source: &str) -> Result<String, String> {
    let a = analyse(d)?;
    let mut page = String::new();
    let title = format!("{}: a concurrent run", d.kind.name());
    html::begin(&mut page, &title);
    let bugs = if d.bugs.is_empty() {
        "the fixed model (no bugs)".to_string()
    } else {
        format!("bugs=<b>{}</b>", esc(&d.bugs.join(",")))
    };
    let models = format!(
        "run: <b>optimized</b> on shuttle's threads, {bugs} · judged by: <b>reference</b>, in \
         sequential orders (SPEC §10) · {}",
        esc(source)
    );
    html::header(
        &mut page,
        &title,
        &headline(d),
        &models,
        &[
            ("what", "What was rejected"),
            ("program", "Program"),
            ("timeline", "Timeline and nearest order"),
            ("state", "Final states"),
        ],
    );
    what(&mut page, d, &a);
    program(&mut page, d, &a);
    timeline(&mut page, d, &a)?;
    states(&mut page, &a)?;
    html::end(&mut page);
    Ok(page)
}

/// `t1.0`.
fn id((t, i): OpId) -> String {
    format!("t{t}.{i}")
}

fn what(page: &mut String, d: &Rejection, a: &Analysis) {
    let _ = write!(
        page,
        "<section id=\"what\">\n<h2>What was rejected</h2>\n<p><span class=\"kind\">{}</span> ",
        esc(d.kind.name())
    );
    let p = &d.program;
    let op_text = |id: OpId| task_op(p, id).map(print_op).unwrap_or_default();
    let detail = match &d.kind {
        RejectionKind::SetupOutcomeDiffers {
            index,
            reference,
            optimized,
        } => format!(
            "setup op {index} (<code>{}</code>), run alone before the tasks, answered \
             <code>{}</code> in the run and <code>{}</code> in the reference: a sequential \
             divergence (marked in the setup below).",
            esc(&p.setup.get(*index).map(print_op).unwrap_or_default()),
            esc(&optimized.to_string()),
            esc(&reference.to_string())
        ),
        RejectionKind::RunFailed { message } => {
            let records = d.run.ops.iter().flatten();
            let never = records.clone().filter(|r| r.returned.is_none()).count();
            let invoked = records.count();
            let after = if never > 0 {
                format!("{never} op(s) never returned: marked on the timeline and below.")
            } else if invoked < p.task_ops() {
                "Some ops were never invoked (listed below).".to_string()
            } else {
                "Every task op returned: it failed after them, in the sync or the unmount the \
                 run ends with."
                    .to_string()
            };
            format!(
                "the run did not finish: <code>{}</code>. {after}",
                esc(message)
            )
        }
        RejectionKind::InvariantBroken {
            when,
            invariant,
            message,
        } => format!(
            "the run's own snapshot {} breaks SPEC §{}: <code>{}</code>. The oracle rejects \
             that before it searches an order.",
            if *when == "quiescent" {
                "when the tasks ended (quiescent)"
            } else {
                "after the unmount"
            },
            esc(invariant),
            esc(message)
        ),
        RejectionKind::Leaked {
            evict_leaks,
            unmount_leaks,
        } => format!(
            "after the unmount something is still accounted: {evict_leaks} evict and \
             {unmount_leaks} unmount WARN(s). The oracle rejects that before it searches an \
             order."
        ),
        RejectionKind::NotLinearizable => "no order of the task ops consistent with the run's \
             real-time order (an op that returned before another was invoked comes first) \
             explains it."
            .to_string(),
    };
    let _ = writeln!(page, "{detail}</p>");
    match &a.order {
        None => {
            let _ = writeln!(
                page,
                "<p>No sequential order to compare with: {}.</p>",
                esc(&a.no_order)
            );
        }
        Some(o) => {
            let intro = if o.searched_here {
                "To compare, the page searched an order as the oracle would have: "
            } else {
                "The nearest order the search tried: "
            };
            let verdict = match &o.mismatch {
                None => format!(
                    "one explains every answer and the state after a sync and after the \
                     unmount (the fields SPEC §10 compares), so the rejection rests on the \
                     invariant alone; its {} ops are shown beside the timeline.",
                    o.ops.len()
                ),
                Some(Mismatch::Outcome {
                    task,
                    index,
                    reference,
                    run,
                }) => format!(
                    "it places {} op(s) and cannot explain <b>{}</b> (<code>{}</code>): the run \
                     answered <code>{}</code>, the reference in that order <code>{}</code> \
                     (marked in red below).",
                    o.ops.len(),
                    id((*task, *index)),
                    esc(&op_text((*task, *index))),
                    esc(&run.to_string()),
                    esc(&reference.to_string())
                ),
                Some(Mismatch::State { fields }) => format!(
                    "no order explains it either; the nearest places all {} ops and explains \
                     every answer, but after a sync of both the states differ in {} field(s): \
                     the state is what no order explains.",
                    o.ops.len(),
                    fields.len()
                ),
                Some(Mismatch::AfterUnmount { fields }) => format!(
                    "no order explains it either; the nearest explains every answer and the \
                     state after the sync, but after the unmount the states differ in {} \
                     field(s).",
                    fields.len()
                ),
            };
            let _ = writeln!(page, "<p>{intro}{verdict}</p>");
        }
    }
    if let Some(c) = &a.compared {
        if !c.fields.is_empty() {
            let _ = writeln!(
                page,
                "<p>The fields that differ {}:</p>\n<table class=\"fields\" id=\"differing-fields\">\n\
                 <tr><th>field</th><th>run</th><th>nearest order (reference)</th></tr>",
                esc(c.main().when)
            );
            for f in &c.fields {
                let _ = writeln!(
                    page,
                    "<tr><td><code>{}</code></td><td class=\"differs\"><code>{}</code></td>\
                     <td><code>{}</code></td></tr>",
                    esc(&f.field),
                    esc(&f.right),
                    esc(&f.left)
                );
            }
            page.push_str("</table>\n");
        }
    }
    page.push_str("</section>\n");
}

fn program(page: &mut String, d: &Rejection, a: &Analysis) {
    let p = &d.program;
    let geometry = print_geometry(&p.geometry);
    let _ = write!(
        page,
        "<section id=\"program\">\n<h2>Program</h2>\n<p><code>{}</code></p>\n",
        esc(&geometry)
    );
    if p.setup.is_empty() {
        page.push_str("<p class=\"note\">No setup: the tasks start on an empty file system.</p>\n");
    } else {
        page.push_str(
            "<h3>Setup, run alone before the tasks</h3>\n<table class=\"program\">\n\
             <tr><th>#</th><th>op</th><th>run</th><th>reference</th><th></th></tr>\n",
        );
        let marked = match d.kind {
            RejectionKind::SetupOutcomeDiffers { index, .. } => Some(index),
            _ => None,
        };
        for (i, op) in p.setup.iter().enumerate() {
            let run = d.run.setup_outcomes.get(i).map(Outcome::to_string);
            let reference = a.setup.get(i).map(Outcome::to_string);
            let (class, attr, mark) = if marked == Some(i) {
                (
                    "diverging",
                    " id=\"unexplained-op\"",
                    "◀ answered otherwise",
                )
            } else {
                ("", "", "")
            };
            let differ = if run != reference {
                " class=\"differs\""
            } else {
                ""
            };
            let _ = writeln!(
                page,
                "<tr class=\"{class}\"{attr}><td>{i}</td><td><code>{}</code></td>\
                 <td{differ}>{}</td><td>{}</td><td class=\"mark\">{mark}</td></tr>",
                esc(&print_op(op)),
                esc(&run.unwrap_or_else(|| "not run".into())),
                esc(&reference.unwrap_or_default())
            );
        }
        page.push_str("</table>\n");
    }
    let used = d.run.bytes_used.min(p.schedule.len());
    let _ = write!(page, "<h3>Schedule</h3>\n<p class=\"schedule\">");
    if p.schedule.is_empty() {
        page.push_str(
            "no bytes: the running task goes on while it can, then the lowest-numbered one",
        );
    }
    for (k, b) in p.schedule.iter().enumerate() {
        let class = if k < used { "" } else { " class=\"unused\"" };
        let _ = write!(page, "<code{class}>{b:02x}</code>");
    }
    let _ = writeln!(
        page,
        "</p>\n<p class=\"note\">{} scheduling decisions; {used} of {} bytes used (the rest \
         greyed). At each point where the model drops its locks, the next byte picks the task \
         that runs (byte mod the runnable tasks).</p>",
        d.run.decisions,
        p.schedule.len()
    );
    let _ = writeln!(
        page,
        "<details><summary>The program file</summary>\n<pre class=\"program\">{}</pre>\n</details>",
        esc(&print_concurrent_program(p))
    );
    page.push_str("</section>\n");
}

/// Where `(t, i)` stands in the order, if it is placed.
fn position(order: Option<&Order>, op: OpId) -> Option<usize> {
    order?.ops.iter().position(|o| *o == op)
}

/// The op the order could not explain (its answer differs), if any.
fn unexplained(order: Option<&Order>) -> Option<OpId> {
    match order?.mismatch {
        Some(Mismatch::Outcome { task, index, .. }) => Some((task, index)),
        _ => None,
    }
}

fn timeline(page: &mut String, d: &Rejection, a: &Analysis) -> Result<(), String> {
    let p = &d.program;
    let run = &d.run;
    let order = a.order.as_ref();
    let marked = unexplained(order);
    page.push_str("<section id=\"timeline\">\n<h2>The run and the nearest order</h2>\n");
    let lanes: Vec<String> = (0..p.tasks.len()).map(|t| format!("task {t}")).collect();
    let end = run
        .ops
        .iter()
        .flatten()
        .flat_map(|r| [r.invoked, r.returned.unwrap_or(r.invoked)])
        .max()
        .map_or(1, |m| m + 1) as u64;
    let mut bars = Vec::new();
    for (t, recs) in run.ops.iter().enumerate() {
        for (i, r) in recs.iter().enumerate() {
            let op = task_op(p, (t, i))?;
            let at = position(order, (t, i)).map_or(String::new(), |k| format!(" · #{k}"));
            let (to, detail, mark) = match (r.returned, r.outcome) {
                (Some(ret), Some(o)) => (
                    ret as u64,
                    format!("→ {o}{at}"),
                    if marked == Some((t, i)) {
                        BarMark::Unexplained
                    } else {
                        BarMark::Plain
                    },
                ),
                _ => (end, "never returned".to_string(), BarMark::NeverReturned),
            };
            bars.push(Bar {
                lane: t,
                from: r.invoked as u64,
                to,
                title: format!("{} {}", id((t, i)), print_op(op)),
                detail,
                mark,
            });
        }
    }
    let svg = plots::timeline(
        &lanes,
        &bars,
        end,
        "step of the run: each op's invocation and response, in the order they happened",
        1300,
    )?;
    let _ = writeln!(
        page,
        "<p class=\"note\">Each op is a bar in its task's lane, from its invocation to its \
         response, with its answer and (#k) its place in the nearest order. Ops that overlap in \
         time may be ordered either way; an op that returned before another was invoked comes \
         first. {}</p>\n<figure class=\"timeline\">\n<figcaption>The run (optimized)</figcaption>\n{svg}\n</figure>",
        match marked {
            Some(op) => format!(
                "<b class=\"differs\">{}</b>, outlined in red, is the op the nearest order \
                 could not explain.",
                id(op)
            ),
            None => String::new(),
        }
    );
    if let Some(o) = order {
        let bars: Vec<Bar> = o
            .ops
            .iter()
            .zip(&o.answers)
            .enumerate()
            .map(|(k, (&(t, i), answer))| Bar {
                lane: t,
                from: k as u64,
                to: k as u64 + 1,
                title: format!("#{k} {}", id((t, i))),
                detail: format!("→ {answer}"),
                mark: if marked == Some((t, i)) {
                    BarMark::Unexplained
                } else {
                    BarMark::Plain
                },
            })
            .collect();
        let svg = plots::timeline(
            &lanes,
            &bars,
            o.ops.len() as u64,
            "place in the nearest sequential order (the reference runs the ops one at a time)",
            1300,
        )?;
        let _ = writeln!(
            page,
            "<figure class=\"timeline\">\n<figcaption>The nearest sequential order \
             (reference)</figcaption>\n{svg}\n</figure>"
        );
    }
    page.push_str("<div class=\"pair\">\n");
    ops_table(page, d, a)?;
    order_table(page, d, a)?;
    page.push_str("</div>\n</section>\n");
    Ok(())
}

/// Each task op: the run's answer, its place and answer in the nearest order.
fn ops_table(page: &mut String, d: &Rejection, a: &Analysis) -> Result<(), String> {
    let p = &d.program;
    let order = a.order.as_ref();
    let marked = unexplained(order);
    page.push_str(
        "<figure>\n<figcaption>Each task op</figcaption>\n<table class=\"program\" id=\"task-ops\">\n\
         <tr><th></th><th>op</th><th>steps</th><th>run</th><th>order</th>\
         <th>reference</th><th></th></tr>\n",
    );
    for (t, ops) in p.tasks.iter().enumerate() {
        for (i, op) in ops.iter().enumerate() {
            let rec = d.run.ops.get(t).and_then(|r| r.get(i));
            let (steps, answer) = match rec {
                None => ("not invoked".to_string(), String::new()),
                Some(r) => match (r.returned, r.outcome) {
                    (Some(ret), Some(o)) => (format!("{} → {ret}", r.invoked), o.to_string()),
                    _ => (format!("{} →", r.invoked), "never returned".to_string()),
                },
            };
            let k = position(order, (t, i));
            let reference = match (order, k) {
                (Some(o), Some(k)) => o.answers.get(k).map(Outcome::to_string),
                _ => None,
            };
            let never = rec.is_some_and(|r| r.returned.is_none());
            let (class, attr, mark) = if marked == Some((t, i)) {
                ("diverging", " id=\"unexplained-op\"", "◀ not explained")
            } else if never {
                ("diverging", "", "◀ never returned")
            } else if k.is_none() && order.is_some() && rec.is_some() {
                ("not-run", "", "not placed")
            } else {
                ("", "", "")
            };
            let differ = match &reference {
                Some(r) if *r != answer && !background(op) => " class=\"differs\"",
                _ => "",
            };
            let _ = writeln!(
                page,
                "<tr class=\"{class}\"{attr}><td>{}</td><td><code>{}</code></td><td>{}</td>\
                 <td{differ}>{}</td><td>{}</td><td{differ}>{}</td><td class=\"mark\">{mark}</td></tr>",
                id((t, i)),
                esc(&print_op(op)),
                esc(&steps),
                esc(&answer),
                k.map_or(String::new(), |k| format!("#{k}")),
                esc(&reference.unwrap_or_default()),
            );
        }
    }
    page.push_str("</table>\n");
    if p.tasks.iter().flatten().any(background) {
        page.push_str(
            "<p class=\"note\">finish_ordered stands for end_io, which runs whenever the IO \
             completes: its answer is not compared (SPEC §10).</p>\n",
        );
    }
    page.push_str("</figure>\n");
    Ok(())
}

/// The nearest order, op by op, then what it was compared on at the end.
fn order_table(page: &mut String, d: &Rejection, a: &Analysis) -> Result<(), String> {
    let p = &d.program;
    let Some(o) = &a.order else {
        let _ = writeln!(
            page,
            "<figure>\n<figcaption>The nearest sequential order</figcaption>\n<p class=\"note\">\
             None: {}.</p>\n</figure>",
            esc(&a.no_order)
        );
        return Ok(());
    };
    let marked = unexplained(Some(o));
    page.push_str(
        "<figure>\n<figcaption>The nearest sequential order</figcaption>\n\
         <table class=\"program\" id=\"nearest-order\">\n\
         <tr><th>#</th><th></th><th>op</th><th>reference</th><th>run</th><th></th></tr>\n",
    );
    for (k, (&(t, i), answer)) in o.ops.iter().zip(&o.answers).enumerate() {
        let op = task_op(p, (t, i))?;
        let run = d
            .run
            .ops
            .get(t)
            .and_then(|r| r.get(i))
            .and_then(|r| r.outcome)
            .map_or(String::new(), |o| o.to_string());
        let (class, mark) = if marked == Some((t, i)) {
            ("diverging", "◀ not explained")
        } else {
            ("", "")
        };
        let differ = if run != answer.to_string() && !background(op) {
            " class=\"differs\""
        } else {
            ""
        };
        let _ = writeln!(
            page,
            "<tr class=\"{class}\"><td>#{k}</td><td>{}</td><td><code>{}</code></td>\
             <td{differ}>{}</td><td{differ}>{}</td><td class=\"mark\">{mark}</td></tr>",
            id((t, i)),
            esc(&print_op(op)),
            esc(&answer.to_string()),
            esc(&run),
        );
    }
    let last = match &o.mismatch {
        Some(Mismatch::Outcome { .. }) => None,
        Some(Mismatch::State { fields }) => Some(("the state after a sync", fields.len())),
        Some(Mismatch::AfterUnmount { fields }) => {
            Some(("the state after the unmount", fields.len()))
        }
        None => a
            .compared
            .as_ref()
            .map(|c| (c.main().when, c.fields.len()))
            .filter(|(_, n)| *n > 0),
    };
    match last {
        Some((what, n)) if n > 0 => {
            let _ = writeln!(
                page,
                "<tr class=\"diverging\" id=\"unexplained-state\"><td></td><td colspan=\"2\">\
                 {}</td><td colspan=\"2\">{n} field(s) differ</td><td class=\"mark\">◀ not \
                 explained</td></tr>",
                esc(what)
            );
        }
        _ if o.mismatch.is_none() => {
            page.push_str(
                "<tr><td></td><td colspan=\"2\">the state after a sync, after the \
                 unmount</td><td colspan=\"2\">as the run's</td><td></td></tr>\n",
            );
        }
        _ => {}
    }
    page.push_str("</table>\n");
    let placed = o.ops.len();
    let total = d
        .run
        .ops
        .iter()
        .flatten()
        .filter(|r| r.returned.is_some())
        .count();
    if placed < total {
        let _ = writeln!(
            page,
            "<p class=\"note\">{placed} of the {total} ops placed: the order stops at the op it \
             cannot explain.</p>"
        );
    }
    page.push_str("</figure>\n");
    Ok(())
}

fn states(page: &mut String, a: &Analysis) -> Result<(), String> {
    page.push_str("<section id=\"state\">\n<h2>Final states: the run and the nearest order</h2>\n");
    let Some(c) = &a.compared else {
        let why = match &a.order {
            None => a.no_order.clone(),
            Some(_) => "the nearest order stops at an op it cannot explain, before the end".into(),
        };
        let _ = writeln!(
            page,
            "<p class=\"note\">Nothing to compare: {}.</p>",
            esc(&why)
        );
        page.push_str("</section>\n");
        return Ok(());
    };
    let main = c.main();
    if main.run == main.order {
        let _ = writeln!(
            page,
            "<p class=\"note\">The run's state {} and the nearest order's are equal.</p>",
            esc(main.when)
        );
    }
    // The fields the oracle compared are listed above; here the other counters that differ
    // (those SPEC §10 leaves out, such as bytes_used, and those of the raw snapshots).
    let counters: Vec<String> = main
        .run
        .diff(&main.order)
        .into_iter()
        .filter(|f| !f.field.ends_with(".records"))
        .filter(|f| {
            !c.fields
                .iter()
                .any(|g| g.field == f.field && g.right == f.left)
        })
        .map(|f| {
            format!(
                "<tr><td><code>{}</code></td><td class=\"differs\"><code>{}</code></td>\
                 <td><code>{}</code></td></tr>",
                esc(&f.field),
                esc(&f.left),
                esc(&f.right)
            )
        })
        .collect();
    if !counters.is_empty() {
        let _ = writeln!(
            page,
            "<h3>Other counters that differ {}</h3>\n<p class=\"note\">Besides the fields \
             above, those the oracle does not compare there (SPEC §10: they depend on when \
             writeback and commits ran).</p>\n<table class=\"fields\" id=\"differing-counters\">\n\
             <tr><th>counter</th><th>run</th><th>nearest order (reference)</th></tr>\n{}\n</table>",
            esc(main.when),
            counters.join("\n")
        );
    }
    let records_differ = c.stages.iter().any(|s| {
        s.run.tree.records != s.order.tree.records
            || s.run
                .inodes
                .iter()
                .zip(&s.order.inodes)
                .any(|(r, o)| r.records != o.records)
    });
    let same = if records_differ {
        ""
    } else {
        " The records are the same at every point: what differs is the accounting."
    };
    let note = format!(
        "The run's states and the nearest order's (the reference after the same ops one at a \
         time) when the tasks ended, after a sync of both and after the unmount: the <b>run</b> \
         above, the <b>nearest order</b> below, the state the rejection is about on the red \
         band.{same}"
    );
    page.push_str("<h3>Extent maps</h3>\n");
    let rows: Vec<MapState<'_>> = c
        .stages
        .iter()
        .enumerate()
        .map(|(k, s)| MapState {
            label: s.when.to_string(),
            left: &s.run,
            right: &s.order,
            marked: k == c.main,
        })
        .collect();
    html::extent_maps(page, &rows, ("run", "nearest order"), &note)?;
    page.push_str("</section>\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracles::linearizable::run::{self, RunRecord};
    use crate::oracles::linearizable::{run_with, search};
    use crate::oracles::Verdict;
    use delalloc_contract::concurrent_text::parse_concurrent_program;
    use delalloc_contract::ConcurrentProgram;
    use delalloc_optimized_shuttle::bugs::{Bug, BugSet};

    /// A write and a truncate of the same file, one after the other.
    const WRITE_THEN_TRUNCATE: &str = "geometry inodes=1\ntask 0\n  buffered_write ino=0 pos=0 \
         len=4K\ntask 1\n  truncate ino=0 size=0\nschedule 0000\n";

    fn program(text: &str) -> ConcurrentProgram {
        parse_concurrent_program(text).unwrap()
    }

    /// A rejection of `p` whose run is `run`, as the oracle would build it.
    fn rejection(p: &ConcurrentProgram, run: RunRecord, kind: RejectionKind) -> Rejection {
        let mut reference = Reference::new(&p.geometry);
        for op in &p.setup {
            reference.apply(op);
        }
        let nearest = (kind == RejectionKind::NotLinearizable).then(|| {
            match search::search(p, &run, &reference) {
                OrderSearch::NotLinearizable { nearest, .. } => *nearest,
                other => panic!("{other:?}"),
            }
        });
        Rejection {
            program: p.clone(),
            kind,
            run,
            nearest,
            reference_after_setup: reference.snapshot(),
            bugs: Vec::new(),
        }
    }

    /// The `<tr` rows of `page` that carry `id`.
    fn row<'a>(page: &'a str, id: &str) -> &'a str {
        page.split("<tr")
            .find(|r| r.contains(&format!("id=\"{id}\"")))
            .unwrap_or_else(|| panic!("no row {id}: {page}"))
    }

    fn self_contained(page: &str) {
        assert_eq!(page.matches("<svg").count(), page.matches("</svg>").count());
        for forbidden in ["<script", "<link", "<img", "src=", "url("] {
            assert!(!page.contains(forbidden), "{forbidden}");
        }
    }

    #[test]
    fn an_answer_no_order_explains_marks_its_op() {
        let p = program(WRITE_THEN_TRUNCATE);
        let mut run = run::run(&p, BugSet::NONE);
        // The truncate claims an ENOSPC no order gives.
        run.ops[1][0].outcome = Some(Outcome::Enospc);
        let d = rejection(&p, run, RejectionKind::NotLinearizable);
        let page = html(&d, "a test").unwrap();
        self_contained(&page);
        let marked = row(&page, "unexplained-op");
        assert!(marked.contains("truncate ino=0 size=0"), "{marked}");
        assert!(marked.contains("◀ not explained"), "{marked}");
        assert!(page.contains("cannot explain <b>t1.0</b>"), "{page}");
        assert!(!page.contains("unexplained-state"));
        assert!(page.contains("Nothing to compare: the nearest order stops"));
        // Both timelines: the run's and the order's.
        assert_eq!(page.matches("<figure class=\"timeline\">").count(), 2);
        assert!(page.contains("the fixed model (no bugs)"));
    }

    #[test]
    fn an_invariant_broken_run_gets_an_order_searched_by_the_page() {
        // corpus/concurrent/seed000_failed_reservation_vs_release.txt, with its race bug.
        let p = program(
            "geometry sectorsize=512 nodesize=4K inodes=1\nsetup\n  buffered_write ino=0 pos=0 \
             len=1\n  writeback ino=0 start=0 len=1\n  fail_next_reservation metadata\ntask 0\n  \
             buffered_write ino=0 pos=0 len=1\ntask 1\n  finish_ordered ino=0 nth=0\nschedule 0079\n",
        );
        let bug = Bug::RacingReleaseIgnored;
        let Verdict::Diverged(d) = run_with(&p, bug.into()) else {
            panic!("{bug} went unnoticed")
        };
        assert!(matches!(d.kind, RejectionKind::InvariantBroken { .. }));
        assert!(d.nearest.is_none());
        let page = html(&d, "a test").unwrap();
        self_contained(&page);
        assert!(
            page.contains("bugs=<b>racing-release-ignored</b>"),
            "{page}"
        );
        assert!(page.contains("the page searched an order"), "{page}");
        let marked = row(&page, "unexplained-state");
        assert!(marked.contains("the state after a sync"), "{marked}");
        assert!(page.contains("id=\"differing-fields\""), "{page}");
        assert!(page.contains("<code>delalloc_rsv.size</code>"), "{page}");
        assert!(!page.contains("id=\"unexplained-op\""));
        // The setup with both answers, the schedule, the extent maps of the three states.
        assert!(page.contains("fail_next_reservation metadata"));
        assert!(page.contains("<code>00</code><code>79</code>"), "{page}");
        assert!(page.contains("after the unmount · nearest order"), "{page}");
        // finish_ordered's answer is not compared, and the page says so.
        assert!(page.contains("finish_ordered stands for end_io"));
    }

    #[test]
    fn a_run_that_did_not_finish_marks_the_ops_that_never_returned() {
        let p = program(WRITE_THEN_TRUNCATE);
        let mut run = run::run(&p, BugSet::NONE);
        run.ops[1][0].returned = None;
        run.ops[1][0].outcome = None;
        run.quiescent = None;
        run.synced = None;
        run.after_unmount = None;
        run.failure = Some("a test's panic".into());
        let kind = RejectionKind::RunFailed {
            message: "a test's panic".into(),
        };
        let page = html(&rejection(&p, run, kind), "a test").unwrap();
        self_contained(&page);
        assert!(page.contains("◀ never returned"), "{page}");
        assert!(page.contains("the run did not finish"), "{page}");
        assert!(page.contains("1 op(s) never returned"), "{page}");
        assert!(!page.contains("id=\"nearest-order\""));
        assert_eq!(page.matches("<figure class=\"timeline\">").count(), 1);
    }

    #[test]
    fn a_setup_op_answered_otherwise_is_marked() {
        let p = program(
            "geometry inodes=1\nsetup\n  buffered_write ino=0 pos=0 len=4K\ntask 0\n  commit\n",
        );
        let mut run = run::run(&p, BugSet::NONE);
        run.setup_outcomes[0] = Outcome::Enospc;
        let kind = RejectionKind::SetupOutcomeDiffers {
            index: 0,
            reference: Outcome::Written { bytes: 4096 },
            optimized: Outcome::Enospc,
        };
        let page = html(&rejection(&p, run, kind), "a test").unwrap();
        self_contained(&page);
        let marked = row(&page, "unexplained-op");
        assert!(
            marked.contains("buffered_write ino=0 pos=0 len=4K"),
            "{marked}"
        );
        assert!(marked.contains("◀ answered otherwise"), "{marked}");
        assert!(page.contains("no order of the task ops starts from the same state"));
    }
}
