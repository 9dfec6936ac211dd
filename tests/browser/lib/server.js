'use strict';
// A concertd of the test's own: memory store, the demo catalog, a free port
// read from its startup line (as tests/http/harness.py does), stopped at the end.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { browserDir, concertd } = require('./env');

const STARTUP_TIMEOUT_MS = 15000;
const STOP_TIMEOUT_MS = 15000;
const LISTEN_LINE = /^concertd listening on http:\/\/([^:\s]+):(\d+)$/m;

// Demo catalog (examples/common/demo_catalog.c) ids the tests rely on.
const DEMO = {
  users: { kim: 1, lee: 2, park: 3, choi: 4, jung: 5 }, // lee and jung: 0 points
  concert: 1,          // Winter Symphony Night, 300 seats
  pastSchedule: 10,    // booking closed
  schedules: [11, 12], // bookable
  club: { concert: 2, schedule: 20 }, // 150 seats, 121..150 grade A 40,000
};

async function startServer(name, args = []) {
  const logDir = path.join(browserDir(), 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const logPath = path.join(logDir, `${name}-concertd.log`);
  const log = fs.openSync(logPath, 'w');
  const argv = ['--store', 'memory:', '--demo', '--listen', '127.0.0.1:0', ...args];
  const proc = spawn(concertd(), argv, { stdio: ['ignore', 'pipe', log] });
  fs.closeSync(log);

  const base = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(`no startup line in ${STARTUP_TIMEOUT_MS} ms`),
                             STARTUP_TIMEOUT_MS);
    function fail(why) {
      clearTimeout(timer);
      proc.kill('SIGKILL');
      reject(new Error(`concertd did not start (${why}): stdout ${JSON.stringify(out)}, ` +
                       `log ${fs.readFileSync(logPath, 'utf8')}`));
    }
    proc.on('exit', (code, sig) => fail(`exited with ${code ?? sig}`));
    proc.stdout.on('data', (chunk) => {
      out += chunk;
      const m = LISTEN_LINE.exec(out);
      if (m) {
        clearTimeout(timer);
        proc.removeAllListeners('exit');
        resolve(`http://${m[1]}:${m[2]}`);
      }
    });
  });
  proc.stdout.resume();

  return {
    url: base,
    logPath,
    log: () => fs.readFileSync(logPath, 'utf8'),
    call: (method, p, body, token) => call(base, method, p, body, token),
    callWith: (method, p, body, headers) => call(base, method, p, body, undefined, headers),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null)
        throw new Error(`concertd died during the test: ${fs.readFileSync(logPath, 'utf8')}`);
      const exited = new Promise((resolve) => proc.on('exit', (code, sig) => resolve(code ?? sig)));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const code = await exited;
      clearTimeout(timer);
      if (code !== 0)
        throw new Error(`concertd exited with ${code} on SIGTERM: ${fs.readFileSync(logPath, 'utf8')}`);
    },
  };
}

// One JSON request (the "other buyer" is a plain HTTP client).
function call(base, method, p, body, token, extra = {}) {
  return new Promise((resolve, reject) => {
    const headers = { ...extra };
    let data;
    if (body !== undefined) {
      data = Buffer.from(JSON.stringify(body));
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = data.length;
    }
    if (token) headers.Authorization = `Bearer ${token}`;
    const req = http.request(`${base}${p}`, { method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let json = null;
        if (raw) {
          try { json = JSON.parse(raw); } catch { json = null; }
        }
        resolve({ status: res.statusCode, headers: res.headers, raw, json });
      });
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error(`${method} ${p}: no answer in 10 s`)));
    if (data) req.write(data);
    req.end();
  });
}

module.exports = { startServer, DEMO };
