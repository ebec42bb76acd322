"""`ctscope plan --rate`: the analytical steady state against a replay of matching
synthetic traffic (synth profiles run long enough to reach their steady state, below
the max), saturation above the max, and bad specs."""
import json

import pytest

from ctscope.cli import main
from ctscope.engine.settings import Settings
from ctscope.plan.rates import parse_spec, steady_state

# profile -> (synth options, the --rate specs that describe the same traffic)
CASES = {
    # 20 connections/s, a request and a short response, the server closes: TIME_WAIT 120 s
    "http-no-keepalive": (["--rate", "20", "--duration", "150"],
                          ["tcp:20/s,lifetime=50ms,close=fin,dport=80"]),
    # unanswered SYNs: SYN_SENT 120 s
    "syn-flood": (["--rate", "12", "--duration", "140"], ["tcp:12/s,reply=no,dport=80"]),
    # 100 client queries/s answered (30 s), 30 % of them also asked upstream (3 % of those unanswered)
    "dns-resolver": (["--rate", "100", "--duration", "40"],
                     ["udp:100/s,reply=yes,dport=53", "udp:29.1/s,reply=yes,dport=53", "udp:0.9/s,reply=no,dport=53"]),
    # UDP probes, mostly unanswered (ICMP errors do not count as replies): 30 s each
    "udp-scan": (["--rate", "60", "--duration", "40"], ["udp:60/s,reply=no"]),
}


def replay_state_mix(path):
    from ctscope.engine.tracker import Tracker
    from ctscope.packets.source import open_capture

    s = Settings(ram=1 << 30)
    tr = Tracker(s)
    for batch in open_capture(str(path), settings=s):
        tr.process_batch(batch)
    return tr.state_mix(), tr.summary()


@pytest.mark.parametrize("profile", sorted(CASES))
def test_estimate_matches_replay_below_max(tmp_path, profile):
    opts, specs = CASES[profile]
    cap = tmp_path / f"{profile}.pcap"
    assert main(["synth", profile, "--out", str(cap), "--quiet", "--seed", "3", *opts]) == 0
    mix, summ = replay_state_mix(cap)
    est = steady_state([parse_spec(s) for s in specs], Settings(ram=1 << 30))
    assert not est["saturates"] and summ["table_full_drops"] == 0
    states = set(mix) | set(est["visible"])
    assert sum(mix.values()) > 500          # a meaningful table
    for st in states:
        got, want = mix.get(st, 0), est["visible"].get(st, 0.0)
        assert abs(got - want) <= max(0.05 * want, 20), (st, got, want)


def test_states_and_timeouts_follow_the_settings():
    s = Settings(ram=1 << 30)
    est = steady_state([parse_spec("tcp:100/s,lifetime=2s,close=fin")], s)
    assert est["visible"] == {"tcp TIME_WAIT": 12000.0, "tcp ESTABLISHED": 200.0}
    s.set("nf_conntrack_tcp_timeout_time_wait", "30")
    assert steady_state([parse_spec("tcp:100/s,lifetime=2s,close=fin")], s)["visible"]["tcp TIME_WAIT"] == 3000
    assert steady_state([parse_spec("tcp:100/s,close=rst")], s)["visible"] == {"tcp CLOSE": 1000.0}
    stream = steady_state([parse_spec("udp:10/s,lifetime=5s,reply=yes")], s)
    assert stream["visible"] == {"udp": 1250.0} and stream["assured_share"] == 1.0
    # the count includes expired entries waiting for the GC: above what /proc shows
    assert est["count"] > est["count_mean"] > est["visible_total"]


def test_saturation_says_when_and_what_follows():
    s = Settings(ram=1 << 30)            # max 8192
    est = steady_state([parse_spec("tcp:200/s,close=fin")], s)
    assert est["saturates"]
    # 200 TIME_WAIT entries/s reach 8192 after ~41 s (none expire before 120 s)
    assert est["saturates_after_s"] == pytest.approx(8192 / 200, rel=0.02)
    assert "table-full drops" in est["after"]
    flood = steady_state([parse_spec("tcp:200/s,reply=no")], s)
    assert flood["saturates"] and "early drops" in flood["after"]


def test_cli_rates_side_by_side_and_json(capsys):
    rc = main(["plan", "--rate", "tcp:5000/s,lifetime=2s,close=fin,dport=80",
               "--rate", "udp:2000/s,reply=yes,dport=53", "--ram", "4G"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    head = next(x for x in out.splitlines() if x.startswith("steady state"))
    assert "baseline" in head and "size-table" in head and "kube-proxy" in head
    assert "SATURATES after" in out
    rc = main(["plan", "--rate", "udp:100/s", "--ram", "4G", "--json"])
    d = json.loads(capsys.readouterr()[0])
    base = d["scenarios"][0]
    assert base["name"] == "baseline" and base["visible"] == {"udp": 3000.0} and not base["saturates"]


@pytest.mark.parametrize("spec", ["tcp:5000", "sctp:10/s", "tcp:0/s", "tcp:10/s,lifetime=soon",
                                  "tcp:10/s,close=maybe", "udp:10/s,dport=70000", "tcp:10/s,colour=red"])
def test_bad_spec_is_one_line_exit_2(capsys, spec):
    rc = main(["plan", "--rate", spec])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1 and "--rate" in err
