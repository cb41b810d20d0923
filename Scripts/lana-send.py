#!/usr/bin/env python3
"""Send a known number of Ethernet frames on an interface (AF_PACKET).

Usage: lana-send.py IFNAME COUNT [--kind ipv4|arp|other|custom] [--size N]

Frames are broadcast; each carries its sequence number so a receiver can
check them. Needs CAP_NET_RAW (root). Used by the demo and the tests.
"""
import argparse
import socket
import struct
import sys


def checksum(data: bytes) -> int:
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def frame(kind: str, seq: int, size: int) -> bytes:
    dst, src = b'\xff' * 6, b'\x02\x00\x00\x00\x00\x01'
    if kind == 'arp':
        body = struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 1, src, bytes([10, 99, 0, 1]),
                           b'\x00' * 6, bytes([10, 99, 0, (seq % 250) + 2]))
        payload = struct.pack('!H', 0x0806) + body
    elif kind == 'ipv4':
        udp_len = max(size - 14 - 20, 8)
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + udp_len, seq & 0xFFFF, 0, 64, 17, 0,
                         bytes([10, 99, 0, 1]), bytes([10, 99, 0, 2]))
        ip = ip[:10] + struct.pack('!H', checksum(ip)) + ip[12:]
        udp = struct.pack('!HHHH', 40000 + seq % 1000, 9, udp_len, 0)
        payload = struct.pack('!H', 0x0800) + ip + udp + struct.pack('!I', seq)
    else:
        ethertype = 0x88B5 if kind == 'custom' else 0x88B6
        payload = struct.pack('!HI', ethertype, seq)
    f = dst + src + payload
    return (f + bytes((seq + i) & 0xFF for i in range(max(0, size - len(f)))))[:max(size, len(f))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('ifname')
    p.add_argument('count', type=int)
    p.add_argument('--kind', choices=['ipv4', 'arp', 'other', 'custom'], default='custom')
    p.add_argument('--size', type=int, default=60)
    a = p.parse_args()
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.ifname, 0))
    for i in range(a.count):
        s.send(frame(a.kind, i, a.size))
    return 0


if __name__ == '__main__':
    sys.exit(main())
