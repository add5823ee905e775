"""Reading Loki Mode's own files into the log: the flat `events.jsonl`, its record files, the drop box.

`ingest` moves events into the log exactly once, through the store's ingest seam
(`eventlog/ingest_seam.py`); `flat` opens and reads the flat `events.jsonl` and its rotation;
`parse` reads Loki Mode's event lines (their derived ids and salvage of torn lines); `records`
reads its other record files; `state` is the ingester's own cursor database; `status` is what
`lokilog doctor` shows of it.
"""
