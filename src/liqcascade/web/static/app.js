// liqcascade dashboard: every page is drawn from the JSON API (/docs documents it).
"use strict";

const $ = (s, el = document) => el.querySelector(s);
const COLOURS = { binance: "#F0B90B", bybit: "#17181E", okx: "#4A6CF7", hyperliquid: "#50D2C1" };
const LEV_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

function usd(x) {
  if (x === null || x === undefined || !isFinite(x)) return "n/a";
  const a = Math.abs(x), s = x < 0 ? "-" : "";
  if (a >= 1e9) return `${s}$${(a / 1e9).toFixed(2)}B`;
  if (a >= 1e6) return `${s}$${(a / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${s}$${(a / 1e3).toFixed(0)}k`;
  return `${s}$${a.toFixed(0)}`;
}
function price(x) { return x === null || x === undefined || !isFinite(x) ? "n/a" : x.toLocaleString("en-US", { maximumFractionDigits: x >= 100 ? 2 : 6 }); }
function pct(x) { return x === null || x === undefined || !isFinite(x) ? "n/a" : `${x >= 0 ? "+" : ""}${x.toFixed(2)}%`; }
function esc(s) { return String(s ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }

async function api(path, opts) {
  const r = await fetch(path, opts);
  const body = await r.json().catch(() => ({ detail: r.statusText }));
  if (!r.ok) throw new Error(body.detail || r.statusText);
  return body;
}
function showError(id, err) { const el = $(id); el.textContent = err ? String(err.message || err) : ""; el.hidden = !err; }

// ------------------------------------------------------------------ routing
function route() {
  const [page, arg] = (location.hash.replace(/^#/, "") || "runs").split("/");
  const name = page === "run" ? "run" : (["runs", "map", "calculator", "stress", "monitor"].includes(page) ? page : "runs");
  document.querySelectorAll(".page").forEach(p => p.classList.toggle("active", p.id === `page-${name}`));
  document.querySelectorAll("nav a").forEach(a => a.classList.toggle("active", a.dataset.page === (name === "run" ? "runs" : name)));
  document.body.dataset.page = name;
  ({ runs: showRuns, run: () => showRun(decodeURIComponent(arg || "")), map: showMap, calculator: () => {},
     stress: showJobs, monitor: showMonitor })[name]();
}
window.addEventListener("hashchange", route);

async function health() {
  try { const h = await api("/api/health"); $("#health").textContent = `${h.runs} run(s) · ${h.jobs_running}/${h.max_jobs} job(s) running`; }
  catch (e) { $("#health").textContent = "server unreachable"; }
}

// ------------------------------------------------------------------ runs
async function showRuns() {
  const rows = await api("/api/runs");
  const tb = $("#runs-table tbody");
  tb.innerHTML = "";
  for (const r of rows) {
    const tr = document.createElement("tr");
    tr.className = "clickable";
    tr.dataset.run = r.run_id;
    tr.innerHTML = `<td><a href="#run/${encodeURIComponent(r.run_id)}">${esc(r.run_id)}</a></td><td>${esc((r.created_utc || "").slice(0, 16))}</td>
      <td>${esc(r.scenario)}</td><td>${r.seed}</td><td>${(r.positions || 0).toLocaleString()}</td><td>${usd(r.liquidations_usd)}</td>
      <td>${usd(r.liquidations_usd_reported)}</td><td>${r.targets_total ? `${r.targets_met}/${r.targets_total}` : ""}</td>`;
    tr.addEventListener("click", () => { location.hash = `#run/${encodeURIComponent(r.run_id)}`; });
    tb.appendChild(tr);
  }
  $("#runs-empty").hidden = rows.length > 0;
  document.body.dataset.ready = "runs";
}

async function showRun(id) {
  document.body.dataset.ready = "";
  const run = await api(`/api/runs/${encodeURIComponent(id)}`);
  const s = run.summary;
  $("#run-title").textContent = `Run ${id}`;
  $("#run-report").href = `/api/runs/${encodeURIComponent(id)}/files/report.html`;
  const figs = [["scenario", s.scenario_title || s.scenario], ["start (UTC)", s.start_utc], ["positions", (s.positions || 0).toLocaleString()],
    ["liquidated", usd(s.liquidations_usd)], ["as reported", usd(s.liquidations_usd_reported)], ["long share", s.long_share == null ? "n/a" : (100 * s.long_share).toFixed(1) + " %"],
    ["ADL", usd(s.adl_usd)], ["bad debt", usd(s.bad_debt_usd)], ["branching ratio (max)", s.branching_ratio_max == null ? "n/a" : s.branching_ratio_max.toFixed(3)]];
  $("#run-figures tbody").innerHTML = figs.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("");
  // the simulated figure in the units of its reported band: USD, percent, accounts or a fraction
  const inUnits = (x, band) => typeof x !== "number" ? x : /\$/.test(band) ? usd(x) : /%/.test(band) ? `${x.toFixed(2)} %`
    : /,\d{3}/.test(band) ? Math.round(x).toLocaleString("en-US") : x.toFixed(3);
  $("#run-compare tbody").innerHTML = run.comparison.map(r => `<tr><td>${esc(r.label)}</td><td>${esc(inUnits(r.simulated, String(r.band)))}</td>
    <td>${esc(r.band)}</td><td class="${r.ok ? "ok" : "bad"}">${r.ok ? "✓" : "✗"}</td></tr>`).join("") || `<tr><td colspan="4" class="dim">no targets for this scenario</td></tr>`;
  $("#run-map").src = `/api/runs/${encodeURIComponent(id)}/files/liquidation_map.png`;
  const ser = await api(`/api/runs/${encodeURIComponent(id)}/series`);
  const assets = [...new Set(ser.path.map(p => p.asset))];
  const traces = ser.path.map(p => ({ x: p.time, y: p.mark, name: `${p.venue} ${p.asset}`, mode: "lines", line: { color: COLOURS[p.venue], width: 1 },
    yaxis: assets.indexOf(p.asset) === 0 ? "y" : "y2" }));
  Plotly.react("run-path", traces, { margin: { t: 10 }, yaxis: { title: `${assets[0]} (USD)` }, yaxis2: assets.length > 1 ? { title: `${assets[1]} (USD)`, overlaying: "y", side: "right" } : undefined, legend: { orientation: "h" } }, { responsive: true });
  const liq = [];
  for (const v of ser.liquidations) {
    liq.push({ x: v.time, y: v.long_usd, name: `${v.venue} longs`, type: "bar", marker: { color: COLOURS[v.venue] } });
    liq.push({ x: v.time, y: v.short_usd.map(a => -a), name: `${v.venue} shorts`, type: "bar", marker: { color: COLOURS[v.venue], opacity: 0.5 } });
  }
  Plotly.react("run-liqs", liq, { barmode: "relative", margin: { t: 10 }, yaxis: { title: "USD per minute" }, legend: { orientation: "h" } }, { responsive: true });
  document.body.dataset.ready = "run";
}

// ------------------------------------------------------------------ map
let dataLoaded = false;
async function showMap() {
  if (dataLoaded) return;
  const d = await api("/api/data");
  const opts = d.data.map(f => `<option>${esc(f.name)}</option>`).join("");
  const f = $("#map-form");
  f.bars.innerHTML = opts;
  f.open_interest.innerHTML = opts;
  const guess = (re) => (d.data.find(x => re.test(x.name)) || {}).name;
  if (guess(/oi|metrics|open.?interest/i)) f.open_interest.value = guess(/oi|metrics|open.?interest/i);
  if (guess(/^(?!.*(oi|metrics|funding)).*(5m|1m|1h|kline)/i)) f.bars.value = guess(/^(?!.*(oi|metrics|funding)).*(5m|1m|1h|kline)/i);
  if (!d.data.length && d.snapshots.length) f.source.value = "snapshot";
  dataLoaded = true;
  document.body.dataset.ready = "map-form";
}

$("#map-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError("#map-error", null);
  document.body.dataset.ready = "";
  const f = ev.target, q = new URLSearchParams();
  for (const k of ["bin", "lo", "hi", "long_share"]) if (f[k].value) q.set(k, f[k].value);
  let url;
  if (f.source.value === "snapshot") url = `/api/liqmap/snapshot?${q}`;
  else {
    for (const k of ["bars", "open_interest", "start", "at"]) if (f[k].value) q.set(k, f[k].value);
    url = `/api/liqmap?${q}`;
  }
  try { drawMap(await api(url)); } catch (e) { showError("#map-error", e); }
  document.body.dataset.ready = "map";
});

function drawMap(m) {
  const inputs = m.inputs.map(i => i.kind === "snapshot"
    ? `snapshot ${esc(i.file)} (${esc(i.exchange)} ${esc(i.symbol)}, taken ${esc(i.taken)}, ${i.age_s == null ? "" : `${Math.round(i.age_s / 60)} min old`})`
    : `${esc(i.kind)}: ${esc(i.file)}, ${i.rows.toLocaleString()} rows, ${esc(i.first)} → ${esc(i.last)}${i.age_at_map_s != null ? `; latest reading ${Math.round(i.age_at_map_s / 60)} min before the map's moment` : ""}`).join("<br>");
  const w = m.within_pct;
  $("#map-model").innerHTML = `<b>${esc(m.model.label)}</b> map, model: ${esc(m.model.name)} — ${esc(m.model.how)}<br>
    leverage mix ${esc(Object.entries(m.model.leverage_mix).map(([k, v]) => `${k} ${(100 * v).toFixed(0)} %`).join(", "))}<br>
    at <b>${esc(m.at)}</b>, price ${price(m.price)}: longs within 1/2/5 % ${usd(w["1"].long_usd)} / ${usd(w["2"].long_usd)} / ${usd(w["5"].long_usd)};
    shorts ${usd(w["1"].short_usd)} / ${usd(w["2"].short_usd)} / ${usd(w["5"].short_usd)}<br>inputs: ${inputs}`;
  const y = m.levels.map(l => l + m.bin_size / 2);
  const traces = Object.entries(m.by_leverage).map(([lev, v], i) => ({
    x: y, y: v.long_usd.map((a, j) => a + v.short_usd[j]), name: lev, type: "bar", marker: { color: LEV_COLOURS[i % LEV_COLOURS.length] } }));
  traces.push({ x: y, y: m.cumulative_long_usd, name: "cumulative longs", mode: "lines", line: { color: "#d62728" }, yaxis: "y2" });
  traces.push({ x: y, y: m.cumulative_short_usd, name: "cumulative shorts", mode: "lines", line: { color: "#2ca02c" }, yaxis: "y2" });
  Plotly.react("map-levels", traces, { barmode: "stack", margin: { t: 10 }, xaxis: { title: "liquidation price (USD)" },
    yaxis: { title: "USD per level" }, yaxis2: { title: "cumulative USD", overlaying: "y", side: "right" },
    shapes: [{ type: "line", x0: m.price, x1: m.price, yref: "paper", y0: 0, y1: 1, line: { dash: "dot" } }], legend: { orientation: "h" } }, { responsive: true });
  if (m.heatmap) {
    const h = m.heatmap, t = [{ x: h.x, y: h.y, z: h.z_usd, type: "heatmap", colorscale: "Viridis", colorbar: { title: "USD" } }];
    if (h.candles) t.push({ x: h.x, open: h.candles.map(c => c[0]), high: h.candles.map(c => c[1]), low: h.candles.map(c => c[2]), close: h.candles.map(c => c[3]), type: "candlestick", name: "price" });
    Plotly.react("map-heat", t, { margin: { t: 10 }, xaxis: { rangeslider: { visible: false } }, yaxis: { title: "price (USD)" }, showlegend: false }, { responsive: true });
  } else {
    Plotly.purge("map-heat");
    $("#map-heat").textContent = "A snapshot is one moment: no heatmap over time.";
  }
}

// ------------------------------------------------------------------ calculator
$("#calc-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError("#calc-error", null);
  const f = ev.target;
  const body = { side: f.side.value, entry: +f.entry.value, mode: f.mode.value };
  if (f.margin.value) body.margin = +f.margin.value;
  if (f.leverage.value) body.leverage = +f.leverage.value;
  try {
    const r = await api("/api/liqprice", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    $("#calc-table tbody").innerHTML = Object.entries(r.venues).map(([v, x]) => x.error
      ? `<tr><td>${esc(v)}</td><td colspan="7" class="dim">refused: ${esc(x.error)}</td></tr>`
      : `<tr data-venue="${esc(v)}"><td>${esc(v)}</td><td>${esc(x.symbol)}</td><td>${x.pinned ? "pinned" : x.tier}</td><td>${(100 * x.mmr).toPrecision(3)}%</td>
         <td>${usd(x.maintenance_margin)}</td><td class="liq">${x.side === "long" && x.liquidation_price <= 0 ? "never" : price(x.liquidation_price)}</td>
         <td>${pct(x.liquidation_distance_pct)}</td><td>${price(x.bankruptcy_price)}</td></tr>`).join("");
    document.body.dataset.ready = "calculator";
  } catch (e) { showError("#calc-error", e); }
});

$("#account-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError("#account-error", null);
  const f = ev.target;
  try {
    const positions = JSON.parse(f.positions.value);
    const r = await api("/api/liqprice/account", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ venue: f.venue.value, wallet_balance: +f.wallet_balance.value, positions }) });
    $("#account-table tbody").innerHTML = r.positions.map(p => `<tr><td>${esc(p.symbol)}</td><td>${esc(p.side)}</td><td>${p.size}</td><td>${price(p.entry)}</td>
      <td>${price(p.mark)}</td><td>${usd(p.maintenance_margin)}</td><td>${p.side === "long" && p.liquidation_price <= 0 ? "never" : price(p.liquidation_price)}</td>
      <td>${pct(p.liquidation_distance_pct)}</td></tr>`).join("");
  } catch (e) { showError("#account-error", e); }
});

