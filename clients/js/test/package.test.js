'use strict';
// `npm pack` gives an installable package: install the tarball into a temp project (offline)
// and load it there with require and with import; its type declarations cover the API.

const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { after, before, test } = require('node:test');

const PKG = path.resolve(__dirname, '..');
let tmp;
let project;
let packed;

const run = (cmd, args, cwd) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'exteros-npm-'));
  [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', tmp], PKG));
  project = path.join(tmp, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'uses-exteros', version: '1.0.0', private: true }),
  );
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', path.join(tmp, packed.filename)], project);
});

after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

test('the tarball holds the package and nothing else', () => {
  const files = packed.files.map((f) => f.path).sort();
  assert.deepEqual(files, ['README.md', 'index.d.ts', 'index.js', 'index.mjs', 'package.json']);
  assert.equal(packed.name, 'exteros');
});

test('require("exteros") from the installed package', () => {
  const out = run(
    process.execPath,
    [
      '-e',
      `const exteros = require('exteros');
       const api = exteros.authorize('k', { baseUrl: 'http://127.0.0.1:1' });
       api.locations().catch((err) => console.log(JSON.stringify({
         where: require.resolve('exteros'),
         error: err instanceof exteros.ExterosError, status: err.status,
         methods: Object.getOwnPropertyNames(Object.getPrototypeOf(api)),
       })));`,
    ],
    project,
  );
  const got = JSON.parse(out);
  assert.ok(got.where.startsWith(path.join(project, 'node_modules', 'exteros')), got.where);
  assert.equal(got.error, true);
  assert.equal(got.status, 0);
  for (const m of ['impressionCounts', 'discoveryCounts', 'engagementCounts', 'interactionCounts', 'locations', 'lastUpdate']) {
    assert.ok(got.methods.includes(m), m);
  }
});

test('import from the installed package (ESM, default and named)', () => {
  const out = run(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import exteros, { authorize, ExterosError } from 'exteros';
       import { createRequire } from 'node:module';
       const api = authorize('k', { baseUrl: 'http://127.0.0.1:1' });
       try { await api.lastUpdate('x'); } catch (err) {
         console.log(JSON.stringify({ same: exteros.ExterosError === ExterosError,
           error: err instanceof ExterosError, status: err.status,
           where: createRequire(import.meta.url).resolve('exteros') }));
       }`,
    ],
    project,
  );
  const got = JSON.parse(out);
  assert.deepEqual({ ...got, where: undefined }, { same: true, error: true, status: 0, where: undefined });
  assert.ok(got.where.startsWith(path.join(project, 'node_modules', 'exteros')), got.where);
});

test('the type declarations name every public method', () => {
  const dts = fs.readFileSync(path.join(project, 'node_modules', 'exteros', 'index.d.ts'), 'utf8');
  const meta = JSON.parse(fs.readFileSync(path.join(project, 'node_modules', 'exteros', 'package.json'), 'utf8'));
  assert.equal(meta.exports['.'].types, './index.d.ts');
  const { Client } = require('..');
  const methods = Object.getOwnPropertyNames(Client.prototype).filter((m) => !m.startsWith('_') && m !== 'constructor');
  for (const m of methods) assert.match(dts, new RegExp(`\\b${m}\\(`), `index.d.ts lacks ${m}`);
  for (const name of ['authorize', 'ExterosError', 'Client']) assert.match(dts, new RegExp(`export (function|class) ${name}\\b`));
});
