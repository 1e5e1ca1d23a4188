//! The kernel's own io-tree self-tests, as the programs corpus/programs/tree_level/selftest_*.txt,
//! run op by op on every model with the checks the kernel test makes.
//!
//! Each self-test has one checker taking any `&mut dyn Model`: it walks the program, asserts that
//! each op is the call the kernel test makes at the line it names (so the program cannot drift
//! from the test), and after each step asserts what the kernel test asserts there, the message
//! naming the kernel file and line. The checks are the kernel's, not our models' answers: if a
//! model disagrees with the kernel's expectation, the checker fails, naming the line.
//!
//! The models are [`MODELS`], constructors from the program's geometry: the reference, the
//! optimized model and the kernel's own io tree with its delalloc hooks. The kernel sources read are linux-6.12's
//! fs/btrfs/tests/inode-tests.c and extent-io-tests.c; line numbers are 6.12's (6.1 has the same
//! tests, at the lines given in each program's header).

use delalloc_contract::geometry::MIB;
use delalloc_contract::op::MAX_OFFSET;
use delalloc_contract::text::{parse_program, print_op};
use delalloc_contract::{Bits, Era, Geometry, Model, Op, Outcome, Program};
use delalloc_optimized::Optimized;
use delalloc_reference::Reference;
use std::fmt::{Debug, Display};
use std::path::Path;

/// A model mounted on a program's geometry.
type Constructor = fn(&Geometry) -> Box<dyn Model>;

/// Every model the self-tests run on: a new model is one more line.
const MODELS: &[Constructor] = &[
    |g| Box::new(Reference::new(g)),
    |g| Box::new(Optimized::new(g)),
    // The kernel's own io tree and hooks (fails with how to get it in a build without one).
    |g| {
        delalloc_kernel::built().unwrap_or_else(|e| panic!("{e}"));
        delalloc_kernel::model(g)
    },
];

/// A self-test's checker: runs the program on the model and asserts the kernel test's checks.
type Checker = fn(&mut dyn Model, &Program);

/// Every ported self-test: its program (under corpus/programs/tree_level/) and its checker.
const SELFTESTS: &[(&str, Checker)] = &[
    ("selftest_extent_accounting.txt", extent_accounting),
    (
        "selftest_find_first_clear_extent_bit.txt",
        find_first_clear_extent_bit,
    ),
    ("selftest_find_delalloc.txt", find_delalloc),
];

/// BTRFS_MAX_EXTENT_SIZE, the max_extent the programs' geometry names.
const MAX_EXTENT: u64 = 128 * MIB;
/// The sectorsize the programs run with, and the PAGE_SIZE of a 4K-page kernel.
const SECTOR: u64 = 4096;
/// The last byte an op may address: where the kernel's calls say `(u64)-1` for "to the end".
const LAST_BYTE: u64 = MAX_OFFSET - 1;

fn programs_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/programs/tree_level")
}

