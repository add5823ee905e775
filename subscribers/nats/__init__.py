"""NATS JetStream bridge: replicate a local log into a stream, and mirror a stream into a view.

Installed with the ``lokilog[nats]`` extra; nothing here is imported unless a bridge command runs.
"""
