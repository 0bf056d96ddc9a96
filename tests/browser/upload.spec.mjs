// The upload page (examples/index.html) in a real browser: Debian's
// chromium, headless, driven by playwright-core. Against a running setup:
//
//   PRESIGND_URL  presignd's base URL      (default http://127.0.0.1:8000)
//   PAGE_URL      where examples/ is served (default http://127.0.0.1:8001/)
//   CHROMIUM      the browser               (default /usr/bin/chromium)
//   ARTIFACTS     screenshots go here       (default tests/browser/artifacts)
//
// It uploads a real file through the page (presigned PUT straight to S3,
// with the progress bar), sees it listed, downloads it through the page and
// compares the bytes, deletes it and sees it gone. Exit status 0 on
// success; screenshots are kept either way.
import { chromium } from 'playwright-core';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const PRESIGND_URL = (process.env.PRESIGND_URL || 'http://127.0.0.1:8000').replace(/\/+$/, '');
const PAGE_URL = process.env.PAGE_URL || 'http://127.0.0.1:8001/';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.ARTIFACTS || path.join(here, 'artifacts');
const TIMEOUT = Number(process.env.BROWSER_TIMEOUT_MS || 30000);

function pageUrl() {
  const u = new URL(PAGE_URL);
  if (!u.searchParams.has('api')) u.searchParams.set('api', PRESIGND_URL);
  return u.toString();
}

function log(msg) {
  process.stdout.write(`browser: ${msg}\n`);
}

async function listedKeys() {
  const res = await fetch(`${PRESIGND_URL}/files?max_keys=1000`);
  if (!res.ok) throw new Error(`GET /files: ${res.status}`);
  return (await res.json()).files;
}

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true });
  // A text file (allowed everywhere presignd runs), big enough for the
  // progress bar to move, with bytes that would show any mangling.
  const name = `browser-${randomBytes(4).toString('hex')}.txt`;
  const content = Buffer.from(randomBytes(384 * 1024).toString('base64') + '\nend ✓\n', 'utf8');

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu',
           '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  const problems = [];
  let page;
  try {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 800 } });
    page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    });

    log(`opening ${pageUrl()}`);
    await page.goto(pageUrl(), { waitUntil: 'load' });
    await page.waitForSelector('#api-state.ok');
    log(`page reached presignd: ${await page.textContent('#api-state')}`);

    // Upload through the page.
    await page.setInputFiles('#file-input', { name, mimeType: 'text/plain', buffer: content });
    await page.click('#upload-button');
    const row = page.locator(`#uploads li[data-name="${name}"]`);
    await row.and(page.locator('li.done, li.failed')).waitFor();
    const state = await row.locator('.state').textContent();
    if (await row.evaluate((li) => li.classList.contains('failed'))) {
      throw new Error(`upload failed in the page: ${state}`);
    }
    const key = await row.getAttribute('data-key');
    const pct = await row.locator('.pct').textContent();
    const bar = await row.locator('progress').evaluate((p) => p.value);
    if (pct !== '100%' || bar !== 100) throw new Error(`progress ended at ${pct} / ${bar}`);
    log(`uploaded ${name} as ${key}`);

    // Listed in the page, and by the API with the right size.
    const listed = page.locator(`#files-body tr[data-key="${key}"]`);
    await listed.waitFor();
    const apiEntry = (await listedKeys()).find((f) => f.key === key);
    if (!apiEntry) throw new Error(`GET /files does not list ${key}`);
    if (apiEntry.size !== content.length) {
      throw new Error(`S3 holds ${apiEntry.size} bytes, the file has ${content.length}`);
    }
    await page.screenshot({ path: path.join(ARTIFACTS, 'uploaded.png'), fullPage: true });
    log('listed; screenshot uploaded.png');

    // Download through the page and compare the bytes.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      listed.locator('button.download').click(),
    ]);
    const saved = path.join(ARTIFACTS, 'downloaded-' + download.suggestedFilename());
    await download.saveAs(saved);
    const got = readFileSync(saved);
    if (download.suggestedFilename() !== name) {
      throw new Error(`download named ${download.suggestedFilename()}, expected ${name}`);
    }
    if (!got.equals(content)) {
      throw new Error(`downloaded ${got.length} bytes differ from the ${content.length} uploaded`);
    }
    log(`downloaded ${got.length} bytes, identical`);

    // Delete through the page.
    await listed.locator('button.delete').click();
    await listed.waitFor({ state: 'detached' });
    if ((await listedKeys()).some((f) => f.key === key)) {
      throw new Error(`${key} is still listed after delete`);
    }
    await page.screenshot({ path: path.join(ARTIFACTS, 'deleted.png'), fullPage: true });
    log('deleted; screenshot deleted.png');

    if (problems.length) throw new Error(problems.join('\n'));
    log('ok');
  } catch (e) {
    if (page) {
      await page.screenshot({ path: path.join(ARTIFACTS, 'failure.png'), fullPage: true })
        .catch(() => {});
    }
    if (problems.length) process.stderr.write(problems.join('\n') + '\n');
    throw e;
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  process.stderr.write(`browser: FAILED: ${e.stack || e}\n`);
  process.exit(1);
});
