// Drive Debian's chromium against frps's dashboard page and report what it rendered.
//
//   node tests/browser/dashboard.mjs URL USER PASSWORD SCREENSHOT.png [--expand NAME] [--clear-offline]
//
// Loads URL/ (frps redirects to /static/), waits for the page's first complete refresh, reads the
// overview, every proxy table and the clients table, clicks the proxy row NAME (default: the
// first online one) and waits for its 7-day traffic chart, takes a full-page screenshot, and with
// --clear-offline presses "Clear offline proxies" and reads the proxy tables again. Prints one
// JSON object on stdout; exits non-zero (with the reason on stderr) when a step fails.
//
// playwright-core comes from $FRP_BROWSER_DIR/node_modules (scripts/browser-deps puts it in
// target/browser) or from a node_modules next to this file.
import { createRequire } from 'node:module';
import path from 'node:path';

const args = process.argv.slice(2);
const opts = { expand: null, clearOffline: false };
const pos = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--expand') opts.expand = args[++i];
  else if (args[i] === '--clear-offline') opts.clearOffline = true;
  else pos.push(args[i]);
}
if (pos.length !== 4) {
  console.error('usage: dashboard.mjs URL USER PASSWORD SCREENSHOT.png [--expand NAME] [--clear-offline]');
  process.exit(2);
}
const [url, username, password, screenshot] = pos;

function loadPlaywright() {
  const dirs = [process.env.FRP_BROWSER_DIR, path.dirname(new URL(import.meta.url).pathname)].filter(Boolean);
  for (const dir of dirs) {
    try {
      return createRequire(path.join(path.resolve(dir), 'package.json'))('playwright-core');
    } catch (e) {
      if (e.code !== 'MODULE_NOT_FOUND') throw e;
    }
  }
  throw new Error(`playwright-core not found under ${dirs.join(' or ')}; run scripts/browser-deps`);
}

const { chromium } = loadPlaywright();
const executablePath = process.env.FRP_CHROMIUM || '/usr/bin/chromium';
const started = Date.now();
const report = { url, pageErrors: [], consoleErrors: [], failedResponses: [] };

