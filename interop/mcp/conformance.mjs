// The authorization-server checks of the MCP conformance suite
// (@modelcontextprotocol/conformance `authorization`), with this script as
// the user's browser:
//
//   node conformance.mjs --url ISSUER --client-id ID --resource URI \
//     --port PORT --username USER --password PASS [--output-dir DIR]
//
// The client must be registered beforehand, public, with the redirect URI
// http://127.0.0.1:PORT/callback. The suite prints an authorization URL and
// waits for a browser to come back to its callback; browser.mjs signs in
// and allows. Exits with the suite's status (0: no check failed).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { authorizeInBrowser } from './browser.mjs';

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    'client-id': { type: 'string' },
    resource: { type: 'string' },
    port: { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
    'output-dir': { type: 'string' },
  },
});
for (const required of ['url', 'client-id', 'port', 'username', 'password']) {
  if (opts[required] === undefined) {
    console.error(`conformance.mjs: --${required} is required`);
    process.exit(2);
  }
}
// The suite stops waiting for the browser after 5 minutes; a run takes seconds.
const DEADLINE_MS = 120_000;

const suite = fileURLToPath(new URL('node_modules/@modelcontextprotocol/conformance/dist/index.js', import.meta.url));
const args = [suite, 'authorization', '--url', opts.url, '--client-id', opts['client-id'], '--port', opts.port];
if (opts.resource) args.push('--resource', opts.resource);
if (opts['output-dir']) args.push('--output-dir', opts['output-dir']);

const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
const deadline = setTimeout(() => {
  console.error(`[browser] the suite did not finish within ${DEADLINE_MS / 1000} s`);
  child.kill('SIGTERM');
  process.exit(1);
}, DEADLINE_MS);

let pending = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  pending += chunk;
  const m = pending.match(/complete the authentication process\.\s*\n(\S+)\s*\n/);
  if (!m) return;
  pending = pending.slice(m.index + m[0].length);
  browse(m[1]);
});

async function browse(url) {
  try {
    const { redirect, pages } = await authorizeInBrowser(url, { username: opts.username, password: opts.password });
    console.error(`[browser] ${pages.map((p) => p.page).join(', ')}; back to ${redirect.origin}${redirect.pathname}`);
    // The suite starts its callback server as it prints the URL: allow it a moment.
    for (let attempt = 1; ; attempt++) {
      try {
        await fetch(redirect);
        break;
      } catch (e) {
        if (attempt === 20) throw e;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  } catch (e) {
    // The suite then waits for its callback until it gives up: end it now.
    console.error(`[browser] ${e?.stack ?? e}`);
    child.kill('SIGTERM');
    process.exit(1);
  }
}

child.on('exit', (code, signal) => {
  clearTimeout(deadline);
  process.exit(code ?? (signal ? 1 : 0));
});
