"""The analytics model: a star schema rebuilt from the raw tables after every sync.

`schema` (its tables, as data), `channels` (the rules that give each lead its channel), `build`
(raw rows → model rows, pure), `store` (reading raw, writing the model in one transaction),
`inputs` (costs and goals files), `compat` (the earlier system's views), `query` (runs the
metrics' Ibis expressions on the model). See docs/architecture.md.
"""
