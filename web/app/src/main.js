// The offices' web app (issue 9; docs/web.md). Every request is an envelope
// signed here with this browser's own key; tanfangd decides what the key may
// see, exactly as for tanfang-super. Pages: this device's key (enrolment),
// the overview (visit rates by area, a 12-month trend, what is overdue) and
// the overdue list (filters, paging, export of every row).
import * as echarts from 'echarts/core';
import { BarChart, LineChart, ScatterChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';
import QRCode from 'qrcode';
import writeExcelFile from 'write-excel-file/browser';
import { GatewayError, call, demoEnrol } from './api.js';
import { currentLang, t, toggleLang } from './i18n.js';
import { deviceKey, hex } from './keys.js';
import { adminInit, areasPage, eldersPage, importPage, keysPage, listAll, visitorsPage } from './admin.js';
import { areaNames, label, ruleLabel } from './labels.js';

echarts.use([BarChart, LineChart, ScatterChart, GridComponent, LegendComponent, TooltipComponent, SVGRenderer]);

const main = document.getElementById('main');
const PAGES = ['overview', 'report', 'overdue', 'map', 'activity', 'areas', 'elders', 'import', 'visitors', 'keys', 'key'];

// ---- small helpers ----

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) e.append(c instanceof Node ? c : String(c ?? ''));
  return e;
}

function pct(num, den) {
  return den ? `${((100 * num) / den).toFixed(1)}%` : '–';
}

// Dates in the policy's zone (the daemon's months are Beijing months).
const ZONE = 'Asia/Shanghai';
function day(unix) {
  if (!unix) return t('never');
  return new Date(unix * 1000).toLocaleDateString('sv-SE', { timeZone: ZONE });
}
function month(offset) {
  const now = new Date(new Date().toLocaleString('en-US', { timeZone: ZONE }));
  const d = new Date(now.getFullYear(), now.getMonth() + offset, 1);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

// A refusal or a failure on the way, said plainly. Returns true when the
// page was replaced by the enrolment page (the key is not enrolled).
async function trouble(e, rep) {
  if (rep?.status === 'STATUS_UNKNOWN_SIGNER') {
    await keyPage(true);
    return true;
  }
  let text;
  if (e instanceof GatewayError) text = t(`gw${e.code}`) === `gw${e.code}` ? `${t('gwOther')} ${e.code}: ${e.message}` : t(`gw${e.code}`);
  else if (e?.message === 'no-webcrypto' || e?.name === 'NotSupportedError') text = t('noWebCrypto');
  // Not this key's to see (a supervisor on an admin page): said so, with
  // the daemon's reason after it.
  else if (rep?.status === 'STATUS_FORBIDDEN') text = `${t('forbidden')}（${rep.detail}）`;
  else if (rep) text = `${t('refused')}: ${rep.status} ${rep.detail}`;
  else text = String(e);
  main.replaceChildren(el('p', { class: 'error', id: 'trouble' }, text));
  return false;
}

// Calls op; on any trouble shows it and returns null.
// anyStatus: the caller reads a refusal itself (a check-only import).
async function ask(op, anyStatus = false) {
  let rep;
  try {
    rep = await call(op);
  } catch (e) {
    await trouble(e);
    return null;
  }
  if (rep.status !== 'STATUS_OK' && !(anyStatus && rep.status !== 'STATUS_UNKNOWN_SIGNER')) {
    await trouble(null, rep);
    return null;
  }
  return rep;
}

// ---- this device's key ----

async function keyPage(notEnrolled) {
  let key;
  try {
    key = await deviceKey();
  } catch (e) {
    await trouble(e);
    return;
  }
  const h = hex(key.raw);
  const qr = await QRCode.toDataURL(h, { margin: 1, width: 220 });
  main.replaceChildren(
    el('h1', {}, t('keyTitle')),
    notEnrolled ? el('p', { class: 'error', id: 'not-enrolled' }, t('notEnrolled')) : '',
    el('p', {}, t('publicKey')),
    el('p', { class: 'key', id: 'public-key' }, h),
    el('img', { src: qr, alt: h, id: 'key-qr', width: 220, height: 220 }),
    el('p', { class: 'muted' }, t('keyHelp')),
  );
}

// ---- overview ----

function reportTable(rep) {
  const rows = rep.report.rows;
  return el(
    'table',
    { class: 'report', 'data-month': rep.report.month },
    el('tr', {}, el('th', {}, t('area')), ...['required', 'visited', 'visitRate', 'partyRate', 'neighbourRate', 'notSetUp'].map((k) => el('th', { class: 'num' }, t(k)))),
    rows.map((r) =>
      el(
        'tr',
        { 'data-area': r.area },
        el('td', {}, `${'　'.repeat(r.depth)}${r.name || r.area}`),
        el('td', { class: 'num' }, r.required),
        el('td', { class: 'num' }, r.visited),
        el('td', { class: 'num' }, pct(r.visited, r.required)),
        el('td', { class: 'num' }, pct(r.party_done, r.party_required)),
        el('td', { class: 'num' }, pct(r.neighbour_done, r.neighbour_required)),
        el('td', { class: 'num' }, r.neighbour_required - r.neighbour_set_up),
      ),
    ),
  );
}

function rateChart(node, current, last) {
  const kids = current.report.rows.filter((r) => r.depth === 1);
  const lastBy = new Map(last.report.rows.map((r) => [r.area, r]));
  const rate = (r) => (r && r.required ? +((100 * r.visited) / r.required).toFixed(1) : 0);
  const chart = echarts.init(node, null, { renderer: 'svg' });
  chart.setOption({
    animation: false,
    tooltip: { trigger: 'axis' },
    legend: { data: [t('thisMonth'), t('lastMonth')] },
    // Every bar named: all labels, turned when they crowd.
    xAxis: { type: 'category', data: kids.map((r) => r.name || r.area), axisLabel: { interval: 0, rotate: kids.length > 6 ? 30 : 0 } },
    yAxis: { type: 'value', max: 100, axisLabel: { formatter: '{value}%' } },
    series: [
      { name: t('thisMonth'), type: 'bar', data: kids.map(rate) },
      { name: t('lastMonth'), type: 'bar', data: kids.map((r) => rate(lastBy.get(r.area))) },
    ],
  });
  node.dataset.bars = JSON.stringify(kids.map((r) => [r.area, rate(r)]));
}

async function trend(node) {
  const months = Array.from({ length: 12 }, (_, i) => month(i - 11));
  const rates = [];
  for (const m of months) {
    const rep = await ask({ report: { month: m } });
    if (!rep) return;
    const root = rep.report.rows[0];
    // A month with nobody on the register has no rate: a gap, not 0%.
    rates.push(root && root.required ? +((100 * root.visited) / root.required).toFixed(1) : null);
  }
  const chart = echarts.init(node, null, { renderer: 'svg' });
  chart.setOption({
    animation: false,
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'category', data: months },
    yAxis: { type: 'value', max: 100, axisLabel: { formatter: '{value}%' } },
    series: [{ type: 'line', data: rates }],
  });
}

