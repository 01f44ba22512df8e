// bench-web-paint: how long the overview takes to show its figures on the
// demo store (issue 9: "the overview's first paint under 1 s"). A figure, not
// a test. Run the demo first (bash scripts/demo.sh), stop its daemon and
// gateway (the demo prints how), then:
//   node bench/bench-web-paint.mjs [--runs 7]
// It starts tanfangd and tanfang-web on demo/data, enrols a fresh browser key
// for the banner's supervisor (S152223), and times, from navigation:
// the first chart drawn (first paint of figures) and the whole page ready
// (the 12-month trend included: 14 signed reports).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, start } from '../tests/web-harness.mjs';

const src = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(src, 'web', 'app', 'package.json'));
const { chromium } = require('playwright-core');
const build = process.env.BUILD || join(src, 'build');
const data = join(src, 'demo', 'data');
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 7;
if (!existsSync(join(data, 'data.mdb'))) {
  console.error('bench-web-paint: no demo store in demo/data: run bash scripts/demo.sh first');
  process.exit(2);
}

const children = [];
// Starts a program (tests/web-harness.mjs's start) and keeps it to stop at
// the end; returns the match of re in its log.
async function up(bin, args, re) {
  const { child, match } = await start(bin, args, re);
  children.push(child);
  return match;
}

const port = 30000 + Math.floor(Math.random() * 20000);
const ep = `tcp://127.0.0.1:${port}`;
try {
  await up(join(build, 'daemon', 'tanfangd'), ['run', '--data', data, '--listen', ep], /listening on/);
  const m = await up(join(build, 'web', 'tanfang-web'), ['run', '--listen', '127.0.0.1:0', '--root', join(src, 'web', 'app', 'dist'),
    '--endpoint', ep, '--server-key-file', join(data, 'curve.pub'), '--key', join(src, 'demo', 'tanfang-web.key'),
    '--config', '/dev/null'], /\(port (\d+)\)/);
  const base = `http://127.0.0.1:${m[1]}`;
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${base}/#/key`);
  const hex = (await (await page.waitForSelector('#public-key')).textContent()).trim();
  run(join(build, 'clients', 'tanfang-admin'), ['--data', data, '--endpoint', ep, 'key', 'enrol', hex, '--visitor', 'S152223']);
  const first = [], whole = [];
  for (let i = 0; i < runs; i++) {
    const t0 = Date.now();
    await page.goto(`${base}/?run=${i}#/overview`);
    await page.waitForSelector('#rate-chart svg path', { timeout: 60000, state: 'attached' });
    first.push(Date.now() - t0);
    await page.waitForSelector('body[data-ready="overview"] #trend-chart svg path', { timeout: 60000, state: 'attached' });
    whole.push(Date.now() - t0);
  }
  await browser.close();
  const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  console.log(`overview on the demo store (4,890 elders), ${runs} loads:`);
  console.log(`  first chart drawn: median ${med(first)} ms (min ${Math.min(...first)}, max ${Math.max(...first)})   target < 1000 ms`);
  console.log(`  whole page, with the 12-month trend: median ${med(whole)} ms (min ${Math.min(...whole)}, max ${Math.max(...whole)})`);
} finally {
  for (const c of children) c.kill('SIGTERM');
}
