// The field app's outbox (issue 10, item 5), keeping the C field client's
// promises (docs/field-client.md) in the browser:
// - a record is signed when it is saved, and is in IndexedDB (idb) before
//   the form says "saved";
// - the stored envelope is sent byte for byte as signed, so a resend after a
//   lost reply, a closed browser or a dead battery is a STATUS_DUPLICATE,
//   stored once;
// - a record leaves the outbox only on STATUS_OK or STATUS_DUPLICATE; a
//   refusal moves it to the refused list with the daemon's status and
//   detail, where it is corrected (a new record) or discarded, never lost
//   silently; anything else (no network, a busy gateway, STORE_FULL,
//   INTERNAL) leaves it pending for the next pass.
// It also keeps the worker's elders and due list from the last download.
import { openDB } from 'idb';
import { Reply, plain } from './proto.js';
import { hex } from './keys.js';
import { GatewayError, call, seal } from './api.js';

// A record dated more than this after the phone's clock is refused here, as
// tanfang-field does (the daemon would refuse it: STATUS_DATED_IN_FUTURE).
export const FUTURE_SLACK_S = 600;

// Statuses after which the daemon will not take the same envelope as it is
// (docs/field-client.md, "Delivering"); the record goes to the refused list.
const REFUSALS = new Set([
  'STATUS_CONFLICT', 'STATUS_BAD_SIGNATURE', 'STATUS_UNKNOWN_SIGNER', 'STATUS_FORBIDDEN',
  'STATUS_MALFORMED', 'STATUS_UNKNOWN_ELDER', 'STATUS_NOT_FOUND', 'STATUS_INVALID',
  'STATUS_TOO_LARGE', 'STATUS_CLOCK_SKEW', 'STATUS_DATED_IN_FUTURE', 'STATUS_TOO_OLD',
]);

const SENT_KEEP = 200;

let dbp;
export function fieldDb() {
  dbp ??= openDB('tanfang-field', 1, {
    upgrade(d) {
      // id (32 hex) -> { id, op, elderId, elderName, at, recordedMs, frame,
      //                  state: 'pending' | 'refused', status, detail, values }
      const out = d.createObjectStore('outbox', { keyPath: 'id' });
      out.createIndex('recorded', 'recordedMs');
      out.createIndex('state', 'state');
      out.createIndex('elder', 'elderId');
      d.createObjectStore('elders', { keyPath: 'id' });
      const sent = d.createObjectStore('sent', { keyPath: 'id' });
      sent.createIndex('acked', 'ackedMs');
      sent.createIndex('elder', 'elderId');
      d.createObjectStore('meta');
    },
  });
  return dbp;
}

function utf8Len(s) {
  return new TextEncoder().encode(s || '').length;
}

// Checks a form's values as the daemon would (docs/protocol.md 6.1) while
// they can still be corrected. Returns a field-i18n key, or null.
export function problem(op, v, nowMs = Date.now()) {
  if (!v.elderId) return 'chooseElder';
  if (!Number.isFinite(v.at) || v.at <= 0) return 'badWhen';
  if (v.at > Math.floor(nowMs / 1000) + FUTURE_SLACK_S) return 'future';
  const notes = [v.note, ...(op === 'visit' ? ['living', 'safety', 'family', 'care'].map((k) => v[k]?.note) : [])];
  if (notes.some((n) => utf8Len(n) > 4000)) return 'tooLong';
  if (op === 'visit') {
    if (!v.kind) return 'chooseKind';
    if (!(v.duration >= 0 && v.duration <= 1440)) return 'badDuration';
  } else if (!v.type || !v.severity) return 'chooseType';
  return null;
}

function assessment(a) {
  return a && a.finding ? { finding: a.finding, note: a.note || '' } : undefined;
}

// The Request op for the values of a form.
function opOf(op, id, v) {
  if (op === 'visit')
    return {
      visit: {
        id, elder_id: v.elderId, kind: v.kind, visited_at: v.at,
        ...(v.location ? { has_location: true, lat: v.location.lat, lon: v.location.lon, accuracy_m: Math.min(v.location.accuracy, 100000) } : {}),
        duration_min: v.duration || 0,
        basic_living: assessment(v.living), safety_risk: assessment(v.safety),
        family_support: assessment(v.family), care_protection: assessment(v.care),
        needs: v.needs || [], follow_up: !!v.followUp, note: v.note || '',
      },
    };
  return {
    care_event: {
      id, elder_id: v.elderId, type: v.type, severity: v.severity, occurred_at: v.at,
      aid: v.type === 'CARE_EVENT_TYPE_SERVICE_DELIVERED' && v.aid ? v.aid : 'AID_UNSPECIFIED', note: v.note || '',
    },
  };
}

