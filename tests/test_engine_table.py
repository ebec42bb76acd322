"""Table limits, early drop, table full, GC, chain limits, snapshot/restore
(kernel-conntrack.md §3; nf_conntrack_core.c: __nf_conntrack_alloc, early_drop,
early_drop_list, gc_worker, __nf_conntrack_confirm)."""
import ipaddress

import numpy as np
import pytest

from ctscope.engine.layout import CTINFO_NAMES
from ctscope.engine.settings import Settings, ram_defaults, parse_size
from ctscope.engine.table import scale_hash, tuple_hash
from ctscope.engine.tracker import Tracker
from pktbuild import T0, batch, pkt

NS = 1_000_000_000
SRV = "198.19.0.1"


def tracker(mx, buckets, events=True, **values):
    return Tracker(Settings(values={"nf_conntrack_max": mx, "nf_conntrack_buckets": buckets, **values}),
                   events=events)


def names(ct):
    return [CTINFO_NAMES.get(int(c)) for c in ct]


def udp_flow(i, t, assured=False):
    """A UDP flow from client i; ASSURED ones get a reply and a packet after 2 s."""
    c = f"198.18.{i // 250}.{i % 250 + 1}"
    if not assured:
        return [pkt(t, c, SRV, 17, 1000 + i, 53)]
    return [pkt(t, c, SRV, 17, 1000 + i, 53), pkt(t + 0.1, SRV, c, 17, 53, 1000 + i),
            pkt(t + 2.5, c, SRV, 17, 1000 + i, 53)]


def bucket_of(src, dst, sport, dport, proto, buckets, seed=0):
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    h = tuple_hash(0, int(s), 0, int(d), sport, dport, 4, proto, 0, seed)
    return scale_hash(h, buckets)


