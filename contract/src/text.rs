//! The text format of programs: line-oriented, written by hand and kept in
//! `corpus/regressions/*.txt`.
//!
//! ```text
//! # delalloc-fuzz program
//! geometry sectorsize=4K nodesize=16K max_extent=128M write_chunk=2M data=1G meta=256M global_rsv=16M inodes=2
//! set_bits 0 4095 DELALLOC|UPTODATE exclusive=LOCKED cached
//! buffered_write ino=0 pos=0 len=8K copied=4K nocow   # a short copy
//! commit
//! ```
//!
//! - `#` starts a comment anywhere on a line; blank lines are ignored; tokens are separated by
//!   any whitespace.
//! - The optional `run` line (`run against=optimized bugs=merge-hook-era-a`, see
//!   [`crate::run_line`]) says which models and injected bugs the program was found with; it
//!   comes before the first op, at most once. [`parse_program_file`] returns it,
//!   [`print_program_file`] writes it after the header.
//! - The optional `geometry` line comes before the first op, at most once; missing fields keep
//!   [`Geometry::default`]'s values. `era=b|6` picks the io-tree rules ([`crate::Era`]); the
//!   printer writes it only when it is not era B, so era-B programs print as before eras.
//! - Extent-tree ops take positional `start end` (inclusive, as in the kernel), then their bits,
//!   then `key=value` arguments and bare flags, in any order (`count_range_bits 0 4095 max=4K
//!   DELALLOC contig`). File-system ops take only `key=value` arguments and flags.
//! - Numbers: decimal, `0x` hex, or decimal with a binary suffix `K`, `M`, `G`, `T` (`4K` =
//!   4096). Bits: names of [`Bits::NAMES`] and numbers joined by `|`, or `0`.
//! - Flags are present iff true. `copied=` defaults to `len`; `exclusive=` and `clear=` default
//!   to `0`.
//! - Which arguments an op takes, positional, `key=` or flag, and their order, is its entry in
//!   the op table ([`OpKind::field_specs`]); nothing here is written per op.
//!
//! The printer writes the header comment, the full geometry line and one op a line; positional
//! tree offsets in decimal (they read like the kernel's `[start, end]`), every other number with
//! the largest binary suffix that divides it. `parse_program(&print_program(p)) == Ok(p)` for
//! every valid program.

use crate::op::{FaultKind, Field, Op, OpKind, Program, Role, Syntax};
use crate::run_line::{self, RunLine};
use crate::{Bits, Era, Geometry};
use std::fmt::{self, Write as _};

/// The comment line the printer starts every program with.
pub const HEADER: &str = "# delalloc-fuzz program";

/// A parse (or validation) error: where and what. `line` and `column` are 1-based; the column
/// counts characters and points at the offending token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The line, from 1.
    pub line: usize,
    /// The column of the offending token, from 1, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ParseError {}

// ---------------------------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------------------------

/// The whole program: header comment, geometry line, one op a line; ends with a newline.
pub fn print_program(p: &Program) -> String {
    print_program_with(p, None)
}

/// A program file: header comment, the `run` line, geometry line, one op a line.
/// `parse_program_file(&print_program_file(p, r), ..) == Ok((p, Some(r)))` for every valid
/// program and run line.
pub fn print_program_file(p: &Program, run: &RunLine) -> String {
    print_program_with(p, Some(run))
}

fn print_program_with(p: &Program, run: Option<&RunLine>) -> String {
    let mut s = String::new();
    s.push_str(HEADER);
    s.push('\n');
    if let Some(run) = run {
        let _ = writeln!(s, "{run}");
    }
    s.push_str(&print_geometry(&p.geometry));
    s.push('\n');
    for op in &p.ops {
        s.push_str(&print_op(op));
        s.push('\n');
    }
    s
}

/// The geometry line of a program file, as [`print_program`] writes it (no newline).
pub fn print_geometry(g: &Geometry) -> String {
    let mut s = format!(
        "geometry sectorsize={} nodesize={} max_extent={} write_chunk={} data={} meta={} global_rsv={} inodes={}",
        num(g.sectorsize),
        num(g.nodesize),
        num(g.max_extent),
        num(g.write_chunk),
        num(g.data_bytes),
        num(g.meta_bytes),
        num(g.global_rsv),
        g.inodes
    );
    // Only a non-default era is written, so every era-B program prints as it always did.
    if g.era != Era::default() {
        let _ = write!(s, " era={}", g.era);
    }
    s
}

