//! `mutants --against kernel`: campaigns against the kernel's own code with a bug patched in.
//!
//! Each patch of `corpus/kernel-mutants/` (a small realistic bug in fs/btrfs) is applied to a
//! copy of the kernel tree when a variant of this binary is built ([`kernel_variant`]); that
//! binary then runs `fuzz --against kernel --level mixed` campaigns (tree ops for the io tree's
//! mutants, fs ops for delalloc-space.c's), each a separate process
//! with its own seed, and the row records whether and when each found a divergence. The clean
//! tree runs the same campaigns first: any finding there is a false alarm (or a real kernel
//! bug) and fails the board.

use crate::kernel_variant::{self, Variant, VARIANT_ENV};
use crate::scoreboard::campaign::median_f64;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How the kernel campaigns run.
#[derive(Clone, Debug)]
pub struct KernelPlan {
    /// Time limit of each campaign.
    pub seconds: u64,
    /// Campaigns per mutant.
    pub runs: u32,
    /// Campaign r of every row is `fuzz --seed base_seed + r`: adjacent campaign seeds, which
    /// `fuzz` turns into unrelated program streams ([`crate::engines::program_seed`]), so the R
    /// campaigns are R independent trials and each repeats with its printed seed.
    pub base_seed: u64,
    /// The tree the variants are built from (`None`: this binary's).
    pub src: Option<PathBuf>,
}

/// One campaign of a row.
#[derive(Clone, Debug, Serialize)]
pub struct KernelCampaign {
    /// The campaign's seed.
    pub seed: u64,
    /// Seconds to the first divergence, if one was found.
    pub seconds_to_find: Option<f64>,
    /// Programs run.
    pub programs: u64,
    /// The finding's signature ("state differs: tree.records", "kernel … WARN_ON at …").
    pub signature: Option<String>,
}

/// The campaigns against the clean tree or one mutant.
#[derive(Clone, Debug, Serialize)]
pub struct KernelRow {
    /// "clean", or the patch's file stem.
    pub name: String,
    /// The patch, for a mutant.
    pub patch: Option<PathBuf>,
    /// The first line of the patch's `Bug:`: what the bug is.
    pub about: String,
    pub campaigns: Vec<KernelCampaign>,
}

impl KernelRow {
    /// Campaigns that found a divergence.
    pub fn found(&self) -> usize {
        self.campaigns
            .iter()
            .filter(|c| c.seconds_to_find.is_some())
            .count()
    }

    /// The median time to find over all campaigns, a missed one counting as never (so the
    /// median exists only when more than half found it).
    pub fn median_seconds(&self) -> Option<f64> {
        let mut times: Vec<f64> = self
            .campaigns
            .iter()
            .map(|c| c.seconds_to_find.unwrap_or(f64::INFINITY))
            .collect();
        times.sort_by(f64::total_cmp);
        median_f64(&times).filter(|t| t.is_finite())
    }

    /// Whether the row is as it should be: the clean tree found nothing, a mutant was found by
    /// every campaign.
    pub fn ok(&self) -> bool {
        if self.patch.is_none() {
            self.found() == 0
        } else {
            self.found() == self.campaigns.len()
        }
    }
}

/// The patches in `dir` for a kernel of `release` ("6.12.118"), sorted by name: every
/// `NAME.patch`, and `NAME.V.patch` only where V is the release's major.minor (a mutant whose
/// lines differ between releases has one file per release).
pub fn patches_in(dir: &Path, release: &str) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let major_minor: String = release.split('.').take(2).collect::<Vec<_>>().join(".");
    let mut patches: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned());
            let Some(stem) = name.strip_suffix(".patch") else {
                return false;
            };
            match stem.split_once('.') {
                None => true,
                Some((_, version)) => version == major_minor,
            }
        })
        .collect();
    patches.sort();
    if patches.is_empty() {
        return Err(format!(
            "{}: no *.patch files for kernel {release}",
            dir.display()
        ));
    }
    Ok(patches)
}

/// The release of the kernel tree at `src`: kernel-source.sh's stamp, else the Makefile's
/// VERSION.PATCHLEVEL.SUBLEVEL.
pub fn tree_release(src: &Path) -> Option<String> {
    if let Ok(stamp) = std::fs::read_to_string(src.join(".extracted")) {
        return Some(stamp.trim().to_string());
    }
    let mk = std::fs::read_to_string(src.join("Makefile")).ok()?;
    let field = |name: &str| {
        mk.lines().find_map(|l| {
            let v = l.strip_prefix(name)?.trim_start().strip_prefix('=')?;
            Some(v.trim().to_string())
        })
    };
    Some(format!(
        "{}.{}.{}",
        field("VERSION")?,
        field("PATCHLEVEL")?,
        field("SUBLEVEL")?
    ))
}

/// What a patch says it is: the first line of its header's `Bug:` (see
/// corpus/kernel-mutants), or its first line.
fn about(patch: &Path) -> String {
    let text = std::fs::read_to_string(patch).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("Bug:"))
        .or_else(|| text.lines().next())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// The clean row, then one row per patch; `progress` sees each row when it is done. After
