// The field app (issue 10; docs/field-app.md): for grid workers, party
// members and "1+2" neighbour households on a phone, often offline. The
// worker's elders and due list come down with field_elders and are kept on
// the phone; a visit or care event is recorded by choosing an elder, signed
// with the phone's own key when saved, and kept in the outbox
// (field-outbox.js) until the daemon acknowledges it. Pages: my elders (due
// list and search), an elder, the visit and event forms, the outbox, this
// phone's key.
import QRCode from 'qrcode';
import { GatewayError } from './api.js';
import { currentLang, toggleLang } from './i18n.js';
import { ft } from './field-i18n.js';
import { deviceKey, hex } from './keys.js';
import * as ob from './field-outbox.js';

const shown = document.getElementById('main');

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

function toast(text, ms = 3500) {
  const t = document.getElementById('toast');
  // A tap puts it away: on a small screen it may cover what it speaks of.
  t.onclick = () => (t.textContent = '');
  t.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.textContent = ''), ms);
}

const pad = (n) => String(n).padStart(2, '0');
// Local date and time of unix seconds (the phone's zone: the worker's own).
function when(unix) {
  const d = new Date(unix * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
function localInput(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
const params = () => new URLSearchParams(location.hash.split('?')[1] || '');
const ruleName = (r) => (ft(`r_${r}`) === `r_${r}` ? r : ft(`r_${r}`));

// ---- the bar: network, outbox, last sync ----

let syncing = false;
let retryMs = 15000;
let retryTimer;

async function bar() {
  const c = await ob.counts();
  const meta = await ob.syncMeta();
  const net = document.getElementById('net');
  net.textContent = navigator.onLine ? ft('online') : ft('offline');
  net.className = navigator.onLine ? 'net' : 'net off';
  net.id = 'net';
  document.getElementById('bar').replaceChildren(
    el('span', {}, ft('pending'), ' ', el('b', { id: 'pending-count' }, c.pending)),
    c.refused ? el('a', { href: '#/outbox', class: 'error' }, ft('refused'), ' ', el('b', { id: 'refused-count' }, c.refused)) : el('span', { id: 'refused-count', hidden: true }, 0),
    el('span', { class: 'grow muted', id: 'last-sync' }, meta?.at ? `${ft('lastSync')} ${when(meta.at / 1000)}` : ft('never')),
    el('button', { type: 'button', id: 'sync', disabled: syncing || !navigator.onLine ? true : null, onclick: () => doSync(true) }, syncing ? ft('syncing') : ft('sync')),
  );
  if (meta && meta.enrolled === false)
    document.getElementById('bar').append(el('a', { href: '#/key', class: 'error', id: 'not-enrolled-bar' }, ft('notEnrolledShort')));
  tabs();
}

function tabs() {
  const page = (location.hash.match(/^#\/(\w+)/) || [])[1] || 'home';
  const n = document.getElementById('tabs');
  n.replaceChildren(
    ...[['home', '#/'], ['outbox', '#/outbox'], ['key', '#/key']].map(([p, href]) =>
      el('a', { href, id: `tab-${p}`, class: p === page || (p === 'home' && ['elder', 'visit', 'event'].includes(page)) ? 'active' : '' }, ft(p))),
  );
}

// Sends the outbox, then downloads the worker's elders. Backs off while
// records stay pending; starts again when the network returns.
async function doSync(byHand = false) {
  if (syncing) return;
  syncing = true;
  document.body.dataset.sync = 'running';
  await bar();
  let r;
  let downloadFailed = false;
  try {
    // The bar follows the sync, redrawn at most four times a second (and
    // once more after the last reply of a quarter second).
    let pendingDraw = null;
    r = await ob.syncOutbox({
      onProgress: () => {
        pendingDraw ??= setTimeout(() => {
          pendingDraw = null;
          bar();
        }, 250);
      },
    });
    if (!r.failure && !r.busy) {
      const dl = await ob.download();
      // Not "synced" when the list could not come: say why instead.
      downloadFailed = dl.status !== 'STATUS_OK';
      if (dl.status === 'STATUS_UNKNOWN_SIGNER') toast(ft('notEnrolled'), 8000);
      else if (dl.status !== 'STATUS_OK') toast(`${dl.status} ${dl.detail}`, 8000);
    }
  } catch (e) {
    r = { failure: e };
  } finally {
    syncing = false;
  }
  clearTimeout(retryTimer);
  if (r.failure) {
    const e = r.failure;
    toast(e instanceof GatewayError && e.code === 0 ? ft('netDown') : e instanceof GatewayError && e.code === 429 ? ft('gwBusy') : `${ft('netDown')} (${e.code ?? ''} ${e.message})`, 6000);
    retryMs = Math.min(retryMs * 2, 300000);
  } else {
    retryMs = 15000;
    if (!downloadFailed && (byHand || r.ok || r.dup || r.refused)) toast(`${ft('syncDone')}: ${ft('syncSummary', { ok: r.ok, dup: r.dup, refused: r.refused, pending: r.pending })}`);
  }
  if (r.pending || r.failure) retryTimer = setTimeout(() => navigator.onLine && doSync(), retryMs);
  document.body.dataset.sync = 'idle';
  document.body.dataset.syncs = String(Number(document.body.dataset.syncs || 0) + 1);
  await bar();
  // A page showing what the sync changed is drawn again (not a form being filled in).
  if (!['visit', 'event'].includes(page())) await route();
}

const page = () => (location.hash.match(/^#\/(\w+)/) || [])[1] || 'home';

// ---- my elders: the due list and the search ----

function dueItem(it, elders) {
  const e = elders.get(it.elder_id);
  const late = Math.floor((Date.now() / 1000 - it.due_at) / 86400);
  const d = new Date(it.due_at * 1000);
  return el('li', { 'data-elder': it.elder_id, 'data-rule': it.rule },
    el('a', { href: `#/elder?id=${encodeURIComponent(it.elder_id)}` },
      el('span', { class: 'name' }, e?.name || it.elder_name || it.elder_id), ' ',
      // Fallen due within the last day: due today, not "0 days overdue".
      it.due_at * 1000 <= Date.now()
        ? el('span', { class: 'tag late' }, late >= 1 ? `${ft('overdue')} ${late} ${ft('days')}` : ft('dueToday'))
        : el('span', { class: 'tag soon' }, `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${ft('dueOn')}`),
      el('div', { class: 'sub' }, ruleName(it.rule), e?.address ? ` · ${e.address}` : '')));
}

function elderRow(e, onPick) {
  const body = [el('span', { class: 'name' }, e.name), ' ', el('span', { class: 'sub' }, e.id), el('div', { class: 'sub' }, e.address || '', e.status && e.status !== 'ELDER_STATUS_ACTIVE' ? ` · ${ft(`st_${e.status}`)}` : '')];
  return el('li', { 'data-elder': e.id }, onPick
    ? el('button', { type: 'button', class: 'row', onclick: () => onPick(e) }, body)
    : el('a', { href: `#/elder?id=${encodeURIComponent(e.id)}` }, body));
}

// A search box over the kept elders, by name, id or address.
function picker(all, onPick, limit = 50) {
  const list = el('ul', { class: 'list', id: onPick ? 'pick-list' : 'elder-list' });
  const more = el('p', { class: 'muted' });
  const draw = (q) => {
    const s = q.trim().toLowerCase();
    const hits = s ? all.filter((e) => e.name.toLowerCase().includes(s) || e.id.toLowerCase().includes(s) || (e.address || '').toLowerCase().includes(s)) : all;
    list.replaceChildren(...hits.slice(0, limit).map((e) => elderRow(e, onPick)));
    more.textContent = hits.length > limit ? ft('more', { n: hits.length - limit }) : '';
  };
  const input = el('input', { type: 'search', id: onPick ? 'pick-search' : 'search', placeholder: ft('search'), oninput: (ev) => draw(ev.target.value), autocomplete: 'off' });
  draw('');
  return [input, list, more];
}

function byName(a, b) {
  return a.name.localeCompare(b.name, 'zh-CN') || a.id.localeCompare(b.id);
}

async function home(main) {
  const all = (await ob.elders()).sort(byName);
  const meta = await ob.syncMeta();
  if (!all.length) {
    main.replaceChildren(el('h1', {}, ft('home')), el('p', { class: 'muted', id: 'no-elders' }, ft('noElders')));
    return;
  }
  const byId = new Map(all.map((e) => [e.id, e]));
  const now = Date.now();
  const endOfDay = new Date(now);
  endOfDay.setHours(24, 0, 0, 0);
  const due = meta?.due || [];
  const late = due.filter((it) => it.due_at * 1000 <= now);
  const today = due.filter((it) => it.due_at * 1000 > now && it.due_at * 1000 < endOfDay.getTime());
  const week = due.filter((it) => it.due_at * 1000 >= endOfDay.getTime() && it.due_at * 1000 <= now + 7 * 86400000);
  const section = (id, title, items) => (items.length ? [el('h2', {}, title, ' ', el('span', { class: 'badge' }, items.length)), el('ul', { class: 'list', id }, items.map((it) => dueItem(it, byId)))] : []);
  main.replaceChildren(
    el('h1', {}, ft('home'), meta?.visitor?.name ? el('span', { class: 'sub' }, ` · ${meta.visitor.name}`) : ''),
    el('p', { class: 'sub' }, `${ft('lastSync')} ${meta?.at ? when(meta.at / 1000) : ft('never')}（${ft('fromLastSync')}）`),
    ...section('due-overdue', ft('overdue'), late),
    ...section('due-today', ft('today'), today),
    ...section('due-week', ft('week'), week),
    late.length + today.length + week.length ? '' : el('p', { class: 'muted' }, ft('nothingDue')),
    el('h2', {}, ft('allElders'), ' ', el('span', { class: 'badge', id: 'elder-count' }, all.length)),
    ...picker(all, null),
  );
}

// ---- an elder ----

async function elderPage(main) {
  const id = params().get('id') || '';
  const e = await ob.elder(id);
  if (!e) {
    main.replaceChildren(el('p', { class: 'muted', id: 'gone' }, ft('elderGone')), el('a', { href: '#/' }, ft('home')));
    return;
  }
  const meta = await ob.syncMeta();
  const mine = (meta?.due || []).filter((it) => it.elder_id === id);
  const recs = (await ob.ofElder(id)).sort((a, b) => b.at - a.at).slice(0, 10);
  const whyText = { area: ft('whyArea'), visitor: ft('whyVisitor'), neighbour: ft('whyNeighbour') };
  main.replaceChildren(
    el('h1', { id: 'elder-name' }, e.name, ' ', el('span', { class: 'sub' }, e.id)),
    el('p', {}, ...(e.why || []).map((w) => el('span', { class: 'tag' }, whyText[w] || w)),
      ...(e.categories || []).map((c) => el('span', { class: 'tag' }, ft(`c_${c}`))),
      e.status && e.status !== 'ELDER_STATUS_ACTIVE' ? el('span', { class: 'tag late' }, ft(`st_${e.status}`)) : ''),
    e.address ? el('p', {}, `${ft('address')}: ${e.address}`) : '',
    e.phone ? el('p', {}, `${ft('phone')}: `, el('a', { href: `tel:${e.phone}` }, e.phone)) : '',
    mine.length ? el('ul', { class: 'list' }, mine.map((it) => dueItem(it, new Map([[id, e]])))) : '',
    el('button', { type: 'button', class: 'primary wide', id: 'record-visit', onclick: () => (location.hash = `#/visit?elder=${encodeURIComponent(id)}`) }, ft('recordVisit')),
    el('button', { type: 'button', class: 'wide', id: 'record-event', onclick: () => (location.hash = `#/event?elder=${encodeURIComponent(id)}`) }, ft('recordEvent')),
    recs.length ? el('ul', { class: 'list' }, recs.map((r) => el('li', { class: 'sub' }, `${when(r.at)} · ${r.op === 'visit' ? ft('recordVisit') : ft('recordEvent')} · `, r.state === 'refused' ? el('span', { class: 'error' }, ft('refused')) : r.state === 'pending' ? ft('pending') : ft('stored')))) : '',
  );
}

// ---- the forms ----

function radios(name, values, label, chosen, id) {
  return el('div', { class: 'chips', role: 'radiogroup', id }, values.map((v) =>
    el('label', {}, el('input', { type: 'radio', name, value: v, checked: v === chosen ? true : null }), ft(`${label}${v}`))));
}

function checks(name, values, label, chosen, id) {
  return el('div', { class: 'chips', id }, values.map((v) =>
    el('label', {}, el('input', { type: 'checkbox', name, value: v, checked: chosen.includes(v) ? true : null }), ft(`${label}${v}`))));
}

const FINDINGS = ['FINDING_OK', 'FINDING_CONCERN', 'FINDING_URGENT'];
const KINDS = ['VISIT_KIND_DOOR', 'VISIT_KIND_PHONE', 'VISIT_KIND_NEIGHBOUR_CHECK', 'VISIT_KIND_HEALTH', 'VISIT_KIND_PARTY_MEMBER'];
const AIDS = ['AID_MEALS', 'AID_MEDICAL', 'AID_MOBILITY', 'AID_CLEANING', 'AID_BATHING', 'AID_EMERGENCY'];
const TYPES = ['CARE_EVENT_TYPE_FALL', 'CARE_EVENT_TYPE_ILLNESS', 'CARE_EVENT_TYPE_HOSPITALISED', 'CARE_EVENT_TYPE_DISCHARGED', 'CARE_EVENT_TYPE_EMERGENCY_CALL', 'CARE_EVENT_TYPE_HAZARD_FOUND', 'CARE_EVENT_TYPE_SERVICE_DELIVERED', 'CARE_EVENT_TYPE_HOTLINE_REQUEST', 'CARE_EVENT_TYPE_MOVED_AWAY', 'CARE_EVENT_TYPE_DECEASED'];
const SEVERITIES = ['SEVERITY_INFO', 'SEVERITY_WARNING', 'SEVERITY_URGENT'];
const fLabel = { FINDING_OK: 'fOk', FINDING_CONCERN: 'fConcern', FINDING_URGENT: 'fUrgent' };

// The elder of a form, with a search to choose another.
function elderChooser(state, all) {
  const box = el('div', { class: 'card', id: 'form-elder' });
  const draw = () => {
    box.replaceChildren(
      el('span', { class: 'legend' }, ft('elder')),
      state.elder ? el('div', {}, el('span', { class: 'name', id: 'chosen-elder' }, state.elder.name), ' ', el('span', { class: 'sub' }, state.elder.id), el('div', { class: 'sub' }, state.elder.address || '')) : el('p', { class: 'error' }, ft('chooseElder')),
      el('button', { type: 'button', id: 'change-elder', onclick: () => box.replaceChildren(...picker(all, (e) => { state.elder = e; draw(); }, 20)) }, ft('change')),
    );
  };
  draw();
  return box;
}

function locationBox(state) {
  const text = el('span', { id: 'location-text', class: 'sub' });
  const show = () => (text.textContent = state.location ? `${state.location.lat.toFixed(5)}, ${state.location.lon.toFixed(5)}（${ft('accuracy')} ±${Math.round(state.location.accuracy)} m）` : ft('noLocation'));
  show();
  const btn = el('button', {
    type: 'button', id: 'get-location',
    onclick: () => {
      if (!navigator.geolocation) return (text.textContent = ft('locationDenied'));
      text.textContent = ft('locating');
      navigator.geolocation.getCurrentPosition(
        (p) => { state.location = { lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy }; show(); },
        () => { text.textContent = ft('locationDenied'); },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    },
  }, ft('getLocation'));
  return el('div', { class: 'field' }, el('span', { class: 'legend' }, ft('location')), btn, ' ', text);
}

async function formPage(main, op) {
  const p = params();
  const fixId = p.get('fix');
  const found = fixId ? await ob.entry(fixId) : null;
  const fixing = found?.state === 'refused' ? found : null;
  // A form being filled is kept in the tab's session storage as it is
  // typed, so a reload, or the phone dropping the tab in the background,
  // does not lose it (a new user lost a whole visit); saving forgets it.
  const draftKey = `tanfang-draft-${op}-${p.get('elder') || ''}`;
  let draft = null;
  try {
    draft = fixing ? null : JSON.parse(sessionStorage.getItem(draftKey) || 'null');
  } catch {
    draft = null;
  }
  const v = fixing ? fixing.values : draft || {};
  const all = (await ob.elders()).sort(byName);
  const elderId = fixing ? v.elderId : p.get('elder') || v.elderId;
  const state = { elder: all.find((e) => e.id === elderId) || (fixing ? { id: v.elderId, name: v.elderName, address: '' } : null), location: v.location || null };
  const err = el('p', { class: 'error', id: 'form-error' });
  const at = el('input', { type: 'datetime-local', name: 'at', id: 'at', value: localInput(v.at ? v.at * 1000 : Date.now()), required: true });
  const note = el('textarea', { name: 'note', id: 'note', maxlength: 4000 }, v.note || '');
  let fields;
  if (op === 'visit') {
    const finding = (key, label) => el('div', { class: 'finding', id: `finding-${key}` },
      el('span', { class: 'legend' }, ft(label)),
      el('div', { class: 'chips' }, FINDINGS.map((f) => el('label', {}, el('input', { type: 'radio', name: key, value: f, checked: v[key]?.finding === f ? true : null }), ft(fLabel[f])))),
      el('input', { type: 'text', name: `${key}Note`, placeholder: ft('findingNote'), value: v[key]?.note || '', maxlength: 4000 }));
    fields = [
      el('span', { class: 'legend' }, ft('kind')), radios('kind', KINDS, 'k_', v.kind, 'kinds'),
      el('label', { class: 'field' }, el('span', {}, ft('when')), at),
      el('span', { class: 'legend' }, ft('findings')),
      finding('living', 'living'), finding('safety', 'safety'), finding('family', 'family'), finding('care', 'care'),
      el('span', { class: 'legend' }, ft('needs')), checks('needs', AIDS, 'a_', v.needs || [], 'needs'),
      el('div', { class: 'chips', style: null }, el('label', {}, el('input', { type: 'checkbox', name: 'followUp', id: 'follow-up', checked: v.followUp ? true : null }), ft('followUp'))),
      el('label', { class: 'field' }, el('span', {}, ft('duration')), el('input', { type: 'number', name: 'duration', id: 'duration', min: 0, max: 1440, inputmode: 'numeric', value: v.duration ?? '' })),
      el('label', { class: 'field' }, el('span', {}, ft('note')), note),
      locationBox(state),
    ];
  } else {
    fields = [
      el('span', { class: 'legend' }, ft('eventType')), radios('type', TYPES, 'e_', v.type, 'types'),
      el('span', { class: 'legend' }, ft('severity')), radios('severity', SEVERITIES, 's_', v.severity, 'severities'),
      el('div', { id: 'aid-box' }, el('span', { class: 'legend' }, ft('aid')), radios('aid', AIDS, 'a_', v.aid, 'aids')),
      el('label', { class: 'field' }, el('span', {}, ft('when')), at),
      el('label', { class: 'field' }, el('span', {}, ft('note')), note),
    ];
  }
  // The error sits with the save button, which stays in sight.
  const form = el('form', { id: `${op}-form`, novalidate: true }, elderChooser(state, all), ...fields,
    el('div', { class: 'savebar' }, err, el('button', { type: 'submit', class: 'primary wide', id: 'save' }, ft('save'))));
  // The form's values, as the outbox records them.
  const collect = () => {
    const f = new FormData(form);
    const values = { elderId: state.elder?.id || '', elderName: state.elder?.name || '', at: at.value ? Math.floor(new Date(at.value).getTime() / 1000) : NaN, note: f.get('note') || '' };
    if (op === 'visit') {
      Object.assign(values, {
        kind: f.get('kind') || '',
        duration: f.get('duration') === '' || f.get('duration') === null ? 0 : Number(f.get('duration')),
        needs: f.getAll('needs'), followUp: f.get('followUp') === 'on', location: state.location,
      });
      for (const k of ['living', 'safety', 'family', 'care']) values[k] = { finding: f.get(k) || '', note: f.get(`${k}Note`) || '' };
    } else Object.assign(values, { type: f.get('type') || '', severity: f.get('severity') || '', aid: f.get('aid') || '' });
    return values;
  };
  if (!fixing) {
    const keep = () => {
      try {
        sessionStorage.setItem(draftKey, JSON.stringify(collect()));
      } catch {
        // storage full or off: the form still works, only unkept
      }
    };
    form.addEventListener('input', keep);
    form.addEventListener('change', keep);
  }
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const t0 = performance.now();
    const values = collect();
    const button = form.querySelector('#save');
    button.disabled = true;
    let entry;
    try {
      entry = await ob.record(op, values, fixing?.id);
    } catch (e) {
      button.disabled = false;
      err.textContent = e.message === 'no-webcrypto' || e.name === 'NotSupportedError' ? ft('noWebCrypto') : ft(e.message);
      return;
    }
    // Stored in IndexedDB, committed: only now does the form say so.
    sessionStorage.removeItem(draftKey);
    document.body.dataset.saveMs = (performance.now() - t0).toFixed(1);
    document.body.dataset.lastSaved = entry.id;
    toast(ft('saved'));
    location.hash = `#/elder?id=${encodeURIComponent(entry.elderId)}`;
    if (navigator.onLine) doSync();
  });
  main.replaceChildren(
    el('h1', {}, op === 'visit' ? ft('recordVisit') : ft('recordEvent')),
    fixing ? el('p', { class: 'card refused', id: 'correcting' }, ft('correcting'), el('br'), el('b', {}, reason(fixing.status)), el('br'), el('span', { class: 'sub' }, fixing.detail)) : '',
    form,
  );
}

function reason(status) {
  const k = `why_${status}`;
  return ft(k) === k ? ft('why_other') : ft(k);
}

// ---- the outbox ----

async function outboxPage(main) {
  const all = await ob.outboxAll();
  const pending = all.filter((r) => r.state === 'pending');
  const refused = all.filter((r) => r.state === 'refused');
  const sent = (await ob.sentList()).slice(0, 20);
  const what = (r) => `${r.op === 'visit' ? ft('recordVisit') : ft('recordEvent')} · ${r.op === 'visit' ? ft(`k_${r.values?.kind}`) : ft(`e_${r.values?.type}`)}`;
  const card = (r) => el('div', { class: r.state === 'refused' ? 'card refused' : 'card', 'data-id': r.id, 'data-status': r.status || 'pending' },
    el('div', {}, el('span', { class: 'name' }, r.elderName || r.elderId), ' ', el('span', { class: 'sub' }, r.elderId)),
    el('div', { class: 'sub' }, `${when(r.at)} · ${what(r)}`),
    r.state === 'refused' ? [
      el('p', { class: 'error reason' }, reason(r.status)),
      el('p', { class: 'sub' }, `${r.status}: ${r.detail}`),
      el('div', { class: 'actions' },
        el('button', { type: 'button', class: 'primary fix', onclick: () => (location.hash = `#/${r.op === 'visit' ? 'visit' : 'event'}?fix=${r.id}`) }, ft('correct')),
        ['STATUS_CONFLICT', 'STATUS_BAD_SIGNATURE', 'STATUS_MALFORMED'].includes(r.status) ? '' : el('button', { type: 'button', class: 'requeue', onclick: async () => { await ob.requeue(r.id); await bar(); await route(); if (navigator.onLine) doSync(true); } }, ft('requeue')),
        el('button', { type: 'button', class: 'discard', onclick: async () => { if (!window.confirm(ft('discardConfirm'))) return; await ob.discard(r.id); await bar(); await route(); } }, ft('discard'))),
    ] : el('div', { class: 'sub' }, `${ft('recorded')} ${when(r.recordedMs / 1000)}`));
  main.replaceChildren(
    el('h2', {}, ft('refusedTitle'), ' ', el('span', { class: 'badge' }, refused.length)),
    el('div', { id: 'refused-list' }, refused.length ? refused.map(card) : el('p', { class: 'muted' }, ft('nothingRefused'))),
    el('h2', {}, ft('pendingTitle'), ' ', el('span', { class: 'badge' }, pending.length)),
    el('div', { id: 'pending-list' }, pending.length ? pending.map(card) : el('p', { class: 'muted' }, ft('nothingPending'))),
    el('h2', {}, ft('sentTitle')),
    el('ul', { class: 'list', id: 'sent-list' }, sent.map((r) => el('li', { class: 'sub', 'data-id': r.id }, `${when(r.at)} · ${r.elderName || r.elderId} · ${r.status === 'STATUS_OK' ? ft('stored') : ft('duplicate')}`))),
  );
}

// ---- this phone's key ----

async function keyPage(main) {
  let key;
  try {
    key = await deviceKey();
  } catch {
    main.replaceChildren(el('p', { class: 'error', id: 'no-webcrypto' }, ft('noWebCrypto')));
    return;
  }
  const h = hex(key.raw);
  const qr = await QRCode.toDataURL(h, { margin: 1, width: 240 });
  const meta = await ob.syncMeta();
  const v = meta?.visitor;
  main.replaceChildren(
    el('h1', {}, ft('keyTitle')),
    meta?.enrolled === false || !meta ? el('p', { class: 'error', id: 'not-enrolled' }, ft('notEnrolled'))
      : el('p', { class: 'ok', id: 'enrolled' }, `${ft('enrolled')}: ${ft('signer')} ${v?.name || ''} (${v?.id || ''})`),
    el('img', { src: qr, alt: h, id: 'key-qr', width: 240, height: 240 }),
    el('p', { class: 'legend' }, ft('publicKey')),
    el('p', { class: 'key', id: 'public-key' }, h),
    el('p', { class: 'muted' }, ft('keyHelp')),
  );
}

// ---- routing ----

let routeSeq = 0;

async function route() {
  const seq = ++routeSeq;
  const p = page();
  document.getElementById('brand').textContent = ft('title');
  const lang = document.getElementById('lang');
  lang.textContent = ft('lang');
  lang.onclick = () => {
    toggleLang();
    route();
  };
  document.documentElement.lang = currentLang() === 'zh' ? 'zh-CN' : 'en';
  // Each drawing goes into a page of its own, shown only if no later one
  // began meanwhile (a sync redraws while the worker moves on).
  const main = document.createElement('div');
  try {
    await bar();
    if (p === 'elder') await elderPage(main);
    else if (p === 'visit') await formPage(main, 'visit');
    else if (p === 'event') await formPage(main, 'event');
    else if (p === 'outbox') await outboxPage(main);
    else if (p === 'key') await keyPage(main);
    else await home(main);
  } catch (e) {
    main.replaceChildren(el('p', { class: 'error', id: 'trouble' }, String(e)));
    throw e;
  } finally {
    if (seq === routeSeq) shown.replaceChildren(...main.childNodes);
  }
  if (seq === routeSeq && page() === p) document.body.dataset.ready = p;
}

window.addEventListener('hashchange', route);
window.addEventListener('online', () => { bar(); doSync(); });
window.addEventListener('offline', () => bar());
// Records waiting to be sent must not be evicted when the phone is short of
// space: ask for persistent storage (granted to an installed app).
navigator.storage?.persist?.().catch(() => {});
if ('serviceWorker' in navigator) navigator.serviceWorker.register('/field-sw.js', { scope: '/field' }).catch(() => {});
route().then(() => navigator.onLine && doSync());