// ------------------------------------------------------------------ stress test
let source = null;
$("#stress-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError("#stress-error", null);
  const f = ev.target;
  const body = f.kind.value === "run"
    ? { kind: "run", scenario: f.scenario.value, positions: +f.positions.value }
    : { kind: "sweep", scenario: f.scenario.value, shocks_usd: f.shocks_usd.value.split(",").map(Number), paths: +f.paths.value,
        positions: +f.positions.value, steps: +f.steps.value };
  try {
    const job = await api("/api/jobs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    watchJob(job);
  } catch (e) { showError("#stress-error", e); }
});

function watchJob(job) {
  $("#job").hidden = false;
  $("#job-id").textContent = job.id;
  document.body.dataset.job = "running";
  if (source) source.close();
  source = new EventSource(`/api/jobs/${encodeURIComponent(job.id)}/events`);
  source.onmessage = (e) => {
    const j = JSON.parse(e.data);
    $("#job-state").textContent = j.state;
    const p = j.progress;
    if (p && p.total) { $("#job-bar").max = p.total; $("#job-bar").value = p.done; $("#job-progress").textContent = `${p.stage} ${p.done}/${p.total}`; }
    if (j.state !== "running") {
      source.close();
      source = null;
      $("#job-result").textContent = j.error ? `error: ${j.error}` : (j.kind === "run" ? `run ${j.result.run_id}: ${usd(j.result.liquidations_usd)} liquidated` :
        `sweep ${j.result.sweep_id}: critical shock ${j.result.critical_shock_usd == null ? "not reached on this grid" : usd(j.result.critical_shock_usd)} (${j.result.critical_status})`);
      if (j.state === "done" && j.kind === "sweep") drawCurve(j.result.curve);
      if (j.state === "done" && j.kind === "run") $("#job-result").innerHTML += ` · <a href="#run/${encodeURIComponent(j.result.run_id)}">open the run</a>`;
      document.body.dataset.job = j.state;
      showJobs();
      health();
    }
  };
}

