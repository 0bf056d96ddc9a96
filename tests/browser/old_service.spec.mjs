// The previous service's kind of page (tests/browser/old-service/) against
// presignd, in Debian's chromium, headless, driven by playwright-core:
// for each file it picks the file, uploads, finds it listed, downloads it
// through the page's link (the saved bytes and name are compared) and
// deletes it.
//
//   PAGE_URL   the page, with ?api=PRESIGND_URL
//   FILES      JSON [{name, mimeType, base64}]: what the user picks; the
//              mimeType is what the browser reports as File.type
//   CHROMIUM   the browser (default /usr/bin/chromium)
//
// Prints "old page: ok NAME KEY SAVED-AS" per file; exit status 0 on success.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = Number(process.env.BROWSER_TIMEOUT_MS || 30000);

async function main() {
  const files = JSON.parse(process.env.FILES);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu',
           '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  const problems = [];
  try {
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    await page.goto(process.env.PAGE_URL, { waitUntil: 'load' });
    await page.waitForSelector('#fileList[data-loaded]', { state: 'attached' });

    for (const f of files) {
      const buffer = Buffer.from(f.base64, 'base64');
      await page.evaluate(() => {
        const s = document.getElementById('status');
        s.className = '';
        delete s.dataset.key;
      });
      await page.setInputFiles('#fileInput', { name: f.name, mimeType: f.mimeType, buffer });
      await page.click('#uploadBtn');
      await page.waitForSelector('#status.success, #status.error');
      const status = await page.textContent('#status');
      if (await page.$('#status.error')) throw new Error(`upload of ${f.name}: ${status}`);
      const key = await page.getAttribute('#status', 'data-key');
      const row = page.locator(`#fileList li[data-key="${key}"]`);
      await row.waitFor();

      const [download] = await Promise.all([
        page.waitForEvent('download'),
        row.locator('button.download').click(),
      ]);
      const saved = readFileSync(await download.path());
      if (!saved.equals(buffer)) throw new Error(`download of ${key}: other bytes`);
      const savedAs = download.suggestedFilename();

      await page.evaluate(() => { document.getElementById('status').className = ''; });
      await row.locator('button.delete').click();
      await page.waitForSelector('#status.success, #status.error');
      if (await page.$('#status.error')) {
        throw new Error(`delete of ${key}: ${await page.textContent('#status')}`);
      }
      await row.waitFor({ state: 'detached' });
      process.stdout.write(`old page: ok ${JSON.stringify({ name: f.name, key, savedAs })}\n`);
    }
    if (problems.length) throw new Error(problems.join('\n'));
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  process.stderr.write(`old page: ${e.stack || e}\n`);
  process.exit(1);
});
