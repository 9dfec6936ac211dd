'use strict';
// One test's concertd and chromium, always stopped; on failure every open
// page is saved as failed-<name>-<n>.png beside the other screenshots.
const fs = require('node:fs');
const path = require('node:path');
const { browserDir } = require('./env');
const { startServer } = require('./server');
const { launch } = require('./browser');

async function withSession(name, serverArgs, fn) {
  const server = await startServer(name, serverArgs);
  let browser;
  let err;
  try {
    browser = await launch();
    await fn({ server, browser });
  } catch (e) {
    err = e;
  }
  if (browser) {
    if (err) {
      const dir = path.join(browserDir(), 'screenshots');
      fs.mkdirSync(dir, { recursive: true });
      let n = 0;
      for (const context of browser.contexts())
        for (const page of context.pages())
          await page.screenshot({ path: path.join(dir, `failed-${name}-${++n}.png`), fullPage: true })
            .catch(() => {});
      console.error(`concertd log: ${server.logPath}`);
    }
    await browser.close().catch((e) => console.error(`closing chromium: ${e}`));
  }
  try {
    await server.stop();
  } catch (e) {
    if (!err) err = e;
    else console.error(e);
  }
  if (err) throw err;
}

module.exports = { withSession };
