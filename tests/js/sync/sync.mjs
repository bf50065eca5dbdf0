// Drives a Mainspring server's sync socket with the official ConvexClient (convex 1.48.0).
//
//   node sync.mjs live <url A> <url B>   subscriptions, read-your-writes, a second client
//                                        (on B), errors, auth (A and B may be one server)
//   node sync.mjs reconnect <url>        a dropped socket and a server restart (asks the
//                                        driver on stdout, "@@ stop" / "@@ start")
//
// Every check prints "ok <name>"; the first failure prints "FAIL <name>: ..." and exits 1.
// The last line is "all <n> checks passed".
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { ConvexClient } from "convex/browser";
import { anyApi as api } from "convex/server";
import { ConvexError } from "convex/values";
import {
  ISSUER,
  askDriver,
  clientLogger,
  hs256,
  nowSeconds,
  rejection,
  runChecks,
  sleep,
  socketTap,
  waitFor,
  within,
} from "./lib.mjs";

const [scenario, ...urls] = process.argv.slice(2);
const channel = (name) => `${name}-${randomUUID().slice(0, 8)}`;
const clients = [];

/** A ConvexClient on `url` with a socket tap and a tagged logger. */
function connect(url, tag) {
  const tap = socketTap();
  const logger = clientLogger(tag);
  const client = new ConvexClient(url, { webSocketConstructor: tap.WebSocket, logger });
  clients.push(client);
  return { client, tap, logger };
}

/** Subscribe and keep every value (and error) the callbacks get. */
function watch(client, query, args) {
  const seen = { values: [], errors: [], latest: undefined };
  seen.unsubscribe = client.onUpdate(
    query,
    args,
    (value) => {
      seen.values.push(value);
      seen.latest = value;
    },
    (error) => seen.errors.push(error),
  );
  seen.first = () => waitFor("the first result", () => seen.values.length > 0).then(() => seen.values[0]);
  return seen;
}

/** A u64 timestamp as the protocol encodes it (base64 of 8 little-endian bytes). */
const decodeTs = (b64) => Buffer.from(b64, "base64").readBigUInt64LE(0);

async function closeAll() {
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
}

// -- live: subscriptions, mutations, errors, auth ----------------------------------------

