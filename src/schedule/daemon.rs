//! The daemon loop: fire due checks, start runs, take reloads, shut down.

use super::housekeeping::{self, Retention, SharedRetention};
use super::plan::Plan;
use super::reload::{self, DEBOUNCE};
use super::{Command, DaemonControl, DaemonError, DaemonOptions, missed_run, same_schedule};
use crate::alert::outbox::{Deliverer, DeliveryOptions};
use crate::app::App;
use crate::config::{Check, Misfire};
use crate::pipeline::{self, Alerting};
use crate::status::Status;
use crate::store::{RunRecord, Store, Trigger};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{Id, JoinError, JoinSet};
use tokio::time::Instant;

/// The longest single sleep: the wall clock is read again after it, so that a clock step or
/// a suspend does not leave the daemon asleep past a fire time.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// A run that has started (holds a concurrency permit) and not yet stored its result.
#[derive(Debug, Clone)]
struct InFlight {
    check: Arc<Check>,
    trigger: Trigger,
    scheduled_at: Option<DateTime<Utc>>,
    started_at: DateTime<Utc>,
}

/// The fact that marks a run cut off by shutdown.
const INTERRUPTED: &str = "interrupted_by_shutdown";

type InFlightMap = Arc<Mutex<HashMap<Id, InFlight>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking run must not take the daemon down with a poisoned lock.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn trigger_name(t: Trigger) -> &'static str {
    match t {
        Trigger::Schedule => "schedule",
        Trigger::Misfire => "misfire",
        Trigger::Manual => "manual",
        Trigger::Heartbeat => "heartbeat",
        Trigger::Dependency => "dependency",
    }
}

struct Daemon {
    app: Arc<App>,
    store: Arc<Store>,
    watch: bool,
    semaphore: Arc<Semaphore>,
    permits: usize,
    retention: SharedRetention,
    /// Enabled checks of the current configuration, by id.
    checks: HashMap<String, Arc<Check>>,
    plan: Plan,
    /// Checks with a run queued or in flight: their next occurrences are skipped.
    busy: HashSet<String>,
    /// Occurrences skipped because the previous run was still going, per check.
    skipped: BTreeMap<String, u64>,
    tasks: JoinSet<()>,
    task_checks: HashMap<Id, String>,
    inflight: InFlightMap,
    fs_tx: mpsc::UnboundedSender<()>,
    /// The wall clock at the last wake-up, to notice it moving back.
    last_now: DateTime<Utc>,
    watcher: Option<notify::RecommendedWatcher>,
    /// Sends what the outbox holds; reconfigured on reload.
    deliverer: Arc<Deliverer>,
    /// Tells the report loop about reloads.
    app_tx: tokio::sync::watch::Sender<Arc<App>>,
    /// Figures for `/metrics` and `/healthz`.
    stats: Arc<crate::web::SchedulerStats>,
    /// Checks to run once more when their current run ends (a ping or a manual run came in
    /// while it was going), with the trigger to use.
    rerun: HashMap<String, Trigger>,
    /// sd_notify, self-heartbeat, the daemon's own figures (see `crate::service`).
    service: crate::service::Service,
    /// Where a reload running beside the loop sends its result, whether one is running, and
    /// whether another was asked for meanwhile.
    reload_tx: mpsc::UnboundedSender<LoadResult>,
    reloading: bool,
    reload_again: bool,
}

type LoadResult = Result<(App, Vec<crate::config::Diagnostic>), Vec<crate::config::Diagnostic>>;

