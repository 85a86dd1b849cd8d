"""Clusters: what each cluster's latest snapshot holds, and how fresh it is."""

from __future__ import annotations

import streamlit as st

from dashboard import data


def render() -> None:
    st.title("Clusters")
    url = data.database_url()
    frame = data.status_frame(url)
    if frame.empty:
        st.info(
            "No snapshots yet. Collect one with `capacity collect --cluster NAME` "
            "or fill a demo fleet with `capacity demo`."
        )
        return
    cols = st.columns(4)
    cols[0].metric("Clusters", len(frame))
    cols[1].metric("Nodes", int(frame["nodes"].sum()))
    cols[2].metric("Pods", int(frame["pods"].sum()), help="bound to a node and not finished")
    cols[3].metric("Pending pods", int(frame["pending_pods"].sum()), help="unscheduled: unmet demand")
    st.dataframe(frame, hide_index=True, width="stretch")
    data.download_csv(frame, "clusters", key="dl_clusters")


if __name__ == "__main__":
    render()
