//! The text format: printing and parsing round-trip every valid program, parsing never panics,
//! and errors say what is wrong and where.

use delalloc_contract::op::{Field, Role, Syntax, MAX_OFFSET};
use delalloc_contract::text::{parse_op, parse_program, print_op, print_program, ParseError};
use delalloc_contract::{Bits, Era, FaultKind, Geometry, Op, OpKind, Program};
use proptest::prelude::*;

const MIB: u64 = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Values spanning sub-sector, sector, multi-128MiB and near-2^50 sizes, all below `MAX_OFFSET`.
fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..8192,
        (0u64..64).prop_map(|k| k * 4096),
        (0u64..64, 0u64..3).prop_map(|(k, d)| (k * 4096).saturating_sub(d)),
        (0u64..40).prop_map(|k| k * 128 * MIB),
        (0u64..40, 0u64..2).prop_map(|(k, d)| (k * 128 * MIB).saturating_sub(d)),
        (0u32..50, 0u64..3).prop_map(|(s, d)| (1u64 << s).saturating_sub(d)),
        (MAX_OFFSET - (1 << 20))..MAX_OFFSET,
        0u64..MAX_OFFSET,
    ]
}

fn bits(nonempty: bool) -> impl Strategy<Value = Bits> {
    let names: Vec<Bits> = Bits::NAMES
        .iter()
        .map(|(_, b)| *b)
        .filter(|b| Bits::STORABLE.contains(*b))
        .collect();
    prop_oneof![
        any::<u32>().prop_map(|v| Bits(v & Bits::STORABLE.0)),
        proptest::sample::select(names),
    ]
    .prop_map(move |b| {
        if nonempty && b.is_empty() {
            Bits::DELALLOC
        } else {
            b
        }
    })
}

fn range() -> impl Strategy<Value = (u64, u64)> {
    (value(), value()).prop_map(|(a, b)| (a.min(b), a.max(b)))
}

/// pos + len with len > 0 and pos + len <= 2^50.
fn file_range() -> impl Strategy<Value = (u64, u64)> {
    (value(), value()).prop_map(|(pos, len)| (pos, len.clamp(1, MAX_OFFSET - pos)))
}

fn geometry() -> impl Strategy<Value = Geometry> {
    let custom = (
        9u32..=16,
        0u32..=7,
        1u64..70_000,
        1u64..64,
        0u64..=MAX_OFFSET,
        0u64..=MAX_OFFSET,
        any::<u64>(),
        1u8..=8,
    )
        .prop_flat_map(|(ss, ns, me, wc, data, meta, rsv, inodes)| {
            let sectorsize = 1u64 << ss;
            let nodesize = 1u64 << (ss + ns).min(16);
            // Sometimes the kernel's 128 MiB, sometimes tiny (as the self-tests patch it).
            prop_oneof![Just(128 * MIB), Just(me * sectorsize)].prop_map(move |max_extent| {
                let write_chunk = (wc * sectorsize).min(max_extent);
                let meta_bytes = meta;
                Geometry {
                    sectorsize,
                    nodesize,
                    max_extent,
                    write_chunk,
                    data_bytes: data,
                    meta_bytes,
                    global_rsv: if meta_bytes == 0 {
                        0
                    } else {
                        rsv % (meta_bytes + 1)
                    },
                    inodes,
                    era: Era::B,
                }
            })
        });
    prop_oneof![1 => Just(Geometry::default()), 4 => custom]
}

