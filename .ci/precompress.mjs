// Writes `.br` (brotli, best) and `.gz` (gzip, best) beside every JS, WASM and CSS file of the
// built site's /pkg, so the server sends them precompressed instead of compressing each
// response on the fly at a lower level. Prints the sizes.
//   node .ci/precompress.mjs target/site/pkg
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node .ci/precompress.mjs <pkg folder>');
let raw = 0;
let br = 0;
for (const name of readdirSync(dir)) {
  if (!/\.(js|wasm|css)$/.test(name)) continue;
  const file = join(dir, name);
  const source = readFileSync(file);
  const brotli = brotliCompressSync(source, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: statSync(file).size,
    },
  });
  writeFileSync(`${file}.br`, brotli);
  writeFileSync(`${file}.gz`, gzipSync(source, { level: 9 }));
  raw += source.length;
  br += brotli.length;
}
console.log(`precompressed ${dir}: ${(raw / 1024).toFixed(0)} KB raw, ${(br / 1024).toFixed(0)} KB brotli`);
