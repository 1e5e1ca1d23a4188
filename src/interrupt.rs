//! Ctrl-C (SIGINT) for the long commands: `fuzz` (sequential, `--concurrent`, `--against
//! kernel`), `stress`, `mutants` (every engine, `--concurrent`, `--against kernel`) and
//! `fuzz-all`.
//!
//! [`install`] sets a handler (the `ctrlc` crate: no `unsafe` here) that only raises a flag;
//! the engines read it ([`requested`]) between programs, so a campaign stops at its next
//! program, the shrinker stops at its next candidate (a finding being minimized is written as
//! far as it got, and says so), and the command prints its summary and exits [`EXIT_CODE`].
//! A second Ctrl-C exits at once.
//!
//! Processes a command runs (libFuzzer, a kernel variant of this binary, cargo) are started by
//! [`spawn`] in a process group of their own and waited for with [`wait`], which passes Ctrl-C
//! on to that group, once: so they get it exactly once, whether it came from a terminal (which
//! signals only its foreground group, this process's) or from `kill -INT` on this process, and
//! a child of ours stops as this process does instead of taking a second Ctrl-C for "exit at
//! once". A second Ctrl-C kills the groups still running before this process exits.

use std::io::{self, Read};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The exit code of a command stopped by Ctrl-C: 128 + SIGINT, as a shell reports it.
pub const EXIT_CODE: u8 = 130;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static PRESSES: AtomicU32 = AtomicU32::new(0);
/// The process groups [`wait`] is waiting for, killed by a second Ctrl-C.
static GROUPS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Installs the handler, once per process (later calls do nothing). The error says why there
/// is none; the command then runs on, and Ctrl-C ends it as it would any program.
pub fn install() -> Result<(), String> {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, SeqCst) {
        return Ok(());
    }
    ctrlc::set_handler(|| {
        if PRESSES.fetch_add(1, SeqCst) == 0 {
            INTERRUPTED.store(true, SeqCst);
            eprintln!(
                "\ninterrupted: stopping at the next program, then the summary (Ctrl-C again to \
                 exit at once)"
            );
        } else {
            eprintln!("\ninterrupted again: exiting at once, nothing more is written");
            for group in GROUPS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                signal_group(*group, Kill::Now);
            }
            std::process::exit(i32::from(EXIT_CODE));
        }
    })
    .map_err(|e| format!("no Ctrl-C handler: {e}"))
}

/// [`install`] for a command's `execute`: a failure is a warning, not a reason not to run.
pub fn install_or_warn() {
    if let Err(e) = install() {
        eprintln!("warning: {e}; Ctrl-C will stop the command without its summary");
    }
}

/// Whether Ctrl-C was pressed (or SIGINT received) since [`install`].
pub fn requested() -> bool {
    INTERRUPTED.load(SeqCst)
}

/// What a summary says after an interrupted run.
pub const NOTE: &str = "interrupted (Ctrl-C)";

/// Starts `cmd` in a process group of its own (the group [`wait`] passes Ctrl-C on to).
pub fn spawn(cmd: &mut Command) -> io::Result<Child> {
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(cmd, 0);
    cmd.spawn()
}

enum Kill {
    /// SIGINT: stop as after Ctrl-C.
    Politely,
    /// SIGKILL.
    Now,
}

/// Signals the process group `group` (a child [`spawn`] started: its pid).
fn signal_group(group: u32, how: Kill) {
    #[cfg(unix)]
    {
        use nix::sys::signal::{killpg, Signal};
        use nix::unistd::Pid;
        let signal = match how {
            Kill::Politely => Signal::SIGINT,
            Kill::Now => Signal::SIGKILL,
        };
        if let Ok(pid) = i32::try_from(group) {
            // The group may be gone already: nothing to do then.
            let _ = killpg(Pid::from_raw(pid), signal);
        }
    }
    #[cfg(not(unix))]
    let _ = (group, how);
}

/// Keeps a child's group in [`GROUPS`] while it is waited for.
struct Registered(u32);

