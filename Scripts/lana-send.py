#!/usr/bin/env python3
"""Send a known number of Ethernet frames on an interface (AF_PACKET).

Usage: lana-send.py IFNAME COUNT [--kind ipv4|arp|other|custom|flip] [--size N]
       flip frames: [--to MAC] [--dst ADDR] [--src ADDR] [--type T] [--ttl N]
                    [--first N] [--payload HEX] [--from MAC] [--print]

Frames are broadcast unless --to names a MAC; each carries its sequence
number so a receiver can check them. FLIP frames (EtherType 0x2020, the
format of docs/flip.md) always carry Length and Checksum; their Ethernet
source is the interface's own MAC unless --from says otherwise. Addresses
are written as fbctl takes them: 10.0.0.2 (IPv4), 0xabcd (2 bytes), 32 hex
digits (object id). --print writes the frames in hex, one per line,
instead of sending them. Needs CAP_NET_RAW (root) to send. Used by the
demos and the tests.
"""
import argparse
import errno
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    """RFC 1071, big-endian words, an odd last byte padded with zero."""
    if len(data) % 2:
        data += b'\x00'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def flip_address(text: str) -> bytes:
    """A FLIP address as fbctl takes it (docs/flip.md §3)."""
    digits = text[2:] if text.lower().startswith('0x') else text
    if '.' in text:
        parts = text.split('.')
        if len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts):
            return bytes(int(p) for p in parts)
    elif len(digits) in (4, 32) and all(c in '0123456789abcdefABCDEF' for c in digits) \
            and (len(digits) == 32 or text.lower().startswith('0x')):
        return bytes.fromhex(digits)
    raise argparse.ArgumentTypeError(
        f'{text!r} is not a FLIP address: expected IPv4 (10.0.0.2), 2 bytes (0xabcd) '
        'or an object id (32 hex digits)')


def mac_address(text: str) -> bytes:
    parts = text.split(':')
    if len(parts) == 6 and all(len(p) == 2 and all(c in '0123456789abcdefABCDEF' for c in p) for p in parts):
        return bytes(int(p, 16) for p in parts)
    raise argparse.ArgumentTypeError(f'{text!r} is not a MAC address: expected six hex pairs like 02:00:00:00:00:01')


def number(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a number (decimal or 0x…)') from None


def size_code(address: bytes) -> int:
    return {0: 0, 2: 1, 4: 2, 16: 3}[len(address)]


def flip_packet(a: argparse.Namespace, seq: int) -> bytes:
    """Meta bytes, fields in the order of docs/flip.md §3, Length and
    Checksum always (a sender sets Length whenever it sets the checksum)."""
    dst, src = a.dst or b'', a.src or b''
    meta1 = 0x80 | size_code(dst) << 3 | (0x04 if a.type is not None else 0) | (0x02 if a.ttl is not None else 0)
    meta2 = size_code(src) << 5 | 0x10 | 0x08
    head = bytes([meta1, meta2]) + dst
    if a.type is not None:
        head += struct.pack('!H', a.type)
    if a.ttl is not None:
        head += bytes([a.ttl])
    head += src
    if a.payload is not None:
        payload = a.payload
    else:
        # Sequence number, then a pattern up to --size bytes of frame.
        payload = struct.pack('!I', seq)
        fill = a.size - 14 - (len(head) + 4) - len(payload)
        payload += bytes((seq + i) & 0xFF for i in range(max(0, fill)))
    length = len(head) + 4 + len(payload)
    packet = head + struct.pack('!HH', length, 0) + payload
    at = len(head) + 2
    return packet[:at] + struct.pack('!H', checksum(packet)) + packet[at + 2:]


def frame(a: argparse.Namespace, seq: int) -> bytes:
    dst = a.to or b'\xff' * 6
    src = a.source_mac
    if a.kind == 'flip':
        return dst + src + struct.pack('!H', 0x2020) + flip_packet(a, seq)
    size = a.size
    if a.kind == 'arp':
        body = struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 1, src, bytes([10, 99, 0, 1]),
                           b'\x00' * 6, bytes([10, 99, 0, (seq % 250) + 2]))
        payload = struct.pack('!H', 0x0806) + body
    elif a.kind == 'ipv4':
        udp_len = max(size - 14 - 20, 8)
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + udp_len, seq & 0xFFFF, 0, 64, 17, 0,
                         bytes([10, 99, 0, 1]), bytes([10, 99, 0, 2]))
        ip = ip[:10] + struct.pack('!H', checksum(ip)) + ip[12:]
        udp = struct.pack('!HHHH', 40000 + seq % 1000, 9, udp_len, 0)
        payload = struct.pack('!H', 0x0800) + ip + udp + struct.pack('!I', seq)
    else:
        ethertype = 0x88B5 if a.kind == 'custom' else 0x88B6
        payload = struct.pack('!HI', ethertype, seq)
    f = dst + src + payload
    return (f + bytes((seq + i) & 0xFF for i in range(max(0, size - len(f)))))[:max(size, len(f))]


