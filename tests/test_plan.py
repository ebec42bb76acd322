"""`ctscope plan CAPTURE`: candidates replayed side by side, ranking, --emit artefacts.

The captures are small `ctscope synth` profiles replayed with --ram 64M (the kernel's
default for 64 MiB: nf_conntrack_max = buckets = 1024), so that each overflows the
table.  The recommended remedy, applied in a replay through the emitted files, must
remove every table-full drop and every early drop.
"""
import json
import os

import pytest

from ctscope.cli import main

PROFILES = {
    "http-no-keepalive": ["--rate", "50", "--duration", "40"],
    "dns-resolver": ["--rate", "100", "--duration", "30"],
    "gateway": ["--rate", "50", "--duration", "30"],
    "syn-flood": ["--rate", "200", "--duration", "10"],
    "udp-scan": ["--rate", "200", "--duration", "10"],
}
BASE = ["--ram", "64M"]
ARTEFACTS = ["sysctl.d/90-ctscope.conf", "modules-load.d/ctscope.conf", "modprobe.d/ctscope.conf",
             "kernel-cmdline.txt", "notrack.nft", "notrack-ipv4.rules", "notrack-ipv6.rules", "README.txt"]


def cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth")
    paths = {}
    for name, opts in PROFILES.items():
        p = d / f"{name}.pcap"
        assert main(["synth", name, "--out", str(p), "--quiet", *opts]) == 0
        paths[name] = p
    return paths


@pytest.fixture(scope="module")
def planned(captures, tmp_path_factory):
    """plan --emit --json on every profile (once per module)."""
    import contextlib
    import io

    out = {}
    for name, cap in captures.items():
        emit = tmp_path_factory.mktemp(f"emit-{name}")
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            rc = main(["plan", str(cap), *BASE, "--emit", str(emit), "--json"])
        assert rc == 0
        out[name] = (json.loads(buf.getvalue()), emit)
    return out


def replay(capsys, cap, *extra):
    rc, out, err = cli(capsys, "replay", cap, *BASE, "--no-progress", "--json", *extra)
    assert rc == 0, err
    return json.loads(out)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_recommended_remedy_through_emitted_files_removes_every_drop(capsys, captures, planned, profile):
    d, emit = planned[profile]
    base = d["scenarios"][0]
    assert base["name"] == "baseline" and base["nf_conntrack_max"] == 1024
    assert base["table_full_drops"] + base["early_drops"] > 0, "the capture must overflow the table"
    rec = d["recommendation"]
    assert rec is not None and d["emitted"]["scenario"] == rec["name"]
    assert sorted(d["emitted"]["files"]) == sorted(ARTEFACTS)
    cap = captures[profile]
    sysctl = emit / "sysctl.d/90-ctscope.conf"
    plain = replay(capsys, cap)
    assert plain["table_full_drops"] + plain["stats"]["early_drop"] > 0
    via_nft = replay(capsys, cap, "--sysctl-file", sysctl, "--rules", emit / "notrack.nft")
    via_ipt = replay(capsys, cap, "--sysctl-file", sysctl, "--rules", emit / "notrack-ipv4.rules",
                     "--rules6", emit / "notrack-ipv6.rules")
    planned_sc = next(s for s in d["scenarios"] if s["name"] == rec["name"])
    for r in (via_nft, via_ipt):
        assert r["table_full_drops"] == 0 and r["stats"]["early_drop"] == 0
        # plan replayed exactly what it emitted
        assert r["peak_entries"] == planned_sc["peak_entries"]
        assert r["settings"]["nf_conntrack_max"] == planned_sc["nf_conntrack_max"]


