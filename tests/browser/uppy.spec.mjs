// Uppy's own bundles (tests/browser/uppy/*.html) uploading through presignd,
// in Debian's chromium driven by playwright-core. tests/integration/test_uppy.py
// runs it; by hand, against any presignd whose bucket allows the page's origin:
//
//   PAGE_URL        the test page, with its query (?api=...&key=...&golden=1)
//   FILES           JSON list of file paths, uploaded one after the other
//   PHASE           upload (default): upload FILES, one uppy.upload() each
//                   stop: start uploading FILES[0] (multipart), hold every part
//                     PUT numbered above HOLD_AFTER_PART, wait until the parts
//                     before it are in S3 and GoldenRetriever has stored the
//                     file, then close the browser while parts are in flight
//                   resume: open the page again (same USER_DATA_DIR): Uppy
//                     restores the file, and the upload goes on from there
//                   dashboard: the example page examples/uppy.html: pick
//                     FILES in Uppy's Dashboard, click its upload button, wait
//                     for the page to list them as stored
//   USER_DATA_DIR   the browser profile of stop and resume (IndexedDB lives there)
//   RESULT          where the JSON result goes (default: stdout)
//   CHROMIUM        the browser (default /usr/bin/chromium)
//   ARTIFACTS       screenshots of failures (default tests/browser/artifacts)
//
// The result lists, per upload, what Uppy reported and every request the
// page sent, to presignd and to S3, in order, with its status.
import { chromium } from 'playwright-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const PAGE_URL = process.env.PAGE_URL;
const FILES = JSON.parse(process.env.FILES || '[]');
const PHASE = process.env.PHASE || 'upload';
const USER_DATA_DIR = process.env.USER_DATA_DIR;
const HOLD_AFTER_PART = Number(process.env.HOLD_AFTER_PART || 4);
const RESULT = process.env.RESULT;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.ARTIFACTS || path.join(here, 'artifacts');
const TIMEOUT = Number(process.env.BROWSER_TIMEOUT_MS || 60000);
const ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-gpu',
  '--disable-component-update', '--no-first-run', '--disable-sync'];

function log(msg) {
  process.stderr.write(`uppy: ${msg}\n`);
}

function partNumber(url) {
  const n = new URL(url).searchParams.get('partNumber');
  return n === null ? null : Number(n);
}

// Every request the page sends but those for the page itself.
function recordRequests(page, pageOrigin, into) {
  const t0 = Date.now();
  const entries = new Map();
  page.on('request', (req) => {
    const u = new URL(req.url());
    if (u.origin === pageOrigin || !u.protocol.startsWith('http')) return;
    const e = { t: Date.now() - t0, method: req.method(), url: req.url(), status: null };
    if (u.pathname.endsWith('/s3/sign') && req.method() === 'POST') {
      try { e.body = JSON.parse(req.postData() || 'null'); } catch { e.body = null; }
    }
    entries.set(req, e);
    into.push(e);
  });
  page.on('requestfinished', async (req) => {
    const e = entries.get(req);
    if (!e) return;
    const res = await req.response().catch(() => null);
    e.status = res ? res.status() : null;
    e.done = Date.now() - t0;
  });
  page.on('requestfailed', (req) => {
    const e = entries.get(req);
    if (e) e.failed = (req.failure() || {}).errorText || 'failed';
  });
}

function watchProblems(page, problems) {
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
}

async function openPage(context, problems, requests) {
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  watchProblems(page, problems);
  recordRequests(page, new URL(PAGE_URL).origin, requests);
  log(`opening ${PAGE_URL}`);
  await page.goto(PAGE_URL, { waitUntil: 'load' });
  await page.waitForFunction(() => window.uppyReady === true);
  log(`page: ${await page.textContent('#label')}`);
  return page;
}

async function screenshot(page, name) {
  if (!page) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true }).catch(() => {});
}

