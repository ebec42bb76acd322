"""UDP, UDP-Lite, ICMP/ICMPv6, GRE and generic through the whole engine (facts from
kernel-conntrack.md §7, each verified on 6.18 by the reference's lab)."""
import pytest

from ctscope.engine.settings import Settings
from ctscope.engine.tracker import Tracker
from ctscope.packets.record import PF_CSUM_BAD, PF_L4_MALFORMED, PF_L4_OK, ROUTE_DROP, ROUTE_LOCAL_OUT, RULE_NOTRACK
from pktbuild import batch, pkt

C, S_ = "198.18.0.1", "198.19.0.1"
C6, S6 = "2001:db8::1", "2001:db8:1::1"


def tracker(**values):
    base = {"nf_conntrack_max": 1024, "nf_conntrack_buckets": 1024}
    base.update(values)
    return Tracker(Settings(values=base), events=True)


def run(tr, *pkts):
    ct, fate = tr.process_batch(batch(*pkts))
    from ctscope.engine.layout import CTINFO_NAMES, FATE_NAMES
    return [CTINFO_NAMES.get(int(c)) for c in ct], [FATE_NAMES.get(int(f)) for f in fate]


def only(tr):
    ents = list(tr.entries())
    assert len(ents) == 1, ents
    return ents[0]


class TestUDP:
    def test_one_way(self):
        tr = tracker()
        ct, fate = run(tr, pkt(0, C, S_, 17, 5000, 53))
        assert ct == ["NEW"] and fate == ["forwarded"]
        e = only(tr)
        assert e.unreplied and not e.assured and e.timeout == 30

    def test_repeated_requests_stay_new(self):
        tr = tracker()
        ct, _ = run(tr, pkt(0, C, S_, 17, 5000, 53), pkt(0.5, C, S_, 17, 5000, 53))
        assert ct == ["NEW", "NEW"]

    def test_reply_clears_unreplied_but_no_assured_within_2s(self):
        tr = tracker()
        ct, _ = run(tr, pkt(0, C, S_, 17, 5000, 53), pkt(0.1, S_, C, 17, 53, 5000), pkt(1.5, C, S_, 17, 5000, 53))
        assert ct == ["NEW", "ESTABLISHED_REPLY", "ESTABLISHED"]
        e = only(tr)
        assert not e.unreplied and not e.assured and e.timeout == 30

    def test_two_second_rule_assures_and_streams(self):
        tr = tracker()
        run(tr, pkt(0, C, S_, 17, 5000, 53), pkt(0.1, S_, C, 17, 53, 5000), pkt(2.2, C, S_, 17, 5000, 53))
        e = only(tr)
        assert e.assured and e.timeout == 120

    def test_reply_after_2s_is_not_stream_yet(self):
        # the first reply is handled while SEEN_REPLY is still clear: 30 s, no ASSURED
        tr = tracker()
        run(tr, pkt(0, C, S_, 17, 5000, 53), pkt(3, S_, C, 17, 53, 5000))
        e = only(tr)
        assert not e.assured and e.timeout == 30

    def test_stream_timeout_setting(self):
        tr = tracker(nf_conntrack_udp_timeout_stream=180, nf_conntrack_udp_timeout=10)
        run(tr, pkt(0, C, S_, 17, 5000, 53))
        assert only(tr).timeout == 10
        run(tr, pkt(0.1, S_, C, 17, 53, 5000), pkt(2.5, S_, C, 17, 53, 5000))
        assert only(tr).timeout == 180

    def test_udplite_has_no_2s_rule(self):
        tr = tracker()
        run(tr, pkt(0, C, S_, 136, 5000, 53), pkt(0.1, S_, C, 136, 53, 5000), pkt(0.2, C, S_, 136, 5000, 53))
        e = only(tr)
        assert e.assured and e.timeout == 120 and e.l4 == "udplite"

    def test_bad_checksum_invalid_at_prerouting_only(self):
        tr = tracker()
        ct, _ = run(tr, pkt(0, C, S_, 17, 5000, 53, pflags=PF_L4_OK | PF_CSUM_BAD))
        assert ct == ["INVALID"] and tr.stats()["invalid"] == 1 and tr.count == 0
        # locally generated (host model): never rejected for checksum
        ct, _ = run(tr, pkt(1, C, S_, 17, 5000, 53, pflags=PF_L4_OK | PF_CSUM_BAD, route=ROUTE_LOCAL_OUT))
        assert ct == ["NEW"]

    def test_checksum_sysctl_off(self):
        tr = tracker(nf_conntrack_checksum=0)
        ct, _ = run(tr, pkt(0, C, S_, 17, 5000, 53, pflags=PF_L4_OK | PF_CSUM_BAD))
        assert ct == ["NEW"]

    def test_malformed_length(self):
        tr = tracker()
        ct, _ = run(tr, pkt(0, C, S_, 17, 5000, 53, pflags=PF_L4_OK | PF_L4_MALFORMED))
        assert ct == ["INVALID"] and tr.count == 0

    def test_expiry_creates_fresh_entry(self):
        tr = tracker()
        ct, _ = run(tr, pkt(0, C, S_, 17, 5000, 53), pkt(0.1, S_, C, 17, 53, 5000), pkt(31, S_, C, 17, 53, 5000))
        # the reply-direction packet after expiry is a new flow with swapped roles
        assert ct == ["NEW", "ESTABLISHED_REPLY", "NEW"]
        e = only(tr)
        assert e.orig.src == S_ and e.unreplied

    def test_ipv6(self):
        tr = tracker()
        ct, _ = run(tr, pkt(0, C6, S6, 17, 5000, 53), pkt(0.1, S6, C6, 17, 53, 5000))
        assert ct == ["NEW", "ESTABLISHED_REPLY"]
        assert only(tr).l3 == "ipv6"


