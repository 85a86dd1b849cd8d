"""Collectors: snapshot what pods request and nodes offer and use, from a source into the store.

Only ``collectors.kube`` (the live API source) and ``collectors.quantity`` import ``kubernetes``.
"""
