// Must NOT type-check: tests/integration/test_codegen.py asserts tsc reports each marked line.
import { ConvexHttpClient } from "convex/browser";

import { api } from "./example/_generated/api";
import type { Id } from "./example/_generated/dataModel";

export async function wrong(client: ConvexHttpClient, storageId: Id<"_storage">) {
  // FAIL wrong-type: size is a number
  await client.mutation(api.files.saveFile, { storageId, name: "a", type: "b", size: "12" });
  // FAIL snake-key-on-camel-name: saveFile takes camelCase argument names
  await client.mutation(api.files.saveFile, { storage_id: storageId, name: "a", type: "b", size: 1 });
  // FAIL wrong-table: an id of another table
  await client.query(api.files.get, { id: storageId });
  // FAIL unknown-function
  await client.query(api.files.noSuchFunction, {});
}
