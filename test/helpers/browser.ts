import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { waitFor } from './wait';

/** Debian's chromium: playwright-core drives it, so no browser is downloaded (.ci/run installs it). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Where test artifacts go: vitest's JSON report, and the screenshots of the browser tests. */
export const ARTIFACTS_DIR = path.resolve(__dirname, '../../test-artifacts');

/**
 * Why the browser tests cannot run here, or undefined when they can. Only outside CI: under
 * CI=true a missing chromium must fail the suite (launching it throws), never skip it quietly.
 */
export function browserSkipReason(): string | undefined {
  if (existsSync(CHROMIUM_PATH) || process.env.CI === 'true') return undefined;
  return `${CHROMIUM_PATH} does not exist: install Debian's chromium (apt-get install chromium) to run the Temporal UI tests`;
}

/** Launches headless chromium the way the UI tests need it (root in a container: no sandbox). */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `${CHROMIUM_PATH} does not exist; install it with apt-get install chromium (.ci/run does)`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** Saves a full-page screenshot as test-artifacts/NAME and returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const file = path.join(ARTIFACTS_DIR, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** The whole visible text of the page (what a person can read), for assertions and failure messages. */
export async function pageText(page: Page): Promise<string> {
  return page.locator('body').innerText();
}

/**
 * Waits until the page's text matches `pattern`: the UI is a single-page app that fills in
 * panels as its API calls (and the codec's decode calls) answer.
 */
export async function waitForText(page: Page, pattern: RegExp, timeoutMs = 60_000): Promise<string> {
  let text = '';
  return waitFor(
    () => `the page to show ${String(pattern)}; it shows:\n${text.slice(0, 4000)}`,
    async () => {
      text = await pageText(page).catch(() => '');
      return pattern.test(text) ? text : undefined;
    },
    timeoutMs,
    250,
  );
}
