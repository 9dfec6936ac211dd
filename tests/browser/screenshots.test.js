'use strict';
// The screenshot check itself: chromium's PNGs decode to the pixels drawn,
// a blank page is refused, a page with text passes. (Without this the other
// tests' "not blank" checks could pass on anything.)
const { skipUnlessChromium, browserDir } = require('./lib/env');
skipUnlessChromium();

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');
const { launch } = require('./lib/browser');
const { decode, stats, assertNotBlank } = require('./lib/png');

test('blank screenshots are caught, drawn ones pass', { timeout: 120000 }, async () => {
  const dir = path.join(browserDir(), 'screenshots', 'selftest');
  fs.mkdirSync(dir, { recursive: true });
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 200, height: 100 } });

    // One colour everywhere: every pixel decodes to it, and it is "blank".
    await page.setContent('<body style="margin:0;background:#123456"></body>');
    const blank = path.join(dir, 'blank.png');
    await page.screenshot({ path: blank });
    const img = decode(fs.readFileSync(blank));
    assert.deepEqual([img.width, img.height], [200, 100]);
    for (let i = 0; i < img.width * img.height; i++) {
      const o = i * img.channels;
      assert.deepEqual([img.px[o], img.px[o + 1], img.px[o + 2]], [0x12, 0x34, 0x56], `pixel ${i}`);
    }
    assert.throws(() => assertNotBlank(blank), /looks blank/);

    // Left half black, right half white: both colours where they were drawn
    // (the rows use PNG's filters, so this checks the unfiltering too).
    await page.setContent('<body style="margin:0;background:#fff">' +
                          '<div style="width:100px;height:100px;background:#000"></div></body>');
    const halves = path.join(dir, 'halves.png');
    await page.screenshot({ path: halves });
    const h = decode(fs.readFileSync(halves));
    const at = (x, y) => h.px[(y * h.width + x) * h.channels];
    assert.equal(at(10, 50), 0);
    assert.equal(at(190, 50), 255);
    assert.equal(stats(halves).colours, 2);

    // Text on a page is not blank (and Korean text renders: fonts-noto-cjk).
    await page.setContent('<body style="margin:8px;font:16px sans-serif">' +
                          '좌석을 선택하세요 · Pick a seat</body>');
    const text = path.join(dir, 'text.png');
    await page.screenshot({ path: text });
    assertNotBlank(text);
  } finally {
    await browser.close();
  }
});
