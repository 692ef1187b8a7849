// First-load weight of Roster's main pages: for each page, a fresh browser (empty cache)
// loads it, waits until it has hydrated, and sums the JavaScript and WebAssembly bytes that
// came over the wire (compressed, as served). Prints a table; with --check, exits 1 when a
// page is over the budget.
//
//   ROSTER_BENCH_URL=http://127.0.0.1:3000 node bench/first-load.mjs [--check]
//
// Signs in through the Keycloak-shaped provider as `admin` (ROSTER_BENCH_USER /
// ROSTER_BENCH_PASSWORD), creates a society to look at, then measures. Started by
// `bash .ci/first-load` (benchmark) and `bash .ci/test` (budget check).
import { chromium } from 'playwright-core';

const BUDGET = 200 * 1024; // bytes of JS + WASM, compressed, on a cold first visit
const base = process.env.ROSTER_BENCH_URL;
if (!base) throw new Error('ROSTER_BENCH_URL is not set: run `bash .ci/first-load`');
const user = process.env.ROSTER_BENCH_USER || 'admin';
const password = process.env.ROSTER_BENCH_PASSWORD || 'admin-pass';
const check = process.argv.includes('--check');

const browser = await chromium.launch({
  executablePath: process.env.CHROME_PATH || '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});

/** Signs in once and returns the cookies, so every measured page starts signed in. */
async function signIn() {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}/auth/login?next=/me`);
  await page.locator('#username').fill(user);
  await page.locator('#password').fill(password);
  await page.locator('#kc-login').click();
  await page.waitForURL(/\/me$/);
  const slug = `first-load-${Date.now().toString(36)}`;
  const created = await page.evaluate(async (slug) => {
    const body = new URLSearchParams({ name: 'First Load Rowing', slug, time_zone: 'Europe/Berlin' });
    const response = await fetch('/api/create_society', { method: 'POST', body, headers: { accept: 'application/json' } });
    return response.status;
  }, slug);
  if (created !== 200) throw new Error(`creating the society answered ${created}`);
  const session = await page.evaluate(async (slug) => {
    const start = new Date(Date.now() + 864e5).toISOString().slice(0, 10);
    const body = new URLSearchParams({
      slug, title: 'Squad training', capacity: '12', duration_minutes: '90', start_date: start,
      start_time: '18:00', repeat: 'weekly', 'weekdays[]': 'TU', ends: 'count', count: '10',
    });
    const response = await fetch('/api/create_event', { method: 'POST', body, headers: { accept: 'application/json' } });
    if (response.status !== 200) throw new Error(`creating an event answered ${response.status}`);
    return (await response.json()).occurrence_ids[0];
  }, slug);
  const state = await context.storageState();
  await context.close();
  return { state, slug, session };
}

/** Loads `path` in a fresh context and returns the compressed JS and WASM bytes it fetched. */
async function measure(path, storageState) {
  const context = await browser.newContext({ storageState });
  const page = await context.newPage();
  const assets = [];
  page.on('requestfinished', async (request) => {
    const url = new URL(request.url());
    const kind = url.pathname.endsWith('.wasm') ? 'wasm' : url.pathname.endsWith('.js') ? 'js' : null;
    if (!kind) return;
    const sizes = await request.sizes();
    const response = await request.response();
    assets.push({
      kind,
      file: url.pathname.split('/').pop(),
      bytes: sizes.responseBodySize,
      encoding: (await response?.headerValue('content-encoding')) || 'none',
    });
  });
  const response = await page.goto(`${base}${path}`);
  if (!response || response.status() >= 400) throw new Error(`${path} answered ${response?.status()}`);
  await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 30_000 });
  await page.waitForLoadState('networkidle');
  await context.close();
  const sum = (kind) => assets.filter((a) => a.kind === kind).reduce((n, a) => n + a.bytes, 0);
  return { js: sum('js'), wasm: sum('wasm'), files: assets.length, assets };
}

const { state, slug, session } = await signIn();
const pages = [
  ['home', '/', state],
  ['sign-in (visitor)', '/sign-in', undefined],
  ['society page', `/s/${slug}`, state],
  ['directory', `/s/${slug}/members`, state],
  ['requests', `/s/${slug}/requests`, state],
  ['settings', `/s/${slug}/settings`, state],
  ['calendar (week)', `/s/${slug}/calendar`, state],
  ['calendar (month)', `/s/${slug}/calendar?view=month`, state],
  ['session page', `/s/${slug}/sessions/${session}`, state],
  ['new event', `/s/${slug}/events/new`, state],
  ['my sessions', '/my-sessions', state],
  ['my bookings', '/my-bookings', state],
  ['/me', '/me', state],
  ['notifications', '/notifications', state],
  ['preferences', '/notifications/preferences', state],
  ['deliveries', `/s/${slug}/deliveries`, state],
  ['jobs (platform)', '/admin/jobs', state],
];

const kb = (bytes) => (bytes / 1024).toFixed(1);
console.log(`First load, cold cache, compressed bytes as served (budget ${kb(BUDGET)} KB of JS + WASM)`);
console.log(`${'page'.padEnd(20)} ${'JS KB'.padStart(8)} ${'WASM KB'.padStart(9)} ${'total KB'.padStart(9)} ${'files'.padStart(6)}  verdict`);
let over = 0;
for (const [name, path, storage] of pages) {
  const m = await measure(path, storage);
  const total = m.js + m.wasm;
  const ok = total <= BUDGET;
  if (!ok) over += 1;
  console.log(`${name.padEnd(20)} ${kb(m.js).padStart(8)} ${kb(m.wasm).padStart(9)} ${kb(total).padStart(9)} ${String(m.files).padStart(6)}  ${ok ? 'ok' : 'OVER BUDGET'}`);
  if (process.env.ROSTER_BENCH_VERBOSE) {
    for (const a of m.assets) console.log(`    ${a.file} ${kb(a.bytes)} KB (${a.encoding})`);
  }
}
await browser.close();

// The installed app's own code: what the service worker keeps (besides the pages' files), and
// the QR decoder a trainer's phone fetches the first time it scans without BarcodeDetector.
const http = await import('node:http');
function served(path) {
  return new Promise((resolve, reject) => {
    http.get(`${base}${path}`, { headers: { 'accept-encoding': 'br, gzip' } }, (response) => {
      let bytes = 0;
      response.on('data', (chunk) => { bytes += chunk.length; });
      response.on('end', () => resolve({ bytes, encoding: response.headers['content-encoding'] || 'none', status: response.statusCode }));
    }).on('error', reject);
  });
}
console.log('');
console.log(`${'app file'.padEnd(20)} ${'KB'.padStart(8)}  encoding`);
for (const path of ['/sw.js', '/pwa.js', '/queue.js', '/manifest.webmanifest', '/offline', '/vendor/jsqr.js']) {
  const f = await served(path);
  if (f.status !== 200) throw new Error(`${path} answered ${f.status}`);
  console.log(`${path.padEnd(20)} ${kb(f.bytes).padStart(8)}  ${f.encoding}`);
}
if (check && over > 0) {
  console.error(`${over} page(s) over the first-load budget of ${kb(BUDGET)} KB`);
  process.exit(1);
}
