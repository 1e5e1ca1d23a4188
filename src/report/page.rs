//! A divergence as one self-contained HTML page (`report FINDING --html OUT`, and beside each
//! finding a campaign writes): no script, no network, the pictures inlined as SVG
//! ([`super::plots`]). It shows, top to bottom:
//!
//! 1. what differs: the kind, the op, each differing field with both models' values;
//! 2. the program, one row per op with both models' outcomes, the diverging op marked
//!    (`id="diverging-op"`), the ops after it greyed (the oracle stops at the first divergence);
//! 3. the extent map of each model after each op, per io tree (the stand-alone tree, each inode):
//!    records as bars over the file offset, each bit a colour, a record only one model has
//!    outlined;
//! 4. the counters (outstanding_extents, reserved_extents, csum_bytes, delalloc_bytes, the block
//!    reservations, bytes_may_use, ...) over the ops, one line per model and series, the
//!    diverging op marked; counters that never change are listed in one table.
//!
//! Each model's state after each op ([`frames`]): before the diverging op the oracle found both
//! models' snapshots equal (that is what "first divergence" means), so replaying the left model,
//! the reference, gives both; after the diverging op they are the divergence's own two
//! snapshots. The page therefore needs nothing but the [`Divergence`], whichever pair of models
//! produced it (the optimized model with injected bugs, the kernel's code, a test's model).

use super::html::{self, esc, MapState};
use super::plots::{self, Line};
use crate::oracles::differential::{Divergence, DivergenceKind};
use crate::oracles::panics::guarded;
use delalloc_contract::text::{print_geometry, print_op};
use delalloc_contract::{Model, Op, Outcome, Snapshot};
use delalloc_reference::Reference;
use std::fmt::Write as _;

/// One op of the run and both models' state after it.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The op's index in the program; `None` for the oracle's closing unmount.
    pub index: Option<usize>,
    pub op: Op,
    /// Both outcomes; `None` when a model panicked in the op.
    pub outcomes: Option<(Outcome, Outcome)>,
    pub left: Snapshot,
    pub right: Snapshot,
}

impl Frame {
    /// `3`, or `end` for the closing unmount.
    pub fn label(&self) -> String {
        self.index.map_or("end".into(), |i| i.to_string())
    }
}

/// Both models' state after every op the oracle ran, the diverging op last (see the module
/// docs). An error when the divergence's left model is not the reference (nothing here can
/// replay it), or when the replay does not give the oracle's answers (a nondeterministic model).
pub fn frames(d: &Divergence) -> Result<Vec<Frame>, String> {
    let mut reference = Reference::new(&d.program.geometry);
    if d.left_model != reference.name() {
        return Err(format!(
            "the page replays the reference to get the states before the divergence, and this \
             divergence's left model is {}",
            d.left_model
        ));
    }
    let panicked = matches!(d.kind, DivergenceKind::Panicked { .. });
    // The trace ends with the diverging op, unless a model panicked in it.
    let agreed = if panicked {
        &d.trace[..]
    } else {
        &d.trace[..d.trace.len().saturating_sub(1)]
    };
    let index = |i: usize| (i < d.program.ops.len()).then_some(i);
    let mut frames = Vec::with_capacity(d.trace.len() + 1);
    for (i, step) in agreed.iter().enumerate() {
        let outcome = guarded(|| reference.apply(&step.op))
            .map_err(|m| format!("the reference panicked replaying op {i}: {m}"))?;
        if outcome != step.left {
            return Err(format!(
                "replayed, the reference answered op {i} ({}) with {outcome}, not {} as in the \
                 oracle's run: a nondeterministic model?",
                print_op(&step.op),
                step.left
            ));
        }
        let s = reference.snapshot();
        frames.push(Frame {
            index: index(i),
            op: step.op.clone(),
            outcomes: Some((step.left, step.right)),
            left: s.clone(),
            right: s,
        });
    }
    if !panicked {
        let outcome = guarded(|| reference.apply(&d.op))
            .map_err(|m| format!("the reference panicked replaying the diverging op: {m}"))?;
        if reference.snapshot() != d.left || d.trace.last().is_some_and(|s| s.left != outcome) {
            return Err(
                "replayed, the reference did not reach the state the oracle saw after the \
                 diverging op: a nondeterministic model?"
                    .into(),
            );
        }
    }
    frames.push(Frame {
        index: d.op_index,
        op: d.op.clone(),
        outcomes: d
            .trace
            .last()
            .filter(|_| !panicked)
            .map(|s| (s.left, s.right)),
        left: d.left.clone(),
        right: d.right.clone(),
    });
    Ok(frames)
}

