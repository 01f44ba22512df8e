// Builds the web app into dist/: one bundle (esbuild) with the wire contract
// (generated from proto/tanfang.proto), the page and the style sheet. Nothing is
// fetched from elsewhere at run time: tanfang-web serves every file.
//   node build.mjs            (npm ci first)
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
// Static code from the .proto (pbjs): reflection would compile codecs with
// new Function, which the gateway's CSP (no 'unsafe-eval') forbids.
mkdirSync(join(here, 'src', 'gen'), { recursive: true });
execFileSync(process.execPath, [
  join(here, 'node_modules', 'protobufjs-cli', 'bin', 'pbjs'),
  '-t', 'static-module', '-w', 'es6', '--keep-case', '--no-comments',
  '-o', join(here, 'src', 'gen', 'tanfang.js'),
  join(here, '..', '..', 'proto', 'tanfang.proto'),
], { stdio: 'inherit' });
await build({
  entryPoints: [join(here, 'src', 'main.js')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome110', 'firefox115', 'safari16'],
  outfile: join(dist, 'app.js'),
  legalComments: 'linked',
  logLevel: 'warning',
});
for (const f of ['index.html', 'app.css', 'favicon.svg']) copyFileSync(join(here, 'static', f), join(dist, f));
await buildField();
console.log(`built ${dist}`);

// The field app (issue 10; docs/field-app.md): its page, bundle, manifest
// and icons, and the service worker that keeps them offline. The worker's
// cache is named after a hash of those files, so each release replaces it.
async function buildField() {
  await build({
    entryPoints: [join(here, 'src', 'field.js')],
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['chrome110', 'firefox115', 'safari16'],
    outfile: join(dist, 'field.js'),
    legalComments: 'linked',
    logLevel: 'warning',
  });
  const files = ['field.html', 'field.css', 'field.webmanifest', 'field-icon.svg', 'field-icon-192.png', 'field-icon-512.png'];
  for (const f of files) copyFileSync(join(here, 'static', f), join(dist, f));
  const hash = createHash('sha256');
  for (const f of ['field.js', ...files]) hash.update(readFileSync(join(dist, f)));
  await build({
    entryPoints: [join(here, 'src', 'field-sw.js')],
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['chrome110', 'firefox115', 'safari16'],
    outfile: join(dist, 'field-sw.js'),
    define: { FIELD_VERSION: JSON.stringify(hash.digest('hex').slice(0, 16)) },
    logLevel: 'warning',
  });
}
