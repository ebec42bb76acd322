"""Rebuild examples/demo.pcap.gz, the README's bundled capture.

A small web server behind a 1 GB VPS's conntrack table: HTTP/1.0-style connections without
keep-alive at 100 connections/s for 100 s.  Each leaves a TIME_WAIT entry (ASSURED, 120 s) so
the default table of a 1 GiB host (8,192 entries) fills after ~82 s and new connections are
dropped: "nf_conntrack: table full, dropping packet".  Frames are cut to 96 bytes, as
`tcpdump -s 96` would, to keep the file small (the replay notes that their checksums could not
be verified).

    python3 examples/make_demo.py
"""
import gzip
import os
import struct
import subprocess
import sys
import tempfile

SNAPLEN = 96
HERE = os.path.dirname(os.path.abspath(__file__))


def snap(src: str, dst: str) -> int:
    with open(src, "rb") as fh, gzip.GzipFile(dst, "wb", compresslevel=9, mtime=0) as out:
        hdr = fh.read(24)
        magic, major, minor, zone, sig, _snaplen, lt = struct.unpack("<IHHiIII", hdr)
        out.write(struct.pack("<IHHiIII", magic, major, minor, zone, sig, SNAPLEN, lt))
        n = 0
        while True:
            rh = fh.read(16)
            if len(rh) < 16:
                break
            sec, frac, incl, orig = struct.unpack("<IIII", rh)
            data = fh.read(incl)
            keep = data[:SNAPLEN]
            out.write(struct.pack("<IIII", sec, frac, len(keep), orig) + keep)
            n += 1
    return n


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "demo.pcap")
        subprocess.run([sys.executable, "-m", "ctscope", "synth", "http-no-keepalive", "--rate", "100",
                        "--duration", "100", "--seed", "1", "--out", raw, "--quiet"], check=True)
        n = snap(raw, os.path.join(HERE, "demo.pcap.gz"))
    print(f"examples/demo.pcap.gz: {n} frames, {os.path.getsize(os.path.join(HERE, 'demo.pcap.gz')):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
