// Accessibility: axe-core on every main page, as each kind of user, on a phone and a desktop,
// in light and dark mode: no serious or critical violations. And the main actions by keyboard
// alone, with a visible focus; touch targets of at least 44 px on phones.
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Browser, type Page } from '@playwright/test';
import { hydrated, isoDate, joinSociety, makeTrainer, newEvent, openSociety, sessionWithin, signIn } from './helpers';

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

async function serious(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'])
    .analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
}

async function check(page: Page, paths: string[], who: string) {
  const found: string[] = [];
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const path of paths) {
      await page.goto(path);
      await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
      for (const v of await serious(page)) found.push(`${who} ${scheme} ${path}: ${v}`);
    }
  }
  expect(found, found.join('\n')).toEqual([]);
}

let slug = '';
let session = '';

test.describe.configure({ mode: 'serial' });

test.beforeAll(async ({ browser }) => {
  const admin = await (await browser.newContext()).newPage();
  await signIn(admin, 'admin', 'admin-pass', '/');
  slug = await openSociety(admin, 'Axe Club');
  await joinSociety(browser, 'trainer', slug);
  await makeTrainer(admin, slug, 'Tom Trainer');
  session = await sessionWithin(admin, slug, { title: 'Axe session', spots: 6, trainer: 'Tom Trainer', startIn: 33 });
  await newEvent(admin, slug, { title: 'Later session', spots: 6, date: isoDate(3), time: '06:10', trainer: 'Tom Trainer', minutes: 20 });
  await admin.context().close();
});

async function as(browser: Browser, who: string, viewport: { width: number; height: number }) {
  const page = await (await browser.newContext({ viewport })).newPage();
  if (who !== 'visitor') await signIn(page, who, `${who}-pass`, '/');
  return page;
}

for (const [name, viewport] of [['phone', PHONE], ['desktop', DESKTOP]] as const) {
  test(`axe: a visitor's pages on a ${name}`, async ({ browser }) => {
    test.setTimeout(180_000);
    const page = await as(browser, 'visitor', viewport);
    await check(page, ['/', '/sign-in', `/s/${slug}`], 'visitor');
  });

  test(`axe: a member's pages on a ${name}`, async ({ browser }) => {
    test.setTimeout(180_000);
    const page = await as(browser, 'member', viewport);
    await page.goto(`/s/${slug}`);
    await hydrated(page);
    const ask = page.getByRole('button', { name: 'Ask to join' });
    if (await ask.count()) {
      await ask.click();
      await expect(page.getByTestId('membership-status')).toContainText('You are a member');
    }
    await page.goto(session);
    await hydrated(page);
    if (await page.getByTestId('book').count()) await page.getByTestId('book').click();
    await expect(page.getByTestId('my-booking')).toBeVisible();
    await check(page, [`/s/${slug}`, `/s/${slug}/calendar`, `/s/${slug}/calendar?view=month`, `/s/${slug}/calendar?view=agenda`, session, '/my-bookings', '/me', '/notifications', '/notifications/preferences'], 'member');
  });

  test(`axe: a trainer's pages on a ${name}`, async ({ browser }) => {
    test.setTimeout(180_000);
    const page = await as(browser, 'trainer', viewport);
    await check(page, ['/my-sessions', session, `/s/${slug}/calendar`], 'trainer');
  });

  test(`axe: an admin's pages on a ${name}`, async ({ browser }) => {
    test.setTimeout(180_000);
    const page = await as(browser, 'admin', viewport);
    await check(page, ['/', '/societies/new', `/s/${slug}/members`, `/s/${slug}/requests`, `/s/${slug}/invitations`, `/s/${slug}/settings`, `/s/${slug}/events/new`, `/s/${slug}/reports`, `/s/${slug}/audit`, `/s/${slug}/deliveries`, session, '/admin/jobs'], 'admin');
  });
}

/** The focused element shows a focus ring (an outline of at least 2 px). */
async function focusVisible(page: Page) {
  const outline = await page.evaluate(() => {
    const e = document.activeElement as HTMLElement | null;
    if (!e) return 0;
    const style = getComputedStyle(e);
    return style.outlineStyle === 'none' ? 0 : parseFloat(style.outlineWidth);
  });
  expect(outline).toBeGreaterThanOrEqual(2);
}

