//! The operation language. Two levels:
//! - extent-tree ops address the program's stand-alone extent io tree (the kernel self-tests'
//!   dummy inode): bits, locks, queries, with the outstanding-extent hooks live but no space
//!   accounting;
//! - file-system ops address inode `ino` of the mounted file system and run the seeds' paths.
//!
//! Ranges of tree ops are inclusive `[start, end]` as in the kernel; file ranges are `pos + len`
//! as in the syscalls. Every op a generator makes satisfies [`Op::validate`]; the text parser
//! rejects ops that do not, naming the problem.
//!
//! Every op is declared once, in the table of `table.rs`: its doc, name, level, fuzz tag and
//! typed fields with their text syntax. From it come [`Op`], [`OpKind`] with [`OpKind::ALL`],
//! the names, levels and tags, [`Op::kind`], [`Op::ino`], the field visitor ([`Op::fields`],
//! [`Op::fields_mut`]) and the text syntax ([`OpKind::field_specs`]). Every `match` generated
//! from it is exhaustive, and so is every hand-written match over ops, so a new op needs its
//! table entry and then whatever the compiler points at (listed in `table.rs`).

mod fields;
mod table;
mod validate;

pub use fields::{Field, FieldMut, FieldSpec, Role, Syntax};

use crate::Geometry;
use fields::{role_doc, role_type};
use serde::{Deserialize, Serialize};
use table::for_each_op;

/// Inode number: an index below `Geometry::inodes`.
pub type Ino = u8;

/// No offset or end may reach this (2^50 bytes, 1 PiB): keeps every sum far from u64 overflow.
pub const MAX_OFFSET: u64 = 1 << 50;

/// Which reservation an injected fault fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FaultKind {
    /// The data space reservation (btrfs_check_data_free_space).
    Data,
    /// The metadata reservation (btrfs_delalloc_reserve_metadata).
    Metadata,
}

/// Which part of the system an op addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpLevel {
    /// The program's stand-alone extent io tree.
    Tree,
    /// An inode, or all, of the mounted file system.
    Fs,
}

/// The [`OpLevel`] a table level word names.
macro_rules! op_level {
    (tree) => {
        OpLevel::Tree
    };
    (fs) => {
        OpLevel::Fs
    };
}

/// `Some(field)` for a field of role `Ino`, else `None` (for [`Op::ino`]).
macro_rules! if_ino {
    (Ino, $field:ident) => {
        Some($field)
    };
    ($role:ident, $field:ident) => {{
        let _ = $field;
        None
    }};
}

