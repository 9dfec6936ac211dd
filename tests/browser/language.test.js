'use strict';
// Korean by default for a browser that prefers Korean, English otherwise;
// the switch changes the visible texts and <html lang>; errors read as
// sentences in the chosen language.
const { skipUnlessChromium } = require('./lib/env');
skipUnlessChromium();

const assert = require('node:assert/strict');
const { test } = require('node:test');
const { DEMO } = require('./lib/server');
const { withSession } = require('./lib/session');
const { buyer, shot, assertHumanMessage, HANGUL } = require('./lib/browser');
const app = require('./lib/app');

const htmlLang = (b) => b.page.evaluate(() => document.documentElement.lang);
// The texts a reader sees, less the language menu (which names each
// language in itself: "한국어" belongs on an English page).
const visibleText = (b) => b.page.evaluate(() => {
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest('select, script, style, noscript')) continue;
    if (n.textContent.trim() && el.checkVisibility()) out.push(n.textContent.trim());
  }
  return out.join('\n');
});

async function waitLang(b, lang) {
  await b.page.waitForFunction((l) => document.documentElement.lang === l, lang);
}

test('language: Korean by default with a ko locale, switch both ways', { timeout: 180000 }, async () => {
  await withSession('language', [], async ({ server, browser }) => {
    const ko = await buyer(browser, { locale: 'ko-KR' });
    await app.open(ko, server);
    assert.equal(await htmlLang(ko), 'ko');
    assert.equal(await ko.tid('lang').inputValue(), 'ko');
    const signinKo = (await ko.tid('signin').textContent()).trim();
    assert.match(signinKo, HANGUL, 'the sign-in button is in Korean');
    await shot(ko.page, 'language-1-ko');

    await ko.tid('lang').selectOption('en');
    await waitLang(ko, 'en');
    const signinEn = (await ko.tid('signin').textContent()).trim();
    assert.notEqual(signinEn, signinKo);
    assert.doesNotMatch(signinEn, HANGUL, 'the sign-in button is in English');
    assert.doesNotMatch(await visibleText(ko), HANGUL, 'no Korean left on the English page');
    await shot(ko.page, 'language-2-en');

    await ko.tid('lang').selectOption('ko');
    await waitLang(ko, 'ko');
    assert.equal((await ko.tid('signin').textContent()).trim(), signinKo);

    // An error in Korean: an unknown user cannot join.
    await ko.tid('user-id').fill('999');
    await ko.tid('signin').click();
    const koMessage = await app.messageText(ko);
    assertHumanMessage(koMessage, 'Korean error');
    assert.match(koMessage, HANGUL, 'the error is in Korean');
    assert.equal(await ko.tid('whoami').isVisible(), false,
                 'a sign-in that failed leaves nobody signed in');
    await shot(ko.page, 'language-3-ko-error');

    // The same error after switching to English reads in English.
    await ko.tid('lang').selectOption('en');
    await waitLang(ko, 'en');
    await ko.tid('signin').click();
    await ko.page.waitForFunction(() => {
      const m = document.querySelector('[data-testid=message]');
      return m && m.textContent.trim() && !/[\uAC00-\uD7A3]/.test(m.textContent);
    });
    assertHumanMessage(await app.messageText(ko), 'English error');

    // A browser preferring English gets English.
    const en = await buyer(browser, { locale: 'en-US' });
    await app.open(en, server);
    assert.equal(await htmlLang(en), 'en');
    assert.equal(await en.tid('lang').inputValue(), 'en');
    assert.equal((await en.tid('signin').textContent()).trim(), signinEn);

    // Admitted pages change language too (the waiting room and the map
    // are drawn by script, not only the static texts).
    await app.signIn(en, server, DEMO.users.park);
    await app.waitAdmitted(en);
    await app.pickSchedule(en, DEMO.concert, DEMO.schedules[0]);
    assert.doesNotMatch(await visibleText(en), HANGUL, 'the seat page is all English');
    await en.tid('lang').selectOption('ko');
    await waitLang(en, 'ko');
    assert.match(await en.tid('pay').textContent(), HANGUL, 'the pay button is in Korean');
    await shot(en.page, 'language-4-seatmap-ko');

    app.assertNoPageErrors(ko, 'ko buyer');
    app.assertNoPageErrors(en, 'en buyer');
  });
});