const browser = await chromium.launch({
  executablePath,
  headless: true,
  // Root needs --no-sandbox; the rest keeps chromium off the (closed) network.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
try {
  const context = await browser.newContext({
    httpCredentials: { username, password },
    viewport: { width: 1280, height: 900 },
    colorScheme: 'light',
  });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('pageerror', (e) => report.pageErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') report.consoleErrors.push(m.text()); });
  // 401s are the basic-auth challenges the browser answers itself.
  page.on('response', (r) => { if (r.status() >= 400 && r.status() !== 401) report.failedResponses.push(`${r.status()} ${r.url()}`); });

  const resp = await page.goto(url.replace(/\/$/, '') + '/');
  report.status = resp.status();
  report.finalUrl = page.url();
  report.title = await page.title();
  await page.waitForSelector('body[data-loaded="true"]');

  // Every tab once, as a person would look at them.
  const tabs = await page.$$eval('#proxy-tabs .tab', (bs) => bs.map((b) => b.dataset.type));
  for (const t of tabs) {
    await page.click(`#tab-${t}`);
    await page.waitForSelector(`#panel-${t}:not([hidden])`);
  }

  const readTables = () => page.evaluate(() => {
    const cell = (row, f) => row.querySelector(`[data-field="${f}"]`);
    const tables = {};
    for (const table of document.querySelectorAll('table.proxies')) {
      tables[table.dataset.type] = [...table.querySelectorAll('tr[data-proxy]')].map((r) => ({
        name: r.dataset.proxy,
        status: r.dataset.status,
        statusText: cell(r, 'status').textContent.trim(),
        where: cell(r, 'where').textContent.trim(),
        clientVersion: cell(r, 'clientVersion').textContent.trim(),
        curConns: Number(cell(r, 'curConns').textContent),
        todayTrafficIn: Number(cell(r, 'todayTrafficIn').dataset.bytes),
        todayTrafficOut: Number(cell(r, 'todayTrafficOut').dataset.bytes),
        todayTrafficInText: cell(r, 'todayTrafficIn').textContent.trim(),
        lastStartTime: cell(r, 'lastStartTime').textContent.trim(),
        lastCloseTime: cell(r, 'lastCloseTime').textContent.trim(),
      }));
    }
    return tables;
  });

  Object.assign(report, await page.evaluate(() => {
    const text = (sel) => document.querySelector(sel).textContent.trim();
    return {
      serverVersion: document.querySelector('#server-version').dataset.version,
      serverVersionText: text('#server-version'),
      overview: {
        bindPort: text('#bind-port'),
        vhostPorts: text('#vhost-ports'),
        clientCount: Number(text('#client-count')),
        curConns: Number(text('#cur-conns')),
        trafficIn: Number(document.querySelector('#traffic-in').dataset.bytes),
        trafficOut: Number(document.querySelector('#traffic-out').dataset.bytes),
        trafficInText: text('#traffic-in'),
        proxyCounts: Object.fromEntries([...document.querySelectorAll('#proxy-counts .type-count')]
          .map((e) => [e.dataset.type, Number(e.querySelector('.n').textContent)])),
      },
      tabCounts: Object.fromEntries([...document.querySelectorAll('#proxy-tabs .tab')]
        .map((b) => [b.dataset.type, Number(b.querySelector('.count').textContent)])),
      clients: [...document.querySelectorAll('#clients tr[data-client]')].map((r) => Object.fromEntries(
        [...r.querySelectorAll('[data-field]')].map((c) => [c.dataset.field, c.dataset.bytes ?? c.textContent.trim()]))),
      errorBanner: document.querySelector('#error').hidden ? null : text('#error'),
    };
  }));
  report.proxies = await readTables();

  // Open one proxy's detail row and wait for its chart.
  const all = Object.entries(report.proxies).flatMap(([type, rows]) => rows.map((r) => ({ type, ...r })));
  const target = opts.expand ? all.find((r) => r.name === opts.expand) : all.find((r) => r.status === 'online');
  if (target) {
    await page.click(`#tab-${target.type}`);
    const row = page.locator(`#proxies-${target.type} tr.proxy-row[data-proxy="${target.name}"]`);
    await row.click();
    const chart = page.locator(`tr.detail[data-detail-for="${target.name}"] svg.traffic-chart`);
    await chart.waitFor();
    report.chart = {
      proxy: target.name,
      type: target.type,
      expanded: await row.getAttribute('aria-expanded'),
      bars: await chart.evaluate((s) => [...s.querySelectorAll('rect.bar[data-day]')].map((b) => ({
        day: Number(b.dataset.day), dir: b.dataset.dir, bytes: Number(b.dataset.bytes),
        height: Number(b.getAttribute('height')),
      }))),
      labels: await chart.evaluate((s) => [...s.querySelectorAll('text.day')].map((t) => t.textContent)),
    };
  }

  await page.screenshot({ path: screenshot, fullPage: true });
  report.screenshot = screenshot;

  if (opts.clearOffline) {
    // The notice shows for a few seconds only: watch for it from before the click.
    const shown = page.waitForFunction(() => {
      const n = document.querySelector('#notice');
      return !n.hidden && n.textContent.trim();
    });
    await page.click('#clear-offline');
    report.noticeAfterClear = await (await shown).jsonValue();
    await page.waitForFunction(() => !document.querySelector('tr[data-status="offline"]'));
    report.proxiesAfterClear = await readTables();
  }
  report.elapsedMs = Date.now() - started;
  await context.close();
} catch (e) {
  console.error(`dashboard.mjs: ${e && e.stack || e}`);
  console.error(`so far: ${JSON.stringify(report)}`);
  await browser.close();
  process.exit(1);
}
await browser.close();
process.stdout.write(JSON.stringify(report) + '\n');
