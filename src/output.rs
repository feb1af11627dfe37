//! The only code that prints: data to stdout, messages and progress to stderr.

use std::io::Write;

/// Writes command output. Data (reports, JSON) goes to stdout so it can be piped; messages,
/// progress and errors go to stderr.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub color: bool,
}

impl Printer {
    pub fn new() -> Self {
        use std::io::IsTerminal;
        let color =
            std::env::var_os(crate::env::NO_COLOR).is_none() && std::io::stderr().is_terminal();
        Printer { color }
    }

    /// Data for stdout.
    pub fn data(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
    }

    /// A message for the user, on stderr.
    pub fn info(&self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }

    /// A warning, on stderr.
    pub fn warn(&self, text: &str) {
        let label = if self.color {
            "\x1b[33mwarning\x1b[0m"
        } else {
            "warning"
        };
        let _ = writeln!(std::io::stderr().lock(), "{label}: {text}");
    }

    /// An error with its causes and a hint, on stderr.
    pub fn error(&self, err: &(dyn std::error::Error + 'static), hint: Option<&str>) {
        let label = if self.color {
            "\x1b[31merror\x1b[0m"
        } else {
            "error"
        };
        let mut msg = format!("{label}: {err}");
        let mut shown = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            // Some errors repeat their cause in their own text ("error returned from
            // database: X", then X): a cause already said is not said again.
            let text = s.to_string();
            if !shown.contains(&text) {
                msg.push_str(&format!("\n  caused by: {text}"));
            }
            shown = text;
            source = s.source();
        }
        if let Some(h) = hint {
            msg.push_str(&format!("\n  hint: {h}"));
        }
        let _ = writeln!(std::io::stderr().lock(), "{msg}");
    }
}

impl Default for Printer {
    fn default() -> Self {
        Self::new()
    }
}

/// Progress of a long command: an indicatif bar on a terminal, plain periodic lines otherwise
/// (CI logs), always on stderr.
pub struct ProgressLine {
    bar: Option<indicatif::ProgressBar>,
    last: std::time::Instant,
    every: std::time::Duration,
}

impl Printer {
    /// Starts reporting progress towards `total`, beginning at `done`.
    pub fn progress(&self, total: u64, done: u64) -> ProgressLine {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            let style = indicatif::ProgressStyle::with_template(
                "{bar:30.cyan/blue} {pos}/{len} · {per_sec} · ETA {eta} · {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_position(done);
            bar
        });
        ProgressLine {
            bar,
            last: std::time::Instant::now(),
            every: std::time::Duration::from_secs(5),
        }
    }
}

impl ProgressLine {
    /// Shows `done` of the total with a short status such as the cost so far.
    pub fn update(&mut self, done: u64, total: u64, status: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
                bar.set_message(status.to_string());
            }
            None => {
                if self.last.elapsed() >= self.every || done == total {
                    self.last = std::time::Instant::now();
                    let _ = writeln!(std::io::stderr().lock(), "  {done}/{total} · {status}");
                }
            }
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
