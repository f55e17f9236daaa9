//! How far a long command (backup, restore, copy) is: a bar on a terminal, lines otherwise (a
//! log, a pipe), nothing with `--quiet`. Always on standard error: standard output is the
//! result.

use std::io::{self, IsTerminal};

use indicatif::{ProgressBar, ProgressStyle};

/// Where a long command says how far it is.
pub struct Progress {
    quiet: bool,
    terminal: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress {
            quiet,
            terminal: io::stderr().is_terminal(),
        }
    }

    pub fn say(&self, line: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", line.as_ref());
        }
    }

    /// Counts `total` steps of `what`.
    pub fn counter(&self, what: &str, total: u64) -> Counter {
        let bar = (!self.quiet && self.terminal).then(|| {
            let bar = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} {eta}") {
                bar.set_style(style);
            }
            bar.set_message(what.to_string());
            bar
        });
        Counter {
            what: what.to_string(),
            total,
            done: 0,
            lines: !self.quiet && !self.terminal,
            bar,
        }
    }
}

/// One count of [`Progress`]: a bar, or a line at every tenth of the way.
pub struct Counter {
    what: String,
    total: u64,
    done: u64,
    lines: bool,
    bar: Option<ProgressBar>,
}

impl Counter {
    pub fn step(&mut self) {
        self.done += 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
        } else if self.lines
            && (self.done * 10 / self.total.max(1)) > ((self.done - 1) * 10 / self.total.max(1))
        {
            eprintln!("{}: {} of {}", self.what, self.done, self.total);
        }
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
