//! The typed field visitor: an op's fields by name, each tagged with its [`Role`], read
//! ([`Op::fields`]) or written ([`Op::fields_mut`]) without a match over the ops. The text
//! format, the literal fuzz codec's helpers, mutation and shrinking work field by field through
//! it, so that a new op is taught to them by its table entry alone.

use super::table::for_each_op;
use super::{FaultKind, Op, OpKind};
use crate::Bits;

/// What a field means, which fixes its Rust type (see [`Field`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// `u64`: a byte offset into a file or the stand-alone tree (a range's start, a write's
    /// position, a truncate's size).
    Offset,
    /// `u64`: the inclusive last byte of a tree range.
    End,
    /// `u64`: a length in bytes (of a file range, of a copy).
    Len,
    /// `u64`: any other number (a byte limit, an amount of free space).
    Num,
    /// [`Ino`](super::Ino): the inode the op addresses.
    Ino,
    /// `u8`: a small index or count.
    Count,
    /// [`Bits`]: a set of extent state bits.
    Bits,
    /// `bool`: a switch of the op.
    Flag,
    /// [`FaultKind`]: which reservation.
    Fault,
}

/// The Rust type of a role (used by the generated enum).
macro_rules! role_type {
    (Offset) => {
        u64
    };
    (End) => {
        u64
    };
    (Len) => {
        u64
    };
    (Num) => {
        u64
    };
    (Ino) => {
        $crate::op::Ino
    };
    (Count) => {
        u8
    };
    (Bits) => {
        $crate::Bits
    };
    (Flag) => {
        bool
    };
    (Fault) => {
        $crate::op::FaultKind
    };
}
pub(crate) use role_type;

/// The doc line every field of a role gets (the table may add its own).
macro_rules! role_doc {
    (Offset) => {
        "Byte offset into the file or the stand-alone tree."
    };
    (End) => {
        "Inclusive last byte of the tree range."
    };
    (Len) => {
        "Length in bytes."
    };
    (Num) => {
        "A number of bytes."
    };
    (Ino) => {
        "The inode addressed: below the geometry's `inodes`."
    };
    (Count) => {
        "A small index or count."
    };
    (Bits) => {
        "A set of extent state bits."
    };
    (Flag) => {
        "A switch of the op; see the op's description."
    };
    (Fault) => {
        "Which reservation."
    };
}
pub(crate) use role_doc;

/// The value of one field, by role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// See [`Role::Offset`].
    Offset(u64),
    /// See [`Role::End`].
    End(u64),
    /// See [`Role::Len`].
    Len(u64),
    /// See [`Role::Num`].
    Num(u64),
    /// See [`Role::Ino`].
    Ino(u8),
    /// See [`Role::Count`].
    Count(u8),
    /// See [`Role::Bits`].
    Bits(Bits),
    /// See [`Role::Flag`].
    Flag(bool),
    /// See [`Role::Fault`].
    Fault(FaultKind),
}

impl Field {
    /// The field's role.
    pub fn role(self) -> Role {
        match self {
            Field::Offset(_) => Role::Offset,
            Field::End(_) => Role::End,
            Field::Len(_) => Role::Len,
            Field::Num(_) => Role::Num,
            Field::Ino(_) => Role::Ino,
            Field::Count(_) => Role::Count,
            Field::Bits(_) => Role::Bits,
            Field::Flag(_) => Role::Flag,
            Field::Fault(_) => Role::Fault,
        }
    }

    /// The value as a number, for the roles that hold one (bits as their u32 value).
    pub fn number(self) -> Option<u64> {
        match self {
            Field::Offset(v) | Field::End(v) | Field::Len(v) | Field::Num(v) => Some(v),
            Field::Ino(v) | Field::Count(v) => Some(u64::from(v)),
            Field::Bits(b) => Some(u64::from(b.0)),
            Field::Flag(_) | Field::Fault(_) => None,
        }
    }
}