/// Ctrl-C (passed on to the build or the campaign running) the rows so far, the last with the
/// campaigns that ran to their end (none: no row).
pub fn score(
    plan: &KernelPlan,
    patches: &[PathBuf],
    mut progress: impl FnMut(&KernelRow),
) -> Result<Vec<KernelRow>, String> {
    let variants = std::iter::once(None).chain(patches.iter().cloned().map(Some));
    let mut rows = Vec::new();
    for patch in variants {
        if crate::interrupt::requested() {
            break;
        }
        let variant = Variant {
            src: plan.src.clone(),
            patch: patch.clone(),
        };
        let bin = match kernel_variant::build(&variant) {
            Err(_) if crate::interrupt::requested() => break,
            bin => bin?,
        };
        let mut campaigns = Vec::new();
        for r in 0..plan.runs {
            if crate::interrupt::requested() {
                break;
            }
            let seed = plan.base_seed.wrapping_add(u64::from(r));
            match campaign(&bin, plan.seconds, seed)? {
                Some(c) => campaigns.push(c),
                None => break,
            }
        }
        if campaigns.is_empty() && crate::interrupt::requested() {
            break;
        }
        let row = KernelRow {
            name: patch.as_deref().map_or("clean".into(), |p| {
                p.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            }),
            about: patch
                .as_deref()
                .map_or("the kernel tree as it is: must find nothing".into(), about),
            patch,
            campaigns,
        };
        progress(&row);
        rows.push(row);
    }
    Ok(rows)
}

/// One `fuzz --against kernel` campaign of `bin`, in a process of its own; `None` when Ctrl-C
/// (passed on to it) stopped it before it found anything.
fn campaign(bin: &Path, seconds: u64, seed: u64) -> Result<Option<KernelCampaign>, String> {
    let out = tempfile_dir()?;
    let output = crate::interrupt::output(
        Command::new(bin)
            .args(["fuzz", "--against", "kernel", "--level", "mixed", "--json"])
            .args([
                "--seconds",
                &seconds.to_string(),
                "--seed",
                &seed.to_string(),
            ])
            .arg("--out")
            .arg(&out)
            .env(VARIANT_ENV, "1"),
    );
    let _ = std::fs::remove_dir_all(&out);
    let output = match output {
        Err(_) if crate::interrupt::requested() => return Ok(None),
        o => o.map_err(|e| format!("cannot run {}: {e}", bin.display()))?,
    };
    let code = output.status.code();
    let interrupted = code == Some(i32::from(crate::interrupt::EXIT_CODE));
    if code != Some(0) && code != Some(1) && !interrupted {
        return Err(format!(
            "{} fuzz --seed {seed} failed ({}):\n{}",
            bin.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| {
        format!(
            "{} fuzz --seed {seed}: its JSON summary does not parse: {e}",
            bin.display()
        )
    })?;
    let summary = &v["summary"];
    let seconds_to_find = summary["seconds_to_divergence"].as_f64();
    if interrupted && seconds_to_find.is_none() {
        return Ok(None);
    }
    Ok(Some(KernelCampaign {
        seed,
        seconds_to_find,
        programs: summary["stats"]["programs"].as_u64().unwrap_or(0),
        signature: v["finding"]["report"]["signature"]
            .as_str()
            .map(str::to_string),
    }))
}

/// A fresh folder for one campaign's finding files (removed after the campaign).
fn tempfile_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!(
        "delalloc-kernel-mutant-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// The board as a table: one row per variant, with the median time to find.
pub fn text(rows: &[KernelRow], plan: &KernelPlan) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "kernel mutants: {} campaign(s) of at most {} s each (seeds {}..)",
        plan.runs, plan.seconds, plan.base_seed
    );
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(6);
    let _ = writeln!(
        s,
        "{:<width$}  {:>5}  {:>8}  first signature",
        "mutant", "found", "median s"
    );
    for r in rows {
        let median = r
            .median_seconds()
            .map_or("-".to_string(), |m| format!("{m:.3}"));
        let sig = r
            .campaigns
            .iter()
            .find_map(|c| c.signature.clone())
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{:<width$}  {:>2}/{:<2}  {median:>8}  {sig}{}",
            r.name,
            r.found(),
            r.campaigns.len(),
            if r.ok() { "" } else { "   <-- NOT OK" }
        );
    }
    s
}

/// The board as JSON.
pub fn json(rows: &[KernelRow]) -> serde_json::Value {
    serde_json::json!({
        "kernel_rows": rows.iter().map(|r| serde_json::json!({
            "name": r.name,
            "patch": r.patch,
            "about": r.about,
            "found": r.found(),
            "campaigns": r.campaigns,
            "median_seconds": r.median_seconds(),
            "ok": r.ok(),
        })).collect::<Vec<_>>()
    })
}
