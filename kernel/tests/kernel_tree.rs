//! The kernel's io tree through `KernelTree`: records, the kernel's own self-test of
//! find_first_clear_extent_bit (ported as our own table), the WARN path, and a short
//! differential against `delalloc_reference`'s tree: in era 6 it must agree exactly (the
//! reference's 6.x rules, SPEC §1.2, checked against the kernel's own code), in era B every
//! difference must be one of the known era rules.
//!
//! Runs against whichever tree the crate was built from (6.12 by default,
//! DELALLOC_KERNEL_VERSION=6.1 or DELALLOC_KERNEL_SRC=DIR for others).

use delalloc_contract::{Bits, Era, Outcome, Record};
use delalloc_kernel::{
    kernel_has, take_reports, KernelTree, Unsupported, KERNEL_PATCH, KERNEL_RELEASE,
};
use delalloc_reference::tree::Tree;

const MIB: u64 = 1 << 20;

fn rec(start: u64, end: u64, bits: Bits) -> Record {
    Record { start, end, bits }
}

fn no_reports() {
    let (reports, lost) = take_reports();
    assert!(
        reports.is_empty() && lost == 0,
        "kernel reports: {reports:?} (+{lost} lost)"
    );
}

#[test]
fn set_merge_split_and_clear_read_back() {
    let mut t = KernelTree::new();
    let d = Bits::DIRTY;
    t.set(0, 9, d).unwrap();
    t.set(10, 19, d).unwrap();
    assert_eq!(
        t.records(),
        vec![rec(0, 19, d)],
        "adjacent records with the same bits merge"
    );
    t.set(5, 14, Bits::UPTODATE).unwrap();
    assert_eq!(
        t.records(),
        vec![rec(0, 4, d), rec(5, 14, d | Bits::UPTODATE), rec(15, 19, d)],
        "a set inside a record splits it in three"
    );
    t.clear(5, 14, Bits::UPTODATE).unwrap();
    assert_eq!(
        t.records(),
        vec![rec(0, 19, d)],
        "clearing the middle merges the pieces back"
    );
    assert!(t.try_lock(30, 39));
    assert!(t.try_lock(40, 49));
    assert_eq!(t.records().len(), 3, "LOCKED records do not merge");
    assert!(!t.try_lock(35, 45), "try_lock on a locked range is busy");
    assert!(!t.lock(45, 60), "lock never waits: busy too");
    assert_eq!(
        t.records().len(),
        3,
        "a failed lock leaves the tree as it was"
    );
    assert_eq!(t.unlock(30, 49), 0);
    assert_eq!(t.records(), vec![rec(0, 19, d)]);
    assert!(t.try_lock(30, 49));
    t.convert(0, 19, Bits::DELALLOC, Bits::DIRTY).unwrap();
    assert_eq!(
        t.records(),
        vec![rec(0, 19, Bits::DELALLOC), rec(30, 49, Bits::LOCKED)]
    );
    assert_eq!(
        t.find_first_extent_bit(20, Bits::LOCKED).unwrap(),
        Some((30, 49))
    );
    assert_eq!(t.find_first_extent_bit(50, Bits::LOCKED).unwrap(), None);
    assert!(t.test_range_bit(0, 19, Bits::DELALLOC, true).unwrap());
    assert!(!t.test_range_bit(0, 20, Bits::DELALLOC, true).unwrap());
    let several = t.test_range_bit(0, 20, Bits::DELALLOC | Bits::DIRTY, false);
    assert_eq!(
        several.is_err(),
        kernel_has("DK_TEST_RANGE_ONE_BIT"),
        "{several:?}"
    );
    assert!(t.test_range_bit(15, 35, Bits::LOCKED, false).unwrap());
    assert_eq!(
        t.count_range_bits(5, 100, u64::MAX, Bits::DELALLOC, false)
            .unwrap(),
        (15, 5)
    );
    assert_eq!(t.find_delalloc(0, 0, u64::MAX), (true, 0, 19));
    // Clearing DELALLOC takes NORESERVE with it (both kernels).
    t.set(60, 69, Bits::DELALLOC | Bits::NORESERVE).unwrap();
    t.clear(60, 69, Bits::DELALLOC).unwrap();
    assert_eq!(t.find_first_extent_bit(50, Bits::NORESERVE).unwrap(), None);
    no_reports();
}