async function overview() {
  main.replaceChildren(el('p', { class: 'muted' }, t('loading')));
  const current = await ask({ report: { month: month(0) } });
  if (!current) return;
  const last = await ask({ report: { month: month(-1) } });
  if (!last) return;
  const od = await ask({ overdue: { limit: 1000 } });
  if (!od) return;
  // Each rule's own total (the first page finds the rules), so the rows add
  // up to the total above them; what no row holds is "other".
  const labels = new Map();
  for (const it of od.overdue.items) if (!labels.has(it.rule)) labels.set(it.rule, it.rule_label);
  const byRule = [];
  for (const [r, l] of labels) {
    const one = await ask({ overdue: { rule: r, limit: 1 } });
    if (!one) return;
    byRule.push([ruleLabel(r, l), one.overdue.total, r]);
  }
  const rest = od.overdue.total - byRule.reduce((n, [, k]) => n + k, 0);
  if (rest > 0) byRule.push([t('otherRules'), rest, '']);
  const chartNode = el('div', { class: 'chart', id: 'rate-chart' });
  const trendNode = el('div', { class: 'chart', id: 'trend-chart' });
  const partial = /at least/.test(od.detail || '');
  main.replaceChildren(
    el('h1', {}, `${t('thisMonth')} ${current.report.month}`),
    chartNode,
    reportTable(current),
    el('h2', {}, `${t('lastMonth')} ${last.report.month}`),
    reportTable(last),
    el('h2', {}, t('overdueNow'), ': ', el('span', { id: 'overdue-total' }, od.overdue.total)),
    el(
      'table',
      { id: 'by-rule' },
      el('tr', {}, el('th', {}, t('rule')), el('th', { class: 'num' }, partial ? `${t('overdue')} (${t('atLeast')})` : t('overdue'))),
      byRule.map(([r, n, code]) => el('tr', { 'data-rule': code }, el('td', {}, r), el('td', { class: 'num' }, n))),
    ),
    el('h2', {}, t('trend')),
    trendNode,
  );
  rateChart(chartNode, current, last);
  await trend(trendNode);
}

// ---- overdue list ----

const PAGE = 50;

function overdueRows(items, names) {
  return items.map((it) =>
    el(
      'tr',
      { 'data-elder': it.elder_id, 'data-area': it.area, 'data-rule': it.rule },
      el('td', {}, el('a', { href: `#/elder?id=${encodeURIComponent(it.elder_id)}` }, `${it.elder_name} (${it.elder_id})`)),
      el('td', { title: it.area }, names.get(it.area) || it.area),
      el('td', {}, ruleLabel(it.rule, it.rule_label)),
      el('td', {}, holder(it)),
      el('td', {}, day(it.due_at)),
      el('td', { class: 'num' }, Math.floor(it.overdue_s / 86400)),
      el('td', {}, day(it.last_visit_at)),
    ),
  );
}

