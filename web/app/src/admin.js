// Administrator pages (issue 9, item 4): the area tree, elders (search, add,
// edit), visitors and the "1+2" households, device keys (enrol by pasting or
// scanning a key's hex, revoke with a confirmation). Every change is a signed
// request; tanfangd checks the signer's scope on both sides of it.
import { call, GatewayError } from './api.js';
import jsQR from 'jsqr';
import { ImportElders, ImportVisitors } from './proto.js';
import { t } from './i18n.js';
import { label } from './labels.js';

const CATEGORIES = ['living_alone', 'empty_nest', 'left_behind', 'incapacitated', 'severely_disabled',
  'family_planning_special', 'extreme_poverty'];
const ROLES = ['grid_worker', 'village_cadre', 'civil_affairs_assistant', 'social_worker', 'volunteer',
  'party_member', 'health_worker', 'neighbour', 'supervisor', 'dispatcher', 'admin', 'gateway'];

// el() and the trouble page come from main.js, passed in once.
let el, ask;
export function adminInit(h) {
  ({ el, ask } = h);
}

// Every entry of one list of the signer's scope, page by page; null on
// trouble. send(op) answers a reply or null: ask (shows the trouble) by
// default, or a quiet one for a page that can do without the list.
export async function listAll(what, send = ask) {
  const out = [];
  for (let after = ''; ; ) {
    const rep = await send({ get_registry: { what, after, limit: 5000 } });
    if (!rep) return null;
    const l = rep.registry;
    out.push(...(what === 'WHAT_AREAS' ? l.areas : what === 'WHAT_ELDERS' ? l.elders : what === 'WHAT_VISITORS' ? l.visitors : l.keys));
    after = l.next;
    if (!after) return out;
  }
}

// Sends a change; shows the daemon's answer in node. Returns true on OK.
async function change(op, node) {
  let rep;
  try {
    rep = await call(op);
  } catch (e) {
    node.textContent = e instanceof GatewayError ? `${t('gwOther')} ${e.code}: ${e.message}` : String(e);
    node.className = 'error';
    return false;
  }
  node.textContent = rep.status === 'STATUS_OK' ? `${t('saved')}${rep.detail ? `: ${rep.detail}` : ''}` : `${rep.status}: ${rep.detail}`;
  node.className = rep.status === 'STATUS_OK' ? 'ok' : 'error';
  node.dataset.status = rep.status;
  return rep.status === 'STATUS_OK';
}

function field(name, label, value = '', attrs = {}) {
  return el('label', {}, label, el('input', { name, value: value ?? '', ...attrs }));
}

function short(s, prefix) {
  return String(s || '').replace(prefix, '').toLowerCase();
}

// An area field that takes a village's name as well as its code (the
// import does; the form used to take codes only, and a name came back as
// "outside your scope"): a name of exactly one area in the list becomes its
// code when sent.
function areaField(name, text, value, areas, attrs = {}) {
  return el('label', {}, text, el('input', { name, value: value ?? '', list: 'area-list', ...attrs }),
    el('datalist', { id: 'area-list' }, areas.map((a) => el('option', { value: a.name }, a.code))));
}
function areaCode(value, areas) {
  const v = String(value || '').trim();
  const named = areas.filter((a) => a.name === v);
  return named.length === 1 && !areas.some((a) => a.code === v) ? named[0].code : v;
}

// ---- areas ----

export async function areasPage(main) {
  const areas = await listAll('WHAT_AREAS');
  if (!areas) return;
  const kids = new Map();
  for (const a of areas) kids.set(a.parent, [...(kids.get(a.parent) || []), a]);
  const codes = new Set(areas.map((a) => a.code));
  const tree = (parent, depth) =>
    (kids.get(parent) || []).flatMap((a) => [
      el('tr', { 'data-area': a.code }, el('td', {}, `${'　'.repeat(depth)}${a.name}`), el('td', {}, a.code), el('td', {}, a.contact)),
      ...tree(a.code, depth + 1),
    ]);
  // Roots of what this key may see: areas whose parent is not listed.
  const roots = [...new Set(areas.filter((a) => !codes.has(a.parent)).map((a) => a.parent))];
  const out = el('p', { id: 'result' });
  main.replaceChildren(
    el('h1', {}, t('areas')),
    el('table', { id: 'area-tree' }, el('tr', {}, el('th', {}, t('name')), el('th', {}, t('code')), el('th', {}, t('contact'))), roots.flatMap((r) => tree(r, 0))),
    el('h2', {}, t('addArea')),
    el(
      'form',
      {
        class: 'filters',
        id: 'area-form',
        onsubmit: async (ev) => {
          ev.preventDefault();
          const f = new FormData(ev.target);
          const area = { code: f.get('code'), name: f.get('name'), parent: f.get('parent'), contact: f.get('contact') };
          if (await change({ put_area: { area } }, out)) areasPage(main);
        },
      },
      field('code', t('code')), field('name', t('name')), field('parent', t('parent')), field('contact', t('contact')),
      el('button', { type: 'submit' }, t('save')),
    ),
    out,
  );
}

