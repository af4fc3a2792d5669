/**
 * Whether an IP address is a public one a webhook may be delivered to. The
 * IPv6 forms that carry an IPv4 address inside (mapped ::ffff:a.b.c.d,
 * compatible ::a.b.c.d, SIIT ::ffff:0:a.b.c.d, NAT64 64:ff9b::/96, 6to4
 * 2002::/16) are judged by the IPv4 address they carry, however they are
 * written (`[::127.0.0.1]`, `[::ffff:7f00:1]`, `[64:ff9b::7f00:1]`), so none
 * reaches loopback or a private network through a translator.
 */
import { BlockList, isIP } from 'node:net';

const blockedV4 = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blockedV4.addSubnet(net, prefix, 'ipv4');
}

/** IPv6 ranges refused whole: loopback, unspecified, ULA, link- and site-local, multicast, documentation, discard, Teredo, local-use NAT64. */
const blockedV6 = new BlockList();
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['100::', 64],
  ['2001::', 32],
  ['2001:db8::', 32],
  ['64:ff9b:1::', 48],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  blockedV6.addSubnet(net, prefix, 'ipv6');
}

/** The 16 bytes of a valid IPv6 address (a zone id is dropped). */
function ipv6Bytes(address: string): Uint8Array {
  let text = address.replace(/%.*$/, '');
  const bytes = new Uint8Array(16);
  // A dotted IPv4 tail becomes two hex groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::') as [string, string | undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups =
    tail === undefined
      ? headGroups
      : [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  groups.forEach((group, i) => {
    const value = Number.parseInt(group, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  });
  return bytes;
}

const zero = (bytes: Uint8Array, from: number, to: number) => bytes.slice(from, to).every((b) => b === 0);
const v4 = (bytes: Uint8Array, at: number) => Array.from(bytes.slice(at, at + 4)).join('.');

/** The IPv4 address an IPv6 address carries, if it is one of the embedding forms. */
export function embeddedIpv4(address: string): string | undefined {
  const b = ipv6Bytes(address);
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated).
  if (zero(b, 0, 10) && ((b[10] === 0xff && b[11] === 0xff) || (b[10] === 0 && b[11] === 0))) {
    return zero(b, 0, 12) && zero(b, 12, 15) ? undefined : v4(b, 12); // :: and ::1 stay IPv6
  }
  // ::ffff:0:a.b.c.d (SIIT, IPv4-translated).
  if (zero(b, 0, 8) && b[8] === 0xff && b[9] === 0xff && b[10] === 0 && b[11] === 0) return v4(b, 12);
  // 64:ff9b::/96 (NAT64, well-known prefix).
  if (b[0] === 0 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(b, 4, 12)) return v4(b, 12);
  // 2002::/16 (6to4): the IPv4 address follows the prefix.
  if (b[0] === 0x20 && b[1] === 0x02) return v4(b, 2);
  return undefined;
}

/** Private, loopback, link-local, multicast, reserved, or not an address at all. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address.replace(/%.*$/, ''));
  if (family === 4) return blockedV4.check(address, 'ipv4');
  if (family !== 6) return true;
  const carried = embeddedIpv4(address);
  if (carried !== undefined) return blockedV4.check(carried, 'ipv4');
  return blockedV6.check(address.replace(/%.*$/, ''), 'ipv6');
}