/// A field to write, by role: what [`Op::fields_mut`] lends.
#[derive(Debug)]
pub enum FieldMut<'a> {
    /// See [`Role::Offset`].
    Offset(&'a mut u64),
    /// See [`Role::End`].
    End(&'a mut u64),
    /// See [`Role::Len`].
    Len(&'a mut u64),
    /// See [`Role::Num`].
    Num(&'a mut u64),
    /// See [`Role::Ino`].
    Ino(&'a mut u8),
    /// See [`Role::Count`].
    Count(&'a mut u8),
    /// See [`Role::Bits`].
    Bits(&'a mut Bits),
    /// See [`Role::Flag`].
    Flag(&'a mut bool),
    /// See [`Role::Fault`].
    Fault(&'a mut FaultKind),
}

impl FieldMut<'_> {
    /// Overwrites the field with `value`; false (and nothing written) if `value` has another
    /// role's type.
    pub fn set(&mut self, value: Field) -> bool {
        match (self, value) {
            (FieldMut::Offset(f), Field::Offset(v))
            | (FieldMut::End(f), Field::End(v))
            | (FieldMut::Len(f), Field::Len(v))
            | (FieldMut::Num(f), Field::Num(v)) => **f = v,
            (FieldMut::Ino(f), Field::Ino(v)) | (FieldMut::Count(f), Field::Count(v)) => **f = v,
            (FieldMut::Bits(f), Field::Bits(v)) => **f = v,
            (FieldMut::Flag(f), Field::Flag(v)) => **f = v,
            (FieldMut::Fault(f), Field::Fault(v)) => **f = v,
            _ => return false,
        }
        true
    }

    /// The current value.
    pub fn get(&self) -> Field {
        match self {
            FieldMut::Offset(f) => Field::Offset(**f),
            FieldMut::End(f) => Field::End(**f),
            FieldMut::Len(f) => Field::Len(**f),
            FieldMut::Num(f) => Field::Num(**f),
            FieldMut::Ino(f) => Field::Ino(**f),
            FieldMut::Count(f) => Field::Count(**f),
            FieldMut::Bits(f) => Field::Bits(**f),
            FieldMut::Flag(f) => Field::Flag(**f),
            FieldMut::Fault(f) => Field::Fault(**f),
        }
    }
}

/// How the text format writes a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// A bare value, in the order of the op's positional fields.
    Positional,
    /// `key=value`; an optional key has a default (see [`Op::default_of`]) and is printed only
    /// when the value differs from it.
    Key {
        /// The word before `=` (the field's name but for `max`, which is `max_bytes`).
        key: &'static str,
        /// Whether the text must give it.
        required: bool,
    },
    /// A bare word, the field's name, present iff the flag is true.
    Flag,
}

/// One field of an op as the table declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    /// The Rust (and serde) field name.
    pub name: &'static str,
    /// What it means.
    pub role: Role,
    /// How the text format writes it.
    pub syntax: Syntax,
}

/// A field's [`Syntax`] from its table form. A flag is a bare word and a bare word is a flag.
macro_rules! field_syntax {
    (Flag; flag) => {
        Syntax::Flag
    };
    (Flag; $($syntax:tt)*) => {
        compile_error!("a Flag field is written as a bare word: [flag]")
    };
    ($role:ident; flag) => {
        compile_error!("only a Flag field is written as a bare word")
    };
    ($role:ident; pos) => {
        Syntax::Positional
    };
    ($role:ident; key $key:ident) => {
        Syntax::Key {
            key: stringify!($key),
            required: true,
        }
    };
    ($role:ident; key $key:ident = $default:expr) => {
        Syntax::Key {
            key: stringify!($key),
            required: false,
        }
    };
}

/// The value an omitted field takes, or `$missing` (an expression that diverges) when the
/// field may not be omitted.
macro_rules! field_omitted {
    ($missing:expr; pos) => {
        $missing
    };
    ($missing:expr; key $key:ident) => {
        $missing
    };
    ($missing:expr; key $key:ident = $default:expr) => {
        $default
    };
    ($missing:expr; flag) => {
        false
    };
}

/// The default of a field as an `Option<Field>`: `None` for a field the text must give.
macro_rules! field_default {
    ($role:ident; pos) => {
        None
    };
    ($role:ident; key $key:ident) => {
        None
    };
    ($role:ident; key $key:ident = $default:expr) => {
        Some(Field::$role($default))
    };
    ($role:ident; flag) => {
        Some(Field::Flag(false))
    };
}

/// Generates the field visitor from the table.
macro_rules! define_op_fields {
    ($(
        $(#[$attr:meta])*
        $variant:ident $text:literal $level:ident tag = $tag:literal
        $({ $(
            $(#[$field_attr:meta])*
            $field:ident : $role:ident [ $($syntax:tt)* ]
        ),* $(,)? })?
    ),* $(,)?) => {
        impl OpKind {
            /// The op's fields as the table declares them, in declaration order.
            pub fn field_specs(self) -> &'static [FieldSpec] {
                match self {
                    $(OpKind::$variant => &[$($(FieldSpec {
                        name: stringify!($field),
                        role: Role::$role,
                        syntax: field_syntax!($role; $($syntax)*),
                    }),*)?],)*
                }
            }
        }

        impl Op {
            /// The op's fields with their names, in declaration order.
            pub fn fields(&self) -> Vec<(&'static str, Field)> {
                match *self {
                    $(Op::$variant { $($($field),*)? } => {
                        vec![$($((stringify!($field), Field::$role($field))),*)?]
                    })*
                }
            }

            /// The op's fields, writable, with their names, in declaration order.
            pub fn fields_mut(&mut self) -> Vec<(&'static str, FieldMut<'_>)> {
                match self {
                    $(Op::$variant { $($($field),*)? } => {
                        vec![$($((stringify!($field), FieldMut::$role($field))),*)?]
                    })*
                }
            }

            /// The value the field `name` takes when the text leaves it out, given the op's
            /// other fields (`copied` defaults to `len`); `None` for a field the text must give
            /// or a name the op does not have.
            #[expect(unused_variables, reason = "a default may read any of the fields, most read none")]
            pub fn default_of(&self, name: &str) -> Option<Field> {
                match *self {
                    $(Op::$variant { $($($field),*)? } => {
                        $($(if name == stringify!($field) {
                            return field_default!($role; $($syntax)*);
                        })*)?
                        None
                    })*
                }
            }

            /// The op of `kind` whose fields `get` gives, by name, in declaration order; an
            /// omitted field (`None`) takes its default. The error names a field that is
            /// missing without a default or has the wrong role.
            pub fn from_fields(
                kind: OpKind,
                mut get: impl FnMut(&'static str) -> Option<Field>,
            ) -> Result<Op, &'static str> {
                match kind {
                    $(OpKind::$variant => {
                        $($(
                            let name = stringify!($field);
                            let $field: role_type!($role) = match get(name) {
                                Some(Field::$role(v)) => v,
                                Some(_) => return Err(name),
                                None => field_omitted!(return Err(name); $($syntax)*),
                            };
                        )*)?
                        Ok(Op::$variant { $($($field),*)? })
                    })*
                }
            }
        }
    };
}

for_each_op!(define_op_fields);
