import { expect, test } from '@playwright/test';
import { readFile } from 'node:fs/promises';
import { hydrated, isoDate, joinSociety, makeTrainer, newEvent, openSociety, sessionWithin, signIn } from './helpers';

test('a member books, another joins the waitlist, the first cancels and the second has the spot', async ({ browser }) => {
  const admin = await (await browser.newContext()).newPage();
  await signIn(admin, 'admin', 'admin-pass', '/');
  const slug = await openSociety(admin, 'Booking Club');
  const mia = await joinSociety(browser, 'member', slug);
  const rita = await joinSociety(browser, 'rower', slug);
  const session = await newEvent(admin, slug, { title: 'Sculling clinic', spots: 1, date: isoDate(2), time: '18:00' });

  await mia.goto(session);
  await hydrated(mia);
  await expect(mia.getByTestId('spots-left')).toHaveText('1 spot left');
  await mia.getByTestId('book').click();
  await expect(mia.getByTestId('booked')).toContainText('You have a spot');
  await expect(mia.getByTestId('my-booking')).toHaveText('You have a spot.');

  await rita.goto(session);
  await hydrated(rita);
  await expect(rita.getByTestId('spots-left')).toHaveText('Full');
  await expect(rita.getByTestId('book')).toHaveText('Join the waitlist');
  await rita.getByTestId('book').click();
  await expect(rita.getByTestId('my-booking')).toHaveText('You are number 1 on the waitlist.');
  await expect(rita.getByTestId('spots-left')).toHaveText('Full · 1 waiting');

  // Mia cancels; Rita's open page sees the waitlist empty at once (live counts), and Rita
  // has the spot.
  await mia.getByTestId('cancel-booking').click();
  await expect(mia.getByTestId('booking-cancelled')).toHaveText('Booking cancelled.');
  await expect(rita.getByTestId('spots-left')).toHaveText('Full');
  await rita.reload();
  await expect(rita.getByTestId('my-booking')).toHaveText('You have a spot.');
  await rita.goto('/my-bookings');
  await expect(rita.getByTestId('my-booking-row').first()).toHaveAttribute('data-status', 'confirmed');

  // The calendar shows the counts too.
  await mia.goto(`/s/${slug}/calendar?view=agenda&date=${isoDate(2)}`);
  await expect(mia.getByTestId('session-spots').first()).toHaveText('Full');
});

test('the trainer takes attendance on a phone', async ({ browser }) => {
  const admin = await (await browser.newContext()).newPage();
  await signIn(admin, 'admin', 'admin-pass', '/');
  const slug = await openSociety(admin, 'Attendance Club');
  const phone = await joinSociety(browser, 'trainer', slug, { width: 390, height: 844 });
  const mia = await joinSociety(browser, 'member', slug);
  await makeTrainer(admin, slug, 'Tom Trainer');
  // In half an hour: attendance can be taken from an hour before.
  const session = await sessionWithin(admin, slug, { title: 'Early paddle', spots: 8, trainer: 'Tom Trainer', startIn: 40 });
  await mia.goto(session);
  await hydrated(mia);
  await mia.getByTestId('book').click();
  await expect(mia.getByTestId('my-booking')).toHaveText('You have a spot.');

  await phone.goto('/my-sessions');
  await phone.getByTestId('session').first().click();
  await hydrated(phone);
  const roster = phone.getByTestId('roster');
  await expect(roster).toBeVisible();
  const line = roster.getByTestId('confirmed').filter({ hasText: 'Mia Member' });
  await expect(line).toBeVisible();
  await line.getByTestId('mark-present').click();
  await expect(phone.getByTestId('roster').getByTestId('confirmed').filter({ hasText: 'Mia Member' })).toHaveAttribute('data-attendance', 'present');
  // The buttons fit the phone's width. (The live roster may redraw its lines meanwhile: a
  // line being replaced has no box yet, so measure until one is there.)
  const absent = phone.getByTestId('roster').getByTestId('mark-absent').first();
  await expect.poll(async () => {
    const box = await absent.boundingBox();
    return box ? box.x + box.width : Infinity;
  }).toBeLessThanOrEqual(390);
  // A walk-in joins, shown as such.
  await phone.getByLabel('Add a walk-in').fill('admin@example.org');
  await phone.getByRole('button', { name: 'Add', exact: true }).click();
  await expect(phone.getByTestId('roster').getByTestId('confirmed').filter({ hasText: 'Ada Admin' })).toContainText('Walk-in');
  // The roster comes as a spreadsheet from the page itself.
  const [download] = await Promise.all([phone.waitForEvent('download'), phone.getByTestId('roster-csv').click()]);
  expect(download.suggestedFilename()).toMatch(/\.csv$/);
  const csv = await readFile(await download.path(), 'utf8');
  expect(csv).toContain('Mia Member');
  expect(csv).toContain('present');
});

test('a member enrols in a term and marks one absence', async ({ browser }) => {
  const admin = await (await browser.newContext()).newPage();
  await signIn(admin, 'admin', 'admin-pass', '/');
  const slug = await openSociety(admin, 'Term Club');
  const mia = await joinSociety(browser, 'member', slug);
  const session = await newEvent(admin, slug, { title: 'Autumn term', spots: 6, date: isoDate(1), time: '19:00', weekly: 3 });

  await mia.goto(session);
  await hydrated(mia);
  await mia.getByText('Enrol in the whole term').click();
  await mia.getByTestId('enrol').click();
  await expect(mia.getByTestId('enrolment')).toBeVisible();
  await expect(mia.getByTestId('my-booking')).toHaveText('You have a spot.');
  await mia.getByTestId('excuse').click();
  await expect(mia.getByTestId('booking-excused')).toContainText('your term stays');
  await expect(mia.getByTestId('my-booking')).toHaveAttribute('data-status', 'excused');
  await expect(mia.getByTestId('spots-left')).toHaveText('6 spots left');

  await mia.goto('/my-bookings');
  // (Mia has bookings of the other journeys' societies too.) The term holds the sessions
  // whose booking has opened (14 days ahead): tomorrow's and next week's; the third is booked
  // when its window opens.
  const rows = mia.getByTestId('my-booking-row').filter({ hasText: 'Autumn term' });
  await expect(rows).toHaveCount(2);
  await expect(rows.first()).toHaveAttribute('data-status', 'excused');
  await expect(rows.nth(1)).toHaveAttribute('data-status', 'confirmed');
});
