//! The report page's stylesheet, inlined into every `report.html`.
//!
//! Owns the look only (a light theme, system fonts, tables with aligned
//! numbers, chart colours). Must not reference anything outside the page:
//! no web fonts, no `@import`, no `url(...)`.

/// The whole stylesheet.
pub const CSS: &str = r#"
:root {
  --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --soft: #f5f7fa;
  --pass: #1a7f37; --pass-bg: #dafbe1; --fail: #c62828; --fail-bg: #ffe4e4;
  --warn: #9a6700; --warn-bg: #fff3c4; --accent: #2f5fa7;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: #fff; color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 26px; margin: 0; font-weight: 650; letter-spacing: -0.01em; }
h2 {
  font-size: 19px; margin: 40px 0 12px; padding-bottom: 6px;
  border-bottom: 2px solid var(--line); font-weight: 650;
}
h3 { font-size: 16px; margin: 0 0 4px; font-weight: 650; }
h4 { font-size: 13px; margin: 18px 0 2px; color: var(--muted); font-weight: 600;
  text-transform: uppercase; letter-spacing: 0.04em; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 0.92em; }
.muted { color: var(--muted); }
.small { font-size: 13px; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 10px 16px; }
header.top .sub { flex-basis: 100%; color: var(--muted); font-size: 14px; }
.badge {
  display: inline-block; padding: 3px 12px; border-radius: 999px; font-weight: 700;
  font-size: 13px; letter-spacing: 0.06em; text-transform: uppercase; border: 1px solid transparent;
}
.badge.pass { color: var(--pass); background: var(--pass-bg); border-color: #aceebb; }
.badge.fail { color: var(--fail); background: var(--fail-bg); border-color: #ffc1c1; }
.badge.inconclusive, .badge.warn { color: var(--warn); background: var(--warn-bg); border-color: #f5d77a; }
.badge.partial, .badge.default { color: var(--muted); background: var(--soft); border-color: var(--line); }
ul.reasons { margin: 12px 0 0; padding-left: 20px; }
ul.reasons li { margin: 2px 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 4px; font-size: 14px; }
th, td { padding: 5px 10px; text-align: left; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; font-weight: 600; color: var(--muted); text-transform: uppercase;
  letter-spacing: 0.03em; background: var(--soft); white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.sub td { color: var(--muted); font-size: 13px; border-bottom-style: dashed; }
tr.sub td.name { padding-left: 26px; }
td.ok { color: var(--pass); font-weight: 600; }
td.bad { color: var(--fail); font-weight: 600; }
td.none { color: var(--warn); font-weight: 600; }
td.err { color: var(--fail); }
dl.meta { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr));
  gap: 2px 28px; margin: 8px 0; }
dl.meta div { display: flex; justify-content: space-between; gap: 12px;
  padding: 5px 0; border-bottom: 1px solid var(--line); }
dl.meta dt { color: var(--muted); font-size: 13px; white-space: nowrap; }
dl.meta dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
section.card { border: 1px solid var(--line); border-radius: 10px; padding: 16px 18px 10px;
  margin: 18px 0; background: #fff; box-shadow: 0 1px 2px rgba(16, 24, 40, 0.04); }
.card .head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 14px; }
.card .head .muted { font-size: 13px; }
.figs { display: grid; grid-template-columns: 1fr; gap: 2px; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 4px 28px; }
figure { margin: 10px 0 4px; }
figcaption { font-size: 13px; font-weight: 600; color: var(--ink); margin-bottom: 2px; }
figcaption span { font-weight: 400; color: var(--muted); }
svg.chart { display: block; width: 100%; height: auto; font-size: 11px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
svg.chart .plot { fill: #fff; stroke: #cbd2d9; stroke-width: 1; }
svg.chart .grid line { stroke: #edf0f3; stroke-width: 1; }
svg.chart .grid line.xg { stroke: #f3f4f6; }
svg.chart .yt { text-anchor: end; fill: var(--muted); }
svg.chart .xt { text-anchor: middle; fill: var(--muted); }
svg.chart .unit { text-anchor: end; fill: var(--muted); font-style: italic; }
svg.chart .band-a { fill: #eef2f7; }
svg.chart .band-b { fill: #e3e9f1; }
svg.chart .band-a, svg.chart .band-b { fill-opacity: 0.55; }
svg.chart .band-f { fill: #e5484d; fill-opacity: 0.08; }
svg.chart .phase .edge { stroke: #9aa5b1; stroke-dasharray: 3 3; stroke-width: 1; }
svg.chart .fault .edge { stroke: #e5484d; stroke-opacity: 0.6; stroke-width: 1; }
svg.chart .phase .bar { fill: #9aa5b1; }
svg.chart .fault .bar { fill: #e5484d; }
svg.chart .lane { font-size: 11px; fill: #52606d; }
svg.chart .fault .lane { fill: #c62828; font-weight: 600; }
svg.chart .line { fill: none; stroke-width: 1.8; stroke-linejoin: round; stroke-linecap: round; }
svg.chart .area { fill-opacity: 0.13; stroke: none; }
svg.chart .hover rect { fill: transparent; pointer-events: all; }
svg.chart .hover rect:hover { fill: rgba(31, 41, 51, 0.06); }
.legend { display: flex; flex-wrap: wrap; gap: 2px 18px; font-size: 12.5px; color: var(--muted);
  margin: 2px 0 0 62px; }
.legend span { display: inline-flex; align-items: center; gap: 6px; }
.legend .sw { display: inline-block; width: 22px; height: 0; border-top: 2.5px solid; }
.legend .sw.dashed { border-top-style: dashed; }
.legend .sw.dotted { border-top-style: dotted; }
.note { font-size: 13px; color: var(--muted); margin: 6px 0; }
footer { margin-top: 48px; font-size: 12px; color: var(--muted); border-top: 1px solid var(--line); padding-top: 10px; }
@media (max-width: 700px) {
  main { padding: 16px 12px 40px; }
  th, td { padding: 4px 6px; }
  .legend { margin-left: 0; }
}
@media print {
  section.card { break-inside: avoid; box-shadow: none; }
}
"#;
