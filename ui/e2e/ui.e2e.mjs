// End-to-end test of the web UI in a real browser: starts the real `ferry serve --demo` on a
// temporary SQLite file and a free 127.0.0.1 port, drives Debian's Chromium through
// playwright-core, and walks what a support person and an integrator do: log in, find a demo
// order by its business key, open its record, replay a failed record from the error queue
// (checking the outcome against the API), and get a live mapping preview on the flow page;
// then the demo merchant creates and tests connections, and the admin diffs and rolls back
// flow versions, edits the flow (live preview, errors in place, save, diff), creates a flow,
// uses the Users page (create, disable), sets alert settings (the tenant's default and a flow's
// own), sends a test alert and reads the delivery log, filters the audit log, checks what support
// and the merchant are offered there, and uses an API token. Each result is checked against the API.
//
//   FERRY_BIN   the ferry binary (default: $CARGO_TARGET_DIR or <repo>/target, then debug/ferry)
//   CHROMIUM    the browser (default /usr/bin/chromium)
//   E2E_SCREENSHOT  where to save a screenshot of the flow page, and beside it (`-editor.png`) one
//                   of the flow editor with a refused save (default: none)
//
// Exits non-zero with the failing step and the server's log on any failure.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, openSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const uiDir = resolve(here, '..');
const repo = resolve(uiDir, '..');
const ferryBin =
  process.env.FERRY_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(repo, 'target'), 'debug', 'ferry');
const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const dist = join(uiDir, 'dist');

const ADMIN_EMAIL = 'e2e-admin@localhost';
const ADMIN_PASSWORD = 'e2e admin password';
// The demo merchant `ferry serve --demo` creates (src/demo/mod.rs), with this password.
const MERCHANT_EMAIL = 'demo@localhost';
const MERCHANT_PASSWORD = 'e2e demo merchant';
// The mock shop's order list (src/demo/mock.rs ORDERS_PATH): it answers 401 without
// `X-Shopify-Access-Token`, so "Test connection" there checks the credential too.
const SHOP_ORDERS_PATH = '/admin/api/2024-10/orders.json';
const FLOW_ID = 'demo-shop-orders-to-erp';
// The demo shop's order #1005 is its fifth order; its id (the flow's business key) is
// FIRST_ID + 4 × ID_STEP in src/demo/data.rs. The test checks the record's input says #1005.
const ORDER_NUMBER = '#1005';
const ORDER_KEY = String(5_923_180_000_100 + 4 * 137);
// An order the demo flow maps without errors, for the editor's preview.
const EDIT_SAMPLE = {
  id: 1,
  name: '#9001',
  financial_status: 'paid',
  created_at: '2026-01-02T10:00:00Z',
  currency: 'EUR',
  customer: { email: 'A@B.FR', first_name: 'Ada', last_name: 'B' },
  billing_address: { country_code: 'FR', city: 'Paris' },
  line_items: [{ sku: 'S1', title: 'T', quantity: 2, price: '5.00' }],
  shipping_lines: [{ price: '4.90' }],
  total_price: '14.90',
  total_tax: '2.48',
};

let passed = 0;
const failures = [];

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns something truthy; an `Error` thrown by `check` ends it at once. */
async function until(what, fn, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      if (e instanceof CheckFailed) throw e;
      last = e;
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

/** A failed expectation (as opposed to a request that may succeed when tried again). */
class CheckFailed extends Error {}

function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

/** Runs one named step; the first failure stops the walk (later steps depend on it). */
async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    passed += 1;
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failures.push(name);
    console.log(`FAIL ${name}: ${e.message}`);
    throw e;
  }
}

/** A small API client with the admin's session cookie (and the CSRF token its writes need), to
 * check what the UI shows. */
