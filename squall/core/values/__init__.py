"""The values Squall's services answer with: frozen dataclasses with no database in them.

The services make them from the database; the REST API's client rebuilds them from JSON
(`squall.api.client`), so a `squall --server` command loads none of the database layer.
"""