class TestTableFull:
    def test_assured_table_drops_new_flows(self):
        tr = tracker(5, 64)
        pk = [p for i in range(5) for p in udp_flow(i, 0, assured=True)]
        tr.process_batch(batch(*pk))
        assert tr.count == 5 and all(e.assured for e in tr.entries())
        ct, fate = tr.process_batch(batch(*[pkt(3 + i * 0.01, "198.18.9.9", SRV, 17, 2000 + i, 53) for i in range(3)]))
        assert names(ct) == ["DROPPED"] * 3
        assert list(fate) == [4, 4, 4]
        st = tr.stats()
        assert st["drop"] == 3 and st["early_drop"] == 0 and st["insert_failed"] == 0
        assert tr.summary()["table_full_drops"] == 3
        assert tr.summary()["first_table_full_ts"] == T0 + 3 * NS
        # existing flows are unaffected
        ct, _ = tr.process_batch(batch(pkt(4, "198.18.0.1", SRV, 17, 1000, 53)))
        assert names(ct) == ["ESTABLISHED"]
        kinds = [e.kind for e in tr.drain_events()]
        assert kinds.count("TABLE_FULL") == 3

    def test_early_drop_evicts_every_unassured_entry_of_the_bucket(self):
        # one bucket: every entry is in the first bucket examined
        tr = tracker(5, 1)
        tr.process_batch(batch(*[p for i in range(5) for p in udp_flow(i, 0)]))
        ct, _ = tr.process_batch(batch(pkt(1, "198.18.9.9", SRV, 17, 2000, 53)))
        assert names(ct) == ["NEW"]
        assert tr.stats()["early_drop"] == 5   # counts entries, not packets
        assert tr.count == 1
        evs = [(e.kind, e.reason) for e in tr.drain_events()]
        assert evs.count(("DESTROY", "early-dropped")) == 5

    def test_early_drop_spares_assured(self):
        tr = tracker(4, 1)
        pk = [p for i in range(2) for p in udp_flow(i, 0, assured=True)] + udp_flow(10, 2.6) + udp_flow(11, 2.7)
        tr.process_batch(batch(*pk))
        assert tr.count == 4
        ct, _ = tr.process_batch(batch(pkt(3, "198.18.9.9", SRV, 17, 2000, 53)))
        assert names(ct) == ["NEW"] and tr.stats()["early_drop"] == 2 and tr.count == 3
        assert sum(e.assured for e in tr.entries()) == 2

    def test_early_drop_range_is_eight_buckets(self):
        buckets = 64
        new = ("198.18.200.1", SRV, 7777, 53)
        nb = bucket_of(*new, 17, buckets)
        # an unassured victim 9 buckets after the new tuple's bucket is out of reach;
        # one 7 buckets after it is in reach
        far = near = None
        for i in range(1, 5000):
            c = f"198.18.{i // 250}.{i % 250 + 1}"
            b = bucket_of(c, SRV, 1000 + i, 53, 17, buckets)
            rb = bucket_of(SRV, c, 53, 1000 + i, 17, buckets)
            if b == (nb + 9) % buckets and rb not in [(nb + k) % buckets for k in range(8)] and far is None:
                far = i
            if b == (nb + 7) % buckets and near is None:
                near = i
            if far and near:
                break
        tr = tracker(1, buckets)
        tr.process_batch(batch(*udp_flow(far, 0)))
        ct, _ = tr.process_batch(batch(pkt(1, new[0], new[1], 17, new[2], new[3])))
        assert names(ct) == ["DROPPED"]
        tr = tracker(1, buckets)
        tr.process_batch(batch(*udp_flow(near, 0)))
        ct, _ = tr.process_batch(batch(pkt(1, new[0], new[1], 17, new[2], new[3])))
        assert names(ct) == ["NEW"] and tr.stats()["early_drop"] == 1

    def test_expired_entries_count_until_reaped(self):
        tr = tracker(100, 64, nf_conntrack_udp_timeout=1)
        tr.process_batch(batch(*[p for i in range(10) for p in udp_flow(i, 0)]))
        # GC first runs 1 s after the first packet (then ~avg lifetime later)
        tr.process_batch(batch(pkt(0.5, "198.18.9.9", SRV, 17, 1, 2)))
        assert tr.count == 11
        tr.process_batch(batch(pkt(1.5, "198.18.9.9", SRV, 17, 1, 2)))
        # entries expired at t=1 s; the GC pass at t=1.5 s reaped the 10 others and the
        # lookup found the refreshed one alive
        assert tr.count == 1
        assert tr.summary()["gc_passes"] >= 1

    def test_expired_entries_can_fill_the_table(self):
        # expired-but-unreaped entries still count: "table full" can be caused by them.
        # An assured-only table whose entries expired, with GC disabled, still drops.
        s = Settings(values={"nf_conntrack_max": 3, "nf_conntrack_buckets": 1024}, gc=False)
        tr = Tracker(s, events=True)
        tr.process_batch(batch(*[p for i in range(3) for p in udp_flow(i, 0, assured=True)]))
        ct, _ = tr.process_batch(batch(pkt(500, "198.18.9.9", SRV, 17, 1, 2)))
        # early_drop reaps expired entries it meets but they do not count as drops; the
        # new tuple's 8 buckets hold none of them with 1024 buckets, so the packet drops
        assert tr.count == 3
        assert names(ct) == ["DROPPED"]
        assert list(tr.entries()) == []   # /proc never shows expired entries

    def test_gc_early_drop_mode_after_failed_early_drop(self):
        # max/100*95 is 0 for max < 100 (integer division): GC early-drop needs max >= 100
        tr = tracker(200, 65536, nf_conntrack_udp_timeout=300)
        pk = [p for i in range(100) for p in udp_flow(i, 0, assured=True)]
        pk += [p for i in range(100, 200) for p in udp_flow(i, 3)]
        pk.sort(key=lambda r: int(r["ts"]))
        tr.process_batch(batch(*pk))
        assert tr.count == 200
        # a new flow whose 8 buckets hold nothing evictable: table full, GC enters early-drop mode
        for port in range(1000):
            ct, _ = tr.process_batch(batch(pkt(3.5, "198.18.99.1", SRV, 17, 30000 + port, 53)))
            if names(ct) == ["DROPPED"]:
                break
        assert tr.stats()["drop"] == 1
        # next GC pass: count >= 95 % of max -> every non-ASSURED entry is killed
        tr.process_batch(batch(pkt(100, "198.18.99.2", SRV, 17, 1, 53)))
        killed = [e.entry for e in tr.drain_events() if e.reason == "gc-early-dropped"]
        # it kills while the count is >= max/100*95 = 190: 200 -> 189, non-ASSURED only
        assert len(killed) == 11
        assert not any(e.assured for e in killed)
        assert tr.count == 190


