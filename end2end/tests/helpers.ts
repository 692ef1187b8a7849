import { expect, type Browser, type Page } from '@playwright/test';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Waits until the WASM bundle has hydrated the page (the app marks <body>). */
export async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

/** Signs in on the Keycloak-shaped provider's login page, coming back to `next`. */
export async function signIn(page: Page, username: string, password: string, next: string) {
  await page.goto(`/auth/login?next=${encodeURIComponent(next)}`);
  await page.locator('#username').fill(username);
  await page.locator('#password').fill(password);
  await page.locator('#kc-login').click();
}

export function unique(prefix: string) {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
}

/** Decodes a quoted-printable body (as lettre sends mail with long lines). */
function decodeQuotedPrintable(body: string) {
  const joined = body.replace(/=\r?\n/g, '');
  const bytes = Buffer.from(joined.replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
  return bytes.toString('utf8');
}

/** The newest mail captured by the local SMTP server for `recipient`, decoded. */
export async function mailTo(recipient: string): Promise<string> {
  return mailMatching(recipient, /./);
}

/** The newest mail for `recipient` whose decoded text matches `pattern`, waiting for it. */
export async function mailMatching(recipient: string, pattern: RegExp): Promise<string> {
  const dir = process.env.ROSTER_E2E_MAIL_DIR;
  if (!dir) throw new Error('ROSTER_E2E_MAIL_DIR is not set');
  for (let i = 0; i < 100; i++) {
    const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort().reverse();
    for (const file of files) {
      const meta = JSON.parse(readFileSync(join(dir, file), 'utf8'));
      if (meta.rcpt_tos.some((r: string) => r.toLowerCase() === recipient.toLowerCase())) {
        const raw = readFileSync(join(dir, file.replace(/\.json$/, '.eml')), 'utf8');
        const [headers, ...rest] = raw.split('\r\n\r\n');
        const body = rest.join('\r\n\r\n');
        const text = /quoted-printable/i.test(headers) ? decodeQuotedPrintable(body) : body;
        if (pattern.test(`${headers}\r\n\r\n${text}`)) return text;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no mail to ${recipient} matching ${pattern}`);
}

/** The first link in a mail's text. */
export function linkIn(mail: string): string {
  const match = mail.match(/https?:\/\/\S+/);
  if (!match) throw new Error(`no link in:\n${mail}`);
  return match[0];
}

/** YYYY-MM-DD of today + `days` (the browser's and the server's zone are both UTC here). */
export function isoDate(days: number): string {
  const d = new Date();
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** Signs `username` in (in a browser context of its own) and joins the open society `slug`. */
export async function joinSociety(browser: Browser, username: string, slug: string, viewport?: { width: number; height: number }): Promise<Page> {
  const page = await (await browser.newContext(viewport ? { viewport } : {})).newPage();
  await signIn(page, username, `${username}-pass`, `/s/${slug}`);
  await hydrated(page);
  await page.getByRole('button', { name: 'Ask to join' }).click();
  await expect(page.getByTestId('membership-status')).toContainText('You are a member');
  return page;
}

/** As a platform admin: creates a society in UTC that anyone signed in joins at once. */
export async function openSociety(admin: Page, prefix: string): Promise<string> {
  await admin.goto('/societies/new');
  await hydrated(admin);
  const name = unique(prefix);
  await admin.getByLabel('Name').pressSequentially(name);
  await admin.getByLabel('Time zone').fill('UTC');
  await admin.getByRole('button', { name: 'Create society' }).click();
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  await expect(admin).toHaveURL(new RegExp(`/s/${slug}$`));
  await admin.goto(`/s/${slug}/settings`);
  await hydrated(admin);
  await admin.getByLabel('Open: anyone signed in joins at once').check();
  await admin.getByRole('button', { name: 'Save settings' }).click();
  await expect(admin.getByTestId('saved')).toBeVisible();
  return slug;
}

/** As the society's admin: makes the member called `name` a trainer. */
export async function makeTrainer(admin: Page, slug: string, name: string) {
  await admin.goto(`/s/${slug}/members`);
  await hydrated(admin);
  await admin.getByLabel(`Manage ${name}`).click();
  const row = admin.getByRole('row', { name: new RegExp(name) });
  await row.getByLabel('Role').selectOption('trainer');
  await row.getByRole('button', { name: 'Change role' }).click();
  await expect(admin.getByRole('row', { name: new RegExp(name) }).getByTestId('member-role')).toHaveText('Trainer');
}

const CODES = ['SU', 'MO', 'TU', 'WE', 'TH', 'FR', 'SA'];

/** As the admin: sets up an event (one session, or `weekly` sessions a week apart) and
 * returns its first session's address. */
export async function newEvent(admin: Page, slug: string, o: { title: string; spots: number; date: string; time: string; trainer?: string; weekly?: number; minutes?: number }) {
  await admin.goto(`/s/${slug}/events/new`);
  await hydrated(admin);
  await admin.getByLabel('Title').fill(o.title);
  await admin.getByLabel('Duration (minutes)').fill(String(o.minutes ?? 60));
  await admin.getByLabel('Spots').fill(String(o.spots));
  if (o.trainer) await admin.getByLabel(o.trainer).check();
  await admin.getByLabel('First date').fill(o.date);
  await admin.getByLabel('Start time').fill(o.time);
  if (o.weekly) {
    await admin.getByLabel('Weekly').check();
    await admin.locator(`#weekday-${CODES[new Date(`${o.date}T12:00:00Z`).getUTCDay()]}`).check();
    await admin.getByLabel('After a number of sessions').check();
    await admin.getByLabel('Number of sessions', { exact: true }).fill(String(o.weekly));
  }
  await admin.getByRole('button', { name: 'Create event' }).click();
  await expect(admin.getByRole('heading', { level: 1 })).toHaveText(o.title);
  return new URL(admin.url()).pathname;
}

/** As the admin: a short session (5 minutes) taught by `trainer`, starting within the hour
 * (attendance is open from an hour before): at `startIn` minutes, or a little later when the
 * trainer already teaches then (suites run at once; a trainer never teaches two sessions at
 * the same time). Returns the session's address. */
export async function sessionWithin(admin: Page, slug: string, o: { title: string; spots: number; trainer: string; startIn: number }): Promise<string> {
  for (let minutes = o.startIn; minutes <= 55; minutes += 6) {
    const at = new Date(Date.now() + minutes * 60_000);
    await admin.goto(`/s/${slug}/events/new`);
    await hydrated(admin);
    await admin.getByLabel('Title').fill(o.title);
    await admin.getByLabel('Duration (minutes)').fill('5');
    await admin.getByLabel('Spots').fill(String(o.spots));
    await admin.getByLabel(o.trainer).check();
    await admin.getByLabel('First date').fill(at.toISOString().slice(0, 10));
    await admin.getByLabel('Start time').fill(at.toISOString().slice(11, 16));
    await admin.getByRole('button', { name: 'Create event' }).click();
    const made = admin.getByRole('heading', { level: 1, name: o.title });
    const busy = admin.getByText(/is busy then/);
    await expect(made.or(busy)).toBeVisible();
    if (await made.isVisible()) return new URL(admin.url()).pathname;
  }
  throw new Error(`${o.trainer} teaches at every time tried`);
}

/** Waits until the service worker controls the page. */
export async function controlled(page: Page) {
  await page.waitForFunction(() => !!navigator.serviceWorker && !!navigator.serviceWorker.controller, null, { timeout: 20_000 });
}

/** The addresses of the pages the device keeps (the service worker's page cache). */
export async function keptPages(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    if (!(await caches.has('roster-pages'))) return [];
    return (await (await caches.open('roster-pages')).keys()).map((r) => new URL(r.url).pathname);
  });
}