def test_candidates_fit_the_traffic(planned):
    http, _ = planned["http-no-keepalive"]
    names = {s["name"]: s for s in http["scenarios"]}
    assert {"baseline", "stop-tracking", "size-table", "kube-proxy", "notrack-ports", "timeouts"} <= set(names)
    # short HTTP connections: the port is 80, the state TIME_WAIT, the timeout time_wait
    assert names["notrack-ports"]["notrack"][0]["proto"] == "tcp"
    assert names["notrack-ports"]["notrack"][0]["dports"] == [[80, 80]]
    assert names["timeouts"]["sysctl"] == {"nf_conntrack_tcp_timeout_time_wait": 30}
    assert list(names["baseline"]["state_mix_at_peak"]) == ["tcp TIME_WAIT"]
    # size-table holds the unbounded demand with 25 % headroom, in whole pages of buckets
    size = names["size-table"]
    assert size["nf_conntrack_max"] >= http["demand_peak"] * 1.25
    assert size["nf_conntrack_max"] % 512 == 0
    assert size["sysctl"]["nf_conntrack_buckets"] == size["nf_conntrack_max"]
    assert size["table_full_drops"] == 0 and size["peak_entries"] == http["demand_peak"]
    cpus = http["cpus"]
    assert names["kube-proxy"]["nf_conntrack_max"] == max(32768 * cpus, 131072)
    # the ranking puts fixes first and gives reasons
    ranks = http["ranking"]
    fixes = [r["fixes"] for r in ranks]
    assert fixes == sorted(fixes, reverse=True)
    assert ranks[0]["name"] == "notrack-ports" and "removes all" in ranks[0]["reasons"][0]
    assert any(not r["emittable"] for r in ranks if r["name"] == "stop-tracking")
    dns, _ = planned["dns-resolver"]
    nt = next(s for s in dns["scenarios"] if s["name"] == "notrack-ports")
    assert nt["notrack"] == [{"proto": "udp", "dports": [[53, 53]], "sports": [], "saddr": [], "daddr": []}]
    scan, _ = planned["udp-scan"]
    addrs = next(s for s in scan["scenarios"] if s["name"] == "notrack-addrs")
    assert addrs["notrack"][0]["saddr"] == ["198.51.100.66"]


def test_emitted_files_say_why_and_how(planned):
    d, emit = planned["http-no-keepalive"]
    for f in ARTEFACTS[:-1]:
        text = (emit / f).read_text()
        assert text.startswith("# generated by ctscope plan"), f
        assert "# why:" in text, f
    readme = (emit / "README.txt").read_text()
    assert "nft -f notrack.nft" in readme and "iptables-restore --noflush" in readme
    nft = (emit / "notrack.nft").read_text()
    assert "tcp dport 80" in nft and "tcp sport 80" in nft and "ct state untracked accept" in nft
    ipt = (emit / "notrack-ipv4.rules").read_text()
    assert "-j CT --notrack" in ipt
    assert any("--state UNTRACKED" in x and x.endswith("-j ACCEPT") for x in ipt.splitlines())
    assert oct(os.stat(emit / "notrack.nft").st_mode & 0o777) == "0o644"


def test_emit_scenario_size_table_writes_boot_files(capsys, captures, tmp_path):
    cap = captures["http-no-keepalive"]
    rc, out, err = cli(capsys, "plan", cap, *BASE, "--emit", tmp_path, "--emit-scenario", "size-table", "--json")
    assert rc == 0, err
    d = json.loads(out)
    size = next(s for s in d["scenarios"] if s["name"] == "size-table")
    mx = size["nf_conntrack_max"]
    sysctl = (tmp_path / "sysctl.d/90-ctscope.conf").read_text()
    assert f"net.netfilter.nf_conntrack_max = {mx}" in sysctl
    assert f"net.netfilter.nf_conntrack_buckets = {mx}" in sysctl
    assert f"options nf_conntrack hashsize={mx}" in (tmp_path / "modprobe.d/ctscope.conf").read_text()
    assert f"nf_conntrack.hashsize={mx}" in (tmp_path / "kernel-cmdline.txt").read_text()
    lines = [x for x in (tmp_path / "modules-load.d/ctscope.conf").read_text().splitlines() if not x.startswith("#")]
    assert lines == ["nf_conntrack"]
    r = replay(capsys, cap, "--sysctl-file", tmp_path / "sysctl.d/90-ctscope.conf")
    assert r["settings"]["nf_conntrack_max"] == mx and r["table_full_drops"] == 0


