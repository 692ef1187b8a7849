import { expect, test, type Page } from '@playwright/test';
import { linkIn, mailMatching, signIn, unique } from './helpers';

// The main forms without JavaScript: each is a plain HTML form that posts, and the server
// answers with the page again (or the next one), errors included. Runs in the
// `no-javascript` project (javaScriptEnabled: false).

/** Nothing hydrates here: the WASM never runs, so the page is what the server sent. */
async function notHydrated(page: Page) {
  await page.waitForLoadState('load');
  await expect(page.locator('body')).not.toHaveAttribute('data-hydrated', 'true');
}

test('signing in with an emailed link works as plain forms', async ({ page }) => {
  const email = `${unique('nojs')}@example.org`;
  await page.goto('/sign-in?next=/me');
  await notHydrated(page);
  await page.getByLabel('Email address').fill(email);
  await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
  // The server answers with the page again, saying what happened.
  await expect(page.getByTestId('link-sent')).toContainText('Check your inbox');
  await expect(page).toHaveURL(/\/sign-in\?next=%2Fme$/);

  const link = linkIn(await mailMatching(email, /sign-in link/));
  await page.goto(link);
  await page.getByRole('button', { name: 'Sign in to Roster' }).click();
  await expect(page).toHaveURL(/\/me$/);
  await expect(page.getByTestId('me-email')).toHaveText(email);

  // A bad address (too long: the browser lets it through) is a clear error on the same page.
  await page.goto('/sign-in');
  await page.getByLabel('Email address').fill(`${'x'.repeat(250)}@example.org`);
  await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
  await expect(page.getByRole('alert')).toContainText('valid email address');
});

test('creating a society, joining, deciding, inviting and settings work without JavaScript', async ({ browser }) => {
  const context = { javaScriptEnabled: false };
  const admin = await (await browser.newContext(context)).newPage();
  const member = await (await browser.newContext(context)).newPage();

  await signIn(admin, 'admin', 'admin-pass', '/societies/new');
  await notHydrated(admin);
  const name = unique('Plain Form Rowing');
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  await admin.getByLabel('Name').fill(name);
  // Without JavaScript nothing suggests the address: type it.
  await admin.getByLabel('Web address').fill(slug);
  await admin.getByLabel('Time zone').fill('Europe/Berlin');
  await admin.getByRole('button', { name: 'Create society' }).click();
  await expect(admin).toHaveURL(new RegExp(`/s/${slug}$`));
  await expect(admin.getByRole('heading', { level: 1 })).toHaveText(name);

  // A member asks to join.
  await signIn(member, 'member', 'member-pass', `/s/${slug}`);
  await member.getByLabel('Message to the admins (optional)').fill('No scripts here.');
  await member.getByRole('button', { name: 'Ask to join' }).click();
  await expect(member.getByTestId('membership-status')).toContainText('waiting for an admin');

  // The admin approves it from the queue.
  await admin.goto(`/s/${slug}/requests`);
  const request = admin.getByTestId('request').filter({ hasText: 'Mia Member' });
  await expect(request).toContainText('No scripts here.');
  await request.getByRole('button', { name: 'Approve' }).click();
  await expect(admin).toHaveURL(new RegExp(`/s/${slug}/requests\\??$`));
  await expect(admin.getByTestId('no-requests')).toBeVisible();
  await member.reload();
  await expect(member.getByTestId('membership-status')).toContainText('You are a member');

  // Inviting an address that is already a member is refused, with the reason on the page.
  await admin.goto(`/s/${slug}/invitations`);
  await admin.getByLabel('Email address').fill('member@example.org');
  await admin.getByRole('button', { name: 'Send invitation' }).click();
  await expect(admin.getByRole('alert')).toContainText('already a member');
  // A new address is invited and listed.
  const invitee = `${unique('invitee')}@example.org`;
  await admin.getByLabel('Email address').fill(invitee);
  await admin.getByRole('button', { name: 'Send invitation' }).click();
  await expect(admin.getByTestId('invitation-row').filter({ hasText: invitee })).toContainText('Sent');
  await mailMatching(invitee, /You are invited/);

  // The directory searches with a GET form, and a role changes with a plain post.
  await admin.goto(`/s/${slug}/members`);
  await admin.getByLabel('Search by name or email').fill('Mia');
  await admin.getByRole('button', { name: 'Search' }).click();
  await expect(admin).toHaveURL(/members\?q=Mia/);
  const row = admin.getByTestId('member-row').filter({ hasText: 'Mia Member' });
  await row.getByText('Manage').click();
  await row.getByLabel('Role').selectOption('trainer');
  await row.getByRole('button', { name: 'Change role' }).click();
  await expect(admin.getByTestId('member-row').filter({ hasText: 'Mia Member' }).getByTestId('member-role')).toHaveText('Trainer');

  // Settings are saved and shown.
  await admin.goto(`/s/${slug}/settings`);
  await admin.getByLabel('Description').fill('We row without scripts.');
  await admin.getByRole('button', { name: 'Save settings' }).click();
  await expect(admin.getByLabel('Description')).toHaveValue('We row without scripts.');
  await admin.goto(`/s/${slug}`);
  await expect(admin.getByText('We row without scripts.')).toBeVisible();
});

