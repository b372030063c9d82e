"""The one place the emulator splices text into its SQL statements.

Every value a client sends (filters, `query`, ids in the path, page and limit) travels as a `?`
parameter. What is spliced into a statement's text is only the code's own: table names from the
store's schema, column lists, predicates written with `?` placeholders, and ORDER BY terms picked
from the entity table's whitelist. A string literal a statement needs is a parameter too, so a
fragment never holds a quote; :func:`compose` refuses one that does, or that holds a statement
separator or a comment, so a client value passed here by mistake fails loudly instead of running.
"""

from __future__ import annotations

import re

# What a spliced client string would need to break out of its place: a quote to open or close a
# literal or identifier, a `;` to start another statement, `--` or `/*` to cut the rest off.
_UNSAFE = re.compile(r"['\";]|--|/\*")


def compose(template: str, **fragments: str) -> str:
    """``template`` with its ``{name}`` slots filled by code-written ``fragments``."""
    for name, fragment in fragments.items():
        if _UNSAFE.search(fragment):
            raise ValueError(
                f"SQL fragment {name!r} holds a quote, a ';' or a comment: {fragment!r}; "
                "a value belongs in a ? parameter"
            )
    return template.format(**fragments)


def generated(template: str, **fragments: object) -> str:
    """A statement of the account generator: ``template`` filled with what the generator builds
    from its own vocabulary, codes, seed and subdomain — quoted list literals (`sql_list`), code
    numbers, SQL expressions. The generator runs before anything is served and reads no request,
    so these fragments are not checked like :func:`compose`'s; nothing else may call this."""
    return template.format(**fragments)