impl Registered {
    fn new(group: u32) -> Registered {
        GROUPS.lock().unwrap_or_else(|e| e.into_inner()).push(group);
        Registered(group)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        GROUPS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|g| *g != self.0);
    }
}

/// How long a child that was passed Ctrl-C has to stop before it is killed.
pub const CHILD_GRACE: Duration = Duration::from_secs(20);

/// How [`wait`] ended.
#[derive(Debug)]
pub enum Waited {
    /// The child exited (on its own, or after Ctrl-C was passed on to it).
    Exited(ExitStatus),
    /// It was still running at the deadline, or [`CHILD_GRACE`] after Ctrl-C, and was killed.
    Killed,
}

/// Waits for `child` (started by [`spawn`]), polling every `poll(elapsed)`; kills it once
/// `deadline` (from `start`) passes. Once Ctrl-C is [`requested`], passes it on to the child's
/// group and gives it [`CHILD_GRACE`] to stop before killing it.
pub fn wait(
    child: &mut Child,
    start: Instant,
    deadline: Option<Duration>,
    poll: impl Fn(Duration) -> Duration,
) -> io::Result<Waited> {
    let _registered = Registered::new(child.id());
    let mut passed_on: Option<Instant> = None;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Waited::Exited(status));
        }
        if passed_on.is_none() && requested() {
            signal_group(child.id(), Kill::Politely);
            passed_on = Some(Instant::now());
        }
        let late = deadline.is_some_and(|d| start.elapsed() > d)
            || passed_on.is_some_and(|t| t.elapsed() > CHILD_GRACE);
        if late {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(Waited::Killed);
        }
        std::thread::sleep(poll(start.elapsed()));
    }
}

/// [`Command::output`], with Ctrl-C passed on to the child ([`wait`], no deadline). A child
/// killed after Ctrl-C is an error saying so.
pub fn output(cmd: &mut Command) -> io::Result<Output> {
    let mut child = spawn(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )?;
    let readers = [
        child.stdout.take().map(read_all),
        child.stderr.take().map(read_all),
    ];
    let waited = wait(&mut child, Instant::now(), None, |_| {
        Duration::from_millis(20)
    })?;
    let [stdout, stderr] =
        readers.map(|r| r.map_or_else(Vec::new, |h| h.join().unwrap_or_default()));
    match waited {
        Waited::Exited(status) => Ok(Output {
            status,
            stdout,
            stderr,
        }),
        Waited::Killed => Err(io::Error::other(
            "interrupted, and still running after Ctrl-C was passed on: killed",
        )),
    }
}

/// [`Command::status`] (the child's output goes where this process's does), with Ctrl-C passed
/// on to the child.
pub fn status(cmd: &mut Command) -> io::Result<ExitStatus> {
    let mut child = spawn(cmd)?;
    match wait(&mut child, Instant::now(), None, |_| {
        Duration::from_millis(20)
    })? {
        Waited::Exited(status) => Ok(status),
        Waited::Killed => Err(io::Error::other(
            "interrupted, and still running after Ctrl-C was passed on: killed",
        )),
    }
}

/// Reads a child's pipe to its end on a thread of its own (so that neither pipe fills up).
pub fn read_all(mut from: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = from.read_to_end(&mut b);
        b
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_waited_for_and_killed_at_its_deadline() {
        let mut c = spawn(&mut Command::new("true")).unwrap();
        let w = wait(&mut c, Instant::now(), None, |_| Duration::from_millis(1)).unwrap();
        assert!(matches!(w, Waited::Exited(s) if s.success()), "{w:?}");
        let mut c = spawn(Command::new("sleep").arg("30")).unwrap();
        let start = Instant::now();
        let w = wait(&mut c, start, Some(Duration::from_millis(100)), |_| {
            Duration::from_millis(5)
        })
        .unwrap();
        assert!(matches!(w, Waited::Killed), "{w:?}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn output_collects_both_pipes() {
        let o = output(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"])).unwrap();
        assert_eq!(o.status.code(), Some(3));
        assert_eq!(o.stdout, b"out\n");
        assert_eq!(o.stderr, b"err\n");
    }
}
