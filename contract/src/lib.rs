//! The contract both models share: the operation language ([`Op`]), what an operation answers
//! ([`Outcome`]), the observable state compared after every operation ([`Snapshot`]), the model
//! trait ([`Model`]) and the text format of programs ([`text`]).
//!
//! Nothing here decides accounting: the rules live in SPEC.md and in the two models.

#![deny(missing_docs)]

pub mod bits;
pub mod concurrent;
pub mod concurrent_text;
pub mod geometry;
pub mod model;
pub mod op;
pub mod outcome;
pub mod run_line;
pub mod snapshot;
pub mod text;

pub use bits::Bits;
pub use concurrent::ConcurrentProgram;
pub use geometry::{Accounting, Era, Geometry};
pub use model::{Complaint, Model, PartStamps, Rewritten};
pub use op::{FaultKind, Ino, Op, OpKind, Program};
pub use outcome::Outcome;
pub use snapshot::{
    BlockRsv, FieldDiff, InodeSnapshot, OrderedExtent, OrderedKind, Record, Snapshot, SpaceInfo,
    TreeSnapshot, Warnings,
};
