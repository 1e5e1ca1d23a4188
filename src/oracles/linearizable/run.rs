//! One run of a concurrent program on the optimized model (built on shuttle's sync types),
//! under the [`ByteScheduler`]: the setup op by op, then every task on its own shuttle thread,
//! then the quiescent snapshot, an unmount and the snapshot after it.
//!
//! The record keeps what the linearizability check needs (SPEC §10): every op's outcome and its
//! invocation and response positions in one global event sequence, which give the run's
//! real-time order (op A precedes op B when A returned before B was invoked).

use crate::oracles::linearizable::schedule::ByteScheduler;
use delalloc_contract::op::MAX_OFFSET;
use delalloc_contract::{ConcurrentProgram, Geometry, Op, Outcome, Snapshot};
use delalloc_optimized_shuttle::bugs::BugSet;
use delalloc_optimized_shuttle::Optimized;
use serde::Serialize;
use shuttle::scheduler::{Schedule, Scheduler, Task, TaskId};
use shuttle::{Config, FailurePersistence, MaxSteps, Runner};
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex, Once};

/// Shuttle gives up on an execution after this many scheduling steps (a livelock).
const MAX_STEPS: usize = 200_000;

/// What one task op did in the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OpRecord {
    /// Position of the invocation in the run's event sequence.
    pub invoked: usize,
    /// Position of the response; `None` if the op never returned (a panic, a deadlock).
    pub returned: Option<usize>,
    pub outcome: Option<Outcome>,
}

/// Everything a run observed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunRecord {
    pub setup_outcomes: Vec<Outcome>,
    /// Per task, per op (only the ops that were invoked).
    pub ops: Vec<Vec<OpRecord>>,
    /// After every task finished.
    pub quiescent: Option<Snapshot>,
    /// After a sync of every inode ([`sync`]): the state without the timing of background
    /// writeback and ordered completion.
    pub synced: Option<Snapshot>,
    /// The unmount's outcome and the snapshot after it.
    pub unmount: Option<Outcome>,
    pub after_unmount: Option<Snapshot>,
    /// A panic in the model, a deadlock or a livelock (shuttle's message), if the run failed.
    pub failure: Option<String>,
    /// Schedule bytes consumed and scheduling decisions made.
    pub bytes_used: usize,
    pub decisions: usize,
}

/// The event sequence and the record, filled by the shuttle threads. A std mutex is enough:
/// shuttle runs one thread at a time and switches only at its own operations.
struct Log {
    seq: usize,
    record: RunRecord,
}

