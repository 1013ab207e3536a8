"""Where a rendered report goes: the format an `-o` file asks for, and writing it in one piece.

Shared by every command that writes a report (diagnose, probe, collect, fleet)."""

import os
import stat

import click

from calirules.base.errors import InputError

FORMAT_BY_EXTENSION = {".json": "json", ".md": "markdown", ".markdown": "markdown", ".html": "html",
                       ".htm": "html", ".txt": "text", ".text": "text"}
_FORMAT_WORDS = {"json": "json", "yaml": "json", "text": "text", "txt": "text", "html": "html",
                 "markdown": "markdown", "md": "markdown"}


def output_format(fmt, output):
    """--format when given, else the -o file's extension, else text. `-o json` (kubectl's habit) is
    refused: it would write a text report into a file named `json`."""
    if output and output != "-" and os.sep not in output and output.lower() in _FORMAT_WORDS \
            and not os.path.exists(output):
        wanted = _FORMAT_WORDS[output.lower()]
        raise InputError(f"-o {output!r} names the output file, not a format: did you mean --format {wanted}? "
                         f"(to write a file by that name, give ./{output})")
    if fmt:
        return fmt
    if output and output != "-":
        return FORMAT_BY_EXTENSION.get(os.path.splitext(output)[1].lower(), "text")
    return "text"


def write_output(text, output):
    """Write the whole rendered text at once, so a failure leaves no partial file behind."""
    if output is None or output == "-":
        click.echo(text, nl=False)
        return
    try:
        # O_NONBLOCK: a fifo put in the file's place since the option was checked fails to open
        # (no reader) instead of blocking, and is refused below if a reader is waiting.
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
        with open(fd, "w", encoding="utf-8") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise InputError("not a regular file (a device, fifo or socket)", output)
            handle.write(text)
    except OSError as exc:
        raise InputError(f"cannot write output: {exc.strerror or exc}", output) from None
