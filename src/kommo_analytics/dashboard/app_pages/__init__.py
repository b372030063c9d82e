"""The dashboard's pages. Streamlit runs each file as a script (``__name__ == "__main__"``);
imported as modules they only define functions, which the tests call directly."""
