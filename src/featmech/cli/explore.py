"""``featmech explore``: the live explorer in a web browser (the ``explore`` extra: Panel and Bokeh)."""

from __future__ import annotations

import socket

import click

from featmech.errors import InputError

__all__ = ["explore", "free_port", "check_address"]

#: the port tried first when ``--port 0`` (Bokeh's and Panel's usual one)
DEFAULT_PORT = 5006


def check_address(host: str, port: int) -> None:
    """Check that the server can listen on ``host:port`` (bind and release a socket).

    Raises:
        InputError: an unknown host, a port in use, or one that needs privileges (the message names them).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InputError(f"--host {host!r} is not an address of this machine ({exc})") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind(addr)
        except OSError as exc:
            raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _is_loopback(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback address (127.0.0.0/8, ::1)."""
    import ipaddress

    try:
        infos = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)
        return all(ipaddress.ip_address(str(i[4][0]).split("%")[0]).is_loopback for i in infos)
    except (OSError, ValueError):
        return False


def free_port(host: str) -> int:
    """:data:`DEFAULT_PORT` if it is free on ``host``, else a free port the system picks."""
    try:
        check_address(host, DEFAULT_PORT)
        return DEFAULT_PORT
    except InputError:
        pass
    infos = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)
    with socket.socket(infos[0][0], socket.SOCK_STREAM) as s:
        s.bind(infos[0][4])
        return int(s.getsockname()[1])


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (the default serves this machine only; another address, e.g. 0.0.0.0, lets other machines in, with a warning).")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="TCP port; 0: 5006 if free, else any free port.")
@click.option("--no-browser", is_flag=True, help="Do not open a web browser; print the URL only.")
def explore(host: str, port: int, no_browser: bool) -> None:
    """Explore the phase diagram live in a web browser (needs pip install 'featmech[explore]').

    Controls for width (up to 1e12), σ_u, σ_w, ρ, η_u, η_w, κ, k, V, the seed and the GD step size
    (as lr·K0); presets (the canonical cases, SP, NTK, mean-field, μP, Chizat); the exact flow and
    GD over time, the phase diagram over two chosen axes (click it to move the point), the regime,
    the mechanism and why. Stop with Ctrl-C.

    \b
    Examples:
      featmech explore                        # opens http://127.0.0.1:5006/
      featmech explore --port 8080 --no-browser
    """
    from featmech.report.explorer import require_panel, serve

    require_panel()
    if not host.strip():
        raise InputError("--host is empty")
    check_address(host, 0)  # an address of this machine at all
    if port == 0:
        port = free_port(host)
    check_address(host, port)
    if not _is_loopback(host):
        click.echo(f"featmech explore: warning: --host {host} lets other machines that reach port {port} use the "
                   "explorer (no login); the default 127.0.0.1 serves this machine only", err=True)
    serve(host, port, show=not no_browser,
          on_ready=lambda url: click.echo(f"featmech explore: serving on {url} (Ctrl-C to stop)", color=False) or None)
