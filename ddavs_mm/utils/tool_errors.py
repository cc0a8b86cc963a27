"""One-line errors for the command-line tools.

A person who points a tool at a wrong file should read one line that names
the file, says what is wrong with it and what to do, not 40 lines of
DataLoader and MMEngine traceback. Every tool's ``__main__`` block calls
:func:`run_tool`::

    if __name__ == '__main__':
        run_tool(main)

An *input error* is printed as ``error: <file>: <what is wrong> (<what to
do>)`` on stderr and the tool exits with status 2. Input errors are

* :class:`InputError` (and its subclasses) raised anywhere,
* file-system errors (``FileNotFoundError``, ``PermissionError``,
  ``IsADirectoryError``, ``NotADirectoryError``) raised anywhere, and
* ``ValueError``, ``KeyError`` and ``OSError`` raised by DDAVS-MM's own
  code (``ddavs_mm/``, ``tools/``, ``demo/``, ``projects/``), which is how
  the data sets, transforms and APIs report bad input.

Any other exception is a bug and keeps its full traceback. ``--debug`` on
the command line or ``DDAVS_DEBUG=1`` in the environment keeps the full
traceback of input errors too. An error raised in a DataLoader worker
reaches the main process re-wrapped (``Caught ValueError in DataLoader
worker process 0. Original Traceback ...``); the original type, message and
raising file are recovered from that text.
"""
import argparse
import os
import os.path as osp
import re
import sys
import traceback
from typing import Callable, Optional, Tuple

#: exit status of a tool stopped by an input error (argparse uses 2 too)
INPUT_ERROR_STATUS = 2
#: environment variable that, set to 1, keeps full tracebacks
DEBUG_ENV = 'DDAVS_DEBUG'

_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_PROJECT_DIRS = tuple(
    osp.join(_ROOT, d) + os.sep
    for d in ('ddavs_mm', 'tools', 'demo', 'projects'))
_ANYWHERE = ('FileNotFoundError', 'PermissionError', 'IsADirectoryError',
             'NotADirectoryError')
_FROM_PROJECT = ('ValueError', 'KeyError', 'OSError')
_WORKER_HEADER = 'Original Traceback (most recent call last):'
_FRAME = re.compile(r'^\s*File "([^"]+)", line \d+')


class InputError(ValueError):
    """Bad input that a person can fix: a file, its content or an option.

    ``str(err)`` is ``'<path>: <problem> (<hint>)'``. A ``ValueError``, so
    code that catches bad values catches it too.

    Args:
        path (str): the file (or option) at fault.
        problem (str): what is wrong with it.
        hint (str, optional): what to do about it.
    """

    def __init__(self, path: str, problem: str = '',
                 hint: Optional[str] = None) -> None:
        self.path = str(path)
        self.problem = problem
        self.hint = hint
        text = f'{self.path}: {problem}' if problem else self.path
        if hint:
            text += f' ({hint})'
        super().__init__(text)

    def __reduce__(self):
        return type(self), (self.path, self.problem, self.hint)


def add_debug_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--debug`` (full tracebacks) to a tool's parser."""
    parser.add_argument(
        '--debug', action='store_true',
        help=f'show the full traceback of input errors (or set '
        f'{DEBUG_ENV}=1)')


def debug_requested(argv=None) -> bool:
    """Whether ``--debug`` is on the command line or ``DDAVS_DEBUG`` set."""
    argv = sys.argv[1:] if argv is None else argv
    flag = os.environ.get(DEBUG_ENV, '').lower() in ('1', 'true', 'yes')
    return flag or '--debug' in argv


def _unwrap_worker_error(text: str) -> Optional[Tuple[str, str, str]]:
    """``(type name, message, raising file)`` of an error re-raised from a
    DataLoader worker, or None if ``text`` is no such re-raise."""
    if _WORKER_HEADER not in text:
        return None
    body = text.split(_WORKER_HEADER, 1)[1]
    # a chained error prints its causes first: the last traceback is it
    lines = body.rsplit('Traceback (most recent call last):', 1)[-1]
    lines = lines.splitlines()
    raising_file = ''
    for i, line in enumerate(lines):
        frame = _FRAME.match(line)
        if frame:
            raising_file = frame.group(1)
            continue
        if line.strip() and not line.startswith((' ', '\t')):
            head, _, first = line.partition(': ')
            message = '\n'.join([first] + lines[i + 1:]).strip()
            return head.rsplit('.', 1)[-1], message, raising_file
    return None


def _raising_file(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return frames[-1].filename if frames else ''


def _from_project(path: str) -> bool:
    return osp.abspath(path).startswith(_PROJECT_DIRS)


def _input_error_names() -> set:
    names, todo = set(), [InputError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def input_error_message(exc: BaseException) -> Optional[str]:
    """The one-line message for an input error, None for anything else.

    Args:
        exc (BaseException): the exception that stopped the tool.

    Returns:
        str | None: ``'<file>: <problem> (<hint>)'``, or the first line of
        the exception's message (with the first item of a list it
        introduces) when it does not separate those parts.
    """
    name = type(exc).__name__
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args \
        else str(exc)
    raising = _raising_file(exc)
    unwrapped = _unwrap_worker_error(text)
    if unwrapped is not None:
        name, text, raising = unwrapped
    elif isinstance(exc, InputError):
        return _first_line(text)
    elif isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f'{exc.filename}: {exc.strerror}'
    if not (name in _input_error_names() or name in _ANYWHERE or
            (name in _FROM_PROJECT and _from_project(raising))):
        return None
    return _first_line(text) or name


def _first_line(text: str) -> str:
    """The first line of a message; a first line that introduces a list
    (ends with ``:``) takes the list's first item along."""
    lines = [line.strip() for line in text.strip().strip('"\'').splitlines()
             if line.strip()]
    if not lines:
        return ''
    if lines[0].endswith(':') and len(lines) > 1:
        return f'{lines[0]} {lines[1]}' + (' ...' if len(lines) > 2 else '')
    return lines[0]


def run_tool(main: Callable[[], object], argv=None) -> None:
    """Run a tool's ``main()``; turn input errors into one line + exit 2.

    Args:
        main (callable): the tool's entry point (takes no argument).
        argv (list, optional): the command line checked for ``--debug``;
            defaults to ``sys.argv[1:]``.
    """
    if debug_requested(argv):
        main()
        return
    try:
        main()
    except Exception as exc:  # noqa: BLE001 (classified below)
        message = input_error_message(exc)
        if message is None:
            raise
        sys.stderr.write(f'error: {message}\n')
        sys.stderr.flush()
        sys.exit(INPUT_ERROR_STATUS)
