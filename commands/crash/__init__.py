"""Crash reporting: uncaught exceptions recorded as scrubbed `crash.*` events, and their opt-in submission.

`capture` turns an exception into a scrubbed crash event (it runs on every command, so it imports
little); `reports` lists, shows and submits the recorded crashes. The typer glue is
`commands/crash_cli.py`; the scrubber is `eventlog.redaction`.
"""
