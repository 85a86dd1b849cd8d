"""The dashboard entry point: ``capacity dashboard`` (or ``streamlit run dashboard/app.py`` with
``--server.enableStaticServing true``, which the charts' plotly.js needs: see ``dashboard.charts``).

Pages are listed here with ``st.navigation``; the shared filters (window, clusters, teams)
are rendered in the sidebar before the page runs and kept in the URL (``dashboard.filters``).
"""

from __future__ import annotations

import streamlit as st

from capacity.errors import CapacityError, ConfigError, DatabaseMissing
from dashboard import data, filters
from dashboard.views import capacity, health

st.set_page_config(page_title="capacity", layout="wide")


def first_run(missing: str | None = None) -> None:
    st.title("Welcome to capacity")
    where = (
        f"The database file does not exist yet ({missing}; the dashboard does not create one)."
        if missing
        else "No snapshots yet in this database."
    )
    st.info(
        f"{where} Collect one with `capacity collect --cluster NAME` "
        "(or `capacity collect --every 5m` to keep collecting), or fill a simulated fleet with "
        "`capacity demo`, then reload this page."
    )
    st.markdown(
        f"""
Database: `{data.display_url()}`

1. **A real cluster**: `capacity --db {data.display_url()} collect --context my-cluster`
   (read-only RBAC: pods, nodes, namespaces, replicasets, jobs, resourcequotas, metrics.k8s.io).
2. **A demo**: `capacity --db {data.display_url()} demo --days 14 --no-dashboard` writes three
   simulated clusters with 14 days of history.
"""
    )
    if st.button("Reload"):
        st.cache_data.clear()
        st.rerun()


def pages() -> list[st.Page]:
    return [
        st.Page(
            "views/overview.py",
            title="Overview",
            url_path="overview",
            icon=":material/dashboard:",
            default=True,
        ),
        st.Page("views/teams.py", title="Teams", url_path="teams", icon=":material/groups:"),
        st.Page("views/savings.py", title="Savings", url_path="savings", icon=":material/savings:"),
        st.Page(capacity.render, title="Capacity", url_path="capacity", icon=":material/trending_up:"),
        st.Page(health.render, title="Data health", url_path="health", icon=":material/monitor_heart:"),
        st.Page("views/clusters.py", title="Clusters", url_path="clusters", icon=":material/dns:"),
    ]


try:
    status = data.status_frame(data.database_url())
    if status.empty:
        st.navigation([st.Page(first_run, title="Welcome", url_path="welcome", default=True)]).run()
    else:
        page = st.navigation(pages())
        st.session_state["_filters"] = filters.sidebar(status)
        filters.clear_other_pages(page.url_path)
        page.run()
except ConfigError as exc:
    st.error(f"Configuration error: {exc}")
except DatabaseMissing as exc:
    message = str(exc)

    def welcome() -> None:
        first_run(missing=message)

    st.navigation([st.Page(welcome, title="Welcome", url_path="welcome", default=True)]).run()
except CapacityError as exc:
    st.error(f"Cannot read the database {data.display_url()}: {exc}")
    if st.button("Retry"):
        st.cache_data.clear()
        st.cache_resource.clear()
        st.rerun()
