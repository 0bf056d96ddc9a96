// The documentation pages in a real browser: Debian's chromium, headless,
// driven by playwright-core, against a presignd with API keys
// (tests/integration/test_docs.py starts it).
//
//   PRESIGND_URL  presignd's base URL
//   API_KEY       an API key with the upload permission
//   CHROMIUM      the browser               (default /usr/bin/chromium)
//   ARTIFACTS     screenshots go here       (default tests/browser/artifacts)
//
// /docs (Swagger UI): Authorize with the key, "Try it out" on POST
// /upload-url with a body, Execute, and the 200 with a presigned_url is on
// the page (the request carried Authorization: Bearer KEY). /redoc
// (ReDoc): every path of the document is on the page, and its search (a
// Web Worker) finds an operation. On both: no Content-Security-Policy
// violation, no request to another origin than presignd's, no console
// error. Prints "docs-browser: ok" and exits 0 on success.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const PRESIGND_URL = (process.env.PRESIGND_URL || 'http://127.0.0.1:8000').replace(/\/+$/, '');
const API_KEY = process.env.API_KEY || '';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.ARTIFACTS || path.join(here, 'artifacts');
const TIMEOUT = Number(process.env.BROWSER_TIMEOUT_MS || 30000);
const ORIGIN = new URL(PRESIGND_URL).origin;

function log(msg) {
  process.stdout.write(`docs-browser: ${msg}\n`);
}

// The origin a request goes to; a blob: URL's is the page's that made it.
function originOf(url) {
  const u = new URL(url);
  if (u.protocol === 'data:') return ORIGIN;
  return u.origin;
}

// Record what must not happen on PAGE: violations (reported to the page
// by the browser; collected by a listener installed before any script),
// requests elsewhere, console errors, uncaught exceptions.
function watch(page, problems, requests) {
  page.on('request', (req) => {
    requests.push(req);
    if (originOf(req.url()) !== ORIGIN) problems.push(`request to another origin: ${req.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    if (m.text().startsWith('csp-violation ')) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
}

async function docsPage(context, problems) {
  const page = await context.newPage();
  const requests = [];
  watch(page, problems, requests);
  log(`opening ${PRESIGND_URL}/docs`);
  await page.goto(`${PRESIGND_URL}/docs`, { waitUntil: 'load' });
  const op = page.locator('#operations-files-createUploadUrl');
  await op.waitFor();

  // Authorize: the bearer scheme of the document.
  await page.click('.auth-wrapper .btn.authorize');
  const modal = page.locator('.dialog-ux .modal-ux');
  await modal.locator('input').first().fill(API_KEY);
  await modal.locator('button.auth.authorize').click();
  await modal.locator('button.btn-done').click();
  log('authorized with the API key');

  // Try it out: POST /upload-url with a file name and its size.
  await op.locator('.opblock-summary').first().click();
  await op.locator('.try-out__btn').click();
  const body = { filename: 'docs-try-it-out.pdf', size: 1234 };
  await op.locator('textarea.body-param__text').fill(JSON.stringify(body, null, 2));
  const sent = page.waitForRequest((r) => r.url() === `${PRESIGND_URL}/upload-url` &&
                                         r.method() === 'POST');
  await op.locator('button.execute').click();
  const req = await sent;
  const auth = (await req.allHeaders()).authorization;
  if (auth !== `Bearer ${API_KEY}`) throw new Error(`Try it out sent Authorization: ${auth}`);
  if (JSON.stringify(JSON.parse(req.postData())) !== JSON.stringify(body)) {
    throw new Error(`Try it out sent the body ${req.postData()}`);
  }
  const row = op.locator('.live-responses-table tr.response').first();
  await row.waitFor();
  const status = (await row.locator('.response-col_status').textContent()).trim();
  const shown = await row.locator('.response-col_description').textContent();
  await row.scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(ARTIFACTS, 'docs.png'), fullPage: false });
  if (status !== '200') throw new Error(`Try it out: status ${status}: ${shown}`);
  if (!/"presigned_url"\s*:\s*"http/.test(shown)) {
    throw new Error(`Try it out: no presigned_url in the answer shown: ${shown.slice(0, 500)}`);
  }
  log('Try it out on POST /upload-url: 200 with a presigned_url');
  await page.close();
  return requests.length;
}

async function redocPage(context, problems) {
  const page = await context.newPage();
  const requests = [];
  watch(page, problems, requests);
  const doc = await (await fetch(`${PRESIGND_URL}/openapi.json`)).json();
  log(`opening ${PRESIGND_URL}/redoc`);
  await page.goto(`${PRESIGND_URL}/redoc`, { waitUntil: 'load' });
  await page.locator('.api-content').waitFor();
  await page.locator('h1', { hasText: 'presignd' }).first().waitFor();
  // Every path of the document, in the operations' request panels.
  const text = await page.evaluate(() => document.body.textContent);
  const missing = Object.keys(doc.paths).filter((p) => !text.includes(p));
  if (missing.length) throw new Error(`/redoc does not show ${missing.join(', ')}`);
  log(`all ${Object.keys(doc.paths).length} paths of the document are on /redoc`);
  // The search runs in a Web Worker made from a blob: URL.
  await page.fill('input[placeholder="Search..."]', 'presigned');
  await page.locator('[data-role="search:results"] li',
                     { hasText: 'Presigned URL to upload a file' }).first().waitFor();
  log('the search (a Web Worker) finds operations');
  await page.screenshot({ path: path.join(ARTIFACTS, 'redoc.png'), fullPage: false });
  await page.close();
  return requests.length;
}

async function main() {
  if (!API_KEY) throw new Error('API_KEY is not set');
  mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu',
           '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  const problems = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(TIMEOUT);
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        console.log(`csp-violation ${e.violatedDirective} ${e.blockedURI} ` +
                    `${e.sourceFile}:${e.lineNumber}`);
      });
    });
    const n = await docsPage(context, problems) + await redocPage(context, problems);
    log(`${n} requests, all to ${ORIGIN}`);
  } finally {
    await browser.close();
  }
  if (problems.length) throw new Error(problems.join('\n'));
  log('ok');
}

main().catch((e) => {
  process.stderr.write(`docs-browser: FAILED: ${e.stack || e}\n`);
  process.exit(1);
});
