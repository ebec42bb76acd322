"""Fuzzing the decoder for out-of-bounds reads.

Compiled numba code does not bounds-check, so the decoder runs interpreted
(NUMBA_DISABLE_JIT=1, in a subprocess) over a buffer that raises on any index outside
the captured bytes -- including negative ones, which numpy would silently wrap.
"""
import os
import random
import subprocess
import sys

import numpy as np

from ctscope.packets.pcapwrite import icmp, ipv4, ipv6, tcp, udp

A, B, A6, B6 = "10.0.0.1", "10.0.0.2", "2001:db8::1", "2001:db8::2"


class StrictBuf(np.ndarray):
    """uint8 buffer whose integer indexing must stay within [0, limit)."""

    def __getitem__(self, idx):
        if isinstance(idx, (int, np.integer)):
            if not 0 <= idx < self.limit:
                raise IndexError(f"read at {idx}, captured bytes end at {self.limit}")
        return np.ndarray.__getitem__(self, idx)


def corpus():
    inner4 = ipv4(B, A, 6, tcp(B, A, 1, 2))
    inner6 = ipv6(B6, A6, 17, udp(B6, A6, 1, 2))
    hbh = bytes([44, 0]) + b"\0" * 6
    return [
        ipv4(A, B, 6, tcp(A, B, 1, 2, options=b"\x02\x04\x05\xb4\x01\x05\x0a" + b"\0" * 8)),
        ipv4(A, B, 17, udp(A, B, 1, 2, b"x" * 9)),
        ipv4(A, B, 1, icmp(3, 1, payload=inner4)),
        ipv4(A, B, 1, icmp(11, 0, payload=ipv4(B, A, 1, icmp(8, 0)))),
        ipv4(A, B, 47, b"\x30\x01\x88\x0b\0\x10\xbe\xef"),
        ipv4(A, B, 132, b"\0\1\0\2\0\0\0\3\0\0\0\0\1\0\0\x14" + b"\0" * 16),
        ipv4(A, B, 136, udp(A, B, 1, 2, b"lite", proto=136)),
        ipv4(A, B, 6, b"", flags_frag=0x2000),
        ipv6(A6, B6, 58, icmp(1, 0, payload=inner6, v6_addrs=(A6, B6))),
        ipv6(A6, B6, 58, icmp(2, 0, payload=ipv6(B6, A6, 0, hbh + bytes([6, 0, 0, 8, 0, 0, 0, 1])))),
        ipv6(A6, B6, 0, bytes([60, 0]) + b"\0" * 6 + bytes([51, 0]) + b"\0" * 6
             + bytes([6, 1]) + b"\0" * 10 + tcp(A6, B6, 1, 2)),
        ipv6(A6, B6, 44, bytes([17, 0, 0, 1, 0, 0, 0, 9]) + udp(A6, B6, 1, 2)),
    ]


def fuzz_main(n: int, seed: int) -> int:
    from ctscope.packets.checksum import CRC32C_TABLE, words
    from ctscope.packets.decode import decode_l3
    from ctscope.packets.record import empty_batch
    from ctscope.packets.scan import decode_frame
    rng = random.Random(seed)
    base = corpus()
    out = empty_batch(1)
    for _ in range(n):
        pkt = bytearray(rng.choice(base) if rng.random() < 0.9 else rng.randbytes(rng.randint(0, 80)))
        for _ in range(rng.randint(0, 6)):
            if pkt:
                pkt[rng.randrange(len(pkt))] = rng.randrange(256)
        if rng.random() < 0.3 and pkt:
            pkt = pkt[:rng.randrange(len(pkt))]
        lt = rng.choice([1, 113, 276, 101, 0, 108, 228, 229])
        prefix = {1: 14, 113: 16, 276: 20, 0: 4, 108: 4}.get(lt, 0)
        frame = bytearray(rng.randbytes(prefix)) + pkt
        if lt == 1 and rng.random() < 0.8:
            frame[12:14] = rng.choice([b"\x08\x00", b"\x86\xdd", b"\x81\x00"])
        cap = len(frame)
        wire = cap + (rng.randint(0, 100) if rng.random() < 0.3 else 0)
        arr = np.zeros(cap + 8, dtype=np.uint8)
        arr[:cap] = np.frombuffer(bytes(frame), dtype=np.uint8)
        sb = arr.view(StrictBuf)
        sb.limit = cap
        out[0] = empty_batch(1)[0]
        decode_frame(sb, words(arr), 0, cap, wire, lt, out, 0, CRC32C_TABLE)
        out[0] = empty_batch(1)[0]
        sb.limit = len(pkt)
        parr = np.zeros(len(pkt) + 8, dtype=np.uint8)
        parr[:len(pkt)] = np.frombuffer(bytes(pkt), dtype=np.uint8)
        ps = parr.view(StrictBuf)
        ps.limit = len(pkt)
        decode_l3(ps, words(parr), 0, len(pkt), len(pkt) + rng.randint(0, 3), 0, out, 0, CRC32C_TABLE)
    return 0


def test_decoder_reads_only_captured_bytes():
    here = os.path.dirname(os.path.abspath(__file__))
    code = f"import sys; sys.path.insert(0, {here!r}); import test_packets_fuzz as t; t.fuzz_main(4000, 7)"
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]


def test_compiled_decoder_survives_the_same_inputs():
    here = os.path.dirname(os.path.abspath(__file__))
    code = f"import sys; sys.path.insert(0, {here!r}); import test_packets_fuzz as t; t.fuzz_main_compiled(4000, 11)"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]


def fuzz_main_compiled(n: int, seed: int) -> int:
    """Same generator, plain arrays, compiled decoder (a crash kills the subprocess)."""
    from ctscope.packets.checksum import CRC32C_TABLE, words
    from ctscope.packets.record import empty_batch
    from ctscope.packets.scan import decode_frame
    rng = random.Random(seed)
    base = corpus()
    out = empty_batch(1)
    for _ in range(n):
        pkt = bytearray(rng.choice(base))
        for _ in range(rng.randint(1, 6)):
            pkt[rng.randrange(len(pkt))] = rng.randrange(256)
        arr = np.zeros(len(pkt) + 8, dtype=np.uint8)
        arr[:len(pkt)] = np.frombuffer(bytes(pkt), dtype=np.uint8)
        decode_frame(arr, words(arr), 0, len(pkt), len(pkt), 101, out, 0, CRC32C_TABLE)
    return 0
