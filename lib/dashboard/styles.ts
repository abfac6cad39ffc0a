/**
 * The dashboard's stylesheet: plain CSS, system fonts, no build step. Used by
 * app/sync/layout.tsx (a <style> element) and by the pages rendered as plain
 * HTML (sign-in, refusals), so they all look alike.
 */
export const DASHBOARD_CSS = `
:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --card: #fff; --fg: #1d2330; --muted: #5d6677; --line: #dde1e8;
  --accent: #2f5fd0; --accent-fg: #fff; --ok: #1f7a3d; --warn: #9a6200; --bad: #b3261e; --busy: #2f5fd0; --idle: #6b7280;
  --ok-bg: #e3f4e8; --warn-bg: #fff1d6; --bad-bg: #fde4e1; --busy-bg: #e3ebff; --idle-bg: #eceef2;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #12151b; --card: #1b1f27; --fg: #e6e9ef; --muted: #9aa3b2; --line: #2c3240;
    --accent: #7aa2ff; --accent-fg: #0d1220; --ok: #6fd08f; --warn: #f0b54a; --bad: #ff8a80; --busy: #7aa2ff; --idle: #9aa3b2;
    --ok-bg: #173322; --warn-bg: #3a2c10; --bad-bg: #3d1815; --busy-bg: #1b2747; --idle-bg: #262b35;
  }
}
/* The root layout's body is a narrow column with a margin: the dashboard uses the whole window. */
html, body { background: var(--bg) !important; }
body { margin: 0 !important; max-width: none !important; color: var(--fg);
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif !important;
  font-size: 15px; line-height: 1.45; -webkit-text-size-adjust: 100%; }
* { box-sizing: border-box; }
a { color: var(--accent); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .88em; }
.dash { max-width: 1280px; margin: 0 auto; padding: 16px; }
.dash-header { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 16px; justify-content: space-between; margin-bottom: 12px; }
.dash-header h1 { font-size: 1.3rem; margin: 0; }
.dash-header .sub { color: var(--muted); font-size: .85rem; }
.toolbar { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
.toolbar form { margin: 0; }
button, .button { font: inherit; font-size: .9rem; padding: 6px 12px; border-radius: 6px; border: 1px solid var(--line);
  background: var(--card); color: var(--fg); cursor: pointer; text-decoration: none; display: inline-block; min-height: 34px; }
button.primary, .button.primary { background: var(--accent); color: var(--accent-fg); border-color: var(--accent); }
button.danger { color: var(--bad); border-color: var(--bad); }
button:disabled { opacity: .45; cursor: not-allowed; }
button:focus-visible, a:focus-visible, input:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
.flash { padding: 10px 14px; border-radius: 8px; margin: 0 0 12px; border: 1px solid; }
.flash.ok { background: var(--ok-bg); border-color: var(--ok); }
.flash.error { background: var(--bad-bg); border-color: var(--bad); }
.notice { color: var(--muted); font-size: .85rem; margin: 4px 0 12px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 12px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px; min-width: 0; }
.card h2 { font-size: 1.05rem; margin: 0; text-transform: capitalize; }
.card h3 { font-size: .95rem; margin: 16px 0 6px; }
.card-head { display: flex; align-items: center; justify-content: space-between; gap: 8px; margin-bottom: 10px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: .78rem; font-weight: 600; white-space: nowrap; }
.badge.ok { background: var(--ok-bg); color: var(--ok); } .badge.warn { background: var(--warn-bg); color: var(--warn); }
.badge.bad { background: var(--bad-bg); color: var(--bad); } .badge.busy { background: var(--busy-bg); color: var(--busy); }
.badge.idle { background: var(--idle-bg); color: var(--idle); }
.bar { position: relative; height: 22px; border-radius: 6px; background: var(--idle-bg); overflow: hidden; }
.bar > .fill { position: absolute; inset: 0 auto 0 0; background: var(--accent); transition: width .4s ease; }
.bar.ok > .fill { background: var(--ok); } .bar.warn > .fill { background: var(--warn); } .bar.bad > .fill { background: var(--bad); }
.bar.indeterminate > .fill { width: 30% !important; animation: slide 1.2s linear infinite; }
@keyframes slide { from { left: -30%; } to { left: 100%; } }
@media (prefers-reduced-motion: reduce) { .bar > .fill { transition: none; } .bar.indeterminate > .fill { animation: none; } }
.bar-label { display: flex; justify-content: space-between; font-size: .82rem; color: var(--muted); margin: 4px 0 10px; gap: 8px; }
dl.facts { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 3px 12px; margin: 0; font-size: .87rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.error-text { color: var(--bad); }
.actions { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 12px; }
.actions form { margin: 0; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; border: 1px solid var(--line); border-radius: 8px; max-width: 100%; }
table { border-collapse: collapse; width: 100%; font-size: .84rem; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; vertical-align: top; }
td.wrap { white-space: normal; min-width: 16em; overflow-wrap: anywhere; }
td.wrap.narrow { min-width: 9em; }
th { background: var(--idle-bg); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:last-child td { border-bottom: 0; }
.empty { color: var(--muted); font-size: .85rem; margin: 4px 0; }
.section-details { margin-top: 18px; }
.section-details > h2 { font-size: 1.1rem; margin: 0 0 8px; text-transform: capitalize; }
.signin { max-width: 380px; margin: 12vh auto 0; }
.signin form { display: grid; gap: 10px; }
.signin input[type=password] { font: inherit; padding: 8px 10px; border: 1px solid var(--line); border-radius: 6px; background: var(--card); color: var(--fg); width: 100%; }
.confirm { max-width: 560px; margin: 8vh auto 0; }
.confirm .toolbar { margin-top: 14px; }
@media (max-width: 480px) {
  .dash { padding: 10px; }
  .dash-header h1 { font-size: 1.15rem; }
  .grid { grid-template-columns: minmax(0, 1fr); }
}
`;