def test_from_host_keeps_only_the_boot_file_that_applies(captures, tmp_path):
    from argparse import Namespace

    from ctscope.plan.capture import plan_capture
    from ctscope.plan.emit import emit

    args = Namespace(capture=str(captures["syn-flood"]), set=[], sysctl_file=[], ram="64M", seed=0, rules=[],
                     rules6=[], ipset=[], iface=None, ifname=[], local=None, from_host=False, headroom=0.25,
                     cpus=2, scenarios=None)
    plan = plan_capture(args)
    plan.from_host = True
    for presence, absent, present in (("builtin", ("modprobe.d/ctscope.conf", "modules-load.d/ctscope.conf"),
                                       ("kernel-cmdline.txt",)),
                                      ("module", ("kernel-cmdline.txt",),
                                       ("modprobe.d/ctscope.conf", "modules-load.d/ctscope.conf"))):
        plan.conntrack = presence
        out = tmp_path / presence
        _sc, files = emit(plan, str(out), "size-table")
        for f in absent:
            assert f not in files and not (out / f).exists()
        for f in present:
            assert f in files and (out / f).exists()


def test_stop_tracking_lists_rules_that_force_conntrack(capsys, captures, tmp_path):
    rules = tmp_path / "fw.rules"
    rules.write_text("*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n"
                     "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT\n"
                     "COMMIT\n")
    rc, out, err = cli(capsys, "plan", captures["syn-flood"], *BASE, "--rules", rules, "--json")
    assert rc == 0, err
    d = json.loads(out)
    st = next(s for s in d["scenarios"] if s["name"] == "stop-tracking")
    text = " ".join(st["notes"])
    assert "state match" in text and "MASQUERADE" in text and "NAT" in text
    assert st["peak_entries"] == 0 and st["emittable"] is False
    nt = next(s for s in d["scenarios"] if s["name"] == "notrack-ports")
    assert any("cannot be NATed" in n for n in nt["notes"])


def test_user_scenarios_from_toml(capsys, captures, tmp_path):
    (tmp_path / "tw.conf").write_text("net.netfilter.nf_conntrack_tcp_timeout_time_wait = 5\n")
    toml = tmp_path / "s.toml"
    toml.write_text('[[scenario]]\nname = "big"\ndescription = "a bigger table"\n'
                    'set = { nf_conntrack_max = 4096, nf_conntrack_buckets = 4096 }\n\n'
                    '[[scenario]]\nname = "short-tw"\nsysctl_file = "tw.conf"\n')
    rc, out, err = cli(capsys, "plan", captures["http-no-keepalive"], *BASE, "--scenarios", toml, "--json")
    assert rc == 0, err
    d = json.loads(out)
    sc = {s["name"]: s for s in d["scenarios"]}
    assert sc["big"]["nf_conntrack_max"] == 4096 and sc["big"]["table_full_drops"] == 0
    assert sc["big"]["title"] == "a bigger table"
    assert sc["short-tw"]["sysctl"] == {"nf_conntrack_tcp_timeout_time_wait": 5}
    assert sc["short-tw"]["peak_entries"] < sc["baseline"]["peak_entries"]


