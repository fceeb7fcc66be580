// browser.mjs opens the test page (page/app.jsx, bundled) in headless Chromium through
// playwright-core and uses @fantaptik/react-auth the way a person would: it types the
// credentials into the package's LoginForm and clicks Login, and later clicks Log out. Two pages
// of one browser profile (two tabs, sharing localStorage) talk to the servers of cfg.replicas,
// page i to the i-th (the Go test gives both the realm's Service, as people reach it). The
// package's LoginForm tells the other tab of the login, so page 2 opens its own socket and
// resumes the same session there.
//
// The script watches the pages' WebSocket frames (what the package sends and what the server
// answers) without touching them, and reports what it saw; the Go test asserts on the report.
//
// Usage: node browser.mjs '{"pageURL":"http://127.0.0.1:P/index.html","replicas":[…],
//   "prefix":"/react-auth","username":"…","password":"…","screenshot":"/…/authenticated.png",
//   "userDataDir":"/…","timeoutMs":20000}'
//
// It talks with the Go test in JSON lines: on stdout it prints {"event":"authenticated",…} once
// both pages are signed in, then waits for a line on stdin: {"cmd":"logout","reconnected":bool}
// (reconnected: the servers were restarted meanwhile, so each page must have reconnected and
// resumed on a new socket before logging out). It then logs out on page 1 and prints
// {"event":"done",…}. On any failure it prints {"event":"error",…} and exits 1.
import { chromium } from 'playwright-core';
import readline from 'node:readline';

const cfg = JSON.parse(process.argv[2]);
const timeout = cfg.timeoutMs || 20000;

const CLOSE = 'fantaptik/react-auth/close';
const RESUME = 'fantaptik/react-auth/socket/resume';

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

// The flags of the project's headless-browser recipe (no sandbox, GPU or background traffic). Playwright passes the fresh
// --user-data-dir itself (launchPersistentContext refuses it among args).
const flags = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

let context;
const pages = [];

try {
  context = await chromium.launchPersistentContext(cfg.userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: flags,
    viewport: { width: 1000, height: 700 },
    timeout,
  });
  context.setDefaultTimeout(timeout);

  for (const [i, server] of cfg.replicas.entries()) {
    const url = `${cfg.pageURL}?server=${encodeURIComponent(server)}&prefix=${encodeURIComponent(cfg.prefix)}`;
    pages.push(await openPage(i, url));
  }

  // Both pages start as guests, their LoginForm shown.
  for (const p of pages) {
    await p.page.locator('#guest').waitFor();
    await p.page.locator('.login-form input[type=password]').waitFor();
  }

  // Page 1: type the credentials into the package's LoginForm and click its Login button.
  const p1 = pages[0];
  await p1.page.locator(`#username-__global__`).pressSequentially(cfg.username);
  await p1.page.locator(`#password-__global__`).pressSequentially(cfg.password);
  await p1.page.locator('.login-form button', { hasText: 'Login' }).click();

  // Both pages become authenticated (page 2 from page 1's localStorage note), and each one's
  // socket resumes the session.
  for (const p of pages) {
    await p.page.locator('#authenticated').waitFor();
    await waitFor(`page ${p.index + 1}: a successful socket/resume`, () => lastSocket(p)?.resumed === true);
  }
  await pages[0].page.screenshot({ path: cfg.screenshot, fullPage: true });

  const states = await Promise.all(pages.map((p) => authState(p)));
  emit({ event: 'authenticated', session: states[0].session, user: states[0].user, pages: pages.map(report), states });

  // Wait for the Go test's go-ahead (it may restart the servers meanwhile).
  const cmd = await nextCommand();
  if (cmd.cmd !== 'logout') throw new Error(`unknown command ${JSON.stringify(cmd)}`);
  if (cmd.reconnected) {
    // Each page lost its socket when its server stopped; the Socket reconnects every second and
    // the plugin resumes the session on each new socket. The session must have survived.
    for (const p of pages) {
      await waitFor(`page ${p.index + 1}: a new socket resumed after the restart`,
        () => p.sockets.length >= 2 && lastSocket(p).resumed === true && !lastSocket(p).closed);
    }
  }
  const afterRoll = await Promise.all(pages.map((p) => authState(p)));

  // Log out through the socket on page 1 (the plugin sends close and goes to guest on success).
  const logoutAt = Date.now();
  await p1.page.locator('#logout').click();
  for (const p of pages) {
    await p.page.locator('#guest').waitFor();
    // Page 2 learns of the logout only from the server's push on its own socket.
    await waitFor(`page ${p.index + 1}: the close push`, () => p.sockets.some((s) => s.closePushes.length > 0));
  }
  const guestMs = Date.now() - logoutAt;
  const after = await Promise.all(pages.map((p) => authState(p)));
  emit({ event: 'done', afterRoll, after, guestMs, pages: pages.map(report) });
  await context.close();
  process.exit(0);
} catch (err) {
  const shots = [];
  for (const p of pages) {
    const path = `${cfg.screenshot.replace(/\.png$/, '')}-failure-page${p.index + 1}.png`;
    try { await p.page.screenshot({ path, fullPage: true }); shots.push(path); } catch { /* the page may be gone */ }
  }
  emit({ event: 'error', message: String(err && err.stack || err), screenshots: shots, pages: pages.map(report) });
  try { await context?.close(); } catch { /* nothing left to clean */ }
  process.exit(1);
}

