//! The text format of concurrent programs: the sequential format ([`crate::text`]) with
//! sections.
//!
//! ```text
//! # delalloc-fuzz concurrent program
//! geometry sectorsize=4K nodesize=16K max_extent=128M write_chunk=2M data=1G meta=256M global_rsv=16M inodes=2
//! setup
//!   buffered_write ino=0 pos=0 len=16K
//! task 0
//!   direct_write ino=0 pos=0 len=8K fallback
//! task 1
//!   buffered_write ino=0 pos=4K len=4K
//! schedule 01ff3a
//! ```
//!
//! - `setup` (optional, once, before the first task) and `task N` (N = 0, 1, ... in order, at most
//!   [`MAX_TASKS`]) open sections; every op belongs to the section above it. Indentation is
//!   free.
//! - `run ...` (at most once, before the sections): the models and injected bugs, as in a
//!   sequential file ([`crate::run_line`]); a concurrent program runs on the optimized model.
//! - `schedule HEX` (at most once, after the geometry): the schedule bytes as an even number of hex
//!   digits; `schedule` alone is no bytes.
//! - A file with no `setup`, `task` or `schedule` line is a sequential program, read as one
//!   task ([`parse_concurrent_program`] accepts it; [`is_concurrent_text`] tells them apart).
//!
//! `parse_concurrent_program(&print_concurrent_program(p)) == Ok(p)` for every valid program.

use crate::concurrent::{
    ConcurrentProgram, MAX_SCHEDULE_BYTES, MAX_SETUP_OPS, MAX_TASKS, MAX_TASK_OPS,
};
use crate::run_line::{self, RightModel, RunLine};
use crate::text::{self, err, parse_geometry, parse_op_tokens, print_geometry, print_op, tokenize};
use crate::text::{ParseError, Tok};
use crate::Geometry;
use std::fmt::Write as _;

/// The comment line the printer starts every concurrent program with.
pub const HEADER: &str = "# delalloc-fuzz concurrent program";

/// Whether `text` uses the sections of a concurrent program.
pub fn is_concurrent_text(text: &str) -> bool {
    text.lines().any(|line| {
        tokenize(line)
            .first()
            .is_some_and(|t| matches!(t.s, "setup" | "task" | "schedule"))
    })
}

/// Header, geometry, `setup` (if any), each `task N` with its ops indented, `schedule HEX`.
pub fn print_concurrent_program(p: &ConcurrentProgram) -> String {
    print_concurrent_with(p, None)
}

/// A concurrent program file: the header, the `run` line ([`RunLine`]), then as
/// [`print_concurrent_program`].
pub fn print_concurrent_file(p: &ConcurrentProgram, run: &RunLine) -> String {
    print_concurrent_with(p, Some(run))
}

fn print_concurrent_with(p: &ConcurrentProgram, run: Option<&RunLine>) -> String {
    let mut s = String::new();
    s.push_str(HEADER);
    s.push('\n');
    if let Some(run) = run {
        let _ = writeln!(s, "{run}");
    }
    s.push_str(&print_geometry(&p.geometry));
    s.push('\n');
    if !p.setup.is_empty() {
        s.push_str("setup\n");
        for op in &p.setup {
            let _ = writeln!(s, "  {}", print_op(op));
        }
    }
    for (t, ops) in p.tasks.iter().enumerate() {
        let _ = writeln!(s, "task {t}");
        for op in ops {
            let _ = writeln!(s, "  {}", print_op(op));
        }
    }
    s.push_str("schedule");
    if !p.schedule.is_empty() {
        s.push(' ');
        for b in &p.schedule {
            let _ = write!(s, "{b:02x}");
        }
    }
    s.push('\n');
    s
}

/// Where the ops being read go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    /// Before any section line.
    None,
    Setup,
    Task(usize),
}

/// Parses a concurrent program (or a sequential one, as one task) and validates it. A `run`
/// line is checked and left out ([`parse_concurrent_file`] returns it).
pub fn parse_concurrent_program(text: &str) -> Result<ConcurrentProgram, ParseError> {
    parse_concurrent_file(text, &run_line::any_bug).map(|(p, _)| p)
}

