//! `patrol man`: the man page (roff), from the clap definitions. With `--dir`, one page per
//! subcommand as well (`patrol-daemon.1` ...), ready for `/usr/share/man/man1`.

use clap::CommandFactory;
use std::path::Path;

pub fn man(dir: Option<&Path>) -> anyhow::Result<u8> {
    let cmd = super::Cli::command();
    match dir {
        None => {
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            clap_mangen::generate_to(cmd, dir)?;
            let mut names: Vec<String> = std::fs::read_dir(dir)?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".1"))
                .collect();
            names.sort();
            for n in names {
                println!("{}", dir.join(n).display());
            }
        }
    }
    Ok(0)
}
