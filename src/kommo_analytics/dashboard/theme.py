"""The dashboard's look: colours, font and the logo's files. Plain data, no Streamlit import, so
that `kommo-analytics dashboard` (which hands the theme to Streamlit on its command line) stays
quick to start.

Streamlit reads a theme from `.streamlit/config.toml` in the folder it is started from, which a
command run from any folder cannot rely on; its command-line options set the same keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

ASSETS: Final = Path(__file__).resolve().parent / "assets"
LOGO: Final = ASSETS / "logo.svg"  # the sidebar's: the mark and the product's name
ICON: Final = ASSETS / "icon.svg"  # the mark alone, when the sidebar is collapsed

# Red is only ever the bad side (off target, a fall of a good number): the accent is blue, and
# green and red are the palette's own, so a badge, a delta and a target line all agree.
THEME: Final[dict[str, str]] = {
    "base": "light",
    "primaryColor": "#2E5C8A",
    "backgroundColor": "#FFFFFF",
    "secondaryBackgroundColor": "#F3F6FA",
    "textColor": "#1F2933",
    "linkColor": "#2E5C8A",
    "borderColor": "#D9E0E8",
    "greenColor": "#2E8540",
    "redColor": "#C8372D",
    "font": "sans-serif",
    "baseRadius": "0.6rem",
    # A card four to a row beside the sidebar holds about a dozen characters at this size.
    "metricValueFontSize": "1.9rem",
    "showSidebarBorder": "true",
    "sidebar.backgroundColor": "#F3F6FA",
}


def theme_options() -> list[str]:
    """The theme as `streamlit run` options: ``--theme.primaryColor #2E5C8A`` …"""
    options: list[str] = []
    for key, value in THEME.items():
        options += [f"--theme.{key}", value]
    return options
