// build.mjs bundles the test pages with esbuild into the directory given as its argument, each
// next to a copy of its HTML: page/app.jsx (react-auth) as app.js and app.css for index.html, and
// page/jtoker.js (j-toker and jQuery) as jtoker.js for jtoker.html.
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
  entryPoints: {
    app: path.join(here, 'page', 'app.jsx'),
    jtoker: path.join(here, 'page', 'jtoker.js'),
  },
  bundle: true,
  outdir,
  platform: 'browser',
  format: 'iife',
  // The development builds of React and the packages: their warnings reach the console, which
  // the browser script reports.
  define: { 'process.env.NODE_ENV': '"development"' },
  logLevel: 'warning',
});
for (const html of ['index.html', 'jtoker.html']) {
  await copyFile(path.join(here, 'page', html), path.join(outdir, html));
}
