'use strict';
// A phone (390x844, touch): every page fits the width (no sideways
// scrolling), the seat map and the pay button are on screen and work by tap.
const { skipUnlessChromium } = require('./lib/env');
skipUnlessChromium();

const assert = require('node:assert/strict');
const { test } = require('node:test');
const { DEMO } = require('./lib/server');
const { withSession } = require('./lib/session');
const { buyer, shot, assertNoHorizontalOverflow } = require('./lib/browser');
const app = require('./lib/app');

const VIEWPORT = { width: 390, height: 844 };
const SEAT = 12;
// A fingertip needs room: WCAG 2.2's minimum target size is 24 CSS px, with
// spacing counted; 20 px of button is the least a dense map may give.
const MIN_SEAT_PX = 20;

// Within the viewport's width, and brought into view, inside its height.
async function assertOnScreen(b, locator, what) {
  await locator.scrollIntoViewIfNeeded();
  const box = await locator.boundingBox();
  assert.ok(box, `${what} is rendered`);
  assert.ok(box.x >= 0 && box.x + box.width <= VIEWPORT.width,
            `${what} fits the width: x ${box.x}, width ${box.width}`);
  assert.ok(box.y >= 0 && box.y + box.height <= VIEWPORT.height,
            `${what} is in view: y ${box.y}, height ${box.height}`);
  return box;
}

test('phone viewport: seat map and pay usable, no horizontal overflow', { timeout: 180000 }, async () => {
  await withSession('phone', ['--max-active', '1'], async ({ server, browser }) => {
    const other = await server.call('POST', '/api/v1/queue/tokens', { user_id: DEMO.users.kim });
    assert.equal(other.json.status, 'ACTIVE', other.raw);

    const me = await buyer(browser, { viewport: VIEWPORT, isMobile: true, hasTouch: true });
    await app.open(me, server);
    await assertNoHorizontalOverflow(me.page, 'sign-in');
    await shot(me.page, 'phone-1-signin');

    await me.tid('user-id').fill(String(DEMO.users.choi));
    await me.tid('signin').tap();
    await me.tid('waiting').waitFor({ state: 'visible' });
    await assertNoHorizontalOverflow(me.page, 'waiting room');
    await shot(me.page, 'phone-2-waiting');
    const left = await server.call('DELETE', '/api/v1/queue/tokens/current', undefined,
                                   other.json.token);
    assert.equal(left.status, 204, left.raw);

    await app.waitAdmitted(me);
    await assertNoHorizontalOverflow(me.page, 'concerts');
    await me.page.locator(`[data-testid=concert][data-concert-id="${DEMO.concert}"]`).tap();
    await me.page.locator(`[data-testid=schedule][data-schedule-id="${DEMO.schedules[0]}"]`).tap();
    await me.tid('seatmap').waitFor({ state: 'visible' });
    await app.seat(me, 1).waitFor({ state: 'visible' });
    await assertNoHorizontalOverflow(me.page, 'seat map');

    const map = await me.tid('seatmap').boundingBox();
    assert.ok(map.x >= 0 && map.x + map.width <= VIEWPORT.width,
              `the seat map fits the width: x ${map.x}, width ${map.width}`);
    const box = await assertOnScreen(me, app.seat(me, SEAT), `seat ${SEAT}`);
    assert.ok(box.width >= MIN_SEAT_PX && box.height >= MIN_SEAT_PX,
              `seat ${SEAT} is big enough to tap: ${box.width}x${box.height}`);
    await shot(me.page, 'phone-3-seatmap');

    await app.seat(me, SEAT).tap();
    assert.equal(await app.waitSeat(me, SEAT, 'mine'), 'mine');
    await me.tid('hold-countdown').waitFor({ state: 'visible' });
    await assertNoHorizontalOverflow(me.page, 'seat held');
    const pay = me.tid('pay');
    await assertOnScreen(me, pay, 'the pay button');
    assert.ok(await pay.isEnabled(), 'pay is enabled with a hold and enough points');
    await shot(me.page, 'phone-4-held');

    await pay.tap();
    await me.tid('confirmation').waitFor({ state: 'visible' });
    await assertNoHorizontalOverflow(me.page, 'confirmation');
    await shot(me.page, 'phone-5-confirmation');
    app.assertNoPageErrors(me, 'phone buyer');
  });
});