test('setting up a session, a clash, a booking and a cancellation work without JavaScript', async ({ browser }) => {
  const admin = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
  await signIn(admin, 'admin', 'admin-pass', '/societies/new');
  await notHydrated(admin);
  const name = unique('Plain Rowers');
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  await admin.getByLabel('Name').fill(name);
  await admin.getByLabel('Web address').fill(slug);
  await admin.getByLabel('Time zone').fill('Europe/Berlin');
  await admin.getByRole('button', { name: 'Create society' }).click();
  await expect(admin).toHaveURL(new RegExp(`/s/${slug}$`));

  const day = new Date(Date.now() + 2 * 864e5).toISOString().slice(0, 10);
  const create = async (title: string, time: string) => {
    await admin.goto(`/s/${slug}/events/new`);
    await admin.getByLabel('Title').fill(title);
    await admin.getByLabel('Ada Admin').check();
    await admin.getByLabel('First date').fill(day);
    await admin.getByLabel('Start time').fill(time);
    await admin.getByRole('button', { name: 'Create event' }).click();
  };
  await create('Early squad', '07:00');
  await expect(admin.getByTestId('event-created')).toHaveText('Event set up with 1 session.');
  await expect(admin.getByRole('heading', { level: 1 })).toHaveText('Early squad');
  const sessionUrl = admin.url();

  // The same trainer half an hour later: the server answers with the form page and says why.
  await create('Clashing squad', '07:30');
  await expect(admin.getByRole('alert')).toContainText('already teaches “Early squad”');

  // Booking a spot is a plain form too; the page comes back saying so.
  await admin.goto(sessionUrl);
  await admin.getByTestId('book').click();
  await expect(admin.getByTestId('booked')).toContainText('You have a spot');
  await expect(admin.getByTestId('my-booking')).toHaveText('You have a spot.');
  await expect(admin.getByTestId('spots-left')).toHaveText('11 spots left');

  await admin.getByText('Cancel this session').click();
  await admin.getByLabel('Reason (the people coming will read it)').fill('No boats today.');
  await admin.getByRole('button', { name: 'Cancel session' }).click();
  await expect(admin.getByTestId('cancelled-notice')).toContainText('No boats today.');
  await admin.goto(`/s/${slug}/calendar?view=agenda&date=${day}`);
  await expect(admin.getByTestId('session')).toHaveAttribute('data-status', 'cancelled');
});

test('without JavaScript the pages run under the CSP without a violation', async ({ page }) => {
  const refused: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) refused.push(m.text());
  });
  await signIn(page, 'trainer', 'trainer-pass', '/me');
  for (const path of ['/', '/me', '/my-sessions', '/my-bookings', '/notifications', '/notifications/preferences', '/sign-in']) {
    const response = await page.goto(path);
    await notHydrated(page);
    expect(response?.headers()['content-security-policy'], path).toContain("frame-ancestors 'none'");
  }
  expect(refused).toEqual([]);
});