def interface_mac(ifname: str) -> bytes:
    try:
        with open(f'/sys/class/net/{ifname}/address') as f:
            return mac_address(f.read().strip())
    except (OSError, argparse.ArgumentTypeError) as e:
        sys.exit(f'lana-send.py: cannot read the MAC address of {ifname} ({e}); pass --from MAC')


def send_all(ifname: str, frames) -> None:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    deadline = time.monotonic() + 30
    for f in frames:
        while True:
            try:
                s.send(f)
                break
            except OSError as e:
                # A full transmit queue empties within microseconds; give up
                # only if it stays full.
                if e.errno not in (errno.ENOBUFS, errno.EAGAIN) or time.monotonic() > deadline:
                    raise
                time.sleep(0.0005)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('ifname')
    p.add_argument('count', type=int)
    p.add_argument('--kind', choices=['ipv4', 'arp', 'other', 'custom', 'flip'], default='custom')
    p.add_argument('--size', type=int, default=60, help='frame size without FCS (FLIP: unless --payload)')
    p.add_argument('--to', type=mac_address, help='Ethernet destination (default broadcast)')
    p.add_argument('--from', dest='source', type=mac_address,
                   help='Ethernet source (default 02:00:00:00:00:01; FLIP: the interface\'s MAC)')
    p.add_argument('--dst', type=flip_address, help='FLIP Destination (default none: link-local)')
    p.add_argument('--src', type=flip_address, help='FLIP Source (default none)')
    p.add_argument('--type', type=number, help='FLIP Type (default none: raw data)')
    p.add_argument('--ttl', type=number, help='FLIP TTL (default none: no hop limit)')
    p.add_argument('--first', type=int, default=0, help='first sequence number')
    p.add_argument('--payload', type=bytes.fromhex, help='FLIP payload in hex instead of sequence number and pattern')
    p.add_argument('--print', action='store_true', help='print the frames in hex instead of sending them')
    a = p.parse_args()
    if a.type is not None and not 0 <= a.type <= 0xFFFF:
        p.error(f'--type {a.type:#x} does not fit the 2-byte Type field')
    if a.ttl is not None and not 0 <= a.ttl <= 255:
        p.error(f'--ttl {a.ttl} does not fit the 1-byte TTL field')
    if a.kind != 'flip' and any(x is not None for x in (a.dst, a.src, a.type, a.ttl, a.payload)):
        p.error('--dst, --src, --type, --ttl and --payload are for --kind flip')
    if a.source is not None:
        a.source_mac = a.source
    elif a.kind == 'flip':
        a.source_mac = interface_mac(a.ifname)
    else:
        a.source_mac = b'\x02\x00\x00\x00\x00\x01'
    frames = (frame(a, a.first + i) for i in range(a.count))
    if a.print:
        for f in frames:
            print(f.hex())
    else:
        send_all(a.ifname, frames)
    return 0


if __name__ == '__main__':
    sys.exit(main())