/// A number with the largest binary suffix that divides it exactly (4096 -> `4K`), else decimal.
fn num(v: u64) -> String {
    const SUFFIXES: [(char, u32); 4] = [('T', 40), ('G', 30), ('M', 20), ('K', 10)];
    if v != 0 {
        for (c, shift) in SUFFIXES {
            if v.trailing_zeros() >= shift {
                return format!("{}{c}", v >> shift);
            }
        }
    }
    v.to_string()
}

/// One op on one line, without a newline: its name, then its fields in declaration order as
/// the table writes them (positional values, `key=value` unless the key is at its default,
/// flags that are on).
pub fn print_op(op: &Op) -> String {
    let kind = op.kind();
    let mut s = String::from(kind.name());
    for (spec, (name, value)) in kind.field_specs().iter().zip(op.fields()) {
        match spec.syntax {
            Syntax::Positional => {
                s.push(' ');
                s.push_str(&value_text(value, false));
            }
            Syntax::Key { key, .. } => {
                if op.default_of(name) != Some(value) {
                    // Writing to a String cannot fail.
                    let _ = write!(s, " {key}={}", value_text(value, true));
                }
            }
            Syntax::Flag => {
                if value == Field::Flag(true) {
                    s.push(' ');
                    s.push_str(name);
                }
            }
        }
    }
    s
}

/// A field's value as the text writes it: numbers in decimal, except that a `key=` number of
/// 64 bits takes its binary suffix ([`num`]); bits by name; the fault kind as a word.
fn value_text(value: Field, key: bool) -> String {
    match value {
        Field::Offset(v) | Field::End(v) | Field::Len(v) | Field::Num(v) => {
            if key {
                num(v)
            } else {
                v.to_string()
            }
        }
        Field::Ino(v) | Field::Count(v) => v.to_string(),
        Field::Bits(b) => b.to_string(),
        Field::Flag(f) => f.to_string(),
        Field::Fault(FaultKind::Data) => "data".into(),
        Field::Fault(FaultKind::Metadata) => "metadata".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Parses a whole program: validates the geometry and every op against it. A `run` line is
/// checked and left out ([`parse_program_file`] returns it).
pub fn parse_program(text: &str) -> Result<Program, ParseError> {
    parse_program_file(text, &run_line::any_bug).map(|(p, _)| p)
}

/// Parses a program file: the program and its `run` line, if it has one ([`RunLine`]).
/// `check_bug` is asked about every bug name of the run line; its error is reported at the
/// name's line and column.
pub fn parse_program_file(
    text: &str,
    check_bug: &dyn Fn(&str) -> Result<(), String>,
) -> Result<(Program, Option<RunLine>), ParseError> {
    let mut geometry = Geometry::default();
    let mut geometry_line: Option<usize> = None;
    let mut first_op_line: Option<usize> = None;
    let mut run: Option<(usize, RunLine)> = None;
    let mut ops = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let toks = tokenize(line);
        let Some(head) = toks.first() else { continue };
        if head.s == "run" {
            let first = first_op_line.map(|l| (l, "the first op"));
            run = Some(parse_run_line(&toks, n, run.as_ref(), first, check_bug)?);
        } else if head.s == "geometry" {
            if let Some(first) = geometry_line {
                return Err(err(
                    n,
                    head.col,
                    format!("duplicate geometry line (the first is on line {first})"),
                ));
            }
            if let Some(first) = first_op_line {
                return Err(err(
                    n,
                    head.col,
                    format!("geometry after ops: the geometry line must come before the first op (line {first})"),
                ));
            }
            geometry = parse_geometry(&toks, n)?;
            geometry_line = Some(n);
        } else {
            ops.push(parse_op_tokens(&toks, &geometry, n)?);
            first_op_line.get_or_insert(n);
        }
    }
    Ok((Program { geometry, ops }, run.map(|(_, r)| r)))
}

/// A `run` line on line `n`: at most one (`seen`), before what `first` names (its line and
/// what it is, if there is one already).
pub(crate) fn parse_run_line(
    toks: &[Tok<'_>],
    n: usize,
    seen: Option<&(usize, RunLine)>,
    first: Option<(usize, &str)>,
    check_bug: &dyn Fn(&str) -> Result<(), String>,
) -> Result<(usize, RunLine), ParseError> {
    let col = toks.first().map_or(1, |t| t.col);
    if let Some((first, _)) = seen {
        return Err(err(
            n,
            col,
            format!("duplicate run line (the first is on line {first})"),
        ));
    }
    if let Some((line, what)) = first {
        return Err(err(
            n,
            col,
            format!("run line after line {line}: it must come before {what}"),
        ));
    }
    run_line::parse(toks, n, check_bug).map(|r| (n, r))
}

/// Parses one op line (comments allowed) and validates it against `g`; errors say line 1.
pub fn parse_op(line: &str, g: &Geometry) -> Result<Op, ParseError> {
    // Op::validate divides by the sector size: never hand it a geometry that is not valid.
    g.validate()
        .map_err(|e| err(1, 1, format!("invalid geometry: {e}")))?;
    let line = line
        .strip_suffix('\n')
        .map_or(line, |l| l.strip_suffix('\r').unwrap_or(l));
    if let Some(i) = line.find('\n') {
        let col = line[..i].chars().count() + 1;
        return Err(err(
            1,
            col,
            "line break inside an op: an op is a single line".into(),
        ));
    }
    let toks = tokenize(line);
    if toks.is_empty() {
        return Err(err(1, 1, "empty line: expected an op".into()));
    }
    if toks[0].s == "geometry" {
        return Err(err(
            1,
            toks[0].col,
            "`geometry` is not an op (it belongs in a program's header)".into(),
        ));
    }
    parse_op_tokens(&toks, g, 1)
}

pub(crate) fn err(line: usize, column: usize, message: String) -> ParseError {
    ParseError {
        line,
        column,
        message,
    }
}

/// A whitespace-separated word and the 1-based character column it starts at.
pub(crate) struct Tok<'a> {
    pub(crate) s: &'a str,
    pub(crate) col: usize,
}

impl Tok<'_> {
    /// The column of byte offset `off` inside the token.
    fn col_at(&self, off: usize) -> usize {
        self.col + self.s.get(..off).map_or(0, |p| p.chars().count())
    }
    pub(crate) fn end_col(&self) -> usize {
        self.col + self.s.chars().count()
    }
}