/// The page of `d`; `source` says where the finding came from (a file, a campaign).
pub fn html(d: &Divergence, source: &str) -> Result<String, String> {
    let frames = frames(d)?;
    let mut page = String::new();
    let title = format!(
        "{} {}",
        d.kind.name(),
        super::location(d).trim_start_matches("at ")
    );
    html::begin(&mut page, &title);
    let models = format!(
        "left: <b>{}</b> · right: <b>{}</b> · {}",
        esc(d.left_model),
        esc(d.right_model),
        esc(source)
    );
    html::header(
        &mut page,
        &title,
        &super::headline(d),
        &models,
        &[
            ("what", "What differs"),
            ("program", "Program"),
            ("maps", "Extent maps"),
            ("counters", "Counters"),
        ],
    );
    what_differs(&mut page, d);
    program(&mut page, d, &frames);
    maps(&mut page, d, &frames)?;
    counters(&mut page, d, &frames)?;
    html::end(&mut page);
    Ok(page)
}

fn what_differs(page: &mut String, d: &Divergence) {
    let (l, r) = (esc(d.left_model), esc(d.right_model));
    let _ = write!(
        page,
        "<section id=\"what\">\n<h2>What differs</h2>\n<p><span class=\"kind\">{}</span> {}</p>\n",
        esc(d.kind.name()),
        esc(&super::location(d))
    );
    let detail = match &d.kind {
        DivergenceKind::OutcomeDiffers { left, right } => format!(
            "the op answered differently: {l} <code>{}</code>, {r} <code>{}</code>",
            esc(&left.to_string()),
            esc(&right.to_string())
        ),
        DivergenceKind::StateDiffers => "same answers, different state after the op:".to_string(),
        DivergenceKind::InvariantBroken {
            model,
            invariant,
            message,
        } => format!(
            "invariant §{} broken in {} models (their states are equal): {}",
            esc(invariant),
            esc(model),
            esc(message)
        ),
        DivergenceKind::Panicked { model, message } => {
            format!("{} panicked: <code>{}</code>", esc(model), esc(message))
        }
        DivergenceKind::Complained { model, complaint } => format!(
            "{}'s own code complained during the op: <code>{}</code>",
            esc(model),
            esc(&complaint.to_string())
        ),
    };
    let _ = writeln!(page, "<p>{detail}</p>");
    if !d.fields.is_empty() {
        let _ = writeln!(
            page,
            "<table class=\"fields\">\n<tr><th>field</th><th>{l}</th><th>{r}</th></tr>"
        );
        for f in &d.fields {
            let _ = writeln!(
                page,
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                esc(&f.field),
                esc(&f.left),
                esc(&f.right)
            );
        }
        page.push_str("</table>\n");
    }
    page.push_str("</section>\n");
}

fn program(page: &mut String, d: &Divergence, frames: &[Frame]) {
    let geometry = print_geometry(&d.program.geometry);
    let _ = write!(
        page,
        "<section id=\"program\">\n<h2>Program</h2>\n<p><code>{}</code></p>\n<table class=\"program\">\n\
         <tr><th>#</th><th>op</th><th>{}</th><th>{}</th><th></th></tr>\n",
        esc(&geometry),
        esc(d.left_model),
        esc(d.right_model)
    );
    let last = frames.len() - 1;
    let row = |page: &mut String, label: &str, op: &Op, frame: Option<(usize, &Frame)>| {
        let diverging = frame.is_some_and(|(f, _)| f == last);
        let (class, id, mark) = match frame {
            _ if diverging => (
                "diverging",
                " id=\"diverging-op\"",
                "◀ diverges here".to_string(),
            ),
            Some(_) => ("", "", String::new()),
            None => ("not-run", "", "not run: after the divergence".to_string()),
        };
        let (lo, ro) = match frame.and_then(|(_, f)| f.outcomes) {
            Some((a, b)) => (a.to_string(), b.to_string()),
            None if frame.is_some() => {
                let who = match &d.kind {
                    DivergenceKind::Panicked { model, .. } => *model,
                    _ => "",
                };
                let p = |m: &str| if m == who { "panicked" } else { "" };
                (p(d.left_model).into(), p(d.right_model).into())
            }
            None => (String::new(), String::new()),
        };
        let differ = if lo != ro { " class=\"differs\"" } else { "" };
        let _ = writeln!(
            page,
            "<tr class=\"{class}\"{id}><td>{}</td><td><code>{}</code></td><td{differ}>{}</td>\
             <td{differ}>{}</td><td class=\"mark\">{}</td></tr>",
            esc(label),
            esc(&print_op(op)),
            esc(&lo),
            esc(&ro),
            esc(&mark)
        );
    };
    for (i, op) in d.program.ops.iter().enumerate() {
        let frame = frames.iter().enumerate().find(|(_, f)| f.index == Some(i));
        row(page, &i.to_string(), op, frame);
    }
    if let Some((f, frame)) = frames.iter().enumerate().find(|(_, f)| f.index.is_none()) {
        row(page, "end", &frame.op, Some((f, frame)));
    }
    page.push_str("</table>\n");
    if frames[last].index.is_none() {
        page.push_str(
            "<p class=\"note\">end: the unmount the oracle adds after the last op, where every \
             reservation must be back at zero.</p>\n",
        );
    }
    page.push_str("</section>\n");
}

