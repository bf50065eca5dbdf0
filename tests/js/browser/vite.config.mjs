// Builds the test page. `@generated` is the folder `mainspring codegen` wrote api.js into
// (MAINSPRING_GENERATED_DIR, set by tests/e2e/test_browser_files.py); dedupe resolves the bare
// imports of the generated file ("convex/server") from this folder's node_modules.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const generated = process.env.MAINSPRING_GENERATED_DIR;
if (!generated) {
  throw new Error("set MAINSPRING_GENERATED_DIR to the output folder of `mainspring codegen`");
}

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  logLevel: "warn",
  plugins: [react()],
  resolve: {
    alias: { "@generated": generated },
    dedupe: ["convex", "react", "react-dom"],
  },
  build: { minify: false },
});