// openPage opens a page and records its sockets' frames, console errors and uncaught errors.
async function openPage(index, url) {
  const page = await context.newPage();
  const p = { index, url, page, sockets: [], consoleErrors: [], pageErrors: [] };
  page.on('console', (m) => { if (m.type() === 'error') p.consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => p.pageErrors.push(String(e)));
  page.on('websocket', (ws) => {
    const s = { url: ws.url(), openedAt: Date.now(), closed: false, sent: [], received: [], resumeIds: new Set(), resumed: null, closePushes: [] };
    p.sockets.push(s);
    ws.on('framesent', ({ payload }) => {
      s.sent.push(String(payload));
      const m = parse(payload);
      if (m && m.data && m.data.type === RESUME) s.resumeIds.add(m.id);
    });
    ws.on('framereceived', ({ payload }) => {
      s.received.push(String(payload));
      const m = parse(payload);
      if (!m) return;
      if (m.id !== undefined && s.resumeIds.has(m.id)) s.resumed = m.data && m.data.success === true;
      // The push is {"type":close,"data":{"type":close}}; replies carry the request's id.
      if (m.id === undefined && m.type === CLOSE) s.closePushes.push(String(payload));
    });
    ws.on('close', () => { s.closed = true; });
  });
  await page.goto(url);
  return p;
}

function parse(payload) {
  try { return JSON.parse(String(payload)); } catch { return null; }
}

function lastSocket(p) {
  return p.sockets[p.sockets.length - 1];
}

// authState reads the package's slice of the app's store.
async function authState(p) {
  return p.page.evaluate(() => {
    const s = window.e2e.store.getState().auth;
    return { session: s.session, user: s.user, rejected: s.rejected, username: s.username };
  });
}

function report(p) {
  return {
    url: p.url,
    sockets: p.sockets.map((s) => ({ url: s.url, closed: s.closed, resumed: s.resumed, sent: s.sent, received: s.received, closePushes: s.closePushes })),
    consoleErrors: p.consoleErrors,
    pageErrors: p.pageErrors,
  };
}

async function waitFor(what, cond) {
  const deadline = Date.now() + timeout;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// nextCommand reads one JSON line from stdin; the test bounds how long it takes to send one.
function nextCommand() {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: process.stdin });
    rl.once('line', (line) => {
      try { resolve(JSON.parse(line)); } catch (e) { reject(e); }
      rl.close();
    });
    rl.once('close', () => reject(new Error('stdin closed before a command came')));
  });
}
