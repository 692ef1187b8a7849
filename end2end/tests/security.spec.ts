import { expect, test, type Page } from '@playwright/test';
import { hydrated, isoDate, openSociety, signIn } from './helpers';

// Every main page runs under Roster's Content-Security-Policy (scripts only from Roster or with
// the page's nonce, WASM allowed, no framing) without a single violation: the islands hydrate,
// the push opt-in registers its service worker, and nothing inline is blocked.

/** Collects CSP violations the page reports (the event and the console's "Refused to ..."). */
async function watchViolations(page: Page): Promise<string[]> {
  const seen: string[] = [];
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      const w = window as unknown as { __csp?: string[] };
      (w.__csp ||= []).push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to (load|execute|apply|frame|connect)/i.test(m.text())) seen.push(m.text());
  });
  return seen;
}

async function reported(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp || []);
}

/** Opens `path`, checks the CSP header carries a nonce, and that nothing was refused. */
async function visit(page: Page, path: string, seen: string[], hydrate = true) {
  const response = await page.goto(path);
  expect(response?.status(), path).toBeLessThan(400);
  const csp = response?.headers()['content-security-policy'] || '';
  expect(csp, path).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9_-]{20,}' 'wasm-unsafe-eval'/);
  const scripts = csp.split(';').find((d) => d.trim().startsWith('script-src')) || '';
  expect(scripts, path).not.toContain("'unsafe-inline'");
  // Roster's own pages need no inline styles either (the API docs' Swagger UI does).
  if (!path.startsWith('/api/v1/docs')) expect(csp, path).not.toContain("'unsafe-inline'");
  expect(csp, path).toContain("frame-ancestors 'none'");
  expect(response?.headers()['x-content-type-options']).toBe('nosniff');
  if (hydrate) await hydrated(page);
  expect([...seen, ...(await reported(page))], path).toEqual([]);
}

test('every main page runs under the CSP without a violation, push opt-in included', async ({ browser }) => {
  test.setTimeout(120_000);
  const context = await browser.newContext();
  await context.grantPermissions(['notifications']);
  const admin = await context.newPage();
  const seen = await watchViolations(admin);
  await signIn(admin, 'admin', 'admin-pass', '/');
  await hydrated(admin);
  const slug = await openSociety(admin, 'csp');
  // A session to look at.
  await admin.goto(`/s/${slug}/events/new`);
  await hydrated(admin);
  await admin.getByLabel('Title').fill('CSP check');
  await admin.getByLabel('Duration (minutes)').fill('60');
  await admin.getByLabel('Spots').fill('8');
  await admin.getByLabel('First date').fill(isoDate(2));
  await admin.getByLabel('Start time').fill('18:00');
  await admin.getByRole('button', { name: 'Create event' }).click();
  await expect(admin.getByTestId('event-created')).toBeVisible();
  const session = new URL(admin.url()).pathname;

  for (const path of [
    '/',
    '/me',
    `/s/${slug}`,
    `/s/${slug}/calendar`,
    `/s/${slug}/calendar?view=month`,
    `/s/${slug}/calendar?view=agenda`,
    session,
    '/my-bookings',
    '/my-sessions',
    '/notifications',
    `/s/${slug}/members`,
    `/s/${slug}/requests`,
    `/s/${slug}/settings`,
    `/s/${slug}/reports`,
    `/s/${slug}/deliveries`,
    `/s/${slug}/audit`,
    `/s/${slug}/invitations`,
    '/admin/jobs',
    '/societies/new',
  ]) {
    await visit(admin, path, seen);
  }
  // The push opt-in: its script and the service worker it registers.
  await visit(admin, '/notifications/preferences', seen);
  await admin.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  await expect(admin.locator('#push-toggle')).toHaveText('Turn on push on this device');
  expect([...seen, ...(await reported(admin))]).toEqual([]);

  // Signed out: the start and sign-in pages.
  const visitor = await browser.newPage();
  const visitorSeen = await watchViolations(visitor);
  await visit(visitor, '/sign-in', visitorSeen);
  await visit(visitor, `/s/${slug}`, visitorSeen);
  // The API's documentation page is HTML too.
  await visit(visitor, '/api/v1/docs/', visitorSeen, false);
  // Swagger UI draws the API's title once the description has loaded under the CSP.
  await expect(visitor.getByRole('heading', { name: /^Roster API/ })).toBeVisible();
  expect([...visitorSeen, ...(await reported(visitor))]).toEqual([]);
});

test('pages may not be framed by another site', async ({ page }) => {
  const response = await page.goto('/sign-in');
  expect(response?.headers()['x-frame-options']).toBe('DENY');
  expect(response?.headers()['referrer-policy']).toBe('strict-origin-when-cross-origin');
  expect(response?.headers()['permissions-policy']).toContain('microphone=()');
});
