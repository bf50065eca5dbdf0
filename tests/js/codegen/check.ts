// Front-end code for the example app, as the seed's React component writes it: it must
// type-check against the api.d.ts `mainspring codegen` generates (tests/integration/test_codegen.py).
import { ConvexHttpClient } from "convex/browser";
import { useMutation, usePaginatedQuery, useQuery } from "convex/react";
import type { FunctionArgs, FunctionReturnType } from "convex/server";

import { api, internal } from "./example/_generated/api";
import type { Doc, Id } from "./example/_generated/dataModel";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(): T | undefined {
  return undefined;
}

// A paginated query, as usePaginatedQuery wants it (`paginationOpts` in, a page out).
export function useNotesFeed() {
  const { results, status, loadMore } = usePaginatedQuery(api.notes.feed, {}, { initialNumItems: 5 });
  return { results, status, loadMore };
}

// The seed's upload component.
export function useFileUpload() {
  const generateUploadUrl = useMutation(api.files.generateUploadUrl);
  const saveFile = useMutation(api.files.saveFile);
  const deleteFile = useMutation(api.files.deleteFile);
  const files = useQuery(api.files.listWithUrls, {});

  async function upload(file: File): Promise<Id<"files">> {
    const postUrl = await generateUploadUrl();
    const result = await fetch(postUrl, {
      method: "POST",
      headers: { "Content-Type": file.type },
      body: file,
    });
    const { storageId } = (await result.json()) as { storageId: Id<"_storage"> };
    return await saveFile({ storageId, name: file.name, type: file.type, size: file.size });
  }

  const rows = (files ?? []).map((file) => ({
    key: file._id,
    src: file.url,
    isImage: String(file.type).startsWith("image/"),
    label: file.name,
    remove: () => deleteFile({ id: file._id }),
  }));
  return { upload, rows };
}

// Python names work too: the same functions, Python argument names.
export async function withPythonNames(client: ConvexHttpClient, storage_id: Id<"_storage">) {
  const all = await client.query(api.files.list_with_urls, {});
  const id: Id<"files"> = await client.mutation(api.files.save_file, {
    storage_id,
    name: "cat.png",
    type: "image/png",
    size: 12,
  });
  const url: string | null = await client.query(api.files.get_url, { storage_id });
  return { all, id, url };
}

expectType<Equal<FunctionArgs<typeof api.files.saveFile>, {
  storageId: Id<"_storage">;
  name: string;
  type: string;
  size: number;
}>>();
expectType<Equal<FunctionArgs<typeof api.files.save_file>["storage_id"], Id<"_storage">>>();
expectType<Equal<FunctionReturnType<typeof api.files.saveFile>, Id<"files">>>();
expectType<Equal<FunctionReturnType<typeof api.files.generateUploadUrl>, string>>();
expectType<Equal<FunctionReturnType<typeof api.files.getUrl>, string | null>>();
expectType<Equal<FunctionArgs<typeof api.notes.listByAuthor>, {
  author: Id<"users">;
  pinnedOnly?: boolean;
}>>();
expectType<Equal<Doc<"files">["size"], number>>();
expectType<Equal<Doc<"files">["_id"], Id<"files">>>();
expectType<Equal<Doc<"files">["processed_storage_id"], Id<"_storage"> | undefined>>();
expectType<Equal<Doc<"orders">["status"], "pending" | "paid" | "payment_failed" | "abandoned">>();

// Internal functions are only in `internal`.
export const saveProcessed = internal.files.save_processed;
// @ts-expect-error: save_processed is internal
export const notPublic = api.files.save_processed;
