"""The store: everything that reads or writes the database, one concern per module.

``schema`` (tables), ``engine`` (URLs, connections, write transactions, migrations, errors),
``snapshots`` (writing one snapshot), ``buckets`` / ``grains`` / ``compaction`` / ``retention`` /
``watermarks`` (rollups and their lifecycle), ``windows`` (sums over a window from the tiers),
``latest`` (each cluster's newest snapshot) with the views joined to it: ``status``,
``health``, ``inventory``; ``labels`` (workload and namespace labels). Analysis never imports
this package: it is pure over the frames these modules return.
"""
