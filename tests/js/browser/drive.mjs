// Drives the built test page in headless Chromium (tests/e2e/test_browser_files.py runs it):
// two pages signed in as the same user; the first uploads a PNG and a text file through the
// seed's FileUpload, both see them in the seed's FileList without a reload, the first deletes
// them, both see them go.
//
//   node drive.mjs <chromium> <page URL> <deployment URL> <artifacts dir>
//
// Prints "ok <check>" per check and "all N checks passed"; on failure "FAIL <reason>", the
// pages' console, and a screenshot of each page in the artifacts dir, and exits 1.
// DRIVE_VERBOSE=1 prints the pages' console on success too.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { chromium } from "playwright-core";

const [executablePath, pageUrl, deployment, artifacts] = process.argv.slice(2);
if (!artifacts) {
  console.error("usage: node drive.mjs <chromium> <page URL> <deployment URL> <artifacts dir>");
  process.exit(2);
}
const TIMEOUT_MS = 15_000;
const STORAGE_PREFIX = `${deployment}/api/storage/`;

let passed = 0;
function ok(name) {
  passed += 1;
  console.log(`ok ${name}`);
}
function check(condition, message) {
  if (!condition) throw new Error(message);
}

// A real (small) PNG of RGB pixels, so its natural size tells that Chromium decoded it.
function crc32(bytes) {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}
function png(width, height) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  const rows = [];
  for (let y = 0; y < height; y++) {
    rows.push(0); // filter: none
    for (let x = 0; x < width; x++) rows.push((x * 80) % 256, (y * 120) % 256, 200);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(Buffer.from(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

const IMAGE = { name: "picture.png", mimeType: "image/png", buffer: png(48, 32) };
const TEXT_BODY = `notes uploaded from the browser test ${Date.now()}\n`;
const TEXT = { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from(TEXT_BODY) };

const browser = await chromium.launch({ executablePath, headless: true, timeout: 30_000 });
const logs = [];
const pages = [];
let failed = false;
try {
  for (const label of ["uploader", "watcher"]) {
    // Separate contexts: two independent browser sessions, each with its own socket.
    const context = await browser.newContext();
    context.setDefaultTimeout(TIMEOUT_MS);
    const page = await context.newPage();
    page.label = label;
    page.navigations = 0;
    page.errors = [];
    page.on("console", (msg) => logs.push(`[${label} console.${msg.type()}] ${msg.text()}`));
    page.on("pageerror", (err) => {
      page.errors.push(err);
      logs.push(`[${label} pageerror] ${err.stack ?? err}`);
    });
    page.on("requestfailed", (req) =>
      logs.push(`[${label} requestfailed] ${req.method()} ${req.url()}: ${req.failure()?.errorText}`),
    );
    page.on("framenavigated", (frame) => {
      if (frame === page.mainFrame()) page.navigations += 1;
    });
    pages.push(page);
  }
  const [uploader, watcher] = pages;

  for (const page of pages) {
    await page.goto(pageUrl);
    await page.waitForFunction(
      () => document.querySelector("#auth-status")?.textContent !== "auth: pending",
    );
    const auth = await page.locator("#auth-status").textContent();
    check(auth === "auth: signed in", `${page.label}: ${auth} (the server refused the token)`);
    // The seed's FileList says "Loading..." until the query's first result arrives.
    await page.waitForFunction(() => {
      const list = document.querySelector("#files > div");
      return list !== null && list.textContent !== "Loading...";
    });
    check(
      (await page.locator("#files > div > div").count()) === 0,
      `${page.label}: the list is not empty at the start`,
    );
  }
  ok("both pages signed in over the sync socket and show an empty FileList");
  // Anything that reloads the watcher page would lose this.
  await watcher.evaluate(() => {
    window.__stillTheSamePage = true;
  });
  const watcherNavigations = watcher.navigations;

  const input = uploader.locator("#upload input[type=file]");
  await input.setInputFiles(IMAGE);
  for (const page of pages) {
    const img = page.locator(`#files img[alt="${IMAGE.name}"]`);
    await img.waitFor();
    const src = await img.getAttribute("src");
    check(src?.startsWith(STORAGE_PREFIX), `${page.label}: img src ${src} is not a storage URL`);
    await page.waitForFunction(
      (alt) => {
        const el = document.querySelector(`#files img[alt="${alt}"]`);
        return el !== null && el.complete && el.naturalWidth > 0;
      },
      IMAGE.name,
    );
    const size = await img.evaluate((el) => [el.naturalWidth, el.naturalHeight]);
    check(size[0] === 48 && size[1] === 32, `${page.label}: the image decoded as ${size}`);
  }
  ok("the uploaded PNG shows as a loaded <img> (48x32) in both pages");

  // FileUpload disables its input while it uploads; wait for it to finish.
  await uploader.locator("#upload input[type=file]:not([disabled])").waitFor();
  await input.setInputFiles(TEXT);
  let textUrl;
  for (const page of pages) {
    const link = page.locator(`#files a[download="${TEXT.name}"]`);
    await link.waitFor();
    check((await link.textContent()) === TEXT.name, `${page.label}: link text is wrong`);
    textUrl = await link.getAttribute("href");
    check(textUrl?.startsWith(STORAGE_PREFIX), `${page.label}: href ${textUrl} is not a storage URL`);
    check(
      (await page.locator("#files > div > div").count()) === 2,
      `${page.label}: FileList does not show exactly two files`,
    );
  }
  const served = await fetch(textUrl);
  check(served.status === 200, `GET ${textUrl}: ${served.status}`);
  check((await served.text()) === TEXT_BODY, "the served text differs from the uploaded one");
  check(
    served.headers.get("content-type")?.startsWith("text/plain"),
    `served as ${served.headers.get("content-type")}`,
  );
  ok("the text file shows as a download link in both pages and serves its bytes");
  mkdirSync(artifacts, { recursive: true });
  for (const page of pages) {
    await page.screenshot({ path: join(artifacts, `with-files-${page.label}.png`), fullPage: true });
  }
  const imageUrl = await watcher.locator(`#files img[alt="${IMAGE.name}"]`).getAttribute("src");

  await uploader.getByRole("button", { name: `Delete ${IMAGE.name}` }).click();
  for (const page of pages) {
    await page.locator(`#files img[alt="${IMAGE.name}"]`).waitFor({ state: "detached" });
    check(
      (await page.locator(`#files a[download="${TEXT.name}"]`).count()) === 1,
      `${page.label}: deleting the image removed the text file too`,
    );
  }
  ok("the deleted PNG disappears from both pages");

  await uploader.getByRole("button", { name: `Delete ${TEXT.name}` }).click();
  for (const page of pages) {
    await page.locator(`#files a[download="${TEXT.name}"]`).waitFor({ state: "detached" });
    await page.waitForFunction(() => document.querySelectorAll("#files > div > div").length === 0);
  }
  ok("the deleted text file disappears from both pages");

  for (const url of [imageUrl, textUrl]) {
    const gone = await fetch(url);
    check(gone.status === 404, `GET ${url} after delete: ${gone.status}`);
  }
  ok("the deleted files' URLs answer 404");

  check(
    (await watcher.evaluate(() => window.__stillTheSamePage === true)) &&
      watcher.navigations === watcherNavigations,
    "the watcher page was reloaded",
  );
  for (const page of pages) {
    check(page.errors.length === 0, `${page.label}: uncaught errors (see the log)`);
  }
  // The client logs each reconnect: the server must not have dropped a socket.
  const reconnects = logs.filter((line) => line.includes("WebSocket reconnected"));
  check(reconnects.length === 0, `the sync socket was dropped: ${reconnects.join("; ")}`);
  ok("the watcher page was never reloaded, no page threw, no socket was dropped");
  if (process.env.DRIVE_VERBOSE) for (const line of logs) console.log(line);
  console.log(`all ${passed} checks passed`);
} catch (error) {
  failed = true;
  console.log(`FAIL ${error?.stack ?? error}`);
  mkdirSync(artifacts, { recursive: true });
  for (const page of pages) {
    const path = join(artifacts, `${page.label}.png`);
    try {
      await page.screenshot({ path, fullPage: true, timeout: 5_000 });
      console.log(`screenshot: ${path}`);
    } catch (shotError) {
      console.log(`no screenshot of ${page.label}: ${shotError}`);
    }
  }
  for (const line of logs) console.log(line);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
