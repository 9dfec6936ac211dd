'use strict';
// Steps through the web app by its DOM contract (data-testid, see
// /work/notes/i13-brief.md "Web app" and examples/server/web/index.html).
const assert = require('node:assert/strict');

function seat(b, n) {
  return b.page.locator(`[data-testid=seat][data-seat="${n}"]`);
}

async function seatStatus(b, n) {
  return seat(b, n).getAttribute('data-status');
}

// Wait until seat n shows one of the states.
async function waitSeat(b, n, states) {
  const want = [].concat(states);
  await seat(b, n).and(b.page.locator(want.map((s) => `[data-status=${s}]`).join(',')))
    .waitFor({ state: 'visible' });
  return seatStatus(b, n);
}

async function open(b, server) {
  await b.page.goto(`${server.url}/`);
  await b.tid('signin').waitFor({ state: 'visible' });
}

// Sign in (--auth none: pick a demo user id); signing in joins the queue.
async function signIn(b, server, userId) {
  await open(b, server);
  await b.tid('user-id').fill(String(userId));
  await b.tid('signin').click();
}

async function waitAdmitted(b) {
  await b.tid('concert').first().waitFor({ state: 'visible' });
}

// Pick a concert, then one of its dates.
async function pickSchedule(b, concertId, scheduleId) {
  await b.page.locator(`[data-testid=concert][data-concert-id="${concertId}"]`).click();
  await b.page.locator(`[data-testid=schedule][data-schedule-id="${scheduleId}"]`).click();
  await b.tid('seatmap').waitFor({ state: 'visible' });
  await seat(b, 1).waitFor({ state: 'visible' });
}

async function scheduleIds(b) {
  await b.tid('schedule').first().waitFor({ state: 'visible' });
  return b.tid('schedule').evaluateAll((els) => els.map((e) => Number(e.dataset.scheduleId)));
}

async function messageText(b) {
  const m = b.tid('message');
  await m.waitFor({ state: 'visible' });
  await b.page.waitForFunction(() => {
    const el = document.querySelector('[data-testid=message]');
    return el && el.textContent.trim().length > 0;
  });
  return (await m.textContent()).trim();
}

function assertNoPageErrors(b, who) {
  assert.deepEqual(b.errors, [], `${who}: uncaught errors in the page`);
}

module.exports = {
  seat, seatStatus, waitSeat, open, signIn, waitAdmitted, pickSchedule, scheduleIds,
  messageText, assertNoPageErrors,
};
