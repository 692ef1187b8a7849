// The installed app: installability on every main page, the install offer, the service
// worker's offline pages, keeping one person's pages from the next, and taking over after a
// deploy. Offline is real: the test's own server sits behind a proxy that drops every
// connection, the service worker's included.
import { chromium, expect, test, type Page } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppServer, Proxy, nextBuild } from './appserver';
import { controlled, hydrated, isoDate, joinSociety, keptPages, newEvent, openSociety, signIn } from './helpers';



test('every main page is installable; the install offer, and the hint on iPhones', async ({ browser, baseURL }) => {
  test.setTimeout(120_000);
  // Chromium checks installability only in a profile of its own, never in incognito ones
  // (which every new context is).
  const profile = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'roster-profile-')), {
    executablePath: process.env.CHROME_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    baseURL,
  });
  const admin = profile.pages()[0] ?? await profile.newPage();
  await signIn(admin, 'admin', 'admin-pass', '/');
  const slug = await openSociety(admin, 'Install Club');
  const session = await newEvent(admin, slug, { title: 'Morning row', spots: 4, date: isoDate(1), time: '07:00' });
  const cdp = await admin.context().newCDPSession(admin);
  for (const path of ['/', `/s/${slug}`, `/s/${slug}/calendar`, session, '/my-bookings', '/my-sessions', '/me', '/calendar', '/notifications', `/s/${slug}/members`]) {
    await admin.goto(path);
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    expect(installabilityErrors, `installability of ${path}`).toEqual([]);
  }
  const manifest = await cdp.send('Page.getAppManifest');
  expect(manifest.errors, 'the manifest parses cleanly').toEqual([]);
  const parsed = JSON.parse(manifest.data ?? '{}');
  expect(parsed.shortcuts.map((s: { name: string }) => s.name)).toEqual(['My bookings', 'Calendar', 'My sessions']);
  expect(parsed.screenshots.map((s: { form_factor: string }) => s.form_factor).sort()).toEqual(['narrow', 'wide']);
  for (const icon of parsed.icons) {
    const response = await admin.request.get(new URL(icon.src, baseURL).href);
    expect(response.status(), icon.src).toBe(200);
  }
  // The "Calendar" shortcut opens the calendar of the person's one society.
  const mia = await joinSociety(browser, 'member', slug);
  await mia.goto('/calendar?source=shortcut');
  await expect(mia).toHaveURL(new RegExp(`/s/${slug}/calendar$`));

  // Where the browser offers installation, the button does it.
  await admin.goto('/');
  await hydrated(admin);
  await admin.evaluate(() => {
    const offer = new Event('beforeinstallprompt', { cancelable: true }) as Event & { prompt?: () => void; userChoice?: Promise<{ outcome: string }> };
    offer.prompt = () => { (window as unknown as { prompted: boolean }).prompted = true; };
    offer.userChoice = Promise.resolve({ outcome: 'accepted' });
    window.dispatchEvent(offer);
  });
  const install = admin.getByRole('button', { name: 'Install Roster' });
  await expect(install).toBeVisible();
  await install.click();
  await expect.poll(() => admin.evaluate(() => (window as unknown as { prompted?: boolean }).prompted)).toBe(true);
  await expect(install).toBeHidden();
  await expect(admin.getByTestId('install-hint')).toBeHidden();

  // Safari on an iPhone offers nothing itself: a short hint says how, until dismissed.
  const iphone = await (await browser.newContext({
    viewport: { width: 390, height: 844 },
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1',
  })).newPage();
  await iphone.goto('/');
  const hint = iphone.getByTestId('install-hint');
  await expect(hint).toContainText('Add to Home Screen');
  await expect(iphone.getByRole('button', { name: 'Install Roster' })).toBeHidden();
  await hint.getByRole('button', { name: 'Got it' }).click();
  await expect(hint).toBeHidden();
  await iphone.reload();
  await expect(iphone.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(hint).toBeHidden();
  await profile.close();
});

