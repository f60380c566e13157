// qchart.js: a tiny canvas chart for the Q-Store dashboard (line and bar charts, linear or
// log y axis, legend, "no data" message). No dependencies; part of q-store (Apache-2.0).
"use strict";

(function (global) {
  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2",
                   "#db2777", "#4b5563"];
  const PAD = { left: 64, right: 22, top: 44, bottom: 34 };

  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const norm = raw / mag;
    return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  }

  // a tick value, with as many decimals as the tick spacing needs
  function fmt(v, step) {
    if (Math.abs(v) < 1e-12 * (step || 1)) return "0";
    const a = Math.abs(v);
    if (a >= 1e6 || a < 1e-3) return v.toExponential(1);
    const decimals = step ? Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9))) : 2;
    return v.toFixed(step ? decimals : (a >= 100 ? 0 : 2));
  }

  class QChart {
    // opts: {title, xLabel, yLabel, kind: "line" | "bar", logY, integerX}
    constructor(container, opts) {
      this.opts = Object.assign({ kind: "line", logY: false, xLabel: "", yLabel: "" }, opts);
      this.series = [];
      this.bars = [];
      this.emptyMessage = "waiting for data";
      this.canvas = document.createElement("canvas");
      this.canvas.className = "qchart";
      container.appendChild(this.canvas);
      this.dirty = false;
      if (global.ResizeObserver) new ResizeObserver(() => this.update()).observe(container);
    }

    // series: [{name, points: [[x, y], ...]}]; bars: [{name, value}]
    setSeries(series) { this.series = series; this.update(); }
    setBars(bars) { this.bars = bars; this.update(); }
    setEmpty(message) { this.emptyMessage = message; this.update(); }

    pointCount() {
      if (this.opts.kind === "bar") return this.bars.length;
      return this.series.reduce((n, s) => n + s.points.length, 0);
    }

    update() {
      if (this.dirty) return;
      this.dirty = true;
      global.requestAnimationFrame(() => { this.dirty = false; this.draw(); });
    }

    draw() {
      const c = this.canvas, ratio = global.devicePixelRatio || 1;
      const w = c.clientWidth || 480, h = c.clientHeight || 240;
      if (c.width !== Math.round(w * ratio) || c.height !== Math.round(h * ratio)) {
        c.width = Math.round(w * ratio);
        c.height = Math.round(h * ratio);
      }
      const g = c.getContext("2d");
      g.setTransform(ratio, 0, 0, ratio, 0, 0);
      g.clearRect(0, 0, w, h);
      g.font = "12px system-ui, sans-serif";
      g.fillStyle = "#111827";
      g.font = "bold 12px system-ui, sans-serif";
      g.fillText(this.opts.title || "", 8, 15);
      g.font = "12px system-ui, sans-serif";
      if (this.pointCount() === 0) {
        g.fillStyle = "#6b7280";
        g.textAlign = "center";
        this.wrap(g, this.emptyMessage, w / 2, h / 2 - 8, w - 40);
        g.textAlign = "left";
        return;
      }
      if (this.opts.kind === "bar") this.drawBars(g, w, h);
      else this.drawLines(g, w, h);
    }

    wrap(g, text, x, y, width) {
      const words = String(text).split(" ");
      let line = "";
      for (const word of words) {
        const next = line ? line + " " + word : word;
        if (g.measureText(next).width > width && line) {
          g.fillText(line, x, y);
          y += 16;
          line = word;
        } else {
          line = next;
        }
      }
      if (line) g.fillText(line, x, y);
    }

    frame(g, w, h) {
      g.strokeStyle = "#d1d5db";
      g.strokeRect(PAD.left, PAD.top, w - PAD.left - PAD.right, h - PAD.top - PAD.bottom);
      g.fillStyle = "#4b5563";
      g.fillText(this.opts.xLabel, w - PAD.right - g.measureText(this.opts.xLabel).width,
                 h - 3);
      g.save();
      g.translate(13, h - PAD.bottom);
      g.rotate(-Math.PI / 2);
      g.fillText(this.opts.yLabel, 0, 0);
      g.restore();
    }

    drawLines(g, w, h) {
      const logY = this.opts.logY;
      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      for (const s of this.series) {
        for (const [x, y] of s.points) {
          if (y === null || !isFinite(y) || (logY && y <= 0)) continue;
          const v = logY ? Math.log10(y) : y;
          x0 = Math.min(x0, x); x1 = Math.max(x1, x);
          y0 = Math.min(y0, v); y1 = Math.max(y1, v);
        }
      }
      if (!isFinite(x0)) return;
      if (x1 === x0) { x0 -= 1; x1 += 1; }
      if (!logY && y0 >= 0) y0 = 0; // counts, rates, losses: from zero
      if (y1 === y0) { const d = Math.abs(y0) * 0.1 || 1; y0 = logY ? y0 - d : Math.max(0, y0 - d); y1 += d; }
      const pw = w - PAD.left - PAD.right, ph = h - PAD.top - PAD.bottom;
      const sx = (x) => PAD.left + ((x - x0) / (x1 - x0)) * pw;
      const sy = (v) => PAD.top + ph - ((v - y0) / (y1 - y0)) * ph;
      this.frame(g, w, h);
      g.fillStyle = "#6b7280";
      g.strokeStyle = "#f3f4f6";
      const ys = niceStep(y1 - y0, 4);
      g.textAlign = "right";
      for (let v = Math.ceil(y0 / ys) * ys; v <= y1 + 1e-9 * ys; v += ys) {
        g.beginPath(); g.moveTo(PAD.left, sy(v)); g.lineTo(PAD.left + pw, sy(v)); g.stroke();
        g.fillText(logY ? fmt(Math.pow(10, v)) : fmt(v, ys), PAD.left - 5, sy(v) + 4);
      }
      g.textAlign = "center";
      const xs = Math.max(niceStep(x1 - x0, 6), this.opts.integerX ? 1 : 0);
      for (let v = Math.ceil(x0 / xs) * xs; v <= x1 + 1e-9 * xs; v += xs) {
        g.fillText(fmt(v, xs), sx(v), h - PAD.bottom + 14);
      }
      g.textAlign = "left";
      let lx = 8;
      this.series.forEach((s, i) => {
        const color = s.color || PALETTE[i % PALETTE.length];
        g.strokeStyle = color;
        g.fillStyle = color;
        g.lineWidth = 1.5;
        const stride = Math.max(1, Math.floor(s.points.length / (2 * pw)));
        g.beginPath();
        let open = false;
        for (let k = 0; k < s.points.length; k += stride) {
          const [x, y] = s.points[k];
          if (y === null || !isFinite(y) || (logY && y <= 0)) { open = false; continue; }
          const px = sx(x), py = sy(logY ? Math.log10(y) : y);
          if (open) g.lineTo(px, py); else g.moveTo(px, py);
          open = true;
          if (s.points.length < 60) g.fillRect(px - 2, py - 2, 4, 4);
        }
        g.stroke();
        g.lineWidth = 1;
        if (s.points.length) {
          g.fillRect(lx, 27, 10, 3);
          g.fillStyle = "#374151";
          g.fillText(s.name, lx + 14, 32);
          lx += g.measureText(s.name).width + 28;
        }
      });
    }

    drawBars(g, w, h) {
      const pw = w - PAD.left - PAD.right, ph = h - PAD.top - PAD.bottom;
      const top = Math.max(...this.bars.map((b) => b.value), 1e-12);
      this.frame(g, w, h);
      const slot = pw / this.bars.length, bw = Math.min(80, slot * 0.6);
      this.bars.forEach((b, i) => {
        const bh = (b.value / top) * ph, x = PAD.left + slot * i + (slot - bw) / 2;
        g.fillStyle = PALETTE[i % PALETTE.length];
        g.fillRect(x, PAD.top + ph - bh, bw, bh);
        g.fillStyle = "#374151";
        g.fillText(fmt(b.value, Number.isInteger(b.value) ? 1 : 0), x, PAD.top + ph - bh - 4);
        g.fillText(b.name, x, h - PAD.bottom + 14);
      });
    }
  }

  global.QChart = QChart;
})(window);
