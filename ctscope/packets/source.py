"""``open_capture()``: a pcap / pcapng file (optionally gzip-compressed, or ``-`` for
stdin) as an iterable of ``PKT_DTYPE`` batches, in frame order, in bounded memory.

The file is read in 2 MiB chunks into one reusable uint8 buffer (grown only for a
larger record); the compiled scanners in ``scan.py`` decode a whole chunk per call.
Python only handles what is rare or vectorised: pcapng section and interface blocks,
fragments (``defrag.py``), the path model (``path.py``, numpy, on each decoded chunk
while its records are still in the CPU cache) and errors, which become ``InputError``
naming the file, the frame number and the byte offset.

``Capture`` attributes: ``interfaces`` {ifindex: name} (pcapng IDBs numbered from 1
across sections, SLL2 ifindexes), ``linktypes`` {ifindex: link type} (0 = classic pcap),
``bytes_total`` (file size, None for stdin), ``bytes_read`` (compressed bytes for gzip),
``summary`` (frames, ip_frames, truncated_frames, ts_backwards, csum_bad,
csum_unchecked, reassembled, skipped {reason: n}, link_types, fragments, format, gzip).
"""
from __future__ import annotations

import io
import os
import struct

import numpy as np

from ..errors import InputError
from . import scan as S
from .checksum import CRC32C_TABLE, words
from .decode import decode_l3
from .defrag import DONE, FAILED, Defragmenter
from .path import apply_path
from .stream import Input
from .record import (
    PF_CSUM_BAD, PF_CSUM_UNCHECKED, PF_EGRESS, PF_REASSEMBLED, SKIP_FRAG_FAILED, SKIP_FRAG_HELD,
    SKIP_REASONS, empty_batch,
)

LINKTYPE_NAMES = {
    0: "NULL", 1: "ETHERNET", 6: "IEEE802_5", 9: "PPP", 12: "RAW", 14: "RAW", 50: "PPP_HDLC",
    51: "PPP_ETHER", 101: "RAW", 104: "C_HDLC", 105: "IEEE802_11", 108: "LOOP", 113: "LINUX_SLL",
    127: "IEEE802_11_RADIOTAP", 143: "DOCSIS", 192: "PPI", 195: "IEEE802_15_4_WITHFCS",
    201: "BLUETOOTH_HCI_H4_WITH_PHDR", 220: "USB_LINUX_MMAPPED", 228: "IPV4", 229: "IPV6",
    239: "NFLOG", 249: "USBPCAP", 263: "WIRESHARK_UPPER_PDU", 276: "LINUX_SLL2",
}

CHUNK = 2 << 20
FR_CAP = 4096
MAX_IFACES = 4096


def linktype_name(lt: int) -> str:
    return f"{LINKTYPE_NAMES.get(lt, 'unknown')} ({lt})"


