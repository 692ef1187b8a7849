import { expect, test } from '@playwright/test';
import { hydrated, linkIn, mailMatching, signIn, unique } from './helpers';

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

  // The admin sees the count in the society's navigation and opens the queue from there.
  await admin.goto(`/s/${slug}`);
  await hydrated(admin);
  const tabs = admin.getByRole('navigation', { name: `${name} pages` });
  await expect(tabs.getByTestId('pending-count')).toHaveText('1');
  await tabs.getByRole('link', { name: /Requests/ }).click();
  await expect(admin).toHaveURL(new RegExp(`/s/${slug}/requests$`));
  const request = admin.getByTestId('request').filter({ hasText: 'Mia Member' });
  await expect(request).toContainText('I paddled at university.');
  await request.getByLabel('Reason (optional)', { exact: true }).fill('Welcome aboard');
  await request.getByRole('button', { name: 'Approve' }).click();
  await expect(admin.getByTestId('no-requests')).toBeVisible();
  await expect(tabs.getByTestId('pending-count')).toHaveCount(0);

  // The member sees the result.
  await member.reload();
  await expect(member.getByTestId('membership-status')).toContainText('You are a member');
  await member.goto('/me');
  await expect(member.getByRole('row', { name: new RegExp(name) })).toContainText('Approved');
});

test('an admin invites by email, the invitee signs in with that address and accepts', async ({ browser }) => {
  const admin = await (await browser.newContext()).newPage();
  const invitee = await (await browser.newContext()).newPage();

  await signIn(admin, 'admin', 'admin-pass', '/societies/new');
  await hydrated(admin);
  const name = unique('Canal Runners');
  await admin.getByLabel('Name').pressSequentially(name);
  await admin.getByLabel('Time zone').fill('Europe/London');
  await admin.getByRole('button', { name: 'Create society' }).click();
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  await expect(admin).toHaveURL(new RegExp(`/s/${slug}$`));

  // The admin invites an address as a trainer.
  await admin.getByRole('link', { name: 'Invitations' }).click();
  await hydrated(admin);
  const email = `${unique('coach')}@example.org`;
  await admin.getByLabel('Email address').fill(email);
  await admin.getByLabel('Role').selectOption('trainer');
  await admin.getByRole('button', { name: 'Send invitation' }).click();
  await expect(admin.getByTestId('invitation-sent')).toContainText(email);
  await expect(admin.getByTestId('invitation-row').filter({ hasText: email })).toContainText('Open until');

  // The invitee opens the link from the captured email and signs in with that address.
  const invitation = linkIn(await mailMatching(email, /You are invited to join/));
  await invitee.goto(invitation);
  await hydrated(invitee);
  await expect(invitee.getByRole('heading', { level: 1 })).toHaveText(`Join ${name}`);
  await invitee.getByRole('button', { name: 'Email me a sign-in link' }).click();
  await expect(invitee.getByRole('status')).toContainText('Check your inbox');
  const signInLink = linkIn(await mailMatching(email, /sign-in\/email/));
  await invitee.goto(signInLink);
  await invitee.getByRole('button', { name: 'Sign in to Roster' }).click();

  // Back on the invitation, signed in as the invited address: one click makes a member.
  await expect(invitee).toHaveURL(invitation);
  await hydrated(invitee);
  await invitee.getByRole('button', { name: 'Accept invitation' }).click();
  await expect(invitee).toHaveURL(new RegExp(`/s/${slug}$`));
  await expect(invitee.getByTestId('membership-status')).toContainText('You are a member (Trainer)');

  // The link is used up; the admin sees it accepted and the new trainer in the directory.
  await invitee.goto(invitation);
  await expect(invitee.getByTestId('invitation-state')).toHaveText('This invitation has been accepted.');
  await admin.reload();
  await expect(admin.getByTestId('invitation-row').filter({ hasText: email })).toContainText('Accepted');
  await admin.getByRole('link', { name: 'Members' }).click();
  await hydrated(admin);
  await admin.getByLabel('Search by name or email').fill(email);
  await admin.getByRole('button', { name: 'Search' }).click();
  await expect(admin.getByTestId('member-count')).toHaveText('1 person');
  const row = admin.getByTestId('member-row');
  await expect(row.getByTestId('member-role')).toHaveText('Trainer');

  // The admin makes the trainer an admin from the directory.
  await row.getByText('Manage').click();
  await row.getByLabel('Role').selectOption('admin');
  await row.getByRole('button', { name: 'Change role' }).click();
  await expect(admin.getByTestId('member-row').getByTestId('member-role')).toHaveText('Admin');
  await admin.getByRole('link', { name: 'Audit log' }).click();
  await expect(admin.getByTestId('audit-entry').first()).toContainText('changed the role of');
});
