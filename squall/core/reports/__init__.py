"""Reports: what a deployment, a cluster over a period, or a node did, as data
(`model`, computed by `data`), rendered as a PDF (`pdf`, `charts`), exported as CSV and
JSON (`tables`, `exports`), fingerprinted (`fingerprint`) and checked (`verify`);
`period` reads the times people type for a period.

Callers go through `squall.core.services.reports`, which checks who may see what.
"""