$("#job-cancel").addEventListener("click", async () => {
  const id = $("#job-id").textContent;
  if (id) await api(`/api/jobs/${encodeURIComponent(id)}`, { method: "DELETE" }).catch(e => showError("#stress-error", e));
});

function drawCurve(curve) {
  const x = curve.map(r => r.shock_usd);
  Plotly.react("stress-curve", [
    { x, y: curve.map(r => r.drawdown_pct_median), name: "median drawdown (%)", mode: "lines+markers" },
    { x, y: curve.map(r => r.liquidated_usd_median), name: "median liquidated (USD)", mode: "lines+markers", yaxis: "y2" },
  ], { margin: { t: 10 }, xaxis: { type: "log", title: "shock: USD sold" }, yaxis: { title: "drawdown (%)" },
       yaxis2: { title: "liquidated (USD)", overlaying: "y", side: "right" }, legend: { orientation: "h" } }, { responsive: true });
  document.body.dataset.ready = "curve";
}

async function showJobs() {
  const jobs = await api("/api/jobs");
  $("#jobs-table tbody").innerHTML = jobs.map(j => `<tr><td>${esc(j.id)}</td><td>${esc(j.kind)}</td><td>${esc(j.state)}</td><td>${esc(j.created)}</td>
    <td>${esc(j.error || (j.result ? (j.result.run_id || j.result.sweep_id) : ""))}</td></tr>`).join("");
}

