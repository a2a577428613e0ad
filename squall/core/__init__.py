"""Squall's internals: the database, engine, services and reports.

Nothing here is a stable interface. Plugins import the public names from `squall` itself.
"""
