// Builds a small PMTiles (version 3) archive of raster tiles for the browser tests: every
// tile of zoom z is one solid-colour 256×256 PNG, `colourOf(z)`, so a screenshot tells
// which zoom's tiles the page drew. One directory entry per zoom covers all its tiles (a
// run of 4^z tile ids), so the archive is a few kilobytes whatever the zoom range. Made
// at test time (no download); the layout follows the PMTiles v3 specification.
import zlib from 'node:zlib';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** A solid RGB PNG of `size`×`size`. */
export function solidPng([r, g, b], size = 256) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0); ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  const row = Buffer.alloc(1 + size * 3);
  for (let x = 0; x < size; x++) { row[1 + x * 3] = r; row[2 + x * 3] = g; row[3 + x * 3] = b; }
  const raw = Buffer.concat(Array.from({ length: size }, () => row));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** The colour of zoom `z`'s tiles: far from the page's own colours, and distinct per zoom. */
export const colourOf = z => [40 + z * 12, 200, 230 - z * 8];

function varint(n, out) {
  // Tile ids reach 4^15: beyond 32 bits, so no bit operators.
  while (n >= 0x80) { out.push((n % 0x80) | 0x80); n = Math.floor(n / 0x80); }
  out.push(n);
}

/** The archive's bytes, zooms `minZoom`..`maxZoom`, centred on `centre` ({lat, lon}). */
export function buildPmtiles({ minZoom = 0, maxZoom = 14, centre }) {
  const tiles = [], entries = [];
  let offset = 0;
  for (let z = minZoom; z <= maxZoom; z++) {
    const png = solidPng(colourOf(z));
    entries.push({ tileId: (4 ** z - 1) / 3, runLength: 4 ** z, offset, length: png.length });
    tiles.push(png); offset += png.length;
  }
  const dir = [];
  varint(entries.length, dir);
  let last = 0;
  for (const e of entries) { varint(e.tileId - last, dir); last = e.tileId; }
  for (const e of entries) varint(e.runLength, dir);
  for (const e of entries) varint(e.length, dir);
  entries.forEach((e, i) => varint(i > 0 && e.offset === entries[i - 1].offset + entries[i - 1].length ? 0 : e.offset + 1, dir));
  const root = Buffer.from(dir);
  const meta = Buffer.from(JSON.stringify({ name: 'browser-test', format: 'png' }));
  const data = Buffer.concat(tiles);
  const h = Buffer.alloc(127);
  h.write('PMTiles', 0, 'ascii'); h[7] = 3;
  const u64 = (at, v) => h.writeBigUInt64LE(BigInt(v), at);
  u64(8, 127); u64(16, root.length);
  u64(24, 127 + root.length); u64(32, meta.length);
  u64(40, 127 + root.length + meta.length); u64(48, 0);
  u64(56, 127 + root.length + meta.length); u64(64, data.length);
  const addressed = entries.reduce((s, e) => s + e.runLength, 0);
  u64(72, addressed); u64(80, entries.length); u64(88, entries.length);
  h[96] = 1; h[97] = 1; h[98] = 1; h[99] = 2; // clustered; no compression; PNG
  h[100] = minZoom; h[101] = maxZoom;
  h.writeInt32LE(-180e7, 102); h.writeInt32LE(Math.round(-85e7), 106);
  h.writeInt32LE(180e7, 110); h.writeInt32LE(Math.round(85e7), 114);
  h[118] = 11; h.writeInt32LE(Math.round(centre.lon * 1e7), 119); h.writeInt32LE(Math.round(centre.lat * 1e7), 123);
  return Buffer.concat([h, root, meta, data]);
}
