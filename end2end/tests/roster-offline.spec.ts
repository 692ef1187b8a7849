// A trainer's roster without a connection: kept from My sessions, marks and a walk-in made
// offline, sent once when the connection is back; a conflict shown; check-in codes scanned by
// the camera (a fake camera showing the member's own code), online and offline; and a member's
// open page told at once that they moved up from the waitlist.
import { chromium, expect, test, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { AppServer, Proxy, fakeCameraFile, sql } from './appserver';
import { controlled, hydrated, joinSociety, keptPages, makeTrainer, openSociety, sessionWithin, signIn } from './helpers';

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



/** A society with a short session starting in `startIn` minutes (attendance is open from an
 * hour before), taught by Tom (each test at its own time: a trainer never teaches two
 * sessions at once); Mia and Rita booked. */
async function sessionSoon(browser: Browser, prefix: string, startIn: number, spots = 8) {
  const admin = await (await browser.newContext()).newPage();
  await signIn(admin, 'admin', 'admin-pass', '/');
  const slug = await openSociety(admin, prefix);
  const trainer = await joinSociety(browser, 'trainer', slug, { width: 390, height: 844 });
  await makeTrainer(admin, slug, 'Tom Trainer');
  const session = await sessionWithin(admin, slug, { title: `${prefix} session`, spots, trainer: 'Tom Trainer', startIn });
  const id = session.split('/').pop()!;
  const members: Page[] = [];
  for (const who of ['member', 'rower']) {
    const page = await joinSociety(browser, who, slug);
    await page.goto(session);
    await hydrated(page);
    await page.getByTestId('book').click();
    await expect(page.getByTestId('my-booking')).toHaveAttribute('data-status', /confirmed|waitlisted/);
    members.push(page);
  }
  return { admin, trainer, slug, session, id, mia: members[0], rita: members[1] };
}

/** The trainer opens My sessions at the proxy's address: the coming rosters are kept. */
async function keepRosters(trainer: Page, session: string) {
  await trainer.goto(proxy.url + '/my-sessions');
  await controlled(trainer);
  await trainer.reload();
  await expect.poll(() => keptPages(trainer), { timeout: 15_000 }).toContain(session);
}

function userId(email: string) {
  return sql(`select id from users where email = '${email}'`);
}

function attendance(occurrence: string, email: string) {
  return sql(`select coalesce(attendance::text, '') from bookings where occurrence_id = '${occurrence}' and user_id = '${userId(email)}' and status = 'confirmed'`);
}

async function goOffline(context: BrowserContext) {
  proxy.offline();
  await context.setOffline(true);
}

async function goOnline(context: BrowserContext) {
  proxy.onlineAgain();
  await context.setOffline(false);
}

test('offline roster: marks and a walk-in wait, are sent once on reconnect, and a conflict is shown', async ({ browser }) => {
  test.setTimeout(120_000);
  const { admin, trainer, id, session } = await sessionSoon(browser, 'Basement Club', 12);
  await keepRosters(trainer, session);

  // In the basement: no connection at all.
  await goOffline(trainer.context());
  await trainer.goto(proxy.url + session);
  await expect(trainer.getByTestId('app-banner')).toContainText(/Offline — as of \d\d:\d\d/);
  const roster = trainer.getByTestId('roster');
  await expect(roster.getByTestId('confirmed')).toHaveCount(2);
  await roster.getByTestId('confirmed').filter({ hasText: 'Mia Member' }).getByTestId('mark-present').click();
  await roster.getByTestId('confirmed').filter({ hasText: 'Rita Rower' }).getByTestId('mark-late').click();
  await trainer.getByLabel('Add a walk-in').fill('admin@example.org');
  await trainer.getByRole('button', { name: 'Add', exact: true }).click();
  await expect(roster.getByTestId('sync-status')).toHaveText('Offline — 3 changes waiting');
  await expect(roster.getByTestId('confirmed').filter({ hasText: 'Mia Member' })).toHaveAttribute('data-attendance', 'present');
  await expect(roster.getByTestId('walk-in-waiting')).toContainText('admin@example.org');
  // Nothing reached the server.
  expect(attendance(id, 'member@example.org')).toBe('');
  // The changes outlive the page: opened again, still waiting.
  await trainer.reload();
  await expect(trainer.getByTestId('roster').getByTestId('sync-status')).toHaveText('Offline — 3 changes waiting');

  // Meanwhile the admin, online, marks Rita absent.
  const rita = userId('rower@example.org');
  const marked = await admin.request.put(`/api/v1/occurrences/${id}/attendance/${rita}`, { data: { state: 'absent' } });
  expect(marked.status()).toBe(200);

  // Back online: sent, in order, once.
  await goOnline(trainer.context());
  await expect(trainer.getByTestId('roster').getByTestId('sync-status')).toHaveText('Synced', { timeout: 15_000 });
  const conflict = trainer.getByTestId('sync-conflict');
  await expect(conflict).toHaveCount(1);
  await expect(conflict).toContainText('Ada Admin marked Rita Rower absent at');
  await expect(conflict).toContainText('your change (late) was not applied');
  expect(attendance(id, 'member@example.org')).toBe('present');
  expect(attendance(id, 'rower@example.org')).toBe('absent');
  expect(sql(`select count(*) from bookings where occurrence_id = '${id}' and walk_in and status = 'confirmed' and attendance = 'present'`)).toBe('1');
  await expect(trainer.getByTestId('roster').getByTestId('confirmed').filter({ hasText: 'Ada Admin' })).toContainText('Walk-in');
  const marks = () => sql(`select count(*) from audit_log where action = 'attendance.marked' and subject_id = '${userId('member@example.org')}' and society_id = (select society_id from occurrences where id = '${id}')`);
  expect(marks()).toBe('1');
  // The same change sent again (a lost answer, a second tab) is applied once.
  const key = crypto.randomUUID();
  for (let i = 0; i < 2; i++) {
    const again = await trainer.evaluate(async ([url, key]) => (await fetch(url, {
      method: 'PUT', headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key }, body: JSON.stringify({ state: 'late', seen: 'present' }),
    })).status, [`/api/v1/occurrences/${id}/attendance/${userId('member@example.org')}`, key] as const);
    expect(again).toBe(200);
  }
  expect(marks()).toBe('2');
  await conflict.getByRole('button', { name: 'Dismiss' }).click();
  await expect(trainer.getByTestId('sync-conflict')).toHaveCount(0);
});

