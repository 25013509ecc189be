'use strict';
// A real `exteros-central serve` for the tests: the shared fixture (clients/testdata/fixture.py
// sets up SQLite with the CLI and imports the published example day), then the server on a
// free port. The Python is $EXTEROS_PYTHON, else the repository's .venv, else python3.

const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const TESTDATA = path.join(ROOT, 'clients', 'testdata');
const TABLE = JSON.parse(fs.readFileSync(path.join(TESTDATA, 'published_examples.json'), 'utf8'));

function python() {
  if (process.env.EXTEROS_PYTHON) return process.env.EXTEROS_PYTHON;
  const venv = path.join(ROOT, '.venv', 'bin', 'python');
  return fs.existsSync(venv) ? venv : 'python3';
}

/** A fresh store in a temp dir: {db, key, central, dir, remove()}. */
function prepare() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exteros-js-'));
  const out = execFileSync(python(), [path.join(TESTDATA, 'fixture.py'), dir], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return {
    ...JSON.parse(out.trim().split('\n').pop()),
    dir,
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Start `exteros-central serve` on `store` with extra environment; resolves when it answers. */
async function startServer(store, env = {}) {
  const port = await freePort();
  const logPath = path.join(store.dir, `serve-${port}.log`);
  const log = fs.openSync(logPath, 'w');
  const [cmd, ...rest] = store.central;
  const proc = spawn(cmd, [...rest, '--db', store.db, 'serve', '--host', '127.0.0.1', '--port', String(port)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', log, log],
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (proc.exitCode !== null) {
      throw new Error(`exteros-central serve exited: ${fs.readFileSync(logPath, 'utf8').slice(-2000)}`);
    }
    try {
      const resp = await fetch(`${baseUrl}/healthz`);
      if (resp.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill();
      throw new Error(`exteros-central serve did not answer: ${fs.readFileSync(logPath, 'utf8').slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    baseUrl,
    key: store.key,
    async stop() {
      if (proc.exitCode === null) {
        const done = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await done;
      }
      fs.closeSync(log);
    },
  };
}

/** The request as curl makes it: status and the body's exact text. */
async function rawGet(baseUrl, kase, key) {
  const url = `${baseUrl}${kase.path}${kase.query ? `?${kase.query}` : ''}`;
  const resp = await fetch(url, { headers: { Authorization: kase.key || key } });
  return { status: resp.status, text: await resp.text() };
}

/** snake_case call of the table -> the JS method name. */
const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

/** Run one table case through a client: positional args, then the options object if any. */
function callCase(api, kase) {
  const args = [...kase.args];
  if (Object.keys(kase.options).length) args.push(kase.options);
  return api[camel(kase.call)](...args);
}

module.exports = { ROOT, TABLE, prepare, startServer, rawGet, callCase, camel };