#[test]
fn writeback_is_unsupported_and_bits_map_by_name() {
    let mut t = KernelTree::new();
    let has_writeback = t.bit_map().has("WRITEBACK");
    assert!(
        !has_writeback,
        "6.x io trees have no WRITEBACK bit ({KERNEL_RELEASE})"
    );
    let err = t.set(0, 9, Bits::WRITEBACK | Bits::DIRTY).unwrap_err();
    assert_eq!(err, Unsupported::Bit("WRITEBACK"));
    assert!(t.records().is_empty(), "an unsupported op changes nothing");
    // DELALLOC's value differs between 6.1 and 6.12; the name carries it.
    t.set(0, 9, Bits::DELALLOC).unwrap();
    assert_eq!(t.records(), vec![rec(0, 9, Bits::DELALLOC)]);
    assert_eq!(t.kernel_records()[0].extra, 0);
    // DO_ACCOUNTING is a control bit: accepted, never stored.
    t.set(20, 29, Bits::DIRTY | Bits::DO_ACCOUNTING).unwrap();
    assert_eq!(t.records()[1], rec(20, 29, Bits::DIRTY));
    no_reports();
}

/// fs/btrfs/tests/extent-io-tests.c, test_find_first_clear_extent_bit, as data: the same
/// steps and expected answers (CHUNK_ALLOCATED is DIRTY, CHUNK_TRIMMED is DEFRAG), checked on
/// the kernel tree and on the reference tree.
#[test]
fn kernel_selftest_find_first_clear_extent_bit() {
    let (alloc, trim) = (Bits::DIRTY, Bits::DEFRAG);
    enum Step {
        Set(u64, u64, Bits),
        Expect(&'static str, u64, Bits, (u64, u64)),
    }
    use Step::{Expect, Set};
    let steps = [
        Expect("empty tree", 0, trim, (0, u64::MAX)),
        Set(MIB, 4 * MIB - 1, trim | alloc),
        Expect("beginning range", 512 * 1024, trim | alloc, (0, MIB - 1)),
        Set(32 * MIB, 64 * MIB - 1, trim | alloc),
        Expect(
            "hole from inside it",
            12 * MIB,
            trim | alloc,
            (4 * MIB, 32 * MIB - 1),
        ),
        Expect(
            "next unallocated range",
            2 * MIB,
            trim | alloc,
            (4 * MIB, 32 * MIB - 1),
        ),
        Set(64 * MIB, 72 * MIB - 1, alloc),
        Expect("exact range", 65 * MIB, trim, (64 * MIB, 72 * MIB - 1)),
        Expect("next alloc range", 56 * MIB, trim, (64 * MIB, 72 * MIB - 1)),
        Expect("beyond every range", u64::MAX, trim, (72 * MIB, u64::MAX)),
    ];
    let mut k = KernelTree::new();
    let mut r = Tree::default();
    for step in steps {
        match step {
            Set(s, e, b) => {
                k.set(s, e, b).unwrap();
                r.set(s, e, b, Bits::NONE).unwrap();
            }
            Expect(what, start, bits, want) => {
                assert_eq!(
                    k.find_first_clear_extent_bit(start, bits).unwrap(),
                    want,
                    "kernel: {what}"
                );
                assert_eq!(
                    r.find_first_clear_bit(start, bits),
                    want,
                    "reference: {what}"
                );
            }
        }
    }
    assert_eq!(k.records(), r.records());
    no_reports();
}

/// Setting LOCKED through set_extent_bit rather than the lock functions: the kernel (6.1 and 6.12)
/// ASSERTs that exclusive lock bits come with a failed_start, i.e. through lock_extent. The bit
/// is set anyway; the model will send LOCKED through the lock functions.
#[test]
fn locked_through_plain_set_is_an_assert_where_the_kernel_has_one() {
    let mut t = KernelTree::new();
    t.set(0, 9, Bits::LOCKED).unwrap();
    assert_eq!(t.records(), vec![rec(0, 9, Bits::LOCKED)]);
    let (reports, _) = take_reports();
    assert!(
        reports.len() == 1 && reports[0].kind == "ASSERT" && reports[0].text == "failed_start",
        "{reports:?}"
    );
    eprintln!("{KERNEL_RELEASE}: set_extent_bit(LOCKED) reports {reports:?}");
}

#[test]
fn a_kernel_warn_on_is_reported_with_file_and_line() {
    let mut t = KernelTree::new();
    // count_range_bits with search_end < start: WARN_ON in 6.1 and 6.12, then 0.
    assert_eq!(
        t.count_range_bits(100, 50, u64::MAX, Bits::DIRTY, false)
            .unwrap(),
        (0, 100)
    );
    let (reports, lost) = take_reports();
    assert_eq!(lost, 0);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind, "WARN_ON");
    assert!(
        reports[0].location.contains("extent-io-tree.c:"),
        "{:?}",
        reports[0]
    );
    assert!(reports[0].text.contains("search_end"), "{:?}", reports[0]);
    no_reports();
}

