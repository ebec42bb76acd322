"""Remedy planning for "nf_conntrack: table full, dropping packet".

* ``capture.plan_capture(args)`` -- replay a capture under the baseline and the
  candidate remedies of ``candidates`` (plus user scenarios, ``usertoml``), decoded
  once and fed to one Tracker per scenario (``runner.MultiReplay``), ranked by
  ``rank``; ``text.format_plan`` renders it side by side;
* ``emit.emit(plan, DIR)`` -- the chosen remedy as installable files;
* ``rates.plan_rates(args)`` -- the analytical steady state from traffic rates;
* ``host.read_host()`` -- ``--from-host``: this host's settings and ruleset, read only;
* ``sizing`` -- default table sizes by kernel era (``ctscope size``).
"""
