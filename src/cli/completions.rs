//! `patrol completions SHELL` and `patrol man`: generated from the clap definitions, so they
//! never drift from the real command line.

use clap::CommandFactory;
use clap_complete::Shell;

/// Prints the completion script of `shell` on stdout.
pub fn completions(shell: Shell) -> anyhow::Result<u8> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(shell, &mut cmd, "patrol", &mut std::io::stdout());
    Ok(0)
}
