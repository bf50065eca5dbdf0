// Starts s3rver for tests/support/s3_servers.py: `node server.js DATA_DIR BUCKET [BUCKET...]`.
// Listens on a free loopback port, prints {"port": N} on one line once it accepts requests, and
// exits when its stdin closes, so a crashed test run never leaves the server behind.
// Credentials are s3rver's built-in pair: access key "S3RVER", secret "S3RVER".
'use strict';

const S3rver = require('@20minutes/s3rver');

async function main() {
  const [directory, ...buckets] = process.argv.slice(2);
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    // Verify every signature, presigned URLs included: that is what the tests are for.
    allowMismatchedSignatures: false,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const { port } = await server.run();
  process.stdout.write(JSON.stringify({ port }) + '\n');
  process.stdin.resume();
  process.stdin.on('end', () => server.close(() => process.exit(0)));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
