// The field app's service worker (issue 10, item 1): after one visit online
// the app opens with no network at all, after a reload or a restart of the
// phone. Scope /field (field.html and its files); the offices' app is not
// touched. The cache is named after the build (FIELD_VERSION, a hash of the
// app's files, set by build.mjs), so a new release replaces it whole: the
// browser checks this file on each visit online (tanfang-web serves it with
// Cache-Control: no-cache) and installs the new one.
/* global FIELD_VERSION */
const CACHE = `tanfang-field-${FIELD_VERSION}`;
const FILES = ['/field.html', '/field.js', '/field.css', '/field.webmanifest', '/field-icon.svg', '/field-icon-192.png', '/field-icon-512.png'];

self.addEventListener('install', (ev) => {
  ev.waitUntil(
    caches
      .open(CACHE)
      .then((c) => c.addAll(FILES.map((f) => new Request(f, { cache: 'no-cache' }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (ev) => {
  ev.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith('tanfang-field-') && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

// The app's own files from the cache (offline first); the envelope endpoint
// and anything else straight to the network, never cached.
self.addEventListener('fetch', (ev) => {
  const req = ev.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith('/v1/')) return;
  const path = req.mode === 'navigate' && url.pathname === '/field' ? '/field.html' : url.pathname;
  if (!FILES.includes(path)) return;
  ev.respondWith(
    caches.open(CACHE).then(async (c) => {
      const hit = await c.match(path);
      if (hit) return hit;
      const res = await fetch(req);
      if (res.ok) c.put(path, res.clone());
      return res;
    }),
  );
});
