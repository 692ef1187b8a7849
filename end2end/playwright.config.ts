import { defineConfig } from '@playwright/test';

// Started by .ci/test, which runs the release server, the OIDC provider and the SMTP capture.
const baseURL = process.env.ROSTER_E2E_URL;
if (!baseURL) throw new Error('ROSTER_E2E_URL is not set: run the suite with `bash .ci/test`');

export default defineConfig({
  testDir: './tests',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: true,
  workers: 2,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      // Debian's Chromium from apt; Playwright never downloads a browser here.
      executablePath: process.env.CHROME_PATH || '/usr/bin/chromium',
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    },
  },
  projects: [
    { name: 'chromium', use: { browserName: 'chromium' }, testIgnore: /nojs\.spec\.ts/ },
    // The main forms as plain HTML forms: what people without JavaScript (or before the
    // WASM arrives) get.
    {
      name: 'no-javascript',
      use: { browserName: 'chromium', javaScriptEnabled: false },
      testMatch: /nojs\.spec\.ts/,
    },
  ],
});