/** The member's check-in code, as a grey picture for the fake camera. */
async function cameraShowing(member: Page, session: string): Promise<string> {
  await member.goto(session);
  await member.getByTestId('checkin').locator('summary').click();
  const svg = await member.getByTestId('checkin-qr').locator('svg').evaluate((e) => e.outerHTML);
  const [width, height] = [640, 480];
  const luma = await member.evaluate(async ([svg, width, height]) => {
    const image = new Image();
    image.src = 'data:image/svg+xml;base64,' + btoa(svg);
    await image.decode();
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    const c = canvas.getContext('2d')!;
    c.fillStyle = '#fff';
    c.fillRect(0, 0, width, height);
    c.drawImage(image, (width - 400) / 2, (height - 400) / 2, 400, 400);
    const rgba = c.getImageData(0, 0, width, height).data;
    const out = new Uint8Array(width * height);
    for (let i = 0; i < out.length; i++) out[i] = Math.round(0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]);
    let text = '';
    for (let i = 0; i < out.length; i += 8192) text += String.fromCharCode(...out.subarray(i, i + 8192));
    return btoa(text);
  }, [svg, width, height] as const);
  return fakeCameraFile(Buffer.from(luma, 'base64'), width, height);
}

/** A browser whose camera shows `file`, signed in as the trainer at the proxy's address. */
async function trainerWithCamera(file: string) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROME_PATH || '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${file}`,
    ],
  });
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, permissions: ['camera'] });
  const page = await context.newPage();
  await page.goto(`${proxy.url}/auth/login?next=/my-sessions`);
  await page.locator('#username').fill('trainer');
  await page.locator('#password').fill('trainer-pass');
  await page.locator('#kc-login').click();
  await expect(page.getByRole('heading', { name: 'My sessions' })).toBeVisible();
  return { browser, context, page };
}

test('QR check-in: the camera reads a member\'s code and marks them present, online and offline', async ({ browser }) => {
  test.setTimeout(120_000);
  const { id, session, mia, rita } = await sessionSoon(browser, 'Scan Club', 19);

  // Online: Mia shows her code.
  const miaCamera = await cameraShowing(mia, session);
  const first = await trainerWithCamera(miaCamera);
  try {
    await first.page.goto(proxy.url + session);
    await hydrated(first.page);
    await first.page.getByTestId('scan-start').click();
    await expect(first.page.getByTestId('scan-result')).toHaveText('Mia Member: present.', { timeout: 15_000 });
    await expect.poll(() => attendance(id, 'member@example.org')).toBe('present');
    // Read again a moment later: already marked, nothing changes.
    await expect(first.page.getByTestId('scan-result')).toHaveText('Mia Member is already marked present.', { timeout: 15_000 });
  } finally {
    await first.browser.close();
  }

  // Offline: Rita's code, read from the roster kept on the phone.
  const ritaCamera = await cameraShowing(rita, session);
  const second = await trainerWithCamera(ritaCamera);
  try {
    await keepRosters(second.page, session);
    await goOffline(second.context);
    await second.page.goto(proxy.url + session);
    await expect(second.page.getByTestId('app-banner')).toContainText('Offline — as of');
    await second.page.getByTestId('scan-start').click();
    await expect(second.page.getByTestId('scan-result')).toHaveText('Rita Rower: present (sent when back online).', { timeout: 15_000 });
    await expect(second.page.getByTestId('sync-status')).toHaveText('Offline — 1 change waiting');
    expect(attendance(id, 'rower@example.org')).toBe('');
    await goOnline(second.context);
    await expect(second.page.getByTestId('sync-status')).toHaveText('Synced', { timeout: 15_000 });
    expect(attendance(id, 'rower@example.org')).toBe('present');
  } finally {
    await second.browser.close();
  }
});

test('a member\'s open page hears at once that they moved up from the waitlist', async ({ browser }) => {
  test.setTimeout(120_000);
  const { session, mia, rita } = await sessionSoon(browser, 'Waitlist Club', 26, 1);
  // Mia booked first and has the spot; Rita waits. Rita's page is open elsewhere.
  await expect(rita.getByTestId('my-booking')).toHaveAttribute('data-status', 'waitlisted');
  await rita.goto('/my-bookings');
  await hydrated(rita);
  const before = await rita.getByTestId('bell').getAttribute('aria-label');
  await mia.goto(session);
  await hydrated(mia);
  await mia.getByTestId('cancel-booking').click();
  await expect(rita.getByTestId('app-banner')).toContainText('You have a spot', { timeout: 20_000 });
  await expect(rita.getByTestId('bell')).not.toHaveAttribute('aria-label', before ?? '');
  await expect(rita.getByTestId('unread-count')).toBeVisible();
});
