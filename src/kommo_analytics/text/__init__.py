"""Everything Kommo Analytics says to people, in every language it speaks.

- `languages.py`: the one list of languages (codes, own names, Babel ids).
- `i18n.py`: the dashboard's messages by key (`t`, `tn`) and Babel formatting of numbers,
  money, dates and durations; the messages are the per-page catalogues in `locales/*.toml`.
- `definitions.py` + `definitions.toml`: what every metric means, the source of
  `docs/metrics.md`, of the dashboard's tooltips and of its Definitions page.

The metrics layer computes numbers and reads no files; their words live here.
"""