class TestICMP:
    def test_echo(self):
        tr = tracker()
        ct, _ = run(tr, pkt(0, C, S_, 1, itype=8, icmp_id=4660))
        e = only(tr)
        assert ct == ["NEW"] and e.unreplied and e.timeout == 30
        assert (e.orig.type, e.orig.code, e.orig.id) == (8, 0, 4660)
        assert (e.reply.type, e.reply.id) == (0, 4660)
        ct, _ = run(tr, pkt(1, S_, C, 1, itype=0, icmp_id=4660))
        assert ct == ["ESTABLISHED_REPLY"]
        e = only(tr)
        assert not e.unreplied and not e.assured and e.timeout == 30

    def test_reply_without_request_is_invalid(self):
        tr = tracker()
        ct, _ = run(tr, pkt(0, S_, C, 1, itype=0, icmp_id=7))
        assert ct == ["INVALID"] and tr.stats()["invalid"] == 1 and tr.count == 0

    def test_uninvertible_type_is_invalid(self):
        tr = tracker()
        ct, _ = run(tr, pkt(0, C, S_, 1, itype=9))
        assert ct == ["INVALID"] and tr.stats()["invalid"] == 1

    def test_type_above_18_is_error(self):
        tr = tracker()
        ct, _ = run(tr, pkt(0, C, S_, 1, itype=40))
        assert ct == ["INVALID"] and tr.stats() == {**tr.stats(), "error": 1, "invalid": 0}

    def test_port_unreachable_related_reply(self):
        tr = tracker()
        ct, _ = run(tr, pkt(0, C, S_, 17, 5000, 53),
                    pkt(0.1, S_, C, 1, itype=3, icode=3, inner=(C, S_, 17, 5000, 53)))
        assert ct == ["NEW", "RELATED_REPLY"]
        e = only(tr)
        assert e.unreplied  # an ICMP error does not set SEEN_REPLY

    def test_error_from_third_host_is_related(self):
        tr = tracker()
        ct, _ = run(tr, pkt(0, C, S_, 17, 5000, 53),
                    pkt(0.1, "198.19.9.9", C, 1, itype=11, inner=(C, S_, 17, 5000, 53)))
        assert ct[1] == "RELATED_REPLY"

    def test_error_wrong_outer_destination(self):
        tr = tracker()
        ct, _ = run(tr, pkt(0, C, S_, 17, 5000, 53),
                    pkt(0.1, S_, "198.18.0.99", 1, itype=3, icode=3, inner=(C, S_, 17, 5000, 53)))
        assert ct[1] == "INVALID" and tr.stats()["error"] == 1

    def test_error_unknown_flow(self):
        tr = tracker()
        ct, _ = run(tr, pkt(0.1, S_, C, 1, itype=3, icode=3, inner=(C, S_, 17, 5000, 53)))
        assert ct == ["INVALID"] and tr.stats()["error"] == 1 and tr.stats()["invalid"] == 0

    def test_icmpv6_echo_and_nd_untracked(self):
        tr = tracker()
        ct, _ = run(tr, pkt(0, C6, S6, 58, itype=128, icmp_id=1), pkt(0.1, S6, C6, 58, itype=129, icmp_id=1),
                    pkt(0.2, C6, S6, 58, itype=135))
        assert ct == ["NEW", "ESTABLISHED_REPLY", "UNTRACKED"]
        assert len(list(tr.entries())) == 1

    def test_icmpv6_error_related(self):
        tr = tracker()
        ct, _ = run(tr, pkt(0, C6, S6, 6, 40000, 80, flags=2, seq=1000, win=64240),
                    pkt(0.1, S6, C6, 58, itype=1, icode=4, inner=(C6, S6, 6, 40000, 80)))
        assert ct == ["NEW", "RELATED_REPLY"]


