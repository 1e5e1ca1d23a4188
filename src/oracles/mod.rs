//! Oracles take a program and decide whether the models under test have a bug: they run it on
//! the reference model and on the model under test and say, field by field, where the two part.
//!
//! - [`differential`]: a sequential program, both models op by op, outcome and observable
//!   snapshot compared after every op, then the unmount's leak checks;
//! - [`linearizable`]: a concurrent program (tasks and a schedule), accepted when some
//!   sequential order of its ops explains every outcome and the quiescent state;
//! - [`invariants`]: SPEC §8 on one model's snapshot, used by both.

pub mod differential;
pub mod invariants;
pub mod linearizable;
