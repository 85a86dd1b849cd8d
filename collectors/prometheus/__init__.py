"""Prometheus as a source: its HTTP API, PromQL, and snapshots rebuilt from
kube-state-metrics and cAdvisor series."""
