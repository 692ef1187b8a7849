import { expect, test } from '@playwright/test';
import { hydrated, mailTo, signIn, unique } from './helpers';

test('a platform admin signs in with Keycloak, creates a society and signs out', async ({ page }) => {
  await page.goto('/');
  await hydrated(page);
  await page.getByRole('link', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'Sign in with your club account' }).click();

  // The identity provider's own login page.
  await page.locator('#username').fill('admin');
  await page.locator('#password').fill('admin-pass');
  await page.locator('#kc-login').click();
  await expect(page.getByTestId('user-name')).toHaveText('Ada Admin');

  await page.getByRole('link', { name: 'New society' }).click();
  await expect(page).toHaveURL(/\/societies\/new$/);
  await hydrated(page);
  const name = unique('Harbour Rowing Club');
  // Typing the name suggests the web address: proof the page is interactive after hydration.
  await page.getByLabel('Name').pressSequentially(name);
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  await expect(page.getByLabel('Web address')).toHaveValue(slug);
  await page.getByLabel('Time zone').fill('Europe/Amsterdam');
  await page.getByRole('button', { name: 'Create society' }).click();

  await expect(page).toHaveURL(new RegExp(`/s/${slug}$`));
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(name);
  await expect(page.getByText('Times are shown in Europe/Amsterdam.')).toBeVisible();

  await page.goto('/me');
  await expect(page.getByTestId('me-platform-role')).toHaveText('Platform admin');
  await expect(page.getByRole('row', { name: new RegExp(name) })).toContainText('Admin');

  await page.getByTestId('user-name').click();
  await page.getByRole('menuitem', { name: 'Sign out' }).click();
  await expect(page.getByRole('link', { name: 'Sign in' })).toBeVisible();
  await expect(page.getByTestId('user-name')).toHaveCount(0);

  // The Keycloak session ended too: signing in asks for the password again.
  await page.goto('/auth/login?next=/');
  await expect(page.locator('#kc-form-login')).toBeVisible();
});

test('a wrong password stays on the provider login page', async ({ page }) => {
  await page.goto('/auth/login?next=/me');
  await page.locator('#username').fill('member');
  await page.locator('#password').fill('wrong');
  await page.locator('#kc-login').click();
  await expect(page.getByText('Invalid username or password.')).toBeVisible();
});

test('someone signs in with an emailed link', async ({ page }) => {
  const email = `${unique('rower')}@example.org`;
  await page.goto('/sign-in?next=/me');
  await hydrated(page);
  await page.getByLabel('Email address').fill(email);
  await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
  await expect(page.getByRole('status')).toContainText('Check your inbox');

  const mail = await mailTo(email);
  const link = mail.match(/https?:\/\/\S+/)![0];
  await page.goto(link);
  await page.getByRole('button', { name: 'Sign in to Roster' }).click();
  await expect(page).toHaveURL(/\/me$/);
  await expect(page.getByTestId('me-email')).toHaveText(email);
  await expect(page.getByTestId('me-platform-role')).toHaveText('None');

  // The link works once.
  await page.goto(link);
  await page.getByRole('button', { name: 'Sign in to Roster' }).click();
  await expect(page.getByRole('alert')).toContainText('expired or was already used');
});

test('a member cannot open the new-society form, and unknown pages are friendly 404s', async ({ page }) => {
  await page.goto('/auth/login?next=/societies/new');
  await page.locator('#username').fill('member');
  await page.locator('#password').fill('member-pass');
  await page.locator('#kc-login').click();
  await expect(page.getByRole('heading', { name: 'Not allowed' })).toBeVisible();

  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
});

test('the bundle is hashed, precompressed and cached for a year; pages are not cached', async ({ page, request }) => {
  const response = await page.goto('/');
  expect(response?.headers()['cache-control']).toBe('no-cache');
  await hydrated(page);
  const html = await response!.text();
  const wasm = html.match(/\/pkg\/roster\.[A-Za-z0-9_-]{22}\.wasm/)?.[0];
  const js = html.match(/\/pkg\/roster\.[A-Za-z0-9_-]{22}\.js/)?.[0];
  const css = html.match(/\/pkg\/roster\.[A-Za-z0-9_-]{22}\.css/)?.[0];
  expect(wasm && js && css, html).toBeTruthy();
  for (const path of [wasm!, js!, css!]) {
    const asset = await request.get(path, { headers: { 'accept-encoding': 'br, gzip' } });
    expect(asset.status(), path).toBe(200);
    expect(asset.headers()['cache-control'], path).toBe('public, max-age=31536000, immutable');
    expect(asset.headers()['content-encoding'], path).toBe('br');
  }
});

test('a form error shows on the page at once, without leaving it', async ({ page }) => {
  await page.goto('/sign-in');
  await hydrated(page);
  let reloaded = false;
  page.on('framenavigated', () => { reloaded = true; });
  await page.getByLabel('Email address').fill(`${'x'.repeat(250)}@example.org`);
  await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
  await expect(page.getByRole('alert')).toContainText('valid email address');
  expect(reloaded).toBe(false);
});

test('every main page hydrates its islands without errors', async ({ page }) => {
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`${page.url()}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${page.url()}: ${m.text()}`);
  });
  await page.goto('/sign-in');
  await hydrated(page);
  await signIn(page, 'admin', 'admin-pass', '/societies/new');
  await hydrated(page);
  const name = unique('Every Page Club');
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  await page.getByLabel('Name').pressSequentially(name);
  await expect(page.getByLabel('Web address')).toHaveValue(slug);
  await page.getByLabel('Time zone').fill('Europe/Berlin');
  await page.getByRole('button', { name: 'Create society' }).click();
  await expect(page).toHaveURL(new RegExp(`/s/${slug}$`));
  for (const path of ['/', '/me', `/s/${slug}`, `/s/${slug}/members`, `/s/${slug}/requests`,
    `/s/${slug}/invitations`, `/s/${slug}/settings`, `/s/${slug}/audit`]) {
    const response = await page.goto(path);
    expect(response?.status(), path).toBe(200);
    await hydrated(page);
  }
  expect(problems).toEqual([]);
});
