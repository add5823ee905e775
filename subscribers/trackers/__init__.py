"""Tracker syncs: subscribers that drain the trackers projection's outbox to Jira, Linear and GitHub.

Nothing here is imported unless a tracker is configured in `.loki/config.yaml`; the HTTP client
(httpx, the ``trackers`` extra) is imported only when a sync actually runs.
"""
