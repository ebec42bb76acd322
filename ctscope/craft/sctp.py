"""SCTP packets (RFC 9260): common header with verification tag, chunks, CRC32c.

    sctp(5000, 80, vtag=0, chunks=[init(init_tag=0x1111)])
    sctp(80, 5000, vtag=0x1111, chunks=[init_ack(init_tag=0x2222)])

Chunk builders return the chunk bytes, padded to 4 bytes.  Rules the kernel's
tracker checks (vtag 0 only with INIT, the T bit of ABORT/SHUTDOWN_COMPLETE
reflecting the tag) are the caller's choice here, so invalid packets can be built.
"""
from __future__ import annotations

import struct

from .checksum import sctp_checksum_field
from .l4 import SCTP, L4

DATA, INIT, INIT_ACK, SACK, HEARTBEAT, HEARTBEAT_ACK, ABORT = 0, 1, 2, 3, 4, 5, 6
SHUTDOWN, SHUTDOWN_ACK, ERROR, COOKIE_ECHO, COOKIE_ACK, SHUTDOWN_COMPLETE = 7, 8, 9, 10, 11, 14


def chunk(ctype: int, flags: int = 0, value: bytes = b"") -> bytes:
    """A generic chunk: type, flags, length, value, zero padding to 4 bytes."""
    n = 4 + len(value)
    return struct.pack("!BBH", ctype, flags, n) + value + b"\0" * (-n % 4)


def init(init_tag: int, a_rwnd: int = 65535, out_streams: int = 10, in_streams: int = 10,
         tsn: int = 1, params: bytes = b"") -> bytes:
    return chunk(INIT, 0, struct.pack("!IIHHI", init_tag, a_rwnd, out_streams, in_streams, tsn) + params)


def init_ack(init_tag: int, a_rwnd: int = 65535, out_streams: int = 10, in_streams: int = 10,
             tsn: int = 1, cookie: bytes = b"COOKIE-0123456789") -> bytes:
    """INIT ACK carrying a State Cookie parameter (type 7)."""
    n = 4 + len(cookie)
    param = struct.pack("!HH", 7, n) + cookie + b"\0" * (-n % 4)
    return chunk(INIT_ACK, 0, struct.pack("!IIHHI", init_tag, a_rwnd, out_streams, in_streams, tsn) + param)


def cookie_echo(cookie: bytes = b"COOKIE-0123456789") -> bytes:
    return chunk(COOKIE_ECHO, 0, cookie)


def cookie_ack() -> bytes:
    return chunk(COOKIE_ACK)


def data(tsn: int, payload: bytes = b"x", stream: int = 0, ssn: int = 0, ppid: int = 0,
         flags: int = 0x03) -> bytes:
    """DATA; flags 0x03 = B|E (an unfragmented message)."""
    return chunk(DATA, flags, struct.pack("!IHHI", tsn, stream, ssn, ppid) + payload)


def sack(cum_tsn: int, a_rwnd: int = 65535) -> bytes:
    return chunk(SACK, 0, struct.pack("!IIHH", cum_tsn, a_rwnd, 0, 0))


def heartbeat(info: bytes = b"HBINFO00") -> bytes:
    return chunk(HEARTBEAT, 0, struct.pack("!HH", 1, 4 + len(info)) + info)


def heartbeat_ack(info: bytes = b"HBINFO00") -> bytes:
    return chunk(HEARTBEAT_ACK, 0, struct.pack("!HH", 1, 4 + len(info)) + info)


def shutdown(cum_tsn: int) -> bytes:
    return chunk(SHUTDOWN, 0, struct.pack("!I", cum_tsn))


def shutdown_ack() -> bytes:
    return chunk(SHUTDOWN_ACK)


def shutdown_complete(t_bit: bool = False) -> bytes:
    return chunk(SHUTDOWN_COMPLETE, 1 if t_bit else 0)


def abort(t_bit: bool = False, causes: bytes = b"") -> bytes:
    """ABORT; with ``t_bit`` the packet's vtag is the sender's own tag (reflected)."""
    return chunk(ABORT, 1 if t_bit else 0, causes)


def error(causes: bytes = b"") -> bytes:
    return chunk(ERROR, 0, causes)


def sctp(sport: int, dport: int, vtag: int, chunks=(), bad_csum: bool = False) -> L4:
    """An SCTP packet with a correct CRC32c (or a wrong one with ``bad_csum``)."""
    body = struct.pack("!HHII", sport, dport, vtag & 0xFFFFFFFF, 0) + b"".join(chunks)
    field = sctp_checksum_field(body)
    if bad_csum:
        field = bytes(b ^ 0xA5 for b in field)
    return L4(SCTP, body[:8] + field + body[12:])
