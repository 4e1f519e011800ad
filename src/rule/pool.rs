//! The threads rules run on.
//!
//! Rhai evaluates a rule recursively: every function call level costs stack, measured at
//! about 6 KiB for a plain call and up to about 50 KiB for a call made from inside the most
//! deeply nested expression a function may hold (debug build; release builds need less). A
//! tokio blocking thread has 2 MiB, so `max_call_levels: 500` overflowed it and aborted the
//! process. Rules therefore run on threads of their own whose stack is sized for the engine's
//! `max_call_levels` ([`stack_size`]); Rhai then stops a too-deep rule with an error (an
//! UNKNOWN verdict) long before the stack ends. Stack memory is only reserved, not used,
//! until a rule recurses that deep.
//!
//! A rule also runs alone on its thread while it runs, which is what lets the memory guard
//! (`memory`) account its allocations to it and to nothing else.
//!
//! Threads are started on demand, up to [`MAX_THREADS`], and end after a minute idle; more
//! evaluations at once wait for a free thread.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Stack per allowed call level (measured worst case ≈ 50 KiB, with a margin).
const STACK_PER_LEVEL: usize = 64 * 1024;
/// Stack for everything but the call levels: the top-level script (expressions nest up to
/// 64 deep there), the engine's own frames and the functions rules call.
const STACK_BASE: usize = 8 * 1024 * 1024;
/// The most rule threads at a time.
pub(crate) const MAX_THREADS: usize = 64;
/// An idle thread ends after this long.
const KEEP_ALIVE: Duration = Duration::from_secs(60);

/// The stack a rule thread needs for `max_call_levels`.
pub(crate) fn stack_size(max_call_levels: usize) -> usize {
    STACK_BASE.saturating_add(max_call_levels.saturating_mul(STACK_PER_LEVEL))
}

type Job = Box<dyn FnOnce() + Send + 'static>;

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A job never panics while holding the lock; recover the state if one somehow did.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A pool of big-stack threads for rule evaluations.
pub(crate) struct RulePool {
    stack_size: usize,
    shared: Arc<Shared>,
}

impl RulePool {
    pub(crate) fn new(stack_size: usize) -> RulePool {
        RulePool {
            stack_size,
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                wake: Condvar::new(),
            }),
        }
    }

    /// Runs `f` on a rule thread and waits for its result; `None` when no rule thread could
    /// be started or the job died.
    pub(crate) fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        {
            let mut state = self.shared.lock();
            state.queue.push_back(job);
            if state.idle == 0 && state.threads < MAX_THREADS {
                match self.spawn() {
                    Ok(()) => state.threads += 1,
                    Err(e) if state.threads == 0 => {
                        tracing::error!("cannot start a rule thread: {e}");
                        state.queue.pop_back();
                        return None;
                    }
                    // The running threads take the job when they are free.
                    Err(e) => tracing::warn!("cannot start another rule thread: {e}"),
                }
            }
        }
        self.shared.wake.notify_one();
        rx.recv().ok()
    }

    fn spawn(&self) -> std::io::Result<()> {
        let shared = self.shared.clone();
        std::thread::Builder::new()
            .name("patrol-rule".into())
            .stack_size(self.stack_size)
            .spawn(move || worker(&shared))
            .map(|_| ())
    }
}

impl Drop for RulePool {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_all();
    }
}

fn worker(shared: &Shared) {
    loop {
        let job = {
            let mut state = shared.lock();
            loop {
                if let Some(job) = state.queue.pop_front() {
                    break Some(job);
                }
                if state.closed {
                    state.threads -= 1;
                    break None;
                }
                state.idle += 1;
                let (next, timeout) = shared
                    .wake
                    .wait_timeout(state, KEEP_ALIVE)
                    .unwrap_or_else(|e| e.into_inner());
                state = next;
                state.idle -= 1;
                if timeout.timed_out() && state.queue.is_empty() {
                    // Counted out under the lock: a job queued from now on starts a thread.
                    state.threads -= 1;
                    break None;
                }
            }
        };
        match job {
            // The evaluation catches its own panics; this keeps the thread alive regardless.
            Some(job) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_jobs_on_threads_with_the_asked_stack() {
        let pool = RulePool::new(stack_size(1000));
        // Far more stack than a default thread has: would abort on a 2 MiB stack.
        let depth = pool.run(|| {
            fn down(n: usize) -> usize {
                let pad = std::hint::black_box([0u8; 1024]);
                if n == 0 {
                    usize::from(pad[0])
                } else {
                    1 + down(n - 1)
                }
            }
            down(20_000)
        });
        assert_eq!(depth, Some(20_000));
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let pool = &pool;
                    s.spawn(move || pool.run(move || i * 2))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().ok().flatten())
                .collect()
        });
        assert_eq!(results, (0..8).map(|i| Some(i * 2)).collect::<Vec<_>>());
    }
}