fn op(g: Geometry) -> BoxedStrategy<Op> {
    let ino = 0..g.inodes;
    let ss = g.sectorsize;
    let aligned = move |v: u64| v / ss * ss;
    prop_oneof![
        (range(), bits(true), bits(false), any::<bool>()).prop_map(
            |((start, end), bits, ex, cached)| {
                Op::SetBits {
                    start,
                    end,
                    bits: bits | Bits(ex.0 & bits.0),
                    exclusive: Bits(ex.0 & bits.0),
                    cached,
                }
            }
        ),
        (
            range(),
            bits(false),
            any::<bool>(),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|((start, end), bits, wake, delete, cached)| Op::ClearBits {
                start,
                end,
                bits: if bits.is_empty() && !delete {
                    Bits::DIRTY
                } else {
                    bits
                },
                wake,
                delete,
                cached
            }),
        (range(), bits(true), bits(false)).prop_map(|((start, end), set, clear)| {
            let set = set.minus(Bits::LOCKED);
            Op::ConvertBits {
                start,
                end,
                set: if set.is_empty() { Bits::DIRTY } else { set },
                clear: clear.minus(Bits::LOCKED),
            }
        }),
        range().prop_map(|(start, end)| Op::SetDelalloc { start, end }),
        range().prop_map(|(start, end)| Op::Lock { start, end }),
        range().prop_map(|(start, end)| Op::TryLock { start, end }),
        range().prop_map(|(start, end)| Op::Unlock { start, end }),
        (range(), bits(true), any::<bool>()).prop_map(|((start, end), bits, filled)| {
            Op::TestRangeBit {
                start,
                end,
                bits,
                filled,
            }
        }),
        (range(), value(), bits(true), any::<bool>()).prop_map(
            |((start, end), max, bits, contig)| {
                Op::CountRangeBits {
                    start,
                    end,
                    max_bytes: max.max(1),
                    bits,
                    contig,
                }
            }
        ),
        (value(), bits(true)).prop_map(|(start, bits)| Op::FindFirstBit { start, bits }),
        (value(), value()).prop_map(|(start, max)| Op::FindDelalloc {
            start,
            max_bytes: max.max(1)
        }),
        (
            ino.clone(),
            file_range(),
            value(),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(
                |(ino, (pos, len), copied, short, nocow)| Op::BufferedWrite {
                    ino,
                    pos,
                    len,
                    copied: if short { copied % (len + 1) } else { len },
                    nocow
                }
            ),
        (ino.clone(), file_range(), any::<bool>()).prop_map(move |(ino, (pos, len), fallback)| {
            let pos = aligned(pos);
            let len = aligned(len).clamp(ss, MAX_OFFSET - pos);
            Op::DirectWrite {
                ino,
                pos,
                len,
                fallback,
            }
        }),
        (ino.clone(), value()).prop_map(move |(ino, pos)| Op::PageMkwrite {
            ino,
            pos: aligned(pos).min(MAX_OFFSET - ss)
        }),
        (ino.clone(), file_range()).prop_map(|(ino, (start, len))| Op::Defrag { ino, start, len }),
        (ino.clone(), file_range()).prop_map(|(ino, (start, len))| Op::Writeback {
            ino,
            start,
            len
        }),
        (ino.clone(), any::<u8>()).prop_map(|(ino, nth)| Op::FinishOrdered { ino, nth }),
        (ino.clone(), value()).prop_map(|(ino, size)| Op::Truncate { ino, size }),
        ino.prop_map(|ino| Op::Evict { ino }),
        Just(Op::Commit),
        Just(Op::Unmount),
        (value(), value()).prop_map(|(data, meta)| Op::SetFreeSpace { data, meta }),
        prop_oneof![Just(FaultKind::Data), Just(FaultKind::Metadata)]
            .prop_map(|kind| Op::FailNextReservation { kind }),
        Just(Op::DrainDelallocRsv),
    ]
    .boxed()
}

/// A program in era B, or in era 6 with the ops era 6 rejects (WRITEBACK, a set_bits
/// exclusive other than its LOCKED) left out.
fn program() -> impl Strategy<Value = Program> {
    geometry().prop_flat_map(|g| {
        (proptest::collection::vec(op(g), 0..40), any::<bool>()).prop_map(move |(mut ops, v6)| {
            let geometry = if v6 {
                Geometry { era: Era::V6, ..g }
            } else {
                g
            };
            ops.retain(|op| op.validate(&geometry).is_ok());
            Program { geometry, ops }
        })
    })
}

/// One byte edit of a printed program: where (an index into its bytes, or just past them), how
/// (0 overwrite, 1 remove, else insert) and the byte.
type Edit = (prop::sample::Index, u8, u8);

/// A few byte edits, for [`edited`].
fn edits() -> impl Strategy<Value = Vec<Edit>> {
    proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..8)
}

