'use strict';
// Enough of a PNG decoder (node's zlib, no npm packages) to tell a rendered
// page from a blank one: 8-bit RGB/RGBA, not interlaced, which is what
// chromium's screenshots are.
const fs = require('node:fs');
const zlib = require('node:zlib');

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function decode(buf) {
  if (buf.length < 8 || !buf.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG');
  let off = 8;
  let ihdr = null;
  const idat = [];
  while (off + 8 <= buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    off += 12 + len; // length, type, data, CRC
    if (type === 'IHDR') {
      ihdr = {
        width: data.readUInt32BE(0), height: data.readUInt32BE(4),
        depth: data[8], colorType: data[9], interlace: data[12],
      };
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
  }
  if (!ihdr) throw new Error('PNG without IHDR');
  const channels = { 2: 3, 6: 4 }[ihdr.colorType];
  if (ihdr.depth !== 8 || !channels || ihdr.interlace !== 0)
    throw new Error(`unsupported PNG: depth ${ihdr.depth}, colour type ${ihdr.colorType}, ` +
                    `interlace ${ihdr.interlace}`);
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const { width, height } = ihdr;
  const stride = width * channels;
  if (raw.length !== height * (stride + 1)) throw new Error('PNG data of the wrong size');
  const px = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? px[row + x - channels] : 0;
      const b = y > 0 ? px[prev + x] : 0;
      const c = x >= channels && y > 0 ? px[prev + x - channels] : 0;
      let pred;
      switch (filter) {
        case 0: pred = 0; break;
        case 1: pred = a; break;
        case 2: pred = b; break;
        case 3: pred = (a + b) >> 1; break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
          pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: throw new Error(`bad PNG filter ${filter} in row ${y}`);
      }
      px[row + x] = (raw[src + x] + pred) & 0xff;
    }
  }
  return { width, height, channels, px };
}

// Distinct colours, the share of the most common one, and the standard
// deviation of luminance: a blank (single-colour) page has 1, 1.0 and 0.
function stats(file) {
  const { width, height, channels, px } = decode(fs.readFileSync(file));
  const counts = new Map();
  let sum = 0;
  let sumSq = 0;
  const n = width * height;
  for (let i = 0; i < n; i++) {
    const o = i * channels;
    const r = px[o], g = px[o + 1], b = px[o + 2];
    const key = (r << 16) | (g << 8) | b;
    counts.set(key, (counts.get(key) || 0) + 1);
    const lum = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    sum += lum;
    sumSq += lum * lum;
  }
  const mean = sum / n;
  let top = 0;
  for (const c of counts.values()) if (c > top) top = c;
  return {
    width, height,
    colours: counts.size,
    topShare: top / n,
    lumStdDev: Math.sqrt(Math.max(0, sumSq / n - mean * mean)),
  };
}

// Throws unless the screenshot shows something: text and controls give
// dozens of anti-aliased colours and some contrast.
function assertNotBlank(file) {
  const s = stats(file);
  const ok = s.colours >= 16 && s.topShare < 0.995 && s.lumStdDev >= 3;
  if (!ok)
    throw new Error(`${file} looks blank: ${s.width}x${s.height}, ${s.colours} colours, ` +
                    `top colour ${(s.topShare * 100).toFixed(2)}%, ` +
                    `luminance sd ${s.lumStdDev.toFixed(2)}`);
  return s;
}

module.exports = { decode, stats, assertNotBlank };
