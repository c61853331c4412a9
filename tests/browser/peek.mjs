// Not a test: opens a running console (URL, user, password as arguments) and screenshots
// its lists after a few seconds. For looking at `taxi demo`.
import { chromium } from 'playwright-core';
const [url, user, password, out] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, ignoreHTTPSErrors: true, locale: 'zh-CN' });
const page = await ctx.newPage();
await page.goto(url);
await page.fill('#login-username', user); await page.fill('#login-password', password);
await page.press('#login-password', 'Enter');
await page.waitForSelector('#who:not([hidden])');
await page.waitForFunction(() => !document.querySelector('#caller-card').hidden, null, { timeout: 20000 }).catch(() => {});
await page.screenshot({ path: out + '-call.png' });
await page.click('#nav button[data-view=lists]');
await page.waitForTimeout(4000);
await page.screenshot({ path: out + '-lists.png' });
await page.click('#nav button[data-view=map]');
await page.waitForTimeout(3000);
await page.screenshot({ path: out + '-map.png' });
console.log('events seen:', await page.evaluate(() => Object.keys(window.consoleSeen).length));
await browser.close();
