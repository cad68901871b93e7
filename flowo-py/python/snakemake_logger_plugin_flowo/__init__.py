"""FlowO's Snakemake logger plugin: ``snakemake --logger flowo`` records the run.

Only what Snakemake's plugin contract needs lives here: the settings dataclass and the
``LogHandler`` class. Everything else happens in the native module (``_native``): ``emit`` hands
the record to a queue, and a background thread delivers the events to the embedded store, a
database or a FlowO server, spooling them to disk when the target is unavailable.
"""

import getpass
import os
import platform
import socket
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.settings import LogHandlerSettingsBase

from . import _native

__version__ = _native.__version__


def _setting(help: str) -> Any:
    return field(default=None, metadata={"help": help, "env_var": True})


@dataclass
class LogHandlerSettings(LogHandlerSettingsBase):
    """``--logger-flowo-<field>`` flags (or ``SNAKEMAKE_LOGGER_FLOWO_<FIELD>``). Secrets such as
    the API token are never settings: they come from ``FLOWO_TOKEN`` or ``flowo login``."""

    name: Optional[str] = _setting("Display name of the run (default: the working directory's name).")
    tags: Optional[str] = _setting("Comma-separated tags of the run.")
    description: Optional[str] = _setting("Free text describing the run.")
    workspace: Optional[str] = _setting("Workspace the run is recorded in (default: the token's, else 'default').")
    url: Optional[str] = _setting(
        "Where to record: a FlowO server (http(s)://HOST:PORT) or a database (sqlite://PATH, "
        "postgres://USER@HOST/DB). Default: FLOWO_URL, else the server from `flowo login`, else the "
        "embedded store in FLOWO_DATA_DIR."
    )
    spool_dir: Optional[str] = _setting(
        "Directory for events that could not be delivered yet (default: FLOWO_DATA_DIR/spool)."
    )
    flush_interval: Optional[float] = _setting(
        "Longest time in seconds an event waits before it is sent (default 0.25 into an SQLite file, "
        "0.05 to a server or PostgreSQL)."
    )
    close_timeout: Optional[float] = _setting(
        "Longest time in seconds to wait for delivery when Snakemake ends; the rest stays in the spool (default 5)."
    )
    log_tail_bytes: Optional[int] = _setting("Bytes of each job log file's end shipped with the job (default 16384; 0: none).")
    heartbeat_interval: Optional[float] = _setting(
        "Seconds between heartbeats while the run is alive (default 30)."
    )


def _snakemake_version() -> Optional[str]:
    try:
        from snakemake import __version__ as version

        return str(version)
    except Exception:
        return None


def _platform() -> str:
    """``platform.platform()`` on Linux with glibc without the ``uname -p`` subprocess it starts
    (Snakemake waits for it): system, release, machine and the C library, as it writes them."""
    try:
        uname = os.uname()
        libc, _, version = os.confstr("CS_GNU_LIBC_VERSION").partition(" ")
        if uname.sysname == "Linux" and libc == "glibc" and version:
            return f"{uname.sysname}-{uname.release}-{uname.machine}-with-glibc{version}"
    except (AttributeError, ValueError, OSError, TypeError):
        pass
    return platform.platform()


def _user() -> Optional[str]:
    try:
        return getpass.getuser()
    except Exception:
        return None


class LogHandler(LogHandlerBase):
    """Hands every record to FlowO's native sink; never blocks, never raises into Snakemake."""

    def __post_init__(self) -> None:
        self._sink = None
        try:
            settings = {
                key: getattr(self.settings, key, None)
                for key in (
                    "name",
                    "tags",
                    "description",
                    "workspace",
                    "url",
                    "spool_dir",
                    "flush_interval",
                    "close_timeout",
                    "log_tail_bytes",
                    "heartbeat_interval",
                )
            }
            settings.update(
                dry_run=bool(getattr(self.common_settings, "dryrun", False)),
                snakemake_version=_snakemake_version(),
                command_line=" ".join(sys.argv),
                host=socket.gethostname(),
                user=_user(),
                workdir=os.getcwd(),
                python_version=platform.python_version(),
                platform=_platform(),
            )
            self._sink = _native.Sink(settings)
        except Exception as e:  # never break Snakemake
            print(f"flowo: warning: cannot start recording: {e}", file=sys.stderr)

    def emit(self, record: Any) -> None:
        sink = self._sink
        if sink is not None:
            try:
                sink.handle(record)
            except Exception:
                pass

    def close(self) -> None:
        sink = self._sink
        if sink is not None:
            self._sink = None
            try:
                sink.close()
            except Exception as e:
                print(f"flowo: warning: {e}", file=sys.stderr)
        super().close()

    @property
    def writes_to_stream(self) -> bool:
        return False

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        # Every record, including shell commands without -p and whatever --quiet hides.
        return True

    @property
    def has_formatter(self) -> bool:
        return False

    @property
    def needs_rulegraph(self) -> bool:
        return True
