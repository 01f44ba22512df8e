// One signed request to tanfangd through tanfang-web (docs/protocol.md,
// sections 2 to 4; docs/web.md). Each call signs a new envelope: the daemon
// answers an envelope once.
import { Envelope, Reply, Request, plain } from './proto.js';
import { deviceKey, sign } from './keys.js';

const DOMAIN = new TextEncoder().encode('tanfang/v1');

// A failure of the way to the daemon (not a refusal by it): code is the
// HTTP status, or 0 for no network.
export class GatewayError extends Error {
  constructor(code, text) {
    super(text);
    this.code = code;
  }
}

// The Envelope's bytes for a Request of these fields (plain data, as
// Request.fromObject takes them: nested objects, enums by name such as
// 'WHAT_ELDERS'), signed with this browser's key over 'tanfang/v1' || body.
export async function seal(fields) {
  const key = await deviceKey();
  const body = Request.encode(Request.fromObject(fields)).finish();
  const msg = new Uint8Array(DOMAIN.length + body.length);
  msg.set(DOMAIN);
  msg.set(body, DOMAIN.length);
  const signature = await sign(key.privateKey, msg);
  return Envelope.encode(Envelope.create({ signer: key.raw, body, signature })).finish();
}

// Sends op (e.g. { overdue: { limit: 50 } }) and returns the Reply as plain
// data. Throws GatewayError when the gateway or daemon cannot be reached.
export async function call(op) {
  const nonce = crypto.getRandomValues(new Uint8Array(16));
  const frame = await seal({ sent_at_ms: Date.now(), nonce, ...op });
  let res;
  try {
    res = await fetch('/v1/envelope', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-protobuf' },
      body: frame,
      cache: 'no-store',
    });
  } catch (e) {
    throw new GatewayError(0, String(e));
  }
  if (!res.ok) throw new GatewayError(res.status, await res.text());
  const bytes = new Uint8Array(await res.arrayBuffer());
  return plain(Reply, Reply.decode(bytes));
}

// The demo's one-time enrolment link (scripts/demo.sh; docs/web.md): the
// gateway enrols this browser's key for the demo's supervisor. Returns the
// Reply as plain data; throws GatewayError.
export async function demoEnrol(token) {
  const key = await deviceKey();
  const res = await fetch('/v1/demo-enrol', {
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream', 'X-Demo-Token': token },
    body: key.raw,
    cache: 'no-store',
  });
  if (!res.ok) throw new GatewayError(res.status, await res.text());
  return plain(Reply, Reply.decode(new Uint8Array(await res.arrayBuffer())));
}