// ---- differential against the reference tree ----

/// xorshift64*: a fixed, dependency-free sequence.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bits(&mut self) -> Bits {
        // No LOCKED: locks go through try_lock/unlock (set_extent_bit ASSERTs that lock
        // bits come with a failed_start, i.e. through the lock functions).
        const POOL: [Bits; 8] = [
            Bits::DIRTY,
            Bits::UPTODATE,
            Bits::NEW,
            Bits::DELALLOC,
            Bits::DEFRAG,
            Bits::BOUNDARY,
            Bits::NORESERVE,
            Bits::DELALLOC_NEW,
        ];
        let mut b = POOL[self.below(8) as usize];
        if self.below(3) == 0 {
            b = b | POOL[self.below(8) as usize];
        }
        b
    }
    fn range(&mut self) -> (u64, u64) {
        let s = self.below(64);
        (s, s + self.below(16))
    }
}

/// The bits of every byte in [0, 96): two trees that agree here hold the same data and may
/// differ only in where records are cut.
fn bytes(recs: &[Record]) -> Vec<Bits> {
    let mut v = vec![Bits::NONE; 96];
    for r in recs {
        for b in r.start..=r.end.min(95) {
            v[b as usize] = r.bits;
        }
    }
    v
}

/// `recs` as 4.x's set_extent_bit(start, end, bits) leaves them where 6.x passes over the record
/// that starts before `start`, holds it and already has every bit asked for: that record cut at
/// `start`, and at `end + 1` too when it reaches past the range (the kernel then does nothing
/// more, so it is not cut there either).
fn split_at(recs: &[Record], start: u64, end: u64, bits: Bits) -> Vec<Record> {
    let mut out = Vec::new();
    for &r in recs {
        if r.start < start && start <= r.end && r.bits.contains(bits) {
            out.push(Record {
                end: start - 1,
                ..r
            });
            if r.end > end {
                out.push(Record { start, end, ..r });
                out.push(Record {
                    start: end + 1,
                    ..r
                });
            } else {
                out.push(Record { start, ..r });
            }
        } else {
            out.push(r);
        }
    }
    out
}

#[derive(Default, Debug)]
struct Diffs {
    /// 6.x set_extent_bit passes over a record that already has every bit asked for instead of
    /// splitting it; visible when the pieces could not merge back (LOCKED, BOUNDARY).
    set_without_split: u32,
    /// 6.x count_range_bits counts with search_end == start; the reference (4.x) answers 0.
    count_end_eq_start: u32,
    /// test_range_bit with several bits, which 6.12's takes one at a time (not run).
    test_range_one_bit: u32,
    /// 4.x count_range_bits from 0 for exactly DIRTY answers the tree's dirty_bytes (era B).
    dirty_shortcut: u32,
    /// Anything else: a failure.
    unexplained: Vec<String>,
}

#[test]
fn random_ops_agree_with_the_reference_up_to_the_6x_rules() {
    let diffs = random_ops(Era::B);
    assert!(
        diffs.set_without_split + diffs.count_end_eq_start > 0,
        "{diffs:?}"
    );
}