/// Parses a concurrent program file: the program and its `run` line, if it has one.
/// `check_bug` is asked about every bug name of the run line. A concurrent program runs on the
/// optimized model: a run line `against=kernel` is an error.
pub fn parse_concurrent_file(
    text: &str,
    check_bug: &dyn Fn(&str) -> Result<(), String>,
) -> Result<(ConcurrentProgram, Option<RunLine>), ParseError> {
    if !is_concurrent_text(text) {
        let (p, run) = text::parse_program_file(text, check_bug)?;
        return Ok((ConcurrentProgram::from_sequential(&p), run));
    }
    let mut run: Option<(usize, RunLine)> = None;
    let mut p = ConcurrentProgram {
        geometry: Geometry::default(),
        ..ConcurrentProgram::default()
    };
    let mut geometry_line: Option<usize> = None;
    let mut schedule_line: Option<usize> = None;
    let mut first_line: Option<usize> = None;
    let mut section = Section::None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let toks = tokenize(line);
        let Some(head) = toks.first() else { continue };
        match head.s {
            "run" => {
                let first = first_line.map(|l| (l, "setup, the tasks and the schedule"));
                let (n, line) = text::parse_run_line(&toks, n, run.as_ref(), first, check_bug)?;
                if line.against != RightModel::Optimized {
                    let col = toks
                        .iter()
                        .find(|t| t.s.starts_with("against="))
                        .map_or(head.col, |t| t.col);
                    return Err(err(
                        n,
                        col,
                        format!(
                            "against={}: a concurrent program runs against the optimized model",
                            line.against
                        ),
                    ));
                }
                run = Some((n, line));
                continue;
            }
            "geometry" => {
                if let Some(first) = geometry_line {
                    return Err(err(
                        n,
                        head.col,
                        format!("duplicate geometry line (the first is on line {first})"),
                    ));
                }
                if let Some(first) = first_line {
                    return Err(err(
                        n,
                        head.col,
                        format!("geometry after line {first}: the geometry line must come first"),
                    ));
                }
                p.geometry = parse_geometry(&toks, n)?;
                geometry_line = Some(n);
                continue;
            }
            "schedule" => {
                if let Some(first) = schedule_line {
                    return Err(err(
                        n,
                        head.col,
                        format!("duplicate schedule line (the first is on line {first})"),
                    ));
                }
                p.schedule = parse_schedule(&toks, n)?;
                schedule_line = Some(n);
            }
            "setup" => {
                if let Some(extra) = toks.get(1) {
                    return Err(err(
                        n,
                        extra.col,
                        format!("unexpected `{}`: `setup` takes nothing", extra.s),
                    ));
                }
                if section != Section::None {
                    return Err(err(
                        n,
                        head.col,
                        "`setup` must come once, before the first task".into(),
                    ));
                }
                section = Section::Setup;
            }
            "task" => {
                let want = p.tasks.len();
                let number = parse_task_number(&toks, n, want)?;
                p.tasks.push(Vec::new());
                section = Section::Task(number);
            }
            _ => {
                let op = parse_op_tokens(&toks, &p.geometry, n)?;
                match section {
                    Section::None => {
                        return Err(err(
                            n,
                            head.col,
                            "op outside a section: put it under `setup` or `task N`".into(),
                        ))
                    }
                    Section::Setup if p.setup.len() == MAX_SETUP_OPS => {
                        return Err(err(
                            n,
                            head.col,
                            format!("too many setup ops: at most {MAX_SETUP_OPS}"),
                        ))
                    }
                    Section::Task(t) if p.tasks[t].len() == MAX_TASK_OPS => {
                        return Err(err(
                            n,
                            head.col,
                            format!("too many ops in task {t}: at most {MAX_TASK_OPS}"),
                        ))
                    }
                    Section::Setup => p.setup.push(op),
                    Section::Task(t) => p.tasks[t].push(op),
                }
            }
        }
        first_line.get_or_insert(n);
    }
    if p.tasks.is_empty() {
        return Err(err(
            text.lines().count().max(1),
            1,
            "no `task` section: a concurrent program needs at least `task 0`".into(),
        ));
    }
    debug_assert_eq!(
        p.validate(),
        Ok(()),
        "the parser checks every limit where it reads"
    );
    Ok((p, run.map(|(_, r)| r)))
}

/// `task N`, where N must be `want` (tasks are numbered in order from 0).
fn parse_task_number(toks: &[Tok<'_>], line: usize, want: usize) -> Result<usize, ParseError> {
    let head = &toks[0];
    let Some(tok) = toks.get(1) else {
        return Err(err(
            line,
            head.end_col(),
            format!("missing task number: write `task {want}`"),
        ));
    };
    if let Some(extra) = toks.get(2) {
        return Err(err(
            line,
            extra.col,
            format!("unexpected `{}` after the task number", extra.s),
        ));
    }
    let number: usize = tok.s.parse().map_err(|_| {
        err(
            line,
            tok.col,
            format!("bad task number `{}`: expected {want}", tok.s),
        )
    })?;
    if want >= MAX_TASKS {
        return Err(err(
            line,
            head.col,
            format!(
                "too many tasks: at most {MAX_TASKS} (task 0 to task {})",
                MAX_TASKS - 1
            ),
        ));
    }
    if number != want {
        return Err(err(
            line,
            tok.col,
            format!("task {number} out of order: tasks are numbered from 0 in order, expected task {want}"),
        ));
    }
    Ok(number)
}

/// `schedule` followed by nothing or by an even number of hex digits.
fn parse_schedule(toks: &[Tok<'_>], line: usize) -> Result<Vec<u8>, ParseError> {
    let Some(tok) = toks.get(1) else {
        return Ok(Vec::new());
    };
    if let Some(extra) = toks.get(2) {
        return Err(err(
            line,
            extra.col,
            format!(
                "unexpected `{}`: the schedule is one word of hex digits",
                extra.s
            ),
        ));
    }
    let chars: Vec<char> = tok.s.chars().collect();
    if let Some(i) = chars.iter().position(|c| !c.is_ascii_hexdigit()) {
        return Err(err(
            line,
            tok.col + i,
            format!(
                "bad schedule digit `{}`: expected hex digits 0-9, a-f",
                chars[i]
            ),
        ));
    }
    if !chars.len().is_multiple_of(2) {
        return Err(err(
            line,
            tok.col + chars.len() - 1,
            format!(
                "odd number of hex digits ({}): each schedule byte is two digits",
                chars.len()
            ),
        ));
    }
    if chars.len() / 2 > MAX_SCHEDULE_BYTES {
        return Err(err(
            line,
            tok.col,
            format!(
                "schedule of {} bytes: at most {MAX_SCHEDULE_BYTES}",
                chars.len() / 2
            ),
        ));
    }
    Ok(chars
        .chunks(2)
        .map(|pair| {
            let hi = pair[0].to_digit(16).unwrap_or(0);
            let lo = pair[1].to_digit(16).unwrap_or(0);
            (hi * 16 + lo) as u8
        })
        .collect())
}
