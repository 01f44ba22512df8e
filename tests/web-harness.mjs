// What the browser tests share (web-app.mjs, field-app.mjs; the benches in
// bench/*.mjs use run and start): the programs
// and the app from the environment scripts/test.sh sets, playwright-core
// from the app's own pinned packages (scripts/webapp.sh), a temporary
// folder, and starting programs that say when they are up.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const src = process.env.TANFANG_SRC || join(dirname(fileURLToPath(import.meta.url)), '..');
export const TANFANGD = process.env.TANFANGD;
export const BIN = process.env.TANFANG_BIN;
export const WEB = process.env.TANFANG_WEB;
export const APP = join(src, 'web', 'app', 'dist');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SHOTS = process.env.TANFANG_SCREENSHOTS;

// Skips (exit 77) where scripts/test.sh could not build the app; stops
// (exit 1) if a program or the bundle `appFile` (under dist) is missing.
// Returns playwright-core's chromium and a temporary folder.
export function setUp(name, appFile, appWhat) {
  if (process.env.TANFANG_NO_WEBAPP === '1') {
    console.log('SKIP: the web app was not built (scripts/test.sh said why)');
    process.exit(77);
  }
  const require = createRequire(join(src, 'web', 'app', 'package.json'));
  const { chromium } = require('playwright-core');
  for (const [what, path] of [['TANFANGD', TANFANGD], ['TANFANG_WEB', WEB], [`${appWhat} (scripts/webapp.sh)`, join(APP, appFile)], ['chromium', CHROMIUM]])
    if (!path || !existsSync(path)) {
      console.error(`${name}: ${what} not found (${path}); run the tests through scripts/test.sh`);
      process.exit(1);
    }
  return { chromium, tmp: mkdtempSync(join(tmpdir(), `tanfang-${name.replace('-', '')}-`)) };
}

export let passed = 0;
export function check(ok, what) {
  if (!ok) throw new Error(`FAIL: ${what}`);
  passed++;
  console.log(`ok: ${what}`);
}

const children = [];
// Kills what start() started; removes tmp unless TFT_KEEP is set.
export function cleanup(tmp) {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (!process.env.TFT_KEEP) rmSync(tmp, { recursive: true, force: true });
}

export function run(bin, args) {
  return execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 });
}

// Starts a program and waits (at most 20 s) for a line of its log to match re.
export function start(bin, args, re) {
  return new Promise((resolve, reject) => {
    const c = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(c);
    let log = '';
    const timer = setTimeout(() => reject(new Error(`${bin} did not start:\n${log}`)), 20000);
    const on = (b) => {
      log += b;
      const m = log.match(re);
      if (m) {
        clearTimeout(timer);
        resolve({ child: c, match: m });
      }
    };
    c.stdout.on('data', on);
    c.stderr.on('data', on);
    c.on('exit', (code) => reject(new Error(`${bin} exited ${code}:\n${log}`)));
  });
}

// SIGTERM, and wait for the exit.
export async function stop(c) {
  if (c.exitCode !== null) return;
  const done = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  await done;
}