function liveChecks(urlA, urlB) {
  const chat = channel("chat");
  const a = connect(urlA, "A");
  const b = connect(urlB, "B");
  let listA;
  let countA;
  let listB;

  return [
    ["subscribe: onUpdate gets the initial result", async () => {
      await a.client.mutation(api.messages.send, { channel: chat, body: "seed" });
      listA = watch(a.client, api.messages.list, { channel: chat });
      countA = watch(a.client, api.messages.count, { channel: chat });
      assert.deepEqual(await listA.first(), ["seed"]);
      assert.equal(await countA.first(), 1);
      const first = a.tap.receivedOfType("Transition", 0)[0];
      assert.deepEqual(first.startVersion, { querySet: 0, identity: 0, ts: "AAAAAAAAAAA=" });
      assert.equal(listA.errors.length, 0);
    }],

    ["await mutation() resolves only once the write is visible", async () => {
      const id = await a.client.mutation(api.messages.send, { channel: chat, body: "m1" });
      // Right now, before any other event: the subscriptions already hold the write.
      assert.deepEqual(listA.latest, ["seed", "m1"]);
      assert.deepEqual(listA.unsubscribe.getCurrentValue(), ["seed", "m1"]);
      assert.equal(countA.latest, 2);
      assert.equal(typeof id, "string");
      // On the wire: the MutationResponse, then a Transition at or after its ts.
      const response = a.tap.receivedOfType("MutationResponse").at(-1);
      assert.equal(response.success, true);
      assert.equal(response.result, id);
      assert.ok(response.logLines.some((l) => l.includes("sending m1")), JSON.stringify(response.logLines));
      const after = a.tap.received.slice(a.tap.received.findIndex((r) => r.msg === response));
      const reflecting = after.find((r) => r.msg.type === "Transition");
      assert.ok(reflecting, "no Transition after the MutationResponse");
      assert.ok(decodeTs(reflecting.msg.endVersion.ts) >= decodeTs(response.ts));
    }],

    ["concurrent mutations each resolve with their own write visible", async () => {
      const bodies = ["c1", "c2", "c3", "c4", "c5"];
      await Promise.all(
        bodies.map((body) =>
          a.client.mutation(api.messages.send, { channel: chat, body }).then(() => {
            assert.ok(listA.latest.includes(body), `${body} not in ${JSON.stringify(listA.latest)}`);
          }),
        ),
      );
      // Mutations of one connection run in the order they were sent.
      assert.deepEqual(listA.latest, ["seed", "m1", ...bodies]);
      assert.equal(countA.latest, 7);
    }],

    ["a second client sees the first client's mutation (and back)", async () => {
      listB = watch(b.client, api.messages.list, { channel: chat });
      assert.deepEqual(await listB.first(), listA.latest);
      let started = Date.now();
      await a.client.mutation(api.messages.send, { channel: chat, body: "from-A" });
      await waitFor("B to see A's write", () => listB.latest.includes("from-A"), 5_000);
      process.stderr.write(`  (A -> B took ${Date.now() - started} ms)\n`);
      started = Date.now();
      await b.client.mutation(api.messages.send, { channel: chat, body: "from-B" });
      assert.equal(listB.latest.at(-1), "from-B"); // read-your-writes on B too
      await waitFor("A to see B's write", () => listA.latest.at(-1) === "from-B", 5_000);
      process.stderr.write(`  (B -> A took ${Date.now() - started} ms)\n`);
      assert.deepEqual(listA.latest, listB.latest);
    }],

    ["a failing mutation rejects with ConvexError data and writes nothing", async () => {
      const before = listA.latest;
      const err = await rejection(a.client.mutation(api.messages.reject, { channel: chat, body: "nope" }));
      assert.ok(err instanceof ConvexError, String(err));
      assert.deepEqual(err.data, { code: "REJECTED", body: "nope", big: 2n ** 60n });
      const response = a.tap.receivedOfType("MutationResponse").at(-1);
      assert.equal(response.success, false);
      assert.ok("errorData" in response);
      // The client still works, and the failed write never became visible.
      await a.client.mutation(api.messages.send, { channel: chat, body: "after-reject" });
      assert.deepEqual(listA.latest, [...before, "after-reject"]);
      assert.equal(await a.client.query(api.messages.count, { channel: chat, body: "nope" }), 0);
    }],

    ["a failing query: QueryFailed with errorData reaches onError as ConvexError", async () => {
      const room = channel("guarded");
      const guarded = watch(a.client, api.messages.guarded, { channel: room });
      assert.deepEqual(await guarded.first(), []);
      await b.client.mutation(api.messages.send, { channel: room, body: "poison" });
      await waitFor("the query to fail", () => guarded.errors.length > 0, 5_000);
      const err = guarded.errors[0];
      assert.ok(err instanceof ConvexError, String(err));
      assert.deepEqual(err.data, { code: "POISONED", count: 1 });
      const failed = a.tap
        .receivedOfType("Transition")
        .flatMap((t) => t.modifications)
        .find((m) => m.type === "QueryFailed");
      assert.ok(failed, "no QueryFailed on the wire");
      assert.deepEqual(failed.errorData, { code: "POISONED", count: 1 });
      assert.deepEqual(failed.logLines, []);
      // A one-shot query of the same function fails the same way, on the other server too.
      const once = await rejection(b.client.query(api.messages.guarded, { channel: room }));
      assert.ok(once instanceof ConvexError, String(once));
      assert.equal(once.data.code, "POISONED");
    }],

    ...authChecks(urlA, urlB),
  ];
}