fn load(name: &str) -> Program {
    let path = programs_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_program(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs the self-test of `name` on every model of [`MODELS`].
fn on_every_model(name: &str) {
    let (file, check) = SELFTESTS
        .iter()
        .find(|(f, _)| *f == name)
        .unwrap_or_else(|| panic!("{name} is not in SELFTESTS"));
    let program = load(file);
    for make in MODELS {
        let mut model = make(&program.geometry);
        check(model.as_mut(), &program);
    }
}

#[test]
fn inode_tests_test_extent_accounting() {
    on_every_model("selftest_extent_accounting.txt");
}

#[test]
fn extent_io_tests_test_find_first_clear_extent_bit() {
    on_every_model("selftest_find_first_clear_extent_bit.txt");
}

#[test]
fn extent_io_tests_test_find_delalloc() {
    on_every_model("selftest_find_delalloc.txt");
}

/// A selftest_*.txt without a checker would be a seed that checks nothing of what it claims.
#[test]
fn every_selftest_program_has_a_checker() {
    for entry in std::fs::read_dir(programs_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("selftest_") {
            assert!(
                SELFTESTS.iter().any(|(f, _)| *f == name),
                "{name} has no checker in tests/all/kernel_selftests.rs"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Walking a program as a kernel test
// ---------------------------------------------------------------------------------------------

/// One self-test's program, run op by op on one model.
struct Steps<'a> {
    /// The kernel file and test function, for messages: "inode-tests.c", "test_...".
    file: &'static str,
    test: &'static str,
    model: &'a mut dyn Model,
    ops: &'a [Op],
    next: usize,
}

impl<'a> Steps<'a> {
    /// Checks that the program runs on the geometry the kernel test assumes: 4K sectors,
    /// BTRFS_MAX_EXTENT_SIZE, and 6.x's io tree.
    fn new(
        file: &'static str,
        test: &'static str,
        model: &'a mut dyn Model,
        program: &'a Program,
    ) -> Steps<'a> {
        let g = &program.geometry;
        assert_eq!(
            (g.sectorsize, g.max_extent, g.era),
            (SECTOR, MAX_EXTENT, Era::V6),
            "{file} {test}: the program's geometry is not the kernel test's \
             (sectorsize 4K, max_extent BTRFS_MAX_EXTENT_SIZE, era 6)"
        );
        Steps {
            file,
            test,
            model,
            ops: &program.ops,
            next: 0,
        }
    }

    /// Runs the program's next op, which must be `want`, the kernel's call at `line`; returns
    /// the model's answer.
    fn call(&mut self, line: impl Display, want: Op) -> Outcome {
        let i = self.next;
        let op = self.ops.get(i).unwrap_or_else(|| {
            panic!(
                "{} {}: the program ends before the call at line {line}, `{}`",
                self.file,
                self.test,
                print_op(&want)
            )
        });
        assert_eq!(
            *op,
            want,
            "{} {}: op {i} of the program is `{}`, but the kernel's call at line {line} is `{}`",
            self.file,
            self.test,
            print_op(op),
            print_op(&want)
        );
        self.next += 1;
        self.model.apply(op)
    }

    /// The kernel test's check at `line`: `what` must be `want`.
    fn check<T: PartialEq + Debug>(&self, line: impl Display, what: &str, got: T, want: T) {
        assert_eq!(
            got,
            want,
            "{}: {}:{line} ({}): {what}",
            self.model.name(),
            self.file,
            self.test
        );
    }

    /// The stand-alone tree's outstanding_extents now.
    fn outstanding_extents(&self) -> u64 {
        self.model.snapshot().tree.outstanding_extents
    }

    /// Every op of the program was one of the kernel test's calls.
    fn finish(self) {
        assert_eq!(
            self.next,
            self.ops.len(),
            "{} {}: the program has ops after the kernel test's last call",
            self.file,
            self.test
        );
    }
}

fn set(start: u64, end: u64, bits: Bits) -> Op {
    Op::SetBits {
        start,
        end,
        bits,
        exclusive: Bits::NONE,
        cached: false,
    }
}

fn clear(start: u64, end: u64, bits: Bits) -> Op {
    Op::ClearBits {
        start,
        end,
        bits,
        wake: false,
        delete: false,
        cached: false,
    }
}

// ---------------------------------------------------------------------------------------------
// inode-tests.c, test_extent_accounting (6.12 lines 894-1079)
// ---------------------------------------------------------------------------------------------

/// Sets and clears delalloc around BTRFS_MAX_EXTENT_SIZE on a test inode and checks its
/// outstanding_extents after every call, as the kernel test does (and each call's `ret`).
///
/// Only outstanding_extents: the self-tests run with btrfs_is_testing() true, and the 6.12 hooks
/// return right after counting the extents, before delalloc_bytes (and, on set, before the
/// DELALLOC_NEW branch's new_delalloc_bytes): btrfs_set_delalloc_extent, inode.c 2619 then
/// 2622-2624; btrfs_clear_delalloc_extent, 2682 then 2694-2696. The kernel's test inode keeps
/// those bytes at 0 and the test does not look at them; our models always count them (SPEC §1),
/// so they are not the kernel's to check here. The split and merge hooks (inode.c 2456-2549)
/// have no such early return.
fn extent_accounting(model: &mut dyn Model, program: &Program) {
    let mut s = Steps::new("inode-tests.c", "test_extent_accounting", model, program);
    const MAX: u64 = MAX_EXTENT;
    const S: u64 = SECTOR;
    // btrfs_set_extent_delalloc (inode.c 2798-2827): DELALLOC, and DELALLOC_NEW for a range at
    // or past i_size (0 on the test inode, 2808-2814), with no cached state.
    let delalloc = |start, end| set(start, end, Bits(Bits::DELALLOC.0 | Bits::DELALLOC_NEW.0));
    let undelalloc = |start, end| {
        let bits = Bits::DELALLOC.0 | Bits::DELALLOC_NEW.0 | Bits::UPTODATE.0;
        clear(start, end, Bits(bits))
    };
    // The range of 988-990: MAX + S bytes after a one-sector hole.
    let far = (MAX + 2 * S, (MAX << 1) + 3 * S - 1);
    // (line of the call, line of its `ret` check, the call, line of the count check, count)
    let steps = [
        (924, 926, delalloc(0, MAX - 1), 930, 1),
        (938, 941, delalloc(MAX, MAX + S - 1), 945, 2),
        (953, 958, undelalloc(MAX >> 1, (MAX >> 1) + S - 1), 962, 2),
        (970, 974, delalloc(MAX >> 1, (MAX >> 1) + S - 1), 978, 2),
        (988, 992, delalloc(far.0, far.1), 996, 4),
        (1006, 1009, delalloc(MAX + S, MAX + 2 * S - 1), 1013, 3),
        (1021, 1026, undelalloc(MAX + S, MAX + 2 * S - 1), 1030, 4),
        (1041, 1044, delalloc(MAX + S, MAX + 2 * S - 1), 1048, 3),
        // (u64)-1 as the end: the last byte an op addresses.
        (1056, 1059, undelalloc(0, LAST_BYTE), 1063, 0),
    ];
    for (call, ret, op, count, want) in steps {
        let outcome = s.call(call, op);
        s.check(ret, "the call's ret", outcome, Outcome::Done);
        s.check(count, "outstanding_extents", s.outstanding_extents(), want);
    }
    s.finish();
}

// ---------------------------------------------------------------------------------------------
// extent-io-tests.c, test_find_first_clear_extent_bit (6.12 lines 560-669)
// ---------------------------------------------------------------------------------------------

/// find_first_clear_extent_bit from an empty tree, from holes, from inside ranges having the
/// bits and past the last record; checks each (start, end) as the kernel test does. The test's
/// set_extent_bit calls are unchecked there, so here too.
fn find_first_clear_extent_bit(model: &mut dyn Model, program: &Program) {
    let file = "extent-io-tests.c";
    let mut s = Steps::new(file, "test_find_first_clear_extent_bit", model, program);
    // extent-io-tree.h 79-80.
    const ALLOCATED: Bits = Bits::DIRTY;
    const TRIMMED: Bits = Bits::DEFRAG;
    const BOTH: Bits = Bits(ALLOCATED.0 | TRIMMED.0);
    const M: u64 = MIB;
    let find = |start, bits| Op::FindFirstClearBit { start, bits };
    let range = |start, end| Outcome::Clear { start, end };

    let got = s.call(571, find(0, TRIMMED));
    s.check(572, "empty tree", got, range(0, u64::MAX));
    s.call(582, set(M, 4 * M - 1, BOTH));
    let got = s.call(585, find(M / 2, BOTH));
    s.check(588, "beginning range", got, range(0, M - 1));
    s.call(595, set(32 * M, 64 * M - 1, BOTH));
    let got = s.call(601, find(12 * M, BOTH));
    s.check(604, "trimmed range", got, range(4 * M, 32 * M - 1));
    let got = s.call(614, find(2 * M, BOTH));
    s.check(617, "next unalloc range", got, range(4 * M, 32 * M - 1));
    s.call(627, set(64 * M, 72 * M - 1, ALLOCATED));
    let got = s.call(628, find(65 * M, TRIMMED));
    s.check(631, "exact range", got, range(64 * M, 72 * M - 1));
    let got = s.call(637, find(56 * M, TRIMMED));
    s.check(644, "next alloc range", got, range(64 * M, 72 * M - 1));
    // The kernel searches from (u64)-1; op validation takes no offset at or past 2^50, so the
    // program searches from the last byte it may: past every record as well (SPEC §1.1 rule 2).
    let got = s.call(654, find(LAST_BYTE, TRIMMED));
    s.check(655, "beyond end of range", got, range(72 * M, u64::MAX));
    // The clean-up (666), not checked.
    s.call(666, clear(0, LAST_BYTE, BOTH));
    s.finish();
}

// ---------------------------------------------------------------------------------------------
// extent-io-tests.c, test_find_delalloc (6.12 lines 109-340), its io-tree part
// ---------------------------------------------------------------------------------------------

/// find_lock_delalloc_range of 6.12 (extent_io.c 331-429) over the model: its io-tree calls are
/// the program's ops (btrfs_find_delalloc_range at 365, lock at 412, test_range_bit at 415,
/// unlock at 418), its arithmetic between them is redone here. The pages are not modelled: the
/// one thing of theirs that decides the path, whether lock_delalloc_folios (391) finds every
/// page of the range dirty, is `clean_page`, a page the test made clean (a page other than the
/// locked one, as at test line 297). `line` is the test's call. Returns (found, *start, *end).
fn find_lock_delalloc_range(
    s: &mut Steps<'_>,
    line: u32,
    start: u64,
    end: u64,
    clean_page: Option<u64>,
) -> (bool, u64, u64) {
    let at = |kernel_line: u32| format!("{line} (extent_io.c:{kernel_line})");
    let orig_end = end;
    // 340: the dummy fs_info's max_extent_size.
    let mut max_bytes = MAX_EXTENT;
    let mut loops = 0;
    loop {
        // 356-366
        let answer = s.call(at(365), Op::FindDelalloc { start, max_bytes });
        let Outcome::Delalloc {
            found,
            start: mut delalloc_start,
            end: mut delalloc_end,
        } = answer
        else {
            panic!("{}: find_delalloc answered {answer:?}", s.model.name());
        };
        // 367-374: nothing found, or nothing that starts inside the search range.
        if !found || delalloc_end <= start || delalloc_start > orig_end {
            return (false, delalloc_start, delalloc_end.min(orig_end));
        }
        // 381-388: no earlier than the locked page, at most max_bytes.
        delalloc_start = delalloc_start.max(start);
        if delalloc_end + 1 - delalloc_start > max_bytes {
            delalloc_end = delalloc_start + max_bytes - 1;
        }
        // 391-409: a page of the range gone clean: search again for one sector, once.
        if clean_page.is_some_and(|p| delalloc_start <= p && p <= delalloc_end) {
            assert_eq!(
                loops, 0,
                "test line {line}: lock_delalloc_folios failed twice; the test does not go there"
            );
            max_bytes = SECTOR;
            loops = 1;
            continue;
        }
        // 412: with nobody else holding a lock, the kernel's wait cannot happen.
        let locked = s.call(
            at(412),
            Op::Lock {
                start: delalloc_start,
                end: delalloc_end,
            },
        );
        s.check(at(412), "lock_extent", locked, Outcome::Done);
        // 415: all still delalloc; if not, the kernel unlocks and searches again (419-424), a
        // path the program does not take.
        let still = s.call(
            at(415),
            Op::TestRangeBit {
                start: delalloc_start,
                end: delalloc_end,
                bits: Bits::DELALLOC,
                filled: true,
            },
        );
        s.check(
            at(415),
            "the range still all delalloc",
            still,
            Outcome::Test { result: true },
        );
        // 418: 6.12 unlocks here; 6.1 returned with the range locked.
        s.call(
            at(418),
            Op::Unlock {
                start: delalloc_start,
                end: delalloc_end,
            },
        );
        return (true, delalloc_start, delalloc_end);
    }
}

/// The io-tree part of test_find_delalloc: the test's set_extent_bit and unlock calls and, for
/// each find_lock_delalloc_range, its io-tree steps; checks found, start and end as the kernel
/// test does. The tree has no hooks in the kernel (an IO_TREE_SELFTEST tree, line 153) and the
/// test checks no counter, so neither does this.
fn find_delalloc(model: &mut dyn Model, program: &Program) {
    let mut s = Steps::new("extent-io-tests.c", "test_find_delalloc", model, program);
    const PAGE: u64 = SECTOR;
    let max_bytes = MAX_EXTENT;
    let total_dirty = 2 * max_bytes;
    let delalloc = |start, end| set(start, end, Bits::DELALLOC);
    let unlock = |start, end| Op::Unlock { start, end };

    // 176-196: the first sector is delalloc, the search covers it.
    s.call(180, delalloc(0, SECTOR - 1));
    let (found, start, end) = find_lock_delalloc_range(&mut s, 183, 0, PAGE - 1, None);
    s.check(185, "found", found, true);
    s.check(189, "range", (start, end), (0, SECTOR - 1));
    s.call(194, unlock(start, end));

    // 198-232: delalloc up to max_bytes, the search from the middle.
    let test_start = 64 * MIB;
    s.call(211, delalloc(SECTOR, max_bytes - 1));
    let (found, start, end) =
        find_lock_delalloc_range(&mut s, 214, test_start, test_start + PAGE - 1, None);
    s.check(216, "found", found, true);
    s.check(220, "range", (start, end), (test_start, max_bytes - 1));
    s.call(230, unlock(start, end));

    // 234-257: the search past the delalloc.
    let test_start = max_bytes + SECTOR;
    let (found, _, end) =
        find_lock_delalloc_range(&mut s, 248, test_start, test_start + PAGE - 1, None);
    s.check(250, "found", found, false);
    s.check(254, "end", end, test_start + PAGE - 1);

    // 259-285: delalloc up to total_dirty, the same search.
    s.call(266, delalloc(max_bytes, total_dirty - 1));
    let (found, start, end) =
        find_lock_delalloc_range(&mut s, 269, test_start, test_start + PAGE - 1, None);
    s.check(271, "found", found, true);
    s.check(275, "range", (start, end), (test_start, total_dirty - 1));
    s.call(285, unlock(start, end));

    // 287-325: the page at max_bytes + 1M no longer dirty (297), the same search.
    let clean = Some(max_bytes + MIB);
    let (found, start, end) =
        find_lock_delalloc_range(&mut s, 310, test_start, test_start + PAGE - 1, clean);
    s.check(312, "found", found, true);
    // Line 316 fails only when both differ (its condition is `start != ... && end != ...`).
    let want = (test_start, test_start + PAGE - 1);
    s.check(
        316,
        "start or end as the test expects",
        start == want.0 || end == want.1,
        true,
    );
    // Stronger than line 316: start and end both, the one page that a re-search with max_bytes
    // down to PAGE_SIZE gives (the test's comment, 304-309).
    s.check("316 (both)", "range", (start, end), want);

    // 330: the clean-up, every bit ((unsigned)-1: EXTENT_CLEAR_ALL_BITS and the lock bits).
    s.call(
        330,
        Op::ClearBits {
            start: 0,
            end: total_dirty - 1,
            bits: Bits::NONE,
            wake: true,
            delete: true,
            cached: false,
        },
    );
    s.finish();
}
