import { expect, test, type Page } from '@playwright/test';
import { hydrated, unique } from './helpers';

async function signIn(page: Page, username: string, password: string, next: string) {
  await page.goto(`/auth/login?next=${encodeURIComponent(next)}`);
  await page.locator('#username').fill(username);
  await page.locator('#password').fill(password);
  await page.locator('#kc-login').click();
}

test('a member asks to join and an admin approves with a reason', async ({ browser }) => {
  const admin = await (await browser.newContext()).newPage();
  const member = await (await browser.newContext()).newPage();

  // The admin creates a society.
  await signIn(admin, 'admin', 'admin-pass', '/societies/new');
  await hydrated(admin);
  const name = unique('Lakeside Paddlers');
  await admin.getByLabel('Name').pressSequentially(name);
  await admin.getByLabel('Time zone').fill('Europe/Berlin');
  await admin.getByRole('button', { name: 'Create society' }).click();
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  await expect(admin).toHaveURL(new RegExp(`/s/${slug}$`));

  // A member asks to join with a message.
  await signIn(member, 'member', 'member-pass', `/s/${slug}`);
  await hydrated(member);
  await member.getByLabel('Message to the admins (optional)').fill('I paddled at university.');
  await member.getByRole('button', { name: 'Ask to join' }).click();
  await expect(member.getByTestId('membership-status')).toContainText('waiting for an admin');

  // The admin sees the request in the queue and approves it.
  await admin.goto(`/s/${slug}/requests`);
  await hydrated(admin);
  const request = admin.getByTestId('request').filter({ hasText: 'Mia Member' });
  await expect(request).toContainText('I paddled at university.');
  await request.getByLabel('Reason (optional)', { exact: true }).fill('Welcome aboard');
  await request.getByRole('button', { name: 'Approve' }).click();
  await expect(admin.getByTestId('no-requests')).toBeVisible();

  // The member sees the result.
  await member.reload();
  await expect(member.getByTestId('membership-status')).toContainText('You are a member');
  await member.goto('/me');
  await expect(member.getByRole('row', { name: new RegExp(name) })).toContainText('Approved');
});
