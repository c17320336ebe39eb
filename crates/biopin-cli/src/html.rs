//! `biopin matrix --format html`: one self-contained file (no script, no network) with the
//! matrix and, for each broken cell, a timeline of each violation: one lane per actor and
//! device, the steps in order, and the folio states each step changed.

use std::fmt::Write;

use biopin::design::Preset;
use biopin::trace::{Trace, replay};
use biopin::{Cell, Match};

use crate::matrix::{LEGEND, Matrix};
use crate::run::{Run, verdict_cell};

/// Escapes text for HTML.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// Markdown code spans (`x`) as HTML `<code>`.
fn code_spans(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            out += &format!("<code>{part}</code>");
        } else {
            out += part;
        }
    }
    out
}

const STYLE: &str = "
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1b1b1b; }
h1 { font-size: 1.5em; } h2 { margin-top: 2em; } h3 { margin-bottom: .2em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: .25em .5em; vertical-align: top; text-align: left; }
#matrix th { white-space: nowrap; }
#matrix td { min-width: 7em; }
td.ok { background: #e8f5e9; } td.broken { background: #ffebee; }
td.mismatch { background: #ffcc80; font-weight: bold; } td.incomplete { background: #fff9c4; }
td.none { color: #999; }
tfoot th, tfoot td { background: #f3f3f3; }
a { color: inherit; }
#presets td { max-width: 60em; }
.timeline td { min-width: 12em; max-width: 34em; font-size: 13px; }
.timeline tr.violation td { background: #ffebee; }
.timeline .op { font-family: ui-monospace, monospace; font-weight: bold; }
.timeline .fn { color: #0d47a1; }
.timeline ul { margin: .2em 0; padding-left: 1.2em; }
.timeline .raised { color: #b71c1c; font-weight: bold; }
.timeline .meaning { color: #b71c1c; font-style: italic; }
.timeline .folios { font-family: ui-monospace, monospace; font-size: 12px; }
code, .token { font-family: ui-monospace, monospace; }
";

/// The whole report.
pub fn report(run: &Run) -> String {
    let m = Matrix::new(run);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>biopin report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
    );
    let _ = writeln!(
        h,
        "<h1>biopin: which design prevents which bug, and what it costs</h1>\n<p id=\"summary\">{}</p>\n<p>{}</p>",
        esc(&run.summary()),
        code_spans(&esc(LEGEND))
    );
    presets(&mut h);
    matrix(&mut h, &m);
    let _ = writeln!(h, "<h2>Timelines</h2>");
    let _ = writeln!(
        h,
        "<p>For each broken cell, each violation's shortest schedule: one lane per actor and device, steps in order, the folio states each step changed on the right. <code>biopin replay FILE TOKEN</code> prints the same steps.</p>"
    );
    for (i, (file, program)) in run.programs.iter().enumerate() {
        for (j, d) in m.designs.iter().enumerate() {
            let Some(cell) = m.cell(i, d) else { continue };
            if cell.found.is_empty() {
                continue;
            }
            let _ = writeln!(
                h,
                "<section class=\"cell\" id=\"t-{i}-{j}\">\n<h3>{} under <code>{}</code>: {}</h3>\n<p>{}</p>",
                esc(&program.name),
                esc(&d.canonical()),
                esc(&verdict_cell(cell)),
                esc(&program.summary)
            );
            for (k, f) in cell.found.iter().enumerate() {
                let _ = writeln!(
                    h,
                    "<h4 id=\"t-{i}-{j}-{k}\">{} — {}</h4>\n<p class=\"token\">biopin replay {} {}</p>",
                    esc(f.id.id()),
                    esc(f.id.meaning()),
                    esc(&file.display().to_string()),
                    esc(&f.token)
                );
                match replay(program, cell.design, &f.schedule) {
                    Ok(trace) => timeline(&mut h, &trace),
                    Err(e) => {
                        let _ = writeln!(h, "<p>cannot replay: {}</p>", esc(&e.to_string()));
                    }
                }
            }
            let _ = writeln!(h, "</section>");
        }
    }
    h.push_str("</body>\n</html>");
    h
}

/// What each preset stands for; a design with overrides is its preset with those knobs changed.
fn presets(h: &mut String) {
    let _ = writeln!(
        h,
        "<table id=\"presets\">\n<thead><tr><th>preset</th><th>what it is</th></tr></thead>\n<tbody>"
    );
    for p in Preset::ALL {
        let _ = writeln!(
            h,
            "<tr><th>{}</th><td>{}</td></tr>",
            esc(p.name()),
            esc(p.summary())
        );
    }
    let _ = writeln!(
        h,
        "</tbody>\n</table>\n<p>A design written <code>PRESET+KNOB=VALUE</code> is the preset with that knob changed (<code>biopin designs</code> lists the knobs).</p>"
    );
}

fn cell_class(cell: Option<&Cell>) -> &'static str {
    match cell {
        None => "none",
        Some(c) => match c.matches() {
            Match::Mismatch => "mismatch",
            Match::Incomplete => "incomplete",
            Match::Expected if c.verdict.is_empty() => "ok",
            Match::Expected => "broken",
        },
    }
}

fn matrix(h: &mut String, m: &Matrix<'_>) {
    let _ = writeln!(h, "<table id=\"matrix\">\n<thead><tr><th>scenario</th>");
    for d in &m.designs {
        let _ = write!(h, "<th>{}</th>", esc(&d.canonical()));
    }
    let _ = writeln!(h, "</tr></thead>\n<tbody>");
    for (i, row) in m.rows().into_iter().enumerate() {
        let summary = &m.run.programs[i].1.summary;
        let _ = write!(
            h,
            "<tr><th title=\"{}\">{}</th>",
            esc(summary),
            esc(&row.label)
        );
        for (j, (d, text)) in m.designs.iter().zip(&row.cells).enumerate() {
            let cell = m.cell(i, d);
            let class = cell_class(cell);
            if cell.is_some_and(|c| !c.found.is_empty()) {
                let _ = write!(
                    h,
                    "<td class=\"{class}\"><a href=\"#t-{i}-{j}\">{}</a></td>",
                    esc(text)
                );
            } else {
                let _ = write!(h, "<td class=\"{class}\">{}</td>", esc(text));
            }
        }
        let _ = writeln!(h, "</tr>");
    }
    let _ = writeln!(h, "</tbody>\n<tfoot>");
    for row in m.footer() {
        let _ = write!(h, "<tr><th>{}</th>", esc(&row.label));
        for text in &row.cells {
            let _ = write!(h, "<td>{}</td>", esc(text));
        }
        let _ = writeln!(h, "</tr>");
    }
    let _ = writeln!(h, "</tfoot>\n</table>");
}

/// A change line that describes a frame (a folio's counts, flags or content).
fn is_folio(change: &str) -> bool {
    change.starts_with("pfn ")
}

fn timeline(h: &mut String, t: &Trace) {
    let mut lanes: Vec<&str> = Vec::new();
    for s in &t.steps {
        if !lanes.contains(&s.lane.as_str()) {
            lanes.push(&s.lane);
        }
    }
    let _ = write!(h, "<table class=\"timeline\">\n<thead><tr><th>step</th>");
    for lane in &lanes {
        let _ = write!(h, "<th class=\"lane\">{}</th>", esc(lane));
    }
    let _ = writeln!(h, "<th>folios</th></tr></thead>\n<tbody>");
    for (n, s) in t.steps.iter().enumerate() {
        let class = if s.raised.is_empty() {
            "step"
        } else {
            "step violation"
        };
        let _ = write!(h, "<tr class=\"{class}\"><td>{}</td>", n + 1);
        for lane in &lanes {
            if *lane != s.lane {
                let _ = write!(h, "<td></td>");
                continue;
            }
            let _ = write!(
                h,
                "<td><div class=\"op\">{}</div><div class=\"fn\">{}</div><ul>",
                esc(&s.op),
                esc(&s.step)
            );
            for c in s.changes.iter().filter(|c| !is_folio(c)) {
                let _ = write!(h, "<li>{}</li>", esc(c));
            }
            for note in &s.notes {
                let _ = write!(h, "<li><i>{}</i></li>", esc(note));
            }
            let _ = write!(h, "</ul>");
            raised(h, &s.raised);
            let _ = write!(h, "</td>");
        }
        let _ = write!(h, "<td class=\"folios\">");
        for c in s.changes.iter().filter(|c| is_folio(c)) {
            let _ = write!(h, "{}<br>", esc(c));
        }
        let _ = writeln!(h, "</td></tr>");
    }
    match &t.end {
        Some(list) if !list.is_empty() => {
            let _ = write!(
                h,
                "<tr class=\"step violation\"><td>end</td><td colspan=\"{}\"><div class=\"fn\">end of path: the final sync, then the end-state checks</div>",
                lanes.len() + 1
            );
            raised(h, list);
            let _ = writeln!(h, "</td></tr>");
        }
        _ => {}
    }
    let _ = writeln!(h, "</tbody>\n</table>");
}

fn raised(h: &mut String, list: &[(biopin::mm::Invariant, String)]) {
    for (id, why) in list {
        let _ = write!(
            h,
            "<div class=\"raised\">violates {}: {}</div><div class=\"meaning\">{}</div>",
            esc(id.id()),
            esc(why),
            esc(id.meaning())
        );
    }
}