// Every row, page by page, for the export.
async function allOverdue(filter) {
  const items = [];
  for (let offset = 0; ; offset += 1000) {
    const rep = await ask({ overdue: { ...filter, offset, limit: 1000 } });
    if (!rep) return null;
    items.push(...rep.overdue.items);
    if (!rep.overdue.items.length || items.length >= rep.overdue.total) return items;
  }
}

// CSV as Excel opens it: UTF-8 with a BOM, codes kept as text, nothing that
// Excel would run as a formula.
// The same rules as tanfang-super's CSV (core/output.c): a cell Excel would
// turn into a number (an 18-digit id, a 12-digit area code, leading zeros)
// goes after a tab, which Excel keeps as text; one Excel would take as a
// formula goes after an apostrophe. Numbers of numeric columns stay numbers.
function csvCell(v) {
  if (typeof v === 'number') return String(v);
  let s = String(v ?? '');
  if (/^\d[\deE]+$/.test(s)) s = `\t${s}`;
  else if (s !== '-' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

// Whose duty: the holder, or for an elder-wide duty the elder's assigned
// visitors (issue 11).
function holder(it) {
  if (it.duty_visitor) return it.duty_name || it.duty_visitor;
  return (it.assigned_ids || []).map((id, i) => [it.assigned_names?.[i], id].filter(Boolean).join(' ')).join(', ');
}

// An Excel cell: text as a text cell in the "@" format (kept as text when
// edited; write-excel-file never makes a formula of a string), numbers as
// numbers.
function xlsxCell(v) {
  return typeof v === 'number' ? { type: Number, value: v } : { type: String, value: String(v ?? ''), format: '@' };
}

function download(name, text) {
  saveBlob(name, new Blob(['\ufeff', text], { type: 'text/csv' }));
}

function saveBlob(name, blob) {
  const a = el('a', { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
}

// Every area of the signer's scope ([{code, name, ...}]), for names only:
// a key that may not list them gets codes (null), and the page goes on.
async function allAreas() {
  return listAll('WHAT_AREAS', async (op) => {
    try {
      const rep = await call(op);
      return rep.status === 'STATUS_OK' ? rep : null;
    } catch {
      return null;
    }
  });
}

// The daemon's refusal of a filter, said in the app's words where it is
// one a user makes by typing.
function filterTrouble(rep) {
  const d = rep.detail || '';
  if (rep.status === 'STATUS_NOT_FOUND' && /^no area /.test(d)) return t('noSuchArea');
  if (/^no rule /.test(d)) return `${t('noSuchRule')} (${d.replace(/^.*\(rules: /, '').replace(/\)$/, '')})`;
  if (rep.status === 'STATUS_NOT_FOUND' && /visitor/.test(d)) return t('noSuchVisitor');
  if (rep.status === 'STATUS_FORBIDDEN') return `${t('outOfScope')} (${d})`;
  return `${t('refused')}: ${rep.status} ${d}`;
}

async function overdue() {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const within = params.get('within') || '';
  const filter = {
    area: params.get('area') || '',
    rule: params.get('rule') || '',
    visitor_id: params.get('visitor') || '',
    horizon_s: (Number(within) || 0) * 86400,
  };
  const offset = Math.max(0, Math.floor(Number(params.get('offset')) || 0));
  const sort = params.get('sort') || '';
  main.replaceChildren(el('p', { class: 'muted' }, t('loading')));
  const names = await areaNames(allAreas);
  // The filters take names as people type them: a village's or a rule's
  // name is looked up here (the daemon takes codes).
  const codeOf = new Map([...names].map(([code, name]) => [name, code]));
  const rules = new Map(); // label -> rule, from what the daemon lists
  const go = (o) => {
    const p = new URLSearchParams(params);
    p.set('offset', o);
    location.hash = `#/overdue?${p}`;
  };
  const problem = el('p', { class: 'error', id: 'filter-problem', role: 'alert' });
  const form = el(
    'form',
    {
      class: 'filters',
      onsubmit: (ev) => {
        ev.preventDefault();
        const f = new FormData(ev.target);
        const w = String(f.get('within') || '').trim();
        if (w && (!/^\d+$/.test(w) || Number(w) > 366)) {
          problem.textContent = t('badWithin');
          return;
        }
        const p = new URLSearchParams();
        const area = String(f.get('area') || '').trim();
        const rule = String(f.get('rule') || '').trim();
        if (area) p.set('area', codeOf.get(area) || area);
        if (rule) p.set('rule', rules.get(rule) || rule);
        for (const k of ['visitor', 'within', 'sort']) if (f.get(k)) p.set(k, String(f.get(k)).trim());
        location.hash = `#/overdue?${p}`;
      },
    },
    el('label', {}, t('area'), el('input', { name: 'area', value: names.get(filter.area) || filter.area, list: 'area-names' })),
    el('label', {}, t('rule'), el('input', { name: 'rule', value: filter.rule, list: 'rule-names' })),
    el('label', {}, t('visitor'), el('input', { name: 'visitor', value: filter.visitor_id })),
    el('label', {}, t('within'), el('input', { name: 'within', value: within, inputmode: 'numeric' })),
    el('label', {}, t('sortBy'), el('select', { name: 'sort' },
      [['', t('dueSince')], ['area', t('area')], ['elder', t('elder')], ['rule', t('rule')], ['holder', t('holder')]].map(([v, text]) =>
        el('option', { value: v, ...(v === sort ? { selected: 'selected' } : {}) }, text)))),
    el('button', { type: 'submit' }, t('filter')),
    el('datalist', { id: 'area-names' }, [...names].map(([code, name]) => el('option', { value: name }, code))),
    el('datalist', { id: 'rule-names' }),
  );
  const head = el('h1', { tabindex: '-1' }, t('overdue'));
  // A refusal of the filter is said under the form, which stays to be
  // corrected (it used to replace the page).
  const refusedFilter = (rep) => {
    problem.textContent = filterTrouble(rep);
    main.replaceChildren(head, form, problem);
  };
  let list;
  if (!sort) {
    // The daemon's order (longest overdue first), a page at a time.
    const rep = await ask({ overdue: { ...filter, offset, limit: PAGE } }, true);
    if (!rep) return;
    if (rep.status !== 'STATUS_OK') return refusedFilter(rep);
    list = rep.overdue;
  } else {
    // Another order needs every row: sorted here, then paged.
    const first = await ask({ overdue: { ...filter, limit: 1 } }, true);
    if (!first) return;
    if (first.status !== 'STATUS_OK') return refusedFilter(first);
    const all = await allOverdue(filter);
    if (!all) return;
    // Areas in code order: a township's villages together, as the
    // report lists them.
    const key = { area: (it) => it.area, elder: (it) => it.elder_name, rule: (it) => it.rule, holder: (it) => holder(it) }[sort];
    if (key) all.sort((a, b) => key(a).localeCompare(key(b), 'zh-CN') || b.overdue_s - a.overdue_s);
    list = { items: all.slice(offset, offset + PAGE), total: all.length };
  }
  for (const it of list.items) rules.set(ruleLabel(it.rule, it.rule_label), it.rule);
  form.querySelector('#rule-names').replaceChildren(...[...rules].map(([l, r]) => el('option', { value: l }, r)));
  const ruleInput = form.querySelector('input[name=rule]');
  for (const [l, r] of rules) if (r === filter.rule) ruleInput.value = l;
  const row = (it) => [it.elder_id, it.elder_name, names.get(it.area) || it.area, it.area, ruleLabel(it.rule, it.rule_label), holder(it), day(it.due_at), Math.floor(it.overdue_s / 86400), day(it.last_visit_at)];
  const heads = () => [t('elderId'), t('name'), t('area'), t('code'), t('rule'), t('holder'), t('dueSince'), t('daysOverdue'), t('lastVisit')];
  const exportButton = el('button', {
    type: 'button',
    id: 'export-csv',
    onclick: async () => {
      const items = await allOverdue(filter);
      if (!items) return;
      // The same columns and words as the Excel export.
      const lines = items.map((it) => row(it).map(csvCell).join(','));
      download(`overdue-${month(0)}.csv`, [heads().map(csvCell).join(','), ...lines].join('\r\n') + '\r\n');
    },
  }, t('exportCsv'));
  // Excel: text cells stay text (an 18-digit id keeps its digits) and a
  // note is never a formula.
  const exportXlsx = el('button', {
    type: 'button',
    id: 'export-xlsx',
    onclick: async () => {
      const items = await allOverdue(filter);
      if (!items) return;
      const rows = items.map((it) => row(it).map(xlsxCell));
      const blob = await writeExcelFile([heads().map((h) => ({ value: h, fontWeight: 'bold' })), ...rows]).toBlob();
      saveBlob(`overdue-${month(0)}.xlsx`, blob);
    },
  }, t('exportXlsx'));
  const shown = list.items.length ? `${offset + 1}–${offset + list.items.length}` : '';
  main.replaceChildren(
    head,
    form,
    problem,
    el('p', { id: 'overdue-count' }, `${t('of')} ${list.total} ${t('rows')}`),
    el(
      'div',
      { class: 'scroll' },
      el(
        'table',
        { id: 'overdue-table' },
        el('tr', {}, ...['elder', 'area', 'rule', 'holder', 'dueSince', 'daysOverdue', 'lastVisit'].map((k) => el('th', {}, t(k)))),
        overdueRows(list.items, names),
      ),
    ),
    el(
      'div',
      { class: 'pager' },
      el('button', { type: 'button', id: 'prev', disabled: offset ? null : 'disabled', onclick: () => go(Math.max(0, offset - PAGE)) }, t('prev')),
      el('span', {}, shown),
      el('button', { type: 'button', id: 'next', onclick: () => go(offset + PAGE) }, t('next')),
      exportButton,
      exportXlsx,
    ),
  );
  if (offset + list.items.length >= list.total) main.querySelector('#next').disabled = true;
  if (!offset) main.querySelector('#prev').disabled = true;
  // After a filter (Enter or the button), focus is on the list's heading,
  // not lost to the page.
  if (document.activeElement === document.body) head.focus();
}

// ---- a month's report: read, filed, exported ----

// The report's rows as the exports hold them (the same words as the page).
function reportRows(rep) {
  const head = [t('area'), t('code'), t('required'), t('visited'), t('visitRate'), t('partyRequired'), t('partyDone'),
    t('neighbourRequired'), t('neighbourSetUp'), t('neighbourDone')];
  const rows = rep.report.rows.map((r) => [`${'　'.repeat(r.depth)}${r.name || r.area}`, r.area, r.required, r.visited,
    pct(r.visited, r.required), r.party_required, r.party_done, r.neighbour_required, r.neighbour_set_up, r.neighbour_done]);
  return [head, rows];
}

async function reportPage() {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  // Last month by default: the one an office files at the start of a month.
  const m = params.get('month') || month(-1);
  const asFiled = params.get('as') === 'filed';
  main.replaceChildren(el('p', { class: 'muted' }, t('loading')));
  const names = await areaNames(allAreas);
  const codeOf = new Map([...names].map(([code, name]) => [name, code]));
  const area = params.get('area') || '';
  const problem = el('p', { class: 'error', id: 'report-problem', role: 'alert' });
  const form = el('form', {
    class: 'filters',
    id: 'report-form',
    onsubmit: (ev) => {
      ev.preventDefault();
      const f = new FormData(ev.target);
      const p = new URLSearchParams();
      p.set('month', String(f.get('month') || m));
      const a = String(f.get('area') || '').trim();
      if (a) p.set('area', codeOf.get(a) || a);
      if (f.get('as')) p.set('as', 'filed');
      location.hash = `#/report?${p}`;
    },
  },
  el('label', {}, t('monthLabel'), el('input', { type: 'month', name: 'month', value: m, required: 'required' })),
  el('label', {}, t('area'), el('input', { name: 'area', value: names.get(area) || area, list: 'report-areas', placeholder: t('myScope') })),
  el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'as', ...(asFiled ? { checked: 'checked' } : {}) }), t('asFiled')),
  el('button', { type: 'submit' }, t('show')),
  el('datalist', { id: 'report-areas' }, [...names].map(([code, name]) => el('option', { value: name }, code))));
  const rep = await ask({ report: { month: m, area, as_filed: asFiled } }, true);
  if (!rep) return;
  const head = el('h1', { tabindex: '-1' }, `${t('report')} ${m}`);
  if (rep.status !== 'STATUS_OK') {
    const d = rep.detail || '';
    problem.textContent = /has not begun/.test(d) ? t('notBegun') : /has not filed/.test(d) ? t('notFiled')
      : /^no area /.test(d) ? t('noSuchArea') : `${t('refused')}: ${rep.status} ${d}`;
    main.replaceChildren(head, form, problem);
    return;
  }
  const r = rep.report;
  const filed = Number(r.filed_at) > 0;
  const status = el('p', { id: 'filing', class: filed ? 'ok' : 'muted' },
    filed ? `${t('filedOn')} ${when(Number(r.filed_at))}${r.filed_by ? `（${r.filed_by}）` : ''}${asFiled ? `，${t('shownAsFiled')}` : ''}` : t('notFiledYet'));
  const out = el('p', { id: 'file-result' });
  // Filing keeps the month's figures as they stand (docs/supervisor.md);
  // whatever arrives for it later is listed as late, never rewriting them.
  const fileButton = filed || asFiled ? '' : el('button', {
    type: 'button',
    id: 'file-report',
    onclick: async () => {
      if (!confirm(t('fileConfirm').replace('{m}', m))) return;
      const res = await ask({ file_report: { area, month: m } }, true);
      if (!res) return;
      if (res.status === 'STATUS_OK') route();
      else {
        out.className = 'error';
        out.textContent = /say which area/.test(res.detail || '') ? t('fileWhichArea') : `${t('refused')}: ${res.status} ${res.detail}`;
      }
    },
  }, t('fileIt'));
  const [cols, rows] = reportRows(rep);
  const exportCsv = el('button', {
    type: 'button',
    id: 'report-csv',
    onclick: () => download(`report-${m}.csv`, [cols, ...rows].map((x) => x.map(csvCell).join(',')).join('\r\n') + '\r\n'),
  }, t('exportCsv'));
  const exportXlsx = el('button', {
    type: 'button',
    id: 'report-xlsx',
    onclick: async () => {
      const blob = await writeExcelFile([cols.map((h) => ({ value: h, fontWeight: 'bold' })), ...rows.map((x) => x.map(xlsxCell))]).toBlob();
      saveBlob(`report-${m}.xlsx`, blob);
    },
  }, t('exportXlsx'));
  const late = r.late || [];
  main.replaceChildren(
    head,
    form,
    status,
    el('div', { class: 'scroll' }, reportTable(rep)),
    el('div', { class: 'pager' }, fileButton, exportCsv, exportXlsx),
    out,
    late.length
      ? el('div', {},
        el('h2', {}, `${t('lateTitle')}: ${r.late_total || late.length}`),
        el('div', { class: 'scroll' }, el('table', { id: 'late-list' },
          el('tr', {}, ...['what', 'elder', 'area', 'when', 'arrived', 'by'].map((k) => el('th', {}, t(k)))),
          late.map((x) => el('tr', {}, el('td', {}, `${x.kind}${x.detail ? ` · ${x.detail}` : ''}`), el('td', {}, x.elder_id),
            el('td', {}, names.get(x.area) || x.area), el('td', {}, when(Number(x.effective_at))), el('td', {}, when(Number(x.received_at))), el('td', {}, x.signer))))))
      : '',
  );
}

// ---- an elder's page ----

function when(unix) {
  if (!unix) return '';
  return new Date(unix * 1000).toLocaleString('sv-SE', { timeZone: ZONE }).slice(0, 16);
}

// What a visitor found at the door, as the field app records it: the four
// assessments (with their notes), the help needed, a follow-up owed, the
// time spent and where.
function visitFindings(v) {
  const parts = [];
  for (const [k, a] of [['living', v.basic_living], ['safety', v.safety_risk], ['family', v.family_support], ['care', v.care_protection]]) {
    const f = a && label(a.finding);
    if (f) parts.push(`${t(k)}: ${f}${a.note ? `（${a.note}）` : ''}`);
  }
  if (v.needs?.length) parts.push(`${t('needs')}: ${v.needs.map((n) => label(n)).join('、')}`);
  if (v.follow_up) parts.push(t('followUp'));
  if (v.duration_min) parts.push(`${v.duration_min} ${t('minutes')}`);
  if (v.has_location) parts.push(`${t('location')} ${v.lat.toFixed(5)}, ${v.lon.toFixed(5)}`);
  return parts.join(' · ');
}

async function elderPage() {
  const id = new URLSearchParams(location.hash.split('?')[1] || '').get('id') || '';
  main.replaceChildren(el('p', { class: 'muted' }, t('loading')));
  const rep = await ask({ elder_history: { elder_id: id, limit: 200, with_changes: true } });
  if (!rep) return;
  const e = rep.history.elder;
  const names = await areaNames(allAreas);
  const facts = [
    ['name', e.name], ['area', names.has(e.area) ? `${names.get(e.area)} (${e.area})` : e.area],
    ['address', e.address], ['phoneNo', e.phone],
    ['birth', e.birth_date], ['categories', e.categories.map((c) => label(c)).join('、')],
    ['tier', label(e.risk_tier)], ['status', label(e.status)],
    ['visitorsOf', e.visitors.join(', ')], ['neighbours', e.neighbours.join(', ')],
  ];
  // The history as a timeline, newest first.
  const items = rep.history.items.map((it) => {
    const v = it.visit, c = it.care_event, g = it.change;
    // A registry change (an edit, a removal) is in the history too; a
    // removal holds for all time and shows when it was made.
    const at = v ? v.visited_at : c ? c.occurred_at : Number(g.effective_at) || Number(g.received_at);
    const what = v
      ? [`${t('visit')} · ${label(v.kind)}${v.note ? ` · ${v.note}` : ''}`, visitFindings(v)].filter(Boolean).join(' · ')
      : c
        ? `${t('event')} · ${label(c.type)} · ${label(c.severity)}${c.note ? ` · ${c.note}` : ''}`
        : `${t('registryChange')} · ${g.kind}${g.detail ? ` · ${g.detail}` : ''}${g.note ? ` · ${g.note}` : ''}`;
    return { at, what, by: it.visitor_id, flags: it.flags.join(', '), corrected: it.corrected };
  }).sort((a, b) => b.at - a.at);
  main.replaceChildren(
    el('h1', {}, `${t('elderTitle')}: ${e.name} (${e.id})`),
    el('table', { id: 'elder-facts' }, facts.map(([k, v]) => el('tr', {}, el('th', {}, t(k)), el('td', {}, v ?? '')))),
    el('h2', {}, t('history')),
    el(
      'table',
      { id: 'elder-history' },
      el('tr', {}, ...['when', 'what', 'by', 'flags'].map((k) => el('th', {}, t(k)))),
      items.map((it) =>
        el('tr', { class: it.corrected ? 'muted' : '' }, el('td', {}, when(it.at)), el('td', {}, it.what, it.corrected ? ` (${t('corrected')})` : ''), el('td', {}, it.by), el('td', {}, it.flags)),
      ),
    ),
  );
}

// ---- visitor activity ----

async function activityPage() {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const period = params.get('period') || month(0);
  const q = (params.get('q') || '').trim();
  const offset = Math.max(0, Math.floor(Number(params.get('offset')) || 0));
  main.replaceChildren(el('p', { class: 'muted' }, t('loading')));
  const rep = await ask({ activity: { period } });
  if (!rep) return;
  const names = await areaNames(allAreas);
  const go = (p) => {
    location.hash = `#/activity?${new URLSearchParams(p)}`;
  };
  const form = el(
    'form',
    {
      class: 'filters',
      onsubmit: (ev) => {
        ev.preventDefault();
        const f = new FormData(ev.target);
        go({ period: String(f.get('period') || ''), ...(f.get('q') ? { q: String(f.get('q')) } : {}) });
      },
    },
    el('label', {}, t('period'), el('input', { name: 'period', value: period })),
    el('label', {}, t('search'), el('input', { name: 'q', value: q })),
    el('button', { type: 'submit' }, t('show')),
  );
  // A banner has thousands of visitors: a page of them at a time (a new
  // user's page drew 10,835 rows), found by name, id or area; the export
  // holds every row.
  const all = rep.activity.rows.filter((r) => !q || r.name.includes(q) || r.visitor_id.includes(q) || (names.get(r.area) || r.area).includes(q));
  const rows = all.slice(offset, offset + PAGE);
  const cols = ['visits', 'door', 'phone', 'neighbour_checks', 'elders', 'flagged'];
  const heads = [t('visitor'), t('visitorId'), t('role'), t('area'), ...['visits', 'door', 'phone', 'neighbourChecks', 'elders', 'flagged'].map((k) => t(k))];
  const line = (r) => [r.name, r.visitor_id, label(r.role), names.get(r.area) || r.area, ...cols.map((c) => Number(r[c]))];
  const at = (o) => go({ period, ...(q ? { q } : {}), offset: o });
  main.replaceChildren(
    el('h1', {}, `${t('activity')} ${rep.activity.period}`),
    form,
    el('p', { id: 'activity-count' }, `${t('of')} ${all.length} ${t('rows')}`),
    el('div', { class: 'scroll' }, el(
      'table',
      { id: 'activity-table' },
      el('tr', {}, el('th', {}, t('visitor')), el('th', {}, t('role')), el('th', {}, t('area')),
        ...['visits', 'door', 'phone', 'neighbourChecks', 'elders', 'flagged'].map((k) => el('th', { class: 'num' }, t(k)))),
      rows.map((r) =>
        el('tr', { 'data-visitor': r.visitor_id }, el('td', {}, `${r.name} (${r.visitor_id})`), el('td', {}, label(r.role)), el('td', { title: r.area }, names.get(r.area) || r.area),
          ...cols.map((c) => el('td', { class: 'num' }, r[c])))),
    )),
    el('div', { class: 'pager' },
      el('button', { type: 'button', id: 'prev', disabled: offset ? null : 'disabled', onclick: () => at(Math.max(0, offset - PAGE)) }, t('prev')),
      el('span', {}, rows.length ? `${offset + 1}–${offset + rows.length}` : ''),
      el('button', { type: 'button', id: 'next', disabled: offset + PAGE < all.length ? null : 'disabled', onclick: () => at(offset + PAGE) }, t('next')),
      el('button', {
        type: 'button',
        id: 'activity-csv',
        onclick: () => download(`activity-${period}.csv`, [heads, ...all.map(line)].map((x) => x.map(csvCell).join(',')).join('\r\n') + '\r\n'),
      }, t('exportCsv'))),
  );
}

// ---- the demo's one-time enrolment link ----

async function enrolPage() {
  const token = new URLSearchParams(location.hash.split('?')[1] || '').get('token') || '';
  main.replaceChildren(el('p', { class: 'muted' }, t('loading')));
  let rep;
  try {
    rep = await demoEnrol(token);
  } catch (e) {
    if (e instanceof GatewayError && (e.code === 403 || e.code === 410 || e.code === 404)) {
      main.replaceChildren(el('p', { class: 'error', id: 'trouble' }, t(`enrol${e.code}`)));
      return;
    }
    await trouble(e);
    return;
  }
  if (rep.status !== 'STATUS_OK' && rep.status !== 'STATUS_DUPLICATE') {
    await trouble(null, rep);
    return;
  }
  location.hash = '#/overview';
}

// ---- the map: the area's elders by their coordinates, no map tiles ----

// Every elder in the signer's scope.
async function allElders() {
  return listAll('WHAT_ELDERS');
}

async function mapPage() {
  main.replaceChildren(el('p', { class: 'muted' }, t('loading')));
  const elders = await allElders();
  if (!elders) return;
  const late = await allOverdue({});
  if (!late) return;
  const overdueIds = new Set(late.filter((it) => it.overdue_s > 0).map((it) => it.elder_id));
  const placed = elders.filter((e) => e.has_location);
  const point = (e) => [e.lon, e.lat, e.name, e.id];
  const red = placed.filter((e) => overdueIds.has(e.id)).map(point);
  const green = placed.filter((e) => !overdueIds.has(e.id)).map(point);
  const node = el('div', { class: 'chart map', id: 'elder-map', 'data-overdue': red.length, 'data-on-time': green.length });
  main.replaceChildren(
    el('h1', {}, t('map')),
    node,
    el('p', { class: 'muted', id: 'no-location' }, `${t('noLocation')}: ${elders.length - placed.length}`),
  );
  const chart = echarts.init(node, null, { renderer: 'svg' });
  chart.setOption({
    animation: false,
    tooltip: { formatter: (p) => `${p.value[2]} (${p.value[3]})` },
    legend: { data: [t('overdueNow2'), t('onTime')] },
    xAxis: { type: 'value', scale: true, name: t('lon') },
    yAxis: { type: 'value', scale: true, name: t('lat') },
    // Overdue drawn last, over the others: a red dot is never hidden
    // under a green one (a new user saw an almost all-green map).
    series: [
      { name: t('onTime'), type: 'scatter', symbolSize: 6, itemStyle: { color: '#12b76a' }, data: green, z: 1 },
      { name: t('overdueNow2'), type: 'scatter', symbolSize: 7, itemStyle: { color: '#d92d20' }, data: red, z: 2 },
    ],
  });
  chart.on('click', (p) => {
    location.hash = `#/elder?id=${encodeURIComponent(p.value[3])}`;
  });
}

// ---- routing ----

function nav(page) {
  const n = document.getElementById('nav');
  const label = { elders: 'eldersTitle', visitors: 'visitorsTitle', keys: 'keysTitle', import: 'importTitle' };
  n.replaceChildren(...PAGES.map((p) => el('a', { href: `#/${p}`, class: p === page ? 'active' : '', id: `nav-${p}` }, t(label[p] || p))));
  const b = document.getElementById('lang');
  b.textContent = t('lang');
  b.onclick = () => {
    toggleLang();
    route();
  };
  document.documentElement.lang = currentLang() === 'zh' ? 'zh-CN' : 'en';
}

// One page is drawn at a time. A page chosen while another is still
// loading is drawn once that one is done, so a slow reply of the page left
// behind can never land over the page the user went to (found by a new
// user on a slow network: the address said 逾期名单, the page showed the
// activity it had left).
let routing = false;
let again = false;
async function route() {
  if (routing) {
    again = true;
    return;
  }
  routing = true;
  try {
    do {
      again = false;
      await drawPage();
    } while (again);
  } finally {
    routing = false;
  }
}

async function drawPage() {
  delete document.body.dataset.ready;
  const page = (location.hash.match(/^#\/(\w+)/) || [])[1] || 'overview';
  nav(page);
  if (page === 'key') await keyPage(false);
  else if (page === 'overdue') await overdue();
  else if (page === 'elder') await elderPage();
  else if (page === 'activity') await activityPage();
  else if (page === 'enrol') await enrolPage();
  else if (page === 'map') await mapPage();
  else if (page === 'report') await reportPage();
  else if (['areas', 'elders', 'import', 'visitors', 'keys'].includes(page)) {
    main.replaceChildren(el('p', { class: 'muted' }, t('loading')));
    const params = new URLSearchParams(location.hash.split('?')[1] || '');
    const pages = { areas: areasPage, elders: eldersPage, import: importPage, visitors: visitorsPage, keys: keysPage };
    await pages[page](main, params);
  }
  else await overview();
  // A page that moved on (the enrolment link goes to the overview) is not
  // the one ready.
  if (((location.hash.match(/^#\/(\w+)/) || [])[1] || 'overview') === page) document.body.dataset.ready = page;
}

adminInit({ el, ask });
window.addEventListener('hashchange', route);
route();
