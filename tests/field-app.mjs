// Browser test of the field app (issue 10, item 6): field.html in Debian's
// headless Chromium at a phone's 360×740, driven by playwright-core, against
// the real daemon and the real gateway on loopback, with a persistent
// browser profile (IndexedDB and the service worker survive a restart).
//  1. a phone not enrolled says so; enrolled by the administrator's page
//     scanning its QR code, it downloads the
//     grid worker's elders and due list (equal to the daemon's);
//  2. three visits recorded offline; the page reloaded offline: the app
//     and the outbox are still there;
//  3. online again: the outbox empties, the daemon holds each visit once,
//     with what was entered (findings, needs, location: far_from_home);
//  4. twelve more offline; the browser closed in the middle of a sync
//     (four acknowledged, four stored but their replies never delivered,
//     four never sent); started again: no loss, no duplicate;
//  5. a visit refused by the daemon (the elder moved away meanwhile) is
//     shown with the reason in Chinese, corrected (the right elder) and
//     delivered as a new record;
//  6. a visit dated tomorrow is refused on the phone, nothing kept;
//  7. a care event; a revoked phone says so plainly;
//  8. the browser started again with no network at all: the app opens.
// Screenshots go to $TANFANG_SCREENSHOTS when set.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { src, TANFANGD, BIN, WEB, APP, CHROMIUM, SHOTS, check, passed, cleanup, run, start, setUp } from './web-harness.mjs';

const { chromium, tmp } = setUp('field-app', 'field.js', 'the field app');
const data = join(tmp, 'data');
const profile = join(tmp, 'profile');

const port = 20000 + Math.floor(Math.random() * 20000);
const endpoint = `tcp://127.0.0.1:${port}`;
const curvePub = join(data, 'curve.pub');
const admin = (...a) => run(join(BIN, 'tanfang-admin'), ['--endpoint', endpoint, '--data', data, ...a]);
// tanfang-super's JSON rows (a list, or an object holding them as items).
const superJson = (...a) => {
  const j = JSON.parse(run(join(BIN, 'tanfang-super'), ['--endpoint', endpoint, '--data', data, '--format', 'json', ...a]));
  return Array.isArray(j) ? j : j.items;
};
// The visits the daemon holds for an elder, by record id.
// (The history also lists the registry entry's changes: type "registry ...".)
const visitsOf = (elder) => superJson('history', elder, '--limit', '1000').filter((it) => !/^(事件|registry )/.test(String(it.type)));

const ELDERS = [
  ['E1', '张桂兰', '152223100201', ['--lat', '46.7300', '--lon', '122.9000', '--address', '一村三组12号']],
  ['E2', '李淑芬', '152223100201', ['--address', '一村一组3号']],
  ['E3', '王秀英', '152223100201', ['--address', '一村二组7号']],
  ['E4', '赵玉珍', '152223100201', ['--address', '一村四组1号']],
  ['E5', '刘凤英', '152223100202', []],
];

const launchArgs = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
function phone(extra = {}) {
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: launchArgs,
    viewport: { width: 360, height: 740 },
    deviceScaleFactor: 1,
    isMobile: true,
    hasTouch: true,
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    // About 5.5 km from E1's home: the daemon flags the door visit.
    geolocation: { latitude: 46.78, longitude: 122.9, accuracy: 12 },
    permissions: ['geolocation'],
    ...extra,
  });
}

