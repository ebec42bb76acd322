"""The firewall ruleset as the host has it (read only): ``nft list ruleset``,
``iptables-save``, ``ip6tables-save`` -- the same dumps ``plan --from-host`` uses --
and what it says about conntrack: the rules that force tracking, and the NOTRACK
rules already there (``RuleSet.conntrack_users()`` / ``RuleSet.modelled``).
Listing the ruleset needs CAP_NET_ADMIN; without it the reason is reported."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

DUMPS = ((("nft", "list", "ruleset"), "nft", False),
         (("iptables-save",), "iptables", False),
         (("ip6tables-save",), "ip6tables", True))


def read_rules() -> dict:
    """{"nft": text, "iptables": text, "ip6tables": text, "problems": [...]} (missing
    tools and empty dumps are left out; failures say why)."""
    out: dict = {"problems": []}
    for cmd, key, _ in DUMPS:
        if shutil.which(cmd[0]) is None:
            continue
        try:
            r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            out["problems"].append({"what": " ".join(cmd), "why": str(exc)})
            continue
        if r.returncode != 0:
            why = r.stderr.strip().splitlines()[-1][:160] if r.stderr.strip() else f"exit {r.returncode}"
            if "ermission" in why or "not permitted" in why:
                why += " (listing the ruleset needs CAP_NET_ADMIN)"
            out["problems"].append({"what": " ".join(cmd), "why": why})
            continue
        if r.stdout.strip() and not (key != "nft" and _only_comments(r.stdout)):
            out[key] = r.stdout
    return out


def _only_comments(text: str) -> bool:
    return all(not ln.strip() or ln.startswith(("#", "*", ":", "COMMIT")) for ln in text.splitlines())


def analyse_rules(texts: dict) -> dict:
    """{"conntrack_users": [...], "notrack": [...], "problems": [...]} of the dumps."""
    from ..errors import InputError

    res: dict = {"conntrack_users": [], "notrack": [], "problems": []}
    if not any(texts.get(key) for _, key, _ in DUMPS):
        return res
    try:
        from ..rules import load_rules
    except ImportError as exc:        # numpy missing in a minimal environment
        res["problems"].append({"what": "ruleset", "why": f"cannot analyse: {exc}"})
        return res
    tmp = tempfile.mkdtemp(prefix="ctscope-rules-")
    try:
        for _, key, six in DUMPS:
            if not texts.get(key):
                continue
            path = os.path.join(tmp, key)
            with open(path, "w") as fh:
                fh.write(texts[key])
            try:
                rs = load_rules([] if six else [path], [path] if six else [])
            except InputError as exc:
                res["problems"].append({"what": key, "why": f"not understood: {exc}"})
                continue
            res["conntrack_users"] += [f"{key}: {u.text}  ({u.reason})" for u in rs.conntrack_users()]
            res["notrack"] += [f"{key}: {m.split(': ', 1)[-1]}" for m in rs.modelled
                               if "notrack" in m.lower()]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return res
