// Browser test (issue 9, items 2, 3 and 6): the web app in a real headless
// Chromium (Debian's), driven by playwright-core, against the real daemon
// and the real gateway on loopback. A key made in the browser, shown with its
// QR code and enrolled; the overview's report and chart; the overdue list
// equal to `tanfang-super --format json overdue`; the export; a stopped
// daemon's clear page. Screenshots go to $TANFANG_SCREENSHOTS when set.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { src, TANFANGD, BIN, WEB, APP, CHROMIUM, SHOTS, check, passed, cleanup, run, start, stop, setUp } from './web-harness.mjs';

const { chromium, tmp } = setUp('web-app', 'app.js', 'the app');
const data = join(tmp, 'data');

const port = 20000 + Math.floor(Math.random() * 20000);
const endpoint = `tcp://127.0.0.1:${port}`;
const curvePub = join(data, 'curve.pub');
const adminArgs = ['--endpoint', endpoint, '--data', data];
const admin = (...a) => run(join(BIN, 'tanfang-admin'), [...adminArgs, ...a]);

async function main() {
  run(TANFANGD, ['init', '--data', data]);
  let daemon = (await start(TANFANGD, ['run', '--data', data, '--listen', endpoint], /listening on/)).child;

  // A township with two villages, elders, and visits by the field client.
  admin('area', 'add', '152223100', '音德尔镇');
  admin('area', 'add', '152223100201', '一村', '--parent', '152223100');
  admin('area', 'add', '152223100202', '二村', '--parent', '152223100');
  admin('visitor', 'add', 's1', '镇督导', '--role', 'supervisor', '--area', '152223100');
  admin('visitor', 'add', 'g1', '网格员', '--role', 'grid_worker', '--area', '152223100');
  for (let i = 1; i <= 6; i++)
    admin('elder', 'add', `E${i}`, `老人${i}`, '--area', i <= 3 ? '152223100201' : '152223100202', '--categories', 'living_alone', '--visitors', 'g1',
      ...(i <= 4 ? ['--lat', String(46.7 + i / 100), '--lon', String(122.9 + i / 100)] : []));
  const field = join(tmp, 'field');
  const fieldBin = join(BIN, 'tanfang-field');
  const gpk = run(fieldBin, ['--dir', field, 'keygen']).trim().split('\n')[0];
  admin('key', 'enrol', gpk, '--visitor', 'g1');
  for (const e of ['E1', 'E2', 'E4'])
    run(fieldBin, ['--dir', field, 'visit', '--elder', e, '--kind', 'door']);
  run(fieldBin, ['--dir', field, 'sync', '--endpoint', endpoint, '--server-key-file', curvePub]);

  // The gateway, with a key of its own enrolled for a gateway visitor.
  const webKey = join(tmp, 'web.key');
  const webPk = run(WEB, ['keygen', '--key', webKey]).trim();
  admin('visitor', 'add', 'web', '网关', '--role', 'gateway', '--area', '152223100');
  admin('key', 'enrol', webPk, '--visitor', 'web');
  const webArgs = ['run', '--listen', '127.0.0.1:0', '--root', APP, '--endpoint', endpoint,
    '--server-key-file', curvePub, '--key', webKey, '--config', join(tmp, 'none.conf')];
  writeFileSync(join(tmp, 'none.conf'), '[web]\n');
  const web = await start(WEB, webArgs, /\(port (\d+)\)/);
  const base = `http://127.0.0.1:${web.match[1]}`;

  // No background networking: the test's machine may have no way out, and
  // Chromium's own connections (updates, sync) would only be refused.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

    // 1. Not enrolled: the app says so and shows the browser's own key.
    await page.goto(`${base}/#/overview`);
    await page.waitForSelector('#not-enrolled', { timeout: 15000 });
    const keyHex = (await page.textContent('#public-key')).trim();
    check(/^[0-9a-f]{64}$/.test(keyHex), `the browser made an Ed25519 key and shows it: ${keyHex}`);
    check(await page.isVisible('#key-qr'), 'its QR code is shown for the administrator to scan');
    // The key survives a reload (IndexedDB), and the private half cannot be exported.
    await page.reload();
    await page.waitForSelector('#public-key');
    check((await page.textContent('#public-key')).trim() === keyHex, 'the same key after a reload');
    const extractable = await page.evaluate(async () => {
      const db = await new Promise((res, rej) => { const r = indexedDB.open('tanfang'); r.onsuccess = () => res(r.result); r.onerror = rej; });
      const kp = await new Promise((res) => { const g = db.transaction('keys').objectStore('keys').get('device'); g.onsuccess = () => res(g.result); });
      return kp.privateKey.extractable;
    });
    check(extractable === false, 'the private key is not extractable');
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'web-not-enrolled.png') });

    // 2. Enrolled for the township's supervisor: the overview.
    admin('key', 'enrol', keyHex, '--visitor', 's1');
    await page.reload();
    await page.waitForSelector('body[data-ready="overview"]', { timeout: 30000 });
    await page.waitForSelector('#trend-chart svg', { timeout: 30000 }).catch(async (e) => {
      throw new Error(`${e.message}\npage: ${await page.innerHTML('main')}\nerrors: ${errors.join('; ')}`);
    });
    const month = await page.getAttribute('table.report', 'data-month');
    const superArgs = ['--endpoint', endpoint, '--server-key-file', curvePub, '--key', join(tmp, 's1.key')];
    // tanfang-super with a key of its own for s1: the browser's key cannot be exported.
    const s1pk = run(join(BIN, 'tanfang-admin'), ['key', 'new', join(tmp, 's1.key')]).trim().split('\n')[0].match(/[0-9a-f]{64}/)[0];
    admin('key', 'enrol', s1pk, '--visitor', 's1');
    const report = JSON.parse(run(join(BIN, 'tanfang-super'), [...superArgs, '--format', 'json', 'report', '--month', month]));
    const rows = report.rows || report;
    const shown = await page.$$eval('table.report[data-month] tr[data-area]', (trs) => trs.map((tr) => [tr.dataset.area, tr.children[1].textContent, tr.children[2].textContent]));
    const wanted = rows.map((r) => [r.area, String(r.required), String(r.visited)]);
    check(JSON.stringify(shown.slice(0, wanted.length)) === JSON.stringify(wanted), `the report table equals tanfang-super's report of ${month}: ${JSON.stringify(wanted)}`);
    const bars = JSON.parse(await page.getAttribute('#rate-chart', 'data-bars'));
    const kids = rows.filter((r) => r.depth === 1).map((r) => [r.area, r.required ? +((100 * r.visited) / r.required).toFixed(1) : 0]);
    check(JSON.stringify(bars) === JSON.stringify(kids), `the chart's bars are the villages' visit rates: ${JSON.stringify(kids)}`);
    check((await page.$$('#rate-chart svg path')).length > 0, 'the chart is drawn');
    const ruleRows = await page.$$eval('#by-rule tr[data-rule]', (trs) => trs.map((tr) => [tr.children[0].textContent, Number(tr.children[1].textContent)]));
    const overdueTotal = Number(await page.textContent('#overdue-total'));
    check(ruleRows.reduce((n, [, k]) => n + k, 0) === overdueTotal && ruleRows.every(([r]) => !/_/.test(r)),
      `the rules' rows add up to the overdue total (${overdueTotal}), named in Chinese: ${JSON.stringify(ruleRows)}`);
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'web-overview.png'), fullPage: true });

    // 3. The overdue list equals tanfang-super's.
    await page.click('#nav-overdue');
    await page.waitForSelector('body[data-ready="overdue"] #overdue-table');
    const od = JSON.parse(run(join(BIN, 'tanfang-super'), [...superArgs, '--format', 'json', 'overdue']));
    const items = od.items || od;
    const listed = await page.$$eval('#overdue-table tr[data-elder]', (trs) => trs.map((tr) => tr.dataset.elder));
    check(listed.length === items.length && listed.every((e, i) => e === items[i].elder_id), `the overdue list equals tanfang-super's (${listed.join(' ')})`);
    // A filter: one village.
    await page.fill('input[name=area]', '152223100202');
    await page.click('form.filters button[type=submit]');
    await page.waitForFunction(() => location.hash.includes('area=152223100202') && document.body.dataset.ready === 'overdue');
    await page.waitForSelector('#overdue-table');
    const village = await page.$$eval('#overdue-table tr[data-elder]', (trs) => trs.map((tr) => tr.dataset.elder));
    const wantVillage = items.filter((it) => it.area === '152223100202').map((it) => it.elder_id);
    check(JSON.stringify(village) === JSON.stringify(wantVillage), `filtered to one village: ${village.join(' ')}`);
    // A village by its name, as people type it.
    await page.fill('input[name=area]', '二村');
    await page.click('form.filters button[type=submit]');
    await page.waitForFunction(() => location.hash.includes('area=152223100202') && document.body.dataset.ready === 'overdue');
    await page.waitForSelector('#overdue-table');
    const byName = await page.$$eval('#overdue-table tr[data-elder]', (trs) => trs.map((tr) => tr.dataset.elder));
    check(JSON.stringify(byName) === JSON.stringify(wantVillage), `a village chosen by its name: ${byName.join(' ')}`);
    // A wrong value is said under the form, which stays to be corrected.
    await page.fill('input[name=within]', 'abc');
    await page.click('form.filters button[type=submit]');
    await page.waitForSelector('#filter-problem:not(:empty)');
    check((await page.textContent('#filter-problem')).includes('0到366') && (await page.isVisible('form.filters')), 'a bad "due within" is said, the form kept');
    await page.fill('input[name=within]', '');
    await page.fill('input[name=area]', '不存在村');
    await page.click('form.filters button[type=submit]');
    await page.waitForSelector('#filter-problem:not(:empty)');
    check((await page.textContent('#filter-problem')).includes('没有这个区域') && (await page.isVisible('form.filters')), 'an unknown area is said in Chinese, the form kept');
    // Sorted by area: every row in area order.
    await page.fill('input[name=area]', '');
    await page.selectOption('select[name=sort]', 'area');
    await page.click('form.filters button[type=submit]');
    await page.waitForFunction(() => location.hash.includes('sort=area') && document.body.dataset.ready === 'overdue');
    await page.waitForSelector('#overdue-table');
    const areasShown = await page.$$eval('#overdue-table tr[data-elder]', (trs) => trs.map((tr) => tr.dataset.area));
    const namesShown = await page.$$eval('#overdue-table tr[data-elder] td:nth-child(2)', (tds) => tds.map((td) => td.textContent));
    check(namesShown.every((n) => n === '一村' || n === '二村'), `areas are shown by name: ${[...new Set(namesShown)].join(' ')}`);
    check(areasShown.length === items.length && areasShown.every((a, i) => i === 0 || areasShown[i - 1] <= a), `sorted by area: ${areasShown.join(' ')}`);
    await page.selectOption('select[name=sort]', '');
    // The export holds every row, as Excel reads it.
    await page.fill('input[name=area]', '');
    await page.click('form.filters button[type=submit]');
    await page.waitForSelector('#export-csv');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
    const csv = readFileSync(await download.path(), 'utf8');
    check(csv.startsWith('\ufeff编号,姓名,区域,区划代码,规则,'), 'the CSV starts with a BOM and its header, in the words of the Excel export');
    check(csv.includes(',二村,"\t152223100202",'), 'its rows name the village and keep its code as text');
    check(csv.trim().split('\r\n').length === items.length + 1, `the CSV has every row (${items.length})`);
    // And as Excel: a real .xlsx, every row, ids as text.
    const [xdl] = await Promise.all([page.waitForEvent('download'), page.click('#export-xlsx')]);
    const xlsx = await xdl.path();
    const rowsInSheet = run('python3', ['-c', `import zipfile,sys,re
z = zipfile.ZipFile(sys.argv[1])
sheet = z.read('xl/worksheets/sheet1.xml').decode()
strings = z.read('xl/sharedStrings.xml').decode() if 'xl/sharedStrings.xml' in z.namelist() else sheet
print(len(re.findall('<row', sheet)), 'E1' in strings)`, xlsx]).trim();
    check(rowsInSheet === `${items.length + 1} True`, `the Excel export has every row, ids as text (${rowsInSheet})`);
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'web-overdue.png'), fullPage: true });

    // The month's report: chosen, read as tanfang-super reads it, filed
    // from the page (after a confirmation), exported; a month to come has
    // none, said under the form.
    page.once('dialog', (d) => d.accept());
    await page.goto(`${base}/#/report?month=${month}`);
    await page.waitForSelector('body[data-ready="report"] table.report');
    const reportShown = await page.$$eval('table.report tr[data-area]', (trs) => trs.map((tr) => [tr.dataset.area, tr.children[1].textContent, tr.children[2].textContent]));
    check(JSON.stringify(reportShown.slice(0, wanted.length)) === JSON.stringify(wanted), `the report page of ${month} equals tanfang-super's`);
    check((await page.textContent('#filing')).includes('尚未报送'), 'not filed yet, it says');
    await page.click('#file-report');
    await page.waitForFunction(() => document.body.dataset.ready === 'report' && document.getElementById('filing')?.textContent.includes('已报送'));
    const filedNow = JSON.parse(run(join(BIN, 'tanfang-super'), [...superArgs, '--format', 'json', 'report', '--month', month, '--as-filed']));
    check((filedNow.rows || filedNow).length === wanted.length && !(await page.$('#file-report')), 'filed from the page: tanfang-super reads it as filed, and the page offers no second filing');
    const [rdl] = await Promise.all([page.waitForEvent('download'), page.click('#report-csv')]);
    const rcsv = readFileSync(await rdl.path(), 'utf8');
    check(rcsv.startsWith('\ufeff区域,区划代码,应探访,已探访,探访率,') && rcsv.trim().split('\r\n').length === wanted.length + 1, 'the report exported as CSV, every row');
    await page.fill('#report-form input[name=month]', '2099-01');
    await page.click('#report-form button[type=submit]');
    await page.waitForSelector('#report-problem:not(:empty)');
    check((await page.textContent('#report-problem')).includes('还没有开始'), 'a month to come: no report, said under the form');
    await page.goto(`${base}/#/overdue`);
    await page.waitForSelector('body[data-ready="overdue"] #overdue-table');

    // The elder's page: details and the history, as tanfang-super has it.
    await page.click('#overdue-table tr[data-elder="E1"] a');
    await page.waitForSelector('body[data-ready="elder"] #elder-history');
    const hist = JSON.parse(run(join(BIN, 'tanfang-super'), [...superArgs, '--format', 'json', 'history', 'E1']));
    const histItems = hist.items || hist;
    const histRows = await page.$$eval('#elder-history tr:not(:first-child)', (trs) => trs.length);
    const histVisits = histItems.filter((x) => !String(x.type).startsWith('registry '));
    check(histRows === histItems.length && histVisits.length === 1,
      `the elder's history has its ${histVisits.length} visit and its ${histItems.length - histVisits.length} registry change`);
    check((await page.textContent('#elder-facts')).includes('老人1') && (await page.textContent('#elder-facts')).includes('独居'), "the elder's details, its category in Chinese");
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'web-elder.png'), fullPage: true });

    // A page left while it loads is not drawn over the next: the activity
    // page's reply held 2 s, the overdue list chosen meanwhile.
    let held = false;
    await page.route('**/v1/envelope', async (r) => {
      if (!held) {
        held = true;
        await new Promise((res) => setTimeout(res, 2000));
      }
      await r.continue();
    });
    await page.click('#nav-activity');
    await page.waitForTimeout(300);
    await page.click('#nav-overdue');
    await page.waitForSelector('body[data-ready="overdue"] #overdue-table', { timeout: 20000 });
    await page.waitForTimeout(2500);
    check((await page.$('#overdue-table')) && !(await page.$('#activity-table')) && (await page.evaluate(() => location.hash)).startsWith('#/overdue'),
      'the overdue list stays drawn after the slow page it left');
    await page.unroute('**/v1/envelope');
    // Visitor activity this month.
    await page.click('#nav-activity');
    await page.waitForSelector('body[data-ready="activity"] #activity-table');
    const g1 = await page.$$eval('#activity-table tr[data-visitor="g1"] td', (tds) => tds.map((td) => td.textContent));
    check(g1[3] === '3' && g1[4] === '3', `g1's three door visits this month: ${g1.join(' | ')}`);
    check(g1[1] === '网格员', `g1's role in Chinese: ${g1[1]}`);
    // Found by name; the export holds every row.
    await page.fill('form.filters input[name=q]', '网格员');
    await page.click('form.filters button[type=submit]');
    await page.waitForFunction(() => location.hash.includes('q=') && document.body.dataset.ready === 'activity');
    const found = await page.$$eval('#activity-table tr[data-visitor]', (trs) => trs.map((tr) => tr.dataset.visitor));
    check(found.length === 1 && found[0] === 'g1', `a visitor found by name: ${found.join(' ')}`);

    // The map: the elders with coordinates, coloured by overdue duties.
    await page.click('#nav-map');
    await page.waitForSelector('body[data-ready="map"] #elder-map svg');
    const late = new Set(items.filter((it) => Number(it.days_overdue) >= 0).map((it) => it.elder_id));
    const placed = ['E1', 'E2', 'E3', 'E4'];
    const red = Number(await page.getAttribute('#elder-map', 'data-overdue'));
    const green = Number(await page.getAttribute('#elder-map', 'data-on-time'));
    check(red === placed.filter((e) => late.has(e)).length && red + green === 4, `the map places 4 elders, ${red} overdue`);
    check((await page.textContent('#no-location')).endsWith(': 2'), 'two elders without a location are counted');
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'web-map.png') });

    // 4. An administrator's day, in a second browser enrolled for the root admin.
    const adminPage = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    adminPage.on('pageerror', (e) => errors.push(String(e)));
    adminPage.on('dialog', (d) => d.accept());
    await adminPage.goto(`${base}/#/key`);
    const adminHex = (await (await adminPage.waitForSelector('#public-key')).textContent()).trim();
    admin('key', 'enrol', adminHex, '--visitor', 'admin');
    // A new village in the tree.
    await adminPage.goto(`${base}/#/areas`);
    await adminPage.reload();
    await adminPage.waitForSelector('body[data-ready="areas"] #area-form');
    await adminPage.fill('#area-form input[name=code]', '152223100203');
    await adminPage.fill('#area-form input[name=name]', '三村');
    await adminPage.fill('#area-form input[name=parent]', '152223100');
    await adminPage.click('#area-form button[type=submit]');
    await adminPage.waitForSelector('#area-tree tr[data-area="152223100203"]');
    check(true, 'an area added in the browser appears in the tree');
    // A "1+2" household, then an elder's phone corrected and the household named:
    // the rest of the entry (categories, visitors) is kept.
    await adminPage.goto(`${base}/#/visitors`);
    await adminPage.waitForSelector('body[data-ready="visitors"] #visitor-form');
    await adminPage.fill('#visitor-form input[name=id]', 'n1');
    await adminPage.fill('#visitor-form input[name=name]', '邻居一');
    await adminPage.selectOption('#visitor-form select[name=role]', 'neighbour');
    await adminPage.fill('#visitor-form input[name=area]', '152223100202');
    await adminPage.click('#visitor-form button[type=submit]');
    await adminPage.waitForSelector('#visitor-list tr[data-visitor="n1"]');
    await adminPage.goto(`${base}/#/elders?edit=E5`);
    await adminPage.waitForSelector('body[data-ready="elders"] #elder-form');
    await adminPage.fill('#elder-form input[name=phone]', '13904820005');
    await adminPage.fill('#elder-form input[name=neighbours]', 'n1');
    await adminPage.click('#elder-form button[type=submit]');
    await adminPage.waitForSelector('body[data-ready="elder"] #elder-facts', { timeout: 15000 });
    const registry = JSON.parse(admin("--format", "json", "list", "elders"));
    const e5 = (registry.elders || registry).find((e) => e.id === "E5");
    check(e5 && e5.phone === '13904820005' && /living_alone|独居/.test(JSON.stringify(e5)) && JSON.stringify(e5).includes('g1') && JSON.stringify(e5).includes('n1'),
      `an elder's phone corrected in the browser keeps its categories and visitors: ${JSON.stringify(e5)}`);
    // A phone's key, read from a photo of its key page's QR code, enrolled.
    const phone = await (await browser.newContext()).newPage();
    await phone.goto(`${base}/#/key`);
    const phoneHex = (await (await phone.waitForSelector('#public-key')).textContent()).trim();
    const qrData = await phone.getAttribute('#key-qr', 'src');
    const qrPath = join(tmp, 'phone-qr.png');
    writeFileSync(qrPath, Buffer.from(qrData.split(',')[1], 'base64'));
    await adminPage.goto(`${base}/#/keys`);
    await adminPage.waitForSelector('body[data-ready="keys"] #enrol-form');
    await adminPage.setInputFiles('#scan-file', qrPath);
    await adminPage.waitForFunction(() => document.querySelector('#enrol-form input[name=key]').value.length === 64);
    check((await adminPage.inputValue('#enrol-form input[name=key]')) === phoneHex, 'a key read from its QR code');
    await adminPage.fill('#enrol-form input[name=visitor]', 'g1');
    await adminPage.click('#enrol-form button[type=submit]');
    await adminPage.waitForSelector(`#key-list tr[data-key="${phoneHex}"]`);
    check(true, 'the scanned key is enrolled');

    // A device key enrolled by pasting its hex, then revoked after a confirmation.
    const pasted = run(join(BIN, 'tanfang-admin'), ['key', 'new', join(tmp, 'pasted.key')]).match(/[0-9a-f]{64}/)[0];
    await adminPage.goto(`${base}/#/keys`);
    await adminPage.waitForSelector('body[data-ready="keys"] #enrol-form');
    await adminPage.fill('#enrol-form input[name=key]', pasted);
    await adminPage.fill('#enrol-form input[name=visitor]', 'g1');
    await adminPage.click('#enrol-form button[type=submit]');
    await adminPage.waitForSelector(`#key-list tr[data-key="${pasted}"] button.revoke`);
    await adminPage.click(`#key-list tr[data-key="${pasted}"] button.revoke`);
    await adminPage.waitForSelector(`#key-list tr[data-key="${pasted}"].muted`);
    const keyList = admin('--format', 'csv', 'list', 'keys');
    check(keyList.split('\n').some((l) => l.includes(pasted) && l.includes('revoked')), 'a key enrolled by pasting and revoked in the browser');
    // An office's elder file (issue 11): a bad date, an unknown village and
    // an unknown visitor are found in the file, against the registry the
    // page fetched, every one listed with its row and nothing stored; the
    // corrected file, naming its village and visitor, is imported; a person
    // already registered is found by the daemon's check.
    const csvPath = join(tmp, 'elders.csv');
    const csvHead = '\ufeff编号,姓名,所属村（社区）,出生日期,类别,包联人\n';
    writeFileSync(csvPath, `${csvHead}I1,孙一,152223100201,1940-02-30,独居,g1\nI2,孙二,152223100201,1941-03-01,独居,g1\n`);
    await adminPage.goto(`${base}/#/import`);
    await adminPage.waitForSelector('body[data-ready="import"] #import-form');
    await adminPage.setInputFiles('#import-form input[type=file]', csvPath);
    await adminPage.click('#import-form button[type=submit]');
    await adminPage.waitForSelector('#import-summary');
    let problems = await adminPage.$$eval('#import-problems li', (lis) => lis.map((li) => li.textContent));
    check(problems.length === 1 && problems[0].includes('row 1'), `a bad date is found in the file: ${problems.join(' | ')}`);
    writeFileSync(csvPath, `${csvHead}I1,孙一,152223100299,1940-02-03,独居,g1\nI2,孙二,152223100201,1941-03-01,独居,nobody\nI3,孙三,152223100201,1942-04-01,独居,g1\n`);
    await adminPage.setInputFiles('#import-form input[type=file]', csvPath);
    await adminPage.click('#import-form button[type=submit]');
    await adminPage.waitForFunction(() => document.querySelectorAll('#import-problems li').length >= 2);
    problems = await adminPage.$$eval('#import-problems li', (lis) => lis.map((li) => li.textContent));
    check(problems.length === 2 && problems[0].startsWith('row 1 (line 2): column 所属村（社区）:') && problems[0].includes('152223100299') &&
      problems[1].startsWith('row 2 (line 3): column 包联人:') && problems[1].includes('nobody') && (await adminPage.isDisabled('#import-go')),
      `every problem is listed with its row and column, import held back: ${problems.join(' | ')}`);
    check(!admin('list', 'elders').includes('I3'), 'nothing was stored by the check');
    const villageName = JSON.parse(admin('--format', 'json', 'list', 'areas')).find((a) => a.code === '152223100201').name;
    writeFileSync(csvPath, `${csvHead}I1,孙一,${villageName},1940-02-03,独居,g1\nI2,孙二,152223100201,1941-03-01,独居,g1\nI3,孙三,152223100201,1942-04-01,独居,g1\n`);
    await adminPage.setInputFiles('#import-form input[type=file]', csvPath);
    await adminPage.click('#import-form button[type=submit]');
    await adminPage.waitForSelector('#import-summary.ok');
    // Another file chosen after the check: the check is gone, nothing can be
    // imported until it is checked (a new user imported the file checked
    // before, not the one chosen).
    const otherPath = join(tmp, 'other.csv');
    writeFileSync(otherPath, `${csvHead}I7,孙七,152223100201,1947-07-07,独居,g1\n`);
    await adminPage.setInputFiles('#import-form input[type=file]', otherPath);
    check(await adminPage.isDisabled('#import-go') && !(await adminPage.$('#import-summary')), 'choosing another file throws the check away');
    await adminPage.setInputFiles('#import-form input[type=file]', csvPath);
    await adminPage.click('#import-form button[type=submit]');
    await adminPage.waitForSelector('#import-summary.ok');
    await adminPage.click('#import-go');
    await adminPage.waitForSelector('#import-result #result[data-status="STATUS_OK"]');
    check(['I1', 'I2', 'I3'].every((id) => admin('list', 'elders').includes(id)), 'the clean file is imported, all three elders');
    writeFileSync(csvPath, `${csvHead}I9,孙一,152223100201,1940-02-03,独居,g1\n`);
    await adminPage.setInputFiles('#import-form input[type=file]', csvPath);
    await adminPage.click('#import-form button[type=submit]');
    await adminPage.waitForSelector('#import-summary.error');
    problems = await adminPage.$$eval('#import-problems li', (lis) => lis.map((li) => li.textContent));
    check(problems.length === 1 && problems[0].startsWith('row 1 (line 2)') && problems[0].includes('already registered as elder I1'),
      `the daemon finds the person registered already: ${problems.join(' | ')}`);

    // A supervisor's key may not change the registry: said plainly.
    await page.goto(`${base}/#/visitors`);
    await page.waitForSelector('body[data-ready="visitors"] #visitor-form');
    await page.fill('#visitor-form input[name=id]', 'x1');
    await page.fill('#visitor-form input[name=name]', '某人');
    await page.fill('#visitor-form input[name=area]', '152223100');
    await page.click('#visitor-form button[type=submit]');
    await page.waitForSelector('#result[data-status]');
    check((await page.getAttribute('#result', 'data-status')) === 'STATUS_FORBIDDEN', 'a supervisor cannot add a visitor: FORBIDDEN shown');
    await page.goto(`${base}/#/keys`);
    await page.waitForSelector('#trouble');
    check((await page.textContent('#trouble')).includes('您的密钥无权使用此页面'), 'an admin page opened by a supervisor says so in Chinese');
    if (SHOTS) await adminPage.screenshot({ path: join(SHOTS, 'web-keys.png'), fullPage: true });

    // 5. English.
    await page.click('#lang');
    await page.waitForSelector('#nav-overdue');
    check((await page.textContent('#nav-overdue')) === 'Overdue', 'the English switch');
    await page.click('#lang');

    // 6. The daemon stopped: a clear page, not a blank one.
    await stop(daemon);
    await page.goto(`${base}/#/overview`);
    await page.reload();
    await page.waitForSelector('#trouble', { timeout: 30000 });
    const trouble = await page.textContent('#trouble');
    check(trouble.includes('探访服务未运行'), `a stopped daemon is said plainly: ${trouble}`);
    daemon = (await start(TANFANGD, ['run', '--data', data, '--listen', endpoint], /listening on/)).child;

    check(errors.filter((e) => !/502|Failed to load resource/.test(e)).length === 0, `no script errors (${errors.join('; ')})`);
  } finally {
    await browser.close();
  }
  await stop(web.child);
  await stop(daemon);
}

main()
  .then(() => {
    console.log(`${passed} checks passed`);
    cleanup(tmp);
  })
  .catch((e) => {
    console.error(e.stack || String(e));
    cleanup(tmp);
    process.exit(1);
  });
