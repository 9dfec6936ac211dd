'use strict';
// A buyer with no points (demo user 2, Lee) holds a seat: the page offers
// the charge step; after adding points the payment goes through.
const { skipUnlessChromium } = require('./lib/env');
skipUnlessChromium();

const assert = require('node:assert/strict');
const { test } = require('node:test');
const { DEMO } = require('./lib/server');
const { withSession } = require('./lib/session');
const { buyer, shot, assertHumanMessage } = require('./lib/browser');
const app = require('./lib/app');

const SEAT = 140;      // small hall, grade A: 40,000 points
const PRICE = 40000;
const CHARGE = 50000;

const digits = (s) => Number((s || '').replace(/\D/g, ''));

test('charge step when points are short', { timeout: 180000 }, async () => {
  await withSession('charge', [], async ({ server, browser }) => {
    const before = await server.call('GET', `/api/v1/users/${DEMO.users.lee}/points`);
    assert.equal(before.json.balance, 0, 'the demo user has no points');

    const me = await buyer(browser);
    await app.signIn(me, server, DEMO.users.lee);
    await app.waitAdmitted(me);
    await app.pickSchedule(me, DEMO.club.concert, DEMO.club.schedule);
    await app.seat(me, SEAT).click();
    assert.equal(await app.waitSeat(me, SEAT, 'mine'), 'mine');
    assert.equal(await app.seat(me, SEAT).getAttribute('data-grade'), 'A');

    // Short of points: the charge step shows, paying is not possible yet.
    await me.tid('charge-amount').waitFor({ state: 'visible' });
    assert.ok(await me.tid('charge').isVisible());
    assert.equal(digits(await me.tid('balance').textContent()), 0);
    await shot(me.page, 'charge-1-short');

    // Paying anyway is refused with a sentence; nothing is paid.
    if (await me.tid('pay').isEnabled()) {
      await me.tid('pay').click();
      assertHumanMessage(await app.messageText(me), 'paying without points');
      assert.equal(await me.tid('confirmation').isVisible(), false);
      assert.equal(await app.seatStatus(me, SEAT), 'mine', 'the hold is kept');
      await me.tid('charge-amount').waitFor({ state: 'visible' });
      await shot(me.page, 'charge-2-refused');
    }

    await me.tid('charge-amount').fill(String(CHARGE));
    await me.tid('charge').click();
    await me.page.waitForFunction(
      (want) => Number(document.querySelector('[data-testid=balance]').textContent.replace(/\D/g, '')) === want,
      CHARGE);
    await me.tid('charge-amount').waitFor({ state: 'hidden' });
    assert.ok(await me.tid('pay').isEnabled(), 'pay is possible once the points suffice');
    await shot(me.page, 'charge-3-charged');

    await me.tid('pay').click();
    await me.tid('confirmation').waitFor({ state: 'visible' });
    await shot(me.page, 'charge-4-confirmation');
    const after = await server.call('GET', `/api/v1/users/${DEMO.users.lee}/points`);
    assert.equal(after.json.balance, CHARGE - PRICE, 'charged, then the price taken');
    app.assertNoPageErrors(me, 'buyer');
  });
});