// ---- elders ----

function elderForm(main, e, visitors, areas) {
  const out = el('p', { id: 'result' });
  const cats = el('fieldset', { class: 'cats' }, el('legend', {}, t('categories')),
    CATEGORIES.map((c) => el('label', {}, el('input', { type: 'checkbox', name: 'cat', value: c, ...(e.categories.some((x) => short(x, 'CATEGORY_') === c) ? { checked: 'checked' } : {}) }), label(c, 'category'))));
  const list = el('datalist', { id: 'visitor-ids' }, visitors.map((v) => el('option', { value: v.id }, `${v.name} (${label(v.role)})`)));
  return el(
    'form',
    {
      id: 'elder-form',
      class: 'filters',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const f = new FormData(ev.target);
        const ids = (k) => String(f.get(k) || '').split(/[,，\s]+/).filter(Boolean);
        const lat = f.get('lat'), lon = f.get('lon');
        // The whole entry: put_elder replaces it, so every field is sent.
        const elder = {
          id: f.get('id'), name: f.get('name'), area: areaCode(f.get('area'), areas), address: f.get('address'), phone: f.get('phone'),
          birth_date: f.get('birth_date'), categories: f.getAll('cat').map((c) => `CATEGORY_${c.toUpperCase()}`),
          risk_tier: e.risk_tier || 'RISK_TIER_UNSPECIFIED', visitors: ids('visitors'), neighbours: ids('neighbours'),
          has_location: Boolean(lat && lon), lat: Number(lat) || 0, lon: Number(lon) || 0,
          registered_at: e.registered_at || 0,
        };
        if (await change({ put_elder: { elder } }, out)) location.hash = `#/elder?id=${encodeURIComponent(elder.id)}`;
      },
    },
    field('id', t('elderId'), e.id, e.id ? { readonly: 'readonly' } : { required: 'required' }),
    field('name', t('name'), e.name, { required: 'required' }),
    areaField('area', t('area'), e.area, areas, { required: 'required' }),
    field('address', t('address'), e.address),
    field('phone', t('phoneNo'), e.phone),
    field('birth_date', t('birth'), e.birth_date, { placeholder: 'YYYY-MM-DD' }),
    field('lat', t('lat'), e.has_location ? e.lat : ''),
    field('lon', t('lon'), e.has_location ? e.lon : ''),
    field('visitors', t('visitorsOf'), e.visitors.join(', '), { list: 'visitor-ids' }),
    field('neighbours', t('neighbours'), e.neighbours.join(', '), { list: 'visitor-ids' }),
    cats, list,
    el('button', { type: 'submit' }, t('save')),
    out,
  );
}

const EMPTY_ELDER = { id: '', name: '', area: '', address: '', phone: '', birth_date: '', categories: [], visitors: [], neighbours: [], has_location: false };

export async function eldersPage(main, params) {
  const elders = await listAll('WHAT_ELDERS');
  if (!elders) return;
  const visitors = (await listAll('WHAT_VISITORS')) || [];
  const editId = params.get('edit');
  if (editId !== null) {
    const areas = (await listAll('WHAT_AREAS')) || [];
    const e = elders.find((x) => x.id === editId) || EMPTY_ELDER;
    main.replaceChildren(el('h1', {}, e.id ? `${t('edit')}: ${e.name} (${e.id})` : t('addElder')), elderForm(main, e, visitors, areas));
    return;
  }
  const q = (params.get('q') || '').trim();
  const hits = q ? elders.filter((e) => e.name.includes(q) || e.id.includes(q)) : elders;
  main.replaceChildren(
    el('h1', {}, t('eldersTitle')),
    el('form', { class: 'filters', onsubmit: (ev) => { ev.preventDefault(); location.hash = `#/elders?q=${encodeURIComponent(new FormData(ev.target).get('q'))}`; } },
      field('q', t('search'), q), el('button', { type: 'submit' }, t('search')), el('a', { href: '#/elders?edit=', id: 'add-elder' }, t('addElder'))),
    el('p', { id: 'elder-count' }, `${t('of')} ${hits.length} ${t('rows')}`),
    el('table', { id: 'elder-list' },
      el('tr', {}, ...['elderId', 'name', 'area', 'categories', 'neighbours', ''].map((k) => el('th', {}, k ? t(k) : ''))),
      hits.slice(0, 500).map((e) => el('tr', { 'data-elder': e.id },
        el('td', {}, el('a', { href: `#/elder?id=${encodeURIComponent(e.id)}` }, e.id)), el('td', {}, e.name), el('td', {}, e.area),
        el('td', {}, e.categories.map((c) => label(c)).join('、')), el('td', {}, e.neighbours.join(', ')),
        el('td', {}, el('a', { href: `#/elders?edit=${encodeURIComponent(e.id)}` }, t('edit')))))),
  );
}

