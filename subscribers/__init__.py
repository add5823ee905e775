"""Long-running consumers with side effects: the watch daemon, exporters, tracker sync, alerts."""
