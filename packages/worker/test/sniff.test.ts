/**
 * sniffBytes on its own: what an input is, from its first and last bytes,
 * never from its name.
 */
import { describe, expect, it } from 'vitest';
import { sniffBytes } from '../src/sniff.js';

const sniff = (head: Buffer, tail: Buffer = head) => sniffBytes(head, tail, head.length);
const bytes = (...b: number[]) => Buffer.from(b);

describe('sniffBytes', () => {
  it('knows images by their magic numbers', () => {
    expect(sniff(bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0)).mime).toBe('image/png');
    expect(sniff(bytes(0xff, 0xd8, 0xff, 0xe0, 0, 0)).mime).toBe('image/jpeg');
    expect(sniff(Buffer.from('GIF89a....')).mime).toBe('image/gif');
    const webp = Buffer.concat([Buffer.from('RIFF'), bytes(0, 0, 0, 0), Buffer.from('WEBPVP8 ')]);
    expect(sniff(webp)).toMatchObject({ mime: 'image/webp', ext: '.webp', label: 'a WebP image' });
  });

  it('takes a PDF with its end marker, and says a PDF without one was cut short', () => {
    const pdf = Buffer.from('%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n%%EOF\n');
    expect(sniff(pdf)).toEqual(expect.objectContaining({ mime: 'application/pdf' }));
    expect(sniff(pdf).damage).toBeUndefined();
    const cut = Buffer.from('%PDF-1.7\n1 0 obj\n<<>>\n');
    expect(sniff(cut).mime).toBe('application/pdf');
    expect(sniff(cut).damage).toMatch(/no %%EOF end marker/);
  });

  it('finds a PDF header anywhere in the first KiB', () => {
    const junkFirst = Buffer.concat([Buffer.alloc(100, 0x20), Buffer.from('%PDF-1.4\n%%EOF')]);
    expect(sniff(junkFirst).mime).toBe('application/pdf');
  });

  it('says empty for no bytes at all', () => {
    expect(sniffBytes(Buffer.alloc(0), Buffer.alloc(0), 0).mime).toBe('application/x-empty');
  });

  it('tells text kinds apart: JSON, HTML, SVG, plain text', () => {
    expect(sniff(Buffer.from('{"a": 1}')).mime).toBe('application/json');
    expect(sniff(Buffer.from('<!DOCTYPE html><html></html>')).mime).toBe('text/html');
    expect(sniff(Buffer.from('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>')).mime).toBe(
      'image/svg+xml',
    );
    expect(sniff(Buffer.from('hello, world\n')).mime).toBe('text/plain');
  });

  it('sees a tar archive by its ustar magic, even when the first file is a PDF', () => {
    const header = Buffer.alloc(1024);
    header.write('doc.pdf', 0);
    header.write('ustar', 257);
    header.write('%PDF-1.7', 512);
    expect(sniff(header).mime).toBe('application/x-tar');
  });
});