// ---- visitors and "1+2" households ----

export async function visitorsPage(main) {
  const visitors = await listAll('WHAT_VISITORS');
  if (!visitors) return;
  const areas = (await listAll('WHAT_AREAS')) || [];
  const out = el('p', { id: 'result' });
  main.replaceChildren(
    el('h1', {}, t('visitorsTitle')),
    el('table', { id: 'visitor-list' },
      el('tr', {}, ...['visitorId', 'name', 'role', 'area', 'contact'].map((k) => el('th', {}, t(k)))),
      visitors.map((v) => el('tr', { 'data-visitor': v.id }, el('td', {}, v.id), el('td', {}, v.name), el('td', {}, label(v.role)), el('td', {}, v.area), el('td', {}, v.contact)))),
    el('h2', {}, t('addVisitor')),
    el('p', { class: 'muted' }, t('householdHelp')),
    el('form', {
      class: 'filters',
      id: 'visitor-form',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const f = new FormData(ev.target);
        const visitor = { id: f.get('id'), name: f.get('name'), role: `ROLE_${String(f.get('role')).toUpperCase()}`, area: areaCode(f.get('area'), areas), contact: f.get('contact') };
        if (await change({ put_visitor: { visitor } }, out)) visitorsPage(main);
      },
    },
    field('id', t('visitorId'), '', { required: 'required' }), field('name', t('name'), '', { required: 'required' }),
    el('label', {}, t('role'), el('select', { name: 'role' }, ROLES.map((r) => el('option', { value: r }, label(r, 'role'))))),
    areaField('area', t('area'), '', areas, { required: 'required' }), field('contact', t('contact')),
    el('button', { type: 'submit' }, t('save'))),
    out,
  );
}

// ---- device keys ----

// Reads a QR code from pixels (a photo of a phone's key page, or a camera
// frame). Returns its text, or null.
function readQr(source, width, height) {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(source, 0, 0, width, height);
  const img = ctx.getImageData(0, 0, width, height);
  const code = jsQR(img.data, width, height);
  return code ? code.data.trim().toLowerCase() : null;
}

// A key's QR code from an image file (a photo taken on the spot works on a
// phone: the file input offers the camera).
async function scanFile(file) {
  const bitmap = await createImageBitmap(file);
  return readQr(bitmap, bitmap.width, bitmap.height);
}

// A key's QR code from the camera, for up to 30 s.
async function scanCamera(video) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
  video.srcObject = stream;
  await video.play();
  try {
    for (let i = 0; i < 300; i++) {
      await new Promise((r) => setTimeout(r, 100));
      if (!video.videoWidth) continue;
      const hex = readQr(video, video.videoWidth, video.videoHeight);
      if (hex && /^[0-9a-f]{64}$/.test(hex)) return hex;
    }
    return null;
  } finally {
    for (const tr of stream.getTracks()) tr.stop();
    video.srcObject = null;
  }
}

