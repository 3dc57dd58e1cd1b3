"""The dashboard's pages, one module each: Streamlit runs a page's file as a script (see `dashboards/app.py`).

Imported as a module, a page only defines its functions, so tests and other
pages can use them without drawing anything.
"""