class TestChainLimit:
    def test_chaintoolong(self):
        s = Settings(values={"nf_conntrack_max": 1000, "nf_conntrack_buckets": 1}, chain_limit=1)
        tr = Tracker(s)
        ct, _ = tr.process_batch(batch(*[p for i in range(60) for p in udp_flow(i, 0)]))
        st = tr.stats()
        # two nodes per entry in one chain: the random limit in [50, 79] is crossed
        assert st["chaintoolong"] > 0 and st["chaintoolong"] == st["insert_failed"]
        assert names(ct).count("DROPPED") == st["chaintoolong"]
        assert tr.count == 60 - st["chaintoolong"]


class TestSnapshot:
    def test_two_halves_equal_one_pass(self):
        pk = []
        for i in range(40):
            pk += udp_flow(i, i * 0.7, assured=i % 3 == 0)
        pk.sort(key=lambda r: int(r["ts"]))
        pk += [pkt(100 + i, "198.18.7.7", SRV, 17, 5000 + i, 53) for i in range(10)]
        whole = batch(*pk)
        one = tracker(16, 8, nf_conntrack_acct=1)
        ct1, f1 = one.process_batch(whole.copy())
        ev1 = [(e.ts, e.kind, e.reason, e.entry.orig) for e in one.drain_events()]

        a = tracker(16, 8, nf_conntrack_acct=1)
        half = len(whole) // 2
        ct2a, f2a = a.process_batch(whole[:half].copy())
        ev2 = [(e.ts, e.kind, e.reason, e.entry.orig) for e in a.drain_events()]
        b = Tracker.restore(a.snapshot())
        ct2b, f2b = b.process_batch(whole[half:].copy())
        ev2 += [(e.ts, e.kind, e.reason, e.entry.orig) for e in b.drain_events()]
        assert np.array_equal(ct1, np.concatenate([ct2a, ct2b]))
        assert np.array_equal(f1, np.concatenate([f2a, f2b]))
        assert one.stats() == b.stats()
        assert [e.to_dict() for e in one.entries()] == [e.to_dict() for e in b.entries()]
        assert ev1 == ev2
        assert one.stats()["early_drop"] > 0  # the case exercises eviction


class TestSizing:
    @pytest.mark.parametrize("ram,expect", [
        (128 << 20, 1024), (512 << 20, 4096), (1 << 30, 8192), ((1 << 30) + 4096, 65536),
        (4 << 30, 65536), ((4 << 30) + 4096, 262144), (48 << 30, 262144),
        (int(0.9 * (1 << 30)), 7680),   # 7372.8 rounded up to a multiple of 512
    ])
    def test_ram_defaults(self, ram, expect):
        assert ram_defaults(ram) == (expect, expect)

    def test_32bit(self):
        assert ram_defaults(8 << 30, arch_bits=32) == (65536, 65536)
        assert ram_defaults(512 << 20, arch_bits=32) == (8192, 8192)

    def test_parse_size(self):
        assert parse_size("1G") == 1 << 30 and parse_size("512M") == 512 << 20 and parse_size("1024") == 1024
        with pytest.raises(ValueError):
            parse_size("lots")


@pytest.mark.parametrize("acct", [0, 1])
def test_table_growth_in_place_keeps_every_entry(monkeypatch, acct):
    """The slot arrays double in place (Tracker._grow_table) several times during one
    batch: the result equals a tracker that never had to grow."""
    import ctscope.engine.tracker as trk
    from ctscope.engine.settings import Settings
    from ctscope.verify.fill import fill_batch

    batch = fill_batch(20_000, "assured", t0_ns=10**9, dt_ns=1000)

    def run(initial):
        monkeypatch.setattr(trk, "INITIAL_SLOTS", initial)
        tr = trk.Tracker(Settings(values={"nf_conntrack_max": 65536, "nf_conntrack_buckets": 16384,
                                          "nf_conntrack_acct": acct}), events=False)
        ct, fate = tr.process_batch(batch.copy())
        return tr, ct, fate

    grown, ct_g, fate_g = run(1 << 10)          # 1,024 -> 32,768 slots: five doublings
    fixed, ct_f, fate_f = run(1 << 16)
    assert len(grown.tbl) > 1 << 10 and grown.count == fixed.count == 20_000
    assert np.array_equal(ct_g, ct_f) and np.array_equal(fate_g, fate_f)
    key = lambda e: repr((e.orig, e.reply, e.state, e.assured, e.unreplied, e.timeout, e.orig_packets, e.reply_bytes))  # noqa: E731
    assert sorted(map(key, grown.entries())) == sorted(map(key, fixed.entries()))
    if acct:
        assert int(grown.acct["pk0"].sum()) == int(fixed.acct["pk0"].sum()) == 40_000