class TestOthers:
    def test_generic(self):
        tr = tracker()
        ct, _ = run(tr, pkt(0, C, S_, 253), pkt(1, S_, C, 253))
        e = only(tr)
        assert ct == ["NEW", "ESTABLISHED_REPLY"] and e.l4 == "unknown" and e.timeout == 600 and not e.assured

    def test_gre(self):
        tr = tracker()
        run(tr, pkt(0, C, S_, 47))
        e = only(tr)
        assert e.timeout == 30 and e.gre_timeout == 30 and e.gre_stream_timeout == 180
        run(tr, pkt(0.1, S_, C, 47))
        e = only(tr)
        assert e.timeout == 30 and not e.assured  # first reply handled before SEEN_REPLY
        run(tr, pkt(0.2, C, S_, 47))
        e = only(tr)
        assert e.timeout == 180 and e.assured


class TestPath:
    def test_routing_drop_never_confirms(self):
        tr = tracker()
        ct, fate = run(tr, pkt(0, C, S_, 17, 5000, 53, route=ROUTE_DROP))
        assert ct == ["NEW"] and fate == ["routing_drop"] and tr.count == 0
        assert list(tr.entries()) == []

    def test_routing_drop_updates_existing_entry(self):
        tr = tracker()
        ct, fate = run(tr, pkt(0, C, S_, 17, 5000, 53), pkt(0.1, S_, C, 17, 53, 5000, route=ROUTE_DROP))
        assert ct == ["NEW", "ESTABLISHED_REPLY"] and fate[1] == "routing_drop"
        assert not only(tr).unreplied

    def test_notrack(self):
        tr = tracker()
        ct, fate = run(tr, pkt(0, C, S_, 17, 5000, 53, rule=RULE_NOTRACK))
        assert ct == ["UNTRACKED"] and fate == ["forwarded"] and tr.count == 0
        assert all(v == 0 for v in tr.stats().values())

    def test_skipped_frames(self):
        tr = tracker()
        ct, fate = run(tr, pkt(0, C, S_, 17, 5000, 53, skip=2))
        assert ct == [None] and fate == [None]

    def test_zones_separate_identical_tuples(self):
        tr = tracker()
        ct, _ = run(tr, pkt(0, C, S_, 17, 5000, 53), pkt(0.1, C, S_, 17, 5000, 53, zone=7))
        assert ct == ["NEW", "NEW"]
        assert sorted(e.zone for e in tr.entries()) == [0, 7]


class TestAccounting:
    def test_acct_counts_bytes_per_direction(self):
        tr = tracker(nf_conntrack_acct=1)
        run(tr, pkt(0, C, S_, 17, 5000, 53, iplen=60), pkt(0.1, S_, C, 17, 53, 5000, iplen=100),
            pkt(0.2, C, S_, 17, 5000, 53, iplen=70))
        e = only(tr)
        assert (e.orig_packets, e.orig_bytes, e.reply_packets, e.reply_bytes) == (2, 130, 1, 100)

    def test_acct_off_has_no_counters(self):
        tr = tracker()
        run(tr, pkt(0, C, S_, 17, 5000, 53))
        assert only(tr).orig_packets is None

    def test_timestamp_delta_time(self):
        tr = tracker(nf_conntrack_timestamp=1)
        run(tr, pkt(0, C, S_, 17, 5000, 53), pkt(0.1, S_, C, 17, 53, 5000), pkt(5.5, C, S_, 17, 5000, 53))
        assert only(tr).delta_time == 5


class TestEvents:
    def test_udp_event_sequence(self):
        tr = tracker()
        run(tr, pkt(0, C, S_, 17, 5000, 53), pkt(0.1, S_, C, 17, 53, 5000), pkt(2.5, C, S_, 17, 5000, 53),
            pkt(1000, "198.18.5.5", S_, 17, 1, 2))
        evs = [(e.kind, e.reason) for e in tr.drain_events()]
        # NEW, UPDATE (SEEN_REPLY), UPDATE (ASSURED), then the GC/lookup reaps it: DESTROY (expired)
        assert evs[:3] == [("NEW", None), ("UPDATE", None), ("UPDATE", None)]
        assert ("DESTROY", "expired") in evs
        assert evs[-1] == ("NEW", None) or ("NEW", None) in evs[3:]


class TestNatHint:
    def test_mirrored_unreplied_flows_are_nat_suspects(self):
        # A:1000 -> B:53 leaves through the NAT as X:1000; B answers X, so both look unreplied
        tr = tracker()
        run(tr, pkt(0, "198.18.0.1", S_, 17, 1000, 53),
            pkt(0.1, S_, "203.0.113.9", 17, 53, 1000),
            pkt(0.2, "198.18.0.2", S_, 17, 2000, 53))
        assert tr.nat_suspects() == (1, 3)

    def test_replied_flows_are_not_suspects(self):
        tr = tracker()
        run(tr, pkt(0, C, S_, 17, 5000, 53), pkt(0.1, S_, C, 17, 53, 5000))
        assert tr.nat_suspects() == (0, 0)
