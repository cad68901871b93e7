"""Type stubs of FlowO's native module."""

from logging import LogRecord
from typing import Any, Mapping, NoReturn

__version__: str

class Sink:
    """Records one run: a bounded queue drained by a background thread."""

    def __init__(self, settings: Mapping[str, Any]) -> None: ...
    @property
    def run_id(self) -> str: ...
    def handle(self, record: LogRecord) -> None:
        """Queues a record; never blocks and never raises."""
    def close(self) -> None:
        """Ends the run; flushes within the close timeout."""

def main() -> NoReturn:
    """The `flowo` command, with `sys.argv`."""
