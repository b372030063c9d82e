"""How long the channel rules take to classify a million leads (the model build does this).

The leads mix every case the default rules distinguish: UTM values in odd spellings, click
ids, referrers, tags, leads created by people or by integrations, nulls.

    .venv/bin/python benchmarks/channel_rules.py --leads 1000000
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd
from rich.console import Console

from kommo_analytics.model.channels import ChannelRules


def leads(n: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)

    def pick(values: list[object]) -> list[object]:
        return [values[i] for i in rng.integers(0, len(values), n)]

    mediums: list[object] = [None, "", "cpc", " CPC ", "organic", "Seo", "indicação", "email"]
    tags: list[object] = [None, [], ["vip"], ["Outbound"], ["indicacao", "vip"], ["prospecção"]]
    return pd.DataFrame(
        {
            "utm_medium": pick(mediums),
            "utm_source": pick([None, None, "google", "", "fb"]),
            "gclid": pick([None] * 8 + ["Cj0"]),
            "referrer": pick([None] * 5 + ["https://x.example"]),
            "tags": pick(tags),
            "created_by": pick([0, 0, 5, 12, None]),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rules = ChannelRules.default()
    frame = leads(args.leads)
    seconds = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        rules.classify_frame(frame)
        seconds.append(time.perf_counter() - started)
    Console().print(
        f"{args.leads:,} leads classified in {statistics.median(seconds):.2f} s "
        f"(median of {args.repeat})"
    )


if __name__ == "__main__":
    main()
