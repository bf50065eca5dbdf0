// usePaginatedQuery (convex/react 1.48.0) on a Mainspring server, rendered by react-test-renderer.
//
//   node paginated.mjs <url>
//
// Every check prints "ok <name>"; the first failure prints "FAIL <name>: ..." and exits 1.
// The last line is "all <n> checks passed".
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { ConvexProvider, ConvexReactClient, usePaginatedQuery } from "convex/react";
import { anyApi as api } from "convex/server";
import { createElement as h } from "react";
import { create } from "react-test-renderer";
import { clientLogger, runChecks, socketTap, waitFor } from "./lib.mjs";

const [url] = process.argv.slice(2);
if (!url) {
  console.error("usage: node paginated.mjs <url>");
  process.exit(2);
}
// Renders happen whenever the socket delivers, so no act(): the checks wait for the renders
// they expect.
globalThis.IS_REACT_ACT_ENVIRONMENT = false;

const shelf = `shelf-${randomUUID().slice(0, 8)}`;
const tap = socketTap();
const client = new ConvexReactClient(url, {
  webSocketConstructor: tap.WebSocket,
  logger: clientLogger("react"),
  unsavedChangesWarning: false,
});

// What the hook returned at each render.
const renders = [];
const latest = () => renders.at(-1);
function Feed({ channel }) {
  const result = usePaginatedQuery(api.items.page, { channel }, { initialNumItems: 3 });
  renders.push(result);
  return null;
}

const ranks = () => latest().results.map((item) => Number(item.rank));
const settle = (what, predicate) => waitFor(what, () => renders.length > 0 && predicate(latest()), 10_000);
const add = (...ranksToAdd) => client.mutation(api.items.add, { channel: shelf, ranks: ranksToAdd });
const remove = (rank) => client.mutation(api.items.remove, { channel: shelf, rank });

/** The page subscriptions the client has sent, in order. */
const pageAdds = () =>
  tap
    .sentOfType("ModifyQuerySet")
    .flatMap((m) => m.modifications)
    .filter((m) => m.type === "Add" && m.udfPath === "items:page");

let renderer;

await runChecks(
  [
    ["first page", async () => {
      await add(10, 20, 30, 40, 50, 60, 70, 80, 90, 100);
      renderer = create(h(ConvexProvider, { client }, h(Feed, { channel: shelf })));
      await waitFor("the first render", () => renders.length > 0);
      assert.equal(renders[0].status, "LoadingFirstPage");
      await settle("the first page", (r) => r.status === "CanLoadMore");
      assert.deepEqual(ranks(), [10, 20, 30]);
      const [first] = pageAdds();
      const opts = first.args[0].paginationOpts;
      assert.deepEqual([opts.cursor, opts.numItems], [null, 3]);
      // The server gave the page a journal (its end), for gapless re-runs and reconnects.
      const update = tap
        .receivedOfType("Transition")
        .flatMap((t) => t.modifications)
        .find((m) => m.type === "QueryUpdated" && m.queryId === first.queryId);
      assert.equal(typeof update.journal, "string");
      assert.equal(update.value.isDone, false);
      assert.equal(typeof update.value.continueCursor, "string");
    }],

    ["loadMore loads the second page after the first", async () => {
      latest().loadMore(3);
      await settle("two pages", (r) => r.status === "CanLoadMore" && r.results.length === 6);
      assert.deepEqual(ranks(), [10, 20, 30, 40, 50, 60]);
      const second = pageAdds()[1].args[0].paginationOpts;
      assert.equal(typeof second.cursor, "string");
      assert.equal(second.numItems, 3);
    }],

    ["an insert inside page 1 while two pages are loaded: nothing lost or duplicated", async () => {
      await add(15);
      // Page 1 grows to 4 items; 30 stays on page 1, and page 2 still starts after it.
      await settle("the insert", (r) => r.results.length === 7);
      assert.deepEqual(ranks(), [10, 15, 20, 30, 40, 50, 60]);
      await add(5, 45);
      await settle("more inserts", (r) => r.results.length === 9);
      assert.deepEqual(ranks(), [5, 10, 15, 20, 30, 40, 45, 50, 60]);
      assert.equal(latest().status, "CanLoadMore");
    }],

    ["a removal inside a page: it shrinks in place, nothing shifts", async () => {
      assert.equal(await remove(20), 1);
      assert.equal(await remove(60), 1); // the last item of page 2: its boundary stays put
      await settle("the removals", (r) => r.results.length === 7);
      assert.deepEqual(ranks(), [5, 10, 15, 30, 40, 45, 50]);
    }],

    ["loadMore until Exhausted: every item exactly once", async () => {
      let pages = 2;
      while (latest().status !== "Exhausted") {
        assert.equal(latest().status, "CanLoadMore");
        const before = renders.length;
        latest().loadMore(3);
        pages += 1;
        await settle(`page ${pages}`, (r) => renders.length > before && (r.status === "CanLoadMore" || r.status === "Exhausted"));
        assert.ok(pages < 10, "too many pages");
      }
      const all = [5, 10, 15, 30, 40, 45, 50, 70, 80, 90, 100];
      assert.deepEqual(ranks(), all);
      assert.equal(new Set(latest().results.map((item) => item._id)).size, all.length);
    }],

    ["an item added after the end shows on the last page; still Exhausted", async () => {
      await add(110, 35);
      await settle("the appended items", (r) => r.results.length === 13);
      assert.deepEqual(ranks(), [5, 10, 15, 30, 35, 40, 45, 50, 70, 80, 90, 100, 110]);
      assert.equal(latest().status, "Exhausted");
    }],
  ],
  {
    cleanup: async () => {
      renderer?.unmount();
      await client.close();
    },
  },
);