fn maps(page: &mut String, d: &Divergence, frames: &[Frame]) -> Result<(), String> {
    page.push_str("<section id=\"maps\">\n<h2>Extent maps after each op</h2>\n");
    let note = format!(
        "One row per model after each op: <b>{}</b> above, <b>{}</b> below. Before the \
         diverging op (red band) the oracle found both states equal, so their rows match.",
        esc(d.left_model),
        esc(d.right_model)
    );
    let last = frames.len() - 1;
    let states: Vec<MapState<'_>> = frames
        .iter()
        .enumerate()
        .map(|(k, f)| MapState {
            label: format!("op {}", f.label()),
            left: &f.left,
            right: &f.right,
            marked: k == last,
        })
        .collect();
    html::extent_maps(page, &states, (d.left_model, d.right_model), &note)?;
    page.push_str("</section>\n");
    Ok(())
}

/// A counter the page plots: its name, whether it counts bytes, and its series in a snapshot.
struct Counter {
    name: &'static str,
    bytes: bool,
    series: fn(&Snapshot) -> Vec<(String, u64)>,
}

/// The tree's value (named `tree`) and each inode's (`ino N`).
fn per_tree(
    s: &Snapshot,
    tree: Option<u64>,
    inode: impl Fn(&delalloc_contract::InodeSnapshot) -> u64,
) -> Vec<(String, u64)> {
    tree.map(|t| ("tree".to_string(), t))
        .into_iter()
        .chain(
            s.inodes
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("ino {i}"), inode(n))),
        )
        .collect()
}

/// A per-inode counter that only one era has: the inodes that have it (all or none).
fn per_inode_of_era(
    s: &Snapshot,
    inode: impl Fn(&delalloc_contract::InodeSnapshot) -> Option<u64>,
) -> Vec<(String, u64)> {
    s.inodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| Some((format!("ino {i}"), inode(n)?)))
        .collect()
}

fn named(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    pairs.iter().map(|(n, v)| ((*n).to_string(), *v)).collect()
}

