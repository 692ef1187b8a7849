import { expect, test } from '@playwright/test';
import { hydrated, isoDate, joinSociety, makeTrainer, openSociety, signIn } from './helpers';

const CODES = ['SU', 'MO', 'TU', 'WE', 'TH', 'FR', 'SA'];

test('an admin sets up a weekly series with a trainer, cancels one session, and everyone sees it', async ({ browser }) => {
  const admin = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await signIn(admin, 'admin', 'admin-pass', '/');
  // Anyone joins at once; the admin makes Tom a trainer.
  const slug = await openSociety(admin, 'Harbour Rowers');
  const trainer = await joinSociety(browser, 'trainer', slug);
  const member = await joinSociety(browser, 'member', slug, { width: 1280, height: 900 });
  await makeTrainer(admin, slug, 'Tom Trainer');

  // A weekly series on the next two days of the week, six sessions, taught by Tom.
  await admin.goto(`/s/${slug}/calendar`);
  await admin.getByRole('link', { name: 'New event' }).click();
  await hydrated(admin);
  const first = isoDate(1);
  const day1 = CODES[new Date(`${first}T12:00:00Z`).getUTCDay()];
  const day2 = CODES[new Date(`${isoDate(2)}T12:00:00Z`).getUTCDay()];
  await admin.getByLabel('Title').fill('Squad training');
  await admin.getByLabel('Duration (minutes)').fill('90');
  await admin.getByLabel('Spots').fill('12');
  await admin.getByLabel('Tom Trainer').check();
  await admin.getByLabel('First date').fill(first);
  await admin.getByLabel('Start time').fill('18:00');
  await admin.getByLabel('Weekly').check();
  await admin.locator(`#weekday-${day1}`).check();
  await admin.locator(`#weekday-${day2}`).check();
  await admin.getByLabel('After a number of sessions').check();
  await admin.getByLabel('Number of sessions', { exact: true }).fill('6');
  await admin.getByRole('button', { name: 'Create event' }).click();
  await expect(admin.getByTestId('event-created')).toHaveText('Event set up with 6 sessions.');
  await expect(admin.getByRole('heading', { level: 1 })).toHaveText('Squad training');
  await expect(admin.getByTestId('session-trainers')).toHaveText('Tom Trainer');
  const sessionUrl = admin.url();

  // The member sees both sessions of the week in the week view.
  await member.goto(`/s/${slug}/calendar?view=week&date=${first}`);
  const week = member.locator('.week-grid');
  await expect(week).toBeVisible();
  // Both fall in the week of the first, unless the first is a Sunday.
  await expect(week.getByTestId('session')).toHaveCount(day1 === 'SU' ? 1 : 2);
  await expect(week.getByTestId('session').filter({ hasText: 'Squad training' }).first()).toContainText('18:00–19:30');
  await expect(week.getByTestId('session').first()).toContainText('Tom Trainer');
  await expect(week.getByTestId('session').first()).toContainText('12 spots');

  // On a phone the calendar opens as an agenda.
  const phone = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  await signIn(phone, 'member', 'member-pass', `/s/${slug}/calendar?date=${first}`);
  const agenda = phone.locator('.agenda');
  await expect(agenda).toBeVisible();
  await expect(phone.locator('.week-grid')).toBeHidden();
  await expect(agenda.getByTestId('session').first()).toContainText('Squad training');
  await phone.getByRole('link', { name: 'Agenda' }).click();
  await expect(phone.locator('.agenda').getByTestId('session')).toHaveCount(6);

  // The admin cancels the first session with a reason.
  await admin.goto(sessionUrl);
  await hydrated(admin);
  await admin.getByText('Cancel this session').click();
  await admin.getByLabel('Reason (the people coming will read it)').fill('The river is flooded.');
  await admin.getByRole('button', { name: 'Cancel session' }).click();
  await expect(admin.getByTestId('cancelled-notice')).toContainText('The river is flooded.');

  // The member sees it struck through; the others are still on.
  await member.reload();
  const cancelled = member.locator('.week-grid [data-status="cancelled"]');
  await expect(cancelled).toHaveCount(1);
  await expect(cancelled).toContainText('Cancelled');
  const line = await cancelled.locator('.session-title').evaluate((el) => getComputedStyle(el).textDecorationLine);
  expect(line).toContain('line-through');

  // The trainer finds all six under "My sessions", the first one cancelled.
  await trainer.goto('/');
  await trainer.getByTestId('user-name').click();
  await trainer.getByRole('menuitem', { name: 'My sessions' }).click();
  await expect(trainer).toHaveURL(/\/my-sessions$/);
  const taught = trainer.getByTestId('session').filter({ hasText: 'Squad training' });
  await expect(taught).toHaveCount(6);
  await expect(taught.first()).toHaveAttribute('data-status', 'cancelled');
  await expect(taught.nth(1)).toHaveAttribute('data-status', 'scheduled');
});
