//! `delalloc-fuzz fuzz-all`: every fuzz target for N seconds, one summary table ([`libfuzzer`]
//! does the work).

use crate::libfuzzer;
use std::path::PathBuf;

/// `fuzz-all`'s flags; [`FuzzAllCommand::execute`] runs the targets.
#[derive(clap::Args)]
pub struct FuzzAllCommand {
    /// How long each target runs.
    #[arg(long, default_value_t = 60, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub seconds_per_target: u64,
    /// Which engine runs the targets.
    #[arg(long, value_enum, default_value_t = libfuzzer::fuzz_all::EngineChoice::Libfuzzer)]
    pub engine: libfuzzer::fuzz_all::EngineChoice,
    /// libFuzzer builds: `none` on the current toolchain, `address` (ASan) on nightly.
    #[arg(long, value_enum, default_value_t = libfuzzer::Sanitizer::None)]
    pub sanitizer: libfuzzer::Sanitizer,
    /// Only this target (repeatable; default: all but the `empty` calibration target).
    #[arg(long = "target", value_name = "T")]
    pub targets: Vec<String>,
    /// The repository root.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub root: PathBuf,
}

impl FuzzAllCommand {
    /// Runs every chosen target; the exit code.
    pub fn execute(self) -> u8 {
        crate::interrupt::install_or_warn();
        libfuzzer::fuzz_all::main(&libfuzzer::fuzz_all::Options {
            seconds: self.seconds_per_target,
            engine: self.engine,
            sanitizer: self.sanitizer,
            targets: self.targets,
            root: self.root,
        })
    }
}
