//! A loaded configuration with its rules compiled: what `run`, `validate` and the daemon use.

use crate::alert::channel::Channel;
use crate::config::{self, Check, Config, Diagnostic, RuleRef};
use crate::rule::{CompiledRule, RuleEngine, RuleError};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Configuration + one rule engine + every check's compiled rule.
pub struct App {
    pub config: Config,
    pub engine: Arc<RuleEngine>,
    /// Compiled rule of each check that has one, by check id.
    pub rules: HashMap<String, Arc<CompiledRule>>,
    /// The notification channels, by name.
    pub channels: HashMap<String, Arc<dyn Channel>>,
}

impl App {
    /// Reads the configuration and compiles every rule. Returns the usable part and every
    /// problem found (checks with problems are left out); `Err` only when the root config
    /// itself cannot be used.
    pub fn load(path: &Path) -> Result<(App, Vec<Diagnostic>), Vec<Diagnostic>> {
        let config::Loaded {
            mut config,
            mut problems,
        } = config::load(path)?;
        // Rules' `print` output is masked like everything else that leaves a run.
        let engine = Arc::new(RuleEngine::with_redactor(
            &config.root.rule_limits,
            config.redactor.clone(),
        ));
        // A refused console login is remembered next to the store, so the next `patrol run`
        // does not try the same credentials again before the back-off ends.
        crate::hyperbdr::session::set_guard_file(Some(crate::hyperbdr::session::guard_file_for(
            &config.store_path(),
        )));

        // Every rule file is compiled, used or not, so `validate` reports all syntax errors.
        let mut named: HashMap<String, Arc<CompiledRule>> = HashMap::new();
        for (name, src) in &config.rules {
            match engine.compile(name, &src.source, &src.path, 0) {
                Ok(rule) => {
                    named.insert(name.clone(), Arc::new(rule));
                }
                Err(e) => problems.push(rule_diagnostic(e)),
            }
        }

        let mut rules = HashMap::new();
        let mut usable: Vec<Arc<Check>> = Vec::new();
        for check in &config.checks {
            match &check.rule {
                None => usable.push(check.clone()),
                Some(RuleRef::Named(name)) => {
                    // A rule that failed to compile has been reported already.
                    if let Some(rule) = named.get(name) {
                        rules.insert(check.id.clone(), rule.clone());
                        usable.push(check.clone());
                    }
                }
                Some(RuleRef::Inline {
                    script,
                    file,
                    line_offset,
                }) => match engine.compile(&check.id, script, file, *line_offset) {
                    Ok(rule) => {
                        rules.insert(check.id.clone(), Arc::new(rule));
                        usable.push(check.clone());
                    }
                    Err(e) => problems.push(rule_diagnostic(e)),
                },
            }
        }
        config.checks = usable;
        let (channels, channel_problems) = crate::alert::channel::build_channels(&config);
        problems.extend(channel_problems);
        problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        Ok((
            App {
                config,
                engine,
                rules,
                channels,
            },
            problems,
        ))
    }
}

fn rule_diagnostic(e: RuleError) -> Diagnostic {
    Diagnostic::new(e.file, e.line, e.column, e.message)
}