// Signs a record and keeps it in the outbox. Resolves with the stored
// entry once the transaction has committed; throws Error(problem key) for
// values the phone refuses (nothing is kept then). replaces: the id of a
// refused record this one corrects, removed in the same transaction.
export async function record(op, values, replaces) {
  const p = problem(op, values);
  if (p) throw new Error(p);
  const id = crypto.getRandomValues(new Uint8Array(16));
  const recordedMs = Date.now();
  const frame = await seal({ sent_at_ms: recordedMs, nonce: crypto.getRandomValues(new Uint8Array(16)), ...opOf(op, id, values) });
  const entry = {
    id: hex(id), op, elderId: values.elderId, elderName: values.elderName || '', at: values.at,
    recordedMs, frame, state: 'pending', status: '', detail: '', values,
  };
  const d = await fieldDb();
  const tx = d.transaction('outbox', 'readwrite');
  tx.store.put(entry);
  if (replaces) tx.store.delete(replaces);
  await tx.done;
  return entry;
}

export async function outboxAll() {
  const d = await fieldDb();
  return d.getAllFromIndex('outbox', 'recorded');
}

export async function counts() {
  const d = await fieldDb();
  const tx = d.transaction('outbox');
  const idx = tx.store.index('state');
  const [pending, refused] = await Promise.all([idx.count('pending'), idx.count('refused')]);
  return { pending, refused };
}

// The records of one elder, in the outbox and recently delivered.
export async function ofElder(id) {
  const d = await fieldDb();
  return [...(await d.getAllFromIndex('outbox', 'elder', id)), ...(await d.getAllFromIndex('sent', 'elder', id))];
}

// One record of the outbox, or undefined.
export async function entry(id) {
  const d = await fieldDb();
  return d.get('outbox', id);
}

export async function sentList() {
  const d = await fieldDb();
  return (await d.getAllFromIndex('sent', 'acked')).reverse();
}

// A refused record back to pending, unchanged (once its cause is gone: the
// key enrolled, the clock set).
export async function requeue(id) {
  const d = await fieldDb();
  const tx = d.transaction('outbox', 'readwrite');
  const e = await tx.store.get(id);
  if (e) await tx.store.put({ ...e, state: 'pending', status: '', detail: '' });
  await tx.done;
}

// Deletes a refused record (after the worker confirmed).
export async function discard(id) {
  const d = await fieldDb();
  const tx = d.transaction('outbox', 'readwrite');
  const e = await tx.store.get(id);
  if (e && e.state === 'refused') await tx.store.delete(id);
  await tx.done;
}

async function settle(e, rep) {
  const d = await fieldDb();
  if (rep.status === 'STATUS_OK' || rep.status === 'STATUS_DUPLICATE') {
    const tx = d.transaction(['outbox', 'sent'], 'readwrite');
    tx.objectStore('outbox').delete(e.id);
    tx.objectStore('sent').put({ id: e.id, op: e.op, elderId: e.elderId, elderName: e.elderName, at: e.at, status: rep.status, flags: rep.flags, ackedMs: Date.now() });
    await tx.done;
    return rep.status === 'STATUS_OK' ? 'ok' : 'dup';
  }
  if (REFUSALS.has(rep.status)) {
    const tx = d.transaction('outbox', 'readwrite');
    const cur = await tx.store.get(e.id);
    if (cur) await tx.store.put({ ...cur, state: 'refused', status: rep.status, detail: rep.detail });
    await tx.done;
    return 'refused';
  }
  return 'retry'; // STORE_FULL, INTERNAL, a status this app does not know
}

async function trimSent() {
  const d = await fieldDb();
  const keys = await d.getAllKeysFromIndex('sent', 'acked');
  if (keys.length <= SENT_KEEP) return;
  const tx = d.transaction('sent', 'readwrite');
  for (const k of keys.slice(0, keys.length - SENT_KEEP)) tx.store.delete(k);
  await tx.done;
}

