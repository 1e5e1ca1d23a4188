//! The kernel's own io tree, compiled from a Linux source tree (see README.md and build.rs),
//! behind a safe API whose bits are the contract's [`Bits`]; on an inode's tree
//! ([`KernelTree::with_hooks`]) with the kernel's own delalloc hooks and their counters
//! ([`HookCounters`]).
//!
//! Bits are mapped by name: the contract's DELALLOC is the kernel tree's `EXTENT_DELALLOC`,
//! whatever its value (0x10 in 6.1, 0x20 in 6.12). A contract bit the tree does not have
//! (WRITEBACK, gone from the 6.x io tree) makes the op [`Unsupported`]: the kernel model will
//! report such an op as unsupported rather than drop the bit, because a program using it tests a
//! rule the kernel no longer has. Kernel bits the contract lacks (6.12's DIO_LOCKED, ...) are
//! never set through this API; if one shows up in a record it is kept in [`KernelRecord::extra`].

//!
//! At file-system level, [`KernelFs`] ([`fs`]) is the kernel's delalloc accounting itself:
//! delalloc-space.c compiled as it is, block-rsv.c's reservation functions and the space-info.h
//! helpers extracted by name, on a glue fs_info with data and metadata space infos, the
//! global, delayed and delayed-refs reservations and up to eight inodes (each with its block
//! reservation and its io tree, hooks attached).
//!
//! The kernel model of the differential ([`model::KernelModel`], a `Model`) runs the
//! extent-tree ops on a [`KernelTree`] with hooks. [`built`] says which tree the crate was
//! compiled from, or that it was compiled without one (`cfg(kernel_absent)`: then only
//! [`built`], [`model`] and their types exist, so that the rest of the workspace builds and can
//! say how to get the kernel model).

#![forbid(unsafe_op_in_unsafe_fn)]

mod built;
#[cfg(not(kernel_absent))]
mod era_c;
#[cfg(not(kernel_absent))]
mod ffi;
#[cfg(not(kernel_absent))]
pub mod fs;
#[cfg(not(kernel_absent))]
pub mod model;
#[cfg(not(kernel_absent))]
mod tree;

pub use built::{built, model, Build, NotBuilt};
#[cfg(not(kernel_absent))]
pub use fs::{FsConfig, FsError, KernelFs};
#[cfg(not(kernel_absent))]
pub use tree::*;
