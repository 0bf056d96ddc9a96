// The names browsers save downloads under: Debian's chromium, headless,
// driven by playwright-core, follows presigned download URLs and reports
// the file name it would save each one as (Download.suggestedFilename),
// which it takes from the Content-Disposition S3 answers with.
//
//   URLS       a JSON array of presigned GET URLs
//   CHROMIUM   the browser (default /usr/bin/chromium)
//
// Prints one JSON line: {"names": [...]}, in the order of URLS.
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = Number(process.env.BROWSER_TIMEOUT_MS || 30000);

async function main() {
  const urls = JSON.parse(process.env.URLS);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu',
           '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  try {
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    const names = [];
    for (const url of urls) {
      // A link click, as a page offering the file would do it.
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.evaluate((u) => {
          const a = document.createElement('a');
          a.href = u;
          document.body.appendChild(a);
          a.click();
          a.remove();
        }, url),
      ]);
      names.push(download.suggestedFilename());
      await download.cancel();
    }
    process.stdout.write(JSON.stringify({ names }) + '\n');
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  process.stderr.write(`download names: ${e.stack || e}\n`);
  process.exit(1);
});