impl Log {
    fn tick(&mut self) -> usize {
        self.seq += 1;
        self.seq - 1
    }
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `p` with the bugs `bugs` re-introduced in the model.
///
/// The run happens on this thread's *runner*, a thread of its own that keeps one shuttle
/// [`Runner`] going across programs (see [`Session`]): a `Runner` per program would map,
/// fault in and unmap a stack per task and cancel each by unwinding it, every program, and
/// those calls serialize the worker threads of a campaign on the process's address-space lock
/// and the unwinder's, so that `--jobs 2` ran barely faster than `--jobs 1`.
///
/// Under the fuzz targets (`--cfg fuzzing`) each program gets a runner of its own on this
/// thread instead ([`run_here`]).
pub fn run(p: &ConcurrentProgram, bugs: BugSet) -> RunRecord {
    let job = Job {
        program: Arc::new(p.clone()),
        bugs,
    };
    if cfg!(fuzzing) {
        return run_here(job);
    }
    RUNNER.with(|r| {
        let mut r = r.borrow_mut();
        let runner = r.get_or_insert_with(RunnerThread::start);
        let answer = runner
            .jobs
            .send(job)
            .ok()
            .and_then(|()| runner.records.recv().ok());
        answer.unwrap_or_else(|| {
            // The runner thread is gone (a panic outside any execution): start afresh next time.
            *r = None;
            RunRecord {
                ops: vec![Vec::new(); p.tasks.len()],
                failure: Some("the shuttle runner thread stopped".into()),
                ..RunRecord::default()
            }
        })
    })
}

/// Runs `job` on this thread with a runner of its own, dropped with the run: libFuzzer asks
/// LeakSanitizer after an input that allocated more than it freed, and a runner kept across
/// inputs holds shuttle's pool of task stacks, which LeakSanitizer reports as leaked.
fn run_here(job: Job) -> RunRecord {
    let tasks = job.program.tasks.len();
    let (jobs, job_rx) = mpsc::channel::<Job>();
    let (record_tx, records) = mpsc::channel::<RunRecord>();
    // The receiver is alive until `serve` returns; with the sender dropped, `serve` runs this
    // one job and returns.
    let _ = jobs.send(job);
    drop(jobs);
    serve(job_rx, &record_tx);
    IN_RUN.with(|c| c.set(false));
    records.try_recv().unwrap_or_else(|_| RunRecord {
        ops: vec![Vec::new(); tasks],
        failure: Some("the shuttle runner answered nothing".into()),
        ..RunRecord::default()
    })
}

/// One program to run.
struct Job {
    program: Arc<ConcurrentProgram>,
    bugs: BugSet,
}

/// The program of the execution under way, as the execution's body reads it.
struct Current {
    program: Arc<ConcurrentProgram>,
    bugs: BugSet,
    log: Arc<Mutex<Log>>,
}

/// The calling thread's end of its runner thread.
struct RunnerThread {
    jobs: mpsc::Sender<Job>,
    records: mpsc::Receiver<RunRecord>,
}

thread_local! {
    /// Each thread that runs programs has its own runner thread, so campaign workers share
    /// nothing. Dropping it (the thread ends) closes the job channel and the runner ends too.
    static RUNNER: RefCell<Option<RunnerThread>> = const { RefCell::new(None) };
}

impl RunnerThread {
    fn start() -> RunnerThread {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (record_tx, records) = mpsc::channel::<RunRecord>();
        std::thread::Builder::new()
            .name("shuttle-runner".into())
            .spawn(move || serve(job_rx, &record_tx))
            .expect("spawning the shuttle runner thread");
        RunnerThread { jobs, records }
    }
}

/// The runner thread: one shuttle [`Runner`] whose scheduler takes the next job as its next
/// execution, so that shuttle's pool of task stacks lives as long as the thread. A failed
/// execution (a panic in the model, a deadlock, a livelock) unwinds out of the runner: its
/// record is answered with the failure and a new runner goes on with the next job.
fn serve(jobs: mpsc::Receiver<Job>, records: &mpsc::Sender<RunRecord>) {
    let jobs = Rc::new(jobs);
    quiet_panics();
    IN_RUN.with(|c| c.set(true));
    let slot: Arc<Mutex<Option<Current>>> = Arc::new(Mutex::new(None));
    loop {
        let session = Rc::new(RefCell::new(Session {
            jobs: Rc::clone(&jobs),
            records: records.clone(),
            slot: Arc::clone(&slot),
            scheduler: None,
            closed: false,
        }));
        let mut config = Config::new();
        config.failure_persistence = FailurePersistence::None;
        config.max_steps = MaxSteps::FailAfter(MAX_STEPS);
        config.silence_warnings = true;
        let runner = Runner::new(Shared(Rc::clone(&session)), config);
        let body = {
            let slot = Arc::clone(&slot);
            move || {
                let current = locked(&slot)
                    .as_ref()
                    .map(|c| (Arc::clone(&c.program), c.bugs, Arc::clone(&c.log)));
                if let Some((program, bugs, log)) = current {
                    execute(&program, &log, bugs);
                }
            }
        };
        let result = panic::catch_unwind(AssertUnwindSafe(|| runner.run(body)));
        let mut s = session.borrow_mut();
        if let Err(payload) = result {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(non-string panic payload)".into());
            let at = PANIC_AT.with(|p| p.borrow_mut().take());
            let failure = match at {
                Some(at) => format!("{msg} (at {at})"),
                None => msg,
            };
            if s.answer(Some(failure)).is_err() {
                return;
            }
        }
        if s.closed {
            return;
        }
    }
}

/// The runner's scheduler: between executions it answers the last job and waits for the next;
/// within one it is that job's [`ByteScheduler`].
struct Session {
    jobs: Rc<mpsc::Receiver<Job>>,
    records: mpsc::Sender<RunRecord>,
    slot: Arc<Mutex<Option<Current>>>,
    /// The execution under way's scheduler.
    scheduler: Option<ByteScheduler>,
    /// The caller hung up: no more jobs.
    closed: bool,
}

impl Session {
    /// Sends the record of the execution under way, if any, failed with `failure` if given.
    fn answer(&mut self, failure: Option<String>) -> Result<(), ()> {
        let Some(current) = locked(&self.slot).take() else {
            return Ok(());
        };
        let mut record = std::mem::take(&mut locked(&current.log).record);
        if failure.is_some() {
            record.failure = failure;
        }
        if let Some(s) = self.scheduler.take() {
            record.bytes_used = s.bytes_used();
            record.decisions = s.decisions;
        }
        self.records.send(record).map_err(|_| ())
    }

