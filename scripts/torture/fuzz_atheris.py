"""Coverage-guided fuzzing of one parser with atheris: `fuzz_atheris.py TARGET [-runs=N ...]`."""
from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports(include=["eventlog", "commands", "projections"]):
    from scripts.torture.fuzz_targets import SEEDS, call


def main() -> None:
    name = sys.argv.pop(1)
    corpus = Path(__file__).resolve().parents[2] / ".torture-scratch" / "corpus" / name.replace(" ", "_")
    corpus.mkdir(parents=True, exist_ok=True)
    for number, seed in enumerate(SEEDS.get(name, [])):
        (corpus / f"seed{number}").write_bytes(seed)

    def one_input(data: bytes) -> None:
        crash = call(name, data)
        if crash:
            raise RuntimeError(f"{name}: {data[:80]!r} -> {crash}")

    crashes = f"-artifact_prefix={corpus.parent}/crash-"
    atheris.Setup([sys.argv[0], *sys.argv[1:], crashes, str(corpus)], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
