//! Progress of pull, push and create streams, on stderr as Ollama's CLI shows it: on a
//! terminal a spinner for each status (`pulling manifest ⠋`, stopped when the next one
//! comes) and a bar for each layer (`pulling 8eeb52dfb3bb:  45% ▕████      ▏ 900 MB/2.0 GB
//! 50 MB/s  20s`); elsewhere (a log, a pipe) plain lines, one per status and one when a
//! layer completes (and every few seconds while a long one runs), never escape codes.

pub mod bar;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::client::Lines;
use super::wire::Progress;
use super::CliError;
use bar::Meter;

/// Ollama redraws every 100 ms; so do the spinners and bars here.
const REDRAW: Duration = Duration::from_millis(100);

/// Without a terminal, a running bar is written out at most this often: a log shows that
/// a long download moves, in tens of lines, not thousands.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

const SPINNER: [&str; 11] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏", " "];

/// Shows a pull/push/create progress stream until its end; an error line ends it as `Err`
/// (what was drawn is left in place, as Ollama leaves it, and the caller prints the error).
pub async fn follow(lines: Lines) -> Result<(), CliError> {
    let mut display = Display::stderr();
    follow_on(&mut display, lines, Layers::Other("pulling")).await
}

/// How a stream's layer lines become bars.
#[derive(Debug, Clone, Copy)]
pub enum Layers {
    /// `/api/pull`: labelled `pulling <12 hex>:`; the first line of each layer (nothing
    /// received yet) is not drawn, as Ollama skips it so a 0% bar does not sit there.
    Pull,
    /// `/api/create`, `/api/push`: labelled with the line's status, or `<verb> <12 hex>...`
    /// when it has none.
    Other(&'static str),
}

/// Follows `lines` onto `display` until the stream ends (for a caller that showed more on
/// the same display first, e.g. `create`'s upload of a blob); the display is left running.
pub async fn follow_on(
    display: &mut Display,
    mut lines: Lines,
    layers: Layers,
) -> Result<(), CliError> {
    while let Some(line) = lines.next().await {
        let p: Progress =
            serde_json::from_value(line?).map_err(|e| CliError::Protocol(e.to_string()))?;
        display.show(&p, layers);
    }
    Ok(())
}

/// Ollama's `progress.Progress`: the lines of one command's progress, drawn on stderr.
/// Dropping it stops it, leaving what was drawn.
pub struct Display {
    /// `None` when stderr is not a terminal: plain lines.
    multi: Option<MultiProgress>,
    status: String,
    spinner: Option<ProgressBar>,
    /// The layers' bars by digest.
    bars: HashMap<String, ByteBar>,
    /// Every bar, layers' and callers', for [`stop`](Self::stop).
    every: Vec<ByteBar>,
    stopped: bool,
}

impl Display {
    /// A display on stderr: drawn when stderr is a terminal (and `TERM` is not `dumb`).
    pub fn stderr() -> Self {
        let target = ProgressDrawTarget::stderr_with_hz(20);
        let multi = match target.is_hidden() {
            true => None,
            false => Some(MultiProgress::with_draw_target(target)),
        };
        Self {
            multi,
            status: String::new(),
            spinner: None,
            bars: HashMap::new(),
            every: Vec::new(),
            stopped: false,
        }
    }

    /// Whether this display draws on a terminal (else it writes plain lines).
    pub fn is_drawn(&self) -> bool {
        self.multi.is_some()
    }

    /// One line of a progress stream.
    pub fn show(&mut self, p: &Progress, layers: Layers) {
        if p.digest.is_empty() {
            self.status(&p.status);
            return;
        }
        if matches!(layers, Layers::Pull) && p.completed == 0 {
            return;
        }
        self.stop_spinner();
        if let Some(bar) = self.bars.get(&p.digest) {
            bar.set(p.completed);
            return;
        }
        // `sha256:<64 hex>` is shown by its first 12 hex digits, anything else whole.
        let short: String = match p.digest.strip_prefix("sha256:") {
            Some(hex) => hex.trim().chars().take(12).collect(),
            None => p.digest.trim().to_string(),
        };
        let label = match layers {
            Layers::Pull => format!("pulling {short}:"),
            Layers::Other(_) if !p.status.is_empty() => p.status.clone(),
            Layers::Other(verb) => format!("{verb} {short}..."),
        };
        let bar = self.bar(&label, p.total, p.completed);
        self.bars.insert(p.digest.clone(), bar);
    }

