// Drives a running Mainspring server with the official Convex client (ConvexHttpClient).
//
//   node client.mjs <deployment url> <admin key>
//
// Every check prints "ok <name>"; the first failure prints "FAIL <name>: ..." and exits 1.
// The last line is "all <n> checks passed".
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { ConvexError } from "convex/values";

const [url, adminKey] = process.argv.slice(2);
if (!url || !adminKey) {
  console.error("usage: node client.mjs <deployment url> <admin key>");
  process.exit(2);
}
// An HS256 token for the test app's shared-secret provider (tests/apps/http_api_backend/auth.py).
function hs256(claims) {
  const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  const secret = "http-api-test-secret-0123456789-abcdef";
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}
const now = Math.floor(Date.now() / 1000);

const api = anyApi;
const internal = anyApi;

// The client forwards each response's logLines to its logger: capture them.
const logged = [];
const logger = {
  log: (...args) => logged.push(args.join(" ")),
  warn: (...args) => logged.push(args.join(" ")),
  error: (...args) => logged.push(args.join(" ")),
  logVerbose: () => {},
};
const client = new ConvexHttpClient(url, { logger });

async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new assert.AssertionError({ message: "expected the call to fail" });
}

const checks = [
  ["query with a default argument", async () => {
    assert.equal(await client.query(api.calls.add, { a: 40 }), 41);
    assert.equal(await client.query(api.calls.add, { a: 1, b: 2 }), 3);
  }],
  ["values round-trip (nested, bytes, null, floats)", async () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255]).buffer;
    const value = { s: "héllo ✓", n: 1.5, neg: -3, t: true, z: null, list: [1, "a", [2]], b: bytes };
    const back = await client.query(api.calls.echo, { value });
    assert.deepEqual(new Uint8Array(back.b), new Uint8Array(bytes));
    delete back.b;
    const { b, ...rest } = value;
    assert.deepEqual(back, rest);
    assert.ok(Object.is(await client.query(api.calls.echo, { value: -0 }), -0));
    assert.ok(Number.isNaN(await client.query(api.calls.echo, { value: NaN })));
    assert.equal(await client.query(api.calls.echo, { value: Infinity }), Infinity);
  }],
  ["bigint argument and bigint result", async () => {
    // 5n travels as {"$integer"}; the result is beyond 2**53, so it comes back as a bigint.
    const result = await client.query(api.calls.shift, { n: 5n });
    assert.equal(typeof result, "bigint");
    assert.equal(result, 5n + 2n ** 60n);
    assert.equal(await client.query(api.calls.echo, { value: -(2n ** 62n) }), -(2n ** 62n));
  }],
  ["mutation returns an id; its log lines reach the logger", async () => {
    logged.length = 0;
    const id = await client.mutation(api.calls.send, { body: "from-js" });
    assert.equal(typeof id, "string");
    assert.ok(id.length > 10, id);
    assert.ok(logged.some((l) => l.includes("sending from-js")), JSON.stringify(logged));
    assert.ok(logged.some((l) => l.includes("[WARN]") && l.includes("about to insert from-js")),
      JSON.stringify(logged));
    assert.ok((await client.query(api.calls.list_messages)).includes("from-js"));
  }],
  ["action", async () => {
    const before = (await client.query(api.calls.list_messages)).length;
    assert.equal(await client.action(api.calls.send_and_count, { body: "via-action" }), before + 1);
  }],
  ["module paths: subfolder and default export", async () => {
    assert.equal(await client.query(api.nested.deep.where), "nested/deep");
    assert.equal(await client.query("ping"), "pong");
    assert.equal(await client.query("ping.js:default"), "pong");
  }],
  ["ConvexError with structured data", async () => {
    const data = { code: "NOPE", count: 3, big: 2n ** 60n, raw: new Uint8Array([9, 8]).buffer };
    const err = await rejection(client.query(api.calls.fail_with, { data }));
    assert.ok(err instanceof ConvexError, String(err));
    assert.equal(err.data.code, "NOPE");
    assert.equal(err.data.count, 3);
    assert.equal(err.data.big, 2n ** 60n);
    assert.deepEqual(new Uint8Array(err.data.raw), new Uint8Array([9, 8]));
  }],
  ["ConvexError with a string message", async () => {
    const err = await rejection(client.query(api.calls.fail_with, { data: "out of stock" }));
    assert.ok(err instanceof ConvexError);
    assert.equal(err.data, "out of stock");
    assert.equal(err.message, "out of stock");
  }],
  ["uncaught error is redacted", async () => {
    const err = await rejection(client.query(api.calls.crash));
    assert.ok(!(err instanceof ConvexError));
    assert.match(err.message, /^\[Request ID: [0-9a-f]+\] Server Error$/);
    assert.ok(!err.message.includes("secret-internal-detail"));
  }],
  ["invalid arguments are refused with a message", async () => {
    const err = await rejection(client.query(api.calls.add, { a: "one" }));
    assert.match(err.message, /InvalidArguments/);
    assert.match(err.message, /`a`/);
  }],
  ["unknown and internal functions are not found", async () => {
    const missing = await rejection(client.query(api.calls.nope));
    assert.match(missing.message, /FunctionNotFound/);
    const hidden = await rejection(client.query(internal.calls.count));
    assert.match(hidden.message, /FunctionNotFound/);
  }],
  ["admin auth reaches internal functions", async () => {
    const admin = new ConvexHttpClient(url, { logger: false });
    admin.setAdminAuth(adminKey);
    assert.equal(typeof (await admin.query(internal.calls.count)), "number");
    assert.equal(await admin.query(api.calls.whoami), null);
  }],
  ["admin auth acting as a user", async () => {
    const admin = new ConvexHttpClient(url, { logger: false });
    admin.setAdminAuth(adminKey, { subject: "user-1", issuer: "https://issuer.test", name: "Ada" });
    const who = await admin.query(api.calls.whoami);
    assert.equal(who.subject, "user-1");
    assert.equal(who.name, "Ada");
    assert.equal(who.tokenIdentifier, "https://issuer.test|user-1");
  }],
  ["a wrong admin key is rejected", async () => {
    const admin = new ConvexHttpClient(url, { logger: false });
    admin.setAdminAuth("ms_admin_wrong");
    const err = await rejection(admin.query(internal.calls.count));
    assert.match(err.message, /Unauthenticated/);
  }],
  ["a verified bearer token gives the function an identity", async () => {
    const token = hs256({ sub: "ada", iss: "https://issuer.test", exp: now + 600, name: "Ada" });
    const user = new ConvexHttpClient(url, { logger: false, auth: token });
    const who = await user.query(api.calls.whoami, {});
    assert.equal(who.tokenIdentifier, "https://issuer.test|ada");
    assert.equal(who.name, "Ada");
  }],
  ["an expired bearer token is refused", async () => {
    const token = hs256({ sub: "ada", iss: "https://issuer.test", exp: now - 600 });
    const user = new ConvexHttpClient(url, { logger: false, auth: token });
    const err = await rejection(user.query(api.calls.whoami, {}));
    assert.match(err.message, /expired/);
  }],
  ["consistentQuery is refused clearly (no snapshot reads at a past timestamp)", async () => {
    const fresh = new ConvexHttpClient(url, { logger: false });
    const err = await rejection(fresh.consistentQuery(api.calls.add, { a: 1 }));
    assert.match(err.message, /NotSupported/);
  }],
  ["client.function (POST /api/function)", async () => {
    assert.equal(await client.function(api.calls.add, undefined, { a: 9 }), 10);
  }],
];

let passed = 0;
for (const [name, check] of checks) {
  try {
    await check();
    passed += 1;
    console.log(`ok ${name}`);
  } catch (err) {
    console.log(`FAIL ${name}: ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  }
}
console.log(`all ${passed} checks passed`);