async function send(frame) {
  let res;
  try {
    res = await fetch('/v1/envelope', { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body: frame, cache: 'no-store' });
  } catch (err) {
    throw new GatewayError(0, String(err));
  }
  if (!res.ok) throw new GatewayError(res.status, await res.text());
  return plain(Reply, Reply.decode(new Uint8Array(await res.arrayBuffer())));
}

// One pass over the pending records, oldest first, `window` in flight.
// Returns counts, and `failure` (a GatewayError) when the way to the
// daemon failed: the pass stops sending then.
async function pass(window, onProgress) {
  const todo = (await outboxAll()).filter((e) => e.state === 'pending');
  const res = { ok: 0, dup: 0, refused: 0, retry: 0, failure: null };
  let next = 0;
  async function lane() {
    while (next < todo.length && !res.failure) {
      const e = todo[next++];
      let rep;
      try {
        rep = await send(e.frame);
      } catch (err) {
        res.failure ??= err;
        res.retry++;
        continue;
      }
      res[await settle(e, rep)]++;
      onProgress?.(res);
    }
  }
  await Promise.all(Array.from({ length: Math.min(window, todo.length) }, lane));
  return res;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Delivers the outbox: passes until nothing is pending or `attempts` passes
// are used, with a backoff between them (baseMs, doubling, at most 30 s).
// One sync at a time per phone (Web Locks: two tabs do not send at once).
// Returns { ok, dup, refused, pending, failure, busy }.
export async function syncOutbox({ attempts = 5, baseMs = 500, window = 8, onProgress } = {}) {
  const run = async () => {
    const total = { ok: 0, dup: 0, refused: 0, failure: null };
    let delay = baseMs;
    for (let i = 0; i < attempts; i++) {
      const r = await pass(window, onProgress);
      total.ok += r.ok, total.dup += r.dup, total.refused += r.refused;
      total.failure = r.failure;
      if (!r.retry || (r.failure && r.failure.code === 0)) break; // done, or no network: wait for it
      await sleep(delay);
      delay = Math.min(delay * 2, 30000);
    }
    await trimSent();
    total.pending = (await counts()).pending;
    return total;
  };
  if (navigator.locks) return navigator.locks.request('tanfang-field-sync', { ifAvailable: true }, (lock) => (lock ? run() : { busy: true }));
  return run();
}

// Downloads the worker's elders and due list (field_elders), page by page,
// and replaces the kept copy in one transaction. Returns { status, detail }
// of the daemon ('STATUS_UNKNOWN_SIGNER': not enrolled or revoked); throws
// GatewayError when the daemon cannot be reached.
export async function download(horizonS = 7 * 86400) {
  const elders = [];
  const due = [];
  let first;
  for (let after = ''; ;) {
    const rep = await call({ field_elders: { after, limit: 2000, horizon_s: horizonS } });
    if (rep.status !== 'STATUS_OK') {
      const d = await fieldDb();
      if (rep.status === 'STATUS_UNKNOWN_SIGNER' || rep.status === 'STATUS_FORBIDDEN') {
        const meta = (await d.get('meta', 'sync')) || {};
        await d.put('meta', { ...meta, enrolled: false, refusal: rep.status }, 'sync');
      }
      return { status: rep.status, detail: rep.detail };
    }
    const l = rep.field_elders;
    first ??= l;
    for (const fe of l.elders) elders.push({ ...fe.elder, why: fe.why });
    due.push(...l.due);
    after = l.next;
    if (!after) break;
  }
  due.sort((a, b) => a.due_at - b.due_at);
  const d = await fieldDb();
  const tx = d.transaction(['elders', 'meta'], 'readwrite');
  const store = tx.objectStore('elders');
  store.clear();
  for (const e of elders) store.put(e);
  tx.objectStore('meta').put({ at: Date.now(), now: first.now, visitor: first.visitor, due, enrolled: true, refusal: '' }, 'sync');
  await tx.done;
  return { status: 'STATUS_OK', detail: '', elders: elders.length, due: due.length };
}

export async function elders() {
  const d = await fieldDb();
  return d.getAll('elders');
}

export async function elder(id) {
  const d = await fieldDb();
  return d.get('elders', id);
}

export async function syncMeta() {
  const d = await fieldDb();
  return (await d.get('meta', 'sync')) || null;
}
