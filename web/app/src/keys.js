// The browser's own Ed25519 key (issue 9, item 2): made here with WebCrypto,
// not extractable, kept in IndexedDB. The private half never leaves the
// browser; the gateway cannot sign for anyone.
import { openDB } from 'idb';

const DB = 'tanfang';
const STORE = 'keys';
const ID = 'device';

function db() {
  return openDB(DB, 1, {
    upgrade(d) {
      d.createObjectStore(STORE);
    },
  });
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// The key pair, made on first use. Returns { privateKey, publicKey, raw }
// (raw: the 32-byte public key).
export async function deviceKey() {
  const d = await db();
  let kp = await d.get(STORE, ID);
  if (!kp) {
    if (!crypto.subtle) throw new Error('no-webcrypto');
    kp = await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
    await d.put(STORE, kp, ID);
  }
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', kp.publicKey));
  return { privateKey: kp.privateKey, publicKey: kp.publicKey, raw };
}

// A detached Ed25519 signature over msg (64 bytes).
export async function sign(privateKey, msg) {
  return new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, privateKey, msg));
}
