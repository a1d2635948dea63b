"""Dashboards served by the same app: ``/ui/jobs`` (the job list, live), ``/ui/jobs/{id}``
(live progress, the constraint trajectory, winners, Pareto scatter, per-layer bits, the
accelerator, quantization results) and ``/ui/compare?ids=...`` (jobs side by side).

Pages are static HTML that read the REST API (the same JSON any client gets) and draw with
plotly.js, served from the plotly package on this machine (no CDN).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

router = APIRouter(include_in_schema=False)

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222;max-width:1200px}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #ccc;padding:.25rem .5rem}
th{background:#f3f3f3;text-align:left}.s-succeeded{color:#1a7f37}.s-failed{color:#cf222e}
.s-running{color:#9a6700}.s-cancelled{color:#57606a}.bar{background:#eee;width:320px;height:10px}
.bar>div{background:#0969da;height:10px}.plot{width:100%;height:380px}a{color:#0969da}
code{background:#f6f8fa;padding:0 .2rem}.muted{color:#57606a}
"""

_COMMON_JS = """
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g,
  (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
async function getJSON(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(url + ': ' + r.status);
  return r.json();
}
function table(rows, cols) {
  if (!rows.length) return '<p class="muted">none</p>';
  cols = cols || Object.keys(rows[0]);
  return '<table><tr>' + cols.map((c) => '<th>' + esc(c) + '</th>').join('') + '</tr>' +
    rows.map((r) => '<tr>' + cols.map((c) => '<td>' + fmt(r[c]) + '</td>').join('') + '</tr>')
    .join('') + '</table>';
}
function fmt(v) {
  if (typeof v === 'number') return Number.isInteger(v) ? v : v.toPrecision(4);
  if (v && typeof v === 'object') return esc(JSON.stringify(v));
  return esc(v);
}
function parseCSV(text) {
  const lines = text.trim().split('\\n');
  const head = lines[0].split(',');
  return lines.slice(1).map((l) => {
    const cells = l.split(','); const o = {};
    head.forEach((h, i) => { const x = Number(cells[i]); o[h] = cells[i] === '' ? null
      : (isNaN(x) ? cells[i] : x); });
    return o;
  });
}
"""


def _page(title: str, body: str, script: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title} - coexplore</title>"
        f"<style>{_STYLE}</style><script src='/ui/static/plotly.min.js'></script></head>"
        f"<body><p><a href='/ui/jobs'>jobs</a> · <a href='/docs'>API</a></p>{body}"
        f"<script>{_COMMON_JS}{script}</script></body></html>"
    )


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/ui/jobs")


_FAVICON = (
    "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'><rect width='16' height='16' "
    "rx='3' fill='#0969da'/><path d='M4 11l3-6 2 4 3-5' stroke='#fff' fill='none'/></svg>"
)


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(_FAVICON, media_type="image/svg+xml")


@router.get("/ui/static/plotly.min.js")
def plotly_js() -> FileResponse:
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise HTTPException(500, "plotly.min.js is missing from the plotly package.")
    return FileResponse(path, media_type="application/javascript")


@router.get("/ui/jobs")
def jobs_page() -> HTMLResponse:
    body = """<h1>Jobs</h1>
<p class="muted">Live: refreshed every 2 s. Tick jobs to <a id="cmp" href="#">compare</a>.</p>
<div id="jobs"></div>"""
    script = """
async function refresh() {
  const out = await getJSON('/jobs?limit=100');
  const rows = out.jobs.map((j) => '<tr><td><input type="checkbox" value="' + esc(j.id) +
    '"></td><td><a href="/ui/jobs/' + esc(j.id) + '">' + esc(j.id.slice(0, 8)) + '</a></td>' +
    '<td>' + esc(j.kind) + '</td><td class="s-' + esc(j.status) + '">' + esc(j.status) +
    '</td><td>' + esc(j.created_at.slice(0, 19)) + '</td><td>' + esc(j.attempts) + '</td><td>' +
    esc(j.metrics ? Object.entries(j.metrics).slice(0, 4).map(([k, v]) => k + ' ' + fmt(v))
    .join(', ') : (j.error || '').split('\\n')[0]) + '</td></tr>');
  const checked = new Set([...document.querySelectorAll('#jobs input:checked')]
    .map((e) => e.value));
  $('jobs').innerHTML = '<table><tr><th></th><th>job</th><th>kind</th><th>status</th>' +
    '<th>created (UTC)</th><th>attempts</th><th>metrics / error</th></tr>' + rows.join('') +
    '</table><p class="muted">' + out.total + ' jobs</p>';
  document.querySelectorAll('#jobs input').forEach((e) => { e.checked = checked.has(e.value); });
}
$('cmp').onclick = (ev) => {
  ev.preventDefault();
  const ids = [...document.querySelectorAll('#jobs input:checked')].map((e) => e.value);
  location.href = '/ui/compare?ids=' + ids.join(',');
};
refresh(); setInterval(refresh, 2000);
"""
    return _page("jobs", body, script)


