// Inline SVG charts for the dashboard (no library, works offline): bars for certificate
// expiry by month, stacked bars for firmware versions over time. Text goes in as text
// nodes, never as markup.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const PALETTE = ['#2f6fdf', '#2a9d5c', '#e0892b', '#8e44ad', '#c0392b', '#16a2b8', '#7f8c8d', '#b7950b'];

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function frame(width, height) {
  return el('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', role: 'img' });
}

/** Bars: [{label, value}], one colour; the value above each bar. */
function barChart(container, items, opts) {
  container.textContent = '';
  if (items.length === 0) {
    container.append(Object.assign(document.createElement('p'), { className: 'empty', textContent: opts.empty }));
    return;
  }
  const W = 900, H = 260, left = 40, bottom = 50, top = 20;
  const svg = frame(W, H);
  const max = Math.max(1, ...items.map((i) => i.value));
  const step = (W - left - 10) / items.length;
  const bw = Math.max(2, step * 0.7);
  svg.append(el('line', { x1: left, y1: H - bottom, x2: W - 5, y2: H - bottom, stroke: '#999' }));
  svg.append(el('text', { x: left - 6, y: top + 4, 'text-anchor': 'end', class: 'axis' }, String(max)));
  svg.append(el('text', { x: left - 6, y: H - bottom, 'text-anchor': 'end', class: 'axis' }, '0'));
  const every = Math.ceil(items.length / 24);
  items.forEach((item, i) => {
    const h = ((H - bottom - top) * item.value) / max;
    const x = left + i * step + (step - bw) / 2;
    const g = el('g', { class: 'bar', 'data-label': item.label, 'data-value': item.value });
    g.append(el('rect', { x, y: H - bottom - h, width: bw, height: h, fill: opts.colour || PALETTE[0] }));
    g.append(el('title', {}, `${item.label}: ${item.value}`));
    if (item.value > 0 && items.length <= 36) g.append(el('text', { x: x + bw / 2, y: H - bottom - h - 4, 'text-anchor': 'middle', class: 'value' }, String(item.value)));
    if (i % every === 0) g.append(el('text', { x: x + bw / 2, y: H - bottom + 14, 'text-anchor': 'end', transform: `rotate(-40 ${x + bw / 2} ${H - bottom + 14})`, class: 'axis' }, item.label));
    svg.append(g);
  });
  container.append(svg);
}

/** Stacked bars: points [{at, counts:{version:n}}] over versions, with a legend. */
function stackedChart(container, versions, points, opts) {
  container.textContent = '';
  if (points.length === 0 || versions.length === 0) {
    container.append(Object.assign(document.createElement('p'), { className: 'empty', textContent: opts.empty }));
    return;
  }
  const W = 900, H = 280, left = 40, bottom = 60, top = 20;
  const svg = frame(W, H);
  const max = Math.max(1, ...points.map((p) => Object.values(p.counts).reduce((a, b) => a + b, 0)));
  const step = (W - left - 150) / points.length;
  const bw = Math.max(2, step * 0.75);
  svg.append(el('line', { x1: left, y1: H - bottom, x2: W - 150, y2: H - bottom, stroke: '#999' }));
  svg.append(el('text', { x: left - 6, y: top + 4, 'text-anchor': 'end', class: 'axis' }, String(max)));
  const every = Math.ceil(points.length / 12);
  points.forEach((p, i) => {
    const x = left + i * step + (step - bw) / 2;
    let y = H - bottom;
    const g = el('g', { class: 'stack', 'data-at': p.at });
    versions.forEach((v, vi) => {
      const n = p.counts[v] || 0;
      if (n === 0) return;
      const h = ((H - bottom - top) * n) / max;
      y -= h;
      const r = el('rect', { x, y, width: bw, height: h, fill: PALETTE[vi % PALETTE.length], 'data-version': v, 'data-count': n });
      r.append(el('title', {}, `${p.at.slice(0, 16).replace('T', ' ')}: ${n} on ${v}`));
      g.append(r);
    });
    if (i % every === 0 || i === points.length - 1) g.append(el('text', { x: x + bw / 2, y: H - bottom + 14, 'text-anchor': 'end', transform: `rotate(-40 ${x + bw / 2} ${H - bottom + 14})`, class: 'axis' }, i === points.length - 1 ? 'now' : p.at.slice(5, 16).replace('T', ' ')));
    svg.append(g);
  });
  versions.forEach((v, vi) => {
    const y = top + vi * 18;
    svg.append(el('rect', { x: W - 140, y, width: 12, height: 12, fill: PALETTE[vi % PALETTE.length] }));
    svg.append(el('text', { x: W - 122, y: y + 10, class: 'legend' }, v));
  });
  container.append(svg);
}

window.espfleetCharts = { barChart, stackedChart };
