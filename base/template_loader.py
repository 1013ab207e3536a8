"""A template loader that never leaves its folders: links are resolved, then checked.

Jinja's FileSystemLoader refuses `..` in a name but follows links, so a link in a rules dir's
templates/ folder pointing at /etc/passwd put that file into a report. This loader resolves
each candidate's real path and opens it only when that path lies inside one of the folders it
was given (themselves resolved) and is a regular file of reasonable size; anything else is an
error naming the template, not a search that goes on to the next folder.
"""

import os
import stat

from jinja2 import BaseLoader, TemplateNotFound
from jinja2.loaders import split_template_path

MAX_TEMPLATE_BYTES = 1 << 20


class ConfinedLoader(BaseLoader):
    def __init__(self, folders):
        self.folders = [str(f) for f in folders]
        self._real_folders = [os.path.realpath(f) for f in self.folders]
        self.names = {}  # file path -> template name, for pointing at the template an error is in

    def get_source(self, environment, name):
        pieces = split_template_path(name)  # refuses `..` and separators inside a piece
        for folder in self.folders:
            path = os.path.join(folder, *pieces)
            if not os.path.lexists(path) or os.path.isdir(path):
                continue
            real = os.path.realpath(path)
            if not any(_inside(real, root) for root in self._real_folders):
                raise TemplateNotFound(name, f"{name} is a link to a file outside the templates folders")
            try:
                mode = os.stat(real).st_mode
            except OSError as exc:  # a broken link, a link loop
                raise TemplateNotFound(name, f"{name} cannot be opened: {exc.strerror}") from None
            if not stat.S_ISREG(mode):  # a FIFO or a device: never opened
                raise TemplateNotFound(name, f"{name} is not a regular file")
            source, mtime = _read(real, name)
            self.names[path] = name
            return source, path, lambda: _mtime(real) == mtime
        raise TemplateNotFound(name, f"no template {name} in {', '.join(self.folders)}")


def _inside(path, folder):
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _read(path, name):
    # O_NONBLOCK: a FIFO swapped in after the check below must not hang the open.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise TemplateNotFound(name, f"{name} cannot be opened: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise TemplateNotFound(name, f"{name} is not a regular file")
        if info.st_size > MAX_TEMPLATE_BYTES:
            raise TemplateNotFound(name, f"{name} is larger than {MAX_TEMPLATE_BYTES >> 20} MiB")
        chunks, size = [], 0
        while size <= MAX_TEMPLATE_BYTES:
            chunk = os.read(fd, MAX_TEMPLATE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_TEMPLATE_BYTES:  # grew after the check
            raise TemplateNotFound(name, f"{name} is larger than {MAX_TEMPLATE_BYTES >> 20} MiB")
        data = b"".join(chunks)
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8"), info.st_mtime
    except UnicodeDecodeError as exc:
        raise TemplateNotFound(name, f"{name} is not UTF-8 text (byte {exc.start})") from None


def _mtime(path):
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None