async function tabTo(page: Page, testid: string) {
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((id) => document.activeElement?.getAttribute('data-testid') === id, testid)) return;
  }
  throw new Error(`Tab never reached ${testid}`);
}

test('booking, cancelling and taking attendance by keyboard alone; 44 px targets on a phone', async ({ browser }) => {
  test.setTimeout(90_000);
  const rita = await joinSociety(browser, 'rower', slug, PHONE);
  await rita.goto(session);
  await hydrated(rita);
  await tabTo(rita, 'book');
  await focusVisible(rita);
  await rita.keyboard.press('Enter');
  await expect(rita.getByTestId('my-booking')).toHaveText('You have a spot.');
  for (const target of await rita.locator('main button:visible, main a.button:visible, main summary:visible').all()) {
    const box = await target.boundingBox();
    expect(box && box.height, await target.evaluate((e) => e.outerHTML.slice(0, 120))).toBeGreaterThanOrEqual(44);
  }
  await tabTo(rita, 'cancel-booking');
  await focusVisible(rita);
  await rita.keyboard.press('Enter');
  await expect(rita.getByTestId('book')).toBeVisible();
  await rita.getByTestId('book').focus();
  await rita.keyboard.press('Enter');
  await expect(rita.getByTestId('my-booking')).toHaveText('You have a spot.');

  const tom = await as(browser, 'trainer', PHONE);
  await tom.goto(session);
  await hydrated(tom);
  const line = tom.getByTestId('roster').getByTestId('confirmed').filter({ hasText: 'Rita Rower' });
  await line.getByTestId('mark-present').focus();
  await focusVisible(tom);
  await tom.keyboard.press('Enter');
  await expect(line).toHaveAttribute('data-attendance', 'present');
  // Measured until the line is drawn (the live roster may be redrawing it).
  await expect.poll(async () => (await line.getByTestId('mark-late').boundingBox())?.height ?? 0).toBeGreaterThanOrEqual(44);
});

test('an admin approves a request by keyboard alone', async ({ browser }) => {
  test.setTimeout(90_000);
  const admin = await as(browser, 'admin', DESKTOP);
  const closed = await openSociety(admin, 'Keyboard Club');
  await admin.goto(`/s/${closed}/settings`);
  await hydrated(admin);
  await admin.getByLabel('An admin approves each request').check();
  await admin.getByRole('button', { name: 'Save settings' }).click();
  await expect(admin.getByTestId('saved')).toBeVisible();
  const pat = await as(browser, 'member', PHONE);
  await pat.goto(`/s/${closed}`);
  await hydrated(pat);
  await pat.getByRole('button', { name: 'Ask to join' }).click();
  await expect(pat.getByTestId('membership-status')).toBeVisible();
  await admin.goto(`/s/${closed}/requests`);
  await hydrated(admin);
  const approve = admin.getByRole('button', { name: /Approve/ }).first();
  await approve.focus();
  await focusVisible(admin);
  await admin.keyboard.press('Enter');
  await expect(admin.getByRole('button', { name: /Approve/ })).toHaveCount(0);
});

test('a field error shows at its field, which takes the focus', async ({ browser }) => {
  const admin = await as(browser, 'admin', DESKTOP);
  await admin.goto(session);
  await hydrated(admin);
  await admin.getByText('Book a member into this session').click();
  await admin.getByLabel('Member (email or name)').fill('nobody at all');
  await admin.getByLabel('Reason (the member reads it)').fill('Testing');
  await admin.getByRole('button', { name: 'Add booking' }).click();
  const note = admin.locator('#add-who-error');
  await expect(note).toContainText('No approved member of this society has that name or email.');
  await expect(admin.getByLabel('Member (email or name)')).toBeFocused();
  await expect(admin.getByLabel('Member (email or name)')).toHaveAttribute('aria-invalid', 'true');
  await expect(admin.getByLabel('Member (email or name)')).toHaveAttribute('aria-describedby', /add-who-error/);
});
