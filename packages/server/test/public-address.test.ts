/**
 * The webhook guard's idea of a public address, for every way IPv6 can carry
 * an IPv4 address (security round 2, finding 8): each private IPv4 address is
 * refused in each form, however it is written, and public ones stay allowed.
 */
import { describe, expect, it } from 'vitest';
import { embeddedIpv4, isPrivateAddress } from '../src/services/public-address.js';

describe('isPrivateAddress', () => {
  it('refuses loopback and private IPv4 addresses in every IPv6 form that embeds them', () => {
    for (const v4 of [
      '127.0.0.1',
      '10.1.2.3',
      '192.168.0.10',
      '169.254.169.254',
      '172.16.5.4',
      '100.64.0.1',
    ]) {
      const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number];
      const hi = ((a << 8) | b).toString(16);
      const lo = ((c << 8) | d).toString(16);
      for (const form of [
        v4,
        `::ffff:${v4}`,
        `::ffff:${hi}:${lo}`,
        `::${v4}`,
        `::${hi}:${lo}`,
        `0:0:0:0:0:0:${v4}`,
        `::ffff:0:${v4}`,
        `::ffff:0:${hi}:${lo}`,
        `64:ff9b::${v4}`,
        `64:ff9b::${hi}:${lo}`,
        `2002:${hi}:${lo}::1`,
      ]) {
        expect(isPrivateAddress(form), form).toBe(true);
      }
    }
  });

  it('refuses the IPv6 ranges that are never a public host', () => {
    for (const address of [
      '::',
      '::1',
      'fe80::1%eth0',
      'fd00::1',
      'fec0::1',
      'ff02::1',
      '2001:db8::1',
      '2001:0:4136:e378::1',
      '64:ff9b:1::1',
      '100::1',
    ]) {
      expect(isPrivateAddress(address), address).toBe(true);
    }
    expect(isPrivateAddress('not an address')).toBe(true);
  });

  it('allows public addresses, in IPv4 and IPv6 and embedded', () => {
    for (const address of [
      '93.184.216.34',
      '2606:2800:220:1:248:1893:25c8:1946',
      '::ffff:93.184.216.34',
      '64:ff9b::5db8:d822',
      '2002:5db8:d822::1',
    ]) {
      expect(isPrivateAddress(address), address).toBe(false);
    }
  });

  it('finds the IPv4 address inside each form', () => {
    expect(embeddedIpv4('::ffff:7f00:1')).toBe('127.0.0.1');
    expect(embeddedIpv4('64:ff9b::a01:203')).toBe('10.1.2.3');
    expect(embeddedIpv4('2002:c0a8:a::')).toBe('192.168.0.10');
    expect(embeddedIpv4('2606:2800:220:1::1')).toBeUndefined();
  });
});
