"""The fixed fleet (data/fleet.json) and the query corpus (data/corpus.json), loaded once.

Both are plain JSON so the emulator tests can load the same files and run the corpus through search_index.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"


def load_json(name: str) -> Any:
    with (DATA / name).open(encoding="utf-8") as handle:
        return json.load(handle)


FLEET: dict[str, Any] = load_json("fleet.json")
CORPUS: dict[str, Any] = load_json("corpus.json")
