'use strict';
// Chromium through playwright-core, and the checks every test shares.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { CHROMIUM, browserDir, playwright } = require('./env');
const { assertNotBlank } = require('./png');

// How long the app may take to react (live updates, a poll, a render). A
// bound on waiting, not a timing assertion: tests wait for states.
const UI_TIMEOUT_MS = 15000;

async function launch() {
  const { chromium } = playwright();
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}

// A buyer's own browser context (cookies and storage apart from the others).
// Uncaught page errors are collected: a test ends by asserting there were none.
async function buyer(browser, { locale = 'en-US', viewport, isMobile, hasTouch } = {}) {
  const opts = { locale };
  if (viewport) opts.viewport = viewport;
  if (isMobile) opts.isMobile = true;
  if (hasTouch) opts.hasTouch = true;
  const context = await browser.newContext(opts);
  context.setDefaultTimeout(UI_TIMEOUT_MS);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return { context, page, errors, tid: (id) => page.getByTestId(id) };
}

function screenshotDir() {
  const dir = path.join(browserDir(), 'screenshots');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

// Full-page screenshot under <build>/browser/screenshots, checked not blank.
async function shot(page, name) {
  const file = path.join(screenshotDir(), `${name}.png`);
  // From the top: a sticky header scrolled with the page would be drawn
  // across the middle of a full-page capture.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: file, fullPage: true });
  return assertNotBlank(file);
}

// The page is no wider than the viewport (no sideways scrolling).
async function assertNoHorizontalOverflow(page, where) {
  const m = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    body: document.body.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  assert.ok(m.scroll <= m.client && m.body <= m.client,
            `${where}: page ${m.scroll}px / body ${m.body}px wide in a ${m.client}px viewport`);
}

// An error shown to a buyer is a sentence, not an API code or a status.
function assertHumanMessage(text, where) {
  const t = (text || '').trim();
  assert.ok(t.length >= 8, `${where}: message too short to be a sentence: ${JSON.stringify(t)}`);
  assert.doesNotMatch(t, /\b[A-Z]{2,}(?:_[A-Z]+)+\b/, `${where}: message shows an error code: ${t}`);
  assert.doesNotMatch(t, /\[object|undefined|\bNaN\b|Error:|HTTP \d/,
                      `${where}: message looks like a raw error: ${t}`);
}

// Hangul syllables: how a test tells Korean text from English.
const HANGUL = /[\uAC00-\uD7A3]/;

module.exports = {
  UI_TIMEOUT_MS, launch, buyer, shot, assertNoHorizontalOverflow, assertHumanMessage, HANGUL,
};
