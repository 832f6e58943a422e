/**
 * Headless Chromium for browser tests and screenshots: Debian's `chromium` package driven by
 * playwright-core (no browser download). Installed on demand with `scripts/services.sh
 * install-browser` when /usr/bin/chromium is missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Flags for a quiet, hermetic headless run. Playwright starts Chromium with a fresh temporary
 * `--user-data-dir` of its own (and removes it on close), so no profile is shared between runs.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Installs Debian's chromium if it is not there yet (idempotent; needs root, as CI has). */
export function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  const script = path.join(import.meta.dirname, '../../scripts/services.sh');
  execFileSync('bash', [script, 'install-browser'], { stdio: 'inherit' });
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} still missing after install-browser`);
}

export async function launchChromium(): Promise<Browser> {
  ensureChromium();
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** A separate browser profile (cookies, storage) per user, like two people on two machines. */
export async function newUserContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width: 1100, height: 720 }, deviceScaleFactor: 1 });
}

/** Opens the web app as `userId` (dev tokens: `/?user=`) and waits until it is connected. */
export async function openChat(context: BrowserContext, httpUrl: string, userId: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${httpUrl}/?user=${encodeURIComponent(userId)}`);
  await page.locator('#conn[data-state="connected"]').waitFor({ timeout: 15_000 });
  return page;
}

/** Opens a conversation from the list by its id. */
export async function openConversation(page: Page, conversationId: string): Promise<void> {
  await page.locator(`.conv[data-id="${conversationId}"]`).click();
  await page.locator('#pane-title').waitFor();
}

/** Types and sends a message in the open conversation. */
export async function sendMessage(page: Page, body: string): Promise<void> {
  const input = page.locator('#composer-input');
  await input.fill(body);
  await input.press('Enter');
}

/** Bodies of the message bubbles on screen, in order (sent and still pending). */
export async function bubbles(page: Page): Promise<string[]> {
  return page.locator('#messages .msg .body').allTextContents();
}