// What GoldenRetriever has stored: blobs (IndexedDB) and its state snapshot
// (IndexedDB in Uppy 6, localStorage in Uppy 4).
async function storedState(page) {
  return page.evaluate(async () => {
    const out = { blobs: [], snapshots: [] };
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      if (k.startsWith('uppyState:')) out.snapshots.push(localStorage.getItem(k));
    }
    const db = await new Promise((resolve) => {
      const r = indexedDB.open('uppy-blobs');
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => resolve(null);
    });
    if (!db) return out;
    const all = (name) => new Promise((resolve) => {
      if (!db.objectStoreNames.contains(name)) { resolve([]); return; }
      const r = db.transaction([name]).objectStore(name).getAll();
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => resolve([]);
    });
    out.blobs = (await all('files')).map((b) => ({ id: b.id, size: b.data.size }));
    out.snapshots.push(...(await all('metadata')).map((m) => m.metadata));
    db.close();
    return out;
  });
}

async function phaseUpload(result, problems) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  let page;
  try {
    const context = await browser.newContext();
    const requests = [];
    page = await openPage(context, problems, requests);
    result.label = await page.textContent('#label');
    result.uploads = [];
    for (const file of FILES) {
      const first = requests.length;
      await page.setInputFiles('#files', file);
      log(`uploading ${path.basename(file)}`);
      const r = await page.evaluate(() => window.uploadAll());
      // The last answers may still be on their way to the listener.
      await page.waitForTimeout(50);
      r.file = path.basename(file);
      r.requests = requests.slice(first);
      result.uploads.push(r);
      log(`${r.file}: ${r.successful.length} ok, ${r.failed.length} failed, ` +
          `${(r.ms / 1000).toFixed(2)} s, ${r.requests.length} requests`);
      if (r.failed.length) throw new Error(`Uppy failed: ${JSON.stringify(r.failed)}`);
      await page.evaluate(() => window.uppy.clear ? window.uppy.clear() : window.uppy.cancelAll());
    }
    result.events = await page.evaluate(() => window.uppyEvents);
    result.uppyLog = await page.evaluate(() => window.uppyLog);
  } catch (e) {
    await screenshot(page, 'uppy-failure.png');
    await tellState(page);
    throw e;
  } finally {
    await browser.close();
  }
}

async function phaseStop(result, problems) {
  const context = await chromium.launchPersistentContext(USER_DATA_DIR, {
    executablePath: CHROMIUM, headless: true, args: ARGS });
  let page;
  const held = [];
  try {
    const requests = [];
    page = await openPage(context, problems, requests);
    result.label = await page.textContent('#label');
    // The parts above HOLD_AFTER_PART never get an answer: the upload is
    // stopped with parts in flight, at a known point.
    await page.route((u) => (partNumber(u.toString()) || 0) > HOLD_AFTER_PART, (route) => {
      held.push(partNumber(route.request().url()));
    });
    await page.setInputFiles('#files', FILES[0]);
    log(`uploading ${path.basename(FILES[0])}, holding parts above ${HOLD_AFTER_PART}`);
    await page.evaluate(() => { window.uploadAll().then((r) => { window.uploadDone = r; }); });
    const partsDone = () => requests.filter((e) => e.method === 'PUT' && e.status === 200 &&
                                              partNumber(e.url) !== null);
    const deadline = Date.now() + TIMEOUT;
    let state;
    for (;;) {
      state = await storedState(page);
      const snap = state.snapshots.join('\n');
      if (partsDone().length >= HOLD_AFTER_PART && held.length > 0 &&
          state.blobs.some((b) => b.size > 0) && snap.includes('"uploadId"')) break;
      if (Date.now() > deadline) {
        throw new Error(`no stopping point: ${partsDone().length} parts, ${held.length} held, ` +
                        `${state.blobs.length} blobs stored`);
      }
      await page.waitForTimeout(100);
    }
    // Let GoldenRetriever's throttled snapshot (500 ms) catch up.
    await page.waitForTimeout(1200);
    result.files = await page.evaluate(() => window.uppyFiles());
    result.stored = (await storedState(page)).blobs;
    result.partsDone = partsDone().map((e) => partNumber(e.url));
    result.held = [...held];
    result.requests = requests;
    result.events = await page.evaluate(() => window.uppyEvents);
    log(`stopping with parts ${result.partsDone} in S3, ${result.held} in flight`);
  } catch (e) {
    await screenshot(page, 'uppy-failure.png');
    await tellState(page);
    throw e;
  } finally {
    await context.close();
  }
}