    /// A status line: a new spinner (the last one stops) when it differs from the last.
    pub fn status(&mut self, status: &str) {
        if status == self.status {
            return;
        }
        self.stop_spinner();
        self.status = status.to_string();
        match &self.multi {
            None => eprintln!("{}", status.trim()),
            Some(multi) => {
                let style = ProgressStyle::with_template("{msg} {spinner} ")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner())
                    .tick_strings(&SPINNER);
                let spinner = hidden(None)
                    .with_style(style)
                    .with_message(status.trim().to_string());
                let spinner = multi.add(spinner);
                spinner.enable_steady_tick(REDRAW);
                self.spinner = Some(spinner);
            }
        }
    }

    /// A new bar of `total` bytes, `completed` of them there already, labelled `label`
    /// (e.g. `pulling 8eeb52dfb3bb:`); it stops the spinner. Drive it with
    /// [`ByteBar::set`]; it completes when it reaches `total`.
    pub fn bar(&mut self, label: &str, total: u64, completed: u64) -> ByteBar {
        self.stop_spinner();
        let completed = completed.min(total);
        let label = label.trim().to_string();
        let inner = match &self.multi {
            None => Inner::Plain(Mutex::new(Plain {
                label,
                total,
                printed: Instant::now(),
                done: false,
            })),
            Some(multi) => {
                // Set up before it is added: adding draws it, and a 0% bar or an empty
                // label would flash.
                let bar = hidden(Some(total))
                    .with_style(bar_style(completed))
                    .with_message(label)
                    .with_position(completed);
                let bar = multi.add(bar);
                bar.enable_steady_tick(REDRAW);
                Inner::Drawn(bar)
            }
        };
        let bar = ByteBar(Arc::new(inner));
        bar.set(completed);
        self.every.push(bar.clone());
        bar
    }

    /// Stops every spinner and bar, leaving them drawn as they are (Ollama's `Stop`).
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.stop_spinner();
        for bar in &self.every {
            bar.stop();
        }
    }

    fn stop_spinner(&mut self) {
        if let Some(spinner) = self.spinner.take() {
            spinner.finish();
        }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A bar not drawn anywhere until a [`MultiProgress`] takes it.
fn hidden(len: Option<u64>) -> ProgressBar {
    ProgressBar::with_draw_target(len, ProgressDrawTarget::hidden())
}

/// `{msg} {pct}% ▕{bar}▏ {stats}`: Ollama's bar, the stats computed as its are.
fn bar_style(initial: u64) -> ProgressStyle {
    let style = ProgressStyle::with_template("{msg} {pct}% ▕{wide_bar}▏ {stats}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    style
        .progress_chars("█ ")
        .with_key(
            "pct",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let total = state.len().unwrap_or(0);
                let _ = w.write_str(&bar::percent_column(state.pos(), total));
            },
        )
        .with_key("stats", Stats(Meter::new(initial, Instant::now())))
}

/// The stats column, with the samples its rate is computed from.
#[derive(Clone)]
struct Stats(Meter);

impl indicatif::style::ProgressTracker for Stats {
    fn clone_box(&self) -> Box<dyn indicatif::style::ProgressTracker> {
        Box::new(self.clone())
    }

    fn tick(&mut self, state: &ProgressState, now: Instant) {
        self.0.record(state.pos(), now);
    }

    fn reset(&mut self, _state: &ProgressState, _now: Instant) {}

    fn write(&self, state: &ProgressState, w: &mut dyn std::fmt::Write) {
        let total = state.len().unwrap_or(0);
        let _ = w.write_str(&bar::stats(state.pos(), total, self.0.rate()));
    }
}

/// A bar of N bytes on a [`Display`] (cheap to clone: the clones drive the same bar).
#[derive(Clone)]
pub struct ByteBar(Arc<Inner>);

enum Inner {
    Drawn(ProgressBar),
    Plain(Mutex<Plain>),
}

struct Plain {
    label: String,
    total: u64,
    printed: Instant,
    done: bool,
}

impl ByteBar {
    /// `completed` bytes of the bar's total are there now.
    pub fn set(&self, completed: u64) {
        match &*self.0 {
            Inner::Drawn(bar) => {
                if bar.is_finished() {
                    return;
                }
                let total = bar.length().unwrap_or(0);
                bar.set_position(completed.min(total));
                if completed >= total {
                    bar.finish();
                }
            }
            Inner::Plain(plain) => {
                let mut p = plain.lock().unwrap_or_else(PoisonError::into_inner);
                if p.done {
                    return;
                }
                if completed >= p.total {
                    p.done = true;
                    eprintln!("{}", bar::plain_line(&p.label, p.total, p.total));
                } else if p.printed.elapsed() >= PLAIN_EVERY {
                    p.printed = Instant::now();
                    eprintln!("{}", bar::plain_line(&p.label, completed, p.total));
                }
            }
        }
    }

    /// Leaves the bar as it is, unfinished (an interrupted or failed transfer).
    fn stop(&self) {
        if let Inner::Drawn(bar) = &*self.0 {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}
