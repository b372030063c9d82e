#!/usr/bin/env python3
"""Rewrite docs/metrics.md from src/kommo_analytics/text/definitions.toml.

    python scripts/render_metrics_doc.py            # rewrite docs/metrics.md (English)
    python scripts/render_metrics_doc.py --check    # exit 1 if docs/metrics.md is out of date
    python scripts/render_metrics_doc.py --lang pt-BR --output /tmp/metricas.md

Run it with the project's virtual environment (`. .venv/bin/activate`), or any Python where
kommo-analytics is installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "metrics.md"

try:
    from kommo_analytics.text.definitions import LANGUAGES, render_markdown
except ModuleNotFoundError:  # run from a checkout without the package installed
    sys.path.insert(0, str(ROOT / "src"))
    from kommo_analytics.text.definitions import LANGUAGES, render_markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rewrite docs/metrics.md from definitions.toml.")
    parser.add_argument("--lang", default="en", choices=LANGUAGES, help="language (default: en)")
    parser.add_argument(
        "--output", type=Path, default=DOC, help=f"file to write (default: {DOC.relative_to(ROOT)})"
    )
    parser.add_argument(
        "--check", action="store_true", help="only compare; exit 1 if the file is out of date"
    )
    args = parser.parse_args(argv)

    text = render_markdown(args.lang)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
        if current != text:
            print(f"{args.output} is out of date: run python scripts/render_metrics_doc.py")
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