    fn next_execution(&mut self) -> Option<Schedule> {
        if self.answer(None).is_err() {
            self.closed = true;
            return None;
        }
        let Ok(job) = self.jobs.recv() else {
            self.closed = true;
            return None;
        };
        PANIC_AT.with(|p| p.borrow_mut().take());
        let log = Arc::new(Mutex::new(Log {
            seq: 0,
            record: RunRecord {
                ops: vec![Vec::new(); job.program.tasks.len()],
                ..RunRecord::default()
            },
        }));
        self.scheduler = Some(ByteScheduler::new(&job.program.schedule));
        *locked(&self.slot) = Some(Current {
            program: job.program,
            bugs: job.bugs,
            log,
        });
        Some(Schedule::new(0))
    }
}

/// The body of the shuttle execution.
fn execute(p: &Arc<ConcurrentProgram>, log: &Arc<Mutex<Log>>, bugs: BugSet) {
    let model = Arc::new(Optimized::with_bugs(&p.geometry, bugs));
    for op in &p.setup {
        let o = model.apply_shared(op);
        locked(log).record.setup_outcomes.push(o);
    }
    let handles: Vec<_> = (0..p.tasks.len())
        .map(|t| {
            let (p, log, model) = (Arc::clone(p), Arc::clone(log), Arc::clone(&model));
            shuttle::thread::spawn(move || {
                for op in &p.tasks[t] {
                    {
                        let mut l = locked(&log);
                        let invoked = l.tick();
                        l.record.ops[t].push(OpRecord {
                            invoked,
                            returned: None,
                            outcome: None,
                        });
                    }
                    let o = model.apply_shared(op);
                    let mut l = locked(&log);
                    let returned = l.tick();
                    let r = l.record.ops[t].last_mut().expect("pushed above");
                    r.returned = Some(returned);
                    r.outcome = Some(o);
                }
            })
        })
        .collect();
    for h in handles {
        // A panicking task fails the whole execution in shuttle; nothing to do here.
        let _ = h.join();
    }
    let quiescent = model.snapshot_shared();
    locked(log).record.quiescent = Some(quiescent);
    sync(&p.geometry, &mut |op| model.apply_shared(op));
    let synced = model.snapshot_shared();
    locked(log).record.synced = Some(synced);
    let o = model.apply_shared(&Op::Unmount);
    let after = model.snapshot_shared();
    let mut l = locked(log);
    l.record.unmount = Some(o);
    l.record.after_unmount = Some(after);
}

/// A sync (SPEC §10): every inode written back and every ordered extent completed, the work the
/// kernel's flusher and end_io do at times of their own. `apply` runs one op.
pub fn sync(g: &Geometry, apply: &mut dyn FnMut(&Op) -> Outcome) {
    for ino in 0..g.inodes {
        apply(&Op::Writeback {
            ino,
            start: 0,
            len: MAX_OFFSET - 1,
        });
        while apply(&Op::FinishOrdered { ino, nth: 0 }) == Outcome::Done {}
    }
}

/// Lets the runner own the session the runner thread still reads after a failure.
struct Shared(Rc<RefCell<Session>>);

impl Scheduler for Shared {
    fn new_execution(&mut self) -> Option<Schedule> {
        self.0.borrow_mut().next_execution()
    }

    fn next_task(
        &mut self,
        runnable: &[&Task],
        current: Option<TaskId>,
        is_yielding: bool,
    ) -> Option<TaskId> {
        let mut s = self.0.borrow_mut();
        let scheduler = s.scheduler.get_or_insert_with(|| ByteScheduler::new(&[]));
        scheduler.next_task(runnable, current, is_yielding)
    }

    fn next_u64(&mut self) -> u64 {
        // Nothing in the model asks shuttle for random numbers; answer deterministically anyway.
        0
    }
}

thread_local! {
    static IN_RUN: Cell<bool> = const { Cell::new(false) };
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that keeps panics inside a concurrent run quiet (the oracle
/// reports them) and notes where they happened; other panics go to the previous hook.
fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_RUN.with(Cell::get) {
                if let Some(loc) = info.location() {
                    let at = format!("{}:{}", loc.file(), loc.line());
                    PANIC_AT.with(|p| {
                        p.borrow_mut().get_or_insert(at);
                    });
                }
            } else {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generators::concurrent::program_from_seed;

    /// A runner of its own per program (the fuzz targets') records what the kept runner does.
    #[test]
    fn a_run_here_records_what_the_kept_runner_records() {
        for seed in 0..40 {
            let p = program_from_seed(seed);
            let kept = run(&p, BugSet::default());
            let here = run_here(Job {
                program: Arc::new(p.clone()),
                bugs: BugSet::default(),
            });
            assert_eq!(
                format!("{here:?}"),
                format!("{kept:?}"),
                "seed {seed}: {}",
                delalloc_contract::concurrent_text::print_concurrent_program(&p)
            );
        }
    }
}
