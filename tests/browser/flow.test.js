'use strict';
// A buyer waits in the queue (--max-active 1) while another buyer is inside,
// is let in when the other pays, holds a seat, sees its countdown, pays and
// gets the confirmation; the seat is sold on the map afterwards.
const { skipUnlessChromium } = require('./lib/env');
skipUnlessChromium();

const assert = require('node:assert/strict');
const { test } = require('node:test');
const { DEMO } = require('./lib/server');
const { withSession } = require('./lib/session');
const { buyer, shot, UI_TIMEOUT_MS } = require('./lib/browser');
const app = require('./lib/app');

const SCHEDULE = DEMO.schedules[0];
const MY_SEAT = 1;      // VIP 150,000: Kim has 500,000
const OTHER_SEAT = 150; // S 80,000, bought by the other buyer

test('waiting room, admission, hold, pay, confirmation', { timeout: 180000 }, async () => {
  await withSession('flow', ['--max-active', '1'], async ({ server, browser }) => {
    // The other buyer (a plain HTTP client) takes the only ACTIVE place.
    const other = await server.call('POST', '/api/v1/queue/tokens', { user_id: DEMO.users.choi });
    assert.equal(other.status, 201, other.raw);
    assert.equal(other.json.status, 'ACTIVE');

    const me = await buyer(browser);
    await app.signIn(me, server, DEMO.users.kim);
    await me.tid('waiting').waitFor({ state: 'visible' });
    await me.page.waitForFunction(
      () => /^\D*\b1\b\D*$/.test(document.querySelector('[data-testid=position]').textContent.trim()));
    for (const id of ['eta', 'progress', 'queue-state', 'leave'])
      assert.ok(await me.tid(id).isVisible(), `waiting page shows ${id}`);
    assert.equal(await me.tid('concert').count(), 0, 'no concerts while waiting');
    await shot(me.page, 'flow-1-waiting');

    // The other buyer holds and pays: the payment ends their token.
    const held = await server.call('POST', '/api/v1/reservations',
                                   { schedule_id: SCHEDULE, seat_number: OTHER_SEAT },
                                   other.json.token);
    assert.equal(held.status, 201, held.raw);
    const paid = await server.call('POST', '/api/v1/payments', { reservation_id: held.json.id },
                                   other.json.token);
    assert.equal(paid.status, 201, paid.raw);

    // Admitted without touching the page.
    await app.waitAdmitted(me);
    assert.ok(!(await me.tid('waiting').isVisible()), 'the waiting page is gone once admitted');
    await shot(me.page, 'flow-2-concerts');

    await me.page.locator(`[data-testid=concert][data-concert-id="${DEMO.concert}"]`).click();
    const offered = await app.scheduleIds(me);
    assert.deepEqual([...offered].sort(), [...DEMO.schedules].sort(),
                     'only bookable dates are offered (not the past one)');
    await me.page.locator(`[data-testid=schedule][data-schedule-id="${SCHEDULE}"]`).click();
    await me.tid('seatmap').waitFor({ state: 'visible' });
    assert.equal(await app.waitSeat(me, OTHER_SEAT, 'sold'), 'sold', 'the other buyer\'s seat');
    assert.equal(await app.waitSeat(me, MY_SEAT, 'free'), 'free');
    assert.equal(await me.tid('seat').count(), 300, 'every seat of the hall is on the map');
    await shot(me.page, 'flow-3-seatmap');

    await app.seat(me, MY_SEAT).click();
    assert.equal(await app.waitSeat(me, MY_SEAT, 'mine'), 'mine');
    const countdown = me.tid('hold-countdown');
    await countdown.waitFor({ state: 'visible' });
    const first = (await countdown.textContent()).trim();
    assert.match(first, /\d/, 'the hold countdown shows the time left');
    // It counts down by itself (waits for the change; no timing asserted).
    await me.page.waitForFunction(
      (t) => document.querySelector('[data-testid=hold-countdown]').textContent.trim() !== t,
      first, { timeout: UI_TIMEOUT_MS });
    await me.page.waitForFunction(
      () => /[1-9]/.test(document.querySelector('[data-testid=balance]').textContent));
    assert.equal(await me.tid('charge-amount').isVisible(), false, 'no charge step: points suffice');
    await shot(me.page, 'flow-4-held');

    await me.tid('pay').click();
    await me.tid('confirmation').waitFor({ state: 'visible' });
    assert.match(await me.tid('confirmation').textContent(), new RegExp(`\\b${MY_SEAT}\\b`),
                 'the confirmation names the seat');
    await shot(me.page, 'flow-5-confirmation');

    const points = await server.call('GET', `/api/v1/users/${DEMO.users.kim}/points`);
    assert.equal(points.json.balance, 500000 - 150000, 'the payment took the seat\'s price');

    // My payment freed the ACTIVE place: a third buyer gets straight in and
    // sees both seats sold.
    const third = await buyer(browser);
    await app.signIn(third, server, DEMO.users.jung);
    await app.waitAdmitted(third);
    await app.pickSchedule(third, DEMO.concert, SCHEDULE);
    assert.equal(await app.waitSeat(third, MY_SEAT, 'sold'), 'sold');
    assert.equal(await app.waitSeat(third, OTHER_SEAT, 'sold'), 'sold');
    await shot(third.page, 'flow-6-sold');

    app.assertNoPageErrors(me, 'buyer');
    app.assertNoPageErrors(third, 'third buyer');
  });
});