@router.get("/ui/jobs/{job_id}")
def job_page(job_id: str) -> HTMLResponse:
    body = f"""<h1>Job <code>{_attr(job_id)}</code></h1>
<div id="head"></div><h2>Progress</h2><div id="progress"></div>
<div id="traj-box" style="display:none"><h2>Constraint trajectory</h2>
<div id="traj" class="plot"></div><div id="delta" class="plot" style="height:260px"></div></div>
<div id="results"></div>"""
    script = f"""
const JOB = {_js_str(job_id)};
const phases = {{}}; const traj = [];
function drawProgress() {{
  $('progress').innerHTML = Object.values(phases).map((e) => {{
    const f = e.total ? Math.min(1, e.done / e.total) : 0;
    return '<div>' + esc(e.phase) + ' ' + fmt(e.done) + (e.total ? '/' + fmt(e.total) : '') +
      ' <span class="muted">' + esc(e.message) + '</span><div class="bar"><div style="width:' +
      (100 * f) + '%"></div></div></div>';
  }}).join('');
}}
function drawTrajectory(rows, bounds) {{
  const preds = Object.keys(rows[0] || {{}}).filter((k) => k.startsWith('pred_'));
  if (!preds.length) return;
  $('traj-box').style.display = '';
  const traces = preds.map((k) => ({{x: rows.map((r) => r.step), y: rows.map((r) => r[k]),
    name: k.slice(5) + ' (predicted)', mode: 'lines'}}));
  const man = rows.filter((r) => r.manipulated === true || r.manipulated === 'True' ||
    r.manipulated === 1);
  if (man.length) traces.push({{x: man.map((r) => r.step), y: man.map((r) => r[preds[0]]),
    mode: 'markers', name: 'HDX manipulated', marker: {{size: 5, color: '#cf222e'}}}});
  const shapes = (bounds || []).map((b) => ({{type: 'line', xref: 'paper', x0: 0, x1: 1,
    y0: b.value, y1: b.value, line: {{dash: 'dash', color: '#555'}}}}));
  Plotly.react('traj', traces, {{
    title: {{text: 'each bound: predicted value per step (bound dashed)'}},
    xaxis: {{title: {{text: 'step'}}}}, yaxis: {{type: 'log'}}, shapes, margin: {{t: 40}}}});
  const deltas = Object.keys(rows[0]).filter((k) => k.startsWith('delta_'));
  if (deltas.length) Plotly.react('delta', deltas.map((k) => ({{x: rows.map((r) => r.step),
    y: rows.map((r) => r[k]), name: k, mode: 'lines'}})), {{title: {{text: 'HDX delta per step'}},
    xaxis: {{title: {{text: 'step'}}}}, margin: {{t: 40}}}});
}}
function boundsOf(spec) {{
  const c = spec.constraints || {{}}; const out = [];
  const names = {{fps_min: 'fps', latency_ms_max: 'latency_ms', area_mm2_max: 'area_mm2',
    energy_uj_max: 'energy_uj', power_mw_max: 'power_mw'}};
  for (const [k, v] of Object.entries(c)) if (v != null && names[k]) out.push({{metric: names[k],
    value: v}});
  return out;
}}
async function results(job) {{
  if (job.status !== 'succeeded') return;
  const res = await getJSON('/jobs/' + JOB + '/result');
  const r = res.result; let html = '<h2>Metrics</h2>' + table([res.manifest.metrics]);
  const arts = res.manifest.artefacts.map((a) => a.name);
  html += '<p>Artefacts: ' + arts.map((n) => '<a href="/jobs/' + JOB + '/artefacts/' +
    encodeURIComponent(n) + '">' + esc(n) + '</a>').join(' · ') + '</p>';
  if (job.kind === 'co-search') {{
    html += '<h2>Winners (verified on the analytical model)</h2>' + table(r.winners.map((w, i) =>
      ({{rank: w.rank, architecture: w.architecture, accelerator: w.accelerator_text,
        fps: w.verified.fps, energy_uj: w.verified.energy_uj, area_mm2: w.verified.area_mm2,
        'predicted fps (generator acc.)': w.predicted.fps,
        'verified fps (generator acc.)': w.generator_verified.fps,
        'val acc %': r.val_accuracy[i]}})));
    html += '<p>Test accuracy of winner 1: FP ' + fmt(r.test_accuracy_fp) +
      ' %, fake-quantized ' + fmt(r.test_accuracy_quant) + ' %</p>';
    if (r.handoff && r.handoff.length) {{
      html += '<h2>Zero-shot quantization of the winners (synthetic data only)</h2>' +
        table(r.handoff.map((h) => ({{rank: h.rank, 'test FP %': h.test_accuracy_fp,
          'fake-quant with data %': h.test_accuracy_fakequant_data,
          'zero-shot %': h.test_accuracy_zsq, method: h.method, seconds: h.seconds,
          'integer model': h.exported}})));
    }}
    if (r.study) {{
      html += '<h2>Optuna study</h2><p>' + esc(r.study.name) + ': ' +
        r.study.feasible_trials + ' of ' + r.study.trials + ' trials feasible. Open it with ' +
        '<code>' + esc(r.study.dashboard) + '</code></p>';
    }}
    html += '<h2>Accuracy vs energy</h2><div id="pareto" class="plot"></div>';
    html += '<h2>Per-slot bits of winner 1</h2><div id="bits" class="plot" ' +
      'style="height:260px"></div><h2>Accelerator of winner 1</h2>' +
      table([r.winners[0].accelerator]);
  }} else if (job.kind === 'hardware-sweep') {{
    html += '<h2>Pareto front</h2><div id="pareto" class="plot"></div>';
  }} else if (job.kind === 'data-free') {{
    html += '<h2>Per-layer bits vs uniform (verified on the analytical model)</h2>' +
      table(r.designs.map((d) => ({{design: d.name, bits: d.bits.join('/'),
        accelerator: d.feasible ? d.accelerator : 'misses: ' + d.closest,
        fps: d.feasible ? d.verified.fps : null,
        energy_uj: d.feasible ? d.verified.energy_uj : null,
        'zero-shot %': d.test_zsq, 'dominated by': (d.dominated_by || []).join(', ')}})));
  }} else if (job.kind === 'compare') {{
    html += '<h2>Strategies</h2>' + table(r.summary.map((x) => ({{strategy: x.strategy,
      'final feasible': x.final_feasible, 'val acc %': x.val_accuracy, energy_uj: x.energy_uj,
      hypervolume: x.hypervolume, seconds: x.seconds}}))) +
      '<p><a href="/jobs/' + JOB + '/artefacts/compare.html">the comparison plot</a></p>';
  }} else if (job.kind === 'quantize') {{
    html += '<h2>Quantization</h2>' + table([Object.fromEntries(Object.entries(r)
      .filter(([k, v]) => typeof v !== 'object'))]);
  }}
  $('results').innerHTML = html;
  if (job.kind === 'co-search') {{
    const w = r.winners;
    Plotly.react('pareto', [{{x: w.map((x) => x.verified.energy_uj), y: r.val_accuracy,
      text: w.map((x) => x.architecture), mode: 'markers', name: 'feasible winners',
      marker: {{size: 12, color: w.map((x) => x.verified.fps), colorscale: 'Viridis',
      showscale: true, colorbar: {{title: {{text: 'fps'}}}}}}}}],
      {{xaxis: {{title: {{text: 'energy per frame (uJ)'}}}},
      yaxis: {{title: {{text: 'val accuracy %'}}}}, margin: {{t: 20}}}});
    Plotly.react('bits', [{{x: w[0].bit_widths.map((_, i) => 'slot ' + i), y: w[0].bit_widths,
      type: 'bar', text: w[0].architecture.split(' '), name: 'bits'}}],
      {{yaxis: {{title: {{text: 'bits'}}}}, margin: {{t: 20}}}});
    const csv = await (await fetch('/jobs/' + JOB + '/artefacts/trajectory.csv')).text();
    drawTrajectory(parseCSV(csv), boundsOf(job.spec));
  }} else if (job.kind === 'hardware-sweep') {{
    const p = r.pareto;
    Plotly.react('pareto', [{{x: p.map((d) => d.energy_uj), y: p.map((d) => d.fps),
      mode: 'markers', marker: {{color: p.map((d) => d.area_mm2), colorscale: 'Viridis',
      showscale: true, colorbar: {{title: {{text: 'area mm^2'}}}}}}, name: 'meets the bounds'}}],
      {{xaxis: {{title: {{text: 'energy per frame (uJ)'}}, type: 'log'}},
      yaxis: {{title: {{text: 'fps'}}, type: 'log'}}, margin: {{t: 20}}}});
  }}
}}
async function main() {{
  let job = await getJSON('/jobs/' + JOB);
  const head = (j) => '<p>' + esc(j.kind) + ' · <b class="s-' + esc(j.status) + '">' +
    esc(j.status) + '</b> · attempts ' + j.attempts + (j.error ? '<br><code>' + esc(j.error) +
    '</code>' : '') + '</p>';
  $('head').innerHTML = head(job);
  const es = new EventSource('/jobs/' + JOB + '/stream');
  es.addEventListener('progress', (m) => {{
    const e = JSON.parse(m.data); phases[e.phase] = e; drawProgress();
    if (e.metrics && Object.keys(e.metrics).some((k) => k.startsWith('pred_'))) {{
      traj.push({{step: e.done, ...e.metrics}});
      if (job.status !== 'succeeded') drawTrajectory(traj, boundsOf(job.spec));
    }}
  }});
  es.addEventListener('end', async () => {{
    es.close(); job = await getJSON('/jobs/' + JOB); $('head').innerHTML = head(job);
    await results(job); document.body.dataset.ready = '1';
  }});
}}
main().catch((e) => {{ $('head').innerHTML = '<p class="s-failed">' + esc(e) + '</p>'; }});
"""
    return _page(f"job {job_id[:8]}", body, script)


