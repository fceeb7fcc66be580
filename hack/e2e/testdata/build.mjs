// build.mjs bundles the test page (page/app.jsx and what it imports) with esbuild into the
// directory given as its argument, next to a copy of page/index.html: app.js, app.css.
//
// Usage: node build.mjs OUTDIR
import { build } from 'esbuild';
import { copyFile } from 'node:fs/promises';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const outdir = process.argv[2];
if (!outdir) {
  console.error('usage: node build.mjs OUTDIR');
  process.exit(2);
}

await build({
  entryPoints: [path.join(here, 'page', 'app.jsx')],
  bundle: true,
  outdir,
  platform: 'browser',
  format: 'iife',
  // The development builds of React and the packages: their warnings reach the console, which
  // the browser script reports.
  define: { 'process.env.NODE_ENV': '"development"' },
  logLevel: 'warning',
});
await copyFile(path.join(here, 'page', 'index.html'), path.join(outdir, 'index.html'));
