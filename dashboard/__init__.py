"""The Streamlit dashboard: UI only, over ``capacity`` query and analysis functions."""
