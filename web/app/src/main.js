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
import { adminInit, areasPage, eldersPage, importPage, keysPage, visitorsPage } from './admin.js';

echarts.use([BarChart, LineChart, ScatterChart, GridComponent, LegendComponent, TooltipComponent, SVGRenderer]);

const main = document.getElementById('main');
const PAGES = ['overview', 'overdue', 'map', 'activity', 'areas', 'elders', 'import', 'visitors', 'keys', 'key'];

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
    xAxis: { type: 'category', data: kids.map((r) => r.name || r.area) },
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
    rates.push(root && root.required ? +((100 * root.visited) / root.required).toFixed(1) : 0);
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
  const byRule = new Map();
  for (const it of od.overdue.items) byRule.set(it.rule, (byRule.get(it.rule) || 0) + 1);
  const chartNode = el('div', { class: 'chart', id: 'rate-chart' });
  const trendNode = el('div', { class: 'chart', id: 'trend-chart' });
  const partial = od.overdue.items.length < od.overdue.total;
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
      [...byRule].map(([r, n]) => el('tr', {}, el('td', {}, r), el('td', { class: 'num' }, n))),
    ),
    el('h2', {}, t('trend')),
    trendNode,
  );
  rateChart(chartNode, current, last);
  await trend(trendNode);
}

// ---- overdue list ----

const PAGE = 50;

