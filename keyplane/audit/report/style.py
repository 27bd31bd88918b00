"""The report's stylesheet, inlined into the page (no external font, image or stylesheet).

Nothing is clipped or cut: identifiers wrap anywhere (`overflow-wrap:anywhere`, which also
lets a table column shrink below an ARN's length), and tables and charts sit in `.scroll`
boxes that keep them legible on a phone and scroll sideways there.
"""

CSS = """
:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--soft:#f6f8fa;--accent:#0b3d91;
--met:#116329;--met-bg:#dafbe1;--bad:#a40e26;--bad-bg:#ffebe9;--unk:#7d4e00;--unk-bg:#fff1c2;
--na:#57606a;--na-bg:#eef1f4;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",
monospace}
*{box-sizing:border-box}
html{font-size:13px}
body{margin:0;color:var(--fg);background:#fff;font-family:system-ui,-apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,"Liberation Sans",sans-serif;line-height:1.4}
main{max-width:1480px;margin:0 auto;padding:0 24px 48px}
header.top{background:#0d1b2a;color:#e6edf3;padding:14px 24px;border-bottom:3px solid #1f6feb}
header.top .inner{max-width:1480px;margin:0 auto;display:flex;flex-wrap:wrap;gap:8px 32px;
align-items:baseline}
header.top h1{font-size:19px;margin:0;font-weight:650;letter-spacing:.2px}
header.top .meta{color:#9fb1c5;font-size:12px}
header.top .meta b{color:#e6edf3;font-weight:600}
h2{font-size:18px;margin:34px 0 4px;padding-bottom:4px;border-bottom:2px solid var(--fg);
display:flex;gap:12px;align-items:baseline}
h2 .kind{font-size:12px;font-weight:500;color:var(--muted);text-transform:uppercase;
letter-spacing:.6px}
h3{font-size:14px;margin:22px 0 6px;color:var(--accent);text-transform:uppercase;
letter-spacing:.5px}
h4{font-size:13px;margin:12px 0 4px}
a{color:var(--accent)}
.lede{color:var(--muted);margin:4px 0 10px;max-width:1100px}
table{border-collapse:collapse;width:100%;margin:4px 0 8px;font-size:12px}
th,td{border:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top}
thead th{background:var(--soft);font-weight:600;color:#24292f;white-space:nowrap}
tbody tr:hover td{background:#fbfcfd}
tr.tier-row th{background:#e9eef5;font-weight:600;text-transform:none;font-size:12px;
color:#1b1f24;border-top:2px solid #9aa7b5}
tr.tier-row th .tierdesc{font-weight:400;color:var(--muted);margin-left:8px}
.mono,code{font-family:var(--mono);font-size:11.5px;overflow-wrap:anywhere}
.ident{overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%}
.scroll>table{min-width:720px}
.scroll>table.inventory{min-width:1240px}
.scroll>table.evidence{min-width:880px}
.scroll>table.certs{min-width:1100px}
table.certs tr.flagged td{background:#fff6f5}
table.certs tr.flagged td:first-child{box-shadow:inset 3px 0 0 var(--bad)}
.chartwrap{margin:6px 0 10px}
.chartwrap svg.chart{min-width:1000px;margin:0}
.sub{color:var(--muted);font-size:11.5px}
.nowrap{white-space:nowrap}
.keyname{font-weight:650;font-family:var(--mono);font-size:12px}
table.inventory{table-layout:fixed}
table.inventory td,table.inventory thead th{overflow-wrap:anywhere}
table.inventory thead th{white-space:normal}
td.cell{padding-left:7px}
td.cell .mark{white-space:nowrap}
.mark{display:inline-block;padding:1px 6px;border-radius:3px;font-weight:650;font-size:11.5px;
border:1px solid transparent}
.mark.met{color:var(--met);background:var(--met-bg);border-color:#9be9a8}
.mark.notmet{color:var(--bad);background:var(--bad-bg);border-color:#ffb8b0}
.mark.unknown{color:var(--unk);background:var(--unk-bg);border-color:#f0d27a}
.mark.na{color:var(--na);background:var(--na-bg);border-color:#d0d7de}
td.cell.notmet{box-shadow:inset 3px 0 0 var(--bad)}
td.cell.unknown{box-shadow:inset 3px 0 0 #d4a72c}
td.cell.met{box-shadow:inset 3px 0 0 #2da44e}
.why{color:var(--muted);font-size:10.5px;white-space:normal;margin-top:2px;line-height:1.25}
.part{display:flex;align-items:center;gap:4px;margin:1px 0}
.part .lbl{width:44px;color:var(--muted);font-size:10.5px}
.sev{display:inline-block;min-width:58px;text-align:center;padding:0 5px;border-radius:3px;
font-size:11px;font-weight:650;text-transform:uppercase}
.sev.critical{background:#a40e26;color:#fff}.sev.high{background:#d1242f;color:#fff}
.sev.medium{background:#fff1c2;color:#7d4e00}.sev.low{background:#eef1f4;color:#424a53}
.sev.info{background:#ddf4ff;color:#0a3069}
.st{font-weight:650;font-size:11.5px}
.st.FAIL,.st.ERROR,.st.overdue,.st.expired,.st.bad{color:var(--bad)}
.st.UNKNOWN,.st.due-soon,.st.expiring,.st.unknown{color:var(--unk)}
.st.PASS,.st.ok,.st.active,.st.good{color:var(--met)}
.tiles{display:flex;flex-wrap:wrap;gap:8px;margin:10px 0 4px}
.tile{border:1px solid var(--line);border-radius:4px;padding:6px 10px;min-width:118px;
background:var(--soft)}
.tile .n{font-size:18px;font-weight:700;display:block;line-height:1.2}
.tile .l{font-size:11px;color:var(--muted);text-transform:uppercase;letter-spacing:.4px}
.tile.bad .n{color:var(--bad)}.tile.warn .n{color:var(--unk)}.tile.good .n{color:var(--met)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0;
font-size:12px}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0;font-family:var(--mono);font-size:11.5px;
min-width:0;overflow-wrap:anywhere}
.legendbar{display:flex;gap:10px;flex-wrap:wrap;align-items:center;font-size:12px;
color:var(--muted);margin:10px 0}
.note{border-left:3px solid #d4a72c;background:#fffbea;padding:6px 10px;margin:8px 0;
font-size:12px}
.empty{color:var(--muted);font-style:italic;margin:4px 0 8px}
.proves ul{margin:2px 0 6px;padding-left:18px}
details.evidence{margin:6px 0 4px;border:1px solid var(--line);border-radius:4px;
padding:4px 10px;background:#fcfdfe}
details.evidence summary{cursor:pointer;font-weight:600;color:var(--accent);padding:2px 0}
svg.chart{display:block;margin:6px 0 10px;border:1px solid var(--line);border-radius:4px;
background:#fff;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
svg .grid{stroke:#e3e8ee;stroke-width:1}
svg .grid.year{stroke:#aab4c0}
svg .band{fill:#f7f9fb}
svg .tick{font-size:10px;fill:#57606a}
svg .rowlabel{font-size:11px;fill:#1b1f24;font-family:ui-monospace,Menlo,Consolas,monospace}
svg .tierlabel{font-size:10px;fill:#8c959f}
svg .legend{font-size:10.5px;fill:#424a53}
svg .gen-current{fill:#1f6feb}
svg .gen-planned{fill:#fff;stroke:#1f6feb;stroke-dasharray:3 2}
svg .gen-previous{fill:#8fa7c6}
svg .gen-verify{fill:#d7e3f4;stroke:#8fa7c6;stroke-width:.8}
svg .auto{fill:#b6c5d8}
svg .autolabel{font-size:10px;fill:#57606a}
svg .disabled{stroke:#6e7781;stroke-width:1.6;fill:none}
svg .rotation{fill:#0d1b2a}
svg .due{fill:#fff;stroke:#0b3d91;stroke-width:1.4}
svg .due.overdue{fill:#d1242f;stroke:#a40e26}
svg .duelabel{font-size:10px;fill:#0b3d91}
svg .clip{font-size:13px;fill:#57606a}
svg .asof{stroke:#d1242f;stroke-width:1.6}
svg .asoflabel{font-size:10.5px;fill:#a40e26;font-weight:600}
svg .bar-pass{fill:#2da44e}
svg .bar-fail{fill:#d1242f}
svg .bar-unknown{fill:#d4a72c}
svg .bar-nortos{fill-opacity:.35}
svg .barlabel{font-size:10.5px;fill:#24292f}
svg .deadline{stroke:#a40e26;stroke-width:1.5;stroke-dasharray:4 3}
svg .deadlinelabel{font-size:10px;fill:#a40e26}
nav.pages{display:flex;flex-wrap:wrap;gap:4px 8px;align-items:baseline;margin:14px 0;
padding:6px 10px;border:1px solid var(--line);border-radius:4px;background:var(--soft);
font-size:12px}
nav.pages span{color:var(--muted)}
nav.pages a,nav.pages .current{padding:0 3px}
nav.pages .current{color:var(--fg);font-weight:700;border-bottom:2px solid var(--accent)}
.count{font-weight:650}.count.notmet{color:var(--bad)}.count.unknown{color:var(--unk)}
.count.met{color:var(--met)}
p.onpage{font-size:12px;overflow-wrap:anywhere}p.onpage a{margin-right:6px}
footer{margin-top:36px;border-top:1px solid var(--line);padding-top:10px;color:var(--muted);
font-size:11.5px}
@media print{header.top{background:#fff;color:#000;border-bottom:2px solid #000}
header.top .meta,header.top .meta b{color:#000}main{max-width:none;padding:0}
section.env{break-before:page}details.evidence{display:none}}
"""
