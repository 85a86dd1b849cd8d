"""The dashboard entry point: ``streamlit run dashboard/app.py`` (or ``capacity dashboard``)."""

from __future__ import annotations

import streamlit as st

from capacity.errors import CapacityError
from dashboard import data
from dashboard.views import clusters

st.set_page_config(page_title="capacity", layout="wide")

page = st.navigation([st.Page(clusters.render, title="Clusters", url_path="clusters", default=True)])
try:
    page.run()
except CapacityError as exc:
    st.error(f"Cannot read the database {data.display_url()}: {exc}")
    if st.button("Retry"):
        st.cache_data.clear()
        st.cache_resource.clear()
        st.rerun()