async function phaseResume(result, problems) {
  const context = await chromium.launchPersistentContext(USER_DATA_DIR, {
    executablePath: CHROMIUM, headless: true, args: ARGS });
  let page;
  try {
    const requests = [];
    page = await openPage(context, problems, requests);
    await page.waitForFunction(() => window.uppyEvents.some((e) => e.name === 'restored'));
    result.restored = await page.evaluate(() => window.uppyFiles());
    log(`restored: ${JSON.stringify(result.restored)}`);
    const t0 = Date.now();
    // What the Dashboard's "resume" button does.
    await page.evaluate(() => window.uppy.emit('restore-confirmed'));
    // Uppy 6 ends a restored upload with 'complete'; Uppy 4's restore()
    // emits none, its files just end up complete.
    await page.waitForFunction(() => window.uppyEvents.some((e) => e.name === 'complete' ||
                                                                  e.name === 'upload-error') ||
                                     window.uppyFiles().every((f) => f.progress.uploadComplete));
    result.ms = Date.now() - t0;
    await page.waitForTimeout(50);
    result.events = await page.evaluate(() => window.uppyEvents);
    result.uppyLog = await page.evaluate(() => window.uppyLog);
    result.files = await page.evaluate(() => window.uppyFiles());
    result.requests = requests;
    const failed = result.events.filter((e) => e.name === 'upload-error' || e.name === 'error');
    if (failed.length || !result.files.every((f) => f.progress.uploadComplete)) {
      throw new Error(`resumed upload: ${JSON.stringify(failed)}`);
    }
  } catch (e) {
    await screenshot(page, 'uppy-failure.png');
    await tellState(page);
    throw e;
  } finally {
    await context.close();
  }
}

// After a failure: what Uppy said, for the test's output.
async function tellState(page) {
  if (!page) return;
  const state = await page.evaluate(() => ({
    events: window.uppyEvents, log: window.uppyLog, files: window.uppyFiles(),
  })).catch((err) => ({ unavailable: String(err) }));
  log(`state: ${JSON.stringify(state)}`);
}

// The example page, as a person uses it: Uppy's Dashboard.
async function phaseDashboard(result, problems) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  let page;
  try {
    const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    watchProblems(page, problems);
    const requests = [];
    recordRequests(page, new URL(PAGE_URL).origin, requests);
    log(`opening ${PAGE_URL}`);
    await page.goto(PAGE_URL, { waitUntil: 'load' });
    await page.waitForSelector('#api-state.ok');
    await page.waitForSelector('.uppy-Dashboard');
    // The Dashboard's own file input (the first: files, not folders).
    await page.locator('input.uppy-Dashboard-input').first().setInputFiles(FILES);
    await page.click('.uppy-StatusBar-actionBtn--upload');
    for (const name of FILES.map((f) => path.basename(f))) {
      await page.locator(`#uploaded li[data-name="${name}"]`).waitFor();
    }
    result.stored = await page.$$eval('#uploaded li', (lis) => lis.map((li) => ({
      name: li.dataset.name, key: li.dataset.key })));
    result.status = await page.textContent('#status');
    result.requests = requests;
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'uppy-dashboard.png'), fullPage: true });
  } catch (e) {
    await screenshot(page, 'uppy-failure.png');
    throw e;
  } finally {
    await browser.close();
  }
}

async function main() {
  if (!PAGE_URL) throw new Error('PAGE_URL is not set');
  const result = { phase: PHASE };
  const problems = [];
  const phases = { upload: phaseUpload, stop: phaseStop, resume: phaseResume,
                   dashboard: phaseDashboard };
  if (!phases[PHASE]) throw new Error(`unknown PHASE ${PHASE}`);
  if ((PHASE === 'stop' || PHASE === 'resume') && !USER_DATA_DIR) throw new Error('USER_DATA_DIR is not set');
  await phases[PHASE](result, problems);
  // The requests the stop phase left hanging fail when the browser closes:
  // not a problem of the page.
  result.problems = problems;
  const text = JSON.stringify(result, null, 1);
  if (RESULT) writeFileSync(RESULT, text);
  else process.stdout.write(text + '\n');
  log('ok');
}

main().catch((e) => {
  process.stderr.write(`uppy: FAILED: ${e.stack || e}\n`);
  process.exit(1);
});
