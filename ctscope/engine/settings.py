"""Conntrack settings by sysctl name, with Linux 6.18 defaults and the RAM sizing rule.

``Settings`` holds values the way an operator writes them (seconds, 0/1 flags);
``Settings.vector()`` turns them into the int64 array the compiled engine reads,
indexed by the ``K_*`` constants below (timeouts converted to nanoseconds).

Name handling follows sysctl(8): ``net.netfilter.X`` and bare ``X`` are the same key,
``net.nf_conntrack_max`` is an alias of ``nf_conntrack_max``.  Keys that some kernel
(4.x .. 6.18) has but the model does not use are accepted and reported as ignored;
an ``nf_conntrack_*`` name no kernel has is an error.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

NS = 1_000_000_000

# name -> (default, kind). kind: "t" timeout seconds, "b" bool 0/1, "n" count
MODELLED: dict[str, tuple[int, str]] = {
    "nf_conntrack_max": (262144, "n"),
    "nf_conntrack_buckets": (262144, "n"),
    "nf_conntrack_acct": (0, "b"),
    "nf_conntrack_timestamp": (0, "b"),
    "nf_conntrack_checksum": (1, "b"),
    "nf_conntrack_tcp_loose": (1, "b"),
    "nf_conntrack_tcp_be_liberal": (0, "b"),
    "nf_conntrack_tcp_ignore_invalid_rst": (0, "b"),
    "nf_conntrack_tcp_max_retrans": (3, "n"),
    "nf_conntrack_tcp_timeout_syn_sent": (120, "t"),
    "nf_conntrack_tcp_timeout_syn_recv": (60, "t"),
    "nf_conntrack_tcp_timeout_established": (432000, "t"),
    "nf_conntrack_tcp_timeout_fin_wait": (120, "t"),
    "nf_conntrack_tcp_timeout_close_wait": (60, "t"),
    "nf_conntrack_tcp_timeout_last_ack": (30, "t"),
    "nf_conntrack_tcp_timeout_time_wait": (120, "t"),
    "nf_conntrack_tcp_timeout_close": (10, "t"),
    "nf_conntrack_tcp_timeout_max_retrans": (300, "t"),
    "nf_conntrack_tcp_timeout_unacknowledged": (300, "t"),
    "nf_conntrack_udp_timeout": (30, "t"),
    "nf_conntrack_udp_timeout_stream": (120, "t"),
    "nf_conntrack_icmp_timeout": (30, "t"),
    "nf_conntrack_icmpv6_timeout": (30, "t"),
    "nf_conntrack_generic_timeout": (600, "t"),
    "nf_conntrack_gre_timeout": (30, "t"),
    "nf_conntrack_gre_timeout_stream": (180, "t"),
    "nf_conntrack_sctp_timeout_closed": (10, "t"),
    "nf_conntrack_sctp_timeout_cookie_wait": (3, "t"),
    "nf_conntrack_sctp_timeout_cookie_echoed": (3, "t"),
    "nf_conntrack_sctp_timeout_established": (210, "t"),
    "nf_conntrack_sctp_timeout_shutdown_sent": (3, "t"),
    "nf_conntrack_sctp_timeout_shutdown_recd": (3, "t"),
    "nf_conntrack_sctp_timeout_shutdown_ack_sent": (3, "t"),
    "nf_conntrack_sctp_timeout_heartbeat_sent": (30, "t"),
    "nf_conntrack_frag6_timeout": (60, "t"),
    "nf_conntrack_frag6_low_thresh": (3 * 1024 * 1024, "n"),
    "nf_conntrack_frag6_high_thresh": (4 * 1024 * 1024, "n"),
}

# Names some kernel from 4.x to 6.18 has, which the model does not use.
IGNORED: set[str] = {
    "nf_conntrack_count", "nf_conntrack_events", "nf_conntrack_events_retry_timeout",
    "nf_conntrack_log_invalid", "nf_conntrack_expect_max", "nf_conntrack_helper",
    "nf_hooks_lwtunnel", "nf_log_all_netns", "nf_conntrack_sctp_timeout_heartbeat_acked",
    "nf_conntrack_dccp_loose", "nf_conntrack_dccp_timeout_request",
    "nf_conntrack_dccp_timeout_respond", "nf_conntrack_dccp_timeout_partopen",
    "nf_conntrack_dccp_timeout_open", "nf_conntrack_dccp_timeout_closereq",
    "nf_conntrack_dccp_timeout_closing", "nf_conntrack_dccp_timeout_timewait",
    "nf_conntrack_udplite_timeout", "nf_conntrack_udplite_timeout_stream",
    "nf_conntrack_tcp_timeout_syn_sent2", "nf_flowtable_tcp_timeout",
    "nf_flowtable_udp_timeout", "nf_flowtable_tcp_pickup", "nf_conntrack_default_on",
}
IGNORED_PREFIXES = ("nf_log.", "nf_log/")

# Index of each modelled setting in the engine vector.
NAMES = tuple(MODELLED)
K = {name: i for i, name in enumerate(NAMES)}
K_MAX = K["nf_conntrack_max"]
K_BUCKETS = K["nf_conntrack_buckets"]
K_ACCT = K["nf_conntrack_acct"]
K_TSTAMP = K["nf_conntrack_timestamp"]
K_CHECKSUM = K["nf_conntrack_checksum"]
K_TCP_LOOSE = K["nf_conntrack_tcp_loose"]
K_TCP_BE_LIBERAL = K["nf_conntrack_tcp_be_liberal"]
K_TCP_IGNORE_INVALID_RST = K["nf_conntrack_tcp_ignore_invalid_rst"]
K_TCP_MAX_RETRANS = K["nf_conntrack_tcp_max_retrans"]
# TCP timeouts, indexed by state: K_TCP_TIMEOUT0 + TCP_* gives the state's timeout
K_T_SYN_SENT = K["nf_conntrack_tcp_timeout_syn_sent"]
K_T_SYN_RECV = K["nf_conntrack_tcp_timeout_syn_recv"]
K_T_ESTABLISHED = K["nf_conntrack_tcp_timeout_established"]
K_T_FIN_WAIT = K["nf_conntrack_tcp_timeout_fin_wait"]
K_T_CLOSE_WAIT = K["nf_conntrack_tcp_timeout_close_wait"]
K_T_LAST_ACK = K["nf_conntrack_tcp_timeout_last_ack"]
K_T_TIME_WAIT = K["nf_conntrack_tcp_timeout_time_wait"]
K_T_CLOSE = K["nf_conntrack_tcp_timeout_close"]
K_T_MAX_RETRANS = K["nf_conntrack_tcp_timeout_max_retrans"]
K_T_UNACK = K["nf_conntrack_tcp_timeout_unacknowledged"]
K_T_UDP = K["nf_conntrack_udp_timeout"]
K_T_UDP_STREAM = K["nf_conntrack_udp_timeout_stream"]
K_T_ICMP = K["nf_conntrack_icmp_timeout"]
K_T_ICMPV6 = K["nf_conntrack_icmpv6_timeout"]
K_T_GENERIC = K["nf_conntrack_generic_timeout"]
K_T_GRE = K["nf_conntrack_gre_timeout"]
K_T_GRE_STREAM = K["nf_conntrack_gre_timeout_stream"]
K_T_SCTP_CLOSED = K["nf_conntrack_sctp_timeout_closed"]
K_T_SCTP_COOKIE_WAIT = K["nf_conntrack_sctp_timeout_cookie_wait"]
K_T_SCTP_COOKIE_ECHOED = K["nf_conntrack_sctp_timeout_cookie_echoed"]
K_T_SCTP_ESTABLISHED = K["nf_conntrack_sctp_timeout_established"]
K_T_SCTP_SHUTDOWN_SENT = K["nf_conntrack_sctp_timeout_shutdown_sent"]
K_T_SCTP_SHUTDOWN_RECD = K["nf_conntrack_sctp_timeout_shutdown_recd"]
K_T_SCTP_SHUTDOWN_ACK_SENT = K["nf_conntrack_sctp_timeout_shutdown_ack_sent"]
K_T_SCTP_HEARTBEAT_SENT = K["nf_conntrack_sctp_timeout_heartbeat_sent"]
K_T_FRAG6 = K["nf_conntrack_frag6_timeout"]
# model-only knobs, after the sysctls
K_SEED = len(NAMES)          # hash seed (deterministic; kernel: random per boot)
K_EVENTS = K_SEED + 1        # record conntrack events (1/0)
K_GC = K_SEED + 2            # model the GC worker (1/0)
K_CHAINLIMIT = K_SEED + 3    # insert chain-length limit (kernel: random in [50, 79]); 0 = off
N_SETTINGS = K_SEED + 4

TIMEOUT_SETTINGS = [n for n, (_, kind) in MODELLED.items() if kind == "t"]
GLOBAL_KEYS = ("nf_conntrack_max", "nf_conntrack_buckets", "nf_conntrack_expect_max")


def canonical_name(raw: str) -> str | None:
    """Map a sysctl key to the model's bare name; None for keys outside netfilter."""
    key = raw.strip().replace("/", ".")
    if key.startswith("net.netfilter."):
        return key[len("net.netfilter."):]
    if key == "net.nf_conntrack_max":
        return "nf_conntrack_max"
    if key.startswith("net.") or "." in key:
        return None
    return key


