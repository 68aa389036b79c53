/**
 * The web panel's style sheet (served at `/panel.css`): light and dark from
 * `prefers-color-scheme`, readable at 1280x720 and on a phone (rows become cards below 760 px),
 * visible focus, status colours of Central's dashboard always paired with a word.
 *
 * @module
 */

/** The CSS of the page. */
export const PAGE_CSS = `:root {
  color-scheme: light dark;
  --bg: #f6f7f9;
  --surface: #ffffff;
  --text: #1b1f24;
  --muted: #5a6270;
  --line: #d5d9e0;
  --accent: #0b5cad;
  --green: #1a7f37;
  --green-bg: #dcf5e3;
  --orange: #a64d00;
  --orange-bg: #ffe8cc;
  --red: #b3261e;
  --red-bg: #fde2e0;
  --grey: #59606b;
  --grey-bg: #e6e8eb;
  --bar: #2f9e55;
  --focus: #ffbf47;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #111418;
    --surface: #1a1f25;
    --text: #e6e9ee;
    --muted: #a2abb8;
    --line: #343b45;
    --accent: #6cb2ff;
    --green: #6fdd8b;
    --green-bg: #16351f;
    --orange: #ffb35c;
    --orange-bg: #3d2710;
    --red: #ff8a80;
    --red-bg: #45181a;
    --grey: #b0b7c1;
    --grey-bg: #2b313a;
    --bar: #4cc072;
  }
}
* { box-sizing: border-box; }
html { font-size: 100%; }
body {
  margin: 0;
  font: 0.9375rem/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  background: var(--bg);
  color: var(--text);
}
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; }
.skip:focus { left: 0.5rem; top: 0.5rem; background: var(--surface); padding: 0.5rem; z-index: 3; }
.visually-hidden {
  position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
  white-space: nowrap;
}
.top {
  display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: 0.5rem;
  padding: 0.5rem 1rem; background: var(--surface); border-bottom: 1px solid var(--line);
}
.top h1 { font-size: 1.2rem; margin: 0; }
.links { display: flex; gap: 0.5rem; flex-wrap: wrap; }
.badge {
  display: inline-block; padding: 0.1rem 0.6rem; border-radius: 1rem; font-size: 0.85rem;
  border: 1px solid var(--line);
}
.badge-ok { background: var(--green-bg); color: var(--green); }
.badge-bad { background: var(--red-bg); color: var(--red); }
.badge-wait { background: var(--grey-bg); color: var(--grey); }
main { padding: 0.5rem 1rem 1rem; }
button, input {
  font: inherit; color: inherit;
}
button {
  background: var(--surface); border: 1px solid var(--line); border-radius: 0.35rem;
  padding: 0.3rem 0.7rem; cursor: pointer; min-height: 2rem;
}
button:hover:not(:disabled) { border-color: var(--accent); }
button:disabled { opacity: 0.5; cursor: default; }
button[aria-pressed="true"] { background: var(--accent); color: var(--surface); border-color: var(--accent); }
button.danger { color: var(--red); }
input[type="search"], input:not([type]) {
  background: var(--surface); border: 1px solid var(--line); border-radius: 0.35rem;
  padding: 0.25rem 0.5rem; min-height: 2rem;
}
.toolbar, .selection {
  display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem; margin: 0.5rem 0;
}
.filters { display: flex; flex-wrap: wrap; gap: 0.35rem; }
.filters .count { font-variant-numeric: tabular-nums; opacity: 0.85; }
.view-switch { display: flex; gap: 0.25rem; margin-left: auto; }
.action-group { display: inline-flex; flex-wrap: wrap; gap: 0.35rem; }
.session-form { display: inline-flex; flex-wrap: wrap; align-items: center; gap: 0.35rem; }
.single .selection, .single .col-check, .single .c-check, .single .toolbar,
.single #detail-close { display: none; }
.layout { display: flex; gap: 1rem; align-items: flex-start; }
.table-wrap {
  flex: 1 1 auto; min-width: 0; overflow: auto; max-height: calc(100vh - 11rem);
  background: var(--surface); border: 1px solid var(--line); border-radius: 0.4rem;
}
.single .table-wrap { max-height: none; }
.single .layout { flex-direction: column; align-items: stretch; }
.single .detail { position: static; flex: 1 1 auto; }
.single .actions, .single .figures { max-width: 48rem; }
table.points { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
.points th, .points td {
  padding: 0.3rem 0.5rem; border-bottom: 1px solid var(--line); text-align: left;
  white-space: nowrap;
}
.points thead th {
  position: sticky; top: 0; background: var(--surface); z-index: 1; font-size: 0.85rem;
  color: var(--muted);
}
.points .num { text-align: right; }
.points tbody tr:hover { background: var(--bg); }
.points tr.selected { background: var(--grey-bg); }
.point-id {
  border: 0; background: none; padding: 0; min-height: 0; color: var(--accent);
  text-decoration: underline; font-weight: 600;
}
.location { display: block; color: var(--muted); font-size: 0.8rem; }
.pill {
  display: inline-block; padding: 0.05rem 0.55rem; border-radius: 1rem; font-size: 0.85rem;
  font-weight: 600; margin: 0;
}
.st-available, .st-charging { background: var(--green-bg); color: var(--green); }
.st-out_of_service { background: var(--orange-bg); color: var(--orange); }
.st-fault { background: var(--red-bg); color: var(--red); }
.st-offline { background: var(--grey-bg); color: var(--grey); }
.ko { color: var(--red); font-weight: 700; }
.ok { color: var(--green); }
.lost { color: var(--red); }
.bar {
  width: 6rem; height: 0.7rem; border-radius: 0.35rem; background: var(--grey-bg);
  overflow: hidden;
}
.bar > span { display: block; height: 100%; width: 0; background: var(--bar); }
.bar.waiting > span {
  width: 100%;
  background: repeating-linear-gradient(45deg, var(--grey-bg) 0 6px, var(--bar) 6px 12px);
  opacity: 0.6;
}
.empty { padding: 1rem; color: var(--muted); }
.detail {
  flex: 0 0 21rem; background: var(--surface); border: 1px solid var(--line);
  border-radius: 0.4rem; padding: 0.75rem; position: sticky; top: 0.5rem;
}
.detail-head { display: flex; align-items: center; justify-content: space-between; gap: 0.5rem; }
.detail h2 { margin: 0; font-size: 1.1rem; }
.figures {
  display: grid; grid-template-columns: auto 1fr; gap: 0.2rem 0.75rem; margin: 0.75rem 0;
  font-variant-numeric: tabular-nums;
}
.figures dt { color: var(--muted); }
.figures dd { margin: 0; }
.actions { display: flex; flex-wrap: wrap; gap: 0.35rem; margin-bottom: 0.5rem; }
.notice { min-height: 1.4em; margin: 0.5rem 0 0; }
.notice.error { color: var(--red); }
.foot { padding: 0.5rem 1rem 1rem; color: var(--muted); display: flex; gap: 1rem; }
/* The grid: one tile per point, for hundreds of them. */
.grid .points thead { display: none; }
.grid .points tbody {
  display: grid; grid-template-columns: repeat(auto-fill, minmax(8.5rem, 1fr)); gap: 0.35rem;
  padding: 0.35rem;
}
.grid .points tr {
  display: flex; flex-direction: column; border: 1px solid var(--line); border-radius: 0.35rem;
  padding: 0.25rem 0.4rem;
}
.grid .points tr[hidden] { display: none; }
.grid .points td { border: 0; padding: 0.05rem 0; }
.grid .points td.c-health, .grid .points td.c-kafka, .grid .points td.c-probe,
.grid .points td.c-cost, .grid .points td.c-power, .grid .points td.c-check,
.grid .location { display: none; }
.grid .points td.c-energy { text-align: left; }
.grid .points td.c-energy:not(:empty)::after { content: " kWh"; }
.grid .bar { width: 100%; }
@media (max-width: 760px) {
  .layout { flex-direction: column; align-items: stretch; }
  .detail { position: static; flex: 1 1 auto; width: 100%; }
  .table-wrap { max-height: none; }
  .points thead { display: none; }
  .points, .points tbody, .points tr, .points td { display: block; width: 100%; }
  .points tr[hidden] { display: none; }
  .points tr { border-bottom: 2px solid var(--line); padding: 0.35rem 0; }
  .points td {
    border: 0; display: flex; justify-content: space-between; gap: 1rem; padding: 0.15rem 0.6rem;
    white-space: normal;
  }
  .points td::before { content: attr(data-label); color: var(--muted); }
  .points td.c-check::before { content: "Select"; }
  .view-switch { margin-left: 0; }
}
`;
