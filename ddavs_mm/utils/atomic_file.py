"""Write files so that a kill at any instant leaves the old or the new one.

:func:`atomic_write_bytes` writes to a temporary file in the same folder
(``.<name>.tmp-<pid>``), flushes and ``fsync``\\ s it, renames it over the
target (``os.replace``, atomic on POSIX and Windows) and ``fsync``\\ s the
folder so the rename itself survives a power cut. A reader therefore sees
either the complete old file or the complete new one, never a partial
file; a kill leaves at most a stray temporary file, which
:func:`remove_stale_temporaries` clears.

:class:`AtomicLocalBackend` is MMEngine's local file backend with ``put`` /
``put_text`` done this way; it is registered as the file backend
``'ddavs_atomic_local'``, which :class:`~ddavs_mm.engine.AtomicCheckpointHook`
uses to save checkpoints.
"""
import os
import os.path as osp
import re
from typing import List, Union

from mmengine.fileio import LocalBackend, register_backend

#: name of :class:`AtomicLocalBackend` in MMEngine's backend registry
ATOMIC_BACKEND = 'ddavs_atomic_local'
_TEMPORARY = re.compile(r'^\..+\.tmp-\d+$')


def _fsync_folder(folder: str) -> None:
    if os.name != 'posix':  # folders cannot be opened for fsync elsewhere
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Union[str, os.PathLike], data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically and durably.

    Args:
        path (str | PathLike): the target; its folder is created if needed.
        data (bytes): the new content.
    """
    path = osp.abspath(os.fspath(path))
    folder = osp.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{osp.basename(path)}.tmp-{os.getpid()}')
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_folder(folder)


def atomic_write_text(path: Union[str, os.PathLike], text: str,
                      encoding: str = 'utf-8') -> None:
    """:func:`atomic_write_bytes` for text."""
    atomic_write_bytes(path, text.encode(encoding))


def remove_stale_temporaries(folder: str) -> List[str]:
    """Delete the temporary files a killed :func:`atomic_write_bytes` left.

    Args:
        folder (str): where to look (not recursive).

    Returns:
        list[str]: the removed paths.
    """
    if not osp.isdir(folder):
        return []
    removed = []
    for name in sorted(os.listdir(folder)):
        path = osp.join(folder, name)
        if _TEMPORARY.match(name) and osp.isfile(path):
            os.remove(path)
            removed.append(path)
    return removed


@register_backend(ATOMIC_BACKEND, force=True)
class AtomicLocalBackend(LocalBackend):
    """MMEngine's :class:`~mmengine.fileio.LocalBackend` whose writes are
    atomic (:func:`atomic_write_bytes`)."""

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        """Write ``obj`` to ``filepath`` atomically."""
        atomic_write_bytes(filepath, obj)

    def put_text(self, obj: str, filepath: Union[str, os.PathLike],
                 encoding: str = 'utf-8') -> None:
        """Write the text ``obj`` to ``filepath`` atomically."""
        atomic_write_text(filepath, obj, encoding)