class Capture:
    """Iterable of PKT_DTYPE batches; see the module docstring.  Iterate once."""

    def __init__(self, path: str, batch_size: int = 65536, local_nets=None, settings=None,
                 path_model: bool = True, chunk: int = CHUNK):
        if batch_size < 1:
            raise InputError("batch size must be at least 1", "--batch-size")
        self.path = path if isinstance(path, (str, os.PathLike)) else getattr(path, "name", "<stream>")
        self.batch_size = batch_size
        self.local_nets = local_nets
        self.path_model = path_model
        self.interfaces: dict[int, str] = {}
        self.linktypes: dict[int, int] = {}      # ifindex (0 for classic pcap) -> link type
        self.summary = {
            "format": None, "gzip": False, "frames": 0, "ip_frames": 0, "truncated_frames": 0,
            "ts_backwards": 0, "csum_bad": 0, "csum_unchecked": 0, "reassembled": 0,
            "skipped": {}, "link_types": [],
        }
        self._in = Input(path, chunk)
        self.path = self._in.path
        self.summary["gzip"] = self._in.gzip
        self._st = np.zeros(S.N_ST, dtype=np.int64)
        self._fr = np.zeros((FR_CAP, S.FR_COLS), dtype=np.int64)
        self._defrag = Defragmenter.from_settings(settings)
        self._batch_id = 0
        self._started = False
        # pcapng per-section interface tables
        self._ng_lt = np.zeros(MAX_IFACES, np.int64)
        self._ng_snap = np.zeros(MAX_IFACES, np.int64)
        self._ng_mode = np.zeros(MAX_IFACES, np.int64)
        self._ng_param = np.ones(MAX_IFACES, np.int64)
        self._ng_off = np.zeros(MAX_IFACES, np.int64)
        self._nif = 0
        self._big = False
        try:
            self._read_header()
        except BaseException:
            self._in.close()
            raise

    # --- public --------------------------------------------------------------
    @property
    def bytes_total(self):
        return self._in.bytes_total

    @property
    def bytes_read(self) -> int:
        return self._in.consumed()

    def __iter__(self):
        if self._started:
            raise InputError("a capture can be iterated only once", self.path)
        self._started = True
        try:
            yield from self._batches()
        finally:
            self._in.close()

    # --- header --------------------------------------------------------------
    def _where(self, pos: int, frame: int | None = None) -> str:
        n = self._st[S.ST_N] + 1 if frame is None else frame
        return f"{self.path}: frame {n} (byte {self._in.offset(pos)})"

    def _read_header(self) -> None:
        inp = self._in
        if not inp.need(4):
            if inp.end == 0:
                raise InputError("empty file", self.path)
            raise InputError("truncated file header", f"{self.path}: byte 0")
        magic = bytes(inp.buf[0:4])
        if magic == b"\x0a\x0d\x0d\x0a":
            self.summary["format"] = "pcapng"
            self._fmt = "pcapng"
            if not inp.need(12):
                raise InputError("truncated section header block", f"{self.path}: byte 0")
            self._ng_block()
            return
        pcap = {b"\xd4\xc3\xb2\xa1": (False, False), b"\x4d\x3c\xb2\xa1": (False, True),
                b"\xa1\xb2\xc3\xd4": (True, False), b"\xa1\xb2\x3c\x4d": (True, True)}
        if magic not in pcap:
            raise InputError(f"not a pcap or pcapng file (magic {magic.hex(' ')})", f"{self.path}: byte 0")
        self._fmt = "pcap"
        self.summary["format"] = "pcap"
        self._big, self._nsec = pcap[magic]
        if not inp.need(24):
            raise InputError("truncated pcap file header", f"{self.path}: byte {inp.end}")
        lt = struct.unpack((">" if self._big else "<") + "I", bytes(inp.buf[20:24]))[0] & 0xFFFF
        if lt not in S.SUPPORTED_LINKTYPES:
            raise InputError(f"unsupported link type {linktype_name(lt)}", f"{self.path}: byte 20")
        self._lt = lt
        self.linktypes[0] = lt
        self.summary["link_types"] = [linktype_name(lt)]
        inp.start = 24

    def _ng_block(self) -> None:
        """Handle the SHB or IDB at ``start`` (the scanner stops in front of them)."""
        inp = self._in
        pos = inp.start
        if not inp.need(12):
            raise InputError("file ends inside a block header", self._where(inp.start))
        pos = inp.start
        b = inp.buf
        btype_le = bytes(b[pos:pos + 4])
        if btype_le == b"\x0a\x0d\x0d\x0a":
            bom = bytes(b[pos + 8:pos + 12])
            if bom == b"\x1a\x2b\x3c\x4d":
                self._big = True
            elif bom == b"\x4d\x3c\x2b\x1a":
                self._big = False
            else:
                raise InputError(f"bad section byte-order magic {bom.hex(' ')}", self._where(pos))
            self._st[S.ST_IFBASE] = len(self.interfaces)
            self._nif = 0
        e = ">" if self._big else "<"
        btype, blen = struct.unpack(e + "II", bytes(b[pos:pos + 8]))
        if blen < 12 or blen % 4 or blen > S.MAX_RECORD:
            raise InputError(f"bad block length {blen}", self._where(pos))
        if not inp.need(blen):
            raise InputError("file ends inside a block", self._where(inp.start))
        pos = inp.start
        body = bytes(inp.buf[pos:pos + blen])
        if struct.unpack(e + "I", body[-4:])[0] != blen:
            raise InputError("block trailer length does not match its header", self._where(pos))
        if btype == 1:
            self._idb(body, e, pos)
        inp.start = pos + blen

    def _idb(self, body: bytes, e: str, pos: int) -> None:
        if len(body) < 20:
            raise InputError("interface description block too short", self._where(pos))
        lt, _, snap = struct.unpack(e + "HHI", body[8:16])
        name, tsresol, tsoff = None, 6, 0
        o = 16
        while o + 4 <= len(body) - 4:
            code, ln = struct.unpack(e + "HH", body[o:o + 4])
            val = body[o + 4:o + 4 + ln]
            if code == 0:
                break
            if code == 2:
                name = val.rstrip(b"\0").decode("utf-8", "replace")
            elif code == 9 and ln >= 1:
                tsresol = val[0]
            elif code == 14 and ln == 8:
                tsoff = struct.unpack(e + "q", val)[0]
            o += 4 + ((ln + 3) & ~3)
        i = self._nif
        if i >= MAX_IFACES:
            raise InputError(f"more than {MAX_IFACES} interfaces in one section", self._where(pos))
        if tsresol & 0x80:
            mode, param = 2, tsresol & 0x7F
            if param > 62:
                raise InputError(f"if_tsresol 2^-{param} is not supported", self._where(pos))
        else:
            if tsresol > 18:
                raise InputError(f"if_tsresol 10^-{tsresol} is not supported", self._where(pos))
            mode, param = (0, 10 ** (9 - tsresol)) if tsresol <= 9 else (1, 10 ** (tsresol - 9))
        self._ng_lt[i], self._ng_snap[i] = lt, snap
        self._ng_mode[i], self._ng_param[i], self._ng_off[i] = mode, param, tsoff
        self._nif += 1
        ifindex = int(self._st[S.ST_IFBASE]) + i + 1
        self.interfaces[ifindex] = name if name is not None else f"if{ifindex}"
        self.linktypes[ifindex] = lt
        if linktype_name(lt) not in self.summary["link_types"]:
            self.summary["link_types"].append(linktype_name(lt))

    # --- main loop -----------------------------------------------------------
    def _check_error(self) -> None:
        st = self._st
        code = st[S.ST_ERR]
        if not code:
            return
        val, pos = int(st[S.ST_ERRVAL]), int(st[S.ST_ERRPOS])
        msg = {
            S.ERR_LINKTYPE: f"unsupported link type {linktype_name(val)}",
            S.ERR_CAPLEN: f"record length {val} is impossible (corrupt file)",
            S.ERR_BLOCKLEN: f"bad block length {val} (corrupt file)",
            S.ERR_IFACE: f"packet names interface {val}, which no interface block defined",
            S.ERR_TRAILER: "block trailer length does not match its header (corrupt file)",
            S.ERR_NO_IFACE: "simple packet block before any interface block",
        }[code]
        raise InputError(msg, self._where(pos))

    def _scan(self, out, k):
        inp = self._in
        if self._fmt == "pcap":
            pos, k = S.pcap_scan(inp.buf, inp.start, inp.end, self._big, self._nsec, self._lt,
                                 out, k, self._fr, self._st, CRC32C_TABLE)
            stop = 0
        else:
            pos, k, stop = S.pcapng_scan(inp.buf, inp.start, inp.end, self._big, self._ng_lt,
                                         self._ng_snap, self._ng_mode, self._ng_param, self._ng_off,
                                         self._nif, out, k, self._fr, self._st, CRC32C_TABLE)
        inp.start = pos
        return k, stop

    def _batches(self):
        bs = self.batch_size
        out = empty_batch(bs)
        k = 0
        while True:
            k0 = k
            k, stop = self._scan(out, k)
            self._check_error()
            fr_full = self._st[S.ST_NFR] >= FR_CAP
            if self._st[S.ST_NFR]:
                self._fragments(out)
            if self.path_model and k > k0:
                # per scan call, while the new records are still in the CPU cache
                apply_path(out[k0:k], self.local_nets)
            if stop:
                self._ng_block()
                continue
            if k == bs:
                yield self._finish(out, k)
                out = empty_batch(bs)
                k = 0
                continue
            if fr_full:
                continue
            if not self._in.fill():
                if self._in.start < self._in.end:
                    raise InputError("file ends inside a record (truncated capture)",
                                     self._where(self._in.start))
                break
        if k:
            yield self._finish(out, k)

    def _fragments(self, out) -> None:
        buf = self._in.buf
        for row in self._fr[:self._st[S.ST_NFR]]:
            rec, l3off, capl, iplen, fhoff, ver = (int(x) for x in row)
            pkt = bytes(buf[l3off:l3off + capl])
            status, dgram, cut = self._defrag.add(ver, pkt, iplen, fhoff, int(out[rec]["ts"]),
                                                  (self._batch_id, rec))
            if status == FAILED:
                out[rec]["skip"] = SKIP_FRAG_FAILED
            elif status == DONE:
                self._redecode(out, rec, ver, dgram, cut)
        self._st[S.ST_NFR] = 0
        for bid, rec in self._defrag.take_killed():
            if bid == self._batch_id and out[rec]["skip"] == SKIP_FRAG_HELD:
                out[rec]["skip"] = SKIP_FRAG_FAILED

    @staticmethod
    def _redecode(out, rec, ver, dgram: bytes, cut: bool) -> None:
        keep = out[rec].copy()
        out[rec] = empty_batch(1)[0]
        for f in ("n", "ts", "ifindex"):
            out[rec][f] = keep[f]
        out[rec]["pflags"] = keep["pflags"] & PF_EGRESS
        arr = np.frombuffer(dgram, dtype=np.uint8)
        decode_l3(arr, words(arr), 0, len(arr), len(arr), ver, out, rec, CRC32C_TABLE)
        flags = int(out[rec]["pflags"]) | PF_REASSEMBLED
        if cut:
            flags = (flags & ~PF_CSUM_BAD) | PF_CSUM_UNCHECKED
        out[rec]["pflags"] = flags

    def _finish(self, out, k):
        batch = out[:k]
        sm = self.summary
        st = self._st
        sm["frames"] = int(st[S.ST_N])
        sm["ts_backwards"] = int(st[S.ST_BACK])
        sm["truncated_frames"] = int(st[S.ST_SNAPCUT])
        sm["ip_frames"] += int(np.count_nonzero(batch["l3"]))
        flags = batch["pflags"]
        sm["csum_bad"] += int(np.count_nonzero(flags & PF_CSUM_BAD))
        sm["csum_unchecked"] += int(np.count_nonzero(flags & PF_CSUM_UNCHECKED))
        sm["reassembled"] += int(np.count_nonzero(flags & PF_REASSEMBLED))
        counts = np.bincount(batch["skip"], minlength=1)
        for reason, c in enumerate(counts):
            if reason and c:
                name = SKIP_REASONS.get(reason, str(reason))
                sm["skipped"][name] = sm["skipped"].get(name, 0) + int(c)
        sm["fragments"] = dict(self._defrag.stats)
        if 276 in self.linktypes.values():        # SLL2 carries the kernel ifindex itself
            for idx in np.unique(batch["ifindex"]).tolist():
                if idx and idx not in self.interfaces:
                    self.interfaces[idx] = f"ifindex {idx}"
        self._batch_id += 1
        return batch


def open_capture(path: str, batch_size: int = 65536, local_nets=None, settings=None,
                 path_model: bool = True) -> Capture:
    """Open ``path`` (pcap, pcapng, gzip of either, ``-`` = stdin).  See ``Capture``."""
    return Capture(path, batch_size=batch_size, local_nets=local_nets, settings=settings,
                   path_model=path_model)


def decode_packets(frames, linktype: int = 1, ts_ns=None, orig_lens=None, **kw) -> np.ndarray:
    """Decode in-memory frames through the full pipeline (one pcap in memory); tests and
    generators use it.  ``ts_ns``/``orig_lens``: per-frame lists (default 0 / len)."""
    from .pcapwrite import PcapWriter
    bio = io.BytesIO()
    w = PcapWriter(bio, linktype=linktype, nsec=True)
    for j, f in enumerate(frames):
        w.write(f, 0 if ts_ns is None else ts_ns[j], None if orig_lens is None else orig_lens[j])
    bio.seek(0)
    bio.name = "<memory>"
    batches = list(Capture(bio, **kw))
    return np.concatenate(batches) if batches else empty_batch(0)
