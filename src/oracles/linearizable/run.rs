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
use std::sync::{Arc, Mutex, Once};

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

fn locked(log: &Mutex<Log>) -> std::sync::MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `p` with the bugs `bugs` re-introduced in the model.
pub fn run(p: &ConcurrentProgram, bugs: BugSet) -> RunRecord {
    quiet_panics();
    let program = Arc::new(p.clone());
    let log = Arc::new(Mutex::new(Log {
        seq: 0,
        record: RunRecord {
            ops: vec![Vec::new(); p.tasks.len()],
            ..RunRecord::default()
        },
    }));
    let body = {
        let (program, log) = (Arc::clone(&program), Arc::clone(&log));
        move || execute(&program, &log, bugs)
    };
    let mut config = Config::new();
    config.failure_persistence = FailurePersistence::None;
    config.max_steps = MaxSteps::FailAfter(MAX_STEPS);
    config.silence_warnings = true;
    let scheduler = Rc::new(RefCell::new(ByteScheduler::new(&p.schedule)));
    let runner = Runner::new(Shared(Rc::clone(&scheduler)), config);
    IN_RUN.with(|c| c.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(|| runner.run(body)));
    IN_RUN.with(|c| c.set(false));
    let mut record = std::mem::take(&mut locked(&log).record);
    if let Err(payload) = result {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string panic payload)".into());
        let at = PANIC_AT.with(|p| p.borrow_mut().take());
        record.failure = Some(match at {
            Some(at) => format!("{msg} (at {at})"),
            None => msg,
        });
    }
    let s = scheduler.borrow();
    record.bytes_used = s.bytes_used();
    record.decisions = s.decisions;
    record
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

/// Lets the runner own a scheduler the caller can still read afterwards.
struct Shared(Rc<RefCell<ByteScheduler>>);

impl Scheduler for Shared {
    fn new_execution(&mut self) -> Option<Schedule> {
        self.0.borrow_mut().new_execution()
    }

    fn next_task(
        &mut self,
        runnable: &[&Task],
        current: Option<TaskId>,
        is_yielding: bool,
    ) -> Option<TaskId> {
        self.0
            .borrow_mut()
            .next_task(runnable, current, is_yielding)
    }

    fn next_u64(&mut self) -> u64 {
        self.0.borrow_mut().next_u64()
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