/// `text` with `edits` applied in order (an overwrite or removal past the end inserts), read
/// back as UTF-8 with invalid bytes replaced: printed programs slightly damaged.
fn edited(text: String, edits: Vec<Edit>) -> String {
    let mut bytes = text.into_bytes();
    for (at, how, b) in edits {
        let i = at.index(bytes.len() + 1);
        match how {
            0 if i < bytes.len() => bytes[i] = b,
            1 if i < bytes.len() => {
                bytes.remove(i);
            }
            _ => bytes.insert(i, b),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Words and fragments of the format, to make random text reach deep into the parser.
fn soup() -> impl Strategy<Value = String> {
    let words: Vec<String> = OpKind::ALL
        .iter()
        .map(|k| k.name().to_string())
        .chain(
            [
                "geometry",
                "sectorsize=",
                "nodesize=",
                "max_extent=",
                "write_chunk=",
                "data=",
                "meta=",
                "global_rsv=",
                "inodes=",
                "ino=",
                "pos=",
                "len=",
                "copied=",
                "start=",
                "size=",
                "nth=",
                "max=",
                "set=",
                "clear=",
                "exclusive=",
                "cached",
                "wake",
                "delete",
                "filled",
                "contig",
                "nocow",
                "fallback",
                "data",
                "metadata",
                "DIRTY",
                "LOCKED|DELALLOC",
                "0",
                "4095",
                "4K",
                "128M",
                "0x",
                "0xfff",
                "99999999999999999999",
                "1T",
                "16777216T",
                "|",
                "=",
                "#",
                "\n",
                "\t",
                " ",
                "é",
                "\r\n",
            ]
            .iter()
            .map(|s| s.to_string()),
        )
        .collect();
    proptest::collection::vec(
        prop_oneof![proptest::sample::select(words), "[ -~]{0,3}", ".{0,2}"],
        0..60,
    )
    .prop_map(|ws| ws.join(" "))
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// Values for one field of any role: a number, a small one, bits, a coin.
type FieldValues = (u64, u8, Bits, bool);

/// An op of `kind` made from the op table alone: each field takes the value of its role from
/// `values` (an `End` lies after the offset before it), an optional key is sometimes left to
/// its default. A new op is covered here without a strategy of its own.
fn table_op(kind: OpKind, values: &[FieldValues], g: &Geometry) -> Op {
    let specs = kind.field_specs();
    let mut last_offset = 0;
    Op::from_fields(kind, |name| {
        let i = specs.iter().position(|f| f.name == name)?;
        let (v, small, bits, coin) = values[i % values.len()];
        if coin
            && matches!(
                specs[i].syntax,
                Syntax::Key {
                    required: false,
                    ..
                }
            )
        {
            return None;
        }
        Some(match specs[i].role {
            Role::Offset => {
                last_offset = v;
                Field::Offset(v)
            }
            Role::End => Field::End(
                last_offset
                    .saturating_add(v % (1 << 20))
                    .min(MAX_OFFSET - 1),
            ),
            Role::Len => Field::Len(v),
            Role::Num => Field::Num(v),
            Role::Ino => Field::Ino(small % g.inodes),
            Role::Count => Field::Count(small),
            Role::Bits => Field::Bits(bits),
            Role::Flag => Field::Flag(coin),
            Role::Fault => Field::Fault(if coin {
                FaultKind::Metadata
            } else {
                FaultKind::Data
            }),
        })
    })
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Every op of the table prints and parses back to itself, whichever fields it has.
    #[test]
    fn every_table_op_roundtrips(
        kind in proptest::sample::select(OpKind::ALL.to_vec()),
        values in proptest::collection::vec((value(), any::<u8>(), bits(false), any::<bool>()), 8),
        g in geometry(),
    ) {
        let op = table_op(kind, &values, &g);
        if op.validate(&g).is_ok() {
            prop_assert_eq!(parse_op(&print_op(&op), &g), Ok(op.clone()), "{}", print_op(&op));
        } else {
            prop_assert!(parse_op(&print_op(&op), &g).is_err());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn print_parse_roundtrip(p in program()) {
        prop_assert_eq!(p.validate(), Ok(()), "strategy made an invalid program");
        let text = print_program(&p);
        prop_assert_eq!(parse_program(&text), Ok(p.clone()), "text:\n{}", text);
        for op in &p.ops {
            prop_assert_eq!(parse_op(&print_op(op), &p.geometry), Ok(op.clone()));
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        let _ = parse_program(&s);
        let _ = parse_op(&s, &Geometry::default());
    }

    #[test]
    fn token_soup_never_panics(s in soup()) {
        if let Err(e) = parse_program(&s) {
            prop_assert!(e.line >= 1 && e.column >= 1);
            prop_assert!(e.line <= s.lines().count().max(1));
        }
        let _ = parse_op(&s, &Geometry::default());
    }

    #[test]
    fn edited_programs_never_panic(
        p in program(),
        edits in edits(),
    ) {
        let s = edited(print_program(&p), edits);
        match parse_program(&s) {
            Ok(q) => prop_assert_eq!(q.validate(), Ok(())),
            Err(e) => prop_assert!(e.line >= 1 && e.column >= 1 && !e.message.is_empty()),
        }
    }

    #[test]
    fn parse_op_with_any_geometry_never_panics(
        ss in any::<u64>(), ns in any::<u64>(), inodes in any::<u8>(), p in program(),
    ) {
        let g = Geometry { sectorsize: ss % 70_000, nodesize: ns % 70_000, inodes, ..Geometry::default() };
        for op in &p.ops {
            let _ = parse_op(&print_op(op), &g);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The example of the format, every op
// ---------------------------------------------------------------------------------------------

const EXAMPLE: &str = "\
# any comment line; blank lines ignored; trailing `# comment` after an op is allowed

geometry sectorsize=4K nodesize=16K max_extent=128M write_chunk=2M data=1G meta=256M global_rsv=16M inodes=2
# The brief's line had `DELALLOC|UPTODATE exclusive=LOCKED`, which Op::validate rejects
# (exclusive must be part of bits, as in lock_extent's set_extent_bit(LOCKED, LOCKED)).
set_bits 0 4095 DELALLOC|UPTODATE|LOCKED exclusive=LOCKED cached
clear_bits 0 4095 DELALLOC wake delete cached
convert_bits 0 4095 set=DIRTY clear=NEW
set_delalloc 0 8191
lock 0 4095
try_lock 0 4095
unlock 0 4095
test_range_bit 0 4095 DELALLOC filled
count_range_bits 0 4095 max=4096 DELALLOC contig
find_first_bit 0 DELALLOC
find_delalloc 0 max=128M
buffered_write ino=0 pos=0 len=8K copied=4K nocow
direct_write ino=1 pos=0 len=4K fallback
page_mkwrite ino=0 pos=4K
defrag ino=0 start=0 len=1M
writeback ino=0 start=0 len=1M
finish_ordered ino=0 nth=0
truncate ino=0 size=0
evict ino=0
commit
unmount
set_free_space data=1M meta=0
fail_next_reservation data      # or: metadata
\tfail_next_reservation\tmetadata\t# tabs
drain_delalloc_rsv
find_first_clear_bit 4096 DIRTY|DEFRAG
clear_bits 0 4095 0 delete
";

#[test]
fn example_parses_and_reprints() {
    let p = parse_program(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.geometry, Geometry::default());
    let kinds: std::collections::BTreeSet<OpKind> = p.ops.iter().map(|o| o.kind()).collect();
    assert_eq!(
        kinds.len(),
        OpKind::ALL.len(),
        "the example covers every op"
    );
    assert_eq!(
        p.ops[0],
        Op::SetBits {
            start: 0,
            end: 4095,
            bits: Bits::DELALLOC | Bits::UPTODATE | Bits::LOCKED,
            exclusive: Bits::LOCKED,
            cached: true
        }
    );
    assert_eq!(
        p.ops[11],
        Op::BufferedWrite {
            ino: 0,
            pos: 0,
            len: 8192,
            copied: 4096,
            nocow: true
        }
    );
    assert_eq!(
        p.ops.last(),
        Some(&Op::ClearBits {
            start: 0,
            end: 4095,
            bits: Bits::NONE,
            wake: false,
            delete: true,
            cached: false
        })
    );
    let text = print_program(&p);
    assert!(text.starts_with("# delalloc-fuzz program\ngeometry sectorsize=4K nodesize=16K max_extent=128M write_chunk=2M data=1G meta=256M global_rsv=16M inodes=2\n"), "{text}");
    assert!(
        text.contains("\nset_bits 0 4095 UPTODATE|LOCKED|DELALLOC exclusive=LOCKED cached\n"),
        "{text}"
    );
    assert!(
        text.contains("\ncount_range_bits 0 4095 max=4K DELALLOC contig\n"),
        "{text}"
    );
    assert!(
        text.contains("\nbuffered_write ino=0 pos=0 len=8K copied=4K nocow\n"),
        "{text}"
    );
    assert_eq!(parse_program(&text), Ok(p));
}

#[test]
fn defaults_and_spellings() {
    let p =
        parse_program("geometry sectorsize=0x200 inodes=8\nbuffered_write len=3K pos=1M ino=7\n")
            .unwrap();
    assert_eq!(
        p.geometry,
        Geometry {
            sectorsize: 512,
            inodes: 8,
            ..Geometry::default()
        }
    );
    assert_eq!(
        p.ops,
        vec![Op::BufferedWrite {
            ino: 7,
            pos: MIB,
            len: 3072,
            copied: 3072,
            nocow: false
        }]
    );
    assert_eq!(print_op(&p.ops[0]), "buffered_write ino=7 pos=1M len=3K");
    let op = parse_op(
        "convert_bits 0x1000 8191 set=DIRTY|0x4  # comment",
        &Geometry::default(),
    )
    .unwrap();
    assert_eq!(
        op,
        Op::ConvertBits {
            start: 4096,
            end: 8191,
            set: Bits::DIRTY | Bits::UPTODATE,
            clear: Bits::NONE
        }
    );
    assert_eq!(print_op(&op), "convert_bits 4096 8191 set=DIRTY|UPTODATE");
    assert_eq!(parse_program(""), Ok(Program::default()));
    assert_eq!(parse_program("# only\n\n   \t\n"), Ok(Program::default()));
}

// ---------------------------------------------------------------------------------------------
// Errors: line, column, and the message names the token
// ---------------------------------------------------------------------------------------------

fn parse_err(text: &str) -> ParseError {
    match parse_program(text) {
        Ok(p) => panic!("{text:?} parsed: {p:?}"),
        Err(e) => e,
    }
}

fn check(text: &str, line: usize, column: usize, needles: &[&str]) {
    let e = parse_err(text);
    assert_eq!((e.line, e.column), (line, column), "{text:?}: {e}");
    for n in needles {
        assert!(
            e.message.contains(n),
            "{text:?}: message {:?} lacks {n:?}",
            e.message
        );
    }
}

#[test]
fn error_display() {
    let e = parse_err("commit\n\nset_bits 0 4095 DELALOC\n");
    assert_eq!(
        e.to_string(),
        "line 3, column 17: unknown bit name `DELALOC` (known: DIRTY, WRITEBACK, UPTODATE, LOCKED, NEW, \
         DELALLOC, DEFRAG, BOUNDARY, NODATASUM, DO_ACCOUNTING, NORESERVE, DELALLOC_NEW)"
    );
    let _: &dyn std::error::Error = &e;
}

#[test]
fn error_unknown_op() {
    check(
        "commit\n  lokc 0 4095\n",
        2,
        3,
        &["unknown op `lokc`", "did you mean `lock`"],
    );
    check(
        "buffered_writ ino=0 pos=0 len=1",
        1,
        1,
        &["`buffered_writ`", "did you mean `buffered_write`"],
    );
    check(
        "geometri sectorsize=4K",
        1,
        1,
        &["`geometri`", "did you mean `geometry`"],
    );
    check(
        "frobnicate",
        1,
        1,
        &["unknown op `frobnicate`", "known: set_bits"],
    );
    check("é commit", 1, 1, &["unknown op `é`"]);
}

#[test]
fn error_unknown_key() {
    check(
        "buffered_write ino=0 pos=0 lne=4K",
        1,
        28,
        &[
            "unknown key `lne`",
            "did you mean `len`",
            "known keys: ino, pos, len, copied",
        ],
    );
    check(
        "geometry sectorsize=4K blocksize=4K",
        1,
        24,
        &["unknown key `blocksize`"],
    );
    check(
        "commit now=1",
        1,
        8,
        &["unknown key `now`", "commit takes no keys"],
    );
    check(
        "lock start=0 end=4095",
        1,
        6,
        &["`start` is positional", "lock START END"],
    );
    check(
        "set_bits 0 1 DIRTY cached=1",
        1,
        20,
        &["flag `cached` takes no value"],
    );
    check("evict =0", 1, 7, &["missing key name"]);
}

#[test]
fn error_unexpected_argument() {
    check(
        "set_bits 0 4095 DIRTY cahced",
        1,
        23,
        &[
            "unexpected argument `cahced`",
            "did you mean the flag `cached`",
        ],
    );
    check(
        "lock 0 4095 8191",
        1,
        13,
        &["unexpected argument `8191`", "usage: lock START END"],
    );
    check("commit now", 1, 8, &["unexpected argument `now`"]);
}

#[test]
fn error_duplicate_key_and_flag() {
    check(
        "buffered_write ino=0 pos=0 len=4K pos=4K",
        1,
        35,
        &["duplicate key `pos`", "column 22"],
    );
    check(
        "set_bits 0 1 DIRTY cached cached",
        1,
        27,
        &["duplicate flag `cached`"],
    );
    check(
        "geometry inodes=1 inodes=2",
        1,
        19,
        &["duplicate key `inodes`"],
    );
}

#[test]
fn error_missing_required() {
    check(
        "buffered_write ino=0 pos=0",
        1,
        27,
        &["missing required key `len`", "buffered_write"],
    );
    check("find_delalloc 0", 1, 16, &["missing required key `max`"]);
    check(
        "convert_bits 0 1 clear=DIRTY",
        1,
        29,
        &["missing required key `set`"],
    );
    check(
        "lock 0   # comment",
        1,
        7,
        &["missing end", "lock START END"],
    );
    check("set_bits", 1, 9, &["missing start"]);
    check("fail_next_reservation", 1, 22, &["missing kind"]);
}

#[test]
fn error_bad_number() {
    check("lock 0 4O95", 1, 8, &["bad number `4O95`"]);
    check(
        "truncate ino=0 size=1.5M",
        1,
        21,
        &["size", "bad number `1.5M`"],
    );
    check("truncate ino=0 size=", 1, 21, &["bad number ``"]);
    check("truncate ino=0 size=0x", 1, 21, &["bad number `0x`"]);
    check("truncate ino=0 size=-1", 1, 21, &["bad number `-1`"]);
    check("set_bits 0 1 DIRTY|0xZZ", 1, 20, &["bad number `0xZZ`"]);
    check("set_bits 0 1 DIRTY||NEW", 1, 20, &["empty bit name"]);
    check(
        "fail_next_reservation meta",
        1,
        23,
        &["unknown reservation kind `meta`", "data, metadata"],
    );
}

#[test]
fn error_overflow() {
    check(
        "lock 0 99999999999999999999",
        1,
        8,
        &["`99999999999999999999` overflows"],
    );
    check(
        "truncate ino=0 size=16777216T",
        1,
        21,
        &["`16777216T` overflows"],
    );
    check(
        "truncate ino=0 size=0x1ffffffffffffffff",
        1,
        21,
        &["overflows"],
    );
    check("evict ino=256", 1, 11, &["ino", "`256` overflows"]);
    check(
        "geometry inodes=1000",
        1,
        17,
        &["inodes", "`1000` overflows"],
    );
    check(
        "set_bits 0 1 0x100000000",
        1,
        14,
        &["`0x100000000` overflows 32 bits"],
    );
}

#[test]
fn error_unknown_bit() {
    check(
        "test_range_bit 0 4095 UPTODATE|DELALOC filled",
        1,
        32,
        &["unknown bit name `DELALOC`", "DELALLOC"],
    );
    check(
        "convert_bits 0 1 set=dirty",
        1,
        22,
        &["unknown bit name `dirty`"],
    );
}

#[test]
fn error_geometry_placement() {
    check(
        "commit\ngeometry inodes=1\n",
        2,
        1,
        &["geometry after ops", "line 1"],
    );
    check(
        "geometry inodes=1\n# c\n geometry inodes=2\n",
        3,
        2,
        &["duplicate geometry", "line 1"],
    );
}

#[test]
fn error_validation() {
    check(
        "geometry sectorsize=3K\n",
        1,
        10,
        &["invalid geometry", "sectorsize 3072"],
    );
    check(
        "geometry meta=1M global_rsv=2M\n",
        1,
        18,
        &["invalid geometry", "global_rsv"],
    );
    check("geometry inodes=0\n", 1, 10, &["inodes 0"]);
    check(
        "geometry inodes=1\nevict ino=1\n",
        2,
        7,
        &["invalid evict", "ino 1"],
    );
    check(
        "commit\nlock 8191 4095\n",
        2,
        6,
        &["invalid lock", "start 8191 is after end 4095"],
    );
    check(
        "buffered_write ino=0 pos=0 len=4K copied=8K",
        1,
        35,
        &["copied 8192 is more than len 4096"],
    );
    check(
        "direct_write ino=0 pos=512 len=4K",
        1,
        20,
        &["pos 512 is not a multiple"],
    );
    check(
        "set_bits 0 1 DIRTY exclusive=LOCKED",
        1,
        20,
        &["exclusive LOCKED is not part of bits DIRTY"],
    );
    check("clear_bits 0 1 0", 1, 16, &["bits must not be empty"]);
    check("set_bits 0 1 DO_ACCOUNTING", 1, 14, &["not storable"]);
    check(
        "convert_bits 0 1 set=LOCKED",
        1,
        1,
        &["never converts LOCKED"],
    );
    check(
        "lock 0 1125899906842624",
        1,
        8,
        &["end 1125899906842624 is not below 2^50"],
    );
    check("writeback ino=0 start=1024T len=1", 1, 17, &["range"]);
    check(
        "find_delalloc 0 max=0",
        1,
        17,
        &["max_bytes must be positive"],
    );
}

#[test]
fn parse_op_errors() {
    let g = Geometry::default();
    let e = parse_op("", &g).unwrap_err();
    assert_eq!((e.line, e.column), (1, 1));
    assert!(e.message.contains("empty"));
    let e = parse_op("geometry inodes=1", &g).unwrap_err();
    assert!(e.message.contains("`geometry` is not an op"), "{e}");
    let e = parse_op("commit\nunmount", &g).unwrap_err();
    assert_eq!((e.line, e.column), (1, 7), "{e}");
    assert_eq!(parse_op("commit\n", &g), Ok(Op::Commit));
    assert_eq!(parse_op("commit\r\n", &g), Ok(Op::Commit));
    let e = parse_op("evict ino=2", &g).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 1, column 7: invalid evict: ino 2 is not below the geometry's 2 inodes"
    );
    let bad = Geometry { sectorsize: 0, ..g };
    let e = parse_op("direct_write ino=0 pos=0 len=4K", &bad).unwrap_err();
    assert!(e.message.contains("invalid geometry"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Concurrent programs (setup, tasks, schedule)
// ---------------------------------------------------------------------------------------------

use delalloc_contract::concurrent_text::{
    is_concurrent_text, parse_concurrent_program, print_concurrent_program,
};
use delalloc_contract::ConcurrentProgram;

fn concurrent_program() -> impl Strategy<Value = ConcurrentProgram> {
    geometry().prop_flat_map(|g| {
        (
            proptest::collection::vec(op(g), 0..6),
            proptest::collection::vec(proptest::collection::vec(op(g), 0..7), 1..=4),
            proptest::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(move |(setup, tasks, schedule)| ConcurrentProgram {
                geometry: g,
                setup,
                tasks,
                schedule,
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_print_parse_roundtrip(p in concurrent_program()) {
        prop_assert_eq!(p.validate(), Ok(()), "strategy made an invalid program");
        let text = print_concurrent_program(&p);
        prop_assert!(is_concurrent_text(&text));
        prop_assert_eq!(parse_concurrent_program(&text), Ok(p.clone()), "text:\n{}", text);
    }

    #[test]
    fn sequential_programs_read_as_one_task(p in program()) {
        let text = print_program(&p);
        prop_assert!(!is_concurrent_text(&text));
        let c = parse_concurrent_program(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(c.as_sequential(), Some(p.clone()));
        prop_assert_eq!(c, ConcurrentProgram::from_sequential(&p));
    }

    #[test]
    fn edited_concurrent_programs_never_panic(
        p in concurrent_program(),
        edits in edits(),
    ) {
        let s = edited(print_concurrent_program(&p), edits);
        match parse_concurrent_program(&s) {
            Ok(q) => prop_assert_eq!(q.validate(), Ok(())),
            Err(e) => prop_assert!(e.line >= 1 && e.column >= 1 && !e.message.is_empty()),
        }
    }
}

fn concurrent_err(text: &str, line: usize, column: usize, needle: &str) {
    match parse_concurrent_program(text) {
        Ok(p) => panic!("{text:?} parsed: {p:?}"),
        Err(e) => {
            assert_eq!((e.line, e.column), (line, column), "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }
}

#[test]
fn concurrent_example_and_errors() {
    let text = "geometry inodes=1\nsetup\n  buffered_write ino=0 pos=0 len=16K\ntask 0\n  direct_write ino=0 pos=0 len=8K fallback\ntask 1\n  buffered_write ino=0 pos=4K len=4K\nschedule 01ff3a\n";
    let p = parse_concurrent_program(text).unwrap();
    assert_eq!(p.setup.len(), 1);
    assert_eq!(p.tasks.len(), 2);
    assert_eq!(p.schedule, vec![0x01, 0xff, 0x3a]);
    assert_eq!(
        parse_concurrent_program(&print_concurrent_program(&p)),
        Ok(p)
    );

    concurrent_err("task 0\ncommit\ntask 2\n", 3, 6, "expected task 1");
    concurrent_err("task\n", 1, 5, "missing task number");
    concurrent_err("task x\n", 1, 6, "bad task number `x`");
    concurrent_err(
        "task 0\ntask 1\ntask 2\ntask 3\ntask 4\n",
        5,
        1,
        "at most 4",
    );
    concurrent_err("commit\ntask 0\n", 1, 1, "op outside a section");
    concurrent_err("task 0\nsetup\n", 2, 1, "before the first task");
    concurrent_err("task 0\nschedule 0g\n", 2, 11, "bad schedule digit `g`");
    concurrent_err("task 0\nschedule 012\n", 2, 12, "odd number of hex digits");
    concurrent_err("task 0\nschedule\nschedule\n", 3, 1, "duplicate schedule");
    concurrent_err("schedule 00\n", 1, 1, "no `task` section");
    concurrent_err("task 0\n  evict ino=9\n", 2, 9, "ino 9");
    concurrent_err(
        "task 0\ngeometry inodes=1\n",
        2,
        1,
        "geometry line must come first",
    );
}

/// The era: written only when it is not era B, parsed by name, and validated against the ops.
#[test]
fn era_is_printed_only_when_not_the_default() {
    let b = parse_program("geometry inodes=1\nset_bits 0 4095 WRITEBACK\n").unwrap();
    assert_eq!(b.geometry.era, Era::B);
    assert!(!print_program(&b).contains("era="));
    let explicit_b = parse_program("geometry era=b\n").unwrap();
    assert_eq!(explicit_b.geometry, Geometry::default());

    let v6 = parse_program("geometry era=6\nset_bits 0 4095 DELALLOC|LOCKED exclusive=LOCKED\n")
        .unwrap();
    assert_eq!(v6.geometry.era, Era::V6);
    let text = print_program(&v6);
    assert!(text.contains(" era=6\n"), "{text}");
    assert_eq!(parse_program(&text), Ok(v6));

    let unknown = parse_program("geometry era=5\n").unwrap_err();
    assert!(unknown.to_string().contains("unknown era `5`"), "{unknown}");
    let twice = parse_program("geometry era=6 era=b\n").unwrap_err();
    assert!(twice.to_string().contains("duplicate"), "{twice}");
}

/// Era 6 has no WRITEBACK, and its set_bits' exclusive bits are the LOCKED of its bits.
#[test]
fn era_6_rejects_what_6_x_cannot_say() {
    let writeback = parse_program("geometry era=6\nset_bits 0 4095 WRITEBACK\n").unwrap_err();
    assert!(writeback.to_string().contains("era 6"), "{writeback}");
    let in_clear = parse_program("geometry era=6\nclear_bits 0 4095 DELALLOC|WRITEBACK\n");
    assert!(in_clear.is_err());
    let not_exclusive = parse_program("geometry era=6\nset_bits 0 4095 LOCKED\n").unwrap_err();
    assert!(
        not_exclusive.to_string().contains("era 6"),
        "{not_exclusive}"
    );
    let other_exclusive =
        parse_program("geometry era=6\nset_bits 0 4095 DIRTY|LOCKED exclusive=DIRTY|LOCKED\n");
    assert!(other_exclusive.is_err());
}

// ---------------------------------------------------------------------------------------------
// The `run` line
// ---------------------------------------------------------------------------------------------

use delalloc_contract::concurrent_text::{parse_concurrent_file, print_concurrent_file};
use delalloc_contract::run_line::{RightModel, RunLine};
use delalloc_contract::text::{parse_program_file, print_program_file};

fn run_line() -> impl Strategy<Value = RunLine> {
    let names = [
        "merge-hook-era-a",
        "split-hook-era-a",
        "nocow-writeback-end-rounds-down",
    ];
    prop_oneof![
        Just(RunLine::default()),
        proptest::sample::subsequence(names.to_vec(), 1..=3).prop_map(|bugs| RunLine {
            bugs: bugs.into_iter().map(String::from).collect(),
            ..RunLine::default()
        }),
        (
            proptest::option::of("[0-9]\\.[0-9]{1,2}\\.[0-9]{1,3}"),
            proptest::option::of("[a-z-]{1,12}\\.patch"),
        )
            .prop_map(|(kernel, mutant)| RunLine {
                against: RightModel::Kernel,
                mutant: mutant.filter(|_| kernel.is_some()),
                kernel,
                bugs: Vec::new(),
            }),
    ]
}

fn any_bug(_: &str) -> Result<(), String> {
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn program_files_roundtrip_with_their_run_line(p in program(), run in run_line()) {
        prop_assert_eq!(run.validate(), Ok(()));
        let text = print_program_file(&p, &run);
        prop_assert_eq!(
            parse_program_file(&text, &any_bug),
            Ok((p.clone(), Some(run.clone()))),
            "text:\n{}",
            text
        );
        // The plain parser reads the same program and leaves the line out.
        prop_assert_eq!(parse_program(&text), Ok(p.clone()));
        prop_assert_eq!(parse_program_file(&print_program(&p), &any_bug), Ok((p, None)));
    }

    #[test]
    fn concurrent_files_roundtrip_with_their_run_line(
        p in concurrent_program(),
        run in run_line().prop_filter("optimized only", |r| r.against == RightModel::Optimized),
    ) {
        let text = print_concurrent_file(&p, &run);
        prop_assert_eq!(
            parse_concurrent_file(&text, &any_bug),
            Ok((p.clone(), Some(run))),
            "text:\n{}",
            text
        );
        prop_assert_eq!(parse_concurrent_program(&text), Ok(p));
    }
}

#[test]
fn run_lines_are_placed_checked_and_explained() {
    let run = "run against=optimized bugs=merge-hook-era-a";
    // Before or after the geometry, comments allowed; the program is the same.
    for text in [
        format!("{run}\ngeometry inodes=1\ncommit\n"),
        format!("geometry inodes=1\n  {run}   # found with the bug\ncommit\n"),
    ] {
        let (p, r) = parse_program_file(&text, &any_bug).unwrap();
        assert_eq!(p, parse_program("geometry inodes=1\ncommit\n").unwrap());
        assert_eq!(r.unwrap().bugs, ["merge-hook-era-a"]);
    }
    check(
        "commit\nrun\n",
        2,
        1,
        &["run line after line 1", "before the first op"],
    );
    check(
        "run\nrun bugs=x\n",
        2,
        1,
        &["duplicate run line (the first is on line 1)"],
    );
    check(
        "run agains=kernel\n",
        1,
        5,
        &["unknown run setting `agains`"],
    );
    check("rnu\n", 1, 1, &["did you mean `run`?"]);
    // The caller's check of bug names is reported at the name.
    let known = |n: &str| {
        if n == "merge-hook-era-a" {
            Ok(())
        } else {
            Err(format!("unknown injected bug `{n}`"))
        }
    };
    let e = parse_program_file("\nrun bugs=merge-hook-era-a,typo\n", &known).unwrap_err();
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (2, 27, "unknown injected bug `typo`")
    );

    // Concurrent files: before the sections, and never against the kernel.
    let (p, r) = parse_concurrent_file(
        "run bugs=unlock-before-set-delalloc\ngeometry inodes=1\ntask 0\n  commit\n",
        &any_bug,
    )
    .unwrap();
    assert_eq!(p.tasks.len(), 1);
    assert_eq!(r.unwrap().bugs, ["unlock-before-set-delalloc"]);
    concurrent_err(
        "task 0\nrun\n",
        2,
        1,
        "it must come before setup, the tasks and the schedule",
    );
    concurrent_err(
        "run against=kernel\ntask 0\n",
        1,
        5,
        "a concurrent program runs against the optimized model",
    );
    let e = parse_concurrent_file("run bugs=typo\ntask 0\n", &known).unwrap_err();
    assert_eq!((e.line, e.column), (1, 10), "{e}");
}