const COUNTERS: &[Counter] = &[
    Counter {
        name: "outstanding_extents",
        bytes: false,
        series: |s| {
            per_tree(s, Some(s.tree.outstanding_extents), |n| {
                n.outstanding_extents
            })
        },
    },
    Counter {
        name: "reserved_extents",
        bytes: false,
        series: |s| per_inode_of_era(s, |n| n.reserved_extents),
    },
    Counter {
        name: "csum_bytes",
        bytes: true,
        series: |s| per_tree(s, None, |n| n.csum_bytes),
    },
    Counter {
        name: "delalloc_bytes",
        bytes: true,
        series: |s| {
            let mut v = per_tree(s, Some(s.tree.delalloc_bytes), |n| n.delalloc_bytes);
            v.push(("fs".into(), s.fs_delalloc_bytes));
            v
        },
    },
    Counter {
        name: "new_delalloc_bytes",
        bytes: true,
        series: |s| per_tree(s, Some(s.tree.new_delalloc_bytes), |n| n.new_delalloc_bytes),
    },
    Counter {
        name: "defrag_bytes",
        bytes: true,
        series: |s| per_tree(s, Some(s.tree.defrag_bytes), |n| n.defrag_bytes),
    },
    Counter {
        name: "ordered extents",
        bytes: false,
        series: |s| per_tree(s, None, |n| n.ordered.len() as u64),
    },
    Counter {
        name: "delalloc_meta_reserved",
        bytes: false,
        series: |s| per_inode_of_era(s, |n| n.delalloc_meta_reserved.map(u64::from)),
    },
    Counter {
        name: "block_rsv size",
        bytes: true,
        series: |s| per_inode_of_era(s, |n| n.block_rsv.map(|r| r.size)),
    },
    Counter {
        name: "block_rsv reserved",
        bytes: true,
        series: |s| per_inode_of_era(s, |n| n.block_rsv.map(|r| r.reserved)),
    },
    Counter {
        name: "delayed_bytes_reserved",
        bytes: true,
        series: |s| per_tree(s, None, |n| n.delayed_bytes_reserved),
    },
    Counter {
        name: "delalloc_rsv",
        bytes: true,
        series: |s| {
            s.delalloc_rsv.map_or_else(Vec::new, |r| {
                named(&[("size", r.size), ("reserved", r.reserved)])
            })
        },
    },
    Counter {
        name: "delayed_rsv",
        bytes: true,
        series: |s| {
            named(&[
                ("size", s.delayed_rsv.size),
                ("reserved", s.delayed_rsv.reserved),
            ])
        },
    },
    Counter {
        name: "global_rsv",
        bytes: true,
        series: |s| {
            named(&[
                ("size", s.global_rsv.size),
                ("reserved", s.global_rsv.reserved),
            ])
        },
    },
    Counter {
        name: "bytes_may_use",
        bytes: true,
        series: |s| {
            named(&[
                ("data", s.data.bytes_may_use),
                ("meta", s.meta.bytes_may_use),
            ])
        },
    },
    Counter {
        name: "bytes_reserved",
        bytes: true,
        series: |s| {
            named(&[
                ("data", s.data.bytes_reserved),
                ("meta", s.meta.bytes_reserved),
            ])
        },
    },
    Counter {
        name: "bytes_used",
        bytes: true,
        series: |s| named(&[("data", s.data.bytes_used), ("meta", s.meta.bytes_used)]),
    },
];

/// One series of a counter over the frames, for both models.
struct Track {
    name: String,
    left: Vec<u64>,
    right: Vec<u64>,
}

impl Track {
    fn constant(&self) -> Option<u64> {
        let first = *self.left.first()?;
        self.left
            .iter()
            .chain(&self.right)
            .all(|v| *v == first)
            .then_some(first)
    }
}