test.describe('offline', () => {
  let proxy: Proxy;
  let server: AppServer;
  test.beforeEach(async () => {
    proxy = new Proxy();
    await proxy.start();
    server = await AppServer.start(proxy.url);
    proxy.to(server);
  });
  test.afterEach(async () => {
    await proxy.stop();
    await server.stop();
  });

  test('kept pages show "as of", others the offline page; sign-out and another person clear them', async ({ browser }) => {
    test.setTimeout(120_000);
    const admin = await (await browser.newContext()).newPage();
    await signIn(admin, 'admin', 'admin-pass', '/');
    const slug = await openSociety(admin, 'Offline Club');
    const session = await newEvent(admin, slug, { title: 'Harbour swim', spots: 5, date: isoDate(2), time: '18:30' });
    // Cookies belong to the host, not the port: Mia is signed in at the proxy's address too.
    const mia = await joinSociety(browser, 'member', slug);
    const at = (path: string) => proxy.url + path;

    await mia.goto(at(session));
    await controlled(mia);
    await hydrated(mia);
    await mia.getByTestId('book').click();
    await expect(mia.getByTestId('my-booking')).toHaveText('You have a spot.');
    await mia.goto(at('/my-bookings'));
    await expect(mia.getByTestId('my-booking-row').filter({ hasText: 'Harbour swim' })).toBeVisible();
    await mia.reload();
    await expect.poll(() => keptPages(mia)).toEqual(expect.arrayContaining(['/my-bookings', session]));

    // No signal: what was kept shows, marked with its time; what needs the server says so.
    proxy.offline();
    await mia.context().setOffline(true);
    await mia.goto(at('/my-bookings'));
    await expect(mia.getByTestId('app-banner')).toContainText(/Offline — as of \d\d:\d\d/);
    await expect(mia.getByTestId('my-booking-row').filter({ hasText: 'Harbour swim' })).toBeVisible();
    await mia.goto(at(session));
    await expect(mia.getByTestId('my-booking')).toHaveText('You have a spot.');
    await mia.getByTestId('cancel-booking').click();
    await expect(mia.getByTestId('app-banner')).toContainText('You are offline: this needs a connection.');
    // Never opened here: the offline page, with what the device keeps.
    await mia.goto(at('/notifications/preferences'));
    await expect(mia.getByTestId('offline-page')).toBeVisible();
    await expect(mia.locator('#offline-pages')).toContainText('/my-bookings');

    // Back online: nothing was sent while offline, the booking stands.
    proxy.onlineAgain();
    await mia.context().setOffline(false);
    await mia.goto(at('/my-bookings'));
    await expect(mia.getByTestId('app-banner')).toHaveCount(0);
    await expect(mia.getByTestId('my-booking-row').filter({ hasText: 'Harbour swim' })).toHaveAttribute('data-status', 'confirmed');

    // Signing out leaves nothing of Mia on the device.
    await mia.getByTestId('user-name').click();
    await mia.getByRole('menuitem', { name: 'Sign out' }).click();
    await expect(mia.getByTestId('user-name')).toHaveCount(0);
    expect(await keptPages(mia)).not.toContain('/my-bookings');
    proxy.offline();
    await mia.goto(at('/my-bookings'));
    await expect(mia.getByTestId('offline-page')).toBeVisible();
    proxy.onlineAgain();

    // A session that ended without signing out: the next page is made for someone else, and
    // what was kept for Mia goes.
    await mia.goto(at('/auth/login?next=/my-bookings'));
    await mia.locator('#username').fill('member');
    await mia.locator('#password').fill('member-pass');
    await mia.locator('#kc-login').click();
    await expect(mia.getByTestId('my-booking-row').filter({ hasText: 'Harbour swim' })).toBeVisible();
    await mia.reload();
    await expect.poll(() => keptPages(mia)).toContain('/my-bookings');
    await mia.context().clearCookies();
    await mia.goto(at('/'));
    await expect(mia.getByRole('link', { name: 'Sign in' })).toBeVisible();
    await expect.poll(() => keptPages(mia)).not.toContain('/my-bookings');
  });

  test('a new build takes over: its files replace the old ones on every open page', async ({ browser }) => {
    test.setTimeout(120_000);
    const page = await (await browser.newContext()).newPage();
    await page.goto(proxy.url + '/');
    await controlled(page);
    const oldSheet = await page.locator('link[rel="stylesheet"]').first().getAttribute('href');
    const oldCaches = await page.evaluate(() => caches.keys());
    expect(oldCaches.filter((k) => k.startsWith('roster-shell-'))).toHaveLength(1);
    await page.reload();
    await expect.poll(() => keptPages(page)).toContain('/');

    // Deploy: a new server with the next build at the same address.
    const next = nextBuild();
    const newServer = await AppServer.start(proxy.url, next);
    try {
      proxy.to(newServer);
      await server.stop();
      await page.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r && r.update()));
      // The open page moves to the new build by itself (nothing was typed into it).
      await expect(page.locator('link[rel="stylesheet"]').first()).toHaveAttribute('href', next.stylesheet, { timeout: 20_000 });
      expect(oldSheet).not.toBe(next.stylesheet);
      const shells = await page.evaluate(() => caches.keys().then((keys) => keys.filter((k) => k.startsWith('roster-shell-'))));
      expect(shells).toHaveLength(1);
      expect(shells[0]).not.toBe(oldCaches.find((k) => k.startsWith('roster-shell-')));
      // A page kept by the old build, shown offline, names the new build's files.
      proxy.offline();
      await page.goto(proxy.url + '/');
      await expect(page.locator('body')).toHaveAttribute('data-offline-as-of', /.+/);
      await expect(page.locator('link[rel="stylesheet"]').first()).toHaveAttribute('href', next.stylesheet);
      const sheetLoaded = await page.evaluate(() => [...document.styleSheets].some((s) => { try { return s.cssRules.length > 0; } catch { return false; } }));
      expect(sheetLoaded, 'the stylesheet comes from the device').toBe(true);
    } finally {
      proxy.onlineAgain();
      server = newServer;
    }
  });
});