test('a field error comes back at its field, which has the focus', async ({ browser }) => {
  const withJs = await (await browser.newContext({ javaScriptEnabled: true })).newPage();
  await signIn(withJs, 'admin', 'admin-pass', '/');
  await expect(withJs.getByTestId('user-name')).toBeVisible();
  const slug = unique('nojs-field');
  await withJs.goto('/societies/new');
  await expect(withJs.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await withJs.getByLabel('Name').pressSequentially(slug);
  await withJs.getByLabel('Time zone').fill('UTC');
  await withJs.getByRole('button', { name: 'Create society' }).click();
  await expect(withJs).toHaveURL(new RegExp(`/s/${slug}$`));
  const day = new Date(Date.now() + 2 * 864e5).toISOString().slice(0, 10);
  const created = await withJs.evaluate(async ([slug, day]) => {
    const body = new URLSearchParams({ slug, title: 'Field club night', capacity: '5', duration_minutes: '60', start_date: day, start_time: '18:00' });
    const r = await fetch('/api/create_event', { method: 'POST', body, headers: { accept: 'application/json' } });
    return (await r.json()).occurrence_ids[0];
  }, [slug, day]);
  const admin = await (await browser.newContext({ javaScriptEnabled: false, storageState: await withJs.context().storageState() })).newPage();
  await admin.goto(`/s/${slug}/sessions/${created}`);
  await notHydrated(admin);
  await admin.getByText('Book a member into this session').click();
  await admin.getByLabel('Member (email or name)').fill('nobody at all');
  await admin.getByLabel('Reason (the member reads it)').fill('Testing');
  await admin.getByRole('button', { name: 'Add booking' }).click();
  await expect(admin.locator('#add-who-error')).toContainText('No approved member of this society has that name or email.');
  await expect(admin.getByLabel('Member (email or name)')).toBeFocused();
  await expect(admin.getByLabel('Member (email or name)')).toHaveAttribute('aria-describedby', 'add-who-error');
});

test('every form puts its field errors at the field: society, event, session and roster forms', async ({ browser }) => {
  const admin = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
  await signIn(admin, 'admin', 'admin-pass', '/societies/new');
  await notHydrated(admin);
  const name = unique('Field Rowers');
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  const field = async (label: string | RegExp, note: string, text: string | RegExp) => {
    const input = admin.getByLabel(label, { exact: typeof label === 'string' });
    await expect(admin.locator(`#${note}`)).toContainText(text);
    await expect(input).toHaveAttribute('aria-invalid', 'true');
    await expect(input).toHaveAttribute('aria-describedby', new RegExp(`(^| )${note}( |$)`));
    await expect(input).toBeFocused();
  };

  // A time zone nobody knows: the error stands under the time zone.
  await admin.getByLabel('Name').fill(name);
  await admin.getByLabel('Web address').fill(slug);
  await admin.getByLabel('Time zone').fill('Mars/Olympus');
  await admin.getByRole('button', { name: 'Create society' }).click();
  await field('Time zone', 'time_zone-error', 'not a time zone we know');
  await admin.getByLabel('Name').fill(name);
  await admin.getByLabel('Web address').fill(slug);
  await admin.getByLabel('Time zone').fill('Europe/Berlin');
  await admin.getByRole('button', { name: 'Create society' }).click();
  await expect(admin).toHaveURL(new RegExp(`/s/${slug}$`));

  // The same address again: the error is the web address's (a field of an island).
  await admin.goto('/societies/new');
  await admin.getByLabel('Name').fill(name);
  await admin.getByLabel('Web address').fill(slug);
  await admin.getByLabel('Time zone').fill('UTC');
  await admin.getByRole('button', { name: 'Create society' }).click();
  await field('Web address', 'slug-error', /taken|in use/);
  await expect(admin.locator('#name-error')).toBeEmpty();

  // Settings: the same for the society's time zone.
  await admin.goto(`/s/${slug}/settings`);
  await admin.getByLabel('Time zone').fill('Nowhere/Special');
  await admin.getByRole('button', { name: 'Save settings' }).click();
  await field('Time zone', 'time_zone-error', 'not a time zone we know');

  // A weekly series without a weekday: the note is the weekdays', the first one has the focus.
  const day = new Date(Date.now() + 2 * 864e5).toISOString().slice(0, 10);
  await admin.goto(`/s/${slug}/events/new`);
  await admin.getByLabel('Title').fill('Weekly squad');
  await admin.getByLabel('First date').fill(day);
  await admin.getByLabel('Weekly').check();
  await admin.getByLabel('Last date').fill(day);
  await admin.getByRole('button', { name: 'Create event' }).click();
  await expect(admin.locator('#weekdays-error')).toContainText('Choose at least one weekday');
  await expect(admin.getByLabel('Mon', { exact: true })).toBeFocused();
  await expect(admin.getByRole('group', { name: 'On', exact: true })).toHaveAttribute('aria-describedby', 'weekdays-error');
  // The series' fields stay shown (Weekly is chosen again).
  await expect(admin.getByLabel('Weekly')).toBeChecked();

  // A session: its own change form and the series' form post to one server function; the
  // error stands in the form that was sent, which is open.
  await admin.getByLabel('Title').fill('Single squad');
  await admin.getByLabel('First date').fill(day);
  await admin.getByLabel('Once').check();
  await admin.getByRole('button', { name: 'Create event' }).click();
  await expect(admin.getByTestId('event-created')).toBeVisible();
  const session = admin.url();
  await admin.getByText('Change this session').click();
  await admin.locator('#one-date').fill('2300-01-01');
  await admin.getByRole('button', { name: 'Save this session' }).click();
  await expect(admin.locator('#one-date-error')).toContainText('Choose a date between 1900 and 2200.');
  await expect(admin.locator('#one-date')).toBeFocused();
  await expect(admin.locator('#one-date')).toHaveAttribute('aria-invalid', 'true');
  await expect(admin.locator('#series-time-error')).toBeEmpty();
  await expect(admin.locator('#series-title')).not.toHaveAttribute('aria-invalid');

  // A roster row: the reason for removing one booking, blank, stands at that row's field.
  await admin.goto(session);
  await admin.getByTestId('book').click();
  await expect(admin.getByTestId('booked')).toBeVisible();
  const line = admin.getByTestId('confirmed').first();
  await line.getByText('Remove', { exact: true }).click();
  await line.getByLabel(/Why remove/).fill('   ');
  await line.getByRole('button', { name: 'Remove booking' }).click();
  const again = admin.getByTestId('confirmed').first();
  await expect(again.locator('[data-field-error="reason"]')).toContainText('Give a reason');
  await expect(again.getByLabel(/Why remove/)).toBeFocused();
  await expect(again.getByLabel(/Why remove/)).toHaveAttribute('aria-invalid', 'true');
});
