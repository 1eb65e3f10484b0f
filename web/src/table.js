// table.js — sortable, keyboard-friendly table. Rows are role=row elements
// with data-key; big tables are virtualised (fixed row height, a spacer, only
// the visible rows plus overscan are in the DOM). Enter/Space on a row opens
// its link; arrow keys move between rows; headers sort (click or keyboard).

import { h, clear } from './dom.js';
import { go } from './state.js';

const ROW = 34;
const OVERSCAN = 8;
const VIRTUAL_AT = 60;

/**
 * columns: [{id, label, num, value(row) → sortable, cell(row) → string|Node, width}]
 * opts: {rows, key(row), href(row), sort ("col" or "-col"), onSort(sort), label, maxHeight}
 */
export function table(columns, opts) {
  let rows = opts.rows;
  let view = rows;
  let filterFn = null;
  let sort = parseSort(opts.sort, columns);
  const template = columns.map((c) => c.width || (c.num ? 'minmax(90px, 1fr)' : 'minmax(140px, 2fr)')).join(' ');

  const headCells = columns.map((c) => {
    const btn = h('button', { type: 'button', class: 'th-btn', onclick: () => setSort(c.id) }, c.label);
    return h('div', { role: 'columnheader', class: `th${c.num ? ' num' : ''}`, dataset: { col: c.id } }, btn);
  });
  const head = h('div', { role: 'row', class: 'tr thead' }, headCells);
  head.style.gridTemplateColumns = template;
  const body = h('div', { class: 'tbody', role: 'rowgroup' });
  const scroller = h('div', { class: 'tscroll' }, h('div', { role: 'rowgroup', class: 'thead-group' }, head), body);
  const count = h('div', { class: 'tcount' });
  const el = h('div', { class: 'table', role: 'table', 'aria-label': opts.label || 'table' }, scroller, count);
  if (opts.maxHeight) scroller.style.maxHeight = opts.maxHeight;

  function parseSort(s, cols) {
    if (!s) return null;
    const desc = s.startsWith('-');
    const id = desc ? s.slice(1) : s;
    return cols.some((c) => c.id === id) ? { id, desc } : null;
  }

  function setSort(id) {
    const col = columns.find((c) => c.id === id);
    if (sort && sort.id === id) sort = { id, desc: !sort.desc };
    else sort = { id, desc: !!col.num };
    apply();
    if (opts.onSort) opts.onSort(`${sort.desc ? '-' : ''}${sort.id}`);
  }

  function apply() {
    view = filterFn ? rows.filter(filterFn) : rows.slice();
    if (sort) {
      const col = columns.find((c) => c.id === sort.id);
      const val = col.value || ((r) => r[col.id]);
      const dir = sort.desc ? -1 : 1;
      view.sort((a, b) => {
        const x = val(a), y = val(b);
        const xn = x === null || x === undefined || (typeof x === 'number' && !Number.isFinite(x));
        const yn = y === null || y === undefined || (typeof y === 'number' && !Number.isFinite(y));
        if (xn || yn) return xn && yn ? 0 : xn ? 1 : -1; // missing values last
        if (typeof x === 'number' && typeof y === 'number') return (x - y) * dir;
        return String(x).localeCompare(String(y), undefined, { numeric: true }) * dir;
      });
    }
    headCells.forEach((hc, i) => {
      const c = columns[i];
      hc.setAttribute('aria-sort', sort && sort.id === c.id ? (sort.desc ? 'descending' : 'ascending') : 'none');
    });
    count.textContent = filterFn ? `${view.length} of ${rows.length} ${rows.length === 1 ? 'row' : 'rows'}` : `${rows.length} ${rows.length === 1 ? 'row' : 'rows'}`;
    draw(true);
  }

  function rowEl(r, i) {
    const link = opts.href ? opts.href(r) : null;
    const tr = h('div', { role: 'row', class: 'tr', tabindex: '0', dataset: { key: opts.key(r), index: String(i) } },
      columns.map((c, ci) => {
        let content = c.cell ? c.cell(r) : r[c.id];
        if (content === null || content === undefined || content === '') content = '—';
        if (ci === 0 && link) content = h('a', { href: link, tabindex: '-1' }, content);
        return h('div', { role: 'cell', class: `td${c.num ? ' num' : ''}` }, content);
      }));
    tr.style.gridTemplateColumns = template;
    if (virtual) tr.style.transform = `translateY(${i * ROW}px)`;
    if (link) {
      tr.classList.add('link');
      tr.addEventListener('click', (e) => { if (!e.target.closest('a')) go(link); });
    }
    tr.addEventListener('keydown', (e) => {
      if ((e.key === 'Enter' || e.key === ' ') && link) { e.preventDefault(); go(link); }
      else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') { e.preventDefault(); focusRow(i + (e.key === 'ArrowDown' ? 1 : -1)); }
    });
    return tr;
  }

  function focusRow(i) {
    if (i < 0 || i >= view.length) return;
    if (virtual) {
      const top = i * ROW, bottom = top + ROW;
      const vh = scroller.clientHeight - head.offsetHeight;
      if (top < scroller.scrollTop) scroller.scrollTop = top;
      else if (bottom > scroller.scrollTop + vh) scroller.scrollTop = bottom - vh;
      draw(true);
    }
    const tr = body.querySelector(`[data-index="${i}"]`);
    if (tr) tr.focus();
  }

  let virtual = false;
  let drawn = '';
  function draw(force) {
    virtual = view.length > VIRTUAL_AT;
    el.classList.toggle('virtual', virtual);
    if (!virtual) {
      clear(body);
      body.style.height = '';
      view.forEach((r, i) => body.appendChild(rowEl(r, i)));
      return;
    }
    body.style.height = `${view.length * ROW}px`;
    const vh = scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(view.length, Math.ceil((scroller.scrollTop + vh) / ROW) + OVERSCAN);
    const sig = `${first}:${last}`;
    if (!force && sig === drawn) return;
    drawn = sig;
    const focusedKey = document.activeElement?.closest?.('.tr')?.dataset.key;
    clear(body);
    for (let i = first; i < last; i++) body.appendChild(rowEl(view[i], i));
    if (focusedKey) body.querySelector(`[data-key="${CSS.escape(focusedKey)}"]`)?.focus({ preventScroll: true });
  }

  let raf = 0;
  scroller.addEventListener('scroll', () => {
    if (!virtual || raf) return;
    raf = requestAnimationFrame(() => { raf = 0; draw(false); });
  }, { passive: true });

  apply();
  return {
    el,
    setFilter(fn) { filterFn = fn; apply(); },
    setRows(r) { rows = r; apply(); },
    get size() { return view.length; },
  };
}