pub(super) async fn run(
    opts: DaemonOptions,
    mut control: DaemonControl,
) -> Result<(), DaemonError> {
    match crate::service::raise_open_file_limit() {
        Ok(Some((from, to))) => tracing::info!(from, to, "open-file limit raised"),
        Ok(None) => {}
        Err(e) => tracing::warn!("cannot raise the open-file limit: {e}"),
    }
    // Absolute, so that reloads, the file watcher and relative paths in the configuration do
    // not depend on the working directory.
    let config_path = std::path::absolute(&opts.config_path).unwrap_or(opts.config_path.clone());
    // A stop request is heard while the configuration is read, however long that takes.
    let load = reload::load(&config_path);
    tokio::pin!(load);
    let loaded = loop {
        tokio::select! {
            loaded = &mut load => break loaded,
            cmd = control.rx.recv() => match cmd {
                Some(Command::Reload) => {}
                Some(Command::Shutdown) | None => {
                    tracing::info!("stop requested while the configuration was being read");
                    return Ok(());
                }
            },
        }
    };
    let (app, problems) = loaded.map_err(|diags| {
        reload::log_problems(&diags);
        DaemonError::Config(
            diags
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    if !problems.is_empty() {
        reload::log_problems(&problems);
        tracing::error!(
            problems = problems.len(),
            "configuration has problems: the checks concerned are not scheduled, the others are"
        );
    }
    let store_path = app.config.store_path();
    // A store that cannot be opened or written is a fault the daemon waits out (results wait
    // in memory), never a reason to stop running checks.
    let store = {
        let path = store_path.clone();
        tokio::task::spawn_blocking(move || Store::open_for_daemon(&path))
            .await
            .map_err(|e| DaemonError::Other(format!("opening the store failed: {e}")))?
            .map_err(|source| DaemonError::Store {
                path: store_path.clone(),
                source,
            })?
    };
    let store = Arc::new(store);
    store.set_observation_cap(app.config.root.store.max_observation_bytes);
    if problems.is_empty() && !store.is_faulted() {
        forget_removed(&store, &app);
    }
    let recovery = tokio::spawn(recover_store(store.clone()));
    let retention: SharedRetention = Arc::new(Mutex::new(Retention::from(&app.config.root.store)));
    tokio::spawn(housekeeping::apply_retention(
        store.clone(),
        retention.clone(),
    ));
    let mut housekeeper = match housekeeping::start(store.clone(), retention.clone()).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("housekeeping scheduler did not start (no hourly retention): {e}");
            None
        }
    };

    // Delivery runs beside the scheduler: a slow SMTP server never delays a check.
    let deliverer = Arc::new(Deliverer::new(
        store.clone(),
        app.channels.clone(),
        DeliveryOptions::from_config(&app.config.root),
    ));
    let (deliver_stop, deliver_rx) = tokio::sync::watch::channel(false);
    let delivery = tokio::spawn({
        let d = deliverer.clone();
        async move { d.run(deliver_rx).await }
    });

    let app = Arc::new(app);
    // The periodic report (root `report:`) has a loop of its own; it is queued in the outbox.
    let (app_tx, app_rx) = tokio::sync::watch::channel(app.clone());
    let reports = tokio::spawn(super::report::run_reports(store.clone(), app_rx.clone()));
    // Status page, API, metrics and heartbeat pings; manual runs come back as requests.
    let stats = Arc::new(crate::web::SchedulerStats::default());
    let (run_tx, mut run_rx) = mpsc::unbounded_channel();
    let web = crate::web::start(app_rx, store.clone(), run_tx, stats.clone()).await;

    let service = crate::service::Service::start(store.clone(), app_tx.subscribe());
    let (fs_tx, mut fs_rx) = mpsc::unbounded_channel();
    let (reload_tx, mut reload_rx) = mpsc::unbounded_channel();
    let permits = app.config.root.concurrency.max(1);
    let mut d = Daemon {
        app,
        store,
        watch: opts.watch,
        semaphore: Arc::new(Semaphore::new(permits)),
        permits,
        retention,
        checks: HashMap::new(),
        plan: Plan::default(),
        busy: HashSet::new(),
        skipped: BTreeMap::new(),
        tasks: JoinSet::new(),
        task_checks: HashMap::new(),
        inflight: Arc::new(Mutex::new(HashMap::new())),
        fs_tx,
        last_now: Utc::now(),
        watcher: None,
        deliverer,
        app_tx,
        stats,
        rerun: HashMap::new(),
        service,
        reload_tx,
        reloading: false,
        reload_again: false,
    };
    d.start_up();
    d.rewatch();
    d.service.ready(d.checks.len(), d.plan.earliest());
    let mut watchdog = d.service.watchdog_timer();

    let mut reload_at: Option<Instant> = None;
    loop {
        d.stats.tick();
        let wake = d.next_wake();
        let debounce = reload_at.unwrap_or_else(|| Instant::now() + MAX_SLEEP);
        tokio::select! {
            cmd = control.rx.recv() => match cmd {
                Some(Command::Reload) => d.reload(),
                Some(Command::Shutdown) | None => break,
            },
            Some(()) = fs_rx.recv() => {
                reload_at = Some(Instant::now() + DEBOUNCE);
            }
            _ = tokio::time::sleep_until(debounce), if reload_at.is_some() => {
                reload_at = None;
                tracing::info!("configuration files changed: reloading");
                d.reload();
            }
            Some(loaded) = reload_rx.recv() => d.reloaded(loaded),
            Some(res) = d.tasks.join_next_with_id(), if !d.tasks.is_empty() => d.finished(res),
            Some(req) = run_rx.recv() => d.requested(req),
            _ = tokio::time::sleep_until(wake) => d.fire_due(),
            _ = watchdog.tick() => d.service.watchdog(),
        }
    }

    web.stop().await;
    d.watcher = None;
    if let Some(mut h) = housekeeper.take()
        && let Err(e) = h.shutdown().await
    {
        tracing::debug!("housekeeping scheduler shutdown: {e}");
    }
    reports.abort();
    recovery.abort();
    let d_store = d.store.clone();
    d.shut_down(&mut control).await;
    last_recovery(&d_store).await;
    // Undelivered notifications stay in the outbox for the next start.
    let _ = deliver_stop.send(true);
    let _ = delivery.await;
    Ok(())
}

impl Daemon {
    /// Schedules every check of the first configuration and starts the misfire catch-ups.
    fn start_up(&mut self) {
        let now = Utc::now();
        let checks = enabled_checks(&self.app);
        for check in checks.values() {
            let next = check.def.schedule.next_after(now, &check.zone);
            self.plan.set(&check.id, next);
            let mut caught_up = false;
            if check.misfire == Misfire::RunOnce {
                match self.last_completed_schedule(&check.id) {
                    Ok(last) => {
                        if let Some(missed) =
                            missed_run(last, now, &check.def.schedule, &check.zone, check.misfire)
                        {
                            tracing::info!(
                                check = %check.id,
                                missed = %missed,
                                "catching up a run missed while the daemon was down"
                            );
                            self.start(check.clone(), Trigger::Misfire, Some(missed));
                            caught_up = true;
                        }
                    }
                    Err(e) => tracing::warn!(
                        check = %check.id,
                        "cannot read the last scheduled run (no misfire catch-up): {e}"
                    ),
                }
            }
            self.service.missed_while_down(check, now, caught_up);
            self.store_next_run(&check.id);
        }
        // A disabled check shows no next run.
        for check in &self.app.config.checks {
            if !check.def.enabled {
                self.store_next_run(&check.id);
            }
        }
        tracing::info!(
            checks = checks.len(),
            concurrency = self.permits,
            "daemon started"
        );
        self.checks = checks;
    }

    /// The scheduled time of the check's latest scheduled run, unless shutdown cut that run
    /// off: then just before it, so that the misfire catch-up runs it again.
    fn last_completed_schedule(
        &self,
        id: &str,
    ) -> Result<Option<DateTime<Utc>>, crate::store::StoreError> {
        let Some(last) = self.store.last_scheduled_at(id)? else {
            return Ok(None);
        };
        let interrupted = self.store.recent_runs(id, 1)?.first().is_some_and(|r| {
            r.scheduled_at == Some(last) && r.facts.get(INTERRUPTED) == Some(&true.into())
        });
        Ok(Some(if interrupted {
            last - chrono::Duration::milliseconds(1)
        } else {
            last
        }))
    }

    /// When to wake up next: the earliest fire time, at most [`MAX_SLEEP`] from now.
    fn next_wake(&self) -> Instant {
        let now = Instant::now();
        match self.plan.earliest() {
            Some(t) => {
                let wait = (t - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                now + wait.min(MAX_SLEEP)
            }
            None => now + MAX_SLEEP,
        }
    }

    /// Starts (or skips) every check that is due.
    fn fire_due(&mut self) {
        let now = Utc::now();
        if now + chrono::Duration::seconds(2) < self.last_now {
            // The fire times ahead were computed on the old clock: recompute them all.
            tracing::warn!(
                by_ms = (self.last_now - now).num_milliseconds(),
                "the system clock moved back: rescheduling every check"
            );
            for check in self.checks.values() {
                self.plan
                    .set(&check.id, check.def.schedule.next_after(now, &check.zone));
            }
        }
        self.last_now = now;
        let mut started = Vec::new();
        for (id, due) in self.plan.take_due(now) {
            let Some(check) = self.checks.get(&id).cloned() else {
                continue;
            };
            // Strictly after now: a daemon that fell behind runs once, not once per missed
            // occurrence.
            let next = check.def.schedule.next_after(now, &check.zone);
            if next.is_none() {
                tracing::warn!(check = %id, "schedule never fires again");
            }
            self.plan.set(&id, next);
            self.service.passed_over(&check, due, now);
            if self.busy.contains(&id) {
                let n = self.skipped.entry(id.clone()).or_default();
                *n += 1;
                self.stats.skipped();
                tracing::warn!(
                    check = %id,
                    due = %due,
                    skipped_total = *n,
                    "previous run still in progress: skipping this run"
                );
                self.service.missed(1);
                self.store_next_run(&id);
                continue;
            }
            self.stats.lag(now - due);
            started.push((self.start(check, Trigger::Schedule, Some(due)), due));
        }
        if !started.is_empty() {
            self.service.cycle_started(started);
            self.service
                .status(self.checks.len(), self.busy.len(), self.plan.earliest());
        }
    }

    /// A run asked for through the web server (API or heartbeat ping).
    fn requested(&mut self, req: crate::web::RunRequest) {
        use crate::web::RunReply;
        let reply = match self.checks.get(&req.check_id).cloned() {
            None => RunReply::Unknown,
            Some(_) if self.busy.contains(&req.check_id) => {
                // The running one may have read the state before this ping: run again after it.
                self.rerun.insert(req.check_id.clone(), req.trigger);
                RunReply::Busy
            }
            Some(check) => {
                tracing::info!(check = %check.id, trigger = %trigger_name(req.trigger), "run requested");
                self.start(check, req.trigger, None);
                RunReply::Queued
            }
        };
        if let Some(tx) = req.reply {
            let _ = tx.send(reply);
        }
    }

    /// Queues one run of `check`; it starts when a concurrency permit is free.
    fn start(
        &mut self,
        check: Arc<Check>,
        trigger: Trigger,
        scheduled_at: Option<DateTime<Utc>>,
    ) -> Id {
        self.busy.insert(check.id.clone());
        let id = check.id.clone();
        let job = RunJob {
            app: self.app.clone(),
            store: self.store.clone(),
            semaphore: self.semaphore.clone(),
            inflight: self.inflight.clone(),
            check,
            trigger,
            scheduled_at,
        };
        let handle = self.tasks.spawn(job.run());
        self.task_checks.insert(handle.id(), id);
        handle.id()
    }

    /// A run task ended.
    fn finished(&mut self, res: Result<(Id, ()), JoinError>) {
        let task = match &res {
            Ok((id, ())) => *id,
            Err(e) => e.id(),
        };
        let Some(check_id) = self.task_checks.remove(&task) else {
            return;
        };
        self.busy.remove(&check_id);
        if let Some(trigger) = self.rerun.remove(&check_id)
            && let Some(check) = self.checks.get(&check_id).cloned()
        {
            self.start(check, trigger, None);
        }
        self.service.run_finished(task, &check_id);
        if let Err(e) = res {
            // A panic inside a probe or the runner: the run is stored as UNKNOWN.
            let started = lock(&self.inflight).remove(&task);
            tracing::error!(check = %check_id, "run crashed: {e}");
            if let Some(run) = started {
                record_unknown(&self.store, &run, "run crashed (see the daemon log)", false);
            }
        }
        if self.app.config.check(&check_id).is_some() {
            self.store_next_run(&check_id);
        } else {
            // The check was removed while this run was going; the run's result brought its
            // state back.
            forget_removed(&self.store, &self.app);
        }
    }

    /// Tells the store when the check runs next (for `patrol status`). Checks no longer in the
    /// configuration are left alone: their state has been dropped. Skipped during a store
    /// fault (it is worked out again after it).
    fn store_next_run(&self, id: &str) {
        if self.app.config.check(id).is_none() || self.store.is_faulted() {
            return;
        }
        if let Err(e) = self.store.set_next_run(id, self.plan.get(id)) {
            tracing::warn!(check = %id, "cannot store the next run time: {e}");
        }
    }

    /// Starts loading the configuration again, beside the loop: checks keep running on
    /// time however long reading the files takes (a slow or hung file system).
    fn reload(&mut self) {
        if self.reloading {
            self.reload_again = true;
            return;
        }
        self.reloading = true;
        let path = self.app.config.path.clone();
        let tx = self.reload_tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(reload::load(&path).await);
        });
    }

    /// A reload has read the configuration: swaps it in only when it has no problem at all.
    fn reloaded(&mut self, loaded: LoadResult) {
        self.reloading = false;
        if std::mem::take(&mut self.reload_again) {
            // Files changed again while these were read: this result is stale already.
            self.reload();
            return;
        }
        let problems = match loaded {
            Ok((app, problems)) if problems.is_empty() => return self.apply(app),
            Ok((_, problems)) | Err(problems) => problems,
        };
        reload::log_problems(&problems);
        tracing::error!(
            problems = problems.len(),
            "configuration not reloaded: fix the problems above; the previous configuration keeps running"
        );
    }

    fn apply(&mut self, app: App) {
        let now = Utc::now();
        if app.config.store_path() != self.app.config.store_path() {
            tracing::warn!(
                store = %app.config.store_path().display(),
                "store.path changed: the new store is used after a restart"
            );
        }
        self.resize(app.config.root.concurrency);
        self.deliverer.reconfigure(
            app.channels.clone(),
            DeliveryOptions::from_config(&app.config.root),
        );
        self.store
            .set_observation_cap(app.config.root.store.max_observation_bytes);
        forget_removed(&self.store, &app);
        *lock(&self.retention) = Retention::from(&app.config.root.store);
        let app = Arc::new(app);
        let new_checks = enabled_checks(&app);
        let (mut added, mut rescheduled, mut removed) = (0usize, 0usize, 0usize);
        for (id, check) in &new_checks {
            match self.checks.get(id) {
                // Same times: keep the pending fire time (it may be due right now).
                Some(old)
                    if same_schedule(
                        &old.def.schedule,
                        old.zone,
                        &check.def.schedule,
                        check.zone,
                    ) => {}
                old => {
                    if old.is_some() {
                        rescheduled += 1;
                    } else {
                        added += 1;
                    }
                    let next = check.def.schedule.next_after(now, &check.zone);
                    self.plan.set(id, next);
                    self.store_next_run(id);
                }
            }
        }
        let removed_ids: Vec<String> = self
            .checks
            .keys()
            .filter(|id| !new_checks.contains_key(*id))
            .cloned()
            .collect();
        for id in &removed_ids {
            removed += 1;
            self.plan.set(id, None);
        }
        tracing::info!(
            checks = new_checks.len(),
            added,
            rescheduled,
            removed,
            "configuration reloaded"
        );
        self.checks = new_checks;
        self.app_tx.send_replace(app.clone());
        self.app = app;
        // Disabled (but still configured) checks show no next run.
        for id in removed_ids {
            self.store_next_run(&id);
        }
        self.rewatch();
    }

    /// Applies a new global concurrency limit without disturbing running checks.
    fn resize(&mut self, permits: usize) {
        let permits = permits.max(1);
        if permits > self.permits {
            self.semaphore.add_permits(permits - self.permits);
        } else if permits < self.permits {
            // Take the surplus permits as running checks give them back.
            let n = u32::try_from(self.permits - permits).unwrap_or(u32::MAX);
            let sem = self.semaphore.clone();
            tokio::spawn(async move {
                if let Ok(p) = sem.acquire_many_owned(n).await {
                    p.forget();
                }
            });
        }
        self.permits = permits;
    }

    /// (Re)starts the file watcher on the current configuration's files.
    fn rewatch(&mut self) {
        if !self.watch {
            return;
        }
        self.watcher = None;
        match reload::watch(&self.app.config, self.fs_tx.clone()) {
            Ok(w) => self.watcher = Some(w),
            Err(e) => {
                tracing::warn!("cannot watch the configuration files (SIGHUP still reloads): {e}")
            }
        }
    }

    /// Stops starting runs, gives running ones the grace period, stores the cut-off ones.
    async fn shut_down(mut self, control: &mut DaemonControl) {
        // Queued runs that have no permit yet never start.
        self.semaphore.close();
        let grace = self.app.config.root.shutdown_grace;
        let running = lock(&self.inflight).len();
        self.service.stopping(running);
        tracing::info!(
            running,
            grace = %grace,
            "shutting down: waiting for running checks"
        );
        let deadline = tokio::time::sleep(grace.as_duration());
        tokio::pin!(deadline);
        let mut cut_off = false;
        loop {
            tokio::select! {
                res = self.tasks.join_next_with_id() => match res {
                    Some(res) => self.finished(res),
                    None => break,
                },
                _ = &mut deadline => {
                    cut_off = true;
                    break;
                }
                Some(Command::Shutdown) = control.rx.recv() => {
                    tracing::warn!("second stop request: cancelling running checks now");
                    cut_off = true;
                    break;
                }
            }
        }
        if cut_off {
            self.tasks.abort_all();
            while let Some(res) = self.tasks.join_next_with_id().await {
                if let Ok(done) = res {
                    self.finished(Ok(done));
                }
            }
            // What is left started and never stored its result.
            let left: Vec<InFlight> = lock(&self.inflight).drain().map(|(_, r)| r).collect();
            for run in &left {
                tracing::warn!(check = %run.check.id, "run interrupted by shutdown");
                record_unknown(&self.store, run, "interrupted by shutdown", true);
            }
        }
        let skipped: u64 = self.skipped.values().sum();
        tracing::info!(skipped_overlapping = skipped, "daemon stopped");
    }
}

