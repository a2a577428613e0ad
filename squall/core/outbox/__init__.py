"""The outbox: committed events delivered to integrations (JIRA, Slack), each with its own
durable delivery state, and the outside conditions (holds) deployments wait for.

`runner.Outbox` is what a process running the engine drives: it takes in new events
(`intake`), sends due deliveries (`sending`) and checks holds (`holds`).
"""
