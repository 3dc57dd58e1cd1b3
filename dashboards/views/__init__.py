"""The dashboard's pages, one module each; which of them a person sees is `dashboards/navigation.py`.

Streamlit runs a page's file as a script.  Imported as a module, a page only
defines its functions, so tests and other pages can use them without drawing
anything.
"""
