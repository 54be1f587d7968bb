// Starts and stops the processes of the end-to-end suite: every one binds 127.0.0.1, tells its
// address on stdout, and is stopped at the end, pass or fail (see `stopAll`).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const exampleDir = dirname(dirname(fileURLToPath(import.meta.url)));
export const repoRoot = join(exampleDir, '..', '..');
const targetDir = resolve(repoRoot, process.env.CARGO_TARGET_DIR ?? 'target');
export const binary = process.env.DS_SUBGRAPH_BIN ?? join(targetDir, 'debug', 'ds-subgraph');

const running = new Set();

// .ci/run kills the process groups listed there if this process dies before its `after` hooks.
function recordPids() {
  if (!process.env.E2E_PIDFILE) return;
  writeFileSync(process.env.E2E_PIDFILE, [...running].map((c) => `${c.pid}\n`).join(''));
}

/**
 * Spawns `command` in its own process group and resolves with the first capture of `ready` in
 * its stdout. Rejects, with the output so far, when it exits first or `timeoutMs` passes.
 */
export function start(name, command, args, { ready, cwd = exampleDir, env, timeoutMs = 60_000 }) {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    detached: true, // its own group: stopping it stops what it started (npx, workers)
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid) running.add(child);
  recordPids();
  let output = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => (output += chunk));
  return new Promise((resolve, reject) => {
    const fail = (why) => {
      clearTimeout(timer);
      reject(new Error(`${name} ${why}; its output:\n${output.slice(-4000)}`));
    };
    const timer = setTimeout(() => fail(`did not become ready in ${timeoutMs} ms`), timeoutMs);
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const match = output.match(ready);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1], output: () => output });
      }
    });
    child.once('exit', (code, signal) => fail(`exited (code ${code}, signal ${signal})`));
    child.once('error', (err) => fail(`did not start: ${err.message}`));
  });
}

/** SIGTERM to every group started, SIGKILL to those still there after a grace period. */
export async function stopAll() {
  const children = [...running];
  await Promise.all(
    children.map(
      (child) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const kill = (signal) => {
            try {
              process.kill(-child.pid, signal);
            } catch {
              // already gone
            }
          };
          const timer = setTimeout(() => kill('SIGKILL'), 5_000);
          child.once('exit', () => {
            clearTimeout(timer);
            kill('SIGKILL'); // anything left in its group
            resolve();
          });
          kill('SIGTERM');
        }),
    ),
  );
  running.clear();
  recordPids();
}

/** A port free on 127.0.0.1 now: for a program that does not tell which port it bound. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** POSTs a GraphQL request; returns `{ status, contentType, body }`. */
export async function post(url, query, variables = {}, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${url} answered HTTP ${res.status}, not JSON: ${text.slice(0, 500)}`);
  }
  return { status: res.status, contentType: res.headers.get('content-type'), body };
}

/** Polls `url` until it answers 2xx: a readiness probe, not a timing assertion. */
export async function waitHealthy(url, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not healthy after ${timeoutMs} ms: ${last}`);
}
