//! The report as markdown for PR comments, in parts of a bounded size.
//!
//! Each part is complete markdown: a code block never spans parts (a diff too long for one
//! part goes on in a new block), and a collapsible section cut by a part is closed and
//! opened again in the next.

use std::fmt::Write as _;

use super::DiffReport;
use super::format::{self, plural};

/// The smallest part size [`DiffReport::markdown`] writes (a smaller limit is raised to it).
pub const MIN_PART_BYTES: usize = 1024;

/// Room kept in every part for its `<!-- kiln diff part N/M -->` line.
const HEADER_ROOM: usize = 48;

/// Release names listed in a row of the summary table before "and N more" (each release
/// is listed in full in the sections below).
const TABLE_NAMES: usize = 10;

/// Release names listed in a section's one-line summary before "and N more".
const SUMMARY_NAMES: usize = 3;

const CLOSE: &str = "</details>\n\n";

pub(super) fn parts(report: &DiffReport, max_bytes: usize) -> Vec<String> {
    let mut p = Pager::new(max_bytes - HEADER_ROOM);
    p.text(&format!("### kiln diff: {}\n\n", format::headline(report)));

    // One row per status and counts: a base change over a fleet is one row.
    let mut rows: Vec<(String, String, Vec<&str>)> = Vec::new();
    for rel in report
        .releases
        .iter()
        .filter(|r| r.status != super::ReleaseStatus::Failed)
    {
        let (status, counts) = (rel.status.as_str().to_string(), format::counts(rel));
        match rows.iter_mut().find(|r| r.0 == status && r.1 == counts) {
            Some(row) => row.2.push(&rel.name),
            None => rows.push((status, counts, vec![&rel.name])),
        }
    }
    if !rows.is_empty() {
        p.text("| releases | status | resources |\n|---|---|---|\n");
        for (status, counts, names) in &rows {
            p.text(&format!(
                "| {} | {status} | {counts} |\n",
                name_list(names, TABLE_NAMES)
            ));
        }
        p.text("\n");
    }

    let failed: Vec<_> = report
        .releases
        .iter()
        .filter(|r| r.status == super::ReleaseStatus::Failed)
        .collect();
    if !failed.is_empty() {
        p.text(&format!(
            "**{} {} failed to render:**\n\n",
            failed.len(),
            plural(failed.len(), "release")
        ));
        for rel in failed {
            p.text(&format!("- `{}`\n\n", rel.name));
            p.code("text", rel.error.as_deref().unwrap_or_default());
        }
    }

    for s in format::sections(report) {
        let n = s.releases.len();
        let mut summary = format!("<b>{n} {}</b>: ", plural(n, "release"));
        let shown: Vec<String> = s
            .releases
            .iter()
            .take(SUMMARY_NAMES)
            .map(|r| html_escape(r))
            .collect();
        summary.push_str(&shown.join(", "));
        if n > SUMMARY_NAMES {
            let _ = write!(summary, " and {} more", n - SUMMARY_NAMES);
        }
        let _ = write!(
            summary,
            " ({} {})",
            s.groups.len(),
            plural(s.groups.len(), "change")
        );
        p.open(&summary);
        if n > SUMMARY_NAMES {
            let list: Vec<String> = s.releases.iter().map(|r| format!("`{r}`")).collect();
            p.text(&format!("Releases: {}\n\n", list.join(", ")));
        }
        for g in &s.groups {
            p.text(&format!(
                "**{}** {}\n\n",
                format::title(g),
                g.diff.status.as_str()
            ));
            p.code("diff", &g.text);
        }
        p.close();
    }
    p.finish()
}

/// `` `a`, `b` and 3 more ``.
fn name_list(names: &[&str], max: usize) -> String {
    let mut s: Vec<String> = names.iter().take(max).map(|n| format!("`{n}`")).collect();
    if names.len() > max {
        s.push(format!("and {} more", names.len() - max));
    }
    s.join(", ")
}

/// `<`, `>` and `&` escaped, for text inside HTML tags.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Writes markdown into parts of at most `budget` bytes.
struct Pager {
    budget: usize,
    parts: Vec<String>,
    cur: String,
    /// The summary of the open `<details>`, to open it again in the next part.
    open: Option<String>,
    /// The length of `cur` when nothing was written to it yet (the reopened section).
    fresh: usize,
}

impl Pager {
    fn new(budget: usize) -> Self {
        Pager {
            budget,
            parts: Vec::new(),
            cur: String::new(),
            open: None,
            fresh: 0,
        }
    }