/// The reference in era 6 follows the kernel's own rules: no difference is allowed but the
/// queries 6.12 does not take (test_range_bit with several bits).
#[test]
fn random_ops_agree_exactly_with_the_reference_in_era_6() {
    let diffs = random_ops(Era::V6);
    assert_eq!(
        diffs.set_without_split + diffs.count_end_eq_start + diffs.dirty_shortcut,
        0,
        "{diffs:?}"
    );
}

/// Random programs on the kernel's tree and the reference's tree of `era`; every difference is
/// classified (era B: the known 6.x rules), and any other one fails.
fn random_ops(era: Era) -> Diffs {
    let known = era == Era::B;
    let mut diffs = Diffs::default();
    let mut ops = 0;
    // DELALLOC_KERNEL_TEST_SEEDS=N for a longer run (60 programs of 60 ops by default).
    let seeds = std::env::var("DELALLOC_KERNEL_TEST_SEEDS")
        .map_or(60u64, |v| v.parse().expect("a number of seeds"));
    for seed in 1..=seeds {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        // A second stream for the queries aimed at record boundaries, so that the programs'
        // own sequence (and the counts in the README) does not depend on them.
        let mut aim = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
        let mut k = KernelTree::new();
        let mut r = Tree::new(era);
        for step in 0..60 {
            ops += 1;
            let at = At { known, seed, step };
            // Before every op, a query aimed at the records' edges (its own stream).
            query(&mut aim, Aim::Boundaries, &mut k, &r, at, &mut diffs);
            let (s, e) = rng.range();
            let op = rng.below(10);
            let mut set_bits = Bits::NONE;
            let desc = match op {
                0..=2 => {
                    let b = rng.bits();
                    set_bits = b;
                    k.set(s, e, b).unwrap();
                    r.set(s, e, b, Bits::NONE).unwrap();
                    format!("set({s}, {e}, {b:?})")
                }
                3 | 4 => {
                    let mut b = rng.bits();
                    if rng.below(4) == 0 {
                        b = b | Bits::LOCKED;
                    }
                    if rng.below(4) == 0 {
                        b = b | Bits::DO_ACCOUNTING;
                    }
                    k.clear(s, e, b).unwrap();
                    r.clear(s, e, b, false);
                    format!("clear({s}, {e}, {b:?})")
                }
                5 => {
                    let (b, c) = (rng.bits(), rng.bits());
                    k.convert(s, e, b, c).unwrap();
                    r.convert(s, e, b, c);
                    format!("convert({s}, {e}, {b:?}, {c:?})")
                }
                6 => {
                    let got = k.try_lock(s, e);
                    let want = match r.set(s, e, Bits::LOCKED, Bits::LOCKED) {
                        Ok(()) => true,
                        Err(failed) => {
                            // try_lock undoes the part it locked before the conflict.
                            if failed > s {
                                r.clear(s, failed - 1, Bits::LOCKED, false);
                            }
                            false
                        }
                    };
                    if got != want {
                        diffs.unexplained.push(format!("seed {seed} step {step}: try_lock({s}, {e}) kernel {got} reference {want}"));
                    }
                    format!("try_lock({s}, {e})")
                }
                7 => {
                    k.unlock(s, e);
                    r.clear(s, e, Bits::LOCKED, false);
                    format!("unlock({s}, {e})")
                }
                _ => {
                    query(&mut rng, Aim::Anywhere, &mut k, &r, at, &mut diffs);
                    continue;
                }
            };
            let (kr, rr) = (k.records(), r.records().to_vec());
            if kr != rr {
                if bytes(&kr) != bytes(&rr) {
                    diffs.unexplained.push(format!("seed {seed} step {step} {desc}: bytes differ\n kernel {kr:?}\n reference {rr:?}"));
                } else if known && desc.starts_with("set(") && split_at(&kr, s, e, set_bits) == rr {
                    if diffs.set_without_split == 0 {
                        eprintln!(
                            "first set-without-split: {desc}\n kernel {kr:?}\n reference {rr:?}"
                        );
                    }
                    diffs.set_without_split += 1;
                } else {
                    diffs.unexplained.push(format!("seed {seed} step {step} {desc}: records cut differently\n kernel {kr:?}\n reference {rr:?}"));
                }
                // Era 6: the first difference ends the program. Era B carries on from the
                // kernel's records when they are canonical under the shared merge rule (a
                // mutant's may not be: that is a difference of its own, and ends the program).
                if !known {
                    break;
                }
                if let Some(why) = not_canonical(&kr) {
                    diffs.unexplained.push(format!(
                        "seed {seed} step {step} {desc}: the kernel's records are not canonical ({why})\n kernel {kr:?}"
                    ));
                    break;
                }
                r = Tree::from_records(kr);
            }
        }
        no_reports();
    }
    eprintln!(
        "{ops} ops on {KERNEL_RELEASE}{}, reference in era {era:?}: set_without_split {}, \
         count_end_eq_start {}, dirty_shortcut {}, test_range_one_bit {}, unexplained {}",
        if KERNEL_PATCH.is_empty() {
            ""
        } else {
            " (patched)"
        },
        diffs.set_without_split,
        diffs.count_end_eq_start,
        diffs.dirty_shortcut,
        diffs.test_range_one_bit,
        diffs.unexplained.len()
    );
    const SHOWN: usize = 12;
    assert!(
        diffs.unexplained.is_empty(),
        "{} unexplained differences on {KERNEL_RELEASE}{}:\n{}{}",
        diffs.unexplained.len(),
        if KERNEL_PATCH.is_empty() {
            String::new()
        } else {
            format!(" patched with {KERNEL_PATCH}")
        },
        diffs.unexplained[..diffs.unexplained.len().min(SHOWN)].join("\n"),
        if diffs.unexplained.len() > SHOWN {
            format!("\n... and {} more", diffs.unexplained.len() - SHOWN)
        } else {
            String::new()
        }
    );
    diffs
}