@pytest.mark.parametrize("body, where", [
    ('[[scenario]]\nname = "x"\nset = { nf_conntrack_bogus = 1 }\n', ":2"),
    ('[[scenario]]\nname = "x"\nfrobnicate = 1\n', ":2"),
    ('[[scenario]]\nname = "x"\nset = { nf_conntrack_max = ', ":3"),
    ('[[scenario]]\nname = "x"\nset = { nf_conntrack_max = }\n\n', ":3"),
    ('[[scenario]]\nname = "bad name!"\n', "s.toml"),
])
def test_bad_scenario_file_is_one_line_exit_2(capsys, captures, tmp_path, body, where):
    toml = tmp_path / "s.toml"
    toml.write_text(body)
    emit = tmp_path / "out"
    rc, out, err = cli(capsys, "plan", captures["syn-flood"], *BASE, "--scenarios", toml, "--emit", emit)
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and where in err
    assert not emit.exists() or not any(emit.rglob("*.*"))


def test_bad_options_are_one_line_exit_2(capsys, captures, tmp_path):
    cap = captures["syn-flood"]
    for argv in (["--headroom", "lots"], ["--emit-scenario", "size-table"], ["--cpus", "0"]):
        rc, out, err = cli(capsys, "plan", cap, *BASE, *argv)
        assert rc == 2 and len(err.strip().splitlines()) == 1, argv
    rc, out, err = cli(capsys, "plan", cap, *BASE, "--emit", tmp_path / "e", "--emit-scenario", "stop-tracking")
    assert rc == 2 and "cannot be expressed" in err and not (tmp_path / "e" / "README.txt").exists()
    rc, out, err = cli(capsys, "plan", tmp_path / "missing.pcap", *BASE)
    assert rc == 2 and "missing.pcap" in err


def test_text_output_is_side_by_side(capsys, captures):
    rc, out, err = cli(capsys, "plan", captures["http-no-keepalive"], *BASE)
    assert rc == 0, err
    header = next(x for x in out.splitlines() if x.startswith("scenario "))
    for name in ("baseline", "stop-tracking", "size-table", "kube-proxy", "notrack-ports", "timeouts"):
        assert name in header
    assert "table-full drops" in out and "recommended notrack-ports" in out


def _netfilter_values() -> dict:
    d = "/proc/sys/net/netfilter"
    out = {}
    for name in sorted(os.listdir(d)):
        if name != "nf_conntrack_count" and os.path.isfile(os.path.join(d, name)):
            try:
                with open(os.path.join(d, name)) as fh:
                    out[name] = fh.read()
            except OSError:
                pass
    return out


@pytest.mark.skipif(not os.path.exists("/proc/sys/net/netfilter/nf_conntrack_max"),
                    reason="nf_conntrack is not loaded here")
def test_from_host_reads_this_host_and_changes_nothing(capsys, captures, tmp_path):
    from ctscope.plan.host import conntrack_presence

    before = _netfilter_values()
    rc, out, err = cli(capsys, "plan", captures["syn-flood"], "--from-host", "--emit", tmp_path,
                       "--emit-scenario", "kube-proxy", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["baseline"]["from_host"] is True
    assert d["baseline"]["nf_conntrack_max"] == int(before["nf_conntrack_max"])
    assert d["baseline"]["conntrack"] == conntrack_presence()
    boot = "kernel-cmdline.txt" if conntrack_presence() == "builtin" else "modprobe.d/ctscope.conf"
    assert boot in d["emitted"]["files"] and (tmp_path / boot).exists()
    assert _netfilter_values() == before


def test_conntrack_presence(tmp_path):
    from ctscope.plan.host import conntrack_presence

    mods = tmp_path / "modules"
    mods.write_text("nf_nat 61440 1 - Live 0x0\nnf_conntrack 200704 2 nf_nat, Live 0x0\n")
    sysmod = tmp_path / "sys"
    assert conntrack_presence(str(mods), str(sysmod)) == "module"
    mods.write_text("nf_conntrack_netlink 1 0 - Live 0x0\n")
    assert conntrack_presence(str(mods), str(sysmod)) == "absent"
    sysmod.mkdir()
    assert conntrack_presence(str(mods), str(sysmod)) == "builtin"
    assert conntrack_presence(str(tmp_path / "none"), str(sysmod)) == "builtin"
