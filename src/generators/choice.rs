//! Small choices every generator makes from the fuzzer's bytes.

use arbitrary::{Result, Unstructured};
use delalloc_contract::op::MAX_OFFSET;

/// True with probability `num / den`; false when the bytes have run out (unlike
/// `Unstructured::ratio`, which then says true), so that exhausted input picks the common case.
pub(super) fn chance(u: &mut Unstructured<'_>, num: u32, den: u32) -> Result<bool> {
    Ok(u.int_in_range(1..=den)? > den - num)
}

/// The longest file range from `pos` (`pos + len <= 2^50`, `len < 2^50`).
pub(super) fn max_len(pos: u64) -> u64 {
    (MAX_OFFSET - pos).min(MAX_OFFSET - 1)
}

/// One of `choices` (never empty).
pub(super) fn pick<T: Copy>(u: &mut Unstructured<'_>, choices: &[T]) -> Result<T> {
    Ok(*u.choose(choices)?)
}
