//! The shrinking loop every kind of program shares: keep the smallest program that still
//! diverges the same way, offer it candidates pass after pass until a whole round changes
//! nothing. What a candidate is (drop ops, drop tasks, lower a field) is the program kind's
//! own ([`Shrink::round`]); when a candidate counts as "the same bug" is the caller's.

use crate::oracles::Verdict;
use std::fmt::Debug;

/// A program kind the shrinker can make smaller.
pub trait Shrink: Clone + PartialEq + Debug {
    /// What the oracle reports when this kind of program goes wrong.
    type Divergence: Clone + Debug;
    /// How big a program is, as a finding reports it (ops; or task ops, setup ops and
    /// schedule bytes).
    type Size: Copy + Debug + Ord + serde::Serialize;
    /// What the numbers of [`Shrink::Size`] count, after them in a report: `ops`.
    const SIZE_UNITS: &'static str;
    /// Upper bound on oracle runs per shrink; every accepted candidate is strictly smaller,
    /// so the loop ends anyway, this bounds the time.
    const MAX_RUNS: usize;

    /// How big the program is.
    fn size(&self) -> Self::Size;
    /// Whether the program is valid (only valid candidates are run).
    fn validate(&self) -> Result<(), String>;
    /// After a candidate diverged the same way and became the best: trim what the divergence
    /// shows cannot matter (a sequential program's ops after the diverging one).
    fn accepted(&mut self, _divergence: &mut Self::Divergence) {}
    /// One round of every pass, offering candidates through [`Shrinker::try_candidate`].
    fn round(shrinker: &mut Shrinker<'_, Self>);
}

/// The best program so far and how to test a candidate against it.
pub struct Shrinker<'a, P: Shrink> {
    /// The divergence of the program as given.
    first: Box<P::Divergence>,
    same_bug: &'a dyn Fn(&P::Divergence, &P::Divergence) -> bool,
    run: &'a mut dyn FnMut(&P) -> Option<Box<P::Divergence>>,
    /// Whether to stop now, keeping the best so far (Ctrl-C: [`crate::interrupt::requested`]).
    stop: &'a dyn Fn() -> bool,
    /// The smallest program found that diverges as the first did.
    pub best: P,
    /// Its divergence.
    pub best_div: Box<P::Divergence>,
    /// Oracle runs spent, the first included.
    pub runs: usize,
}

impl<P: Shrink> Shrinker<'_, P> {
    /// Keeps `candidate` if it is valid, new, and diverges as the first program did; true if
    /// kept. Refuses everything once [`Shrink::MAX_RUNS`] runs are spent or it is told to stop.
    pub fn try_candidate(&mut self, candidate: P) -> bool {
        if self.out_of_runs() || candidate == self.best || candidate.validate().is_err() {
            return false;
        }
        self.runs += 1;
        match (self.run)(&candidate) {
            Some(mut d) if (self.same_bug)(&self.first, &d) => {
                self.best = candidate;
                self.best.accepted(&mut d);
                self.best_div = d;
                true
            }
            _ => false,
        }
    }

    /// Whether the run budget is spent (or the shrink was told to stop).
    pub fn out_of_runs(&self) -> bool {
        self.runs >= P::MAX_RUNS || (self.stop)()
    }
}

/// A diverging program shrunk, with the divergence of the shrunk one.
#[derive(Clone, Debug)]
pub struct Minimized<P: Shrink = delalloc_contract::Program> {
    /// The smallest program found.
    pub program: P,
    /// Its divergence.
    pub divergence: Box<P::Divergence>,
    /// The size of the program as given, and of the shrunk one.
    pub size_before: P::Size,
    pub size_after: P::Size,
    /// Oracle runs spent.
    pub runs: usize,
    /// Stopped by Ctrl-C before the passes were done: `program` is the smallest found so far,
    /// possibly the program as given.
    pub interrupted: bool,
}

/// Shrinks `program` against `run`, keeping a candidate when `same_bug(first, candidate)`
/// says its divergence is the first one's bug; `None` if `program` does not diverge. Ctrl-C
/// ([`crate::interrupt`]) stops it at the next candidate with what it has.
pub fn minimize_by<P: Shrink, S>(
    program: &P,
    run: impl FnMut(&P) -> Verdict<S, P::Divergence>,
    same_bug: impl Fn(&P::Divergence, &P::Divergence) -> bool,
) -> Option<Minimized<P>> {
    minimize_until(program, run, same_bug, crate::interrupt::requested)
}

/// [`minimize_by`], stopping at the next candidate once `stop()` is true.
pub fn minimize_until<P: Shrink, S>(
    program: &P,
    mut run: impl FnMut(&P) -> Verdict<S, P::Divergence>,
    same_bug: impl Fn(&P::Divergence, &P::Divergence) -> bool,
    stop: impl Fn() -> bool,
) -> Option<Minimized<P>> {
    let mut diverged = |p: &P| match run(p) {
        Verdict::Agree(_) => None,
        Verdict::Diverged(d) => Some(d),
    };
    let mut first = diverged(program)?;
    let mut best = program.clone();
    best.accepted(&mut first);
    let mut m = Shrinker {
        first: first.clone(),
        same_bug: &same_bug,
        run: &mut diverged,
        stop: &stop,
        best,
        best_div: first,
        runs: 1,
    };
    let interrupted = loop {
        let before = m.best.clone();
        P::round(&mut m);
        if stop() {
            break true;
        }
        if m.best == before || m.out_of_runs() {
            break false;
        }
    };
    Some(Minimized {
        size_before: program.size(),
        size_after: m.best.size(),
        program: m.best,
        divergence: m.best_div,
        runs: m.runs,
        interrupted,
    })
}

/// [`minimize_by`] with "the same bug" meaning the same signature as the first divergence.
pub fn minimize_with<P: Shrink, S>(
    program: &P,
    run: impl FnMut(&P) -> Verdict<S, P::Divergence>,
    signature: impl Fn(&P::Divergence) -> String,
) -> Option<Minimized<P>> {
    let first = std::cell::OnceCell::new();
    minimize_by(program, run, |a, b| {
        *first.get_or_init(|| signature(a)) == signature(b)
    })
}
