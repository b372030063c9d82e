"""The text package: one language list, complete catalogues, shipped inside the package; the
metrics layer reads no files; docs and code cite the project's own docs.
"""

from __future__ import annotations

import ast
import re
import string
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from kommo_analytics.text import definitions, i18n, languages
from kommo_analytics.text.languages import LOCALES, closest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "kommo_analytics"


def _catalogues() -> list[tuple[str, dict[str, dict[str, str]]]]:
    """Every page catalogue, read the way the installed package reads it."""
    folder = resources.files("kommo_analytics.text") / "locales"
    return [
        (entry.name, tomllib.loads(entry.read_text(encoding="utf-8")))
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".toml")
    ]


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_the_catalogues_and_definitions_ship_inside_the_package() -> None:
    names = [name for name, _ in _catalogues()]
    assert {"app.toml", "common.toml", "leads.toml", "data_health.toml"} <= set(names)
    assert resources.files("kommo_analytics.text").joinpath("definitions.toml").is_file()


@pytest.mark.parametrize(
    ("name", "catalogue"), [pytest.param(name, data, id=name) for name, data in _catalogues()]
)
def test_every_catalogue_has_every_key_in_every_language(
    name: str, catalogue: dict[str, dict[str, str]]
) -> None:
    assert set(catalogue) == set(LOCALES), f"{name}: one table per language of text/languages.py"
    reference = catalogue[languages.DOCUMENT_DEFAULT]
    for locale in LOCALES:
        messages = catalogue[locale]
        missing = sorted(set(reference) - set(messages))
        extra = sorted(set(messages) - set(reference))
        assert not missing, f"{name}: missing in {locale}: {missing}"
        assert not extra, f"{name}: only in {locale}: {extra}"
        for key, text in messages.items():
            assert text.strip(), (name, locale, key)
            assert _fields(text) == _fields(reference[key]), (name, locale, key)


def test_the_one_language_list_is_the_one_everything_uses() -> None:
    assert LOCALES == ("pt-BR", "es", "en")
    assert i18n.LOCALES == LOCALES
    assert set(definitions.LANGUAGES) == set(LOCALES)
    assert set(i18n.MESSAGES) == set(LOCALES)
    assert [i18n.language_name(code) for code in LOCALES] == [
        "Português (Brasil)",
        "Español",
        "English",
    ]
    assert [i18n.babel_locale(code) for code in LOCALES] == ["pt_BR", "es", "en"]


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("pt-BR", "pt-BR"), ("pt_br", "pt-BR"), ("pt", "pt-BR"), ("ES", "es"), ("es-MX", "es"),
     ("es_419", "es"), ("en-GB", "en"), ("de", "en"), ("", "en")],
)  # fmt: skip
def test_a_language_tag_finds_its_language(tag: str, expected: str) -> None:
    assert closest(tag, "en") == expected
    assert definitions.normalize_language(tag) == expected


def test_the_dashboard_falls_back_to_portuguese() -> None:
    assert i18n.normalise_locale(None) == "pt-BR"
    assert i18n.normalise_locale("xx") == "pt-BR"
    assert i18n.normalise_locale("en") == "en"


# -- the metrics layer reads no files --------------------------------------------------------------

_READING_MODULES = {"tomllib", "json", "pathlib", "importlib.resources", "importlib", "io", "os"}


def test_the_metrics_layer_reads_no_files() -> None:
    folder = PACKAGE / "metrics"
    assert sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix != ".py") == []
    for module in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported = {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported = {node.module or ""}
            else:
                imported = set()
            assert not imported & _READING_MODULES, f"{module.name} imports {imported}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "open", f"{module.name}:{node.lineno} opens a file"


# -- citations stay inside the repository ----------------------------------------------------------


def test_docs_and_code_cite_only_the_projects_own_files() -> None:
    files = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *PACKAGE.rglob("*.py")]
    files += [*PACKAGE.rglob("*.toml")]
    offenders = [
        f"{path.relative_to(ROOT)}: {needle}"
        for path in files
        for needle in ("../shared", "/work/", "shared/kommo-api.md", "metrics-contract.md")
        if needle in path.read_text(encoding="utf-8")
    ]
    assert not offenders, offenders


def test_kommo_api_md_has_every_section_the_code_cites() -> None:
    doc = (ROOT / "docs" / "kommo-api.md").read_text(encoding="utf-8")
    headings = {line.split()[1].rstrip(".") for line in doc.splitlines() if line.startswith("#")
                and len(line.split()) > 1 and line.split()[1][0].isdigit()}  # fmt: skip
    cited: set[str] = set()
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "docs").glob("*.md")]:
        for match in re.finditer(r"§(\d+(?:\.\d+)?)", path.read_text(encoding="utf-8")):
            cited.add(match.group(1))
    # §9.N and §12.N are numbered items of a section, not headings.
    missing = sorted(c for c in cited if c not in headings and c.split(".")[0] not in {"9", "12"})
    assert not missing, f"docs/kommo-api.md lacks sections {missing}"
    assert "## 12. Uncertain" in doc