/// Splits a line into words, dropping everything from the first `#`.
pub(crate) fn tokenize(line: &str) -> Vec<Tok<'_>> {
    let mut toks = Vec::new();
    let mut start: Option<(usize, usize)> = None;
    let mut end = line.len();
    for (col0, (i, c)) in line.char_indices().enumerate() {
        if c == '#' {
            end = i;
            break;
        }
        if c.is_whitespace() {
            if let Some((b, col)) = start.take() {
                toks.push(Tok {
                    s: &line[b..i],
                    col,
                });
            }
        } else if start.is_none() {
            start = Some((i, col0 + 1));
        }
    }
    if let Some((b, col)) = start {
        toks.push(Tok {
            s: &line[b..end],
            col,
        });
    }
    toks
}

/// What an argument holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A u64 number.
    Num,
    /// A number that fits in a u8 (inode numbers, nth).
    Byte,
    Bits,
    /// `data` or `metadata`.
    Fault,
}

#[derive(Clone, Copy)]
enum Val {
    Num(u64),
    Bits(Bits),
    Fault(FaultKind),
}

/// The arguments an op (or the geometry line) takes.
struct Spec {
    /// Positional arguments in order: name and kind.
    pos: Vec<(&'static str, Kind)>,
    /// `key=value` arguments: key, kind, required.
    keys: Vec<(&'static str, Kind, bool)>,
    flags: Vec<&'static str>,
}

/// What the text of a field of `role` holds.
fn kind_of(role: Role) -> Kind {
    match role {
        Role::Offset | Role::End | Role::Len | Role::Num => Kind::Num,
        Role::Ino | Role::Count => Kind::Byte,
        Role::Bits => Kind::Bits,
        Role::Fault => Kind::Fault,
        Role::Flag => unreachable!("the op table writes every flag as a bare word"),
    }
}

/// The field of `role` a parsed value stands for (`None` if it is of another kind).
fn field(role: Role, val: Val) -> Option<Field> {
    Some(match (role, val) {
        (Role::Offset, Val::Num(v)) => Field::Offset(v),
        (Role::End, Val::Num(v)) => Field::End(v),
        (Role::Len, Val::Num(v)) => Field::Len(v),
        (Role::Num, Val::Num(v)) => Field::Num(v),
        (Role::Ino, Val::Num(v)) => Field::Ino(u8::try_from(v).ok()?),
        (Role::Count, Val::Num(v)) => Field::Count(u8::try_from(v).ok()?),
        (Role::Bits, Val::Bits(b)) => Field::Bits(b),
        (Role::Fault, Val::Fault(k)) => Field::Fault(k),
        _ => return None,
    })
}

/// An op's arguments, from its fields in the op table.
fn op_spec(kind: OpKind) -> Spec {
    let mut spec = Spec {
        pos: Vec::new(),
        keys: Vec::new(),
        flags: Vec::new(),
    };
    for f in kind.field_specs() {
        match f.syntax {
            Syntax::Positional => spec.pos.push((f.name, kind_of(f.role))),
            Syntax::Key { key, required } => spec.keys.push((key, kind_of(f.role), required)),
            Syntax::Flag => spec.flags.push(f.name),
        }
    }
    spec
}

fn geometry_spec() -> Spec {
    Spec {
        pos: Vec::new(),
        keys: [
            "sectorsize",
            "nodesize",
            "max_extent",
            "write_chunk",
            "data",
            "meta",
            "global_rsv",
        ]
        .into_iter()
        .map(|k| (k, Kind::Num, false))
        .chain([("inodes", Kind::Byte, false)])
        .collect(),
        flags: Vec::new(),
    }
}

/// `lock START END`, `buffered_write ino=N pos=N len=N [copied=N] [nocow]`.
fn usage(what: &str, spec: &Spec) -> String {
    let mut s = String::from(what);
    for (name, _) in &spec.pos {
        s.push(' ');
        s.push_str(&name.to_uppercase());
    }
    for (name, kind, required) in &spec.keys {
        let v = match kind {
            Kind::Bits => "BITS",
            _ => "N",
        };
        if *required {
            let _ = write!(s, " {name}={v}");
        } else {
            let _ = write!(s, " [{name}={v}]");
        }
    }
    for f in &spec.flags {
        let _ = write!(s, " [{f}]");
    }
    s
}

/// The parsed arguments of one line, with the column of every field for error messages.
struct Args {
    line: usize,
    head_col: usize,
    pos: Vec<Val>,
    keys: Vec<(&'static str, Val)>,
    flags: Vec<&'static str>,
    /// Field name -> column of its token, for validation errors.
    cols: Vec<(&'static str, usize)>,
}

impl Args {
    fn err(&self, message: String) -> ParseError {
        err(self.line, self.head_col, message)
    }
    fn opt(&self, name: &str) -> Option<Val> {
        self.keys.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
    fn opt_num(&self, name: &str) -> Option<u64> {
        match self.opt(name) {
            Some(Val::Num(v)) => Some(v),
            _ => None,
        }
    }
    fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }
    /// The column of the field a validation message starts with, else the op's.
    fn col_of_message(&self, msg: &str) -> usize {
        let first = msg.split(' ').next().unwrap_or("");
        let aliases: &[&str] = match first {
            "max_bytes" => &["max"],
            "range" => &["pos", "start"],
            "data_bytes" => &["data"],
            "meta_bytes" => &["meta"],
            "free" => &["data", "meta"],
            other => {
                return self
                    .cols
                    .iter()
                    .find(|(n, _)| *n == other)
                    .map_or(self.head_col, |(_, c)| *c)
            }
        };
        aliases
            .iter()
            .find_map(|a| self.cols.iter().find(|(n, _)| n == a).map(|(_, c)| *c))
            .unwrap_or(self.head_col)
    }
}

/// Classifies and parses the arguments after the head word against `spec`.
fn parse_args(
    toks: &[Tok<'_>],
    what: &'static str,
    spec: &Spec,
    line: usize,
) -> Result<Args, ParseError> {
    let head_col = toks.first().map_or(1, |t| t.col);
    let mut a = Args {
        line,
        head_col,
        pos: Vec::new(),
        keys: Vec::new(),
        flags: Vec::new(),
        cols: Vec::new(),
    };
    let e = |col: usize, msg: String| err(line, col, msg);
    for tok in toks.iter().skip(1) {
        if let Some(eq) = tok.s.find('=') {
            let key = &tok.s[..eq];
            let value = &tok.s[eq + 1..];
            let value_col = tok.col_at(eq + 1);
            if key.is_empty() {
                return Err(e(
                    tok.col,
                    format!("missing key name before `=` in `{}`", tok.s),
                ));
            }
            let Some(&(name, kind, _)) = spec.keys.iter().find(|(k, _, _)| *k == key) else {
                let msg = if spec.flags.contains(&key) {
                    format!("flag `{key}` takes no value: write just `{key}`")
                } else if spec.pos.iter().any(|(p, _)| *p == key) {
                    format!(
                        "`{key}` is positional, not a key: write `{}`",
                        usage(what, spec)
                    )
                } else {
                    let mut m = format!("unknown key `{key}` for {what}");
                    if let Some(s) = suggest(key, spec.keys.iter().map(|k| k.0)) {
                        let _ = write!(m, "; did you mean `{s}`?");
                    }
                    if spec.keys.is_empty() {
                        let _ = write!(m, " ({what} takes no keys; usage: {})", usage(what, spec));
                    } else {
                        let known: Vec<&str> = spec.keys.iter().map(|k| k.0).collect();
                        let _ = write!(m, " (known keys: {})", known.join(", "));
                    }
                    m
                };
                return Err(e(tok.col, msg));
            };
            if let Some(&(_, first)) = a.cols.iter().find(|(n, _)| *n == name) {
                return Err(e(
                    tok.col,
                    format!("duplicate key `{name}` (first given at column {first})"),
                ));
            }
            let val = parse_value(value, value_col, name, kind, line)?;
            a.keys.push((name, val));
            a.cols.push((name, tok.col));
        } else if let Some(&f) = spec.flags.iter().find(|f| **f == tok.s) {
            if let Some(&(_, first)) = a.cols.iter().find(|(n, _)| *n == f) {
                return Err(e(
                    tok.col,
                    format!("duplicate flag `{f}` (first given at column {first})"),
                ));
            }
            a.flags.push(f);
            a.cols.push((f, tok.col));
        } else if let Some(&(name, kind)) = spec.pos.get(a.pos.len()) {
            let val = parse_value(tok.s, tok.col, name, kind, line)?;
            a.pos.push(val);
            a.cols.push((name, tok.col));
        } else {
            let mut m = format!("unexpected argument `{}` for {what}", tok.s);
            if let Some(s) = suggest(tok.s, spec.flags.iter().copied()) {
                let _ = write!(m, "; did you mean the flag `{s}`?");
            }
            let _ = write!(m, " (usage: {})", usage(what, spec));
            return Err(e(tok.col, m));
        }
    }
    let end_col = toks.last().map_or(1, |t| t.end_col());
    if let Some((name, _)) = spec.pos.get(a.pos.len()) {
        return Err(e(
            end_col,
            format!("missing {name} for {what} (usage: {})", usage(what, spec)),
        ));
    }
    for (name, _, required) in &spec.keys {
        if *required && a.opt(name).is_none() {
            return Err(e(
                end_col,
                format!(
                    "missing required key `{name}` for {what} (usage: {})",
                    usage(what, spec)
                ),
            ));
        }
    }
    Ok(a)
}

fn parse_value(
    s: &str,
    col: usize,
    name: &str,
    kind: Kind,
    line: usize,
) -> Result<Val, ParseError> {
    match kind {
        Kind::Num => parse_num(s, true)
            .map(Val::Num)
            .map_err(|m| err(line, col, format!("{name}: {m}"))),
        Kind::Byte => {
            let v = parse_num(s, true).map_err(|m| err(line, col, format!("{name}: {m}")))?;
            if v > u64::from(u8::MAX) {
                return Err(err(
                    line,
                    col,
                    format!("{name}: number `{s}` overflows: at most 255"),
                ));
            }
            Ok(Val::Num(v))
        }
        Kind::Bits => parse_bits(s, col, line).map(Val::Bits),
        Kind::Fault => match s {
            "data" => Ok(Val::Fault(FaultKind::Data)),
            "metadata" => Ok(Val::Fault(FaultKind::Metadata)),
            _ => Err(err(
                line,
                col,
                format!("unknown reservation kind `{s}` (known: data, metadata)"),
            )),
        },
    }
}

/// Decimal, `0x` hex, or (when `suffix`) decimal with a K/M/G/T binary suffix.
fn parse_num(s: &str, suffix: bool) -> Result<u64, String> {
    let bad = || {
        if suffix {
            format!(
                "bad number `{s}`: expected decimal, 0x hex, or decimal with a suffix K, M, G or T"
            )
        } else {
            format!("bad number `{s}`: expected decimal or 0x hex")
        }
    };
    let overflow = || format!("number `{s}` overflows 64 bits");
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut v: u64 = 0;
        for b in hex.bytes() {
            let d = u64::from(char::from(b).to_digit(16).unwrap_or(0));
            v = v
                .checked_mul(16)
                .and_then(|v| v.checked_add(d))
                .ok_or_else(overflow)?;
        }
        return Ok(v);
    }
    let (digits, shift) = match s.as_bytes().last() {
        Some(b'K' | b'k') if suffix => (&s[..s.len() - 1], 10),
        Some(b'M' | b'm') if suffix => (&s[..s.len() - 1], 20),
        Some(b'G' | b'g') if suffix => (&s[..s.len() - 1], 30),
        Some(b'T' | b't') if suffix => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let mut v: u64 = 0;
    for b in digits.bytes() {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or_else(overflow)?;
    }
    v.checked_mul(1u64 << shift).ok_or_else(overflow)
}

/// `NAME|NAME|0x100`, or `0`.
fn parse_bits(s: &str, col: usize, line: usize) -> Result<Bits, ParseError> {
    let mut bits = Bits::NONE;
    let mut off = 0;
    for part in s.split('|') {
        let pcol = col + s[..off].chars().count();
        off += part.len() + 1;
        if part.is_empty() {
            return Err(err(line, pcol, format!("empty bit name in `{s}`")));
        }
        if part.as_bytes()[0].is_ascii_digit() {
            let v = parse_num(part, false).map_err(|m| err(line, pcol, format!("bits: {m}")))?;
            let v = u32::try_from(v).map_err(|_| {
                err(
                    line,
                    pcol,
                    format!("bits: number `{part}` overflows 32 bits"),
                )
            })?;
            bits = bits.union(Bits(v));
        } else if let Some(b) = Bits::from_name(part) {
            bits = bits.union(b);
        } else {
            let known: Vec<&str> = Bits::NAMES.iter().map(|(n, _)| *n).collect();
            return Err(err(
                line,
                pcol,
                format!("unknown bit name `{part}` (known: {})", known.join(", ")),
            ));
        }
    }
    Ok(bits)
}

pub(crate) fn parse_geometry(toks: &[Tok<'_>], line: usize) -> Result<Geometry, ParseError> {
    // `era=` takes a word, not a number: taken out here, the rest parsed as numbers.
    let mut era = None;
    let mut rest = Vec::with_capacity(toks.len());
    for t in toks {
        let Some(word) = t.s.strip_prefix("era=") else {
            rest.push(Tok { s: t.s, col: t.col });
            continue;
        };
        if era.is_some() {
            return Err(err(line, t.col, "duplicate argument `era`".into()));
        }
        era = Some(Era::from_name(word).ok_or_else(|| {
            let known: Vec<&str> = Era::ALL.iter().map(|e| e.name()).collect();
            err(
                line,
                t.col,
                format!("unknown era `{word}` (known: {})", known.join(", ")),
            )
        })?);
    }
    let toks = &rest[..];
    let a = parse_args(toks, "geometry", &geometry_spec(), line)?;
    let d = Geometry::default();
    let g = Geometry {
        sectorsize: a.opt_num("sectorsize").unwrap_or(d.sectorsize),
        nodesize: a.opt_num("nodesize").unwrap_or(d.nodesize),
        max_extent: a.opt_num("max_extent").unwrap_or(d.max_extent),
        write_chunk: a.opt_num("write_chunk").unwrap_or(d.write_chunk),
        data_bytes: a.opt_num("data").unwrap_or(d.data_bytes),
        meta_bytes: a.opt_num("meta").unwrap_or(d.meta_bytes),
        global_rsv: a.opt_num("global_rsv").unwrap_or(d.global_rsv),
        inodes: match a.opt_num("inodes") {
            Some(v) => {
                u8::try_from(v).map_err(|_| a.err(format!("inodes {v} is larger than 255")))?
            }
            None => d.inodes,
        },
        era: era.unwrap_or(d.era),
    };
    g.validate()
        .map_err(|m| err(line, a.col_of_message(&m), format!("invalid geometry: {m}")))?;
    Ok(g)
}

pub(crate) fn parse_op_tokens(
    toks: &[Tok<'_>],
    g: &Geometry,
    line: usize,
) -> Result<Op, ParseError> {
    let Some(head) = toks.first() else {
        return Err(err(line, 1, "empty line: expected an op".into()));
    };
    let Some(kind) = OpKind::from_name(head.s) else {
        let names = OpKind::ALL
            .iter()
            .map(|k| k.name())
            .chain(["geometry", "run"]);
        let msg = match suggest(head.s, names) {
            Some(s) => format!("unknown op `{}`; did you mean `{s}`?", head.s),
            None => {
                let known: Vec<&str> = OpKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown op `{}` (known: {})", head.s, known.join(", "))
            }
        };
        return Err(err(line, head.col, msg));
    };
    let a = parse_args(toks, kind.name(), &op_spec(kind), line)?;
    let specs = kind.field_specs();
    let positional = || specs.iter().filter(|f| f.syntax == Syntax::Positional);
    let op = Op::from_fields(kind, |name| {
        let spec = specs.iter().find(|f| f.name == name)?;
        let val = match spec.syntax {
            Syntax::Positional => *a.pos.get(positional().position(|f| f.name == name)?)?,
            Syntax::Key { key, .. } => a.opt(key)?,
            Syntax::Flag => return Some(Field::Flag(a.flag(name))),
        };
        field(spec.role, val)
    })
    .map_err(|name| {
        a.err(format!(
            "internal: argument {name} of {} does not fit the op",
            kind.name()
        ))
    })?;
    op.validate(g).map_err(|m| {
        err(
            line,
            a.col_of_message(&m),
            format!("invalid {}: {m}", kind.name()),
        )
    })?;
    Ok(op)
}

/// The candidate closest to `word` within edit distance 2, if any.
fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wl = word.chars().count();
    candidates
        .into_iter()
        // The distance is at least the difference in length: skip the hopeless (and long words).
        .filter(|c| c.chars().count().abs_diff(wl) <= 2)
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance over chars, a transposition of neighbours counting as one edit (optimal
/// string alignment), so that `lne` is closer to `len` than to `ino`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn num_printing() {
        assert_eq!(num(0), "0");
        assert_eq!(num(1023), "1023");
        assert_eq!(num(1024), "1K");
        assert_eq!(num(3072), "3K");
        assert_eq!(num(4096), "4K");
        assert_eq!(num(4095), "4095");
        assert_eq!(num(128 << 20), "128M");
        assert_eq!(num(1 << 30), "1G");
        assert_eq!(num(1 << 50), "1024T");
        assert_eq!(num(u64::MAX), u64::MAX.to_string());
    }

    #[test]
    fn num_parsing() {
        assert_eq!(parse_num("4K", true), Ok(4096));
        assert_eq!(parse_num("0x1000", true), Ok(4096));
        assert_eq!(parse_num("16777215T", true), Ok(16777215 << 40));
        assert!(parse_num("16777216T", true)
            .unwrap_err()
            .contains("overflows"));
        assert!(parse_num("18446744073709551616", true)
            .unwrap_err()
            .contains("overflows"));
        assert_eq!(parse_num("18446744073709551615", true), Ok(u64::MAX));
        assert!(parse_num("0x1_0000_0000_0000_0000", true)
            .unwrap_err()
            .contains("bad number"));
        assert!(parse_num("0x10000000000000000", true)
            .unwrap_err()
            .contains("overflows"));
        for bad in [
            "", "K", "0x", "-1", "+1", "1KK", "1.5K", "4Ki", "0x10K", "é",
        ] {
            assert!(
                parse_num(bad, true).unwrap_err().contains("bad number"),
                "{bad}"
            );
        }
        assert!(parse_num("4K", false).is_err());
    }

    proptest! {
        #[test]
        fn num_roundtrip(v in any::<u64>(), shift in 0u32..64) {
            prop_assert_eq!(parse_num(&num(v), true), Ok(v));
            let w = v >> shift << shift;
            prop_assert_eq!(parse_num(&num(w), true), Ok(w));
        }

        #[test]
        fn bits_roundtrip(v in any::<u32>()) {
            prop_assert_eq!(parse_bits(&Bits(v).to_string(), 1, 1), Ok(Bits(v)));
        }
    }
}