function authChecks(urlA, urlB) {
  const room = channel("auth");
  let c;
  let who;
  const changes = [];

  return [
    ["setAuth: queries re-run as the user (whoami shows the identity)", async () => {
      c = connect(urlA, "C");
      who = watch(c.client, api.messages.whoami, {});
      assert.equal(await who.first(), null);
      const token = hs256({ sub: "ada", iss: ISSUER, iat: nowSeconds(), exp: nowSeconds() + 600, name: "Ada" });
      c.client.setAuth(async () => token, (ok) => changes.push(ok));
      await waitFor("onChange(true)", () => changes.includes(true), 5_000);
      await waitFor("whoami to show Ada", () => who.latest !== null, 5_000);
      assert.deepEqual(who.latest, {
        subject: "ada",
        issuer: ISSUER,
        tokenIdentifier: `${ISSUER}|ada`,
        name: "Ada",
      });
      // The identity bump confirmed it: a Transition whose identity version went up.
      const bumps = c.tap.receivedOfType("Transition").filter((t) => t.endVersion.identity > t.startVersion.identity);
      assert.ok(bumps.length >= 1);
      await c.client.mutation(api.messages.send, { channel: room, body: "as-ada" });
      assert.deepEqual(await c.client.query(api.messages.authors, { channel: room }), ["ada"]);
    }],

    ["clearAuth: anonymous again", async () => {
      c.client.client.clearAuth();
      await waitFor("whoami to be null", () => who.latest === null, 5_000);
      const logout = c.tap.sentOfType("Authenticate").at(-1);
      assert.equal(logout.tokenType, "None");
      await c.client.mutation(api.messages.send, { channel: room, body: "as-anon" });
      assert.deepEqual(await c.client.query(api.messages.authors, { channel: room }), ["ada", "anon"]);
      assert.deepEqual(changes, [true]);
      assert.equal(c.tap.sockets.length, 1, "auth changes must not reconnect");
    }],

    ["a short-lived token is refreshed on the same socket", async () => {
      const e = connect(urlB, "E");
      const whoE = watch(e.client, api.messages.whoami, {});
      assert.equal(await whoE.first(), null);
      let fetched = 0;
      const fetches = [];
      const changesE = [];
      e.client.setAuth(
        async (args) => {
          fetched += 1;
          fetches.push(args);
          const iat = nowSeconds();
          // exp - iat = 12 s: the client refetches 10 s before expiry, i.e. after ~2 s.
          return hs256({ sub: "bea", iss: ISSUER, iat, exp: iat + 12, name: `Bea ${fetched}` });
        },
        (ok) => changesE.push(ok),
      );
      // 1: the cached token; 2: the immediate forced refresh; 3: the scheduled one.
      await waitFor("the scheduled refresh to be in effect", () => whoE.latest?.name === "Bea 3", 8_000);
      assert.equal(whoE.latest.subject, "bea");
      assert.deepEqual(fetches.slice(0, 3).map((f) => f.forceRefreshToken), [false, true, true]);
      const auths = e.tap.sentOfType("Authenticate");
      assert.ok(auths.length >= 3, `${auths.length} Authenticate messages`);
      assert.deepEqual(auths.slice(0, 3).map((m) => m.baseVersion), [0, 1, 2]);
      assert.equal(e.tap.sockets.length, 1, "the refresh must reuse the socket");
      assert.deepEqual(e.tap.receivedOfType("AuthError"), []);
      // convex 1.48.0 calls onChange(true) again after each confirmed refresh (its
      // scheduleTokenRefetch replaces the state before `hadAuth` is read): only true counts.
      assert.ok(changesE.length >= 1 && changesE.every((ok) => ok === true), String(changesE));
      await e.client.mutation(api.messages.send, { channel: room, body: "as-bea" });
      assert.deepEqual(await e.client.query(api.messages.authors, { channel: room }), ["ada", "anon", "bea"]);
    }],

    ["a rejected token: onChange(false) after the retries, then anonymous", async () => {
      const d = connect(urlA, "D");
      const whoD = watch(d.client, api.messages.whoami, {});
      assert.equal(await whoD.first(), null);
      let fetched = 0;
      const changesD = [];
      d.client.setAuth(
        async () => {
          fetched += 1;
          const iat = nowSeconds();
          const claims = { sub: "mallory", iss: ISSUER, iat, exp: iat + 600, jti: `t${fetched}` };
          return hs256(claims, "not-the-secret-of-this-deployment-000");
        },
        (ok) => changesD.push(ok),
      );
      await waitFor("onChange(false)", () => changesD.includes(false), 20_000);
      assert.deepEqual(changesD, [false]);
      assert.ok(fetched >= 3, `fetchToken was called ${fetched} times`);
      const errors = d.tap.receivedOfType("AuthError");
      assert.ok(errors.length >= 3, `${errors.length} AuthErrors`);
      assert.ok(errors.every((m) => m.authUpdateAttempted === true));
      assert.ok(d.logger.lines.some((l) => l.includes("Failed to authenticate")), d.logger.lines.join("\n"));
      // The client reconnects without auth and keeps working as anonymous.
      await d.client.mutation(api.messages.send, { channel: room, body: "as-rejected" });
      assert.equal(whoD.latest, null);
      assert.equal(await d.client.query(api.messages.whoami, {}), null);
      assert.deepEqual(await d.client.query(api.messages.authors, { channel: room }), [
        "ada",
        "anon",
        "bea",
        "anon",
      ]);
    }],
  ];
}