function hexToBytes(h) {
  return Uint8Array.from(h.match(/../g).map((b) => parseInt(b, 16)));
}
function bytesToHex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export async function keysPage(main) {
  const keys = await listAll('WHAT_KEYS');
  if (!keys) return;
  const out = el('p', { id: 'result' });
  const setScanned = (hex) => {
    if (hex && /^[0-9a-f]{64}$/.test(hex)) {
      main.querySelector('#enrol-form input[name=key]').value = hex;
      out.textContent = t('scanned');
      out.className = 'ok';
    } else {
      out.textContent = t('noQr');
      out.className = 'error';
    }
  };
  main.replaceChildren(
    el('h1', {}, t('keysTitle')),
    el('h2', {}, t('enrol')),
    el('p', { class: 'muted' }, t('enrolHelp')),
    el('form', {
      class: 'filters',
      id: 'enrol-form',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const f = new FormData(ev.target);
        const hex = String(f.get('key')).trim().toLowerCase();
        if (!/^[0-9a-f]{64}$/.test(hex)) {
          out.textContent = t('badKey');
          out.className = 'error';
          return;
        }
        if (await change({ enrol_key: { public_key: hexToBytes(hex), visitor_id: f.get('visitor') } }, out)) keysPage(main).then(() => main.querySelector('#result').replaceWith(out));
      },
    },
    el('label', {}, t('publicKey'), el('input', { name: 'key', size: 66, required: 'required' })),
    field('visitor', t('visitorId'), '', { required: 'required' }),
    el('button', { type: 'submit' }, t('enrol'))),
    el('div', { class: 'filters' },
      el('label', {}, t('scanImage'), el('input', {
        type: 'file', accept: 'image/*', capture: 'environment', id: 'scan-file',
        onchange: async (ev) => {
          const hex = ev.target.files[0] ? await scanFile(ev.target.files[0]) : null;
          setScanned(hex);
        },
      })),
      el('button', {
        type: 'button', id: 'scan-camera',
        onclick: async () => {
          const video = el('video', { playsinline: 'playsinline', muted: 'muted', class: 'scan' });
          out.replaceChildren(video);
          try {
            setScanned(await scanCamera(video));
          } catch (e) {
            out.textContent = `${t('noCamera')}: ${e.message || e}`;
            out.className = 'error';
          }
        },
      }, t('scanCamera'))),
    out,
    el('table', { id: 'key-list' },
      el('tr', {}, ...['publicKey', 'visitorId', 'when', ''].map((k) => el('th', {}, k ? t(k) : ''))),
      keys.map((k) => {
        const hex = bytesToHex(k.public_key);
        return el('tr', { 'data-key': hex, class: k.revoked ? 'muted' : '' },
          el('td', { class: 'key' }, hex), el('td', {}, k.visitor_id),
          el('td', {}, new Date(k.enrolled_at * 1000).toISOString().slice(0, 10)),
          el('td', {}, k.revoked ? t('revoked') : el('button', {
            type: 'button',
            class: 'revoke',
            onclick: async () => {
              // A revoked key stays revoked: ask first.
              if (!window.confirm(`${t('revokeConfirm')}\n${hex} (${k.visitor_id})`)) return;
              if (await change({ revoke_key: { public_key: k.public_key } }, out)) keysPage(main).then(() => main.querySelector('#result').replaceWith(out));
            },
          }, t('revoke'))));
      })),
  );
}

// ---- importing the office's files (issue 11) ----

// The file (CSV in UTF-8, GB18030 or UTF-16, or an .xlsx/.xls workbook) is
// read by the gateway with tanfang-admin's own reader (every row's problems
// at once), with the registry of the signer's scope fetched here, so the
// file may name villages, visitors and elders. Then the daemon checks every
// elder or visitor against the registry without storing any (check_only);
// only a clean file is imported, all or nothing.
function base64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

// "elder 3 of 20 (id): reason" as "row R (line L): elder 3 of 20 (id): reason".
// Which of the file's columns a daemon's problem is about, by the words
// it uses: the same table as tanfang-admin's (clients/tanfang-admin.c).
const PROBLEM_WORDS = [
  ['ID-card', 'id_card'], ['same name and birth date', 'name'], ['no elder with id', 'elder'],
  ['neighbour', 'neighbour'], ['no visitor with id', 'id'], ['visitor', 'visitor'],
  ['area', 'area'], ['birth', 'birth'], ['name', 'name'],
];

