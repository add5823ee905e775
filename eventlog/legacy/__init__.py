"""Reading Loki Mode's own files into the log: the flat `events.jsonl`, its record files, the drop box.

`ingest` moves events into the log exactly once, through the store's ingest seam; `parse` reads
Loki Mode's event lines (their derived ids and salvage of torn lines); `records` reads its other
record files; `state` is the ingester's own cursor database.
"""
