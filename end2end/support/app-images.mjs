// Makes the installed app's pictures in public/: the PNG icons from the SVG ones, and (with
// ROSTER_E2E_URL pointing at a server started with demo data, e.g. `bash .ci/serve`) the two
// screenshots the manifest names. Run once after changing them; the PNGs are committed.
//   node end2end/support/app-images.mjs            # icons
//   ROSTER_E2E_URL=http://127.0.0.1:3000 ROSTER_MAIL_DIR=.roster/mail node end2end/support/app-images.mjs
//   (and the screenshots, signed in as the demo's admin by an emailed link from the folder)
import { chromium } from 'playwright-core';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { readFile } from 'node:fs/promises';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const out = (file) => path.join(root, 'public', file);
const browser = await chromium.launch({
  executablePath: process.env.CHROME_PATH || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
const page = await browser.newPage();
for (const [svg, png, size] of [
  ['icons/icon.svg', 'icons/icon-192.png', 192],
  ['icons/icon.svg', 'icons/icon-512.png', 512],
  ['icons/maskable.svg', 'icons/maskable-512.png', 512],
]) {
  await page.setViewportSize({ width: size, height: size });
  await page.setContent(`<style>html,body{margin:0;background:transparent}img{display:block;width:${size}px;height:${size}px}</style><img src="data:image/svg+xml;base64,${Buffer.from(await readFile(out(svg))).toString('base64')}">`);
  await page.screenshot({ path: out(png), omitBackground: true });
  console.log('wrote', png);
}
const base = process.env.ROSTER_E2E_URL;
if (base) {
  const society = process.env.ROSTER_DEMO_SOCIETY || 'riverside-rowing';
  const { readdir } = await import('node:fs/promises');
  const context = await browser.newContext();
  const signIn = await context.newPage();
  await signIn.goto(`${base}/sign-in`);
  await signIn.getByLabel('Email address').fill('admin@demo.roster.test');
  await signIn.getByRole('button', { name: 'Email me a sign-in link' }).click();
  await signIn.waitForTimeout(1000);
  const dir = process.env.ROSTER_MAIL_DIR;
  let link = null;
  for (const f of (await readdir(dir)).filter((f) => f.endsWith('.eml'))) {
    const mail = (await readFile(path.join(dir, f), 'utf8')).replace(/=\r?\n/g, '').replace(/=3D/g, '=');
    link = mail.match(/https?:\/\/\S+\/sign-in\/email\?token=[A-Za-z0-9_-]+/)?.[0] ?? link;
  }
  if (!link) throw new Error('no sign-in link in ' + dir);
  await signIn.goto(link);
  await signIn.getByRole('button', { name: 'Sign in to Roster' }).click();
  await signIn.waitForURL((url) => !url.pathname.startsWith('/sign-in'));
  const state = await context.storageState();
  for (const [file, width, height] of [['screenshots/narrow.png', 390, 844], ['screenshots/wide.png', 1280, 800]]) {
    const shot = await browser.newPage({ viewport: { width, height }, storageState: state });
    await shot.goto(`${base}/s/${society}/calendar${width > 900 ? '?view=week' : '?view=agenda'}`);
    await shot.screenshot({ path: out(file) });
    console.log('wrote', file);
    await shot.close();
  }
}
await browser.close();
