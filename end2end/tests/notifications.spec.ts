import { expect, test, type Page } from '@playwright/test';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hydrated, joinSociety, mailMatching, openSociety, signIn, unique } from './helpers';

/** Subjects of every mail captured for `recipient`. */
function subjectsTo(recipient: string): string[] {
  const dir = process.env.ROSTER_E2E_MAIL_DIR!;
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .filter((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')).rcpt_tos.some((r: string) => r.toLowerCase() === recipient))
    .map((f) => readFileSync(join(dir, f.replace(/\.json$/, '.eml')), 'utf8').match(/^Subject: (.*)$/m)?.[1] ?? '');
}

test('the bell shows the count after an admin approves, and reading clears it', async ({ browser }) => {
  const admin = await (await browser.newContext()).newPage();
  const nora = await (await browser.newContext()).newPage();
  await signIn(admin, 'admin', 'admin-pass', '/societies/new');
  await hydrated(admin);
  const name = unique('Bell Rowers');
  await admin.getByLabel('Name').pressSequentially(name);
  await admin.getByLabel('Time zone').fill('Europe/Berlin');
  await admin.getByRole('button', { name: 'Create society' }).click();
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  await expect(admin).toHaveURL(new RegExp(`/s/${slug}$`));

  // Nora starts with nothing unread.
  await signIn(nora, 'nora', 'nora-pass', '/notifications');
  await hydrated(nora);
  const markAll = nora.getByRole('button', { name: 'Mark all as read' });
  if (await markAll.count()) {
    await markAll.click();
    await expect(nora.getByTestId('unread-count')).toHaveCount(0);
  }
  await nora.goto(`/s/${slug}`);
  await hydrated(nora);
  await nora.getByRole('button', { name: 'Ask to join' }).click();
  await expect(nora.getByTestId('membership-status')).toContainText('waiting for an admin');

  await admin.goto(`/s/${slug}/requests`);
  await hydrated(admin);
  await admin.getByTestId('request').filter({ hasText: 'Nora Notify' }).getByRole('button', { name: 'Approve' }).click();
  await expect(admin.getByTestId('no-requests')).toBeVisible();

  // The decision reaches her bell (and her inbox by email).
  await expect(async () => {
    await nora.reload();
    await expect(nora.getByTestId('unread-count')).toHaveText('1', { timeout: 1000 });
  }).toPass({ timeout: 15_000 });
  await expect(nora.getByTestId('bell')).toHaveAttribute('aria-label', 'Notifications, 1 unread');
  await nora.getByTestId('bell').click();
  await expect(nora).toHaveURL(/\/notifications$/);
  await hydrated(nora);
  await expect(nora.getByTestId('notification').first()).toContainText(`Welcome to ${name}`);
  await nora.getByRole('button', { name: 'Mark all as read' }).click();
  await expect(nora.getByTestId('unread-count')).toHaveCount(0);
  const mail = await mailMatching('nora@example.org', new RegExp(`Welcome to ${name}`));
  expect(mail).toContain('/notifications/preferences');
});

/** HH:MM and YYYY-MM-DD (UTC) of `at`. */
function utc(at: Date) {
  return { date: at.toISOString().slice(0, 10), time: at.toISOString().slice(11, 16) };
}

async function book(page: Page, session: string) {
  await page.goto(session);
  await hydrated(page);
  await page.getByTestId('book').click();
  await expect(page.getByTestId('my-booking')).toHaveText('You have a spot.');
}

test('a member who switches reminders off by email gets none; the others do', async ({ browser }) => {
  // The reminder is two hours before a session that starts in two hours and two minutes: it
  // comes due during the test, and the every-minute job sends it.
  test.setTimeout(240_000);
  const admin = await (await browser.newContext()).newPage();
  await signIn(admin, 'admin', 'admin-pass', '/');
  const slug = await openSociety(admin, 'Reminder Club');
  await admin.goto(`/s/${slug}/settings`);
  await hydrated(admin);
  await admin.getByLabel('Reminder (hours before, 0: none)', { exact: true }).fill('2');
  await admin.getByLabel('Second reminder (hours before, 0: none)').fill('0');
  await admin.getByRole('button', { name: 'Save rules' }).click();
  await expect(admin.getByLabel('Reminder (hours before, 0: none)', { exact: true })).toHaveValue('2');

  const otto = await joinSociety(browser, 'otto', slug);
  const nora = await joinSociety(browser, 'nora', slug);
  await otto.goto('/notifications/preferences');
  await hydrated(otto);
  const reminderMail = otto.getByLabel('Reminders before a session: Email');
  await expect(reminderMail).toBeChecked();
  await reminderMail.uncheck();
  await otto.getByRole('button', { name: 'Save' }).click();
  await expect(otto.getByText('Your notification choices are saved.')).toBeVisible();
  await otto.reload();
  await hydrated(otto);
  await expect(otto.getByLabel('Reminders before a session: Email')).not.toBeChecked();
  await expect(otto.getByLabel('Reminders before a session: In the app')).toBeChecked();

  const title = unique('Early ergo');
  const start = utc(new Date(Date.now() + (2 * 60 + 2) * 60_000));
  await admin.goto(`/s/${slug}/events/new`);
  await hydrated(admin);
  await admin.getByLabel('Title').fill(title);
  await admin.getByLabel('Duration (minutes)').fill('60');
  await admin.getByLabel('Spots').fill('5');
  await admin.getByLabel('First date').fill(start.date);
  await admin.getByLabel('Start time').fill(start.time);
  await admin.getByRole('button', { name: 'Create event' }).click();
  await expect(admin.getByRole('heading', { level: 1 })).toHaveText(title);
  const session = new URL(admin.url()).pathname;
  await book(otto, session);
  await book(nora, session);

  const subject = new RegExp(`Reminder: ${title}`);
  const deadline = Date.now() + 200_000;
  while (!subjectsTo('nora@example.org').some((s) => subject.test(s))) {
    expect(Date.now(), 'Nora’s reminder arrives').toBeLessThan(deadline);
    await new Promise((r) => setTimeout(r, 1000));
  }
  const reminder = await mailMatching('nora@example.org', subject);
  expect(reminder).toContain(`${start.time} UTC`);
  // Otto's went to his notification list only.
  await expect(async () => {
    await otto.goto('/notifications');
    await expect(otto.getByTestId('notification').filter({ hasText: `Reminder: ${title}` })).toHaveCount(1, { timeout: 1000 });
  }).toPass({ timeout: 15_000 });
  await new Promise((r) => setTimeout(r, 2000));
  expect(subjectsTo('otto@example.org').filter((s) => subject.test(s))).toEqual([]);
});

test('the service worker shows a push message (delivered through CDP, as a push service would)', async ({ browser, baseURL }) => {
  const context = await browser.newContext();
  await context.grantPermissions(['notifications']);
  const page = await context.newPage();
  await signIn(page, 'nora', 'nora-pass', '/notifications/preferences');
  await hydrated(page);
  // The page offers push with the server's VAPID key (an uncompressed P-256 point).
  await expect(page.locator('#push-toggle')).toHaveAttribute('data-key', /^[A-Za-z0-9_-]{86,88}$/);
  await expect(page.locator('#push-toggle')).toHaveText('Turn on push on this device');
  const cdp = await context.newCDPSession(page);
  const registered = new Promise<string>((resolve) => {
    cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
      const ours = registrations.find((r: { scopeURL: string; isDeleted: boolean }) => r.scopeURL.startsWith(new URL(page.url()).origin) && !r.isDeleted);
      if (ours) resolve(ours.registrationId);
    });
  });
  await cdp.send('ServiceWorker.enable');
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  const registrationId = await registered;
  const origin = new URL(page.url()).origin;
  const message = { title: 'You have a spot: Squad, Tue 8 Dec 2026, 18:00 CET', body: 'A spot freed up.', url: '/my-bookings', tag: 'roster-1' };
  // A push service keeps a message until the worker takes it; CDP delivers once and can be
  // early for a worker that is still starting under load: deliver again until it shows (the
  // same tag replaces the notification, so it never shows twice).
  const shown = (tag?: string) =>
    page.evaluate(
      async (tag) => (await (await navigator.serviceWorker.ready).getNotifications(tag ? { tag } : undefined)).map((n) => `${n.title}|${n.body}|${n.data.url}`),
      tag,
    );
  await expect(async () => {
    await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId, data: JSON.stringify(message) });
    await expect.poll(() => shown(), { timeout: 3000 }).toContain(`${message.title}|${message.body}|/my-bookings`);
  }).toPass({ timeout: 20_000 });
  expect(await shown(message.tag)).toHaveLength(1);
  void baseURL;
});