/// Why `recs` is not a canonical tree (sorted, disjoint, no empty record, no two touching records
/// with the same bits unless they hold LOCKED or BOUNDARY, which 6.x never merges), or None.
fn not_canonical(recs: &[Record]) -> Option<String> {
    for r in recs {
        if r.bits == Bits::NONE || r.start > r.end {
            return Some(format!("empty record {r:?}"));
        }
    }
    for w in recs.windows(2) {
        if w[0].end >= w[1].start {
            return Some(format!("{:?} and {:?} overlap or are unsorted", w[0], w[1]));
        }
        let unmergeable = Bits::LOCKED | Bits::BOUNDARY;
        if w[0].end + 1 == w[1].start
            && w[0].bits == w[1].bits
            && !w[0].bits.intersects(unmergeable)
        {
            return Some(format!("{:?} and {:?} should have merged", w[0], w[1]));
        }
    }
    None
}

/// Where a query's range and bits come from.
#[derive(Clone, Copy, PartialEq)]
enum Aim {
    /// A random range in [0, 80) and random bits.
    Anywhere,
    /// Ends on or next to the current records' first and last bytes, and bits that a record there
    /// has: the off-by-one cases (a record starting at `end`, a range ending one byte short of a
    /// record's end) that random ranges seldom hit.
    Boundaries,
}

/// [`Aim::Boundaries`]: a range whose ends sit on or beside the edges of a record and of one of
/// the next two, and one bit (or, one time in four, all the bits) of the record at the start.
fn aimed(rng: &mut Rng, recs: &[Record]) -> (u64, u64, Bits) {
    let edge = |rng: &mut Rng, x: &Record| match rng.below(6) {
        0 | 1 => x.start,
        2 | 3 => x.end,
        4 => x.start.saturating_sub(1),
        _ => x.end + 1,
    };
    // The far end on the same record or one of the next two: the edges that matter are those of
    // the records the range runs into.
    let i = rng.below(recs.len() as u64) as usize;
    let a = recs[i];
    let b = recs[(i + rng.below(3) as usize).min(recs.len() - 1)];
    let (mut s, mut e) = (edge(rng, &a), edge(rng, &b));
    if e < s {
        std::mem::swap(&mut s, &mut e);
    }
    let has: Vec<Bits> = Bits::NAMES
        .iter()
        .map(|&(_, bit)| bit)
        .filter(|&bit| a.bits.contains(bit))
        .collect();
    let bits = if has.len() > 1 && rng.below(4) == 0 {
        a.bits
    } else {
        has[rng.below(has.len() as u64) as usize]
    };
    (s, e, bits)
}