@router.get("/ui/compare")
def compare_page(ids: str = "") -> HTMLResponse:
    body = """<h1>Compare jobs</h1><div id="table"></div>
<h2>Accuracy vs energy (co-search jobs)</h2><div id="scatter" class="plot"></div>"""
    script = f"""
const IDS = {_js_str(ids)}.split(',').filter((s) => s);
async function main() {{
  const jobs = await Promise.all(IDS.map((id) => getJSON('/jobs/' + encodeURIComponent(id))));
  $('table').innerHTML = table(jobs.map((j) => ({{job: j.id.slice(0, 8), kind: j.kind,
    strategy: j.spec.strategy || '', bounds: JSON.stringify(j.spec.constraints || {{}}),
    status: j.status, ...(j.metrics || {{}})}})));
  const cs = jobs.filter((j) => j.kind === 'co-search' && j.metrics);
  const strategies = [...new Set(cs.map((j) => j.spec.strategy))];
  Plotly.react('scatter', strategies.map((s) => {{
    const js = cs.filter((j) => j.spec.strategy === s);
    return {{x: js.map((j) => j.metrics.energy_uj), y: js.map((j) => j.metrics.test_accuracy_quant),
      text: js.map((j) => j.id.slice(0, 8)), mode: 'markers', name: s,
      marker: {{size: 11, color: js.map((j) => j.metrics.fps), colorscale: 'Viridis'}}}};
  }}), {{xaxis: {{title: {{text: 'energy per frame (uJ, verified)'}}}},
    yaxis: {{title: {{text: 'test accuracy % (fake-quantized)'}}}}, margin: {{t: 20}}}});
  document.body.dataset.ready = '1';
}}
main();
"""
    return _page("compare", body, script)


def _attr(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def _js_str(text: str) -> str:
    import json

    # a JSON string is a JS string; </ is split so no </script> can end the block early
    return json.dumps(text).replace("</", "<\\/")
