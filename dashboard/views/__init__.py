"""Dashboard pages (a folder not named ``pages/``: navigation is ``st.navigation`` in app.py)."""