/// Which program and step a query belongs to, and whether the era-B rules are known differences.
#[derive(Clone, Copy)]
struct At {
    known: bool,
    seed: u64,
    step: u32,
}

fn query(rng: &mut Rng, aim: Aim, k: &mut KernelTree, r: &Tree, at: At, diffs: &mut Diffs) {
    let At { known, seed, step } = at;
    let (mut s, mut e) = rng.range();
    let mut b = rng.bits();
    if aim == Aim::Boundaries && !r.records().is_empty() {
        (s, e, b) = aimed(rng, r.records());
    }
    let mut check = |what: String, kernel: String, reference: String| {
        if kernel != reference {
            diffs.unexplained.push(format!("seed {seed} step {step} {what}: kernel {kernel} reference {reference}\n records {:?}", r.records()));
        }
    };
    match rng.below(5) {
        0 => {
            let filled = rng.below(2) == 0;
            let got = match k.test_range_bit(s, e, b, filled) {
                Err(Unsupported::SeveralBits) => {
                    diffs.test_range_one_bit += 1;
                    return;
                }
                other => other.unwrap(),
            };
            let Outcome::Test { result } = r.test_range_bit(s, e, b, filled) else {
                unreachable!()
            };
            check(
                format!("test_range_bit({s}, {e}, {b:?}, {filled})"),
                got.to_string(),
                result.to_string(),
            );
        }
        1 => {
            let contig = rng.below(2) == 0;
            let max = [u64::MAX, 1, 5, 20][rng.below(4) as usize];
            let e = if rng.below(4) == 0 { s } else { e };
            let got = k.count_range_bits(s, e, max, b, contig).unwrap();
            let Outcome::Count { bytes, first_start } = r.count_range_bits(s, e, max, b, contig)
            else {
                unreachable!()
            };
            // 6.x with end == start counts the one byte at `s` when its record has the bits
            // (the reference, 4.x, answers 0 for end <= start).
            let one_byte = r
                .records()
                .iter()
                .any(|x| x.start <= s && s <= x.end && x.bits.contains(b));
            let six_x = (u64::from(one_byte), s);
            if known && e == s && got != (bytes, first_start) && bytes == 0 && got == six_x {
                diffs.count_end_eq_start += 1;
            } else if known && s == 0 && b == Bits::DIRTY && got != (bytes, first_start) {
                diffs.dirty_shortcut += 1;
            } else {
                check(
                    format!("count_range_bits({s}, {e}, {max}, {b:?}, {contig})"),
                    format!("{got:?}"),
                    format!("{:?}", (bytes, first_start)),
                );
            }
        }
        2 => {
            let got = k.find_first_extent_bit(s, b).unwrap();
            let Outcome::Found { found } = r.find_first_bit(s, b) else {
                unreachable!()
            };
            check(
                format!("find_first_extent_bit({s}, {b:?})"),
                format!("{got:?}"),
                format!("{:?}", found.map(|f| (f.0, f.1))),
            );
        }
        3 => {
            let got = k.find_first_clear_extent_bit(s, b).unwrap();
            check(
                format!("find_first_clear_extent_bit({s}, {b:?})"),
                format!("{got:?}"),
                format!("{:?}", r.find_first_clear_bit(s, b)),
            );
        }
        _ => {
            let max = [u64::MAX, 1, 8][rng.below(3) as usize];
            let got = k.find_delalloc(s, 0, max);
            let Outcome::Delalloc { found, start, end } = r.find_delalloc(s, max) else {
                unreachable!()
            };
            check(
                format!("find_delalloc({s}, {max})"),
                format!("{got:?}"),
                format!("{:?}", (found, start, end)),
            );
        }
    }
}