def ram_defaults(ram_bytes: int, arch_bits: int = 64, page_size: int = 4096) -> tuple[int, int]:
    """(buckets, max) as nf_conntrack_init_start() computes them on Linux >= 5.15.

    nf_conntrack_core.c: nf_conntrack_init_start(): buckets = RAM/16384/sizeof(hlist_head),
    262144 if 64-bit and RAM > 4 GiB, else 65536 if RAM > 1 GiB, at least 1024;
    nf_ct_alloc_hashtable() rounds up to a multiple of PAGE_SIZE/sizeof(hlist_head);
    max = buckets (max_factor 1 when no hashsize was given).
    """
    pages = ram_bytes // page_size
    ptr = arch_bits // 8
    gib_pages = (1 << 30) // page_size
    if arch_bits == 64 and pages > 4 * gib_pages:
        buckets = 262144
    elif pages > gib_pages:
        buckets = 65536
    else:
        buckets = (pages * page_size) // 16384 // ptr
    buckets = max(buckets, 1024)
    per_page = page_size // ptr
    buckets = -(-buckets // per_page) * per_page
    return buckets, buckets


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'1G' -> 2**30; plain numbers are bytes; K/M/G/T are powers of 1024."""
    m = _SIZE_RE.match(text)
    if not m:
        raise ValueError(f"not a size: {text!r} (use bytes or a number with K, M, G or T)")
    num, unit = float(m.group(1)), (m.group(2) or "").upper()[:1]
    mult = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[unit]
    value = int(num * mult)
    if value <= 0:
        raise ValueError(f"size must be positive: {text!r}")
    return value


def host_ram() -> int:
    """MemTotal of this machine in bytes (the kernel's totalram as /proc/meminfo shows it)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@dataclass
class Settings:
    """Sysctl values by bare name.  Unset max/buckets come from the RAM formula."""

    values: dict[str, int] = field(default_factory=dict)
    ram: int | None = None                  # bytes; None = this machine's MemTotal
    ignored: list[str] = field(default_factory=list)
    seed: int = 0
    events: bool = True
    gc: bool = True
    chain_limit: int = 0                    # 0: no chain-length limit (kernel: random 50..79)

    def get(self, name: str) -> int:
        if name in self.values:
            return self.values[name]
        if name in ("nf_conntrack_max", "nf_conntrack_buckets"):
            buckets, mx = ram_defaults(self.ram_bytes)
            return mx if name == "nf_conntrack_max" else buckets
        return MODELLED[name][0]

    @property
    def ram_bytes(self) -> int:
        return self.ram if self.ram is not None else host_ram()

    def set(self, raw_name: str, raw_value: str, where: str = "--set") -> None:
        name = canonical_name(raw_name)
        if name is None:
            self.ignored.append(raw_name.strip())
            return
        if name in IGNORED or name.startswith(IGNORED_PREFIXES) or name.startswith("nf_log"):
            self.ignored.append(name)
            return
        if name not in MODELLED:
            raise InputError(f"unknown sysctl {raw_name.strip()!r}: no Linux kernel (4.x to 6.18) has it", where)
        default, kind = MODELLED[name]
        text = raw_value.strip()
        try:
            value = int(text, 10)
        except ValueError:
            raise InputError(f"{name}: {text!r} is not an integer", where) from None
        if value < 0 or value > 2**31 - 1:
            raise InputError(f"{name}: {value} is out of range (0 .. 2147483647)", where)
        if kind == "b" and value not in (0, 1):
            raise InputError(f"{name}: {value} must be 0 or 1", where)
        if name == "nf_conntrack_buckets" and value < 1:
            raise InputError(f"{name}: must be at least 1", where)
        self.values[name] = value

    def load_file(self, path: str) -> None:
        """sysctl.conf syntax (``key = value``, ``#``/``;`` comments, ``-key`` prefix),
        also ``sysctl -a`` output pasted as is.  The last line wins."""
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                lines = fh.readlines()
        except OSError as exc:
            raise InputError(f"cannot read sysctl file: {exc.strerror}", path) from None
        for lineno, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text[0] in "#;":
                continue
            if "=" not in text:
                raise InputError(f"expected 'key = value', got {text[:60]!r}", f"{path}:{lineno}")
            key, _, value = text.partition("=")
            key = key.strip().lstrip("-")
            self.set(key, value, f"{path}:{lineno}")

    def vector(self) -> np.ndarray:
        v = np.zeros(N_SETTINGS, dtype=np.int64)
        for name, (_, kind) in MODELLED.items():
            val = self.get(name)
            v[K[name]] = val * NS if kind == "t" else val
        v[K_SEED] = self.seed
        v[K_EVENTS] = int(self.events)
        v[K_GC] = int(self.gc)
        v[K_CHAINLIMIT] = self.chain_limit
        return v

    def as_dict(self) -> dict[str, int]:
        return {name: self.get(name) for name in MODELLED}