/// How often a faulted store is tried again.
const RECOVER_EVERY: Duration = Duration::from_secs(5);

/// Tries a faulted store again every [`RECOVER_EVERY`]: reopens it and writes what waits.
async fn recover_store(store: Arc<Store>) {
    loop {
        tokio::time::sleep(RECOVER_EVERY).await;
        if store.fault().is_none() {
            continue;
        }
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.recover()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::debug!("the store is still not writable: {e}"),
            Err(e) => tracing::warn!("store recovery task failed: {e}"),
        }
    }
}

/// At shutdown, one more try to write what waits in memory; what cannot be written is lost
/// with the process, and said so.
async fn last_recovery(store: &Arc<Store>) {
    let Some(fault) = store.fault() else {
        return;
    };
    let s = store.clone();
    if let Ok(Ok(_)) = tokio::task::spawn_blocking(move || s.recover()).await {
        return;
    }
    if fault.queued > 0 {
        tracing::error!(
            lost = fault.queued,
            error = %fault.error,
            "stopping with results the store could not take: they are lost"
        );
    }
}

/// Stores an UNKNOWN result for a run that never produced its own.
fn record_unknown(store: &Store, run: &InFlight, why: &str, interrupted: bool) {
    let mut facts = BTreeMap::new();
    if interrupted {
        facts.insert(INTERRUPTED.to_string(), serde_json::Value::Bool(true));
    }
    let record = RunRecord {
        id: None,
        check_id: run.check.id.clone(),
        trigger: run.trigger,
        scheduled_at: run.scheduled_at,
        started_at: run.started_at,
        duration_ms: u64::try_from((Utc::now() - run.started_at).num_milliseconds()).unwrap_or(0),
        status: Status::Unknown,
        summary: why.to_string(),
        metrics: BTreeMap::new(),
        facts,
        observation: serde_json::json!({ "error": why }),
        attempts: 1,
    };
    if let Err(e) = store.record_run(&record, None) {
        tracing::error!(check = %run.check.id, "cannot store the interrupted run: {e}");
    }
}

