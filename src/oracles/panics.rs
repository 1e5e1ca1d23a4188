//! Panics inside a model call are findings, not crashes: [`guarded`] turns one into its
//! message, and [`quiet_model_panics`] keeps the default hook from printing each of the hundreds
//! a shrink may provoke, while recording where they happened.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static IN_MODEL: Cell<bool> = const { Cell::new(false) };
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs a model call, turning a panic into its message (with the location when
/// [`quiet_model_panics`] is installed).
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    IN_MODEL.with(|c| c.set(true));
    PANIC_AT.with(|p| p.borrow_mut().take());
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    IN_MODEL.with(|c| c.set(false));
    r.map_err(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string panic payload)".into());
        match PANIC_AT.with(|p| p.borrow_mut().take()) {
            Some(at) => format!("{msg} (at {at})"),
            None => msg,
        }
    })
}

/// Installs (once per process) a panic hook that keeps panics inside model calls quiet (the
/// oracle reports them, and the minimizer would otherwise print hundreds) and records where they
/// happened. Panics anywhere else go to the previous hook.
pub fn quiet_model_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_MODEL.with(Cell::get) {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                PANIC_AT.with(|p| *p.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}
