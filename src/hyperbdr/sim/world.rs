//! The simulated world: the hosts, tasks, storages, accounts and the rest the console
//! reports, generated relative to the real clock for a given scenario. Times are made as RFC
//! 3339 UTC (`rfc`) or, where the real console writes its own stamps, local `YYYY-MM-DD
//! HH:MM:SS` (`console_time`); the response pass in `modes.rs` re-renders them per time style.

use super::{DEMO_FAULTS, parse_rfc3339, s};
use chrono::{DateTime, Duration as CDuration, SecondsFormat, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

pub(super) fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(super) const GIB: u64 = 1 << 30;
pub(super) const TIB: u64 = 1 << 40;

pub(super) struct World<'a> {
    pub(super) scn: &'a str,
    pub(super) now: DateTime<Utc>,
    pub(super) tz: Tz,
}

/// The failed task of the task-failed-* scenarios.
pub(super) struct Failure {
    /// The cause patrol should find: documents the scenario, the console never sends it.
    #[allow(dead_code)]
    pub(super) cause: &'static str,
    pub(super) code: &'static str,
    pub(super) message: &'static str,
    /// The console's own `error.cause`, when it gives one.
    pub(super) console_cause: Option<&'static str>,
    pub(super) failed_step: &'static str,
    pub(super) step_message: &'static str,
    pub(super) detail: &'static str,
    pub(super) error_reason: &'static str,
    pub(super) traceback: &'static str,
}

pub(super) struct HostSpec {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) host_type: &'static str,
    pub(super) os_type: &'static str,
    pub(super) agent_id: Option<&'static str>,
    pub(super) proxy_id: Option<&'static str>,
    pub(super) policy_id: &'static str,
    pub(super) interval_s: i64,
    pub(super) rpo_s: i64,
    pub(super) ip: String,
}