// -- reconnect: a dropped socket, a restarted server -------------------------------------

function reconnectChecks(url) {
  const room = channel("reconnect");
  const shelf = channel("shelf");
  const r = connect(url, "R");
  let list;
  let pages;
  const ranks = () => pages.latest.results.map((item) => Number(item.rank));

  /** Swallow this socket's MutationResponses and Transitions: a write commits unseen. */
  async function commitUnseen(body) {
    const socket = r.tap.sockets.length - 1;
    r.tap.drop = (msg, index) =>
      index === socket && (msg.type === "MutationResponse" || msg.type === "Transition");
    const sentBefore = r.tap.sentOfType("Mutation").length;
    const promise = r.client.mutation(api.messages.send, { channel: room, body });
    const sent = await waitFor("the Mutation to go out", () => r.tap.sentOfType("Mutation")[sentBefore]);
    const response = await waitFor("the server to commit it", () =>
      r.tap.receivedOfType("MutationResponse").find((m) => m.requestId === sent.requestId),
    );
    assert.equal(response.success, true);
    let settled = false;
    promise.then(() => (settled = true), () => (settled = true));
    await sleep(50);
    assert.equal(settled, false, "the mutation resolved without its reflecting Transition");
    return { promise, sent, response };
  }

  /**
   * Check what the newest socket sent on opening: Connect, then every query, each page with
   * the journal the server last gave it.
   */
  function checkResubscribed(previousSockets) {
    const socket = r.tap.sockets.length - 1;
    assert.ok(socket >= previousSockets, "no new socket");
    const [hello] = r.tap.sentOfType("Connect", socket);
    assert.ok(hello.connectionCount >= 1);
    assert.ok(hello.maxObservedTimestamp, "no maxObservedTimestamp on reconnect");
    assert.ok(hello.lastCloseReason, "no lastCloseReason on reconnect");
    const [modify] = r.tap.sentOfType("ModifyQuerySet", socket);
    assert.equal(modify.baseVersion, 0);
    const adds = modify.modifications.filter((m) => m.type === "Add");
    const pageAdds = adds.filter((m) => m.udfPath === "items:page");
    assert.equal(pageAdds.length, 2, JSON.stringify(adds));
    const opened = r.tap.received.findIndex((x) => x.socket === socket);
    const results = r.tap.deliveredResults(r.tap.received.slice(0, opened));
    for (const add of pageAdds) {
      assert.equal(typeof add.journal, "string", `page ${JSON.stringify(add.args)} has no journal`);
      const last = results.filter((m) => m.queryId === add.queryId).at(-1);
      assert.equal(add.journal, last.journal, `page ${add.queryId} came back with another journal`);
    }
    assert.ok(adds.some((m) => m.udfPath === "messages:list"));
    return socket;
  }

  return [
    ["setup: a live list and two loaded pages", async () => {
      await r.client.mutation(api.items.add, { channel: shelf, ranks: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100] });
      list = watch(r.client, api.messages.list, { channel: room });
      assert.deepEqual(await list.first(), []);
      pages = { latest: undefined };
      pages.unsubscribe = r.client.onPaginatedUpdate_experimental(
        api.items.page,
        { channel: shelf },
        { initialNumItems: 3 },
        (value) => (pages.latest = value),
      );
      await waitFor("the first page", () => pages.latest?.status === "CanLoadMore");
      assert.deepEqual(ranks(), [10, 20, 30]);
      assert.equal(pages.latest.loadMore(3), true);
      await waitFor("the second page", () => pages.latest.status === "CanLoadMore" && ranks().length === 6);
      assert.deepEqual(ranks(), [10, 20, 30, 40, 50, 60]);
    }],

    ["a dropped socket: the unresolved mutation is resent and runs once", async () => {
      const sockets = r.tap.sockets.length;
      const { promise, sent, response } = await commitUnseen("once");
      r.tap.current().terminate(); // the network goes away
      r.tap.drop = null;
      const id = await within(15_000, promise, "the resent mutation");
      const socket = checkResubscribed(sockets);
      const resent = r.tap.sentOfType("Mutation", socket);
      assert.deepEqual(resent.map((m) => m.requestId), [sent.requestId]);
      // The server recognised the request: same result, no second row.
      assert.equal(id, response.result);
      assert.deepEqual(list.latest, ["once"]);
      assert.equal(await r.client.query(api.messages.count, { channel: room, body: "once" }), 1);
      assert.deepEqual(ranks(), [10, 20, 30, 40, 50, 60]);
    }],

    ["a restarted server: reconnect, re-subscribe with journals, resent mutations run once", async () => {
      const sockets = r.tap.sockets.length;
      const unseen = await commitUnseen("across-restart");
      await askDriver("stop");
      r.tap.drop = null;
      // Made while the server is down: it waits in the client and goes out on reconnect.
      const whileDown = r.client.mutation(api.messages.send, { channel: room, body: "while-down" });
      await sleep(200);
      await askDriver("start");
      const [id1, id2] = await within(20_000, Promise.all([unseen.promise, whileDown]), "the mutations");
      const socket = checkResubscribed(sockets);
      const resent = r.tap.sentOfType("Mutation", socket).map((m) => m.requestId);
      assert.ok(resent.includes(unseen.sent.requestId), `resent ${resent}`);
      assert.equal(id1, unseen.response.result);
      assert.notEqual(id2, id1);
      await waitFor("the list", () => list.latest.length === 3);
      assert.deepEqual(list.latest, ["once", "across-restart", "while-down"]);
      for (const body of ["once", "across-restart", "while-down"]) {
        assert.equal(await r.client.query(api.messages.count, { channel: room, body }), 1, body);
      }
      // The pages came back as they were, from their journals.
      assert.deepEqual(ranks(), [10, 20, 30, 40, 50, 60]);
    }],

    ["after the restart, pages keep their boundaries: nothing lost or duplicated", async () => {
      await r.client.mutation(api.items.add, { channel: shelf, ranks: [15, 55] });
      assert.deepEqual(ranks(), [10, 15, 20, 30, 40, 50, 55, 60]);
      while (pages.latest.status !== "Exhausted") {
        await waitFor("a page", () => pages.latest.status === "CanLoadMore" || pages.latest.status === "Exhausted");
        if (pages.latest.status === "CanLoadMore") pages.latest.loadMore(3);
        await waitFor("the new page", () => pages.latest.status !== "LoadingMore");
      }
      assert.deepEqual(ranks(), [10, 15, 20, 30, 40, 50, 55, 60, 70, 80, 90, 100]);
    }],
  ];
}

// ------------------------------------------------------------------------------------------

const scenarios = {
  live: () => liveChecks(urls[0], urls[1] ?? urls[0]),
  reconnect: () => reconnectChecks(urls[0]),
};
if (!scenarios[scenario] || !urls[0]) {
  console.error("usage: node sync.mjs live <url A> [<url B>] | reconnect <url>");
  process.exit(2);
}
await runChecks(scenarios[scenario](), { cleanup: closeAll });
