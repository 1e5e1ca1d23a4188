//! Engines drive the oracles for a while: the built-in campaign over seeded programs on a few
//! threads ([`builtin`], [`concurrent`]) and real threads on the std build ([`stress`]).
//! libFuzzer, AFL and bolero drive the same oracles through [`crate::targets`].

pub mod builtin;
pub mod concurrent;
pub mod stress;