    /// Bytes that must stay free in the current part: the closing tag of an open section.
    fn reserve(&self) -> usize {
        if self.open.is_some() { CLOSE.len() } else { 0 }
    }

    fn room(&self) -> usize {
        self.budget.saturating_sub(self.cur.len() + self.reserve())
    }

    /// The room in a new part (after the reopened section, if one is open).
    fn fresh_room(&self) -> usize {
        let reopen = match &self.open {
            Some(summary) => open_tag(&format!("{summary} (continued)")).len(),
            None => 0,
        };
        self.budget.saturating_sub(reopen + self.reserve())
    }

    /// Ends the current part and starts the next, reopening the open section.
    fn next_part(&mut self) {
        if self.open.is_some() {
            self.cur.push_str(CLOSE);
        }
        self.parts.push(std::mem::take(&mut self.cur));
        if let Some(summary) = &self.open {
            self.cur = open_tag(&format!("{summary} (continued)"));
        }
        self.fresh = self.cur.len();
    }

    /// Text that stays in one part (cut short when it is larger than a whole part).
    fn text(&mut self, s: &str) {
        if s.len() > self.room() && self.cur.len() > self.fresh {
            self.next_part();
        }
        if s.len() <= self.room() {
            self.cur.push_str(s);
        } else {
            let cut = floor_char_boundary(s, self.room().saturating_sub(8));
            self.cur.push_str(&s[..cut]);
            self.cur.push_str("…\n\n");
        }
    }

    fn open(&mut self, summary: &str) {
        let tag = open_tag(summary);
        // The tag, a line of content and the closing tag must fit, else start a new part.
        if tag.len() + CLOSE.len() + 200 > self.room() && self.cur.len() > self.fresh {
            self.next_part();
        }
        self.cur.push_str(&tag);
        self.open = Some(summary.to_string());
    }

    fn close(&mut self) {
        if self.open.take().is_some() {
            self.cur.push_str(CLOSE);
        }
    }

    /// A fenced code block, split into several blocks across parts when it does not fit.
    fn code(&mut self, lang: &str, body: &str) {
        let longest = longest_backtick_run(body);
        let fence = "`".repeat(longest.max(2) + 1);
        let open = format!("{fence}{lang}\n");
        let close = format!("{fence}\n\n");
        let overhead = open.len() + close.len();
        let whole = overhead + body.len();
        // A block that fits in a part of its own moves to the next part whole; a longer
        // one starts here and goes on in the next parts.
        if whole > self.room() && whole <= self.fresh_room() && self.cur.len() > self.fresh {
            self.next_part();
        }
        if whole <= self.room() {
            let _ = write!(self.cur, "{open}{body}");
            if !body.ends_with('\n') && !body.is_empty() {
                self.cur.push('\n');
            }
            self.cur.push_str(&close);
            return;
        }
        // Line by line: each part gets a complete block with as many lines as fit.
        let mut chunk = String::new();
        for line in body.split_inclusive('\n') {
            let mut line = line.to_string();
            if !line.ends_with('\n') {
                line.push('\n');
            }
            if overhead + chunk.len() + line.len() > self.room() {
                if !chunk.is_empty() {
                    let _ = write!(self.cur, "{open}{chunk}{close}");
                    chunk.clear();
                }
                if self.cur.len() > self.fresh {
                    self.next_part();
                }
                let fits = self.room().saturating_sub(overhead + 16);
                if line.len() > fits {
                    let cut = floor_char_boundary(&line, fits);
                    line = format!("{} [cut]\n", line[..cut].trim_end_matches('\n'));
                }
            }
            chunk.push_str(&line);
        }
        if !chunk.is_empty() {
            let _ = write!(self.cur, "{open}{chunk}{close}");
        }
    }

    /// The parts, each with its `<!-- kiln diff part N/M -->` line.
    fn finish(mut self) -> Vec<String> {
        self.close();
        if !self.cur.is_empty() || self.parts.is_empty() {
            self.parts.push(std::mem::take(&mut self.cur));
        }
        let total = self.parts.len();
        self.parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| format!("<!-- kiln diff part {}/{total} -->\n{p}", i + 1))
            .collect()
    }
}

fn open_tag(summary: &str) -> String {
    format!("<details><summary>{summary}</summary>\n\n")
}

fn longest_backtick_run(s: &str) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in s.chars() {
        if c == '`' {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// The largest index at most `i` that is a char boundary of `s`.
fn floor_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
