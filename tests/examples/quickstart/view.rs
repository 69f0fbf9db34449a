//! What the demo shows: on a terminal, a compact live view redrawn in place; otherwise plain
//! timestamped lines, one per step and per change of ownership or leadership.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use tokio::time::Instant;

use crate::record::{Fact, Record};

pub struct View {
    start: Instant,
    live: bool,
    step: String,
    notes: Vec<String>,
    printed_facts: usize,
}

impl View {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            live: std::io::stdout().is_terminal() && std::env::var_os("NO_LIVE_VIEW").is_none(),
            step: String::new(),
            notes: Vec::new(),
            printed_facts: 0,
        }
    }

    fn stamp(&self, at: Instant) -> String {
        format!("{:6.2}s", at.duration_since(self.start).as_secs_f64())
    }

    /// A new step of the story.
    pub fn step(&mut self, text: &str) {
        self.step = text.to_owned();
        let line = format!("{} == {text}", self.stamp(Instant::now()));
        self.notes.push(line.clone());
        if !self.live {
            println!("{line}");
        }
    }

    /// A remark about the current step.
    pub fn note(&mut self, text: &str) {
        let line = format!("{}    {text}", self.stamp(Instant::now()));
        self.notes.push(line.clone());
        if !self.live {
            println!("{line}");
        }
    }

    /// Shows what changed since the last call (plain mode) or redraws the screen (live mode).
    pub fn refresh(
        &mut self,
        record: &Record,
        ensemble: &[String],
        workers: &[(String, Vec<String>)],
    ) {
        let facts = record.facts();
        if !self.live {
            for (at, worker, fact) in &facts[self.printed_facts.min(facts.len())..] {
                let what = match fact {
                    Fact::Own { unit, token } => {
                        format!("{worker} starts {unit} (token {token:#x})")
                    }
                    Fact::Disown { unit, reason } => format!("{worker} stops {unit} ({reason})"),
                    Fact::Lead { token } => format!("{worker} is the leader (token {token:#x})"),
                    Fact::Unlead => format!("{worker} is no longer the leader"),
                    Fact::Acked { .. } => continue,
                };
                println!("{}    {what}", self.stamp(*at));
            }
            self.printed_facts = facts.len();
            return;
        }
        let mut out = String::from("\x1b[H\x1b[2J");
        out.push_str(&format!(
            "zk-rs quickstart  {}   {}\n\n",
            self.stamp(Instant::now()),
            self.step
        ));
        out.push_str(&format!(
            "ZooKeeper (zk-server-mini): {}\n",
            ensemble.join(", ")
        ));
        match record.leader() {
            Some((leader, token)) => {
                out.push_str(&format!("leader: {leader} (token {token:#x})\n"))
            }
            None => out.push_str("leader: (electing)\n"),
        }
        out.push_str(&format!(
            "acknowledged writes: {}\n\n",
            record.acked().len()
        ));
        for (id, units) in workers {
            out.push_str(&format!(
                "{id:<9} {:>2} units  {}\n",
                units.len(),
                units.join(" ")
            ));
        }
        out.push('\n');
        let start = self.notes.len().saturating_sub(8);
        for note in &self.notes[start..] {
            out.push_str(note);
            out.push('\n');
        }
        print!("{out}");
        let _ = std::io::stdout().flush();
    }

    /// Leaves the live screen as it is and prints the remaining notes in plain form.
    pub fn finish(&mut self) {
        if self.live {
            println!();
        }
        self.live = false;
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}
