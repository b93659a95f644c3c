// Opens the router's GraphiQL in headless Chromium (Debian's, driven by playwright-core),
// runs an operation with an Authorization header as a user would type it in the Headers
// tab, waits for its result and saves a screenshot.
//
// Usage: node graphiql.mjs ROUTER_URL ACCESS_TOKEN SCREENSHOT.png [defer]
// Prints the result pane's text as JSON ({"result": "..."}); exits 1 if no result came.
// With `defer`, the operation defers a fragment and the script waits until the deferred
// part (the payments) has arrived in the result pane too.
import { chromium } from 'playwright-core';

const [base, token, screenshot, mode] = process.argv.slice(2);
if (!base || !token || !screenshot) {
  console.error('usage: node graphiql.mjs ROUTER_URL ACCESS_TOKEN SCREENSHOT.png');
  process.exit(2);
}

const query = mode === 'defer'
  ? `# Run by the end-to-end suite in headless Chromium: the payments arrive later.
query Deferred {
  me {
    email
    ... @defer(label: "payments") {
      payments(first: 5) { edges { node { amount currency status } } }
    }
  }
}
`
  : `# Run by the end-to-end suite in headless Chromium.
query Me {
  me {
    email
    payments(first: 5) { edges { node { amount currency status } } }
    unreadNotificationCount
  }
}
`;
// What the result pane must show before the run counts as answered.
const expected = mode === 'defer' ? '"payments"' : '"me"';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const failed = [];
  page.on('requestfailed', (r) => failed.push(r.url()));
  // GraphiQL keeps the editors in localStorage: this is what typing them in would leave.
  await page.addInitScript(
    ([q, h]) => {
      localStorage.setItem('graphiql:query', q);
      localStorage.setItem('graphiql:headers', h);
    },
    [query, JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2)],
  );
  await page.goto(base + '/', { waitUntil: 'networkidle' });
  await page.locator('.graphiql-execute-button').click({ timeout: 30000 });
  await page.waitForFunction(
    (text) => (document.querySelector('.result-window')?.textContent ?? '').includes(text),
    expected,
    { timeout: 30000 },
  );
  const result = await page.locator('.result-window').innerText();
  await page.screenshot({ path: screenshot });
  process.stdout.write(JSON.stringify({ result, failedRequests: failed }) + '\n');
} finally {
  await browser.close();
}
