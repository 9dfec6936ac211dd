'use strict';
// Where things are, from the environment tests/browser.cmake sets, and the
// visible skip when there is no chromium (exit 77: ctest's SKIP_RETURN_CODE).
const fs = require('node:fs');
const path = require('node:path');

const CHROMIUM = process.env.CONCERT_CHROMIUM || '/usr/bin/chromium';
const SKIP = 77;

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set: run these tests through ctest (tests/browser.cmake)`);
    process.exit(2);
  }
  return value;
}

// Call before registering any test: node:test would report a skipped run as
// a pass, so the process itself exits 77.
function skipUnlessChromium() {
  if (!fs.existsSync(CHROMIUM)) {
    console.log(`SKIP: ${CHROMIUM} not found (scripts/install-deps.sh installs chromium)`);
    process.exit(SKIP);
  }
}

function browserDir() {
  return required('CONCERT_BROWSER_DIR');
}

function concertd() {
  return required('CONCERTD');
}

// playwright-core lives in the build directory (npm ci by browser_setup),
// not beside these sources, so it is required by path.
function playwright() {
  const dir = path.join(browserDir(), 'node_modules', 'playwright-core');
  if (!fs.existsSync(path.join(dir, 'package.json'))) {
    console.error(`${dir} is missing: the browser_setup test installs it (npm ci)`);
    process.exit(2);
  }
  return require(dir);
}

module.exports = { CHROMIUM, SKIP, skipUnlessChromium, browserDir, concertd, playwright };
