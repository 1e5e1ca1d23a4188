//! Timing several workloads side by side, for ratios that this shared host's drift cannot
//! skew: criterion times each benchmark seconds after the others, and the host's load changes
//! on that scale. Here every round times each workload once, in an order that rotates from
//! round to round, so that each round yields one ratio measured under one load; the summaries
//! print the median round with the quartiles.

/// Runs `rounds` rounds of `time(k)` for every workload k < N, in the order k = r, r+1, ...
/// (mod N) in round r; each workload's timings, one per round.
pub fn rounds<const N: usize>(rounds: usize, mut time: impl FnMut(usize) -> f64) -> [Vec<f64>; N] {
    let mut out: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(rounds));
    for round in 0..rounds {
        for j in 0..N {
            let k = (round + j) % N;
            out[k].push(time(k));
        }
    }
    out
}

/// `f` of the two workloads' timings in each round: one ratio per round.
pub fn per_round(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    a.iter().zip(b).map(|(&a, &b)| f(a, b)).collect()
}

/// The lower quartile, median and upper quartile of `xs`.
pub fn quartiles(mut xs: Vec<f64>) -> [f64; 3] {
    xs.sort_by(f64::total_cmp);
    [1, 2, 3].map(|q| xs[(xs.len() - 1) * q / 4])
}

pub fn median(xs: &[f64]) -> f64 {
    quartiles(xs.to_vec())[1]
}

/// Ratios as `median [lower quartile, upper quartile]`: `0.85x [0.80x, 0.92x]`.
pub fn ratio_text(ratios: Vec<f64>) -> String {
    let [low, mid, high] = quartiles(ratios);
    format!("{mid:.2}x [{low:.2}x, {high:.2}x]")
}