impl World<'_> {
    /// Whether the scenario plants `fault`: it is that scenario, or `demo`, which plants
    /// several at once ([`DEMO_FAULTS`]).
    pub(super) fn has(&self, fault: &str) -> bool {
        self.scn == fault || (self.scn == "demo" && DEMO_FAULTS.contains(&fault))
    }

    pub(super) fn ago(&self, secs: i64) -> String {
        rfc(self.now - CDuration::seconds(secs))
    }

    pub(super) fn days_ago(&self, days: i64) -> String {
        self.ago(days * 86_400)
    }

    pub(super) fn console_time(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    }

    pub(super) fn failure(&self) -> Option<Failure> {
        let f = match self.scn {
            "task-failed-network" | "task-failed-network-running" => Failure {
                cause: "network",
                code: "NET_TIMEOUT",
                message: "upload part failed: RequestTimeout dial tcp 100.64.1.9:443: i/o timeout",
                console_cause: Some("network"),
                failed_step: "upload_data",
                step_message: "",
                detail: "PUT part 113 of vol-0a17 to dr-bkt",
                error_reason: "dial tcp 100.64.1.9:443: i/o timeout",
                traceback: "Traceback (most recent call last):\n  File \"uploader.py\", line 212, in put_part\nurllib3.exceptions.ConnectTimeoutError: connection to 100.64.1.9 timed out",
            },
            "task-failed-permission" => Failure {
                cause: "permission",
                code: "CLOUD_API_ERROR",
                message: "AccessDenied: User: arn:aws:iam::123456789012:user/hyperbdr-src is not authorized to perform: ebs:PutSnapshotBlock on resource: arn:aws:ec2:ap-southeast-1::snapshot/snap-0d2f61c8",
                console_cause: None,
                failed_step: "upload_data",
                step_message: "AccessDenied: User: arn:aws:iam::123456789012:user/hyperbdr-src is not authorized to perform: ebs:PutSnapshotBlock on resource: arn:aws:ec2:ap-southeast-1::snapshot/snap-0d2f61c8",
                detail: "PutSnapshotBlock block 4096 of snap-0d2f61c8",
                error_reason: "AccessDeniedException",
                traceback: "",
            },
            "task-failed-storage" => Failure {
                cause: "storage",
                code: "QUOTA_EXCEEDED",
                message: "QuotaExceeded: snapshot quota of project dr-prod exceeded (limit 1000, used 1000)",
                console_cause: Some("quota"),
                failed_step: "create_snapshot",
                step_message: "QuotaExceeded: snapshot quota of project dr-prod exceeded (limit 1000, used 1000)",
                detail: "create snapshot of evs vol-7731",
                error_reason: "QuotaExceeded",
                traceback: "",
            },
            "task-failed-source" => Failure {
                cause: "source",
                code: "AGENT_ERROR",
                message: "agent offline: VSS snapshot create timeout after 600 s on app02",
                console_cause: None,
                failed_step: "create_snapshot",
                step_message: "agent offline: VSS snapshot create timeout after 600 s on app02",
                detail: "VSS shadow copy of C:\\ and D:\\",
                error_reason: "agent offline",
                traceback: "",
            },
            _ => return None,
        };
        Some(f)
    }

    pub(super) fn host_specs(&self) -> Vec<HostSpec> {
        let base = |id: &str,
                    name: &str,
                    host_type,
                    os_type,
                    agent_id,
                    proxy_id,
                    policy_id,
                    interval_s,
                    rpo_s,
                    ip: &str| HostSpec {
            id: id.into(),
            name: name.into(),
            host_type,
            os_type,
            agent_id,
            proxy_id,
            policy_id,
            interval_s,
            rpo_s,
            ip: ip.into(),
        };
        let mut v = vec![
            base(
                "h-001",
                "db01",
                "agent",
                "linux",
                Some("agent-lx-1"),
                None,
                "pol-15m",
                900,
                3600,
                "192.168.7.11",
            ),
            base(
                "h-002",
                "app02",
                "agent",
                "windows",
                Some("agent-win-1"),
                None,
                "pol-15m",
                900,
                3600,
                "192.168.7.141",
            ),
            base(
                "h-003",
                "web03",
                "agentless",
                "linux",
                None,
                Some("proxy-1"),
                "pol-1h",
                3600,
                7200,
                "192.168.7.53",
            ),
            base(
                "h-004",
                "file04",
                "agentless",
                "windows",
                None,
                Some("proxy-1"),
                "pol-1h",
                3600,
                7200,
                "192.168.7.54",
            ),
        ];
        if self.scn == "paging" {
            for i in 5..=130 {
                let linux = i % 3 != 0;
                v.push(HostSpec {
                    id: format!("h-{i:03}"),
                    name: format!("{}{i:03}", if linux { "lnx" } else { "win" }),
                    host_type: "agentless",
                    os_type: if linux { "linux" } else { "windows" },
                    agent_id: None,
                    proxy_id: Some("proxy-1"),
                    policy_id: "pol-1h",
                    interval_s: 3600,
                    rpo_s: 7200,
                    ip: format!("192.168.8.{i}"),
                });
            }
        }
        v
    }

    /// Seconds since the last good sync of host number `i` (0-based) in green.
    pub(super) fn green_sync_age(spec: &HostSpec, i: usize) -> i64 {
        // Well inside half the RPO: 8-14 min for the 15-min tier, 20-27 min for hourly.
        let jitter = (i as i64 * 97) % 360;
        if spec.interval_s <= 900 {
            480 + jitter
        } else {
            1200 + jitter
        }
    }

    pub(super) fn hosts(&self) -> Vec<Value> {
        let specs = self.host_specs();
        let failure = self.failure();
        specs
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let mut sync_age = Self::green_sync_age(h, i);
                let mut status = "sync_snapshot_done";
                let mut display = "Sync completed";
                let mut task_id = format!("t-{}", 1000 + i);
                let mut err = String::new();
                let mut snapshot_count = 40;
                let mut drill_days = 20;
                if h.id == "h-002"
                    && let Some(f) = &failure
                {
                    status = "sync_failed";
                    display = "Sync failed";
                    task_id = "t-990".into();
                    err = f.message.to_string();
                    sync_age = 3000;
                    if self.scn == "task-failed-network-running" {
                        status = "sync_doing";
                        display = "Syncing";
                        task_id = "t-992".into();
                    }
                }
                if h.id == "h-003" && self.scn == "task-stuck" {
                    status = "sync_doing";
                    display = "Syncing";
                    task_id = "t-991".into();
                }
                if h.id == "h-001" {
                    match self.scn {
                        "rpo-breach" => sync_age = (3.2 * h.rpo_s as f64) as i64,
                        _ if self.has("rpo-5x") => sync_age = 5 * h.rpo_s,
                        "snapshots-127" => snapshot_count = 127,
                        "drill-overdue" => drill_days = 200,
                        _ => {}
                    }
                }
                json!({
                    "id": h.id,
                    "name": h.name,
                    "ip": h.ip,
                    "host_type": h.host_type,
                    "os_type": h.os_type,
                    "cloud_type": "huawei",
                    "status": status,
                    "display_status": display,
                    "boot_status": "not_boot",
                    "display_boot_status": "Not booted",
                    "boot_task_id": null,
                    "boot_task_error_description": "",
                    "health_status": "normal",
                    "task_id": task_id,
                    "task_error_description": err,
                    "sync_proxy_id": h.proxy_id,
                    "agent_id": h.agent_id,
                    "storage_id": "st-obj-1",
                    "policy_id": h.policy_id,
                    "rpo_target_seconds": h.rpo_s,
                    "last_sync_success_at": self.ago(sync_age),
                    "last_snapshot_at": self.ago(sync_age),
                    "snapshot_count": snapshot_count,
                    "last_drill_at": self.days_ago(drill_days),
                    "last_drill_result": "success",
                })
            })
            .collect()
    }

    pub(super) fn snapshots(&self, host: &Value) -> Vec<Value> {
        let id = s(&host["id"]);
        let count = host["snapshot_count"].as_u64().unwrap_or(0) as i64;
        let interval = if host["policy_id"] == "pol-15m" {
            900
        } else {
            3600
        };
        let newest = parse_rfc3339(host["last_snapshot_at"].as_str().unwrap_or_default())
            .unwrap_or(self.now);
        let num: i64 = id.trim_start_matches("h-").parse().unwrap_or(0);
        (0..count)
            .map(|k| {
                let t = newest - CDuration::seconds(k * interval);
                let full = k == count - 1;
                json!({
                    "id": format!("snap-{}", num * 10_000 + count - k),
                    "name": format!("auto-{}", t.with_timezone(&self.tz).format("%Y%m%d-%H%M")),
                    "status": "available",
                    "created_at": self.console_time(t),
                    "size_bytes": if full { 80 * GIB } else { (2 + (k % 5) as u64) * GIB / 2 },
                    "type": if full { "full" } else { "incremental" },
                    "retained": false,
                })
            })
            .collect()
    }

    pub(super) fn task(
        &self,
        id: String,
        spec: &HostSpec,
        start: DateTime<Utc>,
        dur: i64,
    ) -> Value {
        let end = start + CDuration::seconds(dur);
        json!({
            "id": id,
            "display_type": "Sync",
            "type": "sync",
            "source": spec.name,
            "source_id": spec.id,
            "status": "success",
            "display_status": "Success",
            "sync_mode": "incremental",
            "start_at": self.console_time(start),
            "end_at": self.console_time(end),
            "duration_seconds": dur,
            "progress_pct": 100,
            "transferred_bytes": (dur as u64) * 3_100_000,
            "retry_count": 0,
        })
    }

    pub(super) fn tasks(&self) -> Vec<Value> {
        let specs = self.host_specs();
        let mut tasks = Vec::new();
        if self.scn == "paging" {
            // 130 successes, one per host, spread over the last day.
            for (i, spec) in specs.iter().enumerate() {
                let start = self.now - CDuration::seconds(300 + i as i64 * 660);
                let dur = 240 + (i as i64 * 53) % 500;
                tasks.push(self.task(format!("t-{}", 1000 + i), spec, start, dur));
            }
        } else {
            // 20 successes over the last day, round-robin over the 4 hosts; the newest
            // task of each host ended at its last_sync_success_at.
            for k in 0..20usize {
                let i = k % 4;
                let spec = &specs[i];
                let dur = 300 + (k as i64 * 71) % 600;
                let end = if k == 1 && self.failure().is_some() {
                    // h-002's last success is older than its failed task t-990.
                    self.now - CDuration::seconds(3000)
                } else if k < 4 {
                    self.now - CDuration::seconds(Self::green_sync_age(spec, i))
                } else {
                    self.now - CDuration::seconds(k as i64 * 4_300)
                };
                let id = if k < 4 {
                    format!("t-{}", 1000 + i)
                } else {
                    format!("t-{}", 900 + k)
                };
                tasks.push(self.task(id, spec, end - CDuration::seconds(dur), dur));
            }
        }
        if let Some(f) = self.failure() {
            let start = self.now - CDuration::seconds(1500);
            let end = self.now - CDuration::seconds(1200);
            let mut error = json!({"code": f.code, "message": f.message});
            if let Some(c) = f.console_cause {
                error["cause"] = json!(c);
            }
            tasks.push(json!({
                "id": "t-990",
                "display_type": "Sync",
                "type": "sync",
                "source": "app02",
                "source_id": "h-002",
                "status": "failed",
                "display_status": "Failed",
                "sync_mode": "incremental",
                "start_at": self.console_time(start),
                "end_at": self.console_time(end),
                "duration_seconds": 300,
                "progress_pct": 37,
                "transferred_bytes": 912_680_550u64,
                "error": error,
                "retry_count": 3,
            }));
            if self.scn == "task-failed-network-running" {
                tasks.push(json!({
                    "id": "t-992",
                    "display_type": "Sync",
                    "type": "sync",
                    "source": "app02",
                    "source_id": "h-002",
                    "status": "running",
                    "display_status": "Syncing",
                    "sync_mode": "incremental",
                    "start_at": self.console_time(self.now - CDuration::seconds(480)),
                    "end_at": null,
                    "duration_seconds": null,
                    "progress_pct": 41,
                    "transferred_bytes": 402_653_184u64,
                    "retry_count": 0,
                }));
            }
        }
        if self.scn == "task-stuck" {
            tasks.push(json!({
                "id": "t-991",
                "display_type": "Sync",
                "type": "sync",
                "source": "web03",
                "source_id": "h-003",
                "status": "running",
                "display_status": "Syncing",
                "sync_mode": "incremental",
                "start_at": self.console_time(self.now - CDuration::hours(30)),
                "end_at": null,
                "duration_seconds": null,
                "progress_pct": 12,
                "transferred_bytes": 1_288_490_188u64,
                "retry_count": 0,
            }));
        }
        // Newest first, as the console lists them (the console stamps sort as text).
        tasks.sort_by(|a, b| s(&b["start_at"]).cmp(&s(&a["start_at"])));
        tasks
    }

    pub(super) fn steps(&self, task: &Value) -> Vec<Value> {
        let names = [
            "prepare_volume",
            "create_snapshot",
            "upload_data",
            "finalize",
        ];
        let status = task["status"].as_str().unwrap_or_default();
        let failure = if status == "failed" {
            self.failure()
        } else {
            None
        };
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let mut step =
                json!({"id": i + 1, "step": name, "status": "success", "message": "", "logs": []});
            if status == "running" && *name == "upload_data" {
                step["status"] = json!("running");
                step["message"] = json!(format!(
                    "uploaded {}%",
                    task["progress_pct"].as_u64().unwrap_or(0)
                ));
                out.push(step);
                break;
            }
            if let Some(f) = &failure
                && *name == f.failed_step
            {
                step["status"] = json!("failed");
                step["message"] = json!(f.step_message);
                step["logs"] = json!([
                    {"detail": f.detail, "error_reason": f.error_reason, "traceback": f.traceback}
                ]);
                out.push(step);
                break;
            }
            out.push(step);
        }
        out
    }

    pub(super) fn modules(&self) -> Vec<Value> {
        let hb = |secs: i64| self.ago(secs);
        let console_services = [
            ("porter", "Up (healthy)"),
            ("oneway", "Up (healthy)"),
            ("proxy", "Up"),
            ("storplus", "Up"),
            ("atomy-obstor", "Up (healthy)"),
            ("unicloud", "Up"),
            ("atomy-unicloud", "Up"),
            ("mistral", "Up"),
            ("ant", "Up (healthy)"),
            ("crab", "Up"),
            (
                "owl",
                if self.scn == "container-restarting" {
                    "Restarting"
                } else {
                    "Up (healthy)"
                },
            ),
            ("newmuse", "Up"),
            ("supervisor", "Up"),
            ("minitgt", "Up"),
            ("mariadb", "Up (healthy)"),
            ("redis", "Up"),
            ("rabbitmq", "Up (healthy)"),
            ("influxdb", "Up"),
        ];
        let services = |list: &[(&str, &str)]| -> Value {
            Value::Array(
                list.iter()
                    .map(|(n, st)| json!({"name": n, "state": st}))
                    .collect(),
            )
        };
        let disk = |mount: &str, total: u64, pct: u64| json!({"mount": mount, "total_bytes": total, "used_bytes": total / 100 * pct});
        let proxy_offline = self.scn == "proxy-offline";
        vec![
            json!({
                "id": "console-1", "kind": "console", "name": "hyperbdr-console",
                "ip": "10.0.0.10", "version": "6.4.0", "online": true,
                "last_heartbeat_at": hb(5), "uptime_seconds": 864_000,
                "services": services(&console_services),
                "unhealthy_containers": if self.scn == "container-restarting" { 1 } else { 0 },
                "rabbitmq_queue_messages": 2,
                "cpu": {"cores": 8, "usage_pct": 34.5},
                "memory": {"total_bytes": 32 * GIB, "used_bytes": 32 * GIB / 100 * 52},
                "disks": [disk("/", 200 * GIB, 41), disk("/opt/installer/production/logs", 50 * GIB, 22)],
                "iscsi_d_state_processes": 0,
                "ports": [{"port": 10443, "healthy": true}, {"port": 30080, "healthy": true}],
            }),
            json!({
                "id": "proxy-1", "kind": "sync_proxy", "name": "ubuntu-ova",
                "ip": "192.168.7.202", "version": "6.4.0", "online": !proxy_offline,
                "last_heartbeat_at": if proxy_offline { hb(7200) } else { hb(12) },
                "uptime_seconds": 432_000,
                "services": services(&[("hamal", "Up")]),
                "unhealthy_containers": 0,
                "iscsi_d_state_processes": 0,
                "cpu": {"cores": 4, "usage_pct": 27.0},
                "memory": {"total_bytes": 8 * GIB, "used_bytes": 8 * GIB / 100 * 45},
                "disks": [disk("/", 50 * GIB, 38)],
                "network": {"rx_bps": 2_000_000, "tx_bps": 64_000_000},
            }),
            json!({
                "id": "gw-1", "kind": "cloud_sync_gateway", "name": "hypergate-01",
                "ip": "172.16.1.5", "version": "6.4.0", "online": true,
                "last_heartbeat_at": hb(8), "uptime_seconds": 1_296_000,
                "services": services(&[
                    ("s3block.service", "active (running)"),
                    ("watchman.service", "active (running)"),
                    ("hyper_exporter.service", "active (running)"),
                ]),
                "iscsi_d_state_processes": 0,
                "cpu": {"cores": 4, "usage_pct": 22.0},
                "memory": {"total_bytes": 8 * GIB, "used_bytes": 8 * GIB / 100 * 40},
                "disks": [disk("/", 50 * GIB, 35)],
                "network": {"rx_bps": 60_000_000, "tx_bps": 1_500_000},
            }),
            json!({
                "id": "agent-lx-1", "kind": "linux_agent", "name": "db01",
                "ip": "192.168.7.11", "version": "6.4.0", "online": true,
                "last_heartbeat_at": hb(20), "uptime_seconds": 2_592_000,
                "services": services(&[("egisplus-agent.service", "active (running)")]),
                "agent": {"service_started": true, "iscsi_started": true, "registered": true,
                          "protected": true, "heartbeat": 305},
                "iscsi_d_state_processes": 0,
                "cpu": {"cores": 16, "usage_pct": 38.0},
                "memory": {"total_bytes": 64 * GIB, "used_bytes": 64 * GIB / 100 * 55},
                "disks": [disk("/", 100 * GIB, 47), disk("/data", 1024 * GIB, 58)],
            }),
            json!({
                "id": "agent-win-1", "kind": "windows_agent", "name": "app02",
                "ip": "192.168.7.141", "version": "6.4.0", "online": true,
                "last_heartbeat_at": hb(25), "uptime_seconds": 1_728_000,
                "services": services(&[("DiskSync-Agent", "active (running)")]),
                "agent": {"service_started": true, "registered": true, "protected": true,
                          "heartbeat_interval_seconds": 50},
                "iscsi_d_state_processes": 0,
                "cpu": {"cores": 8, "usage_pct": 29.0},
                "memory": {"total_bytes": 16 * GIB, "used_bytes": 16 * GIB / 100 * 50},
                "disks": [disk("C:\\", 120 * GIB, 52), disk("D:\\", 500 * GIB, 44)],
            }),
        ]
    }

    pub(super) fn storages(&self, day: u64, since: DateTime<Utc>) -> Vec<Value> {
        let quota = 10 * TIB;
        let (pct, stats_as_of) = match self.scn {
            _ if self.has("bucket-92") => (92.0, self.now - CDuration::minutes(30)),
            "storage-trend" => (
                (70.0 + 6.0 * day as f64).min(100.0),
                since + CDuration::days(day as i64),
            ),
            _ => (55.0, self.now - CDuration::minutes(30)),
        };
        let used = (quota as f64 * pct / 100.0) as u64;
        vec![
            json!({
                "id": "st-obj-1", "type": "objectstorage", "display_name": "huawei-ap-southeast-1",
                "cloud_type": "huawei", "bucket_name": "dr-bkt", "status": "available",
                "quota_bytes": quota, "used_bytes": used,
                "object_count": 1_840_211u64 + day * 61_000,
                "stats_as_of": rfc(stats_as_of),
            }),
            json!({
                "id": "st-blk-1", "type": "HyperGate", "display_name": "hcs-az1-gateway",
                "cloud_type": "huawei", "status": "available",
                "quota_bytes": null, "used_bytes": 2 * TIB,
                "cloud_quota": {
                    "evs_disks": {"limit": 200, "used": 96},
                    "evs_gb": {"limit": 40960, "used": 21000},
                    "snapshots": {"limit": 1000, "used": 520},
                },
            }),
            json!({
                "id": "st-db-1", "type": "database", "display_name": "console-mariadb",
                "status": "available",
                "total_bytes": 100 * GIB, "used_bytes": 30 * GIB,
            }),
        ]
    }

    pub(super) fn cloud_accounts(&self) -> Vec<Value> {
        let mut required_src = vec![
            "ec2:CreateSnapshots",
            "ec2:DescribeSnapshots",
            "ec2:DescribeVolumes",
            "ec2:DescribeInstances",
            "ebs:StartSnapshot",
            "ebs:CompleteSnapshot",
            "ebs:PutSnapshotBlock",
            "ebs:GetSnapshotBlock",
            "ebs:ListChangedBlocks",
            "ebs:ListSnapshotBlocks",
        ];
        let mut granted_src = required_src.clone();
        if self.scn == "permission-missing" {
            granted_src.retain(|p| *p != "ebs:ListChangedBlocks");
        }
        if self.has("iam-wildcard") {
            granted_src.push("iam:*");
        }
        required_src.sort();
        granted_src.sort();
        let created = if self.scn == "key-old" { 120 } else { 30 };
        let expires = if self.scn == "key-expiring" {
            json!(rfc(self.now + CDuration::days(5)))
        } else {
            Value::Null
        };
        let invalid = self.scn == "account-invalid";
        let target = vec![
            "ecs:servers:create",
            "ecs:servers:get",
            "evs:volumes:create",
            "evs:volumes:get",
            "evs:snapshots:create",
            "obs:bucket:ListBucket",
            "obs:object:PutObject",
            "obs:object:GetObject",
        ];
        vec![
            json!({
                "id": "ca-1", "name": "aws-prod-src", "cloud_type": "aws", "cloud_auth_type": "aksk",
                "storage_type": "HyperGate", "region_id": "ap-southeast-1",
                "status": "valid", "display_status": "Valid",
                "last_validated_at": self.ago(3300),
                "metadata": {"access_key_id": "AKIA4SIMEXAMPLE2XYZ", "region_type_list": ["ap-southeast-1"]},
                "credential": {"access_key_id": "AKIA4SIMEXAMPLE2XYZ", "created_at": self.days_ago(created),
                               "expires_at": expires, "last_used_at": self.ago(600)},
                "permissions": {"required": required_src, "granted": granted_src, "unused_90d": []},
            }),
            json!({
                "id": "ca-2", "name": "hcs-target", "cloud_type": "huawei", "cloud_auth_type": "password",
                "storage_type": "objectstorage", "region_id": "ap-southeast-1",
                "status": if invalid { "invalid" } else { "valid" },
                "display_status": if invalid { "Authentication failed" } else { "Valid" },
                "last_validated_at": self.ago(3300),
                "metadata": {"auth_url": "https://iam.ap-southeast-1.myhuaweicloud.com/v3",
                             "username": "dr-ops", "user_domain_id": "0b8a3c"},
                "credential": {"created_at": self.days_ago(30),
                               "expires_at": rfc(self.now + CDuration::days(300)),
                               "last_used_at": self.ago(900)},
                "permissions": {"required": target, "granted": target, "unused_90d": []},
            }),
        ]
    }

    pub(super) fn licenses(&self) -> Vec<Value> {
        vec![json!({
            "id": "lic-1", "type": "dr", "display_type": "Disaster Recovery",
            "status": "valid", "display_status": "Valid",
            "total_quota": 50, "used_quota": 4,
            "activated_at": self.days_ago(65),
            "expires_at": rfc(self.now + CDuration::days(300)),
        })]
    }

    pub(super) fn tunnels(&self) -> Vec<Value> {
        let sub2 = if self.scn == "subtunnel-down" {
            "DOWN"
        } else {
            "UP"
        };
        let latency = if self.scn == "latency-high" {
            140.0
        } else {
            20.0
        };
        vec![
            json!({
                "id": "vpn-1", "kind": "vpn", "name": "idc-to-hwcloud", "storage_mode": "block",
                "status": "UP", "last_status_change": self.days_ago(40), "status_message": "",
                "latency_ms": latency, "packet_loss_pct": 0.1, "bandwidth_bps": 200_000_000u64,
                "peer": "100.64.1.9",
                "sub_tunnels": [{"outside_ip": "203.0.113.4", "status": "UP"},
                                {"outside_ip": "203.0.113.5", "status": sub2}],
            }),
            json!({
                "id": "vpn-2", "kind": "vpn", "name": "idc-to-obs", "storage_mode": "object",
                "status": "UP", "last_status_change": self.days_ago(40), "status_message": "",
                "latency_ms": 20.0, "packet_loss_pct": 0.1, "bandwidth_bps": 200_000_000u64,
                "peer": "100.64.2.9",
                "sub_tunnels": [{"outside_ip": "203.0.113.6", "status": "UP"},
                                {"outside_ip": "203.0.113.7", "status": "UP"}],
            }),
        ]
    }

    /// 24 h of 5-minute samples. The policies sync every 15 min (pol-15m) and hourly
    /// (pol-1h): a point is in a backup window when a sync started within the last 10 min
    /// of its slot (minute % 15 < 10).
    pub(super) fn throughput(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Vec<Value> {
        let step = 300i64;
        let end = self.now - CDuration::seconds(self.now.timestamp() % step);
        let start = end - CDuration::hours(24);
        let mut proxy = Vec::new();
        let mut gw = Vec::new();
        let mut k = 0i64;
        let mut t = start;
        while t < end {
            let minute = t.with_timezone(&self.tz).minute();
            let window = minute % 15 < 10;
            let saturated = self.scn == "link-saturated"
                && t >= end - CDuration::hours(5)
                && t < end - CDuration::hours(3);
            let jitter = ((k * 7919) % 100) as u64; // 0..99
            let (tx, in_window) = if saturated {
                (190_000_000u64, true)
            } else if window {
                (60_000_000 + jitter * 300_000, true) // 30 %..45 % of 200 Mbps
            } else {
                (3_000_000 + jitter * 20_000, false)
            };
            let keep = from.is_none_or(|f| t >= f) && to.is_none_or(|x| t <= x);
            if keep {
                proxy.push(
                    json!({"t": rfc(t), "tx_bps": tx, "rx_bps": 1_000_000 + jitter * 10_000,
                                  "backup_window": in_window}),
                );
                gw.push(json!({"t": rfc(t), "tx_bps": 1_000_000 + jitter * 5_000,
                               "rx_bps": tx.saturating_sub(2_000_000), "backup_window": in_window}));
            }
            t += CDuration::seconds(step);
            k += 1;
        }
        let windows = json!([
            {"policy_id": "pol-15m", "cron": "*/15 * * * *", "tz": self.tz.name(), "transfer_minutes": 10},
            {"policy_id": "pol-1h", "cron": "0 * * * *", "tz": self.tz.name(), "transfer_minutes": 10},
        ]);
        vec![
            json!({"resource_id": "proxy-1", "resource_type": "sync_proxy", "step_seconds": step,
                   "link_bandwidth_bps": 200_000_000u64, "speed_limit_bps": 150_000_000u64,
                   "backup_windows": windows, "points": proxy}),
            json!({"resource_id": "gw-1", "resource_type": "cloud_sync_gateway", "step_seconds": step,
                   "link_bandwidth_bps": 1_000_000_000u64, "speed_limit_bps": null,
                   "backup_windows": windows, "points": gw}),
        ]
    }

    pub(super) fn policies(&self) -> Vec<Value> {
        let tz = self.tz.name();
        let retention =
            json!({"max_snapshots": 128, "keep_weekly_weeks": 52, "keep_monthly_months": 24});
        let mut p15 = json!({
            "id": "pol-15m", "name": "tier1-15m", "status": "enabled",
            "sync": {
                "incremental": {"type": "cron", "expr": "*/15 * * * *", "tz": tz, "interval_seconds": 900},
                "full": {"type": "cron", "expr": "10 0 1 * *", "tz": tz, "interval_seconds": 2_678_400},
            },
            "last_full_sync_at": self.days_ago(12),
            "speed_limit": [{"days": "1-5", "window": "09:00-18:00", "mbps": 150}],
            "retention": retention,
            "host_ids": ["h-001", "h-002"],
            "updated_at": self.days_ago(60),
            "last_reviewed_at": self.days_ago(10),
        });
        if self.scn == "policy-no-full"
            && let Some(sync) = p15["sync"].as_object_mut()
        {
            sync.remove("full");
            p15["last_full_sync_at"] = Value::Null;
        }
        let hosts_1h: Vec<String> = self
            .host_specs()
            .iter()
            .filter(|h| h.policy_id == "pol-1h")
            .map(|h| h.id.clone())
            .collect();
        let p1h = json!({
            "id": "pol-1h", "name": "tier2-hourly", "status": "enabled",
            "sync": {
                "incremental": {"type": "cron", "expr": "0 * * * *", "tz": tz, "interval_seconds": 3600},
                "full": {"type": "cron", "expr": "30 1 * * 0", "tz": tz, "interval_seconds": 604_800},
            },
            "last_full_sync_at": self.days_ago(3),
            "speed_limit": [],
            "retention": retention,
            "host_ids": hosts_1h,
            "updated_at": self.days_ago(45),
            "last_reviewed_at": self.days_ago(10),
        });
        vec![p15, p1h]
    }

    pub(super) fn alerts(&self) -> Vec<Value> {
        let mut v = vec![json!({
            "id": "al-1", "alarm_name": "CPU usage", "alarm_type": "resource",
            "resource_type": "sync_proxy", "resource_name": "ubuntu-ova", "severity": "info",
            "status": "processed", "occurred_at": self.ago(6 * 3600),
            "description": "CPU >= 70 % for 5 min",
        })];
        if self.scn == "critical-alert" {
            v.insert(
                0,
                json!({
                    "id": "al-2", "alarm_name": "Sync host", "alarm_type": "event",
                    "resource_type": "dr_host", "resource_name": "app02", "severity": "critical",
                    "status": "unprocessed", "occurred_at": self.ago(1200),
                    "description": "Sync host result Failure",
                }),
            );
        }
        v
    }

    pub(super) fn events(&self) -> Vec<Value> {
        (0..6)
            .map(|i| {
                json!({
                    "id": format!("ev-{}", 100 + i), "name": "Login", "resource_type": "user",
                    "resource_name": "ops", "result": "success", "source_ip": "192.168.7.8",
                    "description": "user ops logged in",
                    "occurred_at": self.ago(1800 + i * 4 * 3600),
                })
            })
            .collect()
    }

    pub(super) fn drills(&self) -> Vec<Value> {
        self.host_specs()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let days = if h.id == "h-001" && self.scn == "drill-overdue" {
                    200
                } else {
                    20
                };
                let started = self.now - CDuration::days(days) - CDuration::seconds(i as i64 * 900);
                json!({
                    "id": format!("dr-{}", i + 1), "host_id": h.id,
                    "snapshot_id": format!("snap-{}", (i + 1) * 10_000 + 1),
                    "started_at": rfc(started), "booted_at": rfc(started + CDuration::seconds(412)),
                    "rto_seconds": 412, "rto_target_seconds": 600,
                    "validation": {"status": "SUCCESSFUL", "checks": [
                        {"kind": "tcp", "target": format!("{}:22", h.ip), "ok": true},
                        {"kind": "ping", "ok": true},
                    ]},
                    "cleaned": true,
                })
            })
            .collect()
    }
}
