"""``ctscope exporter``: a Prometheus exporter for nf_conntrack (read only).

Layout:

* ``reader``   -- the child process that reads one network namespace (proc files,
  optionally ``conntrack -L/-S`` over ctnetlink) and answers with a small JSON
  snapshot; it enters another namespace with ``setns`` when asked to;
* ``targets``  -- one reader child per exported namespace, restarted if it dies;
* ``kmsglog``  -- counts "table full" kernel log lines, by namespace, incrementally;
* ``metrics``  -- turns snapshots into metric families (node_exporter names kept);
* ``server``   -- background refresh + the HTTP endpoint (prometheus-client).

Why a child process even for the exporter's own namespace: summarising a table of
262,144 entries holds the interpreter lock for a few hundred milliseconds; in a child
it cannot delay scrapes, which only serve the last snapshot.

Nothing here writes to the host: no sysctl, no rule, no ``conntrack -D/-F``.
"""
