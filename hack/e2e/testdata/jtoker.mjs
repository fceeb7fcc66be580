// jtoker.mjs opens the j-toker page (page/jtoker.js, bundled) in headless Chromium through
// playwright-core and does, on the Go test's command, what a person and the app would: open the
// page, follow a link from a mail (a top-level navigation, as a click in a mail reader makes) and
// call j-toker's own methods (emailSignUp, emailSignIn, signOut, requestPasswordReset,
// updatePassword) through the page's window.e2e. It changes nothing j-toker sends or receives.
//
// It watches without touching: the main frame's navigations, every response (with the Location
// of redirects and, for the API's XHRs, the request body, the auth headers and the answer's body),
// the console and uncaught errors. After each command it reports all that happened since the
// last one, with j-toker's state and the events it broadcast on the current document.
//
// Usage: node jtoker.mjs '{"pageURL":"http://127.0.0.1:P/jtoker.html",
//   "apiUrl":"http://127.0.0.1:A","userDataDir":"/…","screenshot":"/….png","timeoutMs":20000}'
//
// It talks with the Go test in JSON lines: commands on stdin, {"cmd":"open"}, {"cmd":"goto",
// "url":…}, {"cmd":"call","method":…,"opts":{…}} and {"cmd":"quit"}; on stdout
// {"event":"launched"} once Chromium runs, then one {"event":"step",…} after each command. On
// any failure it prints {"event":"error",…} with the same record and exits 1.
import { chromium } from 'playwright-core';
import readline from 'node:readline';

const cfg = JSON.parse(process.argv[2]);
const timeout = cfg.timeoutMs || 20000;

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

// The flags of browser.mjs (the project's headless-browser recipe).
const flags = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// What happened since the last report.
let seen = { navigations: [], responses: [], console: [], pageErrors: [], failedRequests: [] };
const pending = new Set(); // response bodies still being read
let context;
let page;
let lastCmd = null;

const launchedAt = Date.now();
try {
  context = await chromium.launchPersistentContext(cfg.userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: flags,
    viewport: { width: 800, height: 500 },
    timeout,
  });
  context.setDefaultTimeout(timeout);
  emit({ event: 'launched', ms: Date.now() - launchedAt });
  // Where the app's API is: the page reads it before j-toker's configure, on every load.
  await context.addInitScript((c) => { window.e2eConfig = c; }, { apiUrl: cfg.apiUrl, pageURL: cfg.pageURL });
  page = await context.newPage();
  watch(page);

  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const cmd = JSON.parse(line);
    lastCmd = cmd;
    const start = Date.now();
    let result = null;
    switch (cmd.cmd) {
      case 'open':
        await page.goto(cfg.pageURL);
        await settled();
        break;
      case 'goto':
        await page.goto(cmd.url);
        await settled();
        break;
      case 'call':
        result = await page.evaluate(([m, o]) => window.e2e.call(m, o), [cmd.method, cmd.opts || {}]);
        break;
      case 'quit':
        await context.close();
        process.exit(0);
        break;
      default:
        throw new Error(`unknown command ${line}`);
    }
    emit({ event: 'step', cmd, ms: Date.now() - start, result, ...(await report()) });
  }
  throw new Error('stdin closed before a quit command');
} catch (err) {
  let shot = null;
  try { await page?.screenshot({ path: cfg.screenshot, fullPage: true }); shot = cfg.screenshot; } catch { /* no page */ }
  let rep = {};
  try { rep = await report(); } catch (e) { rep = { reportError: String(e) }; }
  emit({ event: 'error', message: String(err && err.stack || err), cmd: lastCmd, screenshot: shot, ...rep });
  try { await context?.close(); } catch { /* nothing left to clean */ }
  process.exit(1);
}

function isAPI(url) {
  return url.startsWith(cfg.apiUrl);
}

function watch(p) {
  p.on('framenavigated', (f) => { if (f === p.mainFrame()) seen.navigations.push(f.url()); });
  p.on('console', (m) => seen.console.push({ type: m.type(), text: m.text() }));
  p.on('pageerror', (e) => seen.pageErrors.push(String(e)));
  p.on('requestfailed', (r) => seen.failedRequests.push({ method: r.method(), url: r.url(), error: r.failure()?.errorText }));
  p.on('response', (r) => {
    const req = r.request();
    const h = r.headers();
    const rec = { method: req.method(), url: r.url(), status: r.status() };
    if (h.location) rec.location = h.location;
    if (isAPI(r.url()) && req.method() !== 'OPTIONS') {
      rec.requestBody = req.postData() || null;
      rec.headers = {};
      for (const k of ['access-token', 'client', 'uid', 'expiry', 'token-type', 'access-control-expose-headers']) {
        if (h[k] !== undefined) rec.headers[k] = h[k];
      }
      if (r.status() < 300 || r.status() >= 400) {
        const read = r.text().then((b) => { rec.body = b.length > 2000 ? b.slice(0, 2000) + '…' : b; }, () => {});
        pending.add(read);
        read.finally(() => pending.delete(read));
      }
    }
    seen.responses.push(rec);
  });
}

// settled waits until the current document's j-toker has finished loading: configure settled
// (not merely reloading the page without the credentials it took from the query string).
async function settled() {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      if (await page.evaluate(() => Boolean(window.e2e && window.e2e.log.settled))) return;
    } catch { /* the document was replaced under us: look again */ }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for j-toker to load at ${page.url()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function report() {
  await Promise.allSettled([...pending]);
  let state = null;
  try { state = await page.evaluate(() => window.e2e ? window.e2e.state() : null); } catch (e) { state = { error: String(e) }; }
  const r = { url: page?.url(), state, ...seen };
  seen = { navigations: [], responses: [], console: [], pageErrors: [], failedRequests: [] };
  return r;
}
