// The demo opens the console (issue 12 item 9): `taxi demo` prints the console's URL and a
// login made for the run; Debian's headless Chromium logs in with exactly what was printed
// and sees the simulated city live: a classified call pops the caller's card, orders
// appear in the lists, an emergency alert arrives, events stream in. The demo starts and
// stops its own private Redis; this script stops the demo (and the browser) in any case.
//
// Run: `node demo.test.mjs` (scripts/test.sh's browser tier does, after console.test.mjs).
// Env: TAXI_BIN (default target/debug/taxi), CHROMIUM, TAXI_CONSOLE_SCREENSHOTS (default
// target/console-screenshots: demo.log and demo-console.png go there). Exit 0 only if it passed.

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const TAXI = process.env.TAXI_BIN || path.join(ROOT, 'target/debug/taxi');
const SHOTS = process.env.TAXI_CONSOLE_SCREENSHOTS || path.join(ROOT, 'target/console-screenshots');
const log = (...a) => console.log(new Date().toISOString().slice(11, 23), ...a);

function chromiumPath() {
  for (const p of [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-headless-shell', '/usr/lib/chromium/chromium-headless-shell']) {
    if (p && fs.existsSync(p)) return p;
  }
  throw new Error('no Chromium: install Debian chromium or chromium-headless-shell (scripts/test.sh does)');
}

// Waits until `probe()` answers something truthy; fails naming `what` after `ms`.
async function until(what, ms, probe) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise(r => setTimeout(r, 200));
  }
}

fs.mkdirSync(SHOTS, { recursive: true });
const out = fs.mkdtempSync(path.join(SHOTS, 'demo-out-'));
const demo = spawn(TAXI, ['demo', '--duration', '75', '--taxis', '120', '--rate', '3', '--speed', '150', '--out', out],
  { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TAXI_METRICS_ADDR: '127.0.0.1:0' } });
const demoLog = fs.createWriteStream(path.join(SHOTS, 'demo.log'));
demo.stderr.pipe(demoLog);
let browser = null;
let code = 1;
try {
  // What the demo prints for a person: the URL, then the login.
  const printed = await new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: demo.stdout });
    let url = null;
    const timer = setTimeout(() => reject(new Error('the demo printed no console login within 90 s')), 90_000);
    demo.on('exit', c => reject(new Error(`the demo exited (${c}) before printing the console login`)));
    lines.on('line', line => {
      demoLog.write(line + '\n');
      const u = line.match(/^operators' console: (https:\/\/localhost:\d+\/console\/)/);
      if (u) url = u[1];
      const l = line.match(/login: (\S+)\s+password: (\S+)/);
      if (l && url) { clearTimeout(timer); resolve({ url, user: l[1], password: l[2] }); }
    });
  });
  log(`the demo's console: ${printed.url} as ${printed.user}`);

  browser = await chromium.launch({ executablePath: chromiumPath(), headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  // The demo's certificate is a throw-away one: a person accepts it once, the test here.
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 }, locale: 'zh-CN' });
  const page = await ctx.newPage();
  page.on('pageerror', e => log('page error:', e.message));
  await page.goto(printed.url);
  await page.fill('#login-username', printed.user);
  await page.fill('#login-password', printed.password);
  await page.press('#login-password', 'Enter');
  await page.waitForSelector('#who:not([hidden])', { timeout: 15_000 });
  log('logged in with the printed login');
  // Every alert the lists ever show (the simulated desk acknowledges each after a while).
  await page.evaluate(() => {
    window.__alerts = new Set();
    const seen = () => document.querySelectorAll('#alerts li[data-alert]').forEach(li => window.__alerts.add(li.dataset.alert));
    new MutationObserver(seen).observe(document.querySelector('#alerts'), { childList: true, subtree: true });
    seen();
  });

  // The simulated 95128 calls: the phone switch classifies them and the card pops.
  const phone = await until('a simulated call pops the caller card', 45_000, () =>
    page.evaluate(() => !document.querySelector('#caller-card').hidden && document.querySelector('#caller-phone').textContent.trim()));
  log(`a simulated call popped the card: ${phone}`);
  await page.screenshot({ path: path.join(SHOTS, 'demo-console.png') });

  // The lists: orders waiting or in progress, an emergency alert, the event feed.
  await page.keyboard.press('F2');
  const orders = await until('the simulated orders show in the lists', 30_000, () =>
    page.evaluate(() => document.querySelectorAll('#waiting tbody tr, #progress tbody tr').length));
  log(`${orders} simulated orders in the lists`);
  const alerts = await until('a simulated emergency alert shows', 45_000, () =>
    page.evaluate(() => window.__alerts.size));
  log(`${alerts} emergency alert(s) in the list`);
  const events = await until('events stream into the activity list', 10_000, () =>
    page.evaluate(() => document.querySelectorAll('#activity li').length >= 5 && document.querySelectorAll('#activity li').length));
  log(`${events} events in the activity list`);
  await page.screenshot({ path: path.join(SHOTS, 'demo-lists.png') });
  log('ok   demo_prints_a_console_login_and_the_simulated_city_shows_up_live');
  code = 0;
} catch (e) {
  log(`FAIL demo_prints_a_console_login_and_the_simulated_city_shows_up_live: ${e && e.stack || e}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  if (demo.exitCode === null) {
    demo.kill('SIGTERM');
    await new Promise(r => { const t = setTimeout(() => { demo.kill('SIGKILL'); r(); }, 10_000); demo.on('exit', () => { clearTimeout(t); r(); }); });
  }
  fs.rmSync(out, { recursive: true, force: true });
}
process.exit(code);
