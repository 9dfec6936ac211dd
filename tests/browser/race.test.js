'use strict';
// Two buyers, each in a browser of their own, click the same free seat at
// the same moment: exactly one holds it; the other reads a sentence (not an
// error code) and their map, refreshed, shows the seat taken.
const { skipUnlessChromium } = require('./lib/env');
skipUnlessChromium();

const assert = require('node:assert/strict');
const { test } = require('node:test');
const { DEMO } = require('./lib/server');
const { withSession } = require('./lib/session');
const { buyer, shot, assertHumanMessage } = require('./lib/browser');
const app = require('./lib/app');

const SCHEDULE = DEMO.schedules[1];
const SEAT = 7;

test('two browsers race for one seat', { timeout: 180000 }, async () => {
  await withSession('race', [], async ({ server, browser }) => {
    const taken = 'held'; // GET .../seatmap tells held from sold
    const a = await buyer(browser);
    const b = await buyer(browser);
    const buyers = [a, b];
    await app.signIn(a, server, DEMO.users.kim);
    await app.signIn(b, server, DEMO.users.choi);
    for (const x of buyers) {
      await app.waitAdmitted(x);
      await app.pickSchedule(x, DEMO.concert, SCHEDULE);
      assert.equal(await app.waitSeat(x, SEAT, 'free'), 'free');
    }

    // Both clicks go out together; both must reach the server (neither
    // page knew of the other's hold yet), or this raced nothing.
    const isHold = (r) => r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/reservations';
    const sent = buyers.map((x) => x.page.waitForRequest(isHold));
    const answered = buyers.map((x) => x.page.waitForResponse((r) => isHold(r.request())));
    await Promise.all(buyers.map((x) => app.seat(x, SEAT).click()));
    await Promise.all(sent);
    const statuses = (await Promise.all(answered)).map((r) => r.status()).sort();
    assert.deepEqual(statuses, [201, 409], 'the server let exactly one hold the seat');

    // Each page settles: the winner's seat is "mine", the loser's is not free.
    const settled = await Promise.all(buyers.map((x) => app.waitSeat(x, SEAT, ['mine', 'held', 'sold'])));
    const winner = settled.indexOf('mine');
    assert.ok(winner >= 0 && settled.lastIndexOf('mine') === winner,
              `exactly one page holds the seat: ${settled}`);
    const loser = buyers[1 - winner];
    assert.equal(await app.seatStatus(loser, SEAT), taken, 'the loser\'s map shows it taken');
    const message = await app.messageText(loser);
    assertHumanMessage(message, 'the loser');
    assert.equal(await loser.tid('hold-countdown').count(), 0, 'the loser holds nothing');
    assert.ok(await buyers[winner].tid('hold-countdown').isVisible(), 'the winner has a hold');
    assert.equal(await buyers[winner].tid('message').isVisible(), false,
                 'the winner sees no error');
    await shot(buyers[winner].page, 'race-winner');
    await shot(loser.page, 'race-loser');

    // The loser can still hold the seat next to it (the message did not
    // leave the page stuck).
    await app.seat(loser, SEAT + 1).click();
    assert.equal(await app.waitSeat(loser, SEAT + 1, 'mine'), 'mine');
    // And the winner sees that hold live as someone else's.
    assert.equal(await app.waitSeat(buyers[winner], SEAT + 1, taken), taken);

    for (const x of buyers) app.assertNoPageErrors(x, 'buyer');
  });
});
