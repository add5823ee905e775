"""atomic_write of chunks writes exactly their concatenation (os.writev, in groups)."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from eventlog.fsutil import atomic_write


@settings(max_examples=30, deadline=None)
@given(chunks=st.lists(st.binary(max_size=40), max_size=50), repeat=st.sampled_from([1, 60]))
def test_the_file_is_the_chunks_joined(tmp_path_factory, chunks, repeat):
    path = tmp_path_factory.mktemp("w") / "view.json"
    chunks = chunks * repeat  # up to 3 000 chunks: several writev calls
    atomic_write(path, chunks, durable=False)
    assert path.read_bytes() == b"".join(chunks)
    atomic_write(path, [b"short"], durable=True)
    assert path.read_bytes() == b"short" and not path.with_name("view.json.tmp").exists()
