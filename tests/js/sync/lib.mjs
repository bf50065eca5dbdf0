// Shared helpers of the sync tests: checks, tokens, waiting, a socket tap, the control channel.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createInterface } from "node:readline";
import WebSocket from "ws";

// Must match tests/apps/sync_app/backend/auth.py.
export const SECRET = "sync-test-secret-0123456789-abcdefghij";
export const ISSUER = "https://sync.issuer.test";

/** An HS256 JWT over `claims`, signed with `secret` (the app's, unless told otherwise). */
export function hs256(claims, secret = SECRET) {
  const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `predicate` until it returns something truthy; fail with `what` after `timeoutMs`. */
export async function waitFor(what, predicate, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) {
      throw new assert.AssertionError({ message: `timed out after ${timeoutMs} ms waiting for ${what}` });
    }
    await sleep(10);
  }
}

/** The error `promise` rejects with (fails if it resolves). */
export async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new assert.AssertionError({ message: "expected the call to fail" });
}

/** Resolve with the promise's value, or fail after `ms`. */
export function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new assert.AssertionError({ message: `${what} did not settle within ${ms} ms` })),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// What no client may ever log: the server broke the protocol and the client gave up.
const fatalLines = [];

/** A logger for the clients: their lines go to stderr, tagged, and are kept for checks. */
export function clientLogger(tag) {
  const lines = [];
  const keep = (level) => (...args) => {
    const line = args.map((a) => (typeof a === "string" ? a : String(a))).join(" ");
    lines.push(`${level} ${line}`);
    if (line.includes("FATAL ERROR")) fatalLines.push(`${tag}: ${line}`);
    process.stderr.write(`  [${tag} ${level}] ${line}\n`);
  };
  return { lines, log: keep("log"), warn: keep("warn"), error: keep("error"), logVerbose: () => {} };
}

/**
 * A WebSocket class for the client's `webSocketConstructor` that records every message
 * both ways, per socket, and can swallow server messages (`tap.drop = (msg, socketIndex) => bool`) as a
 * lossy network would; `tap.current()` is the latest socket (`.terminate()` cuts it).
 */
export function socketTap() {
  const tap = { sockets: [], sent: [], received: [], drop: null };
  class TapSocket extends WebSocket {
    constructor(...args) {
      super(...args);
      this.index = tap.sockets.length;
      tap.sockets.push(this);
    }

    send(data, ...rest) {
      tap.sent.push({ socket: this.index, msg: JSON.parse(data) });
      return super.send(data, ...rest);
    }

    get onmessage() {
      return super.onmessage;
    }

    set onmessage(handler) {
      const index = this.index;
      super.onmessage =
        typeof handler !== "function"
          ? handler
          : (event) => {
              const msg = JSON.parse(event.data);
              const dropped = Boolean(tap.drop && tap.drop(msg, index));
              tap.received.push({ socket: index, msg, dropped });
              if (!dropped) handler(event);
            };
    }
  }
  tap.WebSocket = TapSocket;
  tap.current = () => tap.sockets.at(-1);
  tap.sentOfType = (type, socket) =>
    tap.sent.filter((s) => s.msg.type === type && (socket === undefined || s.socket === socket)).map((s) => s.msg);
  tap.receivedOfType = (type, socket) =>
    tap.received.filter((r) => r.msg.type === type && (socket === undefined || r.socket === socket)).map((r) => r.msg);
  /** The query results the client was actually given (not dropped) in `entries`, oldest first. */
  tap.deliveredResults = (entries = tap.received) =>
    entries
      .filter((r) => !r.dropped && r.msg.type === "Transition")
      .flatMap((r) => r.msg.modifications)
      .filter((m) => m.type === "QueryUpdated" || m.type === "QueryFailed");
  return tap;
}

// -- the control channel: "@@ <command>" on stdout, the driver answers one line on stdin --

let stdinLines = null;
/** Ask the pytest driver to do `command` (e.g. restart the server); resolves with its answer. */
export async function askDriver(command) {
  if (stdinLines === null) {
    const rl = createInterface({ input: process.stdin });
    const queue = [];
    const waiting = [];
    rl.on("line", (line) => (waiting.length ? waiting.shift()(line) : queue.push(line)));
    stdinLines = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiting.push(r)));
  }
  process.stdout.write(`@@ ${command}\n`);
  const answer = await stdinLines();
  if (!answer.startsWith("done")) throw new Error(`the driver could not ${command}: ${answer}`);
  return answer;
}

// -- checks --------------------------------------------------------------------------------

/**
 * Run the named checks in order. Each prints "ok <name>"; the first failure prints
 * "FAIL <name>: ..." and exits 1. The last line is "all <n> checks passed".
 */
export async function runChecks(checks, { timeoutMs = 30_000, cleanup = async () => {} } = {}) {
  // A message the client cannot handle throws inside its socket handler: never let that pass.
  for (const event of ["uncaughtException", "unhandledRejection"]) {
    process.on(event, (err) => {
      console.log(`FAIL ${event}: ${err && err.stack ? err.stack : err}`);
      process.exit(1);
    });
  }
  let passed = 0;
  for (const [name, check] of checks) {
    const started = Date.now();
    try {
      await within(timeoutMs, check(), `check "${name}"`);
    } catch (err) {
      console.log(`FAIL ${name}: ${err && err.stack ? err.stack : err}`);
      await within(5_000, cleanup(), "cleanup").catch(() => {});
      process.exit(1);
    }
    if (fatalLines.length) {
      console.log(`FAIL ${name}: a client hit a fatal error:\n${fatalLines.join("\n")}`);
      process.exit(1);
    }
    passed += 1;
    console.log(`ok ${name}`);
    process.stderr.write(`  (${name}: ${Date.now() - started} ms)\n`);
  }
  await within(5_000, cleanup(), "cleanup").catch((err) => console.error(`cleanup: ${err}`));
  console.log(`all ${passed} checks passed`);
  process.exit(0);
}