// ------------------------------------------------------------------ monitor
async function showMonitor() {
  const m = await api("/api/monitor");
  const st = m.state ? Object.values(m.state) : [];
  const three = (o) => o ? ["1", "2", "5"].map(k => usd(o[k])).join(" / ") : "n/a";
  const ratio = (x) => x == null ? "n/a" : (typeof x === "string" ? x : x.toFixed(2));
  $("#monitor-state tbody").innerHTML = st.map(s => `<tr><td>${esc(s.symbol)}</td><td>${esc(s.datetime)}</td><td>${price(s.price)}</td>
    <td>${three(s.liq_long_usd)}</td><td>${three(s.bid_usd)}</td><td>${ratio(s.branching_down)} / ${ratio(s.branching_up)}</td>
    <td>${usd(s.smallest_cascade_shock_usd)}</td><td>${s.depth_age_s == null ? "n/a" : s.depth_age_s + " s"}</td></tr>`).join("");
  $("#monitor-alerts tbody").innerHTML = m.alerts.slice().reverse().map(a => `<tr class="${a.state === "fired" ? "bad" : ""}"><td>${esc(a.datetime)}</td>
    <td>${esc(a.symbol)}</td><td>${esc(a.kind)}</td><td>${esc(a.state)}</td><td>${esc(a.message)}</td></tr>`).join("");
  $("#monitor-empty").hidden = m.alerts.length > 0;
  document.body.dataset.ready = "monitor";
}
setInterval(() => { if (document.body.dataset.page === "monitor") showMonitor().catch(() => {}); }, 5000);

health();
route();