/// Drops the stored state of checks no longer in the configuration, so `patrol status` does
/// not list them. Only after a load without problems: a check left out because its file is
/// broken keeps its state (and its misfire bookkeeping).
fn forget_removed(store: &Store, app: &App) {
    let ids: Vec<String> = app.config.checks.iter().map(|c| c.id.clone()).collect();
    match store.forget_missing(&ids) {
        Ok(0) => {}
        Ok(n) => tracing::info!(forgotten = n, "removed checks dropped from the status"),
        Err(e) => tracing::warn!("cannot drop the state of removed checks: {e}"),
    }
}

fn enabled_checks(app: &App) -> HashMap<String, Arc<Check>> {
    app.config
        .checks
        .iter()
        .filter(|c| c.def.enabled)
        .map(|c| (c.id.clone(), c.clone()))
        .collect()
}

/// One queued run.
struct RunJob {
    app: Arc<App>,
    store: Arc<Store>,
    semaphore: Arc<Semaphore>,
    inflight: InFlightMap,
    check: Arc<Check>,
    trigger: Trigger,
    scheduled_at: Option<DateTime<Utc>>,
}

impl RunJob {
    async fn run(self) {
        // Closed at shutdown: a run that has not started by then never starts.
        let Ok(_permit) = self.semaphore.clone().acquire_owned().await else {
            return;
        };
        let task = tokio::task::id();
        lock(&self.inflight).insert(
            task,
            InFlight {
                check: self.check.clone(),
                trigger: self.trigger,
                scheduled_at: self.scheduled_at,
                started_at: Utc::now(),
            },
        );
        let result = pipeline::run(
            &self.app,
            &self.store,
            &self.check,
            self.trigger,
            self.scheduled_at,
            Alerting::Apply,
        )
        .await
        .map(|outcome| outcome.record);
        // Same poll as the store write inside `pipeline::run`: a shutdown abort cannot come
        // between "stored" and "no longer in flight".
        lock(&self.inflight).remove(&task);
        match result {
            Ok(rec) => tracing::info!(
                check = %rec.check_id,
                status = %rec.status,
                duration_ms = rec.duration_ms,
                trigger = %trigger_name(rec.trigger),
                summary = %rec.summary,
                "run finished"
            ),
            Err(e) => tracing::error!(
                check = %self.check.id,
                "run finished but its result could not be stored: {e}"
            ),
        }
    }
}
