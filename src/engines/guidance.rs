//! Coverage guidance for the built-in campaign: a corpus of the programs that reached a feature
//! ([`crate::oracles::features`]) no earlier program of the campaign reached, and, per program,
//! the choice between a fresh one from the generator and a structure-aware mutation
//! ([`Oracle::mutate`], [`crate::input::mutate`]) of a corpus entry.
//!
//! Every choice comes from the program's generator seed `G = program_seed(S, i)`: whether to
//! mutate (one program in [`MUTATE_ONE_IN`], once the corpus has an entry), which entry, and the
//! mutation's seed. So a mutated program is determined by its lineage, the campaign indices of
//! the entries it descends from down to a generated one ([`Origin::Mutated`]), whatever the
//! number of jobs ([`regenerate`]); which entries the corpus holds at index `i` depends on the
//! order programs finish, which is fixed with one job only. With guidance off the campaign runs
//! exactly the unguided stream: program `i` is `oracle.generate(G)`.

use crate::engines::program_seed;
use crate::generators::derived_seed;
use crate::oracles::features::Features;
use crate::oracles::{Coverage, Oracle};
use serde::Serialize;
use std::sync::Mutex;

/// Whether `fuzz` and `mutants` guide the built-in engine when `--guidance` is not given. Off:
/// side by side on the scoreboard (README, "Coverage guidance") it found the slowest bugs later,
/// in programs and in seconds, at every ratio and feature set tried.
pub const DEFAULT: bool = false;

/// With a non-empty corpus, one program in this many is a mutation of an entry: fresh programs
/// keep the generator's whole space in reach, mutants dwell near what reached something new.
/// One in four: it cost the scoreboard's slowest bugs less than one in two (README), though
/// still more than none.
pub const MUTATE_ONE_IN: u64 = 4;

/// Where a program of a campaign came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Origin {
    /// `oracle.generate(program_seed(S, i))`.
    Generated,
    /// A mutation of a corpus entry: `lineage` is that entry's campaign index, then its
    /// parent's, and so on down to the generated program they all descend from.
    Mutated { lineage: Vec<u64> },
}

impl Origin {
    fn lineage(&self) -> &[u64] {
        match self {
            Origin::Generated => &[],
            Origin::Mutated { lineage } => lineage,
        }
    }

    /// `program 12 (generated) -> 40 -> 97`: how program `index` came to be, root first.
    pub fn describe(&self, index: u64) -> String {
        let mut s = String::new();
        for (n, i) in self.lineage().iter().rev().enumerate() {
            if n == 0 {
                s = format!("program {i} (generated)");
            } else {
                s = format!("{s} -> {i}");
            }
        }
        if s.is_empty() {
            format!("program {index} (generated)")
        } else {
            format!("{s} -> {index}")
        }
    }
}

/// The seed of the mutation that makes program `index` from its parent.
fn mutation_seed(campaign: u64, index: u64) -> u64 {
    derived_seed(program_seed(campaign, index), 2)
}

struct Entry<P> {
    index: u64,
    origin: Origin,
    program: P,
}

/// The programs that reached a new feature, and the union of every feature seen.
pub struct Corpus<P> {
    seen: Features,
    entries: Vec<Entry<P>>,
    mutated: u64,
}

impl<P> Default for Corpus<P> {
    fn default() -> Self {
        Corpus {
            seen: Features::default(),
            entries: Vec::new(),
            mutated: 0,
        }
    }
}

/// What guidance did in a campaign, for its summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GuidanceSummary {
    /// Programs kept for reaching a new feature.
    pub corpus: usize,
    /// Agreeing programs that were mutations of a corpus entry (the rest were generated).
    pub mutated: u64,
    /// Features reached by the campaign.
    pub features: usize,
}

/// Program `index` of the guided campaign `campaign`, and its origin.
pub fn next<O: Oracle>(
    oracle: &O,
    corpus: &Mutex<Corpus<O::Program>>,
    campaign: u64,
    index: u64,
) -> (O::Program, Origin) {
    let g = program_seed(campaign, index);
    if derived_seed(g, 0).is_multiple_of(MUTATE_ONE_IN) {
        let parent = {
            let c = corpus.lock().unwrap_or_else(|e| e.into_inner());
            let n = c.entries.len() as u64;
            (n > 0).then(|| {
                let e = &c.entries[(derived_seed(g, 1) % n) as usize];
                (e.index, e.origin.clone(), e.program.clone())
            })
        };
        if let Some((at, origin, program)) = parent {
            if let Some(mutant) = oracle.mutate(&program, mutation_seed(campaign, index)) {
                let lineage = std::iter::once(at)
                    .chain(origin.lineage().iter().copied())
                    .collect();
                return (mutant, Origin::Mutated { lineage });
            }
        }
    }
    (oracle.generate(g), Origin::Generated)
}

/// Records an agreeing program: kept when `stats` has a feature the corpus has not seen.
/// Whether it was kept.
pub fn offer<P: Clone, S: Coverage>(
    corpus: &Mutex<Corpus<P>>,
    index: u64,
    origin: &Origin,
    program: &P,
    stats: &S,
) -> bool {
    let mut c = corpus.lock().unwrap_or_else(|e| e.into_inner());
    c.mutated += u64::from(*origin != Origin::Generated);
    let Some(features) = stats.features() else {
        return false;
    };
    if !features.has_new(&c.seen) {
        return false;
    }
    c.seen.union_with(features);
    c.entries.push(Entry {
        index,
        origin: origin.clone(),
        program: program.clone(),
    });
    true
}

/// The corpus's part of a campaign summary.
pub fn summary<P>(corpus: &Corpus<P>) -> GuidanceSummary {
    GuidanceSummary {
        corpus: corpus.entries.len(),
        mutated: corpus.mutated,
        features: corpus.seen.count(),
    }
}

/// Program `index` of campaign `campaign` from its origin alone, without the corpus: the
/// generated root, then each mutation of its lineage in turn. `None` if a mutation of the
/// lineage does not apply (it did when the campaign ran, so: another oracle or build).
pub fn regenerate<O: Oracle>(
    oracle: &O,
    campaign: u64,
    index: u64,
    origin: &Origin,
) -> Option<O::Program> {
    let lineage = origin.lineage();
    let Some((&root, parents)) = lineage.split_last() else {
        return Some(oracle.generate(program_seed(campaign, index)));
    };
    let mut p = oracle.generate(program_seed(campaign, root));
    for &child in parents.iter().rev().chain([&index]) {
        p = oracle.mutate(&p, mutation_seed(campaign, child))?;
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lineage_reads_root_first() {
        assert_eq!(Origin::Generated.describe(7), "program 7 (generated)");
        let o = Origin::Mutated {
            lineage: vec![40, 12],
        };
        assert_eq!(o.describe(97), "program 12 (generated) -> 40 -> 97");
    }
}