function apiClient(base) {
  let cookie = '';
  let csrf = '';
  return {
    async login() {
      const r = await fetch(`${base}/api/v1/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD }),
      });
      check(r.ok, `API login answered ${r.status}`);
      cookie = (r.headers.get('set-cookie') ?? '').split(';')[0];
      csrf = (await r.json()).csrf_token;
    },
    async get(path) {
      const r = await fetch(`${base}${path}`, { headers: { cookie } });
      check(r.ok, `GET ${path} answered ${r.status}: ${await r.clone().text()}`);
      return r.json();
    },
    async send(method, path, body) {
      const r = await fetch(`${base}${path}`, {
        method,
        headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      check(r.ok, `${method} ${path} answered ${r.status}: ${await r.clone().text()}`);
      return r.json();
    },
  };
}

async function main() {
  check(existsSync(ferryBin), `no ferry binary at ${ferryBin}: run \`cargo build\` or set FERRY_BIN`);
  check(existsSync(join(dist, 'index.html')), `no built UI in ${dist}: run \`npm run build\` first`);
  check(existsSync(browserPath), `no browser at ${browserPath}: \`apt-get install chromium\` or set CHROMIUM`);

  const work = mkdtempSync(join(tmpdir(), 'ferry-ui-e2e-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logPath = join(work, 'serve.log');
  const log = openSync(logPath, 'a');
  const server = spawn(
    ferryBin,
    ['serve', '--demo', '--listen', `127.0.0.1:${port}`, '--ui-dir', dist],
    {
      cwd: repo,
      env: {
        ...process.env,
        FERRY_DATABASE_URL: `sqlite://${join(work, 'ferry.db')}`,
        FERRY_ADMIN_EMAIL: ADMIN_EMAIL,
        FERRY_ADMIN_PASSWORD: ADMIN_PASSWORD,
        FERRY_DEMO_PASSWORD: MERCHANT_PASSWORD,
        FERRY_LOG: 'warn',
      },
      stdio: ['ignore', log, log],
    },
  );
  let browser;
  const api = apiClient(base);
  try {
    await step('ferry serve --demo starts and its demo run finishes', async () => {
      await until('the server to answer /health', async () => {
        // A server that stopped (a wrong flag, a taken port) will not answer: say so at once.
        check(server.exitCode === null, `ferry serve exited with code ${server.exitCode}`);
        return (await fetch(`${base}/health`)).ok;
      });
      await api.login();
      const run = await until('the demo run to finish', async () => {
        const { runs } = await api.get(`/api/v1/runs?flow_id=${FLOW_ID}`);
        return runs.find((r) => r.finished_at);
      }, 60_000);
      check(run.counts.created > 0 && run.counts.failed > 0, `unexpected demo run: ${JSON.stringify(run)}`);
    });

    browser = await chromium.launch({ executablePath: browserPath, headless: true, args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.setDefaultTimeout(15_000);

    await step('log in and see the user, role and tenant picker', async () => {
      await page.goto(base + '/');
      await page.fill('input[name=email]', ADMIN_EMAIL);
      await page.fill('input[name=password]', 'wrong password!');
      await page.click('button[type=submit]');
      await page.waitForSelector('.error:has-text("invalid_credentials")');
      await page.fill('input[name=password]', ADMIN_PASSWORD);
      await page.click('button[type=submit]');
      const user = await page.textContent('[data-testid=user]');
      check(user.includes(ADMIN_EMAIL) && user.includes('admin'), `header shows ${user}`);
      // The tenant list loads after the header appears.
      await page.waitForSelector('[data-testid=tenant-picker] option[value=demo]', { state: 'attached' }).catch(() => {});
      const tenants = await page.$$eval('[data-testid=tenant-picker] option', (os) => os.map((o) => o.value));
      check(tenants.includes('demo'), `tenant picker offers ${tenants}`);
      await page.waitForSelector('[data-testid=runs] tbody tr');
    });

    await step(`find order ${ORDER_NUMBER} by its business key and open its record`, async () => {
      await page.fill('input[name=key]', ORDER_KEY);
      await page.click('[data-testid=run-filters] button[type=submit]');
      await page.waitForSelector('[data-testid=key-match]');
      check(page.url().includes(`key=${ORDER_KEY}`), `the search is not in the URL: ${page.url()}`);
      await page.click('[data-testid=key-match] a:has-text("Open record")');
      const input = await page.waitForSelector(`[data-testid=record-input] pre:has-text('"name": "${ORDER_NUMBER}"')`);
      check(input, 'no input');
      const output = await page.textContent('[data-testid=record-output] pre');
      check(output.includes(`"order_number": "${ORDER_NUMBER}"`), `output sent: ${output}`);
      const facts = await page.textContent('[data-testid=record-facts]');
      check(facts.includes(ORDER_KEY) && facts.includes('HTTP 201'), `record facts: ${facts}`);
    });

    await step('replay a failed record from the error queue; the outcome matches the API', async () => {
      await page.click('header nav a:has-text("Flows")');
      await page.click(`[data-testid=flows] tr:has-text("${FLOW_ID}") a:has-text("error queue")`);
      await page.waitForSelector('[data-testid=failed] tbody tr');
      const queue = await api.get(`/api/v1/flows/${FLOW_ID}/failed`);
      const rows = await page.$$('[data-testid=failed] tbody tr');
      check(rows.length === queue.failed.length, `UI lists ${rows.length} failed, API ${queue.failed.length}`);
      const key = queue.failed[0].business_key;
      await page.click(`[data-testid=failed] tr[data-key="${key}"] button:has-text("Replay")`);
      const counts = await page.waitForSelector('[data-testid=replay-counts]', { timeout: 60_000 });
      const shown = (await counts.textContent()).replace(/\s+/g, ' ').trim();
      const runLink = await page.getAttribute('[data-testid=replay-result] a', 'href');
      const runId = Number(runLink.split('/').pop());
      const run = await api.get(`/api/v1/runs/${runId}`);
      const expected = `created ${run.counts.created}, updated ${run.counts.updated}, skipped ${run.counts.skipped}, failed ${run.counts.failed}`;
      check(shown === expected, `UI says "${shown}", API says "${expected}"`);
      check(run.trigger === 'replay' && run.counts.read === 1, `the replay run is not one record: ${JSON.stringify(run)}`);
      // The demo's broken orders fail again on replay (the data did not change), so the
      // record is back in the queue.
      check(run.counts.failed === 1, `the replayed broken order should fail again: ${JSON.stringify(run.counts)}`);
      await page.waitForSelector(`[data-testid=failed] tr[data-key="${key}"]`);
    });

    await step('open the flow: graph, and a live mapping preview with per-field errors', async () => {
      await page.click('header nav a:has-text("Flows")');
      await page.click(`[data-testid=flows] a[href="#/flows/${FLOW_ID}"]`);
      await page.waitForSelector('[data-testid=flow-graph]');
      const nodes = await page.$$eval('[data-testid=flow-graph] [data-node]', (ns) => ns.map((n) => n.dataset.node));
      const want = ['source', 'step:skip_pending', 'step:to_sales_order', 'target'];
      check(JSON.stringify(nodes) === JSON.stringify(want), `graph nodes ${nodes}`);
      // The sample starts as the flow's latest logged input; its preview maps it.
      await page.waitForSelector('[data-testid=preview-outcome]:has-text("mapped")', { timeout: 20_000 });
      const sample = JSON.parse(await page.inputValue('[data-testid=preview-input]'));
      check(sample.billing_address, `sample record: ${JSON.stringify(sample).slice(0, 200)}`);
      // Typing a country the flow's value map does not know: the field error comes back.
      sample.billing_address.country_code = 'XX';
      await page.fill('[data-testid=preview-input]', JSON.stringify(sample, null, 2));
      await page.waitForSelector('[data-testid=preview-outcome]:has-text("failed in step")');
      const errors = await page.textContent('[data-testid=preview-result] .field-errors');
      check(errors.includes('customer.country'), `field errors: ${errors}`);
      if (process.env.E2E_SCREENSHOT) await page.screenshot({ path: process.env.E2E_SCREENSHOT, fullPage: true });
    });

    await step('enable a template without connections: the 422 problems sit next to their slots', async () => {
      await page.selectOption('[data-testid=tenant-picker]', 'demo');
      await page.click('header nav a:has-text("Templates")');
      const { templates } = await api.get('/api/v1/templates');
      check(templates.length > 0, 'the API lists no templates');
      await page.waitForSelector('[data-testid=templates] .card');
      const cards = await page.$$('[data-testid=templates] .card');
      check(cards.length === templates.length, `UI shows ${cards.length} templates, API ${templates.length}`);
      const first = templates[0];
      await page.click(`[data-testid=templates] .card:has(h3:text-is("${first.name}")) button`);
      await page.waitForSelector('[data-testid=enable-form] h2:has-text("for demo")');
      await page.click('[data-testid=enable-form] button[type=submit]');
      await page.waitForSelector('[data-testid=enable-form] .error:has-text("invalid_template_choice")');
      for (const slot of Object.keys(first.slots)) {
        const label = page.locator(`[data-testid=enable-form] label:has(select[name="connections.${slot}"])`);
        const text = await label.locator('.field-error').first().textContent();
        check(text.includes(`\`${slot}\``), `slot ${slot} shows: ${text}`);
      }
      check(pageErrors.length === 0, `errors in the page: ${pageErrors.join('; ')}`);
    });

    // `ferry serve --demo` prints where its mock shop listens (src/demo/mod.rs).
    const mockUrl = () => {
      const found = readFileSync(logPath, 'utf8').match(/mock shop and ERP on (http:\/\/127\.0\.0\.1:\d+)/);
      check(found, 'the serve log does not say where the demo mock listens');
      return found[1];
    };
    const merchant = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
    merchant.on('pageerror', (e) => pageErrors.push(`merchant: ${e.message}`));
    merchant.setDefaultTimeout(15_000);
    // Deleting a connection and rolling back ask for a confirmation: say yes.
    for (const p of [page, merchant]) p.on('dialog', (d) => d.accept());

    /** Opens the connection form, picks the http connector and fills the common inputs. */
    async function fillHttpConnection(name, baseUrl) {
      await merchant.click('button:has-text("New connection")');
      const form = merchant.locator('[data-testid=connection-form]');
      await form.locator('input[name=name]').fill(name);
      await form.locator('select[name=connector]').selectOption('http');
      await form.locator('input[name="config.base_url"]').fill(baseUrl);
      await form.locator('input[name="config.health_path"]').fill(SHOP_ORDERS_PATH);
      return form;
    }

    await step('as the demo merchant, create a connection to the mock shop and test it', async () => {
      await merchant.goto(base + '/');
      await merchant.fill('input[name=email]', MERCHANT_EMAIL);
      await merchant.fill('input[name=password]', MERCHANT_PASSWORD);
      await merchant.click('button[type=submit]');
      await merchant.click('header nav a:has-text("Connections")');
      await merchant.waitForSelector('text=The systems tenant');
      const form = await fillHttpConnection('shop', mockUrl());
      await form.locator('select[name="config.auth.type"]').selectOption('api_key');
      await form.locator('input[name="config.auth.name"]').fill('X-Shopify-Access-Token');
      const secret = form.locator('input[name="config.auth.value"]');
      check((await secret.getAttribute('type')) === 'password', 'the API key input is not a password input');
      await secret.fill('demo-token');
      await form.locator('button[type=submit]').click();
      await merchant.waitForSelector('[data-testid=connections] tr[data-name=shop]');
      await merchant.click('[data-testid=connections] tr[data-name=shop] button:has-text("Test connection")');
      await merchant.waitForSelector('[data-testid=test-result][data-name=shop] .ok:has-text("Connection works")');
      // Through the API: stored in the demo tenant, the key write-only.
      const { connections } = await api.get('/api/v1/tenants/demo/connections');
      const shop = connections.find((c) => c.name === 'shop');
      check(shop?.connector === 'http' && shop.config.auth.value === '<set>', `stored: ${JSON.stringify(shop)}`);
      check(!JSON.stringify(connections).includes('demo-token'), 'the API shows the credential');
    });

    await step('a bad URL and a missing credential: the errors show in the form and the test', async () => {
      await fillHttpConnection('broken', 'not a url');
      const form = merchant.locator('[data-testid=connection-form]');
      await form.locator('button[type=submit]').click();
      const problem = form.locator('label:has(input[name="config.base_url"]) .field-error');
      await problem.waitFor();
      const text = await problem.textContent();
      check(/url/i.test(text), `the base_url error says: ${text}`);
      await form.locator('.error:has-text("invalid_config")').waitFor();
      // The same connection without the shop's key: stored, but the shop refuses it.
      await form.locator('input[name="config.base_url"]').fill(mockUrl());
      await form.locator('button[type=submit]').click();
      await merchant.waitForSelector('[data-testid=connections] tr[data-name=broken]');
      await merchant.click('[data-testid=connections] tr[data-name=broken] button:has-text("Test connection")');
      const failed = await merchant.waitForSelector('[data-testid=test-result][data-name=broken] .bad');
      const message = await failed.textContent();
      check(message.includes('Test failed') && /401|auth/i.test(message), `the failed test says: ${message}`);
      // Delete it (the confirmation is accepted above); the API no longer lists it.
      await merchant.click('[data-testid=connections] tr[data-name=broken] button:has-text("Delete")');
      await merchant.waitForSelector('[data-testid=connections] tr[data-name=broken]', { state: 'detached' });
      const { connections } = await api.get('/api/v1/tenants/demo/connections');
      check(!connections.some((c) => c.name === 'broken'), 'the deleted connection is still stored');
    });

    await step('edit the connection with its key left empty: the stored key is kept', async () => {
      await merchant.click('[data-testid=connections] tr[data-name=shop] button:has-text("Edit")');
      const form = merchant.locator('[data-testid=connection-form]');
      const secret = form.locator('input[name="config.auth.value"]');
      check((await secret.inputValue()) === '', 'the edit form shows the stored key');
      check((await secret.getAttribute('placeholder')) === 'leave empty to keep', 'no "leave empty to keep" hint');
      await form.locator('input[name="config.timeout_ms"]').fill('20000');
      await form.locator('button[type=submit]').click();
      await merchant.waitForSelector('[data-testid=connection-saved]:has-text("shop")');
      const shop = await api.get('/api/v1/tenants/demo/connections/shop');
      check(shop.config.timeout_ms === 20000 && shop.config.auth.value === '<set>', `after the edit: ${JSON.stringify(shop)}`);
      // The kept key still opens the shop.
      await merchant.click('[data-testid=connections] tr[data-name=shop] button:has-text("Test connection")');
      await merchant.waitForSelector('[data-testid=test-result][data-name=shop] .ok:has-text("Connection works")');
    });

    await step('support sees no connections', async () => {
      const email = 'e2e-support@localhost';
      const password = 'e2e support password';
      await api.send('POST', '/api/v1/users', { email, password, role: 'support', tenants: ['demo'] });
      const context = await browser.newContext();
      const support = await context.newPage();
      support.setDefaultTimeout(15_000);
      await support.goto(base + '/');
      await support.fill('input[name=email]', email);
      await support.fill('input[name=password]', password);
      await support.click('button[type=submit]');
      await support.waitForSelector('[data-testid=user]:has-text("support")');
      check((await support.locator('header nav a:has-text("Connections")').count()) === 0, 'support is offered Connections');
      await support.goto(base + '/#/connections');
      await support.waitForSelector('text=may not see connection settings');
      check((await support.locator('[data-testid=connections]').count()) === 0, 'support sees the connection list');
      // Neither support nor the merchant is offered editing flows or creating one.
      for (const [who, p] of [['support', support], ['merchant', merchant]]) {
        await p.goto(`${base}/#/flows/${FLOW_ID}`);
        await p.waitForSelector('p.crumbs');
        await p.waitForSelector('h1, .error');
        check((await p.locator('[data-testid=edit-flow]').count()) === 0, `${who} is offered Edit`);
        await p.goto(`${base}/#/flows`);
        await p.waitForSelector('h1:has-text("Flows")');
        check((await p.locator('button:has-text("New flow")').count()) === 0, `${who} is offered New flow`);
      }
      await context.close();
    });

    await step('a template slot without a connection of its connector links to creating one', async () => {
      await merchant.click('header nav a:has-text("Templates")');
      const { templates } = await api.get('/api/v1/templates');
      const wanted = templates.flatMap((t) => Object.values(t.slots).map((s) => [t, s.connector])).find(([, c]) => c !== 'http');
      check(wanted, 'no template needs a connector other than http');
      const [template, connector] = wanted;
      await merchant.click(`[data-testid=templates] .card:has(h3:text-is("${template.name}")) button`);
      await merchant.click(`[data-testid=enable-form] a[href="#/connections?create=${connector}"]`);
      const chosen = await merchant.locator('[data-testid=connection-form] select[name=connector]').inputValue();
      check(chosen === connector, `the create form starts with connector ${chosen}, not ${connector}`);
    });

    await step('as admin, diff two versions of the flow and roll back to the first', async () => {
      // Two saves through the API make versions 1 and 2 (the flow loaded at start has none).
      const { definition } = await api.get(`/api/v1/flows/${FLOW_ID}`);
      await api.send('PUT', `/api/v1/flows/${FLOW_ID}`, definition);
      await api.send('PUT', `/api/v1/flows/${FLOW_ID}`, { ...definition, name: 'Demo orders, renamed' });
      const before = (await api.get(`/api/v1/flows/${FLOW_ID}/versions`)).versions;
      const first = before.find((v) => v.version === 1);
      const newest = Math.max(...before.map((v) => v.version));
      check(first && newest === 2, `versions: ${JSON.stringify(before)}`);
      await page.goto(`${base}/#/flows/${FLOW_ID}`);
      await page.waitForSelector('[data-testid=versions] tr[data-version="2"]');
      await page.click('button:has-text("Show changes 1 → 2")');
      const row = page.locator('[data-testid=version-diff] tr[data-where=name]');
      await row.waitFor();
      const shown = (await row.textContent()).replace(/\s+/g, ' ');
      check(shown.includes('changed') && shown.includes(definition.name) && shown.includes('Demo orders, renamed'), `diff row: ${shown}`);
      await page.click('[data-testid=versions] tr[data-version="1"] button:has-text("Roll back")');
      await page.waitForSelector('[data-testid=rollback-result]:has-text("saved again as version 3")');
      const after = (await api.get(`/api/v1/flows/${FLOW_ID}/versions`)).versions;
      const current = after.find((v) => v.version === Math.max(...after.map((x) => x.version)));
      check(current.version === 3 && current.hash === first.hash, `after the rollback: ${JSON.stringify(after)}`);
      const flow = await api.get(`/api/v1/flows/${FLOW_ID}`);
      check(flow.name === definition.name, `the flow is named ${flow.name} after the rollback`);
    });

    await step('edit the flow: a changed field shows in the live preview, a bad Rhai transform is refused in place, the save is version 4 with its diff', async () => {
      const before = (await api.get(`/api/v1/flows/${FLOW_ID}/versions`)).versions;
      const newest = Math.max(...before.map((v) => v.version));
      await page.goto(`${base}/#/flows/${FLOW_ID}`);
      await page.click('[data-testid=edit-flow]');
      await page.waitForSelector('[data-testid=flow-editor]');
      // A sample order of our own, so the preview's answer is known.
      await page.fill('[data-testid=preview-input]', JSON.stringify(EDIT_SAMPLE, null, 2));
      await page.waitForSelector('[data-testid=preview-result] pre:has-text(\'"currency": "EUR"\')');
      // `currency` from a query to a constant: the preview follows the unsaved edit.
      const currency = page.locator('[data-testid=flow-editor] tr[data-target=currency]');
      await currency.locator('select[name=kind]').selectOption('static');
      await currency.locator('input[name=constant]').fill('USD');
      await page.waitForSelector('[data-testid=preview-result] pre:has-text(\'"currency": "USD"\')');
      // A transform that is not Rhai: the preview's error sits under that field's row.
      const number = page.locator('[data-testid=flow-editor] tr[data-target=order_number]');
      const key = await number.getAttribute('data-field');
      await number.locator('input[name=transform]').fill('lower(value');
      const problems = page.locator(`[data-testid=flow-editor] tr[data-problems-for="${key}"]`);
      await problems.locator('text=transform').first().waitFor();
      // Save is refused (422); the edits stay and the error is still next to the field.
      await page.click('[data-testid=save-flow]');
      await page.waitForSelector('[data-testid=save-error]:has-text("invalid_flow")');
      const shown = await problems.textContent();
      check(/transform/.test(shown) && /Rhai|syntax|expect/i.test(shown), `the field's problems: ${shown}`);
      check((await currency.locator('input[name=constant]').inputValue()) === 'USD', 'the refused save lost the edits');
      await page.click('[data-testid=edit-bar] button:has-text("Validate")');
      await page.waitForSelector('[data-testid=validation-result]:has-text("has problems")');
      check(/transform/.test(await problems.textContent()), 'Validate did not file the problem under the field');
      const still = (await api.get(`/api/v1/flows/${FLOW_ID}/versions`)).versions;
      check(still.length === before.length, `a refused save made a version: ${JSON.stringify(still)}`);
      if (process.env.E2E_SCREENSHOT) {
        await page.screenshot({ path: process.env.E2E_SCREENSHOT.replace(/(\.png)?$/, '-editor.png'), fullPage: true });
      }
      // The JSON view: a syntax error says where and disables the form.
      await page.check('[data-testid=show-json]');
      const json = await page.inputValue('[data-testid=flow-json]');
      check(json.includes('"lower(value"'), 'the JSON view does not show the edited transform');
      await page.fill('[data-testid=flow-json]', json.replace('"lower(value"', '"lower(value)",,'));
      const jsonProblem = await page.textContent('[data-testid=json-problem]');
      check(/line \d+, column \d+/.test(jsonProblem), `the JSON problem says: ${jsonProblem}`);
      check(await page.isDisabled('[data-testid=flow-editor] input[name=flow-name]'), 'the form is not disabled while the JSON is invalid');
      await page.waitForSelector('[data-testid=form-disabled]');
      // Fixed in the JSON: the form follows (the transform is the fixed one).
      await page.fill('[data-testid=flow-json]', json.replace('"lower(value"', '"upper(value)"'));
      await page.waitForSelector('[data-testid=preview-result] pre:has-text(\'"order_number": "#9001"\')');
      check((await number.locator('input[name=transform]').inputValue()) === 'upper(value)', 'the form did not follow the JSON');
      // A named table, its entries typed as lines.
      await page.fill('[data-testid=value-maps] input[aria-label="new table name"]', 'e2e_codes');
      await page.click('[data-testid=value-maps] button:has-text("Add table")');
      await page.fill('[data-testid=value-maps] [data-map=e2e_codes] textarea', 'EUR = 978\nUSD = 840');
      await page.click('[data-testid=edit-bar] button:has-text("Validate")');
      await page.waitForSelector('[data-testid=validation-result]:has-text("The flow is valid")');
      await page.click('[data-testid=save-flow]');
      const saved = newest + 1;
      await page.waitForSelector(`[data-testid=save-result]:has-text("Saved as version ${saved}")`);
      await page.waitForSelector(`[data-testid=versions] tr[data-version="${saved}"]`);
      const row = page.locator(`[data-testid=version-diff] tr[data-where="steps[1].fields[8].value.value"]`);
      await row.waitFor();
      const diff = (await row.textContent()).replace(/\s+/g, ' ');
      check(diff.includes('added') && diff.includes('"USD"'), `diff row: ${diff}`);
      const flow = await api.get(`/api/v1/flows/${FLOW_ID}`);
      const fields = flow.definition.steps[1].fields;
      const stored = fields[8];
      check(stored.target === 'currency' && stored.value.type === 'static' && stored.value.value === 'USD' && !('path' in stored.value), `stored: ${JSON.stringify(stored)}`);
      check(fields[0].transform === 'upper(value)', `stored transform: ${fields[0].transform}`);
      const table = flow.definition.value_maps.e2e_codes;
      check(JSON.stringify(table.entries) === '{"EUR":978,"USD":840}' && table.fail_if_unmapped === true, `stored table: ${JSON.stringify(table)}`);
      // Discard (confirmed) restores the saved flow and leaves edit mode.
      await page.fill('[data-testid=flow-editor] input[name=flow-name]', 'Not kept');
      await page.waitForSelector('[data-testid=flow-graph]');
      await page.click('[data-testid=edit-bar] button:has-text("Discard")');
      await page.waitForSelector('[data-testid=edit-flow]');
      check((await page.locator('[data-testid=flow-editor]').count()) === 0, 'the editor stays open after Discard');
      check((await api.get(`/api/v1/flows/${FLOW_ID}`)).name === flow.name, 'Discard changed the stored flow');
    });

    await step('create a flow from a skeleton, and refuse a pasted one with its problems', async () => {
      await page.click('header nav a:has-text("Flows")');
      await page.click('button:has-text("New flow")');
      await page.fill('input[name=new-flow-id]', 'e2e-new-flow');
      await page.fill('input[name=new-flow-name]', 'Made in the e2e test');
      await page.click('[data-testid=new-flow] button[type=submit]');
      await page.waitForSelector('h1:has-text("Made in the e2e test")');
      check(page.url().endsWith('#/flows/e2e-new-flow'), `after create: ${page.url()}`);
      const created = await api.get('/api/v1/flows/e2e-new-flow');
      check(created.tenant === 'demo', `created for tenant ${created.tenant}`);
      // A pasted file with a bad step: the API's problems come back with their paths.
      await page.click('header nav a:has-text("Flows")');
      await page.click('button:has-text("New flow")');
      await page.check('[data-testid=new-flow] input[value=file]');
      const broken = { ...created.definition, id: 'e2e-broken', steps: [{ id: 'f', type: 'filter', condition: 'record.a ==' }] };
      await page.fill('[data-testid=flow-text]', JSON.stringify(broken, null, 2));
      await page.click('[data-testid=new-flow] button[type=submit]');
      const listed = await page.textContent('[data-testid=new-flow] [data-testid=field-problems]');
      check(listed.includes('steps[0].condition'), `the create problems: ${listed}`);
    });

    await step('as admin, create a user (problems in place, the first password shown once), then disable it', async () => {
      await page.selectOption('[data-testid=tenant-picker]', 'demo');
      await page.click('header nav a:has-text("Users")');
      const form = page.locator('[data-testid=user-form]');
      await form.waitFor();
      const email = 'e2e-integrator@localhost';
      await form.locator('input[name=email]').fill(email);
      await form.locator('select[name=role]').selectOption('merchant');
      await form.locator('input[name=password]').fill('short');
      await form.locator('button[type=submit]').click();
      // Checked before asking: a merchant needs its one tenant, a password 10 characters.
      const tenantsProblem = await form.locator('[data-testid=user-tenants] .field-error').textContent();
      check(/exactly one tenant/.test(tenantsProblem), `the tenants problem: ${tenantsProblem}`);
      const pwProblem = await form.locator('label:has(input[name=password]) .field-error').textContent();
      check(/at least 10/.test(pwProblem), `the password problem: ${pwProblem}`);
      await form.locator('select[name=role]').selectOption('integrator');
      await form.locator('[data-testid=user-tenants] input[value=demo]').check();
      await form.locator('button:has-text("Generate")').click();
      const password = await form.locator('input[name=password]').inputValue();
      check(password.length >= 10, `the generated password: ${password}`);
      await form.locator('button[type=submit]').click();
      const shown = (await page.textContent('[data-testid=new-user-password]')).trim();
      check(shown === password, `the page shows ${shown}, the form had ${password}`);
      const row = page.locator(`[data-testid=users] tr[data-email="${email}"]`);
      await row.waitFor();
      const { users } = await api.get('/api/v1/users');
      const stored = users.find((u) => u.email === email);
      check(stored?.role === 'integrator' && JSON.stringify(stored.tenants) === '["demo"]', `stored: ${JSON.stringify(stored)}`);
      const login = (pw) =>
        fetch(`${base}/api/v1/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email, password: pw }),
        });
      check((await login(password)).ok, 'the new user cannot sign in with the password shown');
      // The same email again: the API's 409 sits under the email.
      await form.locator('input[name=email]').fill(email);
      await form.locator('[data-testid=user-tenants] input[value=demo]').check();
      await form.locator('button[type=submit]').click();
      const taken = await form.locator('label:has(input[name=email]) .field-error').textContent();
      check(taken.includes('exists'), `the duplicate email says: ${taken}`);
      // Disable (the confirmation is accepted): the row says so and the login is refused.
      await row.locator('button:has-text("Disable")').click();
      await row.locator('text=disabled').waitFor();
      check((await login(password)).status === 401, 'a disabled user can still sign in');
      check((await page.locator(`[data-testid=users] tr:has-text("${ADMIN_EMAIL}") button:has-text("Disable")`).count()) === 0, 'the admin is offered disabling itself');
    });

    await step('alerts: the tenant default with a bad recipient refused in place, saved, and a test alert with its answer', async () => {
      await page.click('header nav a:has-text("Alerts")');
      const form = page.locator('[data-testid=tenant-alert-form]');
      await form.waitFor();
      await form.locator('button:has-text("Add email")').click();
      await form.locator('[data-channel="0"] input[name=to]').fill('ops@demo.example, not-an-address');
      await form.locator('button:has-text("Add webhook")').click();
      // The demo's mock takes alert webhooks (src/demo/mock.rs ALERTS_PATH); there is no SMTP server.
      await form.locator('[data-channel="1"] input[name=url]').fill(`${mockUrl()}/hooks/alerts/demo`);
      await form.locator('input[name=heartbeat_hours]').fill('24');
      await form.locator('button:has-text("Save default")').click();
      const problem = await form.locator('[data-channel="0"] label:has(input[name=to]) .field-error').textContent();
      check(/not-an-address/.test(problem) && /email/.test(problem), `the recipient problem: ${problem}`);
      await form.locator('[data-channel="0"] input[name=to]').fill('ops@demo.example, Jane <jane@demo.example>');
      await form.locator('button:has-text("Save default")').click();
      await page.waitForSelector('[data-testid=tenant-alerts-saved]');
      const stored = await api.get('/api/v1/tenants/demo/alerts');
      check(
        stored.alerts?.channels?.length === 2 && stored.alerts.heartbeat_hours === 24 && stored.alerts.channels[0].to.includes('jane@demo.example'),
        `stored default: ${JSON.stringify(stored)}`,
      );

      await page.click(`[data-testid=alert-flows] tr[data-flow="${FLOW_ID}"] button:has-text("Send test alert")`);
      const answer = page.locator(`[data-testid=alert-test][data-flow="${FLOW_ID}"] [data-testid=alert-test-answer]`);
      await answer.waitFor({ timeout: 30_000 });
      const text = (await answer.textContent()).replace(/\s+/g, ' ');
      // The demo has no SMTP server: the email fails and says why; the mock takes the webhook.
      check(text.includes("tenant's default"), `the answer does not say where the channels came from: ${text}`);
      check(/failed — no SMTP server configured/.test(text), `the email answer: ${text}`);
      // The log and the answer show a webhook URL without its secret part (docs/alerts.md).
      check(/webhook http:\/\/127\.0\.0\.1:\d+\/hooks\/… #[0-9a-f]+: sent/.test(text), `the webhook answer: ${text}`);
      const { alerts } = await (await fetch(`${mockUrl()}/admin/demo/alerts`)).json();
      const got = alerts.find((a) => a.path === '/hooks/alerts/demo');
      check(got?.body?.kind === 'test' && got.body.flow?.id === FLOW_ID, `the mock received: ${JSON.stringify(alerts)}`);
    });

    await step('alerts: the delivery log lists the test deliveries, the failed one with its error, filtered like the API', async () => {
      const filters = page.locator('[data-testid=delivery-filters]');
      await filters.locator('select[name=kind]').selectOption('test');
      await filters.locator('select[name=status]').selectOption('failed');
      await filters.locator('button[type=submit]').click();
      const email = page.locator('[data-testid=deliveries] tr[data-channel=email][data-kind=test][data-status=failed]');
      await email.first().waitFor();
      // The unfiltered list already holds that row: wait until the filtered answer replaced it.
      await page.waitForFunction(() =>
        [...document.querySelectorAll('[data-testid=deliveries] tbody tr')].every(
          (r) => r.dataset.kind === 'test' && r.dataset.status === 'failed',
        ),
      );
      check((await email.first().textContent()).includes('no SMTP server configured'), 'the email delivery shows no error');
      const { deliveries } = await api.get('/api/v1/alert-deliveries?tenant=demo&kind=test&status=failed');
      const rows = await page.$$eval('[data-testid=deliveries] tbody tr', (rs) => rs.map((r) => Number(r.dataset.id)));
      check(JSON.stringify(rows) === JSON.stringify(deliveries.map((d) => d.id)), `UI rows ${rows}, API ${deliveries.map((d) => d.id)}`);
      check(!deliveries.some((d) => d.channel === 'webhook'), 'the delivered webhook is listed as failed');
      // Only sent ones: the webhook, and no email.
      await filters.locator('select[name=status]').selectOption('sent');
      await filters.locator('button[type=submit]').click();
      await page.waitForSelector('[data-testid=deliveries] tr[data-channel=webhook][data-status=sent]');
      check((await page.locator('[data-testid=deliveries] tr[data-status=failed]').count()) === 0, 'a failed delivery is listed as sent');
    });

    await step("alerts: a flow's own settings, a bad URL refused in place, saved as a new version, then back to the default", async () => {
      // From the flow's page, its "alerts" link.
      await page.click('header nav a:has-text("Flows")');
      await page.click(`[data-testid=flows] a[href="#/flows/${FLOW_ID}"]`);
      await page.click(`main a[href="#/alerts?flow=${FLOW_ID}"]`);
      const panel = page.locator('[data-testid=flow-alerts]');
      await panel.locator('[data-testid=flow-alerts-source]:has-text("no settings of its own")').waitFor();
      // Its own settings start as a copy of the tenant's default (two channels); add a third.
      await panel.locator('button:has-text("Give it its own settings")').click();
      const form = panel.locator('[data-testid=flow-alert-form]');
      check((await form.locator('fieldset[data-channel]').count()) === 2, "the flow's form does not start from the default");
      await form.locator('button:has-text("Add webhook")').click();
      await form.locator('[data-channel="2"] input[name=url]').fill('ftp://hooks.example.org/x');
      await form.locator('[data-channel="2"] select[name=on]').selectOption('both');
      await form.locator('button[type=submit]').click();
      const problem = await form.locator('[data-channel="2"] label:has(input[name=url]) .field-error').textContent();
      check(/http/.test(problem), `the URL problem: ${problem}`);
      await form.locator('[data-channel="2"] input[name=url]').fill(`${mockUrl()}/hooks/alerts/flow`);
      await form.locator('button[type=submit]').click();
      const saved = await panel.locator('[data-testid=flow-alerts-saved]').textContent();
      const { versions } = await api.get(`/api/v1/flows/${FLOW_ID}/versions`);
      check(saved.includes(`version ${versions[0].version}`), `"${saved}", newest version ${versions[0].version}`);
      const flow = await api.get(`/api/v1/flows/${FLOW_ID}`);
      const own = flow.definition.alerts?.channels ?? [];
      check(own.length === 3 && own[2].on === 'both' && own[2].url.endsWith('/hooks/alerts/flow'), `the flow's alerts: ${JSON.stringify(flow.definition.alerts)}`);
      await panel.locator('[data-testid=flow-alerts-source]:has-text("its own settings")').waitFor();
      await page.click(`[data-testid=alert-flows] tr[data-flow="${FLOW_ID}"] button:has-text("Send test alert")`);
      await page.waitForSelector(`[data-testid=alert-test][data-flow="${FLOW_ID}"] [data-testid=alert-test-answer]:has-text("flow's own settings")`, { timeout: 30_000 });
      const own2 = await page.textContent(`[data-testid=alert-test][data-flow="${FLOW_ID}"] [data-testid=alert-test-answer]`);
      check((own2.match(/: sent/g) ?? []).length === 2, `the flow's own webhooks: ${own2}`);
      const { alerts } = await (await fetch(`${mockUrl()}/admin/demo/alerts`)).json();
      check(alerts.some((a) => a.path === '/hooks/alerts/flow'), `the mock did not receive the flow's own webhook: ${JSON.stringify(alerts)}`);
      await panel.locator('button:has-text("Use the tenant\'s default")').click();
      await panel.locator('[data-testid=flow-alerts-source]:has-text("no settings of its own")').waitFor();
      const after = await api.get(`/api/v1/flows/${FLOW_ID}`);
      check(after.definition.alerts === undefined, `the flow still has alerts: ${JSON.stringify(after.definition.alerts)}`);
    });

    await step('the audit log lists these changes, filtered by the API by action, who and tenant, and pages', async () => {
      await page.click('header nav a:has-text("Audit log")');
      const filters = page.locator('[data-testid=audit-filters]');
      await page.waitForSelector('[data-testid=audit] tbody tr');
      const shownIds = () => page.$$eval('[data-testid=audit] tbody tr', (rs) => rs.map((r) => Number(r.dataset.id)));
      await filters.locator('input[name=action]').fill('alerts.');
      await filters.locator('button[type=submit]').click();
      // The unfiltered list holds alerts.update rows too: wait for the filtered answer itself.
      const rowActions = () => page.$$eval('[data-testid=audit] tbody tr', (rs) => rs.map((r) => r.dataset.action));
      await until('the action filter', async () => {
        const actions = await rowActions();
        return actions.length > 0 && actions.every((a) => a.startsWith('alerts.'));
      });
      const { entries } = await api.get('/api/v1/audit?tenant=demo&action=alerts.&limit=50');
      check(JSON.stringify(await shownIds()) === JSON.stringify(entries.map((e) => e.id)), 'the UI and the API list different entries');
      await filters.locator('input[name=action]').fill('user.disable');
      await filters.locator('button[type=submit]').click();
      await page.waitForSelector('[data-testid=audit] tr[data-action="user.disable"]');
      await filters.locator('input[name=who]').fill('nobody@');
      await filters.locator('button[type=submit]').click();
      await page.waitForSelector('text=No entries match.');
      // Every tenant, a page at a time (50): older pages by the API's next_before.
      await filters.locator('button:has-text("Clear")').click();
      await page.waitForSelector('[data-testid=audit] tbody tr');
      const first = await api.get('/api/v1/audit?limit=50');
      await until('the unfiltered page', async () => JSON.stringify(await shownIds()) === JSON.stringify(first.entries.map((e) => e.id)));
      if (first.next_before != null) {
        await page.click('[data-testid=audit-pager] button:has-text("Older")');
        await page.waitForSelector('[data-testid=audit-pager]:has-text("page 2")');
        const second = await api.get(`/api/v1/audit?limit=50&before=${first.next_before}`);
        check(JSON.stringify(await shownIds()) === JSON.stringify(second.entries.map((e) => e.id)), 'page 2 differs from the API');
        await page.click('[data-testid=audit-pager] button:has-text("Newer")');
        await page.waitForSelector('[data-testid=audit-pager]:has-text("page 1")');
      }
    });

    await step('support reads alerts and the audit log, but changes and tests nothing and sees no users; the merchant sets alerts but no flow’s', async () => {
      const context = await browser.newContext();
      const support = await context.newPage();
      support.setDefaultTimeout(15_000);
      support.on('pageerror', (e) => pageErrors.push(`support: ${e.message}`));
      await support.goto(base + '/');
      await support.fill('input[name=email]', 'e2e-support@localhost');
      await support.fill('input[name=password]', 'e2e support password');
      await support.click('button[type=submit]');
      await support.waitForSelector('[data-testid=user]:has-text("support")');
      check((await support.locator('header nav a:has-text("Users")').count()) === 0, 'support is offered Users');
      await support.click('header nav a:has-text("Alerts")');
      const form = support.locator('[data-testid=tenant-alert-form]');
      await form.waitFor();
      check((await form.locator('input[name=to]').first().getAttribute('readonly')) !== null, 'support may type into the default');
      check((await support.locator('button:has-text("Save default"), button:has-text("Add email"), button:has-text("Remove default")').count()) === 0, 'support is offered changing the default');
      await support.waitForSelector('[data-testid=alert-flows] tbody tr');
      check((await support.locator('button:has-text("Send test alert")').count()) === 0, 'support is offered test alerts');
      check((await support.locator('[data-testid=alert-flows] a:has-text("Alert settings")').count()) === 0, 'support is offered flow definitions');
      await support.waitForSelector('[data-testid=deliveries] tbody tr');
      await support.goto(`${base}/#/alerts?flow=${FLOW_ID}`);
      await support.waitForSelector('[data-testid=flow-alerts]:has-text("may not read flow definitions")');
      check((await support.locator('[data-testid=flow-alert-form]').count()) === 0, "support sees a flow's alert form");
      await support.click('header nav a:has-text("Audit log")');
      await support.waitForSelector('[data-testid=audit] tbody tr');
      await support.goto(`${base}/#/users`);
      await support.waitForSelector('text=Only admins manage users.');
      check((await support.locator('[data-testid=users], [data-testid=user-form]').count()) === 0, 'support sees the users');
      await context.close();

      check((await merchant.locator('header nav a:has-text("Users")').count()) === 0, 'the merchant is offered Users');
      await merchant.click('header nav a:has-text("Alerts")');
      await merchant.waitForSelector('[data-testid=tenant-alert-form] button:has-text("Save default")');
      await merchant.waitForSelector(`[data-testid=alert-flows] tr[data-flow="${FLOW_ID}"] button:has-text("Send test alert")`);
      await merchant.click(`[data-testid=alert-flows] tr[data-flow="${FLOW_ID}"] a:has-text("Alert settings")`);
      await merchant.waitForSelector('[data-testid=flow-alerts-source]:has-text("for admins and integrators")');
      check(
        (await merchant.locator('[data-testid=flow-alerts] button').count()) === 0,
        "the merchant is offered changing a flow's alerts",
      );
    });

    await step('create an API token, see it once, use it, revoke it', async () => {
      await page.click('header nav a:has-text("API tokens")');
      await page.fill('input[name=token-name]', 'e2e script');
      await page.click('button:has-text("Create token")');
      const token = (await page.textContent('[data-testid=token-secret]')).trim();
      check(token.startsWith('fy_'), `the token shown: ${token}`);
      await page.click('[data-testid=new-token] button:has-text("Copy")');
      await page.waitForSelector('[data-testid=new-token] :text-matches("Copied|select the text")');
      const me = await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
      check(me.ok, `/api/v1/me with the token answered ${me.status}`);
      const { user } = await me.json();
      check(user.email === ADMIN_EMAIL, `the token is ${user.email}'s`);
      const row = page.locator('[data-testid=tokens] tr:has-text("e2e script")');
      check((await row.textContent()).includes(token.slice(0, 10)), 'the list does not show the token prefix');
      await row.locator('button:has-text("Revoke")').click();
      await row.locator('text=revoked').waitFor();
      const refused = await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
      check(refused.status === 401, `a revoked token answered ${refused.status}`);
      check(pageErrors.length === 0, `errors in the page: ${pageErrors.join('; ')}`);
    });
  } catch (e) {
    const shot = join(here, 'failure.png');
    const pages = browser?.contexts().flatMap((c) => c.pages()) ?? [];
    if (pages[0]) {
      await pages[0].screenshot({ path: shot, fullPage: true }).catch(() => {});
      console.log(`screenshot of the failing page: ${shot} (at ${pages[0].url()})`);
    }
    console.log('--- ferry serve log ---');
    console.log(readFileSync(logPath, 'utf8').slice(-4000));
  } finally {
    await browser?.close().catch(() => {});
    server.kill('SIGTERM');
    await Promise.race([new Promise((r) => server.once('exit', r)), sleep(10_000)]);
    if (server.exitCode === null) server.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`ui e2e: ${passed} passed, ${failures.length} failed`);
  process.exit(failures.length ? 1 : 0);
}

main().catch((e) => {
  console.error(`ui e2e: ${e.message}`);
  console.log(`ui e2e: ${passed} passed, ${failures.length || 1} failed`);
  process.exit(1);
});
