// The Python → TypeScript mapping of tests/apps/codegen_app, checked with tsc.
import type { FunctionArgs, FunctionReturnType } from "convex/server";

import { api, internal } from "./app/_generated/api";
import type { Doc, Id, TableNames } from "./app/_generated/dataModel";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(): T | undefined {
  return undefined;
}

const s = api.shapes;
expectType<Equal<FunctionArgs<typeof s.scalars>, {
  text: string;
  count: number;
  ratio: number;
  flag: boolean;
  raw: ArrayBuffer;
}>>();
expectType<Equal<FunctionReturnType<typeof s.scalars>, [string, number]>>();
expectType<Equal<FunctionArgs<typeof s.containers>, {
  names: Array<string>;
  scores: Record<string, number>;
  pair: [number, string];
  many: Array<number>;
  maybe?: string | null;
  choice?: "x" | "y" | 1 | true;
}>>();
expectType<Equal<FunctionReturnType<typeof s.containers>, Record<string, Array<number>>>>();
type Point = { x: number; y: number; label?: string };
expectType<Equal<FunctionArgs<typeof s.savePoint>, { point: Point; itemId: Id<"items"> }>>();
expectType<Equal<FunctionArgs<typeof s.save_point>, { point: Point; item_id: Id<"items"> }>>();
expectType<Equal<FunctionReturnType<typeof s.savePoint>, Point>>();
expectType<Equal<FunctionArgs<typeof s.attach>["color"], "red" | "green">>();
expectType<Equal<FunctionArgs<typeof s.attach>["file"], Id<"_storage">>>();
expectType<Equal<FunctionReturnType<typeof s.untyped>, any>>();
// The real getValue wins over get_value's alias.
expectType<Equal<FunctionReturnType<typeof s.getValue>, string>>();
expectType<Equal<FunctionReturnType<typeof s.get_value>, number>>();
expectType<Equal<FunctionArgs<typeof s.bothForms>, { item_id: string; itemId: string }>>();
expectType<Equal<FunctionArgs<typeof api.nested.deep.countUp>, { startAt?: number }>>();
expectType<Equal<FunctionArgs<typeof internal.shapes.secretStep>, { jobName: string }>>();
expectType<Equal<FunctionReturnType<typeof internal.shapes.secret_step>, null>>();

expectType<Equal<TableNames, "items" | "owners">>();
expectType<Equal<Doc<"items">["owner"], Id<"owners">>>();
expectType<Equal<Doc<"items">["kind"], "tool" | "part">>();
expectType<Equal<Doc<"items">["picture"], Id<"_storage"> | undefined>>();
expectType<Equal<Doc<"owners">, { _id: Id<"owners">; _creationTime: number; name: string }>>();

// @ts-expect-error: foo_bar and foo__bar share the alias fooBar, so neither has it
export const ambiguous = s.fooBar;
// @ts-expect-error: internal functions are not in api
export const hidden = api.shapes.secret_step;
