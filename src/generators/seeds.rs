//! Seeds derived from a campaign's seed: program `i` of campaign `S` is generated from
//! [`derived_seed`]`(S, i)`, not from `S + i`, so that campaigns with nearby seeds run unrelated
//! programs (with `S + i`, `--seed 1` and `--seed 2` ran the same programs one place apart).
//!
//! The mix is SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
//! generators", OOPSLA 2014; the constants of Vigna's `splitmix64.c`): [`derived_seed`]`(S, i)` is
//! output number `i + 1` of the SplitMix64 generator whose state starts at [`mix64`]`(S)`, i.e.
//! `mix64(mix64(S) + (i + 1) * 0x9e3779b97f4a7c15)` in wrapping arithmetic. Within one campaign
//! the seeds are all different (`mix64` is a bijection and an odd step never repeats a state
//! within 2^64 steps); two campaigns share a seed only if their starting states happen to lie
//! fewer than their program counts apart along the step, about one chance in 2^64 / (n + m) for
//! campaigns of n and m programs, whatever the two campaign seeds are.

/// SplitMix64's step, the golden ratio's fraction (odd, so every state is visited once).
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 finalizer (a bijection of `u64`; David Stafford's "Mix13" variant of
/// MurmurHash3's fmix64).
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of item `index` of the stream of seed `base` (a campaign's program `index`, a stress
/// run's iteration `index`): SplitMix64's output `index + 1` from the state `mix64(base)`.
pub fn derived_seed(base: u64, index: u64) -> u64 {
    mix64(mix64(base).wrapping_add(index.wrapping_add(1).wrapping_mul(GAMMA)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix64_is_splitmix64s_finalizer() {
        // splitmix64.c from state 0: the first outputs are mix64(GAMMA), mix64(2 * GAMMA).
        assert_eq!(mix64(GAMMA), 0xe220_a839_7b1d_cdaf);
        assert_eq!(mix64(GAMMA.wrapping_mul(2)), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(mix64(0), 0);
    }

    #[test]
    fn derived_seeds_follow_splitmix64_and_adjacent_bases_share_none() {
        // Item i of base b is SplitMix64's output i + 1 from state mix64(b).
        let mut state = mix64(7);
        for i in 0..4 {
            state = state.wrapping_add(GAMMA);
            assert_eq!(derived_seed(7, i), mix64(state));
        }
        let a: std::collections::HashSet<u64> = (0..10_000).map(|i| derived_seed(1, i)).collect();
        assert_eq!(a.len(), 10_000, "no repeat within a stream");
        assert!((0..10_000).all(|i| !a.contains(&derived_seed(2, i))));
        assert!((0..10_000).all(|i| !a.contains(&derived_seed(0, i))));
    }
}