function overdueRows(items) {
  return items.map((it) =>
    el(
      'tr',
      { 'data-elder': it.elder_id },
      el('td', {}, el('a', { href: `#/elder?id=${encodeURIComponent(it.elder_id)}` }, `${it.elder_name} (${it.elder_id})`)),
      el('td', {}, it.area),
      el('td', {}, it.rule),
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

async function overdue() {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const filter = {
    area: params.get('area') || '',
    rule: params.get('rule') || '',
    visitor_id: params.get('visitor') || '',
    horizon_s: (Number(params.get('within')) || 0) * 86400,
  };
  const offset = Number(params.get('offset')) || 0;
  const sort = params.get('sort') || '';
  main.replaceChildren(el('p', { class: 'muted' }, t('loading')));
  let list;
  if (!sort) {
    // The daemon's order (longest overdue first), a page at a time.
    const rep = await ask({ overdue: { ...filter, offset, limit: PAGE } });
    if (!rep) return;
    list = rep.overdue;
  } else {
    // Another order needs every row: sorted here, then paged.
    const all = await allOverdue(filter);
    if (!all) return;
    const key = { area: (it) => it.area, elder: (it) => it.elder_name, rule: (it) => it.rule, holder: (it) => holder(it) }[sort];
    if (key) all.sort((a, b) => key(a).localeCompare(key(b), 'zh-CN') || b.overdue_s - a.overdue_s);
    list = { items: all.slice(offset, offset + PAGE), total: all.length };
  }
  const go = (o) => {
    const p = new URLSearchParams(params);
    p.set('offset', o);
    location.hash = `#/overdue?${p}`;
  };
  const form = el(
    'form',
    {
      class: 'filters',
      onsubmit: (ev) => {
        ev.preventDefault();
        const f = new FormData(ev.target);
        const p = new URLSearchParams();
        for (const k of ['area', 'rule', 'visitor', 'within', 'sort']) if (f.get(k)) p.set(k, f.get(k));
        location.hash = `#/overdue?${p}`;
      },
    },
    ...[
      ['area', t('area'), filter.area],
      ['rule', t('rule'), filter.rule],
      ['visitor', t('visitor'), filter.visitor_id],
      ['within', t('within'), params.get('within') || ''],
    ].map(([n, label, v]) => el('label', {}, label, el('input', { name: n, value: v }))),
    el('label', {}, t('sortBy'), el('select', { name: 'sort' },
      [['', t('dueSince')], ['area', t('area')], ['elder', t('elder')], ['rule', t('rule')], ['holder', t('holder')]].map(([v, label]) =>
        el('option', { value: v, ...(v === sort ? { selected: 'selected' } : {}) }, label)))),
    el('button', { type: 'submit' }, t('filter')),
  );
  const exportButton = el('button', {
    type: 'button',
    id: 'export-csv',
    onclick: async () => {
      const items = await allOverdue(filter);
      if (!items) return;
      const head = ['elder_id', 'elder_name', 'area', 'rule', 'duty_visitor', 'due', 'overdue_days', 'last_visit'];
      const lines = items.map((it) =>
        [it.elder_id, it.elder_name, it.area, it.rule, it.duty_visitor || holder(it), day(it.due_at), Math.floor(it.overdue_s / 86400), day(it.last_visit_at)].map(csvCell).join(','),
      );
      download(`overdue-${month(0)}.csv`, [head.join(','), ...lines].join('\r\n') + '\r\n');
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
      const head = [t('elderId'), t('name'), t('area'), t('rule'), t('holder'), t('dueSince'), t('days'), t('lastVisit')];
      const rows = items.map((it) => [it.elder_id, it.elder_name, it.area, it.rule, holder(it), day(it.due_at), Math.floor(it.overdue_s / 86400), day(it.last_visit_at)].map(xlsxCell));
      const blob = await writeExcelFile([head.map((h) => ({ value: h, fontWeight: 'bold' })), ...rows]).toBlob();
      saveBlob(`overdue-${month(0)}.xlsx`, blob);
    },
  }, t('exportXlsx'));
  main.replaceChildren(
    el('h1', {}, t('overdue')),
    form,
    el('p', { id: 'overdue-count' }, `${t('of')} ${list.total} ${t('rows')}`),
    el(
      'table',
      { id: 'overdue-table' },
      el('tr', {}, ...['elder', 'area', 'rule', 'holder', 'dueSince', 'days', 'lastVisit'].map((k) => el('th', {}, t(k)))),
      overdueRows(list.items),
    ),
    el(
      'div',
      { class: 'pager' },
      el('button', { type: 'button', id: 'prev', disabled: offset ? null : 'disabled', onclick: () => go(Math.max(0, offset - PAGE)) }, t('prev')),
      el('span', {}, `${offset + 1}–${offset + list.items.length}`),
      el('button', { type: 'button', id: 'next', onclick: () => go(offset + PAGE) }, t('next')),
      exportButton,
      exportXlsx,
    ),
  );
  if (offset + list.items.length >= list.total) main.querySelector('#next').disabled = true;
  if (!offset) main.querySelector('#prev').disabled = true;
}

// ---- an elder's page ----

function when(unix) {
  if (!unix) return '';
  return new Date(unix * 1000).toLocaleString('sv-SE', { timeZone: ZONE }).slice(0, 16);
}

async function elderPage() {
  const id = new URLSearchParams(location.hash.split('?')[1] || '').get('id') || '';
  main.replaceChildren(el('p', { class: 'muted' }, t('loading')));
  const rep = await ask({ elder_history: { elder_id: id, limit: 200, with_changes: true } });
  if (!rep) return;
  const e = rep.history.elder;
  // Enum names without their prefix: CARE_EVENT_TYPE_FALL -> fall.
  const short = (s) => String(s || '').replace(/^(CATEGORY|ELDER_STATUS|RISK_TIER|VISIT_KIND|CARE_EVENT_TYPE|SEVERITY)_/, '').toLowerCase();
  const facts = [
    ['name', e.name], ['area', e.area], ['address', e.address], ['phoneNo', e.phone],
    ['birth', e.birth_date], ['categories', e.categories.map(short).join(', ')],
    ['tier', short(e.risk_tier)], ['status', short(e.status)],
    ['visitorsOf', e.visitors.join(', ')], ['neighbours', e.neighbours.join(', ')],
  ];
  // The history as a timeline, newest first.
  const items = rep.history.items.map((it) => {
    const v = it.visit, c = it.care_event, g = it.change;
    // A registry change (an edit, a removal) is in the history too; a
    // removal holds for all time and shows when it was made.
    const at = v ? v.visited_at : c ? c.occurred_at : Number(g.effective_at) || Number(g.received_at);
    const what = v
      ? `${t('visit')} · ${short(v.kind)}${v.note ? ` · ${v.note}` : ''}`
      : c
        ? `${t('event')} · ${short(c.type)} · ${short(c.severity)}${c.note ? ` · ${c.note}` : ''}`
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
  main.replaceChildren(el('p', { class: 'muted' }, t('loading')));
  const rep = await ask({ activity: { period } });
  if (!rep) return;
  const form = el(
    'form',
    {
      class: 'filters',
      onsubmit: (ev) => {
        ev.preventDefault();
        location.hash = `#/activity?period=${encodeURIComponent(new FormData(ev.target).get('period'))}`;
      },
    },
    el('label', {}, t('period'), el('input', { name: 'period', value: period })),
    el('button', { type: 'submit' }, t('show')),
  );
  const cols = ['visits', 'door', 'phone', 'neighbour_checks', 'elders', 'flagged'];
  main.replaceChildren(
    el('h1', {}, `${t('activity')} ${rep.activity.period}`),
    form,
    el(
      'table',
      { id: 'activity-table' },
      el('tr', {}, el('th', {}, t('visitor')), el('th', {}, t('role')), el('th', {}, t('area')),
        ...['visits', 'door', 'phone', 'neighbourChecks', 'elders', 'flagged'].map((k) => el('th', { class: 'num' }, t(k)))),
      rep.activity.rows.map((r) =>
        el('tr', { 'data-visitor': r.visitor_id }, el('td', {}, `${r.name} (${r.visitor_id})`), el('td', {}, r.role.replace('ROLE_', '').toLowerCase()), el('td', {}, r.area),
          ...cols.map((c) => el('td', { class: 'num' }, r[c])))),
    ),
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
      main.replaceChildren(el('p', { class: 'error', id: 'trouble' }, e.message));
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

// Every elder in the signer's scope, page by page.
async function allElders() {
  const out = [];
  for (let after = ''; ; ) {
    const rep = await ask({ get_registry: { what: 'WHAT_ELDERS', after, limit: 5000 } });
    if (!rep) return null;
    out.push(...rep.registry.elders);
    after = rep.registry.next;
    if (!after) return out;
  }
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
    series: [
      { name: t('overdueNow2'), type: 'scatter', symbolSize: 6, itemStyle: { color: '#d92d20' }, data: red },
      { name: t('onTime'), type: 'scatter', symbolSize: 6, itemStyle: { color: '#12b76a' }, data: green },
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

async function route() {
  const page = (location.hash.match(/^#\/(\w+)/) || [])[1] || 'overview';
  nav(page);
  if (page === 'key') await keyPage(false);
  else if (page === 'overdue') await overdue();
  else if (page === 'elder') await elderPage();
  else if (page === 'activity') await activityPage();
  else if (page === 'enrol') await enrolPage();
  else if (page === 'map') await mapPage();
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
