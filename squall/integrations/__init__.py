"""Integrations: plugins that react to core events (JIRA, Slack), registered like any
other plugin and fed through core's outbox (see core.integration)."""
