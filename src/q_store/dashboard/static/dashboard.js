// The Q-Store dashboard page: a runs list, one run's charts fed by its server-sent event
// stream, and run comparison. Every point drawn comes from a telemetry event of the run; a
// chart whose events the run did not produce says so instead of drawing anything.
"use strict";

(function () {
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };

  const CHARTS = {
    loss: { title: "Loss", xLabel: "step", yLabel: "loss", integerX: true },
    accuracy: { title: "Accuracy", xLabel: "step", yLabel: "accuracy", integerX: true },
    circuits: { title: "Circuit execution (real time)", xLabel: "seconds", yLabel: "circuits/s" },
    backends: { title: "Backend load distribution", kind: "bar", yLabel: "circuits run" },
    variance: { title: "Gradient variance", xLabel: "step", yLabel: "gradient²", logY: true,
                integerX: true },
    shots: { title: "Shot allocation history", xLabel: "step", yLabel: "shots per circuit",
             integerX: true },
    complexity: { title: "Circuit complexity evolution", xLabel: "step",
                  yLabel: "gates per circuit", integerX: true },
    cost: { title: "Cost", xLabel: "seconds", yLabel: "USD (cumulative)" },
  };
  const COMPARE = {
    compare_loss: { title: "Loss per step", xLabel: "step", yLabel: "loss", integerX: true },
    compare_accuracy: { title: "Accuracy per step", xLabel: "step", yLabel: "accuracy",
                        integerX: true },
    compare_val_loss: { title: "Validation loss per epoch", xLabel: "epoch", yLabel: "loss",
                        integerX: true },
  };

  const app = {
    mode: null, runs: [], current: null, source: null, reducer: null, charts: {},
    status: null, selected: new Set(), lastError: null,
  };
  window.qstore = app; // read by tests and by people in the browser console

  async function getJSON(url) {
    const r = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  }

  // -- one run's events, reduced to chart series ---------------------------------------------
  function newReducer() {
    return {
      t0: null, lastStep: 0, lastEpoch: 0, events: 0, steps: 0, task: null,
      loss: { step: [], epoch: [], val: [] }, acc: { step: [], epoch: [], val: [] },
      cps: [], usd: [], usdTotal: 0, backends: {}, split: null,
      variance: { g2: [], v: [] }, shots: { used: [], next: [], fixed: [] }, stepShots: 0,
      complexity: { gates: [], two: [], before: [], after: [] },
      totals: { requested: 0, run: 0, hits: 0, jobs: 0, templates: 0, templateHits: 0 },
      last: {}, model: null,
    };
  }

  const num = (v) => typeof v === "number" && isFinite(v);

  function ingest(r, e) {
    r.events += 1;
    if (r.t0 === null && num(e.t)) r.t0 = e.t;
    const t = num(e.t) ? e.t - r.t0 : 0;
    switch (e.event) {
      case "run":
        r.model = e.model || null;
        if (e.data && e.data.task) r.task = e.data.task;
        break;
      case "step": {
        r.steps += 1;
        r.lastStep = e.step;
        r.lastEpoch = e.epoch;
        r.last.step = e;
        if (num(e.loss)) r.loss.step.push([e.step, e.loss]);
        if (num(e.accuracy)) r.acc.step.push([e.step, e.accuracy]);
        if (num(e.shots) && e.shots > 0 && num(e.circuits) && e.circuits > 0) {
          r.stepShots += e.shots;
          r.shots.fixed.push([e.step, e.shots / e.circuits]);
        }
        break;
      }
      case "epoch":
        r.last.epoch = e;
        r.lastEpoch = e.epoch;
        if (num(e.loss)) r.loss.epoch.push([r.lastStep, e.loss]);
        if (num(e.val_loss)) r.loss.val.push([r.lastStep, e.val_loss]);
        if (num(e.accuracy)) r.acc.epoch.push([r.lastStep, e.accuracy]);
        if (num(e.val_accuracy)) r.acc.val.push([r.lastStep, e.val_accuracy]);
        break;
      case "circuits": {
        const tot = r.totals;
        tot.requested += e.requested || 0;
        tot.run += e.run || 0;
        tot.hits += e.cache_hits || 0;
        if (num(e.run) && e.run > 0 && num(e.seconds) && e.seconds > 0) {
          r.cps.push([t, e.run / e.seconds]);
        }
        const b = e.backend || "?";
        r.backends[b] = (r.backends[b] || 0) + (e.run || 0);
        r.usdTotal += num(e.usd) ? e.usd : 0;
        r.usd.push([t, r.usdTotal]);
        break;
      }
      case "job":
        r.totals.jobs += 1;
        break;
      case "backend_stats": // the multi-backend orchestrator's split of one call
        r.split = r.split || {};
        for (const [name, n] of Object.entries(e.split || {})) {
          r.split[name] = (r.split[name] || 0) + n;
        }
        break;
      case "template":
        r.totals.templates += 1;
        if (e.hit) r.totals.templateHits += 1;
        break;
      case "shots":
        if (num(e.shots)) r.shots.used.push([e.step, e.shots]);
        if (num(e.next_shots)) r.shots.next.push([e.step, e.next_shots]);
        if (num(e.gradient_norm2)) r.variance.g2.push([e.step, e.gradient_norm2]);
        if (num(e.variance_per_shot) && num(e.shots) && e.shots > 0) {
          r.variance.v.push([e.step, e.variance_per_shot / e.shots]);
        }
        break;
      case "depth":
        r.complexity.gates.push([r.lastStep, e.gates]);
        r.complexity.two.push([r.lastStep, e.two_qubit_gates]);
        break;
      case "optimization": {
        if (!num(e.circuits) || e.circuits <= 0) break;
        const x = r.lastStep;
        for (const [key, series] of [["gates_before", r.complexity.before],
                                     ["gates_after", r.complexity.after]]) {
          const prev = series[series.length - 1];
          if (prev && prev[0] === x) { // one point per step: the step's circuits together
            prev[2] += e[key]; prev[3] += e.circuits; prev[1] = prev[2] / prev[3];
          } else {
            series.push([x, e[key] / e.circuits, e[key], e.circuits]);
          }
        }
        break;
      }
      default:
        break;
    }
  }

  const NO_STEPS = "no data for this run: no training step has been recorded yet";

  function render(r) {
    const c = app.charts, running = app.status === "running";
    const waiting = (why) => (running ? "waiting for data: " : "no data for this run: ") + why;
    const lossSeries = [
      { name: "step", points: r.loss.step }, { name: "epoch mean", points: r.loss.epoch },
      { name: "validation", points: r.loss.val }];
    c.loss.setEmpty(running ? "waiting for the first training step" : NO_STEPS);
    c.loss.setSeries(lossSeries);
    const accSeries = [
      { name: "step", points: r.acc.step }, { name: "epoch mean", points: r.acc.epoch },
      { name: "validation", points: r.acc.val }];
    c.accuracy.setEmpty(r.steps > 0 || r.task === "regression"
      ? "no data for this run: accuracy is measured for classification models only"
      : (running ? "waiting for the first training step" : NO_STEPS));
    c.accuracy.setSeries(accSeries);
    c.circuits.setEmpty(waiting("the execution engine reports a 'circuits' event per call"));
    c.circuits.setSeries([{ name: "circuits run per second of execution", points: r.cps }]);
    const load = r.split || r.backends;
    c.backends.setEmpty(waiting("no circuits have run"));
    c.backends.setBars(Object.keys(load).sort().map((k) => ({ name: k, value: load[k] })));
    c.variance.setEmpty(waiting(
      "gradient variance is measured by the adaptive shot allocator " +
      "(adaptive_shot_allocation=True with shots set), which this run does not use"));
    c.variance.setSeries([
      { name: "|gradient|² (smoothed)", points: r.variance.g2 },
      { name: "shot-noise variance", points: r.variance.v }]);
    if (r.shots.used.length) {
      c.shots.setSeries([{ name: "shots used", points: r.shots.used },
                         { name: "next allocation", points: r.shots.next }]);
    } else {
      c.shots.setEmpty(r.steps > 0 && r.stepShots === 0
        ? "no data for this run: exact expectation values (shots=None), no shots to allocate"
        : waiting("no training step has been recorded yet"));
      c.shots.setSeries([{ name: "shots per circuit (fixed)", points: r.shots.fixed }]);
    }
    c.complexity.setEmpty(waiting(
      "the circuit's size is reported by adaptive_circuit_depth ('depth' events) and " +
      "enable_circuit_optimization on a backend ('optimization' events); this run uses neither"));
    c.complexity.setSeries([
      { name: "training circuit", points: r.complexity.gates },
      { name: "two-qubit gates", points: r.complexity.two },
      { name: "sent, before optimisation", points: r.complexity.before },
      { name: "sent, after optimisation", points: r.complexity.after }]);
    c.cost.setEmpty(waiting("no circuits have run"));
    c.cost.setSeries([{ name: "USD spent", points: r.usd }]);
    renderTiles(r);
  }

  function renderTiles(r) {
    const step = r.last.step || {}, epoch = r.last.epoch || {}, t = r.totals;
    const pct = (a, b) => (b > 0 ? (100 * a / b).toFixed(1) + " %" : "n/a");
    const tiles = [
      ["status", app.status || "?"],
      ["epoch", epoch.epoch !== undefined ? String(epoch.epoch) : (step.epoch || "-")],
      ["step", step.step !== undefined ? String(step.step) : "-"],
      ["loss", num(step.loss) ? step.loss.toFixed(4) : "-"],
      ["val loss", num(epoch.val_loss) ? epoch.val_loss.toFixed(4) : "-"],
      ["accuracy", num(epoch.val_accuracy) ? (100 * epoch.val_accuracy).toFixed(1) + " %"
        : num(step.accuracy) ? (100 * step.accuracy).toFixed(1) + " %" : "-"],
      ["circuits run", t.run.toLocaleString()],
      ["result cache hits", pct(t.hits, t.requested)],
      ["template hits", pct(t.templateHits, t.templates)],
      ["backend jobs", t.jobs.toLocaleString()],
      ["cost", "$" + r.usdTotal.toFixed(4)],
      ["events", r.events.toLocaleString()],
    ];
    const box = $("#tiles");
    box.replaceChildren(...tiles.map(([k, v]) => {
      const d = el("div", "tile");
      d.append(el("div", "tile-k", k), el("div", "tile-v", String(v)));
      return d;
    }));
  }

  // -- the stream ----------------------------------------------------------------------------
  function openRun(id) {
    if (app.source) app.source.close();
    app.current = id;
    app.reducer = newReducer();
    app.status = "running";
    const info = app.runs.find((x) => x.id === id);
    $("#run-title").textContent = info ? `${info.name}  (${info.id})` : id;
    $("#run-note").textContent = info && info.dropped_events
      ? `the oldest ${info.dropped_events} events were dropped from memory` : "";
    render(app.reducer);
    const src = new EventSource(`api/runs/${encodeURIComponent(id)}/stream?after=0`);
    app.source = src;
    let pending = false;
    src.addEventListener("events", (ev) => {
      for (const e of JSON.parse(ev.data)) ingest(app.reducer, e);
      if (!pending) {
        pending = true;
        setTimeout(() => { pending = false; if (app.source === src) render(app.reducer); }, 100);
      }
    });
    src.addEventListener("status", (ev) => {
      app.status = JSON.parse(ev.data).status;
      $("#run-status").textContent = app.status;
      $("#run-status").className = "badge " + app.status;
      const listed = app.runs.find((x) => x.id === id);
      if (listed) listed.status = app.status;
      renderRuns();
      render(app.reducer);
    });
    src.addEventListener("end", () => {
      src.close();
      render(app.reducer);
      refreshRuns();
    });
    src.onerror = () => { // the browser reconnects by itself, from the last event id
      $("#run-note").textContent = "connection lost: reconnecting";
    };
    src.onopen = () => { $("#run-note").textContent = ""; };
    renderRuns();
  }

  // -- runs list and comparison --------------------------------------------------------------
  // Rows are keyed by run id and updated in place, so a periodic refresh never replaces the
  // element a user is about to click (nor loses a checkbox's focus).
  const runRows = new Map();
  function runRow(run) {
    let row = runRows.get(run.id);
    if (!row) {
      const li = el("li", "run");
      const box = el("input");
      box.type = "checkbox";
      box.title = "select for comparison";
      box.addEventListener("change", () => {
        if (box.checked) app.selected.add(run.id); else app.selected.delete(run.id);
        $("#compare-button").disabled = app.selected.size < 2;
      });
      const name = el("a", "run-name");
      name.href = "#" + run.id;
      name.addEventListener("click", (ev) => { ev.preventDefault(); openRun(run.id); });
      const badge = el("span", "badge");
      li.append(box, name, badge);
      row = { li, box, name, badge };
      runRows.set(run.id, row);
    }
    row.li.className = run.id === app.current ? "run current" : "run";
    row.box.checked = app.selected.has(run.id);
    if (row.name.textContent !== run.name) row.name.textContent = run.name;
    row.badge.className = "badge " + run.status;
    if (row.badge.textContent !== run.status) row.badge.textContent = run.status;
    return row.li;
  }

  function renderRuns() {
    const list = $("#runs");
    const ids = new Set(app.runs.map((run) => run.id));
    for (const [id, row] of runRows) {
      if (!ids.has(id)) { row.li.remove(); runRows.delete(id); app.selected.delete(id); }
    }
    app.runs.forEach((run, i) => {
      const li = runRow(run);
      if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
    });
    $("#compare-button").disabled = app.selected.size < 2;
  }

  async function refreshRuns() {
    try {
      app.runs = (await getJSON("api/runs")).runs;
      $("#conn").textContent = "";
    } catch (err) {
      $("#conn").textContent = "server unreachable: " + err.message;
      return;
    }
    renderRuns();
    if (app.current === null && app.runs.length) openRun(app.runs[0].id);
    if (!app.runs.length) $("#run-title").textContent = "no runs yet";
  }

  async function compare() {
    const ids = [...app.selected];
    const q = ids.map((id) => "run=" + encodeURIComponent(id)).join("&");
    let body;
    try {
      body = await getJSON("api/compare?" + q);
    } catch (err) {
      $("#compare-note").textContent = err.message;
      return;
    }
    $("#compare").hidden = false;
    const pick = (kind, name) => body.runs.map((run) => ({
      name: run.name + " " + run.id.slice(-6),
      points: (run.curves[kind] || {})[name] || [],
    }));
    app.charts.compare_loss.setSeries(pick("step", "loss"));
    app.charts.compare_accuracy.setSeries(pick("step", "accuracy"));
    app.charts.compare_val_loss.setSeries(pick("epoch", "val_loss"));
    $("#compare-note").textContent = `${body.runs.length} runs overlaid`;
  }

  function makeCharts(specs, parent) {
    for (const [key, spec] of Object.entries(specs)) {
      const box = el("section", "chart");
      box.id = "chart-" + key;
      parent.appendChild(box);
      app.charts[key] = new window.QChart(box, spec);
    }
  }

  async function main() {
    makeCharts(CHARTS, $("#charts"));
    makeCharts(COMPARE, $("#compare-charts"));
    for (const key of Object.keys(COMPARE)) {
      app.charts[key].setEmpty("no data for these runs");
    }
    $("#compare-button").addEventListener("click", compare);
    try {
      const info = await getJSON("api/info");
      app.mode = info.mode;
      document.title = info.title;
      $("#title").textContent = info.title;
      $("#mode").textContent = info.mode === "live" ? "live trainer" : "run store";
    } catch (err) {
      $("#conn").textContent = "server unreachable: " + err.message;
    }
    await refreshRuns();
    setInterval(refreshRuns, 2000);
  }

  window.addEventListener("DOMContentLoaded", main);
})();