function placeProblem(p, items, req, kind, columns = {}) {
  let m = /^(?:elder|visitor) (\d+) of \d+ \(/.exec(p);
  let k = m ? Number(m[1]) : 0;
  m = /^assignment \d+ of \d+ \(visitor ([^,]+),/.exec(p);
  const assignment = Boolean(m);
  if (m && kind === 'visitors') k = req.visitors.findIndex((v) => v.id === m[1]) + 1;
  const at = items[k - 1];
  const reason = p.includes('): ') ? p.slice(p.indexOf('): ') + 3) : p;
  const word = assignment ? ['', 'elder'] : PROBLEM_WORDS.find(([w]) => reason.includes(w));
  const col = word && columns[word[1]];
  // As the reader's own messages say it (core/csvimport.c).
  return at ? `row ${at[0]} (line ${at[1]}): ${col ? `column ${col}: ` : ''}${p}` : p;
}

export async function importPage(main) {
  const out = el('div', { id: 'import-result' });
  const list = (items, cls) => el('ul', { class: cls, id: 'import-problems' }, items.map((p) => el('li', {}, p)));
  let op = null;
  const importButton = el('button', {
    type: 'button',
    id: 'import-go',
    disabled: 'disabled',
    onclick: async () => {
      const node = el('p', { id: 'result' });
      out.replaceChildren(node);
      if (await change(op, node)) importButton.disabled = true;
    },
  }, t('importGo'));
  // What was checked is what is imported: any change to the form (another
  // file, kind, map or role) throws the check away (a new user checked one
  // file, chose another, and imported the first).
  const forget = () => {
    op = null;
    importButton.disabled = true;
    out.replaceChildren();
  };
  const form = el('form', {
    class: 'filters',
    id: 'import-form',
    onchange: forget,
    oninput: forget,
    onsubmit: async (ev) => {
      ev.preventDefault();
      forget();
      const f = ev.target;
      const file = f.querySelector('input[type=file]').files[0];
      if (!file) {
        out.replaceChildren(el('p', { class: 'error', id: 'import-summary' }, t('chooseFile')));
        return;
      }
      const kind = f.querySelector('select[name=kind]').value;
      out.replaceChildren(el('p', { class: 'muted' }, t('loading')));
      const areas = await listAll('WHAT_AREAS');
      const visitors = await listAll('WHAT_VISITORS');
      const elders = kind === 'visitors' ? await listAll('WHAT_ELDERS') : [];
      if (!areas || !visitors || !elders) return;
      const roleNumber = (r) => ROLES.indexOf(short(r, 'ROLE_')) + 1;
      let parsed;
      try {
        const body = JSON.stringify({
          kind,
          file: base64(new Uint8Array(await file.arrayBuffer())),
          map: f.querySelector('input[name=map]').value,
          role: f.querySelector('select[name=role]').value,
          areas: areas.map((a) => [a.code, a.name, a.parent]),
          visitors: visitors.map((v) => [v.id, v.name, roleNumber(v.role), v.area]),
          elders: elders.map((e) => [e.id, e.name, e.area, e.id_card, e.birth_date]),
        });
        const res = await fetch('/v1/parse-elders', { method: 'POST', body, headers: { 'Content-Type': 'application/json' }, cache: 'no-store' });
        if (!res.ok) throw new GatewayError(res.status, await res.text());
        parsed = await res.json();
      } catch (e) {
        out.replaceChildren(el('p', { class: 'error' }, String(e.message || e)));
        return;
      }
      if (parsed.errors.length) {
        out.replaceChildren(el('p', { class: 'error', id: 'import-summary' }, `${t('fileProblems')}: ${parsed.errors.length}`), list(parsed.errors, 'error'));
        return;
      }
      const bytes = Uint8Array.from(atob(parsed.request), (ch) => ch.charCodeAt(0));
      const req = kind === 'visitors' ? ImportVisitors.decode(bytes) : ImportElders.decode(bytes);
      op = kind === 'visitors'
        ? { import_visitors: { visitors: req.visitors, assignments: req.assignments } }
        : { import_elders: { elders: req.elders } };
      const check = kind === 'visitors'
        ? { import_visitors: { visitors: req.visitors, assignments: req.assignments, check_only: true } }
        : { import_elders: { elders: req.elders, check_only: true } };
      const rep = await ask(check, true);
      if (!rep) return;
      if (rep.status !== 'STATUS_OK') {
        out.replaceChildren(el('p', { class: 'error', id: 'import-summary' }, rep.detail),
          list(rep.problems.map((p) => placeProblem(p, parsed.items, req, kind, parsed.columns)), 'error'));
        return;
      }
      out.replaceChildren(el('p', { class: 'ok', id: 'import-summary' }, `${parsed.format}: ${rep.detail}`), parsed.warnings.length ? list(parsed.warnings, 'muted') : '');
      importButton.disabled = false;
    },
  },
  el('label', {}, t('importKind'), el('select', { name: 'kind' },
    el('option', { value: 'elders' }, t('importElders')), el('option', { value: 'visitors' }, t('importVisitors')))),
  el('label', {}, t('elderFile'), el('input', { type: 'file', name: 'file', accept: '.csv,.txt,.xlsx,.xls,text/csv' })),
  el('label', {}, t('importMap'), el('input', { name: 'map', placeholder: '户主姓名=name,村组=area' })),
  el('label', {}, t('importRole'), el('select', { name: 'role' }, el('option', { value: '' }, '—'),
    ROLES.slice(0, 8).map((r) => el('option', { value: r }, label(r, 'role'))))),
  el('button', { type: 'submit' }, t('importCheck')),
  importButton);
  main.replaceChildren(el('h1', {}, t('importTitle')), el('p', { class: 'muted' }, t('importHelp')), form, out);
}