fn tracks(c: &Counter, frames: &[Frame]) -> Vec<Track> {
    let mut names: Vec<String> = Vec::new();
    for f in frames {
        for (n, _) in (c.series)(&f.left).into_iter().chain((c.series)(&f.right)) {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    let value = |s: &Snapshot, name: &str| {
        (c.series)(s)
            .into_iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| v)
    };
    names
        .into_iter()
        .map(|name| Track {
            left: frames.iter().map(|f| value(&f.left, &name)).collect(),
            right: frames.iter().map(|f| value(&f.right, &name)).collect(),
            name,
        })
        .collect()
}

fn counters(page: &mut String, d: &Divergence, frames: &[Frame]) -> Result<(), String> {
    let _ = write!(
        page,
        "<section id=\"counters\">\n<h2>Counters over the ops</h2>\n<p class=\"note\">\
         <span class=\"solid\"></span> <b>{}</b> (solid, dots) · <span class=\"dashed\"></span> \
         <b>{}</b> (dashed, crosses); one colour per series. The red band is the diverging op. \
         Counters that differ there come first.</p>\n<div class=\"grid\">\n",
        esc(d.left_model),
        esc(d.right_model)
    );
    let x_labels: Vec<String> = frames.iter().map(Frame::label).collect();
    let last = frames.len() - 1;
    let mut constant = Vec::new();
    let mut charts = Vec::new();
    for c in COUNTERS {
        let all = tracks(c, frames);
        let (flat, moving): (Vec<Track>, Vec<Track>) =
            all.into_iter().partition(|t| t.constant().is_some());
        for t in &flat {
            if let Some(v) = t.constant() {
                let shown = if c.bytes {
                    plots::size(v)
                } else {
                    v.to_string()
                };
                constant.push(format!("{} {}: {shown}", c.name, t.name));
            }
        }
        if moving.is_empty() {
            continue;
        }
        let differs = moving.iter().any(|t| t.left[last] != t.right[last]);
        let lines: Vec<Line> = moving
            .iter()
            .enumerate()
            .flat_map(|(i, t)| {
                [
                    Line {
                        colour: i,
                        right: false,
                        values: t.left.clone(),
                    },
                    Line {
                        colour: i,
                        right: true,
                        values: t.right.clone(),
                    },
                ]
            })
            .collect();
        let svg = plots::counter_plot(&lines, &x_labels, Some(last), c.bytes, (660, 250))?;
        let mut legend = String::new();
        for (i, t) in moving.iter().enumerate() {
            let colour = plots::SERIES_COLOURS[i % plots::SERIES_COLOURS.len()];
            let at_end = |v: u64| {
                if c.bytes {
                    plots::size(v)
                } else {
                    v.to_string()
                }
            };
            let values = if t.left[last] == t.right[last] {
                at_end(t.left[last])
            } else {
                format!(
                    "<b class=\"differs\">{} vs {}</b>",
                    at_end(t.left[last]),
                    at_end(t.right[last])
                )
            };
            let _ = write!(
                legend,
                "<span class=\"swatch\" style=\"background:{}\"></span>{} (at op {}: {values}) ",
                plots::hex(colour),
                esc(&t.name),
                esc(&x_labels[last])
            );
        }
        let tag = if differs {
            " <span class=\"kind\">differs</span>"
        } else {
            ""
        };
        let class = if differs { "chart differs" } else { "chart" };
        charts.push((
            !differs,
            format!(
                "<figure class=\"{class}\">\n<figcaption>{}{tag}</figcaption>\n{svg}\n<p class=\"legend\">{legend}</p>\n</figure>\n",
                esc(c.name)
            ),
        ));
    }
    // Differing counters first; otherwise the table's order.
    charts.sort_by_key(|(later, _)| *later);
    for (_, chart) in charts {
        page.push_str(&chart);
    }
    page.push_str("</div>\n");
    if !constant.is_empty() {
        page.push_str("<details><summary>Unchanged in both models throughout</summary>\n<ul class=\"constant\">\n");
        for c in constant {
            let _ = writeln!(page, "<li><code>{}</code></li>", esc(&c));
        }
        page.push_str("</ul>\n</details>\n");
    }
    page.push_str("</section>\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracles::differential::run_models;
    use crate::oracles::Verdict;
    use delalloc_contract::text::parse_program;

    #[test]
    fn frames_give_both_states_after_every_op_up_to_the_divergence() {
        // corpus/regressions/mutants/merge-split-max-count.txt, a bug of the model itself.
        let p = parse_program(
            "geometry sectorsize=4K nodesize=16K max_extent=8K write_chunk=4K data=1G \
             meta=256M global_rsv=16M inodes=1\n\
             buffered_write ino=0 pos=0 len=20481\nbuffered_write ino=0 pos=0 len=8193\n\
             writeback ino=0 start=0 len=4K\n",
        )
        .unwrap();
        let bug = delalloc_optimized::bugs::Bug::MergeSplitMaxCount;
        let mut left = Reference::new(&p.geometry);
        let mut right = delalloc_optimized::Optimized::with_bugs(&p.geometry, bug.into());
        let Verdict::Diverged(d) = run_models(&p, &mut left, &mut right) else {
            panic!("{bug} went unnoticed")
        };
        let f = frames(&d).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].left, f[0].right);
        assert_eq!(f[0].left.inodes[0].outstanding_extents, 3);
        assert_eq!(
            (f[1].index, &f[1].left, &f[1].right),
            (Some(1), &d.left, &d.right)
        );
        let page = html(&d, "a test").unwrap();
        assert!(
            page.contains("<tr class=\"diverging\" id=\"diverging-op\"><td>1</td>"),
            "{page}"
        );
        assert!(page.contains("not run: after the divergence"));
        assert!(page.contains("inode 0&#39;s io tree"));
        assert_eq!(page.matches("<svg").count(), page.matches("</svg>").count());
        for forbidden in ["<script", "<link", "<img", "src=", "url("] {
            assert!(!page.contains(forbidden), "{forbidden}");
        }
    }
}