async function main() {
  run(TANFANGD, ['init', '--data', data]);
  await start(TANFANGD, ['run', '--data', data, '--listen', endpoint], /listening on/);
  admin('area', 'add', '152223100', '音德尔镇');
  admin('area', 'add', '152223100201', '一村', '--parent', '152223100');
  admin('area', 'add', '152223100202', '二村', '--parent', '152223100');
  admin('visitor', 'add', 'g1', '王网格', '--role', 'grid_worker', '--area', '152223100201');
  // On the register for a month and a half: the monthly visits are due.
  const day = (ms) => new Date(ms).toLocaleDateString('sv-SE', { timeZone: 'Asia/Shanghai' });
  for (const [id, name, area, extra] of ELDERS)
    admin('--effective', day(Date.now() - 45 * 86400000), 'elder', 'add', id, name, '--area', area, '--categories', 'living_alone', ...extra);

  const webKey = join(tmp, 'web.key');
  const webPk = run(WEB, ['keygen', '--key', webKey]).trim();
  admin('visitor', 'add', 'web', '网关', '--role', 'gateway', '--area', '152223100');
  admin('key', 'enrol', webPk, '--visitor', 'web');
  writeFileSync(join(tmp, 'none.conf'), '[web]\n');
  const web = await start(WEB, ['run', '--listen', '127.0.0.1:0', '--root', APP, '--endpoint', endpoint, '--server-key-file', curvePub, '--key', webKey, '--config', join(tmp, 'none.conf')], /\(port (\d+)\)/);
  const base = `http://127.0.0.1:${web.match[1]}`;

  let context = await phone();
  const errors = [];
  const watch = (page) => {
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('dialog', (d) => d.accept());
  };
  let page = context.pages()[0] || (await context.newPage());
  watch(page);
  const shot = async (name) => {
    if (!SHOTS) return;
    await page.evaluate(() => (document.getElementById('toast').textContent = ''));
    await page.screenshot({ path: join(SHOTS, `${name}.png`) });
  };
  const syncs = () => page.evaluate(() => Number(document.body.dataset.syncs || 0));
  // Waits for a sync that starts after `before` to end.
  const synced = async (before) => page.waitForFunction((n) => Number(document.body.dataset.syncs || 0) > n && document.body.dataset.sync === 'idle', before, { timeout: 30000 });
  const count = async (id) => Number((await page.textContent(`#${id}`)) || 0);
  const ready = (p) => page.waitForFunction((x) => document.body.dataset.ready === x, p, { timeout: 15000 });
  const go = async (hash, p) => {
    await page.evaluate((h) => {
      document.body.dataset.ready = '';
      if (location.hash === h) window.dispatchEvent(new HashChangeEvent('hashchange'));
      else location.hash = h;
    }, hash);
    await ready(p);
  };
  const outboxSize = () => page.evaluate(() => new Promise((res, rej) => {
    const r = indexedDB.open('tanfang-field');
    r.onsuccess = () => {
      const q = r.result.transaction('outbox').objectStore('outbox').count();
      q.onsuccess = () => { res(q.result); r.result.close(); };
      q.onerror = rej;
    };
    r.onerror = rej;
  }));

  // Opens the visit form of an elder found by name (from the home page),
  // with the kind chosen.
  async function openVisitForm(name, kind = '上门走访') {
    await page.fill('#search', name);
    await page.click(`#elder-list li:has-text("${name}") a`);
    await ready('elder');
    await page.click('#record-visit');
    await ready('visit');
    await page.click(`#kinds label:has-text("${kind}")`);
  }

  // Records a visit through the form: search the elder by name, open it,
  // fill the form, save. Returns the record id the app saved.
  async function recordVisit(name, { kind = '上门走访', findings = {}, needs = [], note = '', duration = '', location = false, followUp = false, screenshot = '' } = {}) {
    await go('#/', 'home');
    await openVisitForm(name, kind);
    for (const [k, [f, n]] of Object.entries(findings)) {
      await page.click(`#finding-${k} label:has-text("${f}")`);
      if (n) await page.fill(`#finding-${k} input[type=text]`, n);
    }
    for (const a of needs) await page.click(`#needs label:has-text("${a}")`);
    if (followUp) await page.click('label:has(#follow-up)');
    if (duration) await page.fill('#duration', String(duration));
    if (note) await page.fill('#note', note);
    if (location) {
      await page.click('#get-location');
      await page.waitForFunction(() => /±/.test(document.getElementById('location-text').textContent), null, { timeout: 15000 });
    }
    if (screenshot) {
      await page.evaluate(() => window.scrollTo(0, 0));
      await shot(screenshot);
      await page.locator('#needs').scrollIntoViewIfNeeded();
      await shot(`${screenshot}-more`);
    }
    const before = await page.evaluate(() => document.body.dataset.lastSaved || '');
    await page.click('#save');
    await page.waitForFunction((b) => (document.body.dataset.lastSaved || '') !== b, before, { timeout: 15000 });
    return page.evaluate(() => document.body.dataset.lastSaved);
  }

  try {
    // ---- 1. not enrolled, then enrolled: the worker's elders come down ----
    let n0 = 0;
    await page.goto(`${base}/field.html`);
    await synced(n0);
    await page.waitForSelector('#not-enrolled-bar');
    check(true, 'a phone not enrolled says so after its first sync');
    await go('#/key', 'key');
    const keyHex = (await page.textContent('#public-key')).trim();
    check(/^[0-9a-f]{64}$/.test(keyHex), `the phone made its Ed25519 key: ${keyHex.slice(0, 16)}…`);
    check(await page.isVisible('#key-qr'), 'the key is shown as a QR code for the administrator to scan');
    check(await page.isVisible('#not-enrolled'), 'the key page says plainly that the phone is not enrolled');
    await shot('field-key');
    // The administrator enrols it on the offices' page by scanning a photo
    // of that QR code (the office's browser has an admin key of its own).
    const office = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: launchArgs });
    try {
      const adminPage = await (await office.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
      await adminPage.goto(`${base}/#/key`);
      const officeHex = (await (await adminPage.waitForSelector('#public-key')).textContent()).trim();
      admin('visitor', 'add', 'a1', '镇管理员', '--role', 'admin', '--area', '152223100');
      admin('key', 'enrol', officeHex, '--visitor', 'a1');
      const qrPath = join(tmp, 'phone-qr.png');
      writeFileSync(qrPath, Buffer.from((await page.getAttribute('#key-qr', 'src')).split(',')[1], 'base64'));
      await adminPage.goto(`${base}/#/keys`);
      await adminPage.waitForSelector('body[data-ready="keys"] #enrol-form');
      await adminPage.setInputFiles('#scan-file', qrPath);
      await adminPage.waitForFunction(() => document.querySelector('#enrol-form input[name=key]').value.length === 64);
      check((await adminPage.inputValue('#enrol-form input[name=key]')) === keyHex, 'the administrator\'s page reads the phone\'s key from a photo of its QR code');
      await adminPage.fill('#enrol-form input[name=visitor]', 'g1');
      await adminPage.click('#enrol-form button[type=submit]');
      await adminPage.waitForSelector(`#key-list tr[data-key="${keyHex}"]`);
      check(true, 'and enrols it for the grid worker');
    } finally {
      await office.close();
    }
    n0 = await syncs();
    await page.click('#sync');
    await synced(n0);
    await go('#/', 'home');
    check((await count('elder-count')) === 4, 'enrolled: the four elders of the worker\'s village are on the phone, not the other village\'s');
    check(!(await page.$('#not-enrolled-bar')), 'the not-enrolled warning is gone');
    await page.fill('#search', '桂兰');
    check((await page.$$eval('#elder-list li', (l) => l.map((x) => x.dataset.elder))).join() === 'E1', 'search by name finds 张桂兰');
    // The due list is the daemon's for this worker: the village's duties
    // within a week, less the "1+2 not set up" ones (not a visit).
    const meta = await page.evaluate(() => new Promise((res) => {
      const r = indexedDB.open('tanfang-field');
      r.onsuccess = () => {
        const q = r.result.transaction('meta').objectStore('meta').get('sync');
        q.onsuccess = () => res(q.result);
      };
    }));
    const daemonDue = superJson('overdue', '--area', '152223100201', '--within', '7', '--per-page', '1000')
      .map((it) => `${it.elder_id}/${it.rule}`).sort();
    const appDue = meta.due.map((it) => `${it.elder_id}/${it.rule}`).sort();
    check(JSON.stringify(appDue) === JSON.stringify(daemonDue), `the due list from the last sync equals the daemon's (${appDue.length} duties)`);
    check(meta.visitor.id === 'g1' && meta.at > 0, 'the phone knows whom it is enrolled for and when it last synced');
    await page.waitForFunction(() => navigator.serviceWorker && navigator.serviceWorker.controller, null, { timeout: 15000 });
    check(true, 'the service worker controls the page (the app is cached for offline use)');
    const cdp = await context.newCDPSession(page);
    const manifest = await cdp.send('Page.getAppManifest');
    check(manifest.errors.length === 0 && /"start_url": "\/field.html"/.test(manifest.data), 'the manifest is served and read without errors');
    const inst = (await cdp.send('Page.getInstallabilityErrors')).installabilityErrors;
    check(inst.length === 0, `Chromium finds the app installable${inst.length ? `: ${JSON.stringify(inst)}` : ''}`);
    await cdp.detach();
    await page.fill('#search', '');
    await shot('field-home');

    // ---- 2. three visits offline; reload offline ----
    await context.setOffline(true);
    await page.waitForFunction(() => !navigator.onLine);
    const first = [];
    first.push(await recordVisit('张桂兰', {
      findings: { living: ['正常'], safety: ['紧急', '煤气灶漏气'], family: ['关注', '子女在外地'], care: ['正常'] },
      needs: ['助餐', '助急'], note: '独居，冬季取暖需检查', duration: 35, location: true, followUp: true, screenshot: 'field-visit',
    }));
    await go('#/', 'home');
    first.push(await recordVisit('李淑芬', { kind: '电话探访', note: '电话回访' }));
    first.push(await recordVisit('王秀英', { note: '身体好' }));
    check(new Set(first).size === 3 && (await count('pending-count')) === 3, 'three visits recorded offline, three waiting in the outbox');
    check(await page.isVisible('#net.off'), 'the app shows that it is offline');
    await page.reload();
    await ready('elder');
    check((await count('pending-count')) === 3, 'reloaded offline: the app opens (service worker) and the outbox still holds three');
    await go('#/', 'home');
    check((await count('elder-count')) === 4, 'reloaded offline: the elders are still on the phone');
    await go('#/outbox', 'outbox');
    check((await page.$$('#pending-list .card')).length === 3, 'the outbox lists the three visits');
    await shot('field-outbox');


    // ---- 3. online: delivered, each once ----
    n0 = await syncs();
    await context.setOffline(false);
    await synced(n0);
    await page.waitForFunction(() => document.getElementById('pending-count')?.textContent === '0', null, { timeout: 30000 });
    check(true, 'back online: the outbox was sent by itself and is empty');
    const ids = (e) => visitsOf(e).map((v) => v.record_id);
    check(JSON.stringify(ids('E1')) === JSON.stringify([first[0]]), 'the daemon holds 张桂兰\'s visit once, under the id the phone gave it');
    check(JSON.stringify(ids('E2')) === JSON.stringify([first[1]]) && JSON.stringify(ids('E3')) === JSON.stringify([first[2]]), 'and the other two, once each');
    const v1 = visitsOf('E1')[0];
    check(/urgent/.test(v1.findings) && /煤气灶漏气/.test(v1.findings) && v1.needs === 'meals,emergency' && v1.note === '独居，冬季取暖需检查', `the visit holds what was entered: ${v1.findings}; ${v1.needs}`);
    check(/far_from_home/.test(v1.flags), 'the phone\'s location went with it (the daemon flags a door visit 5 km from home)');

    // ---- 4. the browser closed in the middle of a sync ----
    await context.setOffline(true);
    await page.waitForFunction(() => !navigator.onLine);
    const names = ['张桂兰', '李淑芬', '王秀英', '赵玉珍'];
    const second = [];
    for (let i = 0; i < 12; i++) second.push(await recordVisit(names[i % 4], { kind: '电话探访', note: `第${i + 1}次` }));
    check((await count('pending-count')) === 12, 'twelve more visits recorded offline');
    await context.close();
    // Started again online, its envelopes held on the way: four pass, four
    // reach the daemon but their replies are never delivered, the rest wait.
    context = await phone({ serviceWorkers: 'block' });
    page = context.pages()[0] || (await context.newPage());
    watch(page);
    let seen = 0;
    let reached = 0;
    const held = [];
    await context.route('**/v1/envelope', async (route) => {
      const k = ++seen;
      if (k <= 4) return route.continue();
      if (k <= 8) {
        await route.fetch(); // the daemon stores it; the phone never hears
        reached++;
      }
      held.push(route);
    });
    await page.goto(`${base}/field.html`);
    await page.waitForFunction(() => document.getElementById('pending-count')?.textContent === '8', null, { timeout: 30000 });
    for (let i = 0; i < 100 && reached < 4; i++) await new Promise((r) => setTimeout(r, 100));
    check(reached === 4, 'mid-sync: four acknowledged, four more stored by the daemon without a reply reaching the phone');
    const stored = () => ['E1', 'E2', 'E3', 'E4'].flatMap(ids).filter((id) => second.includes(id));
    check(stored().length === 8, 'the daemon holds eight of the twelve');
    await context.close(); // the browser closes mid-sync
    context = await phone();
    page = context.pages()[0] || (await context.newPage());
    watch(page);
    await page.goto(`${base}/field.html`);
    await page.waitForFunction(() => document.getElementById('pending-count')?.textContent === '0' && document.body.dataset.sync === 'idle', null, { timeout: 30000 });
    const after = stored();
    check(after.length === 12 && new Set(after).size === 12, 'started again: every one of the twelve is stored, each exactly once');
    check(['E1', 'E2', 'E3', 'E4'].flatMap(ids).length === 15, 'fifteen visits in the daemon in all: nothing lost, nothing twice');
    await go('#/outbox', 'outbox');
    const dupes = await page.$$eval('#sent-list li', (l) => l.filter((x) => /重复/.test(x.textContent)).length);
    // At least those four: the browser may itself resend a POST whose
    // connection dropped, and the daemon answers that one DUPLICATE too.
    check(dupes >= 4, `the four whose replies were lost came back as duplicates (${dupes} in all)`);

    // ---- 5. refused by the daemon, shown, corrected ----
    await context.setOffline(true);
    await page.waitForFunction(() => !navigator.onLine);
    const wrong = await recordVisit('王秀英', { note: '记错了人' });
    // The office records that 王秀英 moved to the other village yesterday:
    // the phone could not know, the daemon refuses the visit.
    admin('--effective', day(Date.now() - 86400000), 'elder', 'add', 'E3', '王秀英', '--area', '152223100202', '--categories', 'living_alone');
    n0 = await syncs();
    await context.setOffline(false);
    await synced(n0);
    await page.waitForFunction(() => document.getElementById('refused-count')?.textContent === '1', null, { timeout: 30000 });
    check(true, 'the daemon refused the visit: the bar shows one refused record');
    await go('#/outbox', 'outbox');
    const card = page.locator(`#refused-list .card[data-id="${wrong}"]`);
    check((await card.getAttribute('data-status')) === 'STATUS_FORBIDDEN', 'kept with the daemon\'s status, STATUS_FORBIDDEN');
    const why = await card.locator('.reason').textContent();
    check(/不在您的负责范围/.test(why) && /更正/.test(why), `with the reason in Chinese and what to do: ${why}`);
    await shot('field-refused');
    await card.locator('button.fix').click();
    await ready('visit');
    check(await page.isVisible('#correcting'), 'the form opens on the refused record, saying so');
    check((await page.inputValue('#note')) === '记错了人', 'with its values');
    await page.click('#change-elder');
    await page.fill('#pick-search', '李淑芬');
    await page.click('#pick-list li:has-text("李淑芬") button');
    check((await page.textContent('#chosen-elder')) === '李淑芬', 'the right elder chosen');
    n0 = await syncs();
    await page.click('#save');
    await synced(n0);
    await page.waitForFunction(() => document.getElementById('pending-count')?.textContent === '0' && document.getElementById('refused-count')?.textContent === '0', null, { timeout: 30000 });
    check(visitsOf('E2').filter((v) => v.note === '记错了人').length === 1, 'corrected: delivered for 李淑芬 as a new record, once');
    check(!ids('E3').includes(wrong) && visitsOf('E3').every((v) => v.note !== '记错了人'), 'and nothing for 王秀英');
    await go('#/', 'home');
    check((await count('elder-count')) === 3, 'the next download no longer lists 王秀英, who moved to the other village');

    // ---- 6. dated tomorrow: refused on the phone ----
    const kept = await outboxSize();
    await openVisitForm('张桂兰');
    const tomorrow = await page.evaluate(() => {
      const d = new Date(Date.now() + 86400000);
      const p = (n) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T10:00`;
    });
    await page.fill('#at', tomorrow);
    await page.fill('#note', '明天的');
    await page.click('#save');
    await page.waitForFunction(() => document.getElementById('form-error')?.textContent !== '');
    const err = await page.textContent('#form-error');
    check(/日期在未来/.test(err), `a visit dated tomorrow is refused on the phone: ${err}`);
    check((await outboxSize()) === kept && (await count('pending-count')) === 0, 'and nothing was kept');
    await page.evaluate(() => document.getElementById('at').scrollIntoView({ block: 'center' }));
    await shot('field-future');

    // ---- 7. a care event; a revoked phone ----
    await go(`#/event?elder=E1`, 'event');
    await page.click('#types label:has-text("跌倒")');
    await page.click('#severities label:has-text("紧急")');
    await page.fill('#note', '院中摔倒，已送医');
    n0 = await syncs();
    await page.click('#save');
    await synced(n0);
    const events = superJson('history', 'E1').filter((it) => String(it.type).startsWith('事件'));
    check(events.length === 1 && /fall/.test(events[0].type) && /urgent/.test(events[0].findings) && events[0].note === '院中摔倒，已送医', `a care event, with severity: ${events[0]?.type} ${events[0]?.findings}`);
    admin('key', 'revoke', keyHex);
    n0 = await syncs();
    await page.click('#sync');
    await synced(n0);
    await page.waitForSelector('#not-enrolled-bar');
    await go('#/key', 'key');
    check(await page.isVisible('#not-enrolled'), 'a revoked phone says so plainly');

    // ---- 8. the phone restarted with no network at all ----
    await context.close();
    context = await phone({ offline: true });
    page = context.pages()[0] || (await context.newPage());
    watch(page);
    await page.goto(`${base}/field.html`);
    await ready('home');
    check(await page.isVisible('#net.off'), 'the browser started again offline: the app opens from its service worker');
    check((await count('elder-count')) === 3, 'with the worker\'s elders of the last download');
    // A form half filled survives a reload (a phone drops a tab in the
    // background); saved, it is forgotten.
    await go('#/', 'home');
    await openVisitForm('张桂兰');
    await page.click('#finding-safety label:has-text("关注")');
    await page.fill('#finding-safety input[type=text]', '煤炉烟道需清理');
    await page.fill('#duration', '25');
    await page.fill('#note', '腿脚不便');
    await page.reload();
    await ready('visit');
    check((await page.inputValue('#note')) === '腿脚不便' && (await page.inputValue('#duration')) === '25' &&
      (await page.inputValue('#finding-safety input[type=text]')) === '煤炉烟道需清理' &&
      (await page.isChecked('#finding-safety input[value="concern"], #finding-safety label:has-text("关注") input')),
      'a half-filled visit comes back after a reload');
    const beforeDraft = await page.evaluate(() => document.body.dataset.lastSaved || '');
    await page.click('#save');
    await page.waitForFunction((b) => (document.body.dataset.lastSaved || '') !== b, beforeDraft, { timeout: 15000 });
    await ready('elder');
    await page.click('#record-visit');
    await ready('visit');
    check((await page.inputValue('#note')) === '' && (await page.inputValue('#duration')) === '', 'once saved, the next form starts empty');
    await go('#/', 'home');

    check(errors.length === 0, `no errors in the page${errors.length ? `: ${errors.join('; ')}` : ''}`);
  } catch (e) {
    if (errors.length) console.error(`errors in the page: ${errors.join('; ')}`);
    throw e;
  } finally {
    await context.close().catch(() => {});
  }
  console.log(`${passed} checks passed`);
}

main().then(
  () => {
    cleanup(tmp);
    process.exit(0);
  },
  (e) => {
    console.error(e);
    cleanup(tmp);
    process.exit(1);
  },
);
