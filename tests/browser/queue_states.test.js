'use strict';
// The waiting page follows the queue's state live: paused (then resumed),
// scheduled with a countdown to opens_at (then opened by the operator); the
// buyer is let in each time without touching the page.
const { skipUnlessChromium, browserDir } = require('./lib/env');
skipUnlessChromium();

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');
const { DEMO } = require('./lib/server');
const { withSession } = require('./lib/session');
const { buyer, shot } = require('./lib/browser');
const app = require('./lib/app');

const ADMIN_KEY = 'browser-test-admin-key-0123456789';

function rfc3339(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

async function stateText(b) {
  await b.page.waitForFunction(
    () => document.querySelector('[data-testid=queue-state]').textContent.trim().length > 0);
  return (await b.tid('queue-state').textContent()).trim();
}

test('waiting page: paused, scheduled with a countdown, then admitted', { timeout: 180000 }, async () => {
  const keyFile = path.join(browserDir(), 'logs', 'queue-states-admin-key');
  fs.mkdirSync(path.dirname(keyFile), { recursive: true });
  fs.writeFileSync(keyFile, `${ADMIN_KEY}\n`, { mode: 0o600 });
  await withSession('queue-states', ['--admin-key-file', keyFile], async ({ server, browser }) => {
    const admin = async (method, p, body) => {
      const r = await server.callWith(method, `/api/v1/admin/queue${p}`, body, { 'X-Admin-Key': ADMIN_KEY });
      assert.ok(r.status === 200 || r.status === 204, `${method} ${p}: ${r.status} ${r.raw}`);
      return r;
    };

    // Paused: nobody is let in; the page says so, with no countdown.
    await admin('POST', '/pause');
    const paused = await buyer(browser);
    await app.signIn(paused, server, DEMO.users.choi);
    await paused.tid('waiting').waitFor({ state: 'visible' });
    const pausedText = await stateText(paused);
    assert.equal(await paused.tid('countdown').isVisible(), false, 'no countdown while paused');
    await shot(paused.page, 'queue-1-paused');
    await admin('POST', '/resume');
    await app.waitAdmitted(paused);

    // Scheduled an hour ahead: a countdown to opens_at, a different sentence.
    await admin('PUT', '', { opens_at: rfc3339(Date.now() + 3600 * 1000) });
    const early = await buyer(browser);
    await app.signIn(early, server, DEMO.users.kim);
    await early.tid('waiting').waitFor({ state: 'visible' });
    await early.tid('countdown').waitFor({ state: 'visible' });
    const countdown = (await early.tid('countdown').textContent()).trim();
    assert.match(countdown, /\d/, 'the countdown shows the time to the opening');
    // It counts down (waits for the change; no timing asserted).
    await early.page.waitForFunction(
      (t) => document.querySelector('[data-testid=countdown]').textContent.trim() !== t, countdown);
    const scheduledText = await stateText(early);
    assert.notEqual(scheduledText, pausedText, 'paused and scheduled read differently');
    await shot(early.page, 'queue-2-scheduled');

    // The operator opens early: the pre-queue is drawn and let in.
    await admin('POST', '/open');
    await app.waitAdmitted(early);
    assert.equal(await early.tid('waiting').isVisible(), false);

    app.assertNoPageErrors(paused, 'paused buyer');
    app.assertNoPageErrors(early, 'early buyer');
  });
});