/// Generates the op enums and what is said about each op from the table.
macro_rules! define_ops {
    ($(
        $(#[$attr:meta])*
        $variant:ident $text:literal $level:ident tag = $tag:literal
        $({ $(
            $(#[$field_attr:meta])*
            $field:ident : $role:ident [ $($syntax:tt)* ]
        ),* $(,)? })?
    ),* $(,)?) => {
        /// One operation of a program (see the [module docs](self)).
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(tag = "op", rename_all = "snake_case")]
        pub enum Op {
            $(
                $(#[$attr])*
                $variant $({ $(
                    #[doc = role_doc!($role)]
                    $(#[$field_attr])*
                    $field: role_type!($role)
                ),* })?,
            )*
        }

        /// The kind of an op, for coverage statistics and swarm testing.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum OpKind {
            $(
                #[doc = concat!("[`Op::", stringify!($variant), "`]: `", $text, "`.")]
                $variant,
            )*
        }

        impl OpKind {
            /// Every kind, in table order (which is also the order of the enum's discriminants).
            pub const ALL: [OpKind; [$(OpKind::$variant),*].len()] = [$(OpKind::$variant),*];

            /// The op's name in the text format (and in JSON reports).
            pub const fn name(self) -> &'static str {
                match self {
                    $(OpKind::$variant => $text,)*
                }
            }

            /// The kind named `name` in the text format.
            pub fn from_name(name: &str) -> Option<OpKind> {
                match name {
                    $($text => Some(OpKind::$variant),)*
                    _ => None,
                }
            }

            /// Which part of the system the op addresses.
            pub const fn level(self) -> OpLevel {
                match self {
                    $(OpKind::$variant => op_level!($level),)*
                }
            }

            /// The op's kind byte in literal fuzz inputs: fixed in the table, never reused.
            pub const fn tag(self) -> u8 {
                match self {
                    $(OpKind::$variant => $tag,)*
                }
            }

            /// The kind whose [`tag`](OpKind::tag) is `tag`.
            pub const fn from_tag(tag: u8) -> Option<OpKind> {
                match tag {
                    $($tag => Some(OpKind::$variant),)*
                    _ => None,
                }
            }
        }

        impl Op {
            /// The op's kind.
            pub const fn kind(&self) -> OpKind {
                match self {
                    $(Op::$variant { .. } => OpKind::$variant,)*
                }
            }

            /// The inode a file-system op addresses (its field of role [`Role::Ino`]).
            pub fn ino(&self) -> Option<Ino> {
                match *self {
                    $(Op::$variant { $($($field),*)? } => {
                        None $($(.or(if_ino!($role, $field)))*)?
                    })*
                }
            }
        }
    };
}

for_each_op!(define_ops);

impl OpKind {
    /// True for ops on the stand-alone extent tree.
    pub fn is_tree_level(self) -> bool {
        self.level() == OpLevel::Tree
    }
}

/// Whether two strings are equal, in a `const` context.
const fn same_str(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

// The table's promises, checked when the crate compiles: `ALL` lists each kind once, in the
// order of the discriminants (coverage tables index by `kind as usize`); no two ops share a
// name or a fuzz tag; and a `u32` holds a bit per kind (the built-in engine's coverage mask).
const _: () = {
    let all = OpKind::ALL;
    assert!(all.len() <= 32, "a u32 mask of kinds must hold every kind");
    let mut i = 0;
    while i < all.len() {
        assert!(all[i] as usize == i, "ALL is not in declaration order");
        let mut j = i + 1;
        while j < all.len() {
            assert!(all[i].tag() != all[j].tag(), "two ops share a fuzz tag");
            assert!(
                !same_str(all[i].name(), all[j].name()),
                "two ops share a name"
            );
            j += 1;
        }
        i += 1;
    }
};

/// A whole test case: the geometry and the ops run in order on a freshly mounted file system.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Program {
    /// The file system's geometry.
    pub geometry: Geometry,
    /// The ops, run one after another.
    pub ops: Vec<Op>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Bits;

    /// An op of `kind` with every field at a small value of its role.
    fn sample(kind: OpKind) -> Op {
        let specs = kind.field_specs();
        Op::from_fields(kind, |name| {
            let spec = specs.iter().find(|s| s.name == name)?;
            Some(match spec.role {
                Role::Offset => Field::Offset(4096),
                Role::End => Field::End(8191),
                Role::Len => Field::Len(100),
                Role::Num => Field::Num(7),
                Role::Ino => Field::Ino(1),
                Role::Count => Field::Count(2),
                Role::Bits => Field::Bits(Bits::DELALLOC),
                Role::Flag => Field::Flag(true),
                Role::Fault => Field::Fault(FaultKind::Metadata),
            })
        })
        .unwrap()
    }

    #[test]
    fn tags_and_names_find_their_kind() {
        for k in OpKind::ALL {
            assert_eq!(OpKind::from_tag(k.tag()), Some(k));
            assert_eq!(OpKind::from_name(k.name()), Some(k));
        }
        assert_eq!(OpKind::from_name("geometry"), None);
        let tags: Vec<u8> = OpKind::ALL.iter().map(|k| k.tag()).collect();
        assert!((0..=u8::MAX).all(|t| OpKind::from_tag(t).is_some() == tags.contains(&t)));
    }

    #[test]
    fn the_visitor_sees_the_fields_the_table_declares() {
        for k in OpKind::ALL {
            let mut op = sample(k);
            assert_eq!(op.kind(), k);
            let names: Vec<&str> = k.field_specs().iter().map(|s| s.name).collect();
            let fields = op.fields();
            assert_eq!(fields.iter().map(|f| f.0).collect::<Vec<_>>(), names);
            for ((_, f), spec) in fields.iter().zip(k.field_specs()) {
                assert_eq!(f.role(), spec.role, "{k:?}");
            }
            // Written through fields_mut, read back through fields; rebuilt from its fields.
            for (_, mut f) in op.fields_mut() {
                if let Field::Flag(v) = f.get() {
                    assert!(f.set(Field::Flag(!v)));
                }
                assert!(!f.set(Field::Fault(FaultKind::Data)) || f.get().role() == Role::Fault);
            }
            assert!(op.fields().iter().all(|(_, f)| *f != Field::Flag(true)));
            let again = Op::from_fields(k, |name| {
                op.fields().into_iter().find(|f| f.0 == name).map(|f| f.1)
            });
            assert_eq!(again, Ok(op.clone()));
            let ino = op.fields().into_iter().find_map(|(_, f)| match f {
                Field::Ino(i) => Some(i),
                _ => None,
            });
            assert_eq!(op.ino(), ino);
        }
    }

    #[test]
    fn json_names_are_the_text_names() {
        for k in OpKind::ALL {
            let v = serde_json::to_value(sample(k)).unwrap();
            assert_eq!(v["op"], k.name());
        }
    }

    #[test]
    fn defaults_follow_the_table() {
        let write = |len, copied| Op::BufferedWrite {
            ino: 0,
            pos: 0,
            len,
            copied,
            nocow: false,
        };
        assert_eq!(write(10, 3).default_of("copied"), Some(Field::Len(10)));
        assert_eq!(write(10, 3).default_of("nocow"), Some(Field::Flag(false)));
        assert_eq!(write(10, 3).default_of("len"), None);
        assert_eq!(
            Op::from_fields(OpKind::BufferedWrite, |name| match name {
                "ino" => Some(Field::Ino(0)),
                "pos" => Some(Field::Offset(0)),
                "len" => Some(Field::Len(10)),
                _ => None,
            }),
            Ok(write(10, 10))
        );
        assert_eq!(Op::from_fields(OpKind::BufferedWrite, |_| None), Err("ino"));
        assert_eq!(
            Op::from_fields(OpKind::Evict, |_| Some(Field::Len(1))),
            Err("ino")
        );
    }
}
