//! `system` probe: CPU, memory, swap, load and uptime of the machine patrol runs on.
//! Without options it is written `system: {}`.
//!
//! Observation:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `cpu_count` | int | logical CPUs |
//! | `cpu_percent` | float | busy share of all CPUs over `cpu_sample`, 0–100 |
//! | `memory.total_bytes` | int | physical memory |
//! | `memory.used_bytes` | int | total minus available |
//! | `memory.available_bytes` | int | memory that can be given to programs without swapping |
//! | `memory.used_percent` | float | used / total × 100 |
//! | `swap.total_bytes` | int | swap space (0 without swap) |
//! | `swap.used_bytes` | int | swap in use |
//! | `swap.used_percent` | float | used / total × 100 (0 without swap) |
//! | `load.one`, `load.five`, `load.fifteen` | float | load averages |
//! | `load_per_cpu.one`, `.five`, `.fifteen` | float | load averages divided by `cpu_count` |
//! | `uptime_secs` | int | seconds since boot |
//!
//! Default verdict: OK, with every number above as a metric (`cpu_percent`,
//! `memory.used_percent`, `load_per_cpu.five`, ...).

use super::{Probe, ProbeContext, ProbeError, ProbeOutput};
use crate::config::Dur;
use crate::status::Verdict;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use sysinfo::System;

/// Configuration of the `system` probe.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemProbe {
    /// How long CPU use is measured (at least 200ms; never longer than the check's timeout).
    /// At most 60s.
    #[serde(
        default = "default_cpu_sample",
        deserialize_with = "crate::config::bounds::sample"
    )]
    pub cpu_sample: Dur,
}

impl Default for SystemProbe {
    fn default() -> SystemProbe {
        SystemProbe {
            cpu_sample: default_cpu_sample(),
        }
    }
}

fn default_cpu_sample() -> Dur {
    Dur(Duration::from_millis(500))
}

fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part * 100.0 / whole
    } else {
        0.0
    }
}

fn sample(cpu_sample: Duration) -> Result<serde_json::Value, ProbeError> {
    let failed = |what: &str, e: sysinfo::Error| ProbeError::Failed(format!("{what}: {e}"));
    let mut sys = System::new().map_err(|e| failed("cannot read system information", e))?;
    // CPU use is a difference between two readings.
    sys.refresh_cpu_usage();
    std::thread::sleep(cpu_sample);
    sys.refresh_cpu_usage();
    sys.refresh_memory();

    let cpu_count = match sys.cpus().len() {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let load = System::load_average().map_err(|e| failed("cannot read load average", e))?;
    let uptime = System::uptime().map_err(|e| failed("cannot read uptime", e))?;
    let (total, available) = (sys.total_memory(), sys.available_memory());
    let used = total.saturating_sub(available);
    let (swap_total, swap_used) = (sys.total_swap(), sys.used_swap());
    let per_cpu = |l: f64| l / cpu_count as f64;
    Ok(json!({
        "cpu_count": cpu_count,
        "cpu_percent": f64::from(sys.global_cpu_usage()).clamp(0.0, 100.0),
        "memory": {
            "total_bytes": total,
            "used_bytes": used,
            "available_bytes": available,
            "used_percent": percent(used as f64, total as f64),
        },
        "swap": {
            "total_bytes": swap_total,
            "used_bytes": swap_used,
            "used_percent": percent(swap_used as f64, swap_total as f64),
        },
        "load": { "one": load.one, "five": load.five, "fifteen": load.fifteen },
        "load_per_cpu": {
            "one": per_cpu(load.one),
            "five": per_cpu(load.five),
            "fifteen": per_cpu(load.fifteen),
        },
        "uptime_secs": uptime,
    }))
}

/// Every number of the observation, as `a.b` → value.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Verdict) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&name, v, out);
            }
        }
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64() {
                out.metrics.insert(prefix.to_string(), f);
            }
        }
        _ => {}
    }
}

impl Probe for SystemProbe {
    fn kind(&self) -> &'static str {
        "system"
    }
    fn run<'a>(
        &'a self,
        ctx: &'a ProbeContext<'a>,
    ) -> BoxFuture<'a, Result<ProbeOutput, ProbeError>> {
        Box::pin(async move {
            let cpu_sample = self
                .cpu_sample
                .as_duration()
                .max(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL)
                .min(ctx.timeout / 2);
            let observation = tokio::task::spawn_blocking(move || sample(cpu_sample))
                .await
                .map_err(|e| ProbeError::Failed(format!("internal error: {e}")))??;
            let num = |ptr: &str| {
                observation
                    .pointer(ptr)
                    .and_then(serde_json::Value::as_f64)
                    .unwrap_or(0.0)
            };
            let mut verdict = Verdict::ok(format!(
                "CPU {:.0}%, memory {:.0}% used, load {:.2} {:.2} {:.2} on {} CPUs",
                num("/cpu_percent"),
                num("/memory/used_percent"),
                num("/load/one"),
                num("/load/five"),
                num("/load/fifteen"),
                num("/cpu_count"),
            ));
            flatten("", &observation, &mut verdict);
            Ok(ProbeOutput {
                observation,
                verdict,
                state: None,
            })
        })
    }
}
