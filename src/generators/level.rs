//! Which op language a program speaks: tree ops, fs ops or both.

use delalloc_contract::op::OpLevel;
use delalloc_contract::OpKind;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// Which op language a program speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Extent-tree ops on the stand-alone tree only.
    Tree,
    /// File-system ops only.
    Fs,
    /// Both.
    Mixed,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Tree, Level::Fs, Level::Mixed];

    pub fn name(self) -> &'static str {
        match self {
            Level::Tree => "tree",
            Level::Fs => "fs",
            Level::Mixed => "mixed",
        }
    }

    /// The op kinds a program of this level may use.
    pub fn kinds(self) -> impl Iterator<Item = OpKind> {
        OpKind::ALL.into_iter().filter(move |k| match self {
            Level::Tree => k.level() == OpLevel::Tree,
            Level::Fs => k.level() == OpLevel::Fs,
            Level::Mixed => true,
        })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Level, String> {
        Level::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| format!("unknown level `{s}` (expected tree, fs or mixed)"))
    }
}
